"""checks.judge on hand-made observations: each question answered apart, hints named."""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import pytest

from properties import checks, curve_maps, curves, formulas, oracle
from properties.records import CheckResult, CurveCase, MapCase

CIRCLE = curves.circle()
SQRT3_2 = math.sqrt(3) / 2


@pytest.fixture(scope="module")
def case() -> CurveCase:
    return oracle.curve_case(CIRCLE, "0.5", 0.8, position=0.3)


def _curve_obs(case: CurveCase, y: float | None = None, **override: object) -> dict:
    """An observation of a perfect candidate that returned ``y`` (default: the root)."""
    y = float(case.y_true) if y is None else y
    at = formulas.curve_point(case.curve.source, case.x, y)
    w = checks.weights_for(case)[0]
    obs = {
        "kind": "curve",
        "dtype": "float64",
        "weight": w,
        "warnings": [],
        "mutated": [],
        "y": y,
        "y_shape": [],
        "y_dtype": "float64",
        "residual": abs(at.F),
        "weighted_grad": w * at.dy_dx,
        "dy_dx": at.dy_dx,
        "d2y_dx2": at.d2y_dx2,
        "y0_grad": 0.0,
        "gradcheck": {"passed": True, "fd_dy_dx": at.dy_dx},
    }
    obs.update(override)
    return obs


def _by_name(results: list[CheckResult]) -> dict[str, CheckResult]:
    return {r.name: r for r in results}


def test_a_perfect_observation_passes_every_check(case: CurveCase) -> None:
    results = checks.judge(case, _curve_obs(case))
    assert {r.status for r in results} == {"pass"}
    assert all(r.family == "circle" and r.case == case.text() for r in results)


def test_opposite_sign_fails_the_formula_with_a_sign_hint(case: CurveCase) -> None:
    good = _curve_obs(case)
    by = _by_name(checks.judge(case, _curve_obs(case, dy_dx=-good["dy_dx"])))
    assert by["dy_dx_formula"].status == "fail"
    assert "opposite sign" in by["dy_dx_formula"].hint
    assert by["root"].status == "pass"


def test_an_inaccurate_root_is_blamed_on_the_root_not_the_formula(case: CurveCase) -> None:
    y = float(case.y_true) + 1e-4
    by = _by_name(checks.judge(case, _curve_obs(case, y=y)))
    assert by["root"].status == "fail"
    assert by["dy_dx_formula"].status == "pass"
    assert by["dy_dx_true"].status == "fail"
    assert "inaccurate root" in by["dy_dx_true"].hint


def test_an_inaccurate_root_does_not_hide_a_wrong_formula(case: CurveCase) -> None:
    y = float(case.y_true) + 1e-4
    at = formulas.curve_point(case.curve.source, case.x, y)
    by = _by_name(checks.judge(case, _curve_obs(case, y=y, dy_dx=-at.dy_dx)))
    assert by["root"].status == "fail"
    assert by["dy_dx_formula"].status == "fail"
    assert by["dy_dx_true"].hint == ""


def test_ignoring_grad_output_is_named(case: CurveCase) -> None:
    good = _curve_obs(case)
    by = _by_name(checks.judge(case, _curve_obs(case, weighted_grad=good["dy_dx"])))
    assert by["upstream"].status == "fail"
    assert "grad_output" in by["upstream"].hint


def test_missing_double_backward_is_an_error_not_a_wrong_gradient(case: CurveCase) -> None:
    obs = _curve_obs(case)
    del obs["d2y_dx2"]
    obs["d2y_dx2_error"] = {"type": "RuntimeError", "message": "does not require grad"}
    by = _by_name(checks.judge(case, obs))
    assert by["d2y_dx2"].status == "error"
    assert by["dy_dx_formula"].status == "pass"


def test_degenerate_cases_are_never_pass_or_fail(case: CurveCase) -> None:
    flagged = dataclasses.replace(case, degeneracy=1e-3)
    good = _curve_obs(case)
    results = checks.judge(flagged, _curve_obs(case, dy_dx=-good["dy_dx"]))
    assert {r.status for r in results if r.name != "no_mutation"} == {"degenerate"}


@pytest.fixture(scope="module")
def exact() -> CurveCase:
    return dataclasses.replace(oracle.curve_case(CIRCLE, 1, 0.0, position=0.0), y0=0.1)


def test_exactly_degenerate_finite_silent_gradient_fails(exact: CurveCase) -> None:
    obs = {"kind": "curve", "dtype": "float64", "warnings": [], "y": 1e-4, "dy_dx": -1e4}
    by = _by_name(checks.judge(exact, obs))
    assert by["degenerate_behaviour"].status == "fail"
    assert "finite dy/dx" in by["degenerate_behaviour"].message


