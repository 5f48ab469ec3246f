"""The judgement (issue #10): each mistake gets its own diagnosis code and no other,
correct variants get full marks and no code, and the words never name an impossible
or unconfirmed cause.

Submissions run in this process on the frozen set (as the property suite runs them),
are judged and explained (``checks.run``) and scored with the shipped rubric; the
grading worker's path is covered by tests/test_grade_examples.py and the grading
tests at the end of this file.
"""

from __future__ import annotations

import functools
import math
from pathlib import Path

import pytest
import torch

from properties import alternatives, checks, curves, diagnosis, formulas, frozen, maps, oracle
from properties.candidates import load_target
from properties.checks import curves as curve_checks
from properties.records import CheckResult, CurveCase
from reports.grading import gradescope_results, rubric, run
from reports.grading.graded import Graded
from reports.grading.isolation import Limits
from reports.grading.records import CaseResult

ROOT = Path(__file__).parents[1]
WRONG = ROOT / "tests" / "wrong"
VARIANTS = ROOT / "tests" / "variants"
EXAMPLES = ROOT / "examples" / "submissions"

#: file -> the only codes its scored failing items may carry (and must carry).
MISTAKES = {
    WRONG / "sign_error.py": {"sign"},
    WRONG / "missing_inverse.py": {"missing_inverse"},
    WRONG / "transposed.py": {"transposed"},
    WRONG / "jacobian_at_x0.py": {"at_start"},
    WRONG / "ignores_grad_output.py": {"ignores_upstream"},
    WRONG / "stopped_early.py": {"inexact_forward"},
    WRONG / "unrolled.py": {"unrolled"},
    WRONG / "truncated_neumann.py": {"truncated_inverse"},
    WRONG / "diagonal_only.py": {"diagonal_only"},
    WRONG / "inverse_sign.py": {"inverse_sign"},
    WRONG / "float32_root.py": {"low_precision"},
    WRONG / "finite_difference.py": {"finite_difference"},
    WRONG / "detached_result.py": {"no_gradient"},
    WRONG / "detached_root.py": {"no_gradient"},
    EXAMPLES / "sign_error.py": {"sign"},
    EXAMPLES / "missing_inverse.py": {"missing_inverse"},
    EXAMPLES / "unrolled.py": {"unrolled"},
    # LBFGS on F**2 stops at |F| ~ 1e-5, and its line search jumps to another root
    # on three frozen cases (y0 = 0.915 -> 0.162, the root near it being 0.625).
    EXAMPLES / "notebook_implicit.py": {"inexact_forward", "other_root"},
}
CORRECT = [
    EXAMPLES / "correct_fixed_point.py",
    WRONG / "_correct_fixed_point.py",
    VARIANTS / "anderson_last_iterate.py",
    VARIANTS / "secant_forward.py",
    VARIANTS / "newton_step_tol.py",
]


@functools.cache
def _scored(path: Path) -> tuple[rubric.ItemScore, ...]:
    target = load_target(path, None)
    kind = "map" if target.supports("map") else "curve"
    assignment = "fixed_point" if kind == "map" else "implicit"
    candidate = target.candidate(kind)
    results = [
        CaseResult(case, tuple(checks.run(case, candidate)))
        for case in frozen.load_cases(assignment)
    ]
    return tuple(rubric.score(rubric.load(None, assignment), results))


def _codes(items: tuple[rubric.ItemScore, ...]) -> set[str]:
    return {c for s in items if s.item.points > 0 and s.score < s.item.points for c in s.diagnosis}


@pytest.mark.parametrize("path", sorted(MISTAKES), ids=lambda p: f"{p.parent.name}/{p.name}")
def test_each_mistake_gets_its_own_code_and_no_other(path: Path) -> None:
    items = _scored(path)
    assert sum(s.score for s in items) < sum(s.item.points for s in items)
    assert _codes(items) == MISTAKES[path]


