from __future__ import annotations

import math
from fractions import Fraction

import mpmath
import pytest
import sympy
import torch

from properties import curve_maps, curves, maps, oracle, records, roots
from properties.curves import X, Y
from properties.exact import compile_curve

SQRT3 = sympy.sqrt(3)


def close(text: str, exact: sympy.Expr, digits: int = 35) -> bool:
    """``text`` agrees with the exact value to ``digits`` significant digits."""
    with mpmath.workdps(60):
        value = mpmath.mpf(text)
        target = mpmath.mpf(str(sympy.N(exact, 60)))
        return abs(value - target) <= mpmath.mpf(10) ** -digits * max(1, abs(target))


def test_unit_circle_at_one_half_matches_the_closed_forms() -> None:
    case = oracle.curve_case(curves.circle(), "0.5", 1)
    y = SQRT3 / 2
    assert case.x == "0.5"
    assert close(case.y_true, y)
    assert close(case.dy_dx, -1 / SQRT3)
    assert close(case.d2y_dx2, -1 / y**3)
    assert case.degeneracy == pytest.approx(float(y))
    assert case.condition == pytest.approx(float(1 / y))
    assert not case.degenerate


def test_lower_branch_is_picked_by_the_guess() -> None:
    case = oracle.curve_case(curves.circle(), "0.5", -1)
    assert close(case.y_true, -SQRT3 / 2)
    assert close(case.dy_dx, 1 / SQRT3)


def test_rotated_ellipse_root_is_exact_to_35_digits() -> None:
    e = curves.ellipse(1, 2, 3, "1/2", 0.7)
    case = oracle.curve_case(e, "1.5", 3)
    F = curves.expression(e.source).subs(X, sympy.Rational(3, 2))
    exact = max(sympy.solve(F, Y), key=lambda r: float(r))
    assert close(case.y_true, exact, digits=38)
    dy_dx = -sympy.diff(curves.expression(e.source), X) / sympy.diff(curves.expression(e.source), Y)
    assert close(case.dy_dx, dy_dx.subs({X: sympy.Rational(3, 2), Y: exact}), digits=35)


def test_quintic_root_is_polished_to_35_digits() -> None:
    p = curves.polynomial({(0, 5): 1, (1, 1): -3, (3, 0): 1, (0, 2): 2}, ("1/2", "3/4"))
    case = oracle.curve_case(p, "0.25", 0.5)  # not the constructed point: a true quintic root
    F = curves.expression(p.source)
    with mpmath.workdps(70):
        y = mpmath.mpf(case.y_true)
        residual = sympy.N(F.subs({X: sympy.Rational(1, 4), Y: sympy.Float(case.y_true, 70)}), 70)
        grad = abs(sympy.N(sympy.diff(F, Y).subs({X: sympy.Rational(1, 4), Y: y}), 30))
    assert abs(residual) / grad < 1e-38


def test_transcendental_user_curve_matches_its_closed_form() -> None:
    c = curves.user_curve("sin(x) + exp(y) - 2")
    case = oracle.curve_case(c, "0.5", 0.5)
    half = sympy.Rational(1, 2)
    y = sympy.log(2 - sympy.sin(half))
    assert close(case.y_true, y)
    # y = log(2 - sin x): dy/dx = -cos x / (2 - sin x)
    assert close(case.dy_dx, -sympy.cos(half) / (2 - sympy.sin(half)))
    d2 = sympy.diff(sympy.log(2 - sympy.sin(X)), X, 2).subs(X, half)
    assert close(case.d2y_dx2, d2)


def test_exact_vertical_tangent_is_degenerate_with_nan_derivatives() -> None:
    case = oracle.curve_case(curves.circle(), 1, 0.3)
    assert float(case.y_true) == 0.0
    assert case.dy_dx == "nan"
    assert case.d2y_dx2 == "nan"
    assert case.degeneracy == 0.0
    assert case.condition == oracle.CONDITION_CLIP
    assert case.degenerate
    assert case.y0 != 0.0


def test_near_vertical_tangent_is_flagged_with_its_measure() -> None:
    x = 1 - Fraction(1, 2**30)
    case = oracle.curve_case(curves.circle(), x, 1)
    y = math.sqrt(float(1 - x * x))
    assert case.degeneracy == pytest.approx(y, rel=1e-9)
    assert case.degenerate
    assert case.condition == pytest.approx(1 / y, rel=1e-9)
    assert float(case.x) == float(x)


def test_basin_of_a_circle_stops_halfway_to_the_horizontal_axis() -> None:
    lo, hi = oracle.basin(curves.circle(), "0.5", SQRT3 / 2)
    y = float(SQRT3 / 2)
    assert lo == pytest.approx(y / 2)
    assert hi == pytest.approx(y + 0.5)