@pytest.mark.parametrize(
    "signal",
    [
        {"call_error": {"type": "SingularJacobianError", "message": "F_y = 0"}},
        {"warnings": [{"stage": "call", "category": "UserWarning", "message": "F_y ~ 0"}]},
        {"dy_dx": "-inf"},
    ],
)
def test_exactly_degenerate_accepts_an_error_a_warning_or_inf(
    exact: CurveCase, signal: dict
) -> None:
    obs = {"kind": "curve", "dtype": "float64", "warnings": [], "y": 1e-4, "dy_dx": -1e4}
    obs.update(signal)
    by = _by_name(checks.judge(exact, obs))
    assert by["degenerate_behaviour"].status == "pass"


# ---------------------------------------------------------------------- maps

COUPLED = ("0.3*x[0] + 0.4*x[1] + a[0]", "0.1*x[0] - 0.2*x[1] + 2*a[1]")


@pytest.fixture(scope="module")
def map_case() -> MapCase:
    # x* solves (I - A) x = C a with A = [[0.3, 0.4], [0.1, -0.2]], C = diag(1, 2).
    a = (1.0, 0.5)
    A = [[0.3, 0.4], [0.1, -0.2]]
    det = (1 - A[0][0]) * (1 - A[1][1]) - A[0][1] * A[1][0]
    inv = [[(1 - A[1][1]) / det, A[0][1] / det], [A[1][0] / det, (1 - A[0][0]) / det]]
    Ca = [a[0], 2 * a[1]]
    x_star = [inv[0][0] * Ca[0] + inv[0][1] * Ca[1], inv[1][0] * Ca[0] + inv[1][1] * Ca[1]]
    dx_da = [inv[0][0], 2 * inv[0][1], inv[1][0], 2 * inv[1][1]]
    at = formulas.map_point(COUPLED, a, x_star, False)
    return MapCase(
        family="coupled",
        f_source=COUPLED,
        source="A x + C a",
        a=tuple(repr(v) for v in a),
        x0=(0.0, 0.0),
        x_star=tuple(repr(v) for v in x_star),
        dx_da=tuple(repr(v) for v in dx_da),
        rho=0.36,
        sigma_min=at.sigma_min,
        tol=1e-12,
    )


def _map_obs(case: MapCase, jac: list[list[float]] | None = None, **override: object) -> dict:
    x = [float(v) for v in case.x_star]
    at = formulas.map_point(case.f_source, case.a, x, case.scalar)
    jac = at.dx_da if jac is None else jac
    v = list(checks.weights_for(case))
    obs = {
        "kind": "map",
        "dtype": "float64",
        "weights": v,
        "warnings": [],
        "mutated": [],
        "x": x,
        "x_shape": [2],
        "x_dtype": "float64",
        "residual": 0.0,
        "forward_f_calls": 30,
        "graph_nodes": 2,
        "graph_loose": {"nodes": 2, "f_calls": 12},
        "vjp": [sum(v[i] * jac[i][c] for i in range(2)) for c in range(2)],
        "backward_f_calls": 1,
        "backward_max_distance": 0.0,
        "jacobian": jac,
        "x0_grad": [0.0, 0.0],
        "gradcheck": {"passed": True},
    }
    obs.update(override)
    return obs


def test_a_perfect_map_observation_passes(map_case: MapCase) -> None:
    results = checks.judge(map_case, _map_obs(map_case))
    assert {r.status for r in results} == {"pass"}, [r.message for r in results]


@pytest.mark.parametrize(
    ("mistake", "hint"),
    [("f_a", "forgot (I - f_x)^-1"), ("dx_da_transposed", "transposed"), ("neg", "opposite sign")],
)
def test_map_formula_mistakes_are_named(map_case: MapCase, mistake: str, hint: str) -> None:
    at = formulas.map_point(map_case.f_source, map_case.a, map_case.x_star, False)
    jac = [[-v for v in row] for row in at.dx_da] if mistake == "neg" else getattr(at, mistake)
    by = _by_name(checks.judge(map_case, _map_obs(map_case, jac)))
    assert by["dx_da_formula"].status == "fail"
    assert hint in by["dx_da_formula"].hint


def test_a_growing_graph_is_called_unrolled(map_case: MapCase) -> None:
    obs = _map_obs(map_case, graph_nodes=150, graph_loose={"nodes": 60, "f_calls": 12})
    by = _by_name(checks.judge(map_case, obs))
    assert by["graph_growth"].status == "fail"
    assert "unrolled" in by["graph_growth"].hint


def test_backward_away_from_the_fixed_point_fails(map_case: MapCase) -> None:
    x = [float(v) for v in map_case.x_star]
    obs = _map_obs(map_case, backward_max_distance=math.dist(x, map_case.x0))
    by = _by_name(checks.judge(map_case, obs))
    assert by["backward_at_fixed_point"].status == "fail"
    assert "x0" in by["backward_at_fixed_point"].hint


