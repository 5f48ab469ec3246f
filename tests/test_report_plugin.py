"""Tests of the pytest plugin (reports.plugin) with ``pytester``: options, fixture, report."""

from __future__ import annotations

import html
import json
import re
import shlex
import sys
import types
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from reports import plots, samples  # noqa: F401 - import torch/matplotlib once: pytester restores sys.modules

if TYPE_CHECKING:
    from conftest import HtmlTags

pytest_plugins = ("pytester",)

HOSTILE = '<script>alert(1)</script><img src=x onerror="alert(2)">'


def report_data(path: Path) -> dict[str, Any]:
    """The JSON pytest-html renders the table from."""
    text = path.read_text(encoding="utf-8")
    blob = re.search(r'data-jsonblob="(.*?)"', text, re.DOTALL)
    assert blob is not None
    return json.loads(html.unescape(blob.group(1)))


def rows(data: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {test["testId"]: test for tests in data["tests"].values() for test in tests}


def _run_fake_suite(pytester: pytest.Pytester, *args: str, **env: str) -> pytest.RunResult:
    pytester.makepyfile(test_fake=samples.FAKE_SUITE)
    for key, value in env.items():
        pytester._monkeypatch.setenv(key, value)
    return pytester.runpytest(
        *samples.STRICT_WARNINGS, "--html=out/report.html", "--self-contained-html", *args
    )


def test_options_state_their_defaults(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest("--help")
    text = re.sub(r"\s+", " ", result.stdout.str())
    assert "--target=PATH" in text
    assert "Default: the reference implementation" in text
    assert "--assignment={implicit,fixed_point}" in text
    assert "Default: inferred from what the target defines" in text
    assert "--report-max-passing=N" in text
    assert "--report-max-rows=N" in text
    assert "Default: 100" in text


def test_assignment_is_validated(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest("--assignment", "newton")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*invalid choice*newton*"])


def test_target_fixture_loads_the_chosen_file(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[tuple[Any, Any]] = []

    def load_target(path: str | None, assignment: str | None) -> Any:
        calls.append((path, assignment))
        return types.SimpleNamespace(name=path or "reference", assignment=assignment or "implicit")

    fake = types.ModuleType("properties.candidates")
    fake.load_target = load_target  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "properties.candidates", fake)
    pytester.makepyfile(
        """
        def test_a(target):
            assert target.name == "sub.py" and target.assignment == "fixed_point"

        def test_b(target):
            assert target.name == "sub.py"
        """
    )
    result = pytester.runpytest("--target", "sub.py", "--assignment", "fixed_point", "--in-process")
    result.assert_outcomes(passed=2)
    assert calls == [("sub.py", "fixed_point")]  # session-scoped: loaded once


def test_report_has_title_summary_columns_and_plots(pytester: pytest.Pytester) -> None:
    result = _run_fake_suite(pytester, "--target", "sign_error.py", FAKE_SIGN_ERROR="1")
    result.assert_outcomes(failed=4, passed=1, skipped=1)
    page = (pytester.path / "out" / "report.html").read_text(encoding="utf-8")
    data = report_data(pytester.path / "out" / "report.html")
    assert data["title"] == "Verification report: sign_error.py"
    # summary: verdict, one line per property and per family, degenerate counted apart
    assert "fails 2 of 4 properties" in page
    assert '<span class="iv-prop">dy_dx_true</span> failed on <b>3</b> of 4' in page
    assert "<tr><th>circle</th>" in page
    assert "<tr><th>curve-map</th>" in page
    heads = re.findall(r'data-column-type="(\w+)"', page)
    for name in ("family", "curve", "point", "residual", "root_error", "grad_error"):
        assert name in heads
    assert "degeneracy" in heads
    assert "status" in heads
    found = rows(data)
    assert len(found) == 6
    circle = found["test_fake.py::test_circle[0.5]"]
    assert circle["status"].endswith("fail</span>")
    assert circle["family"] == "circle"
    degenerate = found["test_fake.py::test_circle[0.999999]"]
    assert degenerate["result"] == "Skipped"
    assert "degenerate</span>" in degenerate["status"]
    images = [e for e in circle["extras"] if e["format_type"] == "image"]
    assert len(images) == 1
    assert images[0]["content"].startswith("data:image/png;base64,")
    assert any("How to reproduce" in e["content"] for e in circle["extras"])
    # every row has as many cells as the header
    assert all(len(t["resultsTableRow"]) == len(heads) + 1 for t in found.values())


def test_report_escapes_what_the_implementation_prints_and_returns(
    pytester: pytest.Pytester, html_tags: Callable[[str], HtmlTags]
) -> None:
    _run_fake_suite(pytester, "--target", "x.py", FAKE_SIGN_ERROR="1", FAKE_HOSTILE=HOSTILE)
    path = pytester.path / "out" / "report.html"
    page = html_tags(path.read_text(encoding="utf-8"))
    assert page.tags.count("script") == 1  # pytest-html's own app.js
    assert "onerror" not in page.attrs
    data = report_data(path)
    fragments = []
    for test in rows(data).values():
        fragments += test["resultsTableRow"] + [test["log"]]
        fragments += [e["content"] for e in test["extras"] if e["format_type"] == "html"]
    assert any("&lt;script&gt;alert(1)" in f for f in fragments)  # it is shown, as text
    rendered = html_tags("".join(fragments))
    assert "script" not in rendered.tags
    assert "img" not in rendered.tags
    assert "onerror" not in rendered.attrs


def test_passing_rows_are_capped_and_counted(pytester: pytest.Pytester) -> None:
    points = ",".join(str(i / 20) for i in range(-15, 16))
    result = _run_fake_suite(pytester, "--report-max-passing=5", FAKE_POINTS=points + ",0.9999999")
    result.assert_outcomes(passed=33, skipped=1)
    path = pytester.path / "out" / "report.html"
    found = rows(report_data(path))
    # 5 passing property rows + the degenerate one + the test that records no case
    assert len(found) == 5 + 1 + 1
    assert (
        "counted above: 27 passing cases (at most 5 passing and 300 other rows" in path.read_text()
    )


def test_hypothesis_statistics_move_into_the_report(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        from hypothesis import event, given, settings, strategies as st

        @settings(max_examples=5, database=None)
        @given(st.integers())
        def test_h(n):
            event("<b>family</b>: circle")
        """
    )
    result = pytester.runpytest(*samples.STRICT_WARNINGS, "--html=r.html", "--self-contained-html")
    result.assert_outcomes(passed=1)
    (test,) = rows(report_data(pytester.path / "r.html")).values()
    stats = [e["content"] for e in test["extras"] if "Hypothesis statistics" in e["content"]]
    assert len(stats) == 1
    assert "&lt;b&gt;family&lt;/b&gt;: circle" in stats[0]


@pytest.mark.slow
def test_report_works_with_xdist(pytester: pytest.Pytester) -> None:
    result = _run_fake_suite(pytester, "-n", "2", "--target", "s.py", FAKE_SIGN_ERROR="1")
    result.assert_outcomes(failed=4, passed=1, skipped=1)
    path = pytester.path / "out" / "report.html"
    assert "fails 2 of 4 properties" in path.read_text()
    circle = rows(report_data(path))["test_fake.py::test_circle[0.5]"]
    assert any(e["format_type"] == "image" for e in circle["extras"])


def test_no_report_no_extras(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_fake=samples.FAKE_SUITE)
    result = pytester.runpytest(*samples.STRICT_WARNINGS)
    result.assert_outcomes(passed=5, skipped=1)


def test_failing_rows_and_plots_are_capped(pytester: pytest.Pytester) -> None:
    points = ",".join(str(i / 20) for i in range(-9, 10))
    result = _run_fake_suite(
        pytester, "--report-max-rows=12", FAKE_SIGN_ERROR="1", FAKE_POINTS=points
    )
    result.assert_outcomes(failed=19, passed=2)  # at x = 0 a sign error is harmless
    path = pytester.path / "out" / "report.html"
    found = rows(report_data(path))
    assert len(found) == 12 + 2  # + the case at x = 0 and the test that records no case
    assert "counted above: 7 failing cases" in path.read_text()
    failing = [t for t in found.values() if t["result"] == "Failed"]
    assert len(failing) == 12  # the map row, the 19th failure, is left out
    # Every failing row listed has its plot (the passing and the plain test none).
    plotted = [t for t in found.values() if any(e["format_type"] == "image" for e in t["extras"])]
    assert plotted == failing


def _reproduce_commands(path: Path) -> list[list[str]]:
    """The "How to reproduce" pytest command of every row that has one, split."""
    commands = []
    for test in rows(report_data(path)).values():
        for extra in test["extras"]:
            found = re.search(r"How to reproduce</b><pre>(.*?)</pre>", extra["content"])
            if found:
                commands.append(shlex.split(html.unescape(found.group(1))))
    return commands


@pytest.mark.parametrize("where", ["project", "elsewhere"])
def test_reproduce_command_runs_from_where_pytest_ran(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, where: str
) -> None:
    """From the project's folder the test's path is relative; run from elsewhere
    (an installed suite, ``--pyargs``) it is absolute: either way it exists."""
    suite = pytester.mkpydir("suite")
    (suite / "test_fake.py").write_text(samples.FAKE_SUITE)
    monkeypatch.setenv("FAKE_SIGN_ERROR", "1")
    here = pytester.path if where == "project" else pytester.mkdir("elsewhere")
    monkeypatch.chdir(here)
    test_file = "suite/test_fake.py" if where == "project" else str(suite / "test_fake.py")
    result = pytester.runpytest(
        *samples.STRICT_WARNINGS, test_file, "--html=r.html", "--self-contained-html"
    )
    result.assert_outcomes(failed=4, passed=1, skipped=1)
    commands = _reproduce_commands(here / "r.html")
    assert len(commands) == 5  # the failing and the degenerate rows
    for command in commands:
        test_path, _, test_name = command[1].partition("::")
        assert Path(test_path).is_absolute() == (where == "elsewhere")
        assert (here / test_path).is_file(), command
        assert test_name.startswith("test_")


@pytest.mark.parametrize("xdist", [(), ("-n", "2")], ids=["one-process", "xdist"])
def test_summary_counts_every_example_until_the_first_failure(
    pytester: pytest.Pytester, xdist: tuple[str, ...]
) -> None:
    """A Hypothesis test is one row, but the summary counts each example it ran,
    up to the first that failed it (then Hypothesis shrinks; the shrunk example,
    the row, stands for that failure)."""
    pytester.makepyfile(
        """
        from hypothesis import given, settings, strategies as st
        from properties.suite import harness
        from reports import samples

        def _example(request, n, sign_error, log):
            case = samples.circle_case(str(n / 100))
            checks = samples.curve_checks(case, sign_error=sign_error)
            bad = harness.failing(checks)
            harness.record(request.node, case, checks, fails=bool(bad))
            with open(log, "a") as f:
                f.write(f"{int(bool(bad))}\\n")
            assert not bad

        @settings(max_examples=15, database=None, derandomize=True)
        @given(st.integers(min_value=1, max_value=60))
        def test_passing(request, n):
            _example(request, n, False, "passing.log")

        @settings(max_examples=40, database=None, derandomize=True)
        @given(st.integers(min_value=1, max_value=60))
        def test_failing(request, n):
            _example(request, n, n >= 20, "failing.log")
        """
    )
    result = pytester.runpytest(
        *samples.STRICT_WARNINGS, *xdist, "--html=r.html", "--self-contained-html"
    )
    result.assert_outcomes(failed=1, passed=1)
    passing = (pytester.path / "passing.log").read_text().split()
    failing = (pytester.path / "failing.log").read_text().split()
    until_failure = failing.index("1") + 1
    assert len(passing) > 1
    assert 1 < until_failure < len(failing)  # it shrank after the first failure
    text = (pytester.path / "r.html").read_text()
    assert f"properties ({len(passing) + until_failure} cases)" in text
    counts = re.search(r"<tr><th>dy_dx_true</th>(.*?)</tr>", text, re.DOTALL)
    assert counts is not None
    numbers = [int(n) for n in re.findall(r">(\d+)<", counts.group(1))]
    assert numbers == [len(passing) + until_failure - 1, 1, 0, 0]  # pass fail degenerate error
    (row,) = [
        t for t in rows(report_data(pytester.path / "r.html")).values() if "failing" in t["testId"]
    ]
    assert "x = 0.2" in row["point"]  # the row: the shrunk example


def test_shrunk_hypothesis_example_is_shown_with_how_to_reproduce(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(
        """
        from hypothesis import given, settings, strategies as st
        from properties.records import to_json
        from reports import samples

        @settings(max_examples=20, database=None, derandomize=True, print_blob=True)
        @given(st.integers(min_value=1, max_value=9))
        def test_explore(request, n):
            case = samples.circle_case(str(n / 10))
            checks = samples.curve_checks(case, sign_error=n >= 3)
            request.node.user_properties.append(("implicit_checks", to_json(checks)))
            request.node.user_properties.append(("implicit_case", to_json(case)))
            assert all(c.status != "fail" for c in checks)
        """
    )
    result = pytester.runpytest(*samples.STRICT_WARNINGS, "--html=r.html", "--self-contained-html")
    result.assert_outcomes(failed=1)
    (test,) = rows(report_data(pytester.path / "r.html")).values()
    assert "x = 0.3" in test["point"]  # the shrunk example (n = 3), not the last one tried
    (repro,) = [e["content"] for e in test["extras"] if "How to reproduce" in e["content"]]
    assert "Failing test case: test_explore(" in repro
    assert "n=3" in repro
    assert "reproduce_failure" in repro
    assert any("Hypothesis statistics" in e["content"] for e in test["extras"])