def test_start_is_closer_to_its_root_than_to_every_other_root() -> None:
    # Three real roots at x = 0: y (y - 1) (y + 1) = y**3 - y, plus a small x term.
    p = curves.polynomial({(0, 3): 1, (0, 1): -1, (1, 0): 1})
    for guess in (-1, 0, 1):
        for position in (-1.0, -0.5, 0.5, 1.0):
            case = oracle.curve_case(p, 0, guess, position=position)
            found = [float(r) for r in roots.real_roots(p, 0)]
            y = float(case.y_true)
            others = [r for r in found if abs(r - y) > 1e-9]
            assert all(abs(case.y0 - y) < abs(case.y0 - r) for r in others)


def test_real_roots_are_unknown_for_transcendental_curves() -> None:
    assert roots.real_roots(curves.user_curve("exp(y) - x"), 1) is None


def test_root_near_raises_when_there_is_no_real_root() -> None:
    with pytest.raises(ValueError, match="no real root"):
        roots.root_near(curves.circle(), 2, 0)


def test_exact_decimal_is_exact_and_refuses_repeating_decimals() -> None:
    assert oracle.exact_decimal(Fraction(3, 8)) == "0.375"
    assert Fraction(oracle.exact_decimal(2.0**-40)) == Fraction(1, 2**40)
    with pytest.raises(ValueError, match="x=1/3 has no finite decimal expansion"):
        oracle.exact_decimal(Fraction(1, 3))


def test_curve_derivatives_are_compiled_once_per_source() -> None:
    source = curves.circle("1/4", 0, 2).source
    assert compile_curve(source) is compile_curve(source)


def test_curve_case_round_trips_through_json() -> None:
    case = oracle.curve_case(curves.ellipse(1, 2, 3, "1/2", 0.7), "1.5", 3)
    assert records.from_json(records.to_json(case)) == case
    degenerate = oracle.curve_case(curves.circle(), 1, 0.3)
    assert records.from_json(records.to_json(degenerate)) == degenerate


# -- maps --------------------------------------------------------------------------------


def map_value(case: records.MapCase, x: list[float]) -> list[float]:
    """``f(a)(x)`` from the case's torch source, in float64."""
    a = torch.tensor([float(v) for v in case.a], dtype=torch.float64)
    xt = torch.tensor(x, dtype=torch.float64)
    names = {"a": a[0], "x": xt[0]} if case.scalar else {"a": a, "x": xt}
    return [float(eval(s, {"torch": torch, **names})) for s in case.f_source]  # noqa: S307


@pytest.mark.parametrize("rho", [-0.9, -0.3, 0.4, 0.9])
def test_curve_map_has_the_curve_derivative_and_the_chosen_rate(rho: float) -> None:
    circle = curves.circle()
    alpha = curve_maps.alpha_for_rho(circle, "0.5", SQRT3 / 2, rho)
    case = curve_maps.map_case_from_curve(circle, "0.5", alpha, guess=1)
    assert case.family == "curve-map"
    assert case.scalar
    assert case.a == ("0.5",)
    assert close(case.x_star[0], SQRT3 / 2)
    assert close(case.dx_da[0], -1 / SQRT3)
    assert case.rho == pytest.approx(1 - float(alpha) * float(SQRT3), abs=1e-12)
    assert case.rho == pytest.approx(rho, abs=2e-3)
    assert case.sigma_min == pytest.approx(1 - case.rho)
    x_star = float(SQRT3 / 2)
    assert map_value(case, [x_star])[0] == pytest.approx(x_star, abs=1e-15)
    assert "x" in case.f_source[0]
    assert "a" in case.f_source[0]


def test_curve_map_start_lies_where_the_map_contracts() -> None:
    circle = curves.circle()
    alpha = curve_maps.alpha_for_rho(circle, "0.5", SQRT3 / 2, 0.9)
    case = curve_maps.map_case_from_curve(circle, "0.5", alpha, guess=1, position=1.0)
    x = case.x0[0]
    for _ in range(2000):
        x = map_value(case, [x])[0]
    assert x == pytest.approx(float(SQRT3 / 2), abs=1e-12)


def test_vector_curve_map_indexes_its_components() -> None:
    circle = curves.circle()
    alpha = curve_maps.alpha_for_rho(circle, "0.5", SQRT3 / 2, -0.5)
    case = curve_maps.map_case_from_curve(circle, "0.5", alpha, guess=1, scalar=False)
    assert not case.scalar
    assert "x[0]" in case.f_source[0]
    assert "a[0]" in case.f_source[0]
    assert (case.m, case.k) == (1, 1)


def test_curve_map_rejects_an_alpha_that_does_not_contract() -> None:
    with pytest.raises(ValueError, match=r"not a contraction; pick alpha"):
        curve_maps.map_case_from_curve(curves.circle(), "0.5", 2, guess=1)


