"""Observe, judge, record and decide: what every suite test does with one case."""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Iterable
from typing import Any

import pytest

from properties import capabilities, checks, diagnosis, not_run, records, simplicity
from properties.candidates import Target
from properties.records import CASE_KEY, CHECKS_KEY, EARLIER_KEY, CheckResult, CurveCase, MapCase

#: The test's last example so far, its earlier ones (in user_properties too), and
#: whether one failed the test (Hypothesis then shrinks: those are not counted).
_LAST = pytest.StashKey[tuple["Case", list[CheckResult]]]()
_EARLIER = pytest.StashKey[list[list[object]]]()
_FAILED = pytest.StashKey[bool]()
#: Examples since the first failure, and the simplest failing one so far.
_SHRINKS = pytest.StashKey[int]()
_SIMPLEST = pytest.StashKey[tuple["Case", list[CheckResult]]]()
_NAMES = pytest.StashKey[tuple[str, ...]]()
_FIRST_FAILURE_AT = pytest.StashKey[float]()
#: Examples a test may shrink for after its first failure (each builds a case and
#: calls the target: torchopt's adapter spent 80 s shrinking one test).
SHRINK_EXAMPLES = 40
#: ... and seconds (monotonic clock): an example costs what the target's calls cost,
#: and HIPS autograd bridged into torch spent 190 s on 40 examples of one test.
SHRINK_SECONDS = 20.0

Case = CurveCase | MapCase


def run(case: Case, target: Target, *, conformance: bool = False) -> list[CheckResult]:
    """All checks of ``case`` for ``target``: in process, or through ``target.observe``.

    With ``conformance``, also the properties of ``capabilities`` (those the target
    does not declare are "not_claimed").  A case that got no observation
    (``NotObserved``: a timeout, a crash) gets ``not_run.results``, never a
    judgement of an answer that did not come.
    """
    if not target.supports(case.kind):
        pytest.skip(f"{target.name} implements the {target.assignment} assignment only")
    claims = capabilities.claims_of(target) if conformance else None
    if target.observe is None:
        return checks.run(case, target.candidate(case.kind), claims=claims)
    try:
        return checks.run(case, observe=target.observe, claims=claims)
    except not_run.NotObserved as missing:
        return not_run.results(case, missing)


def record(node: pytest.Item, case: Case, results: list[CheckResult], fails: bool = False) -> None:
    """Attach the case and its checks to the test item: its row in the report.

    A Hypothesis test calls this once per example, and the last call wins: the
    last example, or the shrunk failing one it replays at the end.  The
    examples before are kept in short form (family, degenerate, each check's
    status) under ``EARLIER_KEY``, so that the report counts every case the
    test ran, up to the first one that failed it (``fails``): after that,
    Hypothesis is shrinking, and the shrunk example stands for that failure.
    """
    last = node.stash.get(_LAST, None)
    if last is not None and not node.stash.get(_FAILED, False):
        if _EARLIER not in node.stash:
            node.stash[_EARLIER] = []
            node.user_properties.append((EARLIER_KEY, node.stash[_EARLIER]))
        earlier_case, earlier_results = last
        node.stash[_EARLIER].append(
            [
                earlier_case.family,
                earlier_case.degenerate,
                [[r.name, r.status] for r in earlier_results],
            ]
        )
    if node.stash.get(_FAILED, False):
        node.stash[_SHRINKS] = node.stash.get(_SHRINKS, 0) + 1
    if fails:
        node.stash.setdefault(_FIRST_FAILURE_AT, time.monotonic())
        _keep_simplest(node, case, results)
    node.stash[_LAST] = (case, results)
    node.stash[_FAILED] = node.stash.get(_FAILED, False) or fails
    _attach(node, case, results)


def _attach(node: pytest.Item, case: Case, results: list[CheckResult]) -> None:
    node.user_properties[:] = [
        (k, v) for k, v in node.user_properties if k not in (CHECKS_KEY, CASE_KEY)
    ]
    node.user_properties.append((CHECKS_KEY, records.to_json(results)))
    node.user_properties.append((CASE_KEY, records.to_json(case)))


def _codes(node: pytest.Item, results: list[CheckResult]) -> tuple[str, ...]:
    """The codes of the test's failing checks (those ``shrink_budget`` was told of)."""
    bad = failing(results, node.stash.get(_NAMES, None))
    return tuple(sorted({c for r in bad for c in r.diagnosis}))


