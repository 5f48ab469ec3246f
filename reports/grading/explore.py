"""Exploration: after the frozen cases, search for the smallest failing case (feedback only).

Grading scores every submission on the same frozen cases (``properties.frozen``).
On top of that, ``explore`` runs a Hypothesis search *in the grading process*
over the strategies the property suite uses (``strategies.map_cases()`` for the
fixed_point assignment, ``strategies.curve_cases()`` for implicit).  Each drawn
case goes to the submission's own sandboxed worker through ``observe`` (the very
path of the frozen cases: student code never runs here) and is judged here; an
example *fails* when a scored check fails on it: a check named by a rubric item
worth points that selects the case, on a non-degenerate case (or the call
itself raised).  Hypothesis then shrinks to the smallest failing case, which the
report shows with how to run it again.

The score never depends on exploration: everyone is graded on the same cases.

Determinism: derandomized settings with no database (built on the ``grade``
profile, passed explicitly: Hypothesis loads its own ``ci`` profile when ``CI``
is set), local constants pinned (``profiles.pin_draws``), and a budget counted
in worker calls, so grading the same file twice shows the same case.  A
wall-clock budget is only a backstop: when it ends the search, the result says
so (a rerun may then stop elsewhere).  Once a budget is spent, or the code timed
out or crashed, every case not yet run counts as passing, so Hypothesis stops
quickly; a case already run keeps its result (Hypothesis replays the final one).
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from properties import diagnosis, records
from properties.records import CheckResult, CurveCase, MapCase
from properties.simplicity import case_key
from reports.columns import fmt
from reports.details import snippet

from .records import CaseResult
from .rubric import Rubric, case_verdict

if TYPE_CHECKING:
    from hypothesis.strategies import SearchStrategy

Case = CurveCase | MapCase
Observe = Callable[[Case], CaseResult]

#: sympy and mpmath are not thread-safe (mpmath's working precision is one
#: process-wide setting that ``workdps`` changes and restores): building cases
#: and judging hold this lock when submissions are graded in threads (``-j``).
SYMBOLIC_LOCK = threading.RLock()

#: How to check a file locally with the property suite (its own exploration).
LOCAL_COMMAND = "python -m reports --target {name}"


@dataclasses.dataclass(frozen=True)
class Budget:
    """How much exploration a submission gets.

    Attributes:
        examples: Hypothesis's ``max_examples`` (cases generated before shrinking).
        calls: worker calls in all (generation and shrinking): the deterministic bound.
        seconds: wall-clock backstop for the whole search (not counting a
            timed-out call, which the per-call deadline bounds).
    """

    examples: int = 30
    calls: int = 100
    seconds: float = 60.0

    def __post_init__(self) -> None:
        if self.examples < 0 or self.calls < 0 or not self.seconds > 0:
            raise ValueError(
                f"Budget(examples={self.examples}, calls={self.calls}, seconds={self.seconds}): "
                "examples and calls must be >= 0 and seconds > 0."
            )


DEFAULT_BUDGET = Budget()


@dataclasses.dataclass(frozen=True)
class Exploration:
    """What exploration found for one submission.

    Attributes:
        budget: the budget it had.
        examples: distinct cases run in the worker.
        result: the smallest failing case with all its checks, or None.
        failures: the scored checks that failed on it.
        stopped: why the search ended early ("" when it ran to its end).
        skipped: why it did not run at all ("" when it ran).
        timed_budget: True when the wall-clock backstop ended it (a rerun may differ).
    """

    budget: Budget
    examples: int = 0
    result: CaseResult | None = None
    failures: tuple[CheckResult, ...] = ()
    stopped: str = ""
    skipped: str = ""
    timed_budget: bool = False

    @property
    def found(self) -> bool:
        return self.result is not None

    @property
    def case(self) -> Case | None:
        return self.result.case if self.result is not None else None


def case_strategy(assignment: str) -> SearchStrategy[Case]:
    """The property suite's cases for ``assignment``: map cases or curve cases."""
    from properties import strategies  # lazy for speed: hypothesis and sympy

    if assignment == "fixed_point":
        return strategies.map_cases()
    if assignment == "implicit":
        return strategies.curve_cases()
    raise ValueError(f"assignment={assignment!r} must be 'fixed_point' or 'implicit'.")