@pytest.mark.parametrize("path", CORRECT, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_correct_variants_get_full_marks_and_no_code(path: Path) -> None:
    items = _scored(path)
    lost = [(s.item.name, s.score, s.failures[:1]) for s in items if s.score < s.item.points]
    assert not lost
    assert not _codes(items)


def test_a_knock_on_item_says_same_cause_as_the_first() -> None:
    items = {s.item.name: s for s in _scored(WRONG / "sign_error.py")}
    assert items["gradient"].diagnosis == ("sign",)
    assert not items["gradient"].same_as
    # The batch agrees with one-by-one calls, float32 with float64: both wrong, and
    # the gradient item scores that; batch and float32 are not penalised twice.
    for name in ("batch", "float32"):
        assert items[name].score == items[name].item.points, items[name]


def _upstream_failure(path: Path) -> CheckResult:
    items = {s.item.name: s for s in _scored(path)}
    return next(f for s in items.values() for f in s.failures if f.name == "upstream")


def test_multiply_by_grad_output_is_told_only_to_a_gradient_that_ignores_it(
    tmp_path: Path,
) -> None:
    assert "multiply by grad_output" in _upstream_failure(WRONG / "ignores_grad_output.py").message
    # A backward off by an amount that does not scale with grad_output (as an adjoint
    # iteration with an absolute stopping tolerance is) scales, but not exactly.
    source = (WRONG / "_correct_fixed_point.py").read_text()
    assert "        return grad_a, None, None\n" in source
    offset = tmp_path / "absolute_offset.py"
    offset.write_text(source.replace("return grad_a, None", "return grad_a + 1e-3, None"))
    message = _upstream_failure(offset).message
    assert "multiply by grad_output" not in message
    assert "not identified" in message


def test_transposed_is_never_offered_for_one_unknown_or_a_symmetric_jacobian() -> None:
    one = formulas.MapPoint([0.0], [[0.3]], [[1.0]], [[1 / 0.7]], [[1 / 0.7]], 0.7)
    assert "transposed" not in alternatives.map_alternatives(one)
    sym = formulas.MapPoint(
        [0.0, 0.0], [[0.1, 0.2], [0.2, 0.1]], [[1.0], [0.0]], [[1.0], [0.0]], [[1.0], [0.0]], 0.7
    )
    assert "transposed" not in alternatives.map_alternatives(sym)


def test_transposed_is_never_told_on_a_scalar_case() -> None:
    told = [
        check.case
        for path in [*MISTAKES, *CORRECT]
        for s in _scored(path)
        for check in s.failures
        if "transposed" in check.diagnosis
    ]
    assert told  # tests/wrong/transposed.py
    for text in told:
        start = text.split("x0 = [", 1)[1].split("]", 1)[0]
        assert "," in start, text


def _degenerate_observation(warning: str) -> dict:
    return {
        "kind": "curve",
        "dtype": "float64",
        "y": 0.0,
        "dy_dx": -3.5,
        "weighted_grad": -3.5,
        "residual": 0.0,
        "warnings": [{"stage": "call", "category": "DeprecationWarning", "message": warning}],
    }


def _exactly_degenerate_case() -> CurveCase:
    cases = [c for c in frozen.load_cases("implicit") if math.isnan(float(c.dy_dx))]
    assert cases
    return cases[0]


def test_an_unrelated_warning_does_not_excuse_a_finite_answer_at_f_y_zero() -> None:
    case = _exactly_degenerate_case()
    results = curve_checks.judge_curve(case, _degenerate_observation("torch.foo is deprecated"))
    (behaviour,) = [r for r in results if r.name == "degenerate_behaviour"]
    assert behaviour.status == "fail"
    assert "not counted" in behaviour.message
    results = curve_checks.judge_curve(
        case, _degenerate_observation("F_y is singular here: the derivative does not exist")
    )
    (behaviour,) = [r for r in results if r.name == "degenerate_behaviour"]
    assert behaviour.status == "pass"


def test_an_item_with_no_case_is_not_measured_never_failed() -> None:
    fixed_point = rubric.load(None, "fixed_point")
    scores = _scored(EXAMPLES / "correct_fixed_point.py")
    (degenerate,) = [s for s in scores if s.item.degenerate]
    assert degenerate.status == "not measured"
    graded = Graded("a.py", Path("a.py"), "fixed_point", "graded", fixed_point, items=list(scores))
    tests = gradescope_results.results(graded)["tests"]
    (entry,) = [t for t in tests if t["name"].endswith("(degenerate)")]
    assert "status" not in entry
    assert "0 of 0" not in entry["output"]


def test_an_exception_gets_advice_about_that_exception() -> None:
    case = next(c for c in frozen.load_cases("fixed_point") if not c.degenerate)
    error = {"type": "NameError", "message": "name 'xx' is not defined", "where": "line 7 of s.py"}
    (call,) = checks.judge(case, {"kind": "map", "call_error": error})
    assert "line 7 of s.py" in call.message
    assert "NameError usually means" in call.message
    assert "iterate" not in call.message


def test_got_and_expected_are_printed_with_the_digits_that_differ() -> None:
    got, want = checks.common.fmt_pair(-3.122155365, -3.1221554066)
    assert got != want


def test_the_vocabulary_page_is_in_step_with_the_code() -> None:
    page = (ROOT / "docs" / "diagnosis.md").read_text(encoding="utf-8")
    assert page == diagnosis.markdown()
    assert set(diagnosis.CODES) == set(diagnosis.EVIDENCE)
    with pytest.raises(ValueError, match="not in"):
        diagnosis.check_codes(["made_up"])


# -- through the grader's worker ---------------------------------------------------


def _map_cases(n: int) -> list:
    cases = [c for c in frozen.load_cases("fixed_point") if not c.degenerate]
    hang = [c for c in cases if c.m == 2 and c.dtype == "float32"]
    rest = [c for c in cases if c not in hang][:n]
    return hang + rest


def test_a_file_that_hangs_on_a_few_cases_keeps_the_credit_of_the_rest() -> None:
    cases = _map_cases(6)
    graded = run.grade_file(
        VARIANTS / "hangs_on_some.py", cases=cases, limits=Limits(deadline=3.0), explore=None
    )
    assert graded.status == "timeout"
    assert "timeout" in graded.signals
    assert 50 < graded.score < graded.max_score
    hung = [r for r in graded.cases if not r.ran]
    assert len(hung) == 2
    assert all(r.checks[0].diagnosis == ("timeout",) for r in hung)


def test_an_output_flood_is_a_signal_at_full_marks() -> None:
    graded = run.grade_file(
        VARIANTS / "prints_a_lot.py", cases=_map_cases(3)[2:], limits=Limits(), explore=None
    )
    scored = [s for s in graded.items if s.counted]
    assert all(s.score == s.item.points for s in scored)
    assert graded.signals == ("output_flood",)
    payload = gradescope_results.results(graded)
    assert payload["extra_data"]["signals"] == ["output_flood"]


def test_check_results_carry_their_codes_through_json() -> None:
    from properties import records

    result = CheckResult("dx_da_formula", "fail", diagnosis=("sign",))
    back = records.from_json(records.to_json(result))
    assert back.diagnosis == ("sign",)
    assert records.to_json(back) == records.to_json(result)


# -- where a wrong point lies (properties/returned_point.py) -------------------------


class _PositiveBranch(torch.autograd.Function):
    """y = sqrt(1 - x**2), the circle's upper root whatever y0, with the right IFT."""

    @staticmethod
    def forward(ctx, x, y0):
        y = torch.sqrt(1 - x**2)
        ctx.save_for_backward(x, y)
        return y

    @staticmethod
    def backward(ctx, g):
        x, y = ctx.saved_tensors
        return g * (-x / y), None


def _failing(results: list[CheckResult]) -> dict[str, CheckResult]:
    return {r.name: r for r in results if r.status in ("fail", "error")}


def test_a_root_on_another_branch_is_another_root_not_a_loose_tolerance() -> None:
    case = oracle.curve_case(curves.circle(), "0.6", -0.8)
    failing = _failing(checks.run(case, lambda F, x, y0: _PositiveBranch.apply(x, y0)))
    assert failing["root"].diagnosis == ("other_root",)
    assert "the root y = 0.8" in failing["root"].message
    assert failing["dy_dx_true"].diagnosis == ("other_root",)
    assert "dy_dx_formula" not in failing
    assert "residual" not in failing
    for result in failing.values():
        assert "tighten" not in result.hint + result.message
        assert "inexact_forward" not in result.diagnosis


def _minimise_F_squared_from_zero(F, x, y0):
    y = torch.zeros_like(y0).requires_grad_()
    opt = torch.optim.LBFGS([y], max_iter=100)

    def closure():
        opt.zero_grad()
        loss = F(x.detach(), y).pow(2).sum()
        loss.backward()
        return loss

    opt.step(closure)
    return y.detach() + 0 * x


def test_a_minimiser_of_F_squared_stuck_where_F_y_is_zero_is_told_so() -> None:
    case = oracle.curve_case(curves.circle(), "0.5", 0.9)
    failing = _failing(checks.run(case, _minimise_F_squared_from_zero))
    for name in ("root", "residual", "dy_dx_formula", "dy_dx_true"):
        assert failing[name].diagnosis == ("stationary_point",), name
    assert "F_y = 0 at the returned y" in failing["dy_dx_formula"].message
    assert "right for the y you returned" not in failing["dy_dx_true"].message


def test_a_stopped_solve_is_inexact_only_when_its_residual_accounts_for_its_error() -> None:
    case = oracle.curve_case(curves.circle(), "0.6", 0.7)

    def stopped(F, x, y0):  # the true root plus 1e-6: |F / F_y| accounts for it
        return _PositiveBranch.apply(x, y0) + 1e-6

    failing = _failing(checks.run(case, stopped))
    assert failing["root"].diagnosis == ("inexact_forward",)
    assert "one Newton step" in failing["root"].message


def test_a_map_iterated_to_another_fixed_point_is_named() -> None:
    case = maps.sqrt_map(["4"], [1.5])

    def from_minus_x0(f, a, x0, distance, tol):
        with torch.no_grad():
            x = -x0.detach()
            for _ in range(100):
                x_prev, x = x, f(a.detach())(x)
                if distance(x, x_prev) <= tol:
                    break
        return _SqrtFixedPoint.apply(a, x)

    failing = _failing(checks.run(case, from_minus_x0))
    assert failing["x_star"].diagnosis == ("other_root",)
    assert "[-2]" in failing["x_star"].message
    assert "dx_da_formula" not in failing
    assert "residual" not in failing
    assert failing["dx_da_true"].diagnosis == ("other_root",)


class _SqrtFixedPoint(torch.autograd.Function):
    """x -> x with dx/da = 1 / (2 x), right at any fixed point of (x + a/x) / 2."""

    @staticmethod
    def forward(ctx, a, x):
        ctx.save_for_backward(x)
        return x.clone()

    @staticmethod
    def backward(ctx, v):
        (x,) = ctx.saved_tensors
        return v / (2 * x), None


def _adjoint_steps(steps: int | None):
    """A correct forward; backward iterates u <- v + f_x^T u from u = 0, ``steps`` times
    (None: until its step is below 1e6 tol, too loose but following tol)."""

    class _Adjoint(torch.autograd.Function):
        @staticmethod
        def forward(ctx, a, x, f, tol):
            ctx.f, ctx.tol = f, tol
            ctx.save_for_backward(a, x)
            return x.clone()

        @staticmethod
        def backward(ctx, v):
            a, x = ctx.saved_tensors
            with torch.enable_grad():
                a_, x_ = a.detach().requires_grad_(), x.detach().requires_grad_()
                fx = ctx.f(a_)(x_)
                u = torch.zeros_like(v)
                for _ in range(steps or 10_000):
                    (u_x,) = torch.autograd.grad(fx, x_, u, retain_graph=True)
                    u, u_prev = v + u_x, u
                    if steps is None and float((u - u_prev).abs().max()) <= 1e6 * ctx.tol:
                        break
                (g,) = torch.autograd.grad(fx, a_, u)
            return g, None, None, None

    def fixed_point(f, a, x0, distance, tol):
        with torch.no_grad():
            x = x0.detach()
            for _ in range(10_000):
                x_prev, x = x, f(a.detach())(x)
                if distance(x, x_prev) <= tol * 1e-4:
                    break
        return _Adjoint.apply(a, x, f, tol)

    return fixed_point


def test_an_adjoint_of_a_fixed_number_of_steps_is_a_truncated_neumann_sum() -> None:
    case = _contracting_map_case()
    failing = _failing(checks.run(case, _adjoint_steps(4)))
    assert failing["dx_da_formula"].diagnosis == ("truncated_inverse",)
    assert "(4 terms)" in failing["dx_da_formula"].message
    assert "with tol/100 it stayed" in failing["dx_da_formula"].message


def test_an_adjoint_stopped_by_a_loose_tolerance_is_not_called_truncated() -> None:
    case = _contracting_map_case()
    failing = _failing(checks.run(case, _adjoint_steps(None)))
    assert "dx_da_formula" in failing
    assert failing["dx_da_formula"].diagnosis == ("inexact_backward",)
    assert "with tol/100" in failing["dx_da_formula"].message


def _contracting_map_case():
    """A frozen scalar map whose f_x at x* is far from 0 (rho >= 0.5)."""
    for case in frozen.load_cases("fixed_point"):
        if case.m == 1 and not case.degenerate and case.dtype == "float64":
            point = formulas.map_point(case.f_source, case.a, case.x_star, case.scalar)
            if 0.5 <= abs(point.f_x[0][0]) < 0.95 and abs(point.f_a[0][0]) > 0.1:
                return case
    raise AssertionError("no contracting scalar map in the frozen set")


_RECIPROCAL = """
import torch


class Implicit(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, y0, F):
        y = y0.detach().clone()
        for _ in range(60):
            with torch.enable_grad():
                yv = y.requires_grad_()
                (F_y,) = torch.autograd.grad(F(x, yv).sum(), yv)
            y = (y - F(x, y) / F_y).detach()
        ctx.F = F
        ctx.save_for_backward(x, y)
        return y

    @staticmethod
    def backward(ctx, g):
        x, y = ctx.saved_tensors
        with torch.enable_grad():
            xv, yv = x.detach().requires_grad_(), y.detach().requires_grad_()
            F_x, F_y = torch.autograd.grad(ctx.F(xv, yv).sum(), (xv, yv))
        return -g * F_y / F_x, None, None  # WRONG: the reciprocal ratio
"""


def test_an_infinite_gradient_where_F_x_is_zero_is_the_swapped_ratio(tmp_path) -> None:
    # -F_y / F_x with F_x = 0 is -inf: that matches the swapped formula exactly, and the
    # knock-on items (upstream: w times it; batch: as alone) are not told other causes.
    path = tmp_path / "reciprocal.py"
    path.write_text(_RECIPROCAL)
    case = oracle.curve_case(curves.user_curve("x**2 + y"), "0", 0.05)
    results = {r.name: r for r in checks.run(case, load_target(path, None).candidate("curve"))}
    formula = results["dy_dx_formula"]
    assert formula.status == "fail"
    assert formula.diagnosis == ("swapped_partials",)
    assert formula.hint.startswith("inverted ratio")
    assert "F_x = 0 at your y" in formula.message
    for name in ("upstream", "batch", "float32"):
        assert results[name].status == "pass", results[name]


def test_a_float32_number_is_evidence_only_with_many_significant_bits() -> None:
    from properties.precision import float32_number, low_precision

    y32 = float(torch.tensor(0.8660254037844386, dtype=torch.float32))
    assert float32_number(y32)
    assert not float32_number(0.8660254037844386)  # float64's own nearest value
    assert not float32_number(0.5)  # a short dyadic: a start, an exact answer
    assert not float32_number(2.0**-18)
    found = low_precision([y32], [0.8660254037844386], "float64", "y")
    assert found is not None
    assert found.codes == ("low_precision",)
    assert low_precision([y32], [0.8660254037844386], "float32", "y") is None
    assert low_precision([y32], [0.9], "float64", "y") is None  # far beyond round-off
