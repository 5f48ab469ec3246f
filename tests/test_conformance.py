"""Capabilities, the conformance properties and hazard maps, on the reference and on
deliberately wrong targets (tests/wrong_targets/)."""

from __future__ import annotations

import signal
import time
from fractions import Fraction
from pathlib import Path

import pytest
import torch

from properties import capabilities, checks, exact, hazard_maps, maps, probe, probe_conformance
from properties.candidates import load_target, reference_fixed_point, reference_solve
from properties.curves import circle
from properties.oracle import curve_case
from properties.wire import wire_for

WRONG = Path(__file__).parent / "wrong_targets"
ALL = set(capabilities.CAPABILITIES)


def _by_name(results):
    return {r.name: r for r in results}


@pytest.fixture(scope="module")
def circle_case():
    return curve_case(circle(), "0.625", "0.75")


@pytest.fixture(scope="module")
def coupled_case():
    A = [["1/4", "1/8"], ["-1/8", "1/4"]]
    B = [["1/8", "0"], ["1/4", "1/8"]]
    C = [["1", "1/2"], ["0", "1"]]
    return maps.coupled_map(A, B, C, ["0.5", "-0.25"], [0.0, 0.0])


# ----------------------------------------------------------------- capabilities


def test_capabilities_are_read_from_the_file_without_running_it(tmp_path: Path) -> None:
    path = tmp_path / "t.py"
    path.write_text('raise SystemExit\nCAPABILITIES = {"forward_mode", "torch_func"}\n')
    assert capabilities.declared_in_file(path) == {"forward_mode", "torch_func"}
    (tmp_path / "plain.py").write_text("def implicit(F, x, y0): ...\n")
    assert capabilities.declared_in_file(tmp_path / "plain.py") == capabilities.DEFAULT


def test_capabilities_reject_unknown_names_and_non_literals(tmp_path: Path) -> None:
    (tmp_path / "a.py").write_text('CAPABILITIES = {"forward_mod"}\n')
    with pytest.raises(ValueError, match="forward_mod.*known"):
        capabilities.declared_in_file(tmp_path / "a.py")
    (tmp_path / "b.py").write_text("CAPABILITIES = set(NAMES)\n")
    with pytest.raises(ValueError, match="literal set"):
        capabilities.declared_in_file(tmp_path / "b.py")
    with pytest.raises(ValueError, match="not a string"):
        capabilities.validate("forward_mode")


def test_a_declared_attribute_on_a_callable_counts() -> None:
    def solve(F, x, y0): ...

    solve.capabilities = {"forward_mode"}
    assert capabilities.declared(solve) == {"forward_mode"}
    assert capabilities.declared(lambda: None) == capabilities.DEFAULT


def test_undeclared_capabilities_are_not_claimed_never_failed(circle_case) -> None:
    results = _by_name(checks.run(circle_case, reference_solve, claims=()))
    for name in ("forward_ad", "func_jvp", "func_grad", "func_vjp", "func_jacrev", "func_vmap"):
        assert results[name].status == "not_claimed", results[name]
    assert results["loss_scale"].status == "pass"


def test_without_claims_the_assignment_checks_are_unchanged(circle_case) -> None:
    names = {r.name for r in checks.run(circle_case, reference_solve)}
    assert "loss_scale" not in names
    assert "forward_ad" not in names


# ------------------------------------------------------------ the reference passes


def test_reference_passes_what_it_claims_on_curves(circle_case) -> None:
    results = checks.run(circle_case, reference_solve, claims=capabilities.REFERENCE)
    bad = [r for r in results if r.status in ("fail", "error")]
    assert not bad, bad
    assert _by_name(results)["forward_ad"].status == "pass"


@pytest.mark.parametrize("which", ["sqrt", "coupled"])
def test_reference_passes_what_it_claims_on_maps(which, coupled_case) -> None:
    case = maps.sqrt_map(["2"], [1.0]) if which == "sqrt" else coupled_case
    results = _by_name(checks.run(case, reference_fixed_point, claims=capabilities.REFERENCE))
    bad = [r for r in results.values() if r.status in ("fail", "error")]
    assert not bad, bad
    for name in ("loss_scale", "forward_ad", "func_jvp", "d2x_da2"):
        assert results[name].status == "pass", results[name]


def test_map_second_derivative_matches_closed_form_and_differences(coupled_case) -> None:
    # sqrt: x* = sqrt(a), d2x/da2 = -a**-1.5 / 4.
    (h,) = exact.map_second_derivative(("x/2 + a/(2*x)",), 1, True, ["1.5"], ["2.25"], [3.0])
    assert float(h[0]) == pytest.approx(3.0 * -(2.25**-1.5) / 4, rel=1e-14)
    # coupled: central differences of v^T dx/da (the exact first derivative).
    case, v, step = coupled_case, [1.0, -2.0], Fraction(1, 2**20)
    H = exact.map_second_derivative(case.f_source, 2, False, case.x_star, case.a, v)
    A = [["1/4", "1/8"], ["-1/8", "1/4"]]
    B = [["1/8", "0"], ["1/4", "1/8"]]
    C = [["1", "1/2"], ["0", "1"]]
    for j in range(2):
        sides = []
        for sign in (1, -1):
            a = [Fraction(t) for t in case.a]
            a[j] += sign * step
            moved = maps.coupled_map(A, B, C, [str(float(t)) for t in a], [0.0, 0.0])
            J = [[float(moved.dx_da[i * 2 + c]) for c in range(2)] for i in range(2)]
            sides.append([sum(v[i] * J[i][c] for i in range(2)) for c in range(2)])
        for c in range(2):
            fd = (sides[0][c] - sides[1][c]) / (2 * float(step))
            assert float(H[j][c]) == pytest.approx(fd, rel=1e-6, abs=1e-9)