def test_sqrt_map_matches_newtons_closed_form() -> None:
    case = maps.sqrt_map([2], [1.0])
    assert case.family == "sqrt"
    assert close(case.x_star[0], sympy.sqrt(2))
    assert close(case.dx_da[0], 1 / (2 * sympy.sqrt(2)))
    assert abs(case.rho) < 1e-30
    vector = maps.sqrt_map([2, "0.25"], [1.0, 3.0], scalar=False)
    assert close(vector.x_star[1], sympy.Rational(1, 2))
    assert [float(v) for v in vector.dx_da] == pytest.approx([float(1 / sympy.sqrt(8)), 0, 0, 1])


def test_sqrt_map_rejects_non_positive_inputs() -> None:
    with pytest.raises(ValueError, match=r"a=\[-1\] must be positive"):
        maps.sqrt_map([-1], [1.0])


A = [["1/2", "1/4", 0], [0, "-1/3", "1/8"], ["1/8", 0, "1/4"]]
B = [["1/8", 0, 0], [0, "1/3", 0], [0, 0, "-1/2"]]
C = [[1, 0], [2, "1/2"], [0, -1]]


def test_coupled_map_oracle_agrees_with_an_independent_solve() -> None:
    case = maps.coupled_map(A, B, C, ["0.5", "-1.25"], [0.0, 1.0, -1.0])
    As, Bs, Cs = (sympy.Matrix(M).applyfunc(sympy.Rational) for M in (A, B, C))
    xs = sympy.Matrix(sympy.symbols("x0:3"))
    a = sympy.Matrix([sympy.Rational(1, 2), sympy.Rational(-5, 4)])
    f = As * xs + Bs * xs.applyfunc(sympy.sin) + Cs * a
    x_star = sympy.nsolve(f - xs, list(xs), [0, 0, 0], prec=50)
    at = dict(zip(xs, x_star, strict=True))
    dx_da = (sympy.eye(3) - f.jacobian(xs).subs(at)).inv() * Cs
    for text, exact in zip(case.x_star, x_star, strict=True):
        assert close(text, exact, digits=38)
    for text, exact in zip(case.dx_da, dx_da, strict=True):  # row-major 3 x 2
        assert close(text, exact, digits=38)
    f_x = (f.jacobian(xs).subs(at)).evalf(30)
    assert (f_x - f_x.T).norm() > 0.1
    assert case.m == 3
    assert case.k == 2
    assert 0 < case.rho < 1
    x_float = [float(v) for v in case.x_star]
    assert map_value(case, x_float) == pytest.approx(x_float, abs=1e-14)


def test_coupled_map_reaches_the_fixed_point_where_plain_newton_overshoots() -> None:
    # Found by the thorough profile: undamped Newton from 0 never converged here;
    # the map contracts everywhere, so plain iteration agrees with the oracle.
    A_ = [["89/600", "89/200"], [0, "89/300"]]
    B_ = [["89/300", 0], [0, "89/200"]]
    C_ = [["-5/4"], [-2]]
    case = maps.coupled_map(A_, B_, C_, ["-1.25"], [0.0, 0.0])
    x = [0.0, 0.0]
    for _ in range(2000):
        x = map_value(case, x)
    assert [float(v) for v in case.x_star] == pytest.approx(x, abs=1e-12)


def test_coupled_map_rejects_a_non_contraction_and_bad_shapes() -> None:
    with pytest.raises(ValueError, match="row sums of"):
        maps.coupled_map([[1, 0], [0, 0]], [[0, 0], [0, 0]], [[1], [1]], [1], [0.0, 0.0])
    with pytest.raises(ValueError, match="must be m x m"):
        maps.coupled_map([[0, 0], [0, 0]], [[0, 0]], [[1], [1]], [1], [0.0, 0.0])


def test_float32_tolerance_is_far_above_float32_rounding() -> None:
    for rho in (-0.95, 0.0, 0.5, 0.95):
        tol64 = maps.fixed_point_tol("float64", 1.0, rho)
        tol32 = maps.fixed_point_tol("float32", 1.0, rho)
        assert tol64 >= 1e-12
        eps32 = float(torch.finfo(torch.float32).eps)
        assert tol32 > 10 * eps32 / (1 - abs(rho))
    with pytest.raises(ValueError, match="rho=1.0 must satisfy"):
        maps.fixed_point_tol("float64", 1.0, 1.0)
    with pytest.raises(ValueError, match="dtype='float16'"):
        maps.fixed_point_tol("float16", 1.0, 0.5)


def test_float32_case_has_float32_exact_start() -> None:
    case = maps.sqrt_map([2], [1.1], dtype="float32")
    assert case.dtype == "float32"
    assert float(torch.tensor(case.x0[0], dtype=torch.float32)) == case.x0[0]


def test_map_case_round_trips_through_json() -> None:
    case = maps.coupled_map(A, B, C, ["0.5", "-1.25"], [0.0, 1.0, -1.0], dtype="float32")
    assert records.from_json(records.to_json(case)) == case