def scored_failures(rubric: Rubric, result: CaseResult) -> tuple[CheckResult, ...]:
    """The failing checks of ``result`` that a rubric item worth points counts
    against it (``rubric.case_verdict``, the scoring's own rule), in check order.

    Degenerate cases are never counted (as in ``rubric.score_item``); a call that
    raised, timed out or crashed fails every item that selects the case.
    """
    case = result.case
    if case.degenerate:
        return ()
    failed: set[int] = set()
    for item in rubric.items:
        if item.points > 0 and not item.degenerate and item.selects(case):
            verdict, bad = case_verdict(item, result)
            if verdict is False:
                failed.update(id(c) for c in bad)
    return tuple(c for c in result.checks if id(c) in failed)


def _tests_something(case: Case) -> bool:
    """False for a map whose fixed point does not depend on ``a`` (left out of the
    frozen set too: ``dx/da = 0`` checks nothing and trips correct code that calls
    ``autograd.grad`` without ``allow_unused``)."""
    if isinstance(case, MapCase):
        return any(float(v) != 0 for v in case.dx_da)
    return True


class _Found(Exception):
    """Raised in the search when a case fails: Hypothesis shrinks on it."""

    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


class _Search:
    """The state of one search: the cases run, their results, and the budget."""

    def __init__(
        self, observe: Observe, rubric: Rubric, budget: Budget, clock: Callable[[], float]
    ) -> None:
        self.observe = observe
        self.rubric = rubric
        self.budget = budget
        self.clock = clock
        self.start = clock()
        self.seen: dict[str, CaseResult | None] = {}
        self.calls = 0
        self.stopped = ""
        self.timed = False

    def run(self, case: Case) -> CaseResult | None:
        """The case's result (cached), or None: not run, counted as passing."""
        key = records.to_json(case)
        if key in self.seen:
            return self.seen[key]
        if self.stopped:
            return None
        if self.calls >= self.budget.calls:
            self.stopped = (
                f"the budget of {self.budget.calls} calls was spent"
                " (a failing case found may not be the smallest)"
            )
            return None
        if self.clock() - self.start > self.budget.seconds:
            self.timed = True
            self.stopped = (
                f"the time budget of {self.budget.seconds:g} s was spent "
                "(a rerun may stop at another case)"
            )
            return None
        self.calls += 1
        result = self.observe(case)
        if result.note in ("timeout", "crashed"):
            what = "did not answer in time" if result.note == "timeout" else "crashed"
            self.stopped = f"the code {what} on {case.text()}"
            self.seen[key] = None
            return None
        self.seen[key] = result
        return result

    def failing(self) -> list[CaseResult]:
        return [r for r in self.seen.values() if r is not None and scored_failures(self.rubric, r)]