def _keep_simplest(node: pytest.Item, case: Case, results: list[CheckResult]) -> None:
    """The simplest failing example so far with the first failure's codes (the cause)."""
    best = node.stash.get(_SIMPLEST, None)
    if best is not None and _codes(node, results) != _codes(node, best[1]):
        return
    if best is None or simplicity.case_key(case) < simplicity.case_key(best[0]):
        node.stash[_SIMPLEST] = (case, results)


def shrink_budget(node: pytest.Item, names: Iterable[str]) -> None:
    """Stop shrinking after ``SHRINK_EXAMPLES`` examples or ``SHRINK_SECONDS`` since
    the first failure, whichever comes first.

    Raises:
        Stop: the test fails on the simplest failing example seen with the first
            failure's cause (its row in the report), saying that a smaller one
            may exist.
    """
    node.stash[_NAMES] = tuple(names)
    if _SIMPLEST not in node.stash:
        return
    examples = node.stash.get(_SHRINKS, 0)
    seconds = time.monotonic() - node.stash.get(_FIRST_FAILURE_AT, time.monotonic())
    if examples < SHRINK_EXAMPLES and seconds < SHRINK_SECONDS:
        return
    case, results = node.stash[_SIMPLEST]
    _attach(node, case, results)
    raise Stop(
        f"{explain(case, failing(results, names))}\n(Shrinking stopped after "
        f"{examples} examples in {seconds:.0f} s: a smaller failing case may exist.)"
    )


class Stop(BaseException):
    """The test fails now, on the example its message names: no more shrinking.

    Not an ``Exception``, so Hypothesis neither shrinks nor replays it.  Raised on
    a case that timed out (each shrink step that hangs again would wait out a
    deadline, and even a rejected step builds its case, up to a second: a target
    without an iteration cap spent five minutes per test so) and when the shrink
    budget is spent (``shrink_budget``).  ``stops`` turns it into the failure.
    """


def stops(test: Callable[..., None]) -> Callable[..., None]:
    """Decorate a Hypothesis test (outside ``@given``): ``Stop`` fails it."""

    @functools.wraps(test)
    def run(*args: Any, **kwargs: Any) -> None:
        try:
            test(*args, **kwargs)
            return
        except Stop as stop:
            message = str(stop)
        pytest.fail(message, pytrace=False)

    return run


def failing(
    results: Iterable[CheckResult], names: Iterable[str] | None = None
) -> list[CheckResult]:
    """Results with status fail or error (among ``names`` when given)."""
    wanted = set(names) if names is not None else None
    return [
        r for r in results if r.status in ("fail", "error") and (wanted is None or r.name in wanted)
    ]


def explain(case: Case, bad: list[CheckResult]) -> str:
    """The assertion message: the case as text, then one line per failing check."""
    lines = [f"{len(bad)} check(s) failed on {case.text()}"]
    for r in bad:
        hint = f" Likely mistake: {r.hint}." if r.hint else ""
        lines.append(f"- {r.name} [{r.status}]: {r.message}{hint}")
    return "\n".join(lines)


def failure(case: Case, bad: list[CheckResult]) -> BaseException:
    """The exception a property raises for ``bad``: an ``AssertionError`` whose class
    is named by the failing checks' diagnosis codes (``diagnosis.failure_type``), so
    that Hypothesis shrinks each cause on its own and a smaller case keeps the cause."""
    codes = [c for r in bad for c in r.diagnosis]
    if "timeout" in codes:
        return Stop(
            f"{explain(case, bad)}\n(Not shrunk: a case that times out costs a deadline "
            "at every shrink step.)"
        )
    kind = diagnosis.failure_type(AssertionError, codes)
    return kind(explain(case, bad))


def decide(
    node: pytest.Item, case: Case, results: list[CheckResult], names: Iterable[str] | None = None
) -> None:
    """Record, then fail on any failing check (among ``names``), or skip a degenerate case."""
    bad = failing(results, names)
    record(node, case, results, fails=bool(bad))
    if bad:
        pytest.fail(explain(case, bad), pytrace=False)
    if case.degenerate:
        pytest.skip(
            f"degenerate: {case.text()} has degeneracy {case.degeneracy:.3g} "
            f"< {records.DEGENERACY_THRESHOLD}; value checks are reported, not counted"
        )
