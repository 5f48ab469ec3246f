"""Exploration after the frozen cases: the smallest failing case, shown, reproducible, not scored.

Submissions are graded on a few frozen cases (to keep the tests short) with a
small exploration budget bounded by worker calls, not by the clock, so that two
runs agree whatever the machine's load.
"""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path

import pytest

from properties import records, simplicity
from properties.records import CheckResult, CurveCase, MapCase
from reports.grading import cli, explore, gradebook, judging, rubric, run
from reports.grading import gradescope_results as gradescope
from reports.grading.explore import Budget
from reports.grading.graded import Graded
from reports.grading.isolation import Limits
from reports.grading.records import CaseResult

EXAMPLES = Path(__file__).parents[1] / "examples" / "submissions"
LIMITS = Limits(deadline=5.0, startup=90.0)
#: Generous seconds: the call budget ends the search, so runs are comparable.
BUDGET = Budget(examples=12, calls=40, seconds=600.0)
FIXED_POINT = [c for c in judging.load_cases("fixed_point") if not c.degenerate][:4]
IMPLICIT = [c for c in judging.load_cases("implicit") if not c.degenerate][:3]


def _grade(path: Path, **kwargs: object) -> Graded:
    options: dict[str, object] = {"cases": FIXED_POINT, "limits": LIMITS, "explore": BUDGET}
    options.update(kwargs)
    return run.grade_file(path, **options)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def sign_error() -> tuple[Graded, Graded]:
    """sign_error.py graded twice."""
    return _grade(EXAMPLES / "sign_error.py"), _grade(EXAMPLES / "sign_error.py")


def _fingerprint(found: explore.Exploration | None) -> tuple[object, ...]:
    assert found is not None
    case = records.to_json(found.case) if found.case is not None else None
    failures = [(c.name, c.status, c.message, c.hint) for c in found.failures]
    return (found.examples, case, failures, found.stopped, found.skipped)


def test_explore_sign_error_finds_a_small_failing_case(
    sign_error: tuple[Graded, Graded],
) -> None:
    found = sign_error[0].exploration
    assert found is not None
    assert found.found, explore.text(found, "sign_error.py")
    case = found.case
    assert isinstance(case, MapCase)
    # Shrunk: a float64 scalar map with one parameter (the strategy draws vector,
    # coupled and float32 maps too).
    assert (case.scalar, case.m, case.k, case.dtype) == (True, 1, 1, "float64")
    assert {"dx_da_formula", "dx_da_true"} <= {c.name for c in found.failures}
    assert any("opposite sign" in c.hint for c in found.failures)
    assert all(c.error > c.tol for c in found.failures if not math.isnan(c.error))
    assert 0 < found.examples <= BUDGET.calls


def test_explore_grading_twice_shows_the_same_case(
    sign_error: tuple[Graded, Graded],
) -> None:
    first, second = sign_error
    assert _fingerprint(first.exploration) == _fingerprint(second.exploration)
    assert json.dumps(gradescope.results(first)) == json.dumps(gradescope.results(second))


def test_explore_does_not_change_the_score(sign_error: tuple[Graded, Graded]) -> None:
    frozen_only = _grade(EXAMPLES / "sign_error.py", explore=None)
    assert frozen_only.exploration is None
    explored = sign_error[0]

    def items(g: Graded) -> list[tuple[str, float, int, int]]:
        return [(s.item.name, s.score, s.passed, s.counted) for s in g.items]

    assert items(explored) == items(frozen_only)
    assert explored.score == frozen_only.score < explored.max_score
    assert gradescope.results(explored)["score"] == frozen_only.score


def test_explore_is_shown_in_the_report_and_results_json(
    sign_error: tuple[Graded, Graded],
) -> None:
    graded = sign_error[0]
    found = graded.exploration
    assert found is not None
    assert found.case is not None
    page = gradebook.student_report(graded)
    assert "Smallest failing case found by exploration" in page
    assert found.case.text().replace("'", "&#x27;") in page
    assert "python -m reports --target sign_error.py" in page
    assert explore.FAIRNESS in page
    assert "fails dx_da_formula" in gradebook.to_html([graded])  # the gradebook's column
    payload = gradescope.results(graded)
    (test,) = [t for t in payload["tests"] if t["name"].startswith("Exploration")]
    assert (test["score"], test["max_score"], test["status"]) == (0, 0, "failed")
    assert "Smallest failing case found by exploration:" in test["output"]
    assert found.case.text() in test["output"]
    assert "x = fixed_point(f, a, x0, distance" in test["output"]  # paste-able
    assert "tolerance" in test["output"]
    assert sum(t["score"] for t in payload["tests"]) == payload["score"]


def test_a_smallest_case_that_is_also_frozen_says_so(
    sign_error: tuple[Graded, Graded],
) -> None:
    graded = sign_error[0]
    found = graded.exploration
    assert found is not None
    assert found.case is not None
    assert "also a frozen one" not in gradebook.student_report(graded)
    # The same exploration, with its case among the frozen ones of the run.
    frozen = [*graded.cases, CaseResult(found.case, tuple(found.result.checks))]
    page = gradebook.student_report(dataclasses.replace(graded, cases=frozen))
    assert f"also a frozen one (case-{len(frozen) - 1} below)" in page


def test_explore_correct_submission_finds_nothing() -> None:
    graded = _grade(EXAMPLES / "correct_fixed_point.py")
    found = graded.exploration
    assert found is not None
    assert not found.found, explore.text(found, "correct_fixed_point.py")
    assert (found.stopped, found.skipped) == ("", "")
    assert 0 < found.examples <= BUDGET.examples
    assert graded.status == "graded"
    text = f"no failing case in {found.examples} explored case(s)"
    assert text in gradebook.student_report(graded)
    (test,) = [t for t in gradescope.results(graded)["tests"] if t["name"].startswith("Explor")]
    assert test["status"] == "passed"
    assert text in test["output"]


