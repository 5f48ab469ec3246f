"""The suite's harness: shrinking has a budget, and the case shown is the simplest
failing one with the first failure's cause."""

from __future__ import annotations

import pytest

from properties import curves, oracle, records
from properties.records import CASE_KEY, CheckResult
from properties.suite import harness


class _Node:
    def __init__(self) -> None:
        self.stash = pytest.Stash()
        self.user_properties: list = []


def _result(case, status: str, codes: tuple[str, ...] = ()) -> CheckResult:
    return CheckResult(
        "root", status, family=case.family, case=case.text(), message="m", diagnosis=codes
    )


def test_shrinking_stops_after_its_budget_on_the_simplest_failing_case() -> None:
    node = _Node()
    cases = [oracle.curve_case(curves.circle(), x, 0.9) for x in ("0.59375", "0.5", "0.4375")]
    first, simplest, other = cases
    harness.shrink_budget(node, ["root"])
    harness.record(node, first, [_result(first, "fail", ("sign",))], fails=True)
    harness.record(node, simplest, [_result(simplest, "fail", ("sign",))], fails=True)
    # a failure with another cause is another bug: never shown for this one
    harness.record(node, other, [_result(other, "fail", ("transposed",))], fails=True)
    ran = [2]  # examples since the first failure

    def shrink_until_stopped() -> None:
        while ran[0] <= 2 * harness.SHRINK_EXAMPLES:
            harness.shrink_budget(node, ["root"])
            harness.record(node, first, [_result(first, "pass")])
            ran[0] += 1

    with pytest.raises(harness.Stop, match="Shrinking stopped after") as stopped:
        shrink_until_stopped()
    assert ran[0] == harness.SHRINK_EXAMPLES
    assert simplest.text() in str(stopped.value)
    assert records.from_json(dict(node.user_properties)[CASE_KEY]) == simplest


def test_a_test_that_never_failed_is_never_stopped() -> None:
    node = _Node()
    case = oracle.curve_case(curves.circle(), "0.5", 0.9)
    for _ in range(2 * harness.SHRINK_EXAMPLES):
        harness.shrink_budget(node, ["root"])
        harness.record(node, case, [_result(case, "pass")])


def test_shrinking_also_stops_after_its_time_budget(monkeypatch) -> None:
    clock = [100.0]
    monkeypatch.setattr(harness.time, "monotonic", lambda: clock[0])
    node = _Node()
    case = oracle.curve_case(curves.circle(), "0.5", 0.9)
    harness.shrink_budget(node, ["root"])
    harness.record(node, case, [_result(case, "fail", ("sign",))], fails=True)
    harness.shrink_budget(node, ["root"])  # one example in: within both budgets
    harness.record(node, case, [_result(case, "pass")])
    clock[0] += harness.SHRINK_SECONDS
    with pytest.raises(harness.Stop, match=r"after 1 examples in 20 s"):
        harness.shrink_budget(node, ["root"])
