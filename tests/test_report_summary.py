"""Tests of reports.summary and reports.details (plain functions, no pytest-html)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from reports import details, samples, summary
from reports.outcomes import CaseOutcome

if TYPE_CHECKING:
    from conftest import HtmlTags


def _outcomes(sign_error: bool, got: str = "") -> list[CaseOutcome]:
    found = []
    for i, x in enumerate(["0.75", "0.5", "-0.25", "0.99999999"]):
        case = samples.circle_case(x)
        checks = samples.curve_checks(case, sign_error=sign_error, got_text=got)
        found.append(CaseOutcome(f"t::test[{i}]", case, tuple(checks)))
    return found


def test_counts_per_property_and_family_keep_degenerate_apart() -> None:
    counts = summary.summarize(_outcomes(sign_error=True))
    assert dict(counts.properties["dy_dx_true"]) == {"fail": 3, "degenerate": 1}
    assert dict(counts.properties["root"]) == {"pass": 3, "degenerate": 1}
    assert dict(counts.families["circle"]) == {"fail": 3, "degenerate": 1}
    assert counts.failing_properties == ["dy_dx_true"]
    assert counts.degenerate_cases == 1


def test_headline_names_property_smallest_case_and_error() -> None:
    counts = summary.summarize(_outcomes(sign_error=True))
    text = summary.headline(counts, "sign_error.py")
    assert "fails 1 of 3 properties" in text
    assert "dy_dx_true" in text
    assert "3</b> of 4" in text
    # all circle cases have the same curve; the shortest case text wins (x = 0.5)
    assert "at x = 0.5," in text
    assert "error <b>1.2</b>" in text
    assert "opposite sign" in text


def test_headline_when_everything_passes_mentions_degenerate_cases() -> None:
    text = summary.headline(summary.summarize(_outcomes(sign_error=False)), "implicit")
    assert "passes all 3 properties on 4 cases" in text
    assert "1 degenerate case flagged" in text


def test_summary_and_details_escape_what_the_implementation_returned(
    html_tags: Callable[[str], HtmlTags],
) -> None:
    hostile = '<script>alert(1)</script><img src=x onerror="alert(2)">'
    outcomes = _outcomes(sign_error=True, got=hostile)
    blocks = summary.render(summary.summarize(outcomes), hostile, "implicit")
    parts = [*blocks["prefix"][1:], *blocks["summary"], *blocks["postfix"]]
    parts += [details.checks_table(o) for o in outcomes]
    parts += [details.reproduce(o, hostile, None, hostile) for o in outcomes]
    parser = html_tags("".join(parts))
    assert "script" not in parser.tags
    assert "img" not in parser.tags
    assert "onerror" not in parser.attrs


def test_reproduce_gives_command_case_and_hypothesis_lines() -> None:
    outcome = _outcomes(sign_error=True)[1]
    text = details.reproduce(
        outcome,
        "sub/sign error.py",
        "implicit",
        "noise\nE   Falsifying example: test(\nE       x=0.5,\nE   )\n"
        "Falsifying example: test(\n    x=0.5,\n)\n@reproduce_failure('6.1', b'AAA')\n",
    )
    assert (
        "pytest &#x27;t::test[1]&#x27; --target &#x27;sub/sign error.py&#x27; --assignment implicit"
        in text
    )
    assert "x**2 + y**2 - 1 at x = 0.5" in text
    assert "Falsifying example" in text
    assert "reproduce_failure" in text
    assert "noise" not in text


def test_snippet_is_valid_python() -> None:
    compile(details.snippet(samples.circle_case("0.5")), "<snippet>", "exec")
    compile(details.snippet(samples.map_case()), "<snippet>", "exec")


def test_counts_table_has_one_line_per_key() -> None:
    counts = summary.summarize(_outcomes(sign_error=True))
    table = summary.counts_table("Checks per property", "property", counts.properties)
    assert table.split("<tbody>")[1].count("<tr>") == len(counts.properties)


def test_hypothesis_lines_keep_whole_calls_once() -> None:
    text = (
        "E   Failing test case: test_x(\nE       n=3,\nE   )\nE   \nother\n"
        "Failing test case: test_x(\n    n=3,\n)\n"
        "You can reproduce ... @reproduce_failure('6', b'A')"
    )
    assert details.hypothesis_lines(text) == [
        "Failing test case: test_x(",
        "    n=3,",
        ")",
        "You can reproduce ... @reproduce_failure('6', b'A')",
    ]