def explore(
    observe: Observe,
    assignment: str,
    rubric: Rubric,
    budget: Budget = DEFAULT_BUDGET,
    *,
    strategy: SearchStrategy[Case] | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> Exploration:
    """Search for the smallest case on which a scored check fails (never raises).

    Args:
        observe: runs one case in the submission's worker and judges it
            (``CaseResult.note`` "timeout" or "crashed" ends the search).
        assignment: "fixed_point" or "implicit": which cases to draw.
        rubric: says which checks are scored on which cases.
        budget: examples, worker calls and seconds.
        strategy: the cases (default ``case_strategy(assignment)``).
        clock: the wall clock (for tests).

    Returns:
        The smallest failing case found (with its checks), or none, and how many
        cases were run.
    """
    # Lazy for speed: hypothesis loads only when a submission is explored.
    from hypothesis import HealthCheck, Phase, Verbosity, given, reject, settings
    from hypothesis import strategies as st
    from hypothesis.errors import HypothesisException

    from properties import profiles

    if budget.examples == 0 or budget.calls == 0:
        return Exploration(budget, skipped="exploration is turned off (budget 0)")
    profiles.pin_draws()
    cases = strategy if strategy is not None else case_strategy(assignment)
    search = _Search(observe, rubric, budget, clock)
    problems: list[str] = []

    @settings(
        settings.get_profile("grade"),
        max_examples=budget.examples,
        derandomize=True,
        database=None,
        deadline=None,
        phases=[Phase.generate, Phase.shrink],
        report_multiple_bugs=False,
        verbosity=Verbosity.quiet,
        suppress_health_check=list(HealthCheck),
    )
    @given(st.data())
    def run_one(data: st.DataObject) -> None:
        try:
            with SYMBOLIC_LOCK:
                case = data.draw(cases, label="case")
        except HypothesisException:
            raise
        except Exception as exc:  # noqa: BLE001 - an oracle failure is ours: skip the draw
            problems.append(f"{type(exc).__name__}: {exc}"[:200])
            reject()
        if not _tests_something(case):
            reject()
        result = search.run(case)
        failures = scored_failures(rubric, result) if result is not None else ()
        if failures:  # one type per diagnosis: a shrink step must keep the cause
            codes = (code for c in failures for code in c.diagnosis)
            raise diagnosis.failure_type(_Found, codes)(records.to_json(case))

    found: CaseResult | None = None
    try:
        run_one()
    except _Found as exc:
        found = search.seen.get(exc.key)
    except Exception as exc:  # noqa: BLE001 - Flaky, Unsatisfiable, ...: keep what was seen
        failing = search.failing()
        found = min(failing, key=lambda r: (*case_key(r.case), r.case.text()), default=None)
        search.stopped = search.stopped or f"the search ended early ({type(exc).__name__})"
    stopped = search.stopped
    if problems and not stopped:
        stopped = f"{len(problems)} drawn case(s) could not be built and were skipped"
    return Exploration(
        budget,
        examples=search.calls,
        result=found,
        failures=scored_failures(rubric, found) if found is not None else (),
        stopped=stopped,
        timed_budget=search.timed,
    )


def skipped(budget: Budget, why: str) -> Exploration:
    """An exploration that did not run, saying why."""
    return Exploration(budget, skipped=why)


# -- text for reports ------------------------------------------------------------------

FAIRNESS = (
    "Exploration is feedback, not score: the score comes from the frozen cases only, "
    "the same for everyone."
)


def describe_case(case: Case) -> str:
    """The case's kind in a few words (family, dtype, size)."""
    if isinstance(case, MapCase):
        size = "scalar" if case.scalar else f"{case.m} unknowns, {case.k} parameters"
        kind = case.family if case.family.endswith("map") else f"{case.family} map"
        return f"{kind}, {case.dtype}, {size}"
    return f"{case.family} curve, degeneracy {case.degeneracy:.2g}"


def failure_lines(check: CheckResult) -> list[str]:
    """What failed on the case: the check, measured vs tolerance, message, hint."""
    measured = ""
    if check.error == check.error:  # not NaN
        measured = f": measured error {fmt(check.error)}, tolerance {fmt(check.tol)}"
    lines = [f"{check.name} {check.status}{measured}.", check.message]
    if check.hint:
        lines.append(f"Likely mistake: {check.hint}")
    return [line for line in lines if line]


def reproduce_command(name: str) -> str:
    """The local command that runs the property suite (with its own exploration)."""
    return LOCAL_COMMAND.format(name=name)


def text(exploration: Exploration, name: str) -> str:
    """Plain text for Gradescope and terminals (see ``gradebook`` for the HTML)."""
    lines = []
    if exploration.skipped:
        lines.append(f"Not explored: {exploration.skipped}.")
    elif exploration.result is None:
        lines.append(
            f"Exploration found no failing case in {exploration.examples} explored case(s)."
        )
    else:
        case = exploration.result.case
        lines.append("Smallest failing case found by exploration:")
        lines.append(f"  {case.text()}  ({describe_case(case)})")
        for check in exploration.failures[:3]:
            lines.extend("  " + line for line in failure_lines(check))
        lines.append("Reproduce it: paste this after your own function:")
        lines.extend("  " + line for line in snippet(case).splitlines())
        lines.append(f"or run the property suite on your file: {reproduce_command(name)}")
        lines.append(f"({exploration.examples} case(s) explored.)")
    if exploration.stopped:
        lines.append(f"Exploration stopped early: {exploration.stopped}.")
    lines.append(FAIRNESS)
    return "\n".join(lines)
