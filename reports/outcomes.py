"""One row of the report: a case, its checks and the status they add up to.

The property suite records, on each test item, the pairs
``("implicit_checks", records.to_json(list_of_CheckResult))`` and
``("implicit_case", records.to_json(case))`` in ``user_properties`` (the row's
case: a Hypothesis test's last example, or its shrunk failing one), and
``("implicit_earlier", [[family, degenerate, [[check, status], ...]], ...])``
for the examples a Hypothesis test ran before it (counted in the summary, not
listed).  This module turns them back into records; it never sees the code
under test.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable, Sequence
from typing import Any

from properties.records import (
    CASE_KEY,
    CHECKS_KEY,
    EARLIER_KEY,
    CheckResult,
    CurveCase,
    MapCase,
    Status,
    from_json,
)

#: Row statuses, worst first: the order of the status column and the summary.
STATUSES: tuple[Status, ...] = ("fail", "error", "degenerate", "pass")


def case_status(statuses: Iterable[str], degenerate: bool, test_failed: bool = False) -> Status:
    """A case's status from its checks': "fail" > "error" > "degenerate" > "pass".

    A degenerate case is "degenerate" unless one of its checks failed or
    errored (the behaviour-at-degenerate-points property can fail there); it is
    never folded into "pass".  A test that failed without recording a failing
    check (it crashed) is an "error".
    """
    found = set(statuses)
    if "fail" in found:
        return "fail"
    if "error" in found or test_failed:
        return "error"
    if "degenerate" in found or degenerate:
        return "degenerate"
    return "pass"


@dataclasses.dataclass(frozen=True)
class Earlier:
    """An example a Hypothesis test ran before its row's: counted, not listed.

    Attributes:
        family: the case's family.
        degenerate: the case is degenerate.
        statuses: (property, status) of each of its checks.
    """

    family: str
    degenerate: bool
    statuses: tuple[tuple[str, Status], ...]

    @property
    def status(self) -> Status:
        return case_status((s for _, s in self.statuses), self.degenerate)


@dataclasses.dataclass(frozen=True)
class CaseOutcome:
    """What one test item found.

    Attributes:
        nodeid: the pytest node id.
        case: the case, or None when the test recorded none.
        checks: the checks run on it (possibly empty).
        pytest_outcome: "passed", "failed" or "skipped".
        earlier: the examples a Hypothesis test ran before this one (which is
            its last, or its shrunk failing one); empty for other tests.
    """

    nodeid: str
    case: CurveCase | MapCase | None
    checks: tuple[CheckResult, ...]
    pytest_outcome: str = "passed"
    earlier: tuple[Earlier, ...] = ()

    @property
    def status(self) -> Status:
        """The row's status (``case_status``)."""
        degenerate = self.case is not None and self.case.degenerate
        return case_status(
            (c.status for c in self.checks), degenerate, self.pytest_outcome == "failed"
        )

    @property
    def family(self) -> str:
        if self.case is not None:
            return self.case.family
        return next((c.family for c in self.checks if c.family), "")

    def failing(self) -> list[CheckResult]:
        """Checks that failed or errored, worst (largest error / tolerance) first."""
        bad = [c for c in self.checks if c.status in ("fail", "error")]
        return sorted(bad, key=lambda c: -_excess(c))

    def check(self, *names: str) -> CheckResult | None:
        """The first check whose name is one of ``names`` (in that order of preference)."""
        by_name = {c.name: c for c in self.checks}
        return next((by_name[n] for n in names if n in by_name), None)


def _excess(check: CheckResult) -> float:
    if math.isnan(check.error):
        return math.inf if check.status == "error" else 0.0
    if math.isnan(check.tol) or check.tol <= 0:
        return check.error
    return check.error / check.tol


def from_user_properties(
    nodeid: str, user_properties: Iterable[tuple[str, Any]], pytest_outcome: str = "passed"
) -> CaseOutcome | None:
    """Read the last recorded case and checks of a test item.

    The *last* pair wins: a Hypothesis test records every example it runs, and
    the last one is the shrunk failing example it replays at the end.

    Args:
        nodeid: the test's node id.
        user_properties: ``report.user_properties`` (or ``item.user_properties``).
        pytest_outcome: the report's outcome.

    Returns:
        The outcome, or None when the test recorded neither a case nor checks
        (it is not a property test, and the report shows it as pytest does).
    """
    checks_json = case_json = None
    earlier: tuple[Earlier, ...] = ()
    for key, value in user_properties:
        if key == CHECKS_KEY:
            checks_json = value
        elif key == CASE_KEY:
            case_json = value
        elif key == EARLIER_KEY:
            earlier = tuple(
                Earlier(str(family), bool(degenerate), tuple((str(n), s) for n, s in statuses))
                for family, degenerate, statuses in value
            )
    if checks_json is None and case_json is None:
        return None
    checks = tuple(from_json(checks_json)) if checks_json else ()
    case = from_json(case_json) if case_json else None
    return CaseOutcome(nodeid, case, checks, pytest_outcome, earlier)


def numeric_detail(checks: Sequence[CheckResult], key: str) -> float | None:
    """The first finite numeric ``details`` value named ``key`` among ``checks``."""
    for check in checks:
        for name, value in check.details:
            if name != key:
                continue
            try:
                number = float(value)
            except (TypeError, ValueError):
                continue
            if math.isfinite(number):
                return number
    return None