def test_explore_notebook_implicit_shrinks_to_the_unit_circle() -> None:
    graded = _grade(EXAMPLES / "notebook_implicit.py", cases=IMPLICIT)
    found = graded.exploration
    assert found is not None
    assert found.found
    assert isinstance(found.case, CurveCase)
    assert found.case.curve.source == "x**2 + y**2 - 1"
    assert {c.name for c in found.failures} & {"root", "residual"}


def test_explore_is_skipped_after_timeouts_on_the_frozen_cases() -> None:
    graded = _grade(EXAMPLES / "infinite_loop.py", limits=Limits(deadline=1.5, startup=90.0))
    assert graded.status == "timeout"
    assert [r.note for r in graded.cases] == ["timeout"] * 3 + ["not run"]
    found = graded.exploration
    assert found is not None
    assert found.examples == 0
    assert "timed out on the frozen cases" in found.skipped
    assert "Not explored" in gradebook.student_report(graded)


HANGS_ON_FLOAT32 = (EXAMPLES / "correct_fixed_point.py").read_text() + (
    "\n\n_correct = fixed_point\n\n\n"
    "def fixed_point(f, a, x0, distance, tol):\n"
    "    while x0.dtype == torch.float32:\n"
    "        pass\n"
    "    return _correct(f, a, x0, distance, tol)\n"
)


def test_explore_stops_at_its_first_timeout(tmp_path: Path) -> None:
    path = tmp_path / "hangs_on_float32.py"
    path.write_text(HANGS_ON_FLOAT32)
    float64 = [c for c in FIXED_POINT if c.dtype == "float64"]
    graded = _grade(path, cases=float64, limits=Limits(deadline=1.5, startup=90.0))
    assert graded.status == "graded"  # the frozen cases here are all float64
    found = graded.exploration
    assert found is not None
    assert "did not answer in time" in found.stopped
    assert not found.found  # a timeout is a note, never the shown case
    assert found.examples <= BUDGET.calls
    assert "Exploration stopped early" in gradebook.student_report(graded)


# -- the search itself, without workers ------------------------------------------------

RUBRIC = rubric.load(None, "fixed_point")


def _fails_when(predicate: object) -> explore.Observe:
    def observe(case: explore.Case) -> CaseResult:
        bad = predicate(case)  # type: ignore[operator]
        check = CheckResult(
            "dx_da_formula",
            "fail" if bad else "pass",
            error=1.0 if bad else 0.0,
            tol=1e-8,
            family=case.family,
            case=case.text(),
        )
        return CaseResult(case, (check,))

    return observe


def _vector(case: explore.Case) -> bool:
    return isinstance(case, MapCase) and case.m >= 2 and case.dtype == "float64"


def _big_vector(case: explore.Case) -> bool:
    return isinstance(case, MapCase) and case.m >= 3 and case.dtype == "float64"


def test_explore_search_shrinks_and_repeats_itself() -> None:
    failing: list[MapCase] = []

    def observe(case: explore.Case) -> CaseResult:
        if _big_vector(case):
            failing.append(case)  # type: ignore[arg-type]
        return _fails_when(_big_vector)(case)

    budget = Budget(20, 200, 600.0)
    found = explore.explore(observe, "fixed_point", RUBRIC, budget)
    assert found.found
    assert isinstance(found.case, MapCase)
    assert found.case.m == 3  # shrunk to the fewest unknowns that fail ...
    assert len(failing) > 1  # ... by shrinking, which tried failing cases ...
    # ... and no less simple than the first failure (unknowns, degree, digits, length)
    assert simplicity.case_key(found.case) <= simplicity.case_key(failing[0])
    assert found.examples < budget.calls
    again = explore.explore(_fails_when(_big_vector), "fixed_point", RUBRIC, budget)
    assert _fingerprint(found) == _fingerprint(again)


def test_explore_search_keeps_to_its_call_budget() -> None:
    found = explore.explore(_fails_when(_vector), "fixed_point", RUBRIC, Budget(20, 3, 600.0))
    assert found.examples == 3
    assert "budget of 3 calls" in found.stopped  # 20 examples asked for
    if found.found:
        assert _vector(found.case)  # type: ignore[arg-type]


def test_explore_search_ends_on_its_time_budget_without_raising() -> None:
    ticks = iter(range(0, 10_000, 100))
    found = explore.explore(
        _fails_when(_vector),
        "fixed_point",
        RUBRIC,
        Budget(20, 200, 150.0),
        clock=lambda: next(ticks),
    )
    assert found.timed_budget
    assert "time budget" in found.stopped
    assert found.examples <= 2


def test_explore_unscored_failures_do_not_count() -> None:
    def unscored(case: explore.Case) -> CaseResult:
        checks = (CheckResult("gradcheck", "fail", family=case.family, case=case.text()),)
        return CaseResult(case, checks)

    found = explore.explore(unscored, "fixed_point", RUBRIC, Budget(5, 20, 600.0))
    assert not found.found
    assert found.examples > 0


def test_explore_budget_zero_is_off() -> None:
    found = explore.explore(_fails_when(_vector), "fixed_point", RUBRIC, Budget(0, 0, 1.0))
    assert found.skipped
    assert found.examples == 0
    assert cli.explore_budget(0) is None
    assert cli.explore_budget(5) == Budget(5, 5 + cli.SHRINK_CALLS, 60.0)
    with pytest.raises(ValueError, match="seconds"):
        Budget(1, 1, 0.0)
