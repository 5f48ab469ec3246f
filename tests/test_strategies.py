from __future__ import annotations

import random
from collections import Counter
from fractions import Fraction

import mpmath
import numpy as np
import pytest
import sympy
import torch
from hypothesis import HealthCheck, find, given, settings
from hypothesis import strategies as st
from hypothesis.errors import InvalidArgument

from properties import curve_maps, curves, exact, oracle, records, roots, strategies
from properties.curves import X, Y
from properties.records import CurveCase, MapCase

#: For tests that assert on a whole sample (coverage of families, signs, ...):
#: fixed examples so the assertion cannot flake.
SAMPLE = settings(
    max_examples=80,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=list(HealthCheck),
)


#: ``find`` shrinks from the first examples; more would only cost time.
SHRINK = settings(SAMPLE, max_examples=3)


def sample(strategy: st.SearchStrategy, n: int = 80) -> list:
    drawn: list = []

    @settings(SAMPLE, max_examples=n)
    @given(strategy)
    def collect(value: object) -> None:
        drawn.append(value)

    collect()
    return drawn


# -- eager validation --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("factory", "kwargs", "message"),
    [
        (strategies.circles, {"max_radius": 0}, r"max_radius=0 must be >= 1"),
        (strategies.circles, {"max_centre": -1}, r"max_centre=-1 must be >= 0"),
        (strategies.circles, {"max_radius": "2"}, r"max_radius='2' must be a number"),
        (strategies.ellipses, {"max_axis": 0.5}, r"max_axis=0.5 must be >= 1"),
        (strategies.ellipses, {"rotated": 1}, r"rotated=1 must be a bool"),
        (strategies.polynomials, {"min_degree": 0}, r"min_degree=0 must be >= 1"),
        (strategies.polynomials, {"max_degree": 9}, r"max_degree=9 must be in \[2, 8\]"),
        (
            strategies.polynomials,
            {"min_degree": 4, "max_degree": 3},
            r"max_degree=3 must be in \[4, 8\]",
        ),
        (strategies.polynomials, {"max_coefficient": 0}, r"max_coefficient=0 must be >= 1"),
        (strategies.polynomials, {"min_degree": 2.0}, r"min_degree=2.0 must be an integer"),
        (strategies.curve_cases, {"curves": "circle"}, r"curves='circle' must be a Hypothesis"),
        (strategies.curve_cases, {"min_degeneracy": 1}, r"min_degeneracy=1 must be in"),
        (strategies.curve_cases, {"aim_degenerate": "yes"}, r"aim_degenerate='yes' must be"),
        (strategies.degenerate_curve_cases, {"families": ("hyperbola",)}, r"families=\("),
        (strategies.map_cases, {"dtypes": "float16"}, r"dtypes='float16' must be"),
        (strategies.map_cases, {"families": ()}, r"families=\(\) must be a non-empty"),
        (strategies.map_cases, {"max_abs_rho": 1.0}, r"max_abs_rho=1.0 must be in"),
        (
            strategies.map_cases,
            {"min_abs_rho": 0.5, "max_abs_rho": 0.4},
            r"min_abs_rho=0.5 must be in \[0.001, 0.4\]",
        ),
        (strategies.map_cases, {"max_unknowns": 5}, r"max_unknowns=5 must be in \[2, 4\]"),
        (strategies.map_cases, {"scalar": 1}, r"scalar=1 must be True, False or None"),
        (
            strategies.map_cases,
            {"families": "coupled", "scalar": True},
            r"coupled maps are vectors",
        ),
        (
            strategies.user_curve_cases,
            {"text": "x**2 + y**2 - 1", "x_range": (1, 0)},
            r"x_range=\(1, 0\) must be \(lo, hi\)",
        ),
    ],
)
def test_strategies_validate_arguments_eagerly(factory, kwargs: dict, message: str) -> None:
    # Raised when the strategy is built, before anything is drawn.
    with pytest.raises(InvalidArgument, match=message):
        factory(**kwargs)


def test_user_curve_cases_rejects_bad_text_when_built() -> None:
    with pytest.raises(ValueError, match=r"curve 'x \+ z' has the symbol 'z'"):
        strategies.user_curve_cases("x + z")


def test_user_curve_cases_rejects_a_curve_outside_the_box() -> None:
    with pytest.raises(ValueError, match="no point with degeneracy"):
        strategies.user_curve_cases("x**2 + y**2 - 100", x_range=(-1, 1), y_range=(-1, 1))


# -- shrinking ---------------------------------------------------------------------------


