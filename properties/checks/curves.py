"""The checks of a curve case ``F(x, y) = 0``: ``judge_curve(case, observation)``.

Root (``root``, ``residual``), the gradient formula at the returned root
(``dy_dx_formula``) and against the true value (``dy_dx_true``), the upstream
gradient, double backward (``d2y_dx2``), gradcheck, batches, float32, hygiene;
at exactly degenerate points (``dy_dx == "nan"``) ``degenerate_behaviour``.
"""

from __future__ import annotations

import math

from properties import formulas
from properties.checks import allowance
from properties.checks.common import (
    HINTS,
    RTOL,
    Judge,
    Observation,
    as_float,
    call_failed,
    close,
    eps,
    error_text,
    gradcheck,
    no_mutation,
    shape_dtype,
    zero_start_grad,
)
from properties.checks.consistency import curve_batch, curve_float32
from properties.checks.degenerate import degenerate_behaviour
from properties.records import CheckResult, CurveCase


def _exactly_degenerate(case: CurveCase) -> bool:
    return math.isnan(as_float(case.dy_dx))


def judge_curve(case: CurveCase, obs: Observation) -> list[CheckResult]:
    j = Judge(case)
    dtype = obs.get("dtype", "float64")
    rtol = RTOL.get(dtype, RTOL["float64"])
    if _exactly_degenerate(case):
        degenerate_behaviour(j, obs)
    if call_failed(j, case, obs):
        return j.results

    y_true = as_float(case.y_true)
    y = as_float(obs.get("y"))
    x = float(case.x)
    dy_dx_true = as_float(case.dy_dx)
    cond = case.condition

    shape_dtype(j, obs, expected_shape=[], dtype=dtype)
    true_point = formulas.curve_point(case.curve.source, case.x, case.y_true)
    root_allowed = allowance.curve_root(case, dtype, rtol["root"], true_point)
    root_tol = root_allowed.total
    root_error = abs(y - y_true) if math.isfinite(y) else math.inf
    j.compare(
        "root",
        "y",
        y,
        y_true,
        root_tol,
        "The returned y is not the root near y0.",
        hint="tighten the solver's tolerance or raise its iteration cap",
        tol_text=root_allowed.text(),
        details=(("y", y), ("root_error", root_error)),
    )
    grad_norm = math.hypot(true_point.F_x, true_point.F_y)
    residual = as_float(obs.get("residual"))
    res_tol = max(root_tol * grad_norm, 1e3 * eps(dtype) * max(1.0, grad_norm))
    if residual <= res_tol:
        j.add(
            "residual",
            "pass",
            f"|F(x, y)| = {residual:.2g} <= {res_tol:.2g}.",
            error=residual,
            tol=res_tol,
            got=residual,
            details=(("residual", residual),),
        )
    else:
        j.add(
            "residual",
            "fail",
            f"|F(x, y)| = {residual:.2g} at the returned y, more than {res_tol:.2g}: y does "
            "not solve F(x, y) = 0.",
            hint="iterate until |F| is at round-off level",
            error=residual,
            tol=res_tol,
            got=residual,
            details=(("residual", residual),),
        )

    at_y = formulas.curve_point(case.curve.source, x, y) if math.isfinite(y) else None
    dy_dx = as_float(obs.get("dy_dx"))
    _curve_formula(j, obs, case, at_y, dy_dx, rtol)
    true_allowed = allowance.Allowance(
        (("round-off", rtol["true"] * cond * (1 + abs(dy_dx_true))),)
    )
    if at_y is not None and not j.failed("root"):
        # A root within its allowance moves the closed form by this much: not a mistake.
        true_allowed = true_allowed.plus("root shift", abs(at_y.dy_dx - dy_dx_true))
    _curve_true(j, obs, at_y, dy_dx, dy_dx_true, true_allowed)
    _curve_upstream(j, obs, dy_dx, at_y, rtol)
    _curve_d2(j, obs, at_y, rtol)
    gradcheck(j, obs, dy_dx, root_failed=j.failed("root"))
    curve_batch(j, obs, case, rtol)
    if "float32" in obs or "float32_error" in obs:
        curve_float32(j, obs, case)
    no_mutation(j, obs, ("x", "y0"))
    zero_start_grad(j, obs, "y0_grad", "y0")
    return j.results