def test_weights_are_deterministic_and_expose_ignored_grad_output(map_case: MapCase) -> None:
    v = checks.weights_for(map_case)
    assert v == checks.weights_for(map_case)
    assert all(0.5 <= abs(w) <= 2.5 and abs(w - 1) > 0.2 for w in v)
    assert abs(sum(v) - 1) > 0.2


def test_gradcheck_steps_stay_inside_the_distance_to_a_vertical_tangent() -> None:
    # Found by the thorough profile: at 1.5e-5 from x = 1 on this ellipse a fixed
    # finite-difference step of 1e-6 misjudged the reference's exact gradient.
    from properties import probe
    from properties.candidates import reference_solve

    case = oracle.curve_case(curves.ellipse(0, 0, 1, "1/2", 0), "0.9999847412109375", "0.05")
    assert not case.degenerate
    results = checks.judge(case, probe.observe(checks.wire_for(case), reference_solve))
    assert [r.status for r in results if r.name == "gradcheck"] == ["pass"]


def test_batch_neighbours_stay_on_their_branch_before_a_sharp_fold() -> None:
    # Found by the thorough profile: F_y = F_x = 1 at (0, -1), yet the branch folds
    # 0.005 to the left (F_yy = -104); neighbours at x -+ 0.01 fell off it and the
    # reference rightly raised SingularJacobianError on the batch.
    from properties import probe
    from properties.candidates import reference_solve

    curve = curves.user_curve("x**5 + 4*y**5 - 2*y**4 + x*y**2 - 27*y - 21")
    case = oracle.curve_case(curve, "0", -1.0, position=-0.5)
    assert not case.degenerate
    wire = checks.wire_for(case)
    fold = formulas.curve_point(curve.source, 0, -1).fold_distance
    assert 0.004 < fold < 0.006
    assert max(abs(x) for x in wire["batch_x"]) <= 0.01 * fold
    results = checks.judge(case, probe.observe(wire, reference_solve))
    assert [r.status for r in results if r.name == "batch"] == ["pass"]


@pytest.mark.parametrize(("offset", "status"), [(0.9, "pass"), (30.0, "fail")])
def test_dx_da_true_allows_exactly_the_shift_of_an_accepted_x(offset: float, status: str) -> None:
    # Found by the thorough profile: float32, rho = -0.95, a correct x within its
    # tolerance moved the exact gradient there 0.0057 from the true one (tol 0.0053).
    circle = curves.circle()
    alpha = curve_maps.alpha_for_rho(circle, "0.5", SQRT3_2, -0.95)
    case = curve_maps.map_case_from_curve(circle, "0.5", alpha, guess=1, dtype="float32")
    sigma = case.sigma_min
    x_tol = 10 * case.tol / sigma + checks.RTOL["float32"]["root"] * (1 + SQRT3_2) / sigma
    x = [float(case.x_star[0]) + offset * x_tol]
    exact_there = formulas.map_point(case.f_source, case.a, x, case.scalar).dx_da
    obs = {
        "kind": "map",
        "dtype": "float32",
        "x": x,
        "x_shape": [],
        "x_dtype": "float32",
        "jacobian": exact_there,
        "weights": list(checks.weights_for(case)),
    }
    by = _by_name(checks.judge(case, obs))
    assert by["dx_da_formula"].status == "pass"
    assert by["x_star"].status == status
    assert by["dx_da_true"].status == status


def test_gradcheck_step_is_small_where_the_third_derivative_is_huge() -> None:
    # Found by the thorough profile: on y = -2**24 x**3 (F = x**3 + 2**-24 y) the
    # exact dy/dx at 0 is 0, but a central difference of step 1e-6 gives
    # -2**24 * 1e-12 = -1.7e-5, beyond gradcheck's atol: the reference "failed".
    from properties import probe
    from properties.candidates import reference_solve

    curve = curves.user_curve("x**3 + 1/16777216*y")
    case = oracle.curve_case(curve, "0", 0.05, position=0.0)
    assert not case.degenerate
    point = formulas.curve_point(curve.source, 0, 0)
    assert point.d3y_dx3 == -6 * 2**24
    eps = checks.wire_for(case)["gradcheck_eps"]
    assert abs(point.d3y_dx3) * eps**2 / 6 <= 0.01 * checks.GRADCHECK_ATOL * (1 + 1e-12)
    results = checks.judge(case, probe.observe(checks.wire_for(case), reference_solve))
    assert [r.status for r in results if r.name == "gradcheck"] == ["pass"]