def test_curves_shrink_to_the_unit_circle() -> None:
    curve = find(strategies.curves(), lambda c: True, settings=SHRINK)
    assert curve.family == "circle"
    assert curve.source == "x**2 + y**2 - 1"


def test_curve_cases_shrink_to_the_top_of_the_unit_circle() -> None:
    # Shrinking the full one_of costs ~10 s of sympy; circles shrink the same way.
    case = find(
        strategies.curve_cases(curves=strategies.circles()), lambda c: True, settings=SHRINK
    )
    assert case.curve.source == "x**2 + y**2 - 1"
    assert case.x == "0"
    assert float(case.y_true) == 1.0


# -- curve cases -------------------------------------------------------------------------


def real_roots(case: CurveCase) -> list[float]:
    found = roots.real_roots(case.curve, case.x)
    assert found is not None
    return [float(r) for r in found]


@given(strategies.curve_cases())
def test_curve_case_start_is_in_the_basin_of_its_root(case: CurveCase) -> None:
    y = float(case.y_true)
    assert case.y0 != y
    others = [r for r in real_roots(case) if abs(r - y) > 1e-12 * max(1, abs(y))]
    assert all(abs(case.y0 - y) < abs(case.y0 - r) for r in others)
    lo, hi = oracle.basin(case.curve, case.x, case.y_true)
    assert lo <= case.y0 <= hi


@given(strategies.curve_cases())
def test_curve_case_root_solves_the_equation_to_35_digits(case: CurveCase) -> None:
    derivatives = exact.compile_curve(case.curve.source).derivatives
    with mpmath.workdps(60):
        x, y = (
            mpmath.mpf(Fraction(case.x).numerator) / Fraction(case.x).denominator,
            mpmath.mpf(case.y_true),
        )
        F, F_x, F_y, *_ = derivatives(x, y)
        assert abs(F) <= mpmath.mpf(10) ** -35 * mpmath.sqrt(F_x**2 + F_y**2)
        assert mpmath.mpf(case.dy_dx) == pytest.approx(-F_x / F_y, rel=1e-30)


@given(strategies.curve_cases())
def test_curve_case_point_is_exact_in_float32(case: CurveCase) -> None:
    assert Fraction(float(np.float32(float(case.x)))) == Fraction(case.x)


@given(strategies.curve_cases())
def test_curve_case_round_trips_through_json(case: CurveCase) -> None:
    assert records.from_json(records.to_json(case)) == case


def test_curve_cases_cover_every_family_mostly_non_degenerate() -> None:
    cases = sample(strategies.curve_cases(), 120)
    families = Counter(c.family for c in cases)
    assert set(families) == {"circle", "ellipse", "polynomial"}
    assert sum(c.degenerate for c in cases) <= len(cases) // 10
    circles = [c for c in cases if c.family == "circle"]
    assert all(c.degeneracy >= 0.05 - 1e-9 for c in circles)


def test_aimed_curve_cases_reach_flagged_neighbourhoods() -> None:
    cases = sample(strategies.curve_cases(aim_degenerate=True), 80)
    flagged = [c for c in cases if c.degenerate]
    assert len({c.family for c in flagged}) >= 2
    assert min(c.degeneracy for c in flagged) < 1e-4
    assert all(c.dy_dx != "nan" for c in cases)


@given(strategies.degenerate_curve_cases())
def test_degenerate_curve_cases_sit_exactly_on_a_vertical_tangent(case: CurveCase) -> None:
    assert case.degenerate
    assert case.degeneracy == 0.0
    assert case.dy_dx == "nan"
    assert case.d2y_dx2 == "nan"
    assert case.y0 != float(case.y_true)
    derivatives = exact.compile_curve(case.curve.source).derivatives
    x = Fraction(case.x)
    with mpmath.workdps(60):
        F, F_x, F_y, *_ = derivatives(
            mpmath.mpf(x.numerator) / x.denominator, mpmath.mpf(case.y_true)
        )
        assert abs(F) < mpmath.mpf(10) ** -30
        assert abs(F_y) < mpmath.mpf(10) ** -30
        assert abs(F_x) > mpmath.mpf(10) ** -3  # a vertical tangent, not a singular point


def test_degenerate_curve_cases_cover_every_family() -> None:
    families = Counter(c.family for c in sample(strategies.degenerate_curve_cases(), 60))
    assert set(families) == {"circle", "ellipse", "polynomial"}