def _curve_formula(
    j: Judge,
    obs: Observation,
    case: CurveCase,
    at_y: formulas.CurvePoint | None,
    dy_dx: float,
    rtol: dict[str, float],
) -> None:
    if "dy_dx_error" in obs:
        j.add(
            "dy_dx_formula",
            "error",
            f"Backward raised {error_text(obs['dy_dx_error'])}: y.backward() must give dy/dx.",
        )
        return
    if at_y is None or not math.isfinite(at_y.dy_dx):
        j.add("dy_dx_formula", "error", _no_formula(at_y, "dy/dx", "no formula to compare with"))
        return
    want = at_y.dy_dx
    tol = rtol["formula"] * min(at_y.condition, 1e8) * (1 + abs(want))
    hint = ""
    if not close(dy_dx, want, tol):
        at_y0 = formulas.curve_point(case.curve.source, case.x, case.y0)
        if close(dy_dx, -want, tol):
            hint = HINTS["sign"]
        elif close(dy_dx, at_y0.dy_dx, max(tol, 1e-9 * abs(at_y0.dy_dx))):
            hint = HINTS["y0"]
        elif (at_y.F_x != 0 and close(dy_dx, -at_y.F_y / at_y.F_x, tol)) or (
            at_y.F_x == 0 and math.isinf(dy_dx)  # -F_y / F_x with F_x = 0 (F_y != 0 here)
        ):
            hint = HINTS["inverted"]
    j.compare(
        "dy_dx_formula",
        "dy/dx",
        dy_dx,
        want,
        tol,
        "At your own y, the implicit function theorem gives dy/dx = -F_x / F_y: your "
        "backward computes something else.",
        hint=hint,
        details=(("dy_dx", dy_dx), ("dy_dx_at_returned_y", want)),
    )


def _curve_true(
    j: Judge,
    obs: Observation,
    at_y: formulas.CurvePoint | None,
    dy_dx: float,
    want: float,
    allowed: allowance.Allowance,
) -> None:
    if "dy_dx_error" in obs or at_y is None:
        j.add("dy_dx_true", "error", "No gradient to compare with the true dy/dx.")
        return
    root_blamed = j.passed("dy_dx_formula") and j.failed("root")
    if root_blamed:
        fix = (
            "Your gradient is right for the y you returned, but that y is not the root: fix "
            "the root and this follows."
        )
    elif j.failed("root") and not j.failed("dy_dx_formula"):
        fix = "The returned y is not the root (see root), and there is no formula at it."
    else:
        fix = "The gradient differs from the true dy/dx; see dy_dx_formula."
    j.compare(
        "dy_dx_true",
        "dy/dx",
        dy_dx,
        want,
        allowed.total,
        fix,
        tol_text=allowed.text(),
        hint=HINTS["root"] if root_blamed else "",
        details=(("dy_dx", dy_dx),),
    )


def _curve_upstream(
    j: Judge,
    obs: Observation,
    dy_dx: float,
    at_y: formulas.CurvePoint | None,
    rtol: dict[str, float],
) -> None:
    w = as_float(obs.get("weight", 1.0))
    if "weighted_grad_error" in obs:
        j.add(
            "upstream",
            "error",
            f"Backward with grad_output = {w:g} raised {error_text(obs['weighted_grad_error'])}.",
        )
        return
    got = as_float(obs.get("weighted_grad"))
    if math.isinf(dy_dx) and got == w * dy_dx:
        # w * (+-inf) is what multiplying by grad_output gives: linear, if not finite.
        j.add(
            "upstream",
            "pass",
            f"With grad_output = {w:g} the gradient is {got}, {w:g} times your dy/dx "
            f"({dy_dx}; the gradient items judge that).",
        )
        return
    base = dy_dx if math.isfinite(dy_dx) else (at_y.dy_dx if at_y else math.nan)
    want = w * base
    tol = rtol["upstream"] * max(1.0, min(at_y.condition if at_y else 1.0, 1e8)) * (1 + abs(want))
    hint = HINTS["grad_output"] if not close(got, want, tol) and close(got, base, tol) else ""
    j.compare(
        "upstream",
        f"the gradient of {w:g} * y",
        got,
        want,
        tol,
        f"With grad_output = {w:g} the gradient must be {w:g} times your own dy/dx "
        f"({dy_dx:.10g}): the backward must be linear in grad_output.",
        hint=hint,
    )


def _no_formula(at_y: formulas.CurvePoint | None, what: str, so: str) -> str:
    """Why there is no closed form at the returned y: it is not finite, or F_y = 0 there."""
    if at_y is None:
        return f"The returned y is not finite: {so}."
    return f"F_y = 0 at the returned y, so {what} does not exist there: {so}."


def _curve_d2(
    j: Judge, obs: Observation, at_y: formulas.CurvePoint | None, rtol: dict[str, float]
) -> None:
    if "d2y_dx2_error" in obs:
        j.add(
            "d2y_dx2",
            "error",
            "Double backward (create_graph=True) failed: "
            f"{error_text(obs['d2y_dx2_error'])}. Build backward from differentiable torch "
            "ops on tensors that keep their graph (no .detach() of x, no .item()).",
        )
        return
    if at_y is None or not math.isfinite(at_y.d2y_dx2):
        j.add("d2y_dx2", "error", _no_formula(at_y, "d2y/dx2", "no second derivative to check"))
        return
    got = as_float(obs.get("d2y_dx2"))
    want = at_y.d2y_dx2
    tol = rtol["d2"] * min(at_y.condition, 1e6) ** 2 * (1 + abs(want))
    j.compare(
        "d2y_dx2",
        "d2y/dx2",
        got,
        want,
        tol,
        "The second derivative differs from the closed form at your y: the backward is "
        "not differentiable the right way (it must differentiate -F_x / F_y through y too).",
    )