# ------------------------------------------------------------------ wrong targets


def test_a_zero_jvp_fails_forward_mode_only(circle_case) -> None:
    target = load_target(WRONG / "zero_jvp.py")
    claims = capabilities.claims_of(target)
    results = _by_name(checks.run(circle_case, target.solve, claims=claims))
    assert results["forward_ad"].status == "fail"
    assert results["func_jvp"].status == "fail"
    assert results["dy_dx_true"].status == "pass"
    assert results["func_vmap"].status == "not_claimed"


def test_a_vmap_that_solves_one_row_fails_func_vmap(circle_case) -> None:
    target = load_target(WRONG / "vmap_first_only.py")
    results = _by_name(checks.run(circle_case, target.solve, claims=capabilities.claims_of(target)))
    assert results["func_vmap"].status == "fail", results["func_vmap"]
    assert results["dy_dx_true"].status == "pass"


def test_an_absolute_adjoint_tolerance_fails_loss_scale(coupled_case) -> None:
    target = load_target(WRONG / "absolute_adjoint_tol.py")
    results = _by_name(checks.run(coupled_case, target.fixed_point, claims=()))
    assert results["dx_da_true"].status == "pass"  # invisible at weights near 1
    assert results["loss_scale"].status == "fail", results["loss_scale"]
    assert "relative to |grad_output|" in results["loss_scale"].message
    # Confirmed by experiment: with tol/100 the deviation shrinks (an adjoint stop).
    assert results["loss_scale"].diagnosis == ("inexact_backward",), results["loss_scale"]
    assert "with tol/100" in results["loss_scale"].message


def test_a_nonlinear_backward_is_not_told_an_adjoint_tolerance(coupled_case) -> None:
    """A backward that is not linear in grad_output for another reason (here it
    squares it) fails loss_scale, but tol/100 changes nothing: cause not identified."""

    def squashed(f, a, x0, distance, tol):
        return _Nonlinear.apply(reference_fixed_point(f, a, x0, distance, tol))

    results = _by_name(checks.run(coupled_case, squashed, claims=()))
    assert results["loss_scale"].status == "fail", results["loss_scale"]
    assert results["loss_scale"].diagnosis == ("unknown",), results["loss_scale"]
    assert "adjoint" not in results["loss_scale"].hint


class _Nonlinear(torch.autograd.Function):
    """Identity forward; a backward that is not linear in g: g (1 + |g|)."""

    @staticmethod
    def forward(ctx, x):
        return x.clone()

    @staticmethod
    def backward(ctx, g):
        return g * (1 + g.abs())


def _hazard(case, fixed_point, seconds: float = 0.5):
    return checks.judge(case, probe.observe({**wire_for(case), "deadline": seconds}, fixed_point))


HAZARDS = {
    "non-contracting": hazard_maps.non_contracting_map(
        Fraction(-5, 4), Fraction(1, 2), Fraction(1)
    ),
    "singular-map": hazard_maps.singular_map(Fraction(1, 4), Fraction(1, 2)),
}


@pytest.mark.parametrize("family", sorted(HAZARDS))
def test_the_reference_signals_hazards(family) -> None:
    (result,) = _hazard(HAZARDS[family], reference_fixed_point, seconds=10)
    assert result.status == "pass", result
    assert "NonConvergenceError" in result.message


@pytest.mark.parametrize("family", sorted(HAZARDS))
def test_a_missing_iteration_cap_is_stopped_by_the_deadline(family) -> None:
    target = load_target(WRONG / "no_iteration_cap.py")
    start = time.monotonic()
    (result,) = _hazard(HAZARDS[family], target.fixed_point)
    assert time.monotonic() - start < 5
    assert result.status == "fail", result
    assert "did not return within" in result.message


def test_a_confident_answer_at_a_singular_map_fails() -> None:
    target = load_target(WRONG / "fixed_iterations.py")
    (result,) = _hazard(HAZARDS["singular-map"], target.fixed_point)
    assert result.status == "fail", result
    assert "finite" in result.message


def test_a_solver_that_finds_the_fixed_point_of_a_non_contracting_map_passes() -> None:
    def newton(f, a, x0, distance, tol):
        return a / (1 + 5 / 4)  # exact for f = -5/4 x + a, as Newton's method finds it

    (result,) = _hazard(HAZARDS["non-contracting"], newton)
    assert result.status == "pass", result
    assert "true fixed point" in result.message


def test_hazard_constructors_validate() -> None:
    with pytest.raises(ValueError, match="c=1/2"):
        hazard_maps.non_contracting_map(Fraction(1, 2), Fraction(0), Fraction(1))
    with pytest.raises(ValueError, match="x0=2"):
        hazard_maps.singular_map(Fraction(0), Fraction(2))


def _spin_past_a_deadline() -> None:
    with probe_conformance.deadline(0.05):
        while True:
            pass


def test_the_deadline_restores_a_running_timer() -> None:
    signal.setitimer(signal.ITIMER_REAL, 100.0)
    try:
        with pytest.raises(TimeoutError, match=r"deadline of 0.05 s"):
            _spin_past_a_deadline()
        remaining, _ = signal.getitimer(signal.ITIMER_REAL)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
    assert 90 < remaining <= 100