def test_user_curve_cases_give_points_on_the_folium() -> None:
    cases = sample(strategies.user_curve_cases("x**3 + y**3 - 3*x*y", aim_hard=False), 40)
    assert {c.family for c in cases} == {"user"}
    assert len({(c.x, c.y_true) for c in cases}) > 10
    for case in cases:
        x, y = float(case.x), float(case.y_true)
        assert abs(x**3 + y**3 - 3 * x * y) < 1e-12
        assert not case.degenerate  # the grid keeps away from F_y = 0 ...
    aimed = sample(strategies.user_curve_cases("x**3 + y**3 - 3*x*y"), 40)
    for case in aimed:
        x, y = float(case.x), float(case.y_true)
        assert abs(x**3 + y**3 - 3 * x * y) < 1e-12
    assert any(c.degenerate for c in aimed)  # ... the aimed draws go there on purpose


def test_user_curve_cases_handle_transcendental_curves() -> None:
    cases = sample(strategies.user_curve_cases("sin(x) + exp(y) - 2", x_range=(-1, 1)), 20)
    for case in cases:
        assert float(case.y_true) == pytest.approx(np.log(2 - np.sin(float(case.x))), rel=1e-14)


# -- map cases ---------------------------------------------------------------------------


def f_value(case: MapCase, x: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
    if case.scalar:
        return eval(case.f_source[0], {"torch": torch, "x": x, "a": a})  # noqa: S307
    values = [eval(s, {"torch": torch, "x": x, "a": a}) for s in case.f_source]  # noqa: S307
    return torch.stack([torch.as_tensor(v, dtype=x.dtype) for v in values])


def tensors(case: MapCase, dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor]:
    a = torch.tensor([float(v) for v in case.a], dtype=dtype)
    x = torch.tensor([float(v) for v in case.x_star], dtype=dtype)
    return (a[0], x[0]) if case.scalar else (a, x)


@given(strategies.map_cases())
def test_map_case_fixed_point_and_oracle_are_consistent(case: MapCase) -> None:
    a, x = tensors(case, torch.float64)
    torch.testing.assert_close(f_value(case, x, a), x, rtol=1e-13, atol=1e-13)
    f_x, f_a = torch.autograd.functional.jacobian(lambda x_, a_: f_value(case, x_, a_), (x, a))
    f_x, f_a = f_x.reshape(case.m, case.m), f_a.reshape(case.m, case.k)
    dx_da = torch.linalg.solve(torch.eye(case.m, dtype=torch.float64) - f_x, f_a)
    expected = torch.tensor([float(v) for v in case.dx_da], dtype=torch.float64)
    torch.testing.assert_close(dx_da.reshape(-1), expected, rtol=1e-9, atol=1e-12)
    assert abs(case.rho) < 1
    assert case.sigma_min > 0.01
    if case.scalar:
        assert a.shape == ()
        assert "[" not in case.f_source[0]
    assert records.from_json(records.to_json(case)) == case


def test_curve_map_rates_fill_a_continuum_of_both_signs() -> None:
    cases = sample(strategies.map_cases(families="curve-map"), 80)
    rhos = [c.rho for c in cases]
    assert min(rhos) < -0.3
    assert max(rhos) > 0.3
    assert len({round(r, 3) for r in rhos}) > 30
    assert all(0.04 <= abs(r) <= 0.96 for r in rhos)


def test_map_cases_cover_families_dtypes_and_shapes() -> None:
    cases = sample(strategies.map_cases(), 60)
    assert {c.family for c in cases} == {"curve-map", "sqrt", "coupled"}
    assert {c.dtype for c in cases} == {"float64", "float32"}
    assert {c.scalar for c in cases} == {True, False}
    assert {c.k for c in cases} >= {1, 2}
    assert {c.m for c in cases if c.family == "coupled"} >= {2, 3}


def test_coupled_maps_have_non_symmetric_jacobians() -> None:
    for case in sample(strategies.map_cases(families="coupled"), 30):
        a, x = tensors(case, torch.float64)
        f_x = torch.autograd.functional.jacobian(lambda x_, a=a, c=case: f_value(c, x_, a), x)
        assert torch.linalg.matrix_norm(f_x - f_x.T) > 0.01 * torch.linalg.matrix_norm(f_x)
        assert torch.linalg.eigvals(f_x).abs().max() < 1


def iterate(g, x: torch.Tensor, tol: float, limit: int = 20000) -> tuple[torch.Tensor, int]:
    """HIPS's loop with the Euclidean distance; returns the last iterate and the count."""
    for n in range(1, limit + 1):
        x_next = g(x)
        if torch.linalg.norm((x_next - x).reshape(-1)) <= tol:
            return x_next, n
        x = x_next
    raise AssertionError(f"no convergence within {limit} iterations at tol={tol}")


def test_float32_tol_lets_correct_forward_and_adjoint_iterations_stop() -> None:
    strategy = st.tuples(
        strategies.map_cases(dtypes="float32", min_abs_rho=0.85), st.integers(0, 2**32)
    )
    for case, seed in sample(strategy, 40):
        rng = random.Random(seed)
        a, x0 = tensors(case, torch.float32)
        x0 = torch.tensor(case.x0, dtype=torch.float32)
        x0 = x0[0] if case.scalar else x0
        x_star, _ = iterate(lambda x, a=a, c=case: f_value(c, x, a), x0, case.tol)
        x = x_star.detach().requires_grad_(True)
        out = f_value(case, x, a)
        v = torch.tensor([rng.uniform(-2, 2) for _ in range(case.m)], dtype=torch.float32)
        v = v[0] if case.scalar else v

        def adjoint(u: torch.Tensor, out=out, x=x, v=v) -> torch.Tensor:
            return v + torch.autograd.grad(out, x, u, retain_graph=True)[0]

        iterate(adjoint, v, case.tol)
        error = max(
            abs(float(x_star.reshape(-1)[i]) - float(case.x_star[i])) for i in range(case.m)
        )
        assert error <= 25 * case.tol + 1e-5 * (1 + abs(float(case.x_star[0])))


def test_draws_do_not_depend_on_which_local_modules_are_imported(tmp_path, monkeypatch) -> None:
    # Hypothesis draws literals harvested from every local module in sys.modules; a
    # module imported between two derandomized runs must not change what they draw.
    import importlib
    import sys

    strategy = st.tuples(
        strategies.map_cases(dtypes="float32", min_abs_rho=0.85), st.integers(0, 2**32)
    )
    before = [(records.to_json(c), s) for c, s in sample(strategy, 20)]
    module = tmp_path / "many_constants.py"
    # Hypothesis keeps integers outside (-100, 100), up to 1024 literals a module.
    literals = ", ".join(str(v) for v in range(100, 2**20, 2053))
    module.write_text(f"VALUES = [{literals}, 4294967296, 354, 0.8125]\n", encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "many_constants", raising=False)
    importlib.import_module("many_constants")
    after = [(records.to_json(c), s) for c, s in sample(strategy, 20)]
    assert after == before


def _iteration_case(position: float) -> MapCase:
    # Seed 354 of the float32 test once drew this quintic curve-map (rho = -0.95):
    # |g'| leaves (1 + |rho|) / 2 within 0.0015 of x* = 1.375 on the left, inside the
    # first step of the old grid scan, which then put x0 at x* - 0.059 (g' = -2 there).
    a, x = sympy.symbols("a x")
    g = sympy.sympify(
        "105/779*a**5 + 525/779*a**4*x - 525/779*a**3*x**2 + 525/779*a**2*x**3"
        " - 315/779*a*x**4 + 210/779*x**5 - 315/779*a**4 + 105/779*a**3*x"
        " - 210/779*a**2*x**2 + 210/779*a*x**3 + 105/779*x**4 - 525/779*a**3"
        " + 525/779*a**2*x + 210/779*a*x**2 + 315/779*x**3 + 420/779*a**2"
        " - 105/779*a*x + 525/779*x**2 + 210/779*a - 129393334499/7937075200*x"
        " + 886741149189/63496601600",
        locals={"a": a, "x": x},
    )
    F = sympy.expand((x - g).subs({a: X, x: Y}, simultaneous=True))
    curve = curves.user_curve(str(F))
    return curve_maps.map_case_from_curve(
        curve,
        Fraction(7, 4),
        1,
        exact_root="1.375",
        dtype="float32",
        scalar=False,
        position=position,
    )


@pytest.mark.parametrize("position", [-1.0, -0.3, 0.3, 1.0])
def test_curve_map_start_lies_where_the_map_contracts(position: float) -> None:
    case = _iteration_case(position)
    assert case.rho == pytest.approx(-0.9466, abs=1e-4)
    a, _ = tensors(case, torch.float32)
    x0 = torch.tensor(case.x0, dtype=torch.float32, requires_grad=True)
    slope = torch.autograd.grad(f_value(case, x0, a).sum(), x0)[0]
    assert abs(float(slope)) <= (1 + abs(case.rho)) / 2
    x_star, _ = iterate(lambda x: f_value(case, x, a), x0.detach(), case.tol)
    x = x_star.detach().requires_grad_(True)
    out = f_value(case, x, a)
    v = torch.tensor([2.0])
    iterate(lambda u: v + torch.autograd.grad(out, x, u, retain_graph=True)[0], v, case.tol)