@pytest.mark.parametrize(
    ("source", "x", "exact"),
    [
        ("x**2 + y**2 - 1", "1/2", -3 * 0.5 / (1 - 0.25) ** 2.5),  # y = sqrt(1 - x^2)
        ("y*(1 + x) - x**3", "7/10", 6 / 1.7**4),  # y = x^3 / (1 + x)
    ],
)
def test_third_derivative_matches_the_closed_form(source: str, x: str, exact: float) -> None:
    curve = curves.user_curve(source)
    case = oracle.curve_case(curve, x, 0.5, position=0.0)
    point = formulas.curve_point(curve.source, case.x, case.y_true)
    assert math.isclose(point.d3y_dx3, exact, rel_tol=1e-12)


def test_gradcheck_atol_mirrors_the_probes() -> None:
    # The probe is self-contained (the worker loads it by path), so checks keeps
    # its own copy of gradcheck's atol for the step bound: they must not drift.
    from properties import probe

    assert probe._GRADCHECK_OPTIONS["atol"] == checks.GRADCHECK_ATOL


def test_checks_read_only_the_keys_of_the_wire_schema() -> None:
    import ast
    from pathlib import Path

    from properties import probe_wire

    known = frozenset().union(*(probe_wire.observation_keys(k) for k in ("curve", "map", "vector")))
    read = set()
    for path in Path(checks.__file__).parent.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            key = None
            if isinstance(node, ast.Subscript) and getattr(node.value, "id", "") == "obs":
                key = node.slice
            elif (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and getattr(node.func.value, "id", "") == "obs"
                and node.args
            ):
                key = node.args[0]
            elif isinstance(node, ast.Compare) and any(
                getattr(c, "id", "") == "obs" for c in node.comparators
            ):
                key = node.left
            if isinstance(key, ast.Constant) and isinstance(key.value, str):
                read.add(key.value)
    assert len(read) > 30
    assert read <= known, sorted(read - known)


#: A root layer right one point at a time whose backward sums grad_output over the
#: batch (the gradient of sum(w * y) at x_i comes back sum(w) dy_i/dx_i): a batching bug.
_SUMS_GRAD_OUTPUT = """
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
        return g.sum() * (-F_x / F_y), None, None
"""


def test_the_batch_item_judges_batching_not_the_formula(tmp_path) -> None:
    from properties import probe
    from properties.candidates import load_target

    case = oracle.curve_case(CIRCLE, "0.5", 0.8, position=0.3)
    wrong_sign = load_target(Path(__file__).parent / "wrong" / "sign_error.py", None).candidate(
        "curve"
    )
    path = tmp_path / "sums.py"
    path.write_text(_SUMS_GRAD_OUTPUT)
    sums = load_target(path, None).candidate("curve")
    statuses = {}
    for name, candidate in (("sign", wrong_sign), ("sums", sums)):
        results = checks.judge(case, probe.observe(checks.wire_for(case), candidate))
        statuses[name] = {r.name: r for r in results}
    # A sign error is wrong in a batch and alone alike: the gradient items fail, batch
    # and float32 (which agrees with its float64) do not.
    assert statuses["sign"]["dy_dx_formula"].status == "fail"
    assert statuses["sign"]["batch"].status == "pass"
    assert statuses["sign"]["float32"].status == "pass"
    assert "your own float64 answer" in statuses["sign"]["float32"].message
    # Summing grad_output over the batch is right alone and wrong in a batch.
    assert statuses["sums"]["dy_dx_formula"].status == "pass"
    assert statuses["sums"]["batch"].status == "fail"
    assert "times the gradient of one call alone" in statuses["sums"]["batch"].message


def test_exception_advice_says_nothing_else_was_checked_only_when_true() -> None:
    from properties.checks.common import exception_advice

    error = {"type": "ZeroDivisionError", "where": "line 3"}
    assert "nothing else was checked" in exception_advice(error)
    assert "nothing else was checked" not in exception_advice(error, stopped=False)


def test_a_batch_right_where_the_single_call_is_wrong_passes_batch(tmp_path) -> None:
    # Only 0-d calls lose their gradient (a shape bug of some libraries): the batch is
    # right, the gradient items fail on the single call, and batch is not failed twice.
    from properties import probe
    from properties.candidates import load_target

    path = tmp_path / "zero_d.py"
    path.write_text(
        _SUMS_GRAD_OUTPUT.replace(
            "return g.sum() * (-F_x / F_y), None, None",
            "grad = g * (-F_x / F_y)\n"
            "        return (grad * 0 if x.dim() == 0 else grad), None, None",
        )
    )
    case = oracle.curve_case(CIRCLE, "0.5", 0.8, position=0.3)
    candidate = load_target(path, None).candidate("curve")
    results = {
        r.name: r for r in checks.judge(case, probe.observe(checks.wire_for(case), candidate))
    }
    assert results["dy_dx_formula"].status == "fail"
    assert results["batch"].status == "pass", results["batch"]
