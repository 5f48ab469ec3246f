"""Tests of reports.columns and reports.outcomes: cells, sort keys, row status."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TYPE_CHECKING

import pytest
from hypothesis import given
from hypothesis import strategies as st

from properties.records import CheckResult
from reports import columns, samples
from reports.outcomes import CaseOutcome, from_user_properties

if TYPE_CHECKING:
    from conftest import HtmlTags


def _outcome(x: str = "0.5", sign_error: bool = False, got: str = "") -> CaseOutcome:
    case = samples.circle_case(x)
    checks = samples.curve_checks(case, sign_error=sign_error, got_text=got)
    return CaseOutcome("t::test[0]", case, tuple(checks))


@given(st.floats(allow_nan=False), st.floats(allow_nan=False))
def test_sort_key_preserves_numeric_order(a: float, b: float) -> None:
    if a < b:
        assert columns.sort_key(a) < columns.sort_key(b)
    elif a == b:
        assert columns.sort_key(a) == columns.sort_key(b)


def test_sort_key_puts_nan_last() -> None:
    assert columns.sort_key(math.inf) < columns.sort_key(math.nan)


def test_header_and_row_have_the_same_columns_in_the_same_order() -> None:
    heads = columns.header_cells()
    for cells in (columns.row_cells(_outcome()), columns.empty_row_cells()):
        assert len(cells) == len(heads)
        for head, cell in zip(heads, cells, strict=True):
            name = head.split('data-column-type="')[1].split('"')[0]
            assert cell.startswith(f'<td class="col-{name}"')
    assert all('class="sortable"' in h for h in heads)


def test_row_status_is_degenerate_never_pass_or_fail() -> None:
    outcome = _outcome("0.99999999")
    assert outcome.case is not None
    assert outcome.case.degenerate
    assert outcome.status == "degenerate"
    status_cell = columns.row_cells(outcome)[-1]
    assert "degenerate" in status_cell


def test_row_status_fail_wins_over_degenerate_and_error() -> None:
    bad = CheckResult("dy_dx_true", "fail", 1.0, 1e-8)
    err = CheckResult("root", "error", message="raised")
    outcome = CaseOutcome("n", samples.circle_case("0.99999999"), (err, bad))
    assert outcome.status == "fail"
    assert CaseOutcome("n", None, (err,)).status == "error"
    assert CaseOutcome("n", None, (), pytest_outcome="failed").status == "error"


def test_row_shows_gradient_error_of_the_failing_check() -> None:
    cells = columns.row_cells(_outcome(sign_error=True))
    grad = cells[[n for n, _, _ in columns.COLUMNS].index("grad_error")]
    assert "1.2" in grad
    assert "st-fail" in grad


def test_last_recorded_case_wins() -> None:
    first, last = _outcome("0.1"), _outcome("0.2")
    props = samples.user_properties(first.case, list(first.checks)) + samples.user_properties(
        last.case, list(last.checks)
    )
    outcome = from_user_properties("n", props)
    assert outcome is not None
    assert outcome.case == last.case
    assert from_user_properties("n", [("other", "1")]) is None


@pytest.mark.parametrize("hostile", ["<script>alert(1)</script>", '"><img src=x onerror=alert(1)>'])
def test_cells_escape_text(hostile: str, html_tags: Callable[[str], HtmlTags]) -> None:
    outcome = _outcome(sign_error=True, got=hostile)
    parser = html_tags("".join(columns.row_cells(outcome)))
    assert "script" not in parser.tags
    assert "img" not in parser.tags
