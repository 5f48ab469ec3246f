"""The checks of a fixed-point case ``x* = f(a)(x*)``: ``judge_map(case, observation)``.

The fixed point (``x_star``, ``residual``), ``dx/da`` against the closed form at
the returned ``x`` (``dx_da_formula``) and against the true value
(``dx_da_true``), the upstream gradient, that the graph does not grow with the
iterations, that backward evaluates ``f`` at ``x*`` only, gradcheck, hygiene.
"""

from __future__ import annotations

import math

from properties import alternatives, formulas
from properties.checks import allowance
from properties.checks.common import (
    HINTS,
    RTOL,
    Judge,
    Observation,
    as_float,
    call_failed,
    eps,
    error_text,
    fmt,
    fmt_pair,
    gradcheck,
    max_abs_diff,
    no_mutation,
    shape_dtype,
    zero_start_grad,
)
from properties.checks.implicitness import backward_points, graph_growth
from properties.records import CheckResult, MapCase


def judge_map(case: MapCase, obs: Observation) -> list[CheckResult]:
    j = Judge(case)
    dtype = case.dtype
    rtol = RTOL.get(dtype, RTOL["float64"])
    if call_failed(j, case, obs):
        return j.results
    sigma = max(case.sigma_min, 1e-12)
    x_true = [as_float(v) for v in case.x_star]
    x = [as_float(v) for v in obs.get("x") or []]
    expected_shape = [] if case.scalar else [case.m]
    shape_dtype(j, obs, expected_shape=expected_shape, dtype=dtype)

    scale = 1 + max(abs(v) for v in x_true)
    x_tol = 10 * case.tol / sigma + rtol["root"] * scale / sigma
    x_err = max((abs(a - b) for a, b in zip(x, x_true)), default=math.inf)
    if len(x) != len(x_true) or not math.isfinite(x_err):
        x_err = math.inf
    _map_x_star(j, x, x_true, x_err, x_tol)
    residual = as_float(obs.get("residual"))
    res_tol = 10 * case.tol + 100 * eps(dtype) * scale
    j.add(
        "residual",
        "pass" if residual <= res_tol else "fail",
        f"|f(a)(x) - x| = {residual:.2g} at the returned x"
        + (
            f" <= {res_tol:.2g}."
            if residual <= res_tol
            else f", more than {res_tol:.2g}: x is not a fixed point."
        ),
        hint="" if residual <= res_tol else "iterate until distance(x, x_prev) <= tol",
        error=residual,
        tol=res_tol,
        details=(("residual", residual),),
    )

    at_x = (
        formulas.map_point(case.f_source, case.a, x, case.scalar)
        if len(x) == case.m and all(math.isfinite(v) for v in x)
        else None
    )
    jac = _jacobian(obs)
    shift = 0.0
    if at_x is not None:
        radius = allowance.point_radius(case, residual, max(at_x.sigma_min, 1e-12))
        shift = allowance.point_shift(case, x, radius)
    adjoint = allowance.adjoint_stop(case, at_x)
    _map_formula(j, obs, case, at_x, jac, rtol, shift, adjoint)
    _map_true(j, case, jac, rtol, sigma, at_x if x_err <= x_tol else None, shift, adjoint)
    _map_upstream(j, obs, jac, at_x, rtol, shift, adjoint)
    graph_growth(j, obs)
    backward_points(j, obs, case, x)
    if "gradcheck" in obs or "gradcheck_error" in obs:
        gradcheck(j, obs, None, root_failed=j.failed("x_star"))
    no_mutation(j, obs, ("a", "x0"))
    zero_start_grad(j, obs, "x0_grad", "x0")
    return j.results


def _jacobian(obs: Observation) -> list[list[float]] | None:
    rows = obs.get("jacobian")
    if not rows or any(r is None for r in rows):
        return None
    return [[as_float(v) for v in row] for row in rows]


def _map_x_star(j: Judge, x: list[float], x_true: list[float], x_err: float, tol: float) -> None:
    details = (("x_star", x[0] if x else math.nan), ("root_error", x_err))
    if x_err <= tol:
        j.add(
            "x_star",
            "pass",
            f"x = {fmt(x)} matches x* (error {x_err:.2g} <= {tol:.2g}).",
            error=x_err,
            tol=tol,
            expected=x_true,
            got=x,
            details=details,
        )
        return
    j.add(
        "x_star",
        "fail",
        f"x = {fmt(x)}, but the fixed point is x* = {fmt(x_true)}: error {x_err:.2g} > tol "
        f"{tol:.2g}.",
        hint="iterate until distance(x, x_prev) <= tol (do not stop after a fixed number of steps)",
        error=x_err,
        tol=tol,
        expected=x_true,
        got=x,
        details=details,
    )


def _map_formula(
    j: Judge,
    obs: Observation,
    case: MapCase,
    at_x: formulas.MapPoint | None,
    jac: list[list[float]] | None,
    rtol: dict[str, float],
    shift: float,
    adjoint: float,
) -> None:
    if "jacobian_error" in obs or jac is None:
        j.add(
            "dx_da_formula",
            "error",
            f"Backward raised {error_text(obs.get('jacobian_error'))}: "
            "torch.autograd.grad(x, a, v) must give v^T dx/da.",
        )
        return
    if at_x is None:
        j.add("dx_da_formula", "error", "The returned x is not finite: nothing to compare with.")
        return
    want = at_x.dx_da
    sigma = max(at_x.sigma_min, 1e-12)
    allowed = allowance.map_formula(want, sigma, rtol["formula"], shift, adjoint)
    tol = allowed.total
    error = max_abs_diff(jac, want)
    details = (("dx_da", jac[0][0] if jac and jac[0] else math.nan), ("dx_da_at_returned_x", want))
    if error <= tol:
        j.add(
            "dx_da_formula",
            "pass",
            f"dx/da matches (I - f_x)^-1 f_a at your x (error {error:.2g} <= allowance "
            f"{allowed.text()}).",
            error=error,
            tol=tol,
            expected=want,
            got=jac,
            details=details,
        )
        return
    j.add(
        "dx_da_formula",
        "fail",
        f"dx/da = {fmt_pair(jac, want)[0]}, but at your own x the implicit function theorem "
        f"gives (I - f_x)^-1 f_a = {fmt_pair(jac, want)[1]} (error {error:.2g} > allowance "
        f"{allowed.text()}).",
        error=error,
        tol=tol,
        expected=want,
        got=jac,
        hint=_map_hint(jac, at_x, case, tol),
        details=details,
    )


#: The judge's hint for a mistake ``alternatives.map_mistakes`` finds (others: none).
_HINT_OF = {
    "sign": "sign",
    "missing_inverse": "missing_inverse",
    "inverse_sign": "inverse_sign",
    "transposed": "transposed",
    "at_start": "x0",
    "ignores_upstream": "grad_output",
}


def _map_hint(
    jac: list[list[float]],
    at_x: formulas.MapPoint,
    case: MapCase,
    tol: float,
) -> str:
    codes = alternatives.map_mistakes(case.f_source, case.a, case.x0, case.scalar, at_x, jac, tol)
    return next((HINTS[_HINT_OF[c]] for c in codes if c in _HINT_OF), "")


def _map_true(
    j: Judge,
    case: MapCase,
    jac: list[list[float]] | None,
    rtol: dict[str, float],
    sigma: float,
    at_accepted_x: formulas.MapPoint | None,
    shift: float,
    adjoint: float,
) -> None:
    """dx/da against the true value at x*.

    ``at_accepted_x`` is the closed form at the returned x when that x passed the
    x_star check (else None): the gradient there legitimately differs from the
    one at x* by ``|dx/da(x) - dx/da(x*)|`` (amplified by 1/sigma^2 near rho = 1,
    e.g. float32 with |rho| = 0.95), which the tolerance then allows.
    """
    if jac is None:
        j.add("dx_da_true", "error", "No gradient to compare with the true dx/da.")
        return
    want = [[as_float(case.dx_da[i * case.k + c]) for c in range(case.k)] for i in range(case.m)]
    root_shift = 0.0
    if at_accepted_x is not None:
        root_shift = max_abs_diff(at_accepted_x.dx_da, want)
    allowed = allowance.map_true(want, sigma, rtol["true"], root_shift, shift, adjoint)
    tol = allowed.total
    error = max_abs_diff(jac, want)
    if error <= tol:
        j.add(
            "dx_da_true",
            "pass",
            f"dx/da matches the true value (error {error:.2g} <= allowance {allowed.text()}).",
            error=error,
            tol=tol,
            expected=want,
            got=jac,
        )
        return
    root_blamed = j.passed("dx_da_formula") and j.failed("x_star")
    fix = (
        "Your gradient is right at the x you returned, but that x is not the fixed point "
        "(see x_star): fix x and this follows."
        if root_blamed
        else "See dx_da_formula for the mistake."
    )
    j.add(
        "dx_da_true",
        "fail",
        f"dx/da = {fmt_pair(jac, want)[0]}, true value {fmt_pair(jac, want)[1]}: error "
        f"{error:.2g} > allowance {allowed.text()}. {fix}",
        error=error,
        tol=tol,
        expected=want,
        got=jac,
        hint=HINTS["x_star"] if root_blamed else "",
    )


def _map_upstream(
    j: Judge,
    obs: Observation,
    jac: list[list[float]] | None,
    at_x: formulas.MapPoint | None,
    rtol: dict[str, float],
    shift: float = 0.0,
    adjoint: float = 0.0,
) -> None:
    v = [as_float(t) for t in obs.get("weights") or []]
    if "vjp_error" in obs:
        j.add(
            "upstream",
            "error",
            f"Backward with grad_output = {fmt(v)} raised {error_text(obs['vjp_error'])}.",
        )
        return
    got = [as_float(t) for t in obs.get("vjp") or []]
    base = jac if jac is not None else (at_x.dx_da if at_x else None)
    if base is None:
        j.add("upstream", "error", "No Jacobian to compare the weighted gradient with.")
        return
    k = len(base[0])
    want = [sum(v[i] * base[i][c] for i in range(len(base))) for c in range(k)]
    sigma = max(at_x.sigma_min if at_x else 1.0, 1e-12)
    # The rows were taken in other calls than the weighted one: each may sit anywhere
    # the returned point's own error allows and stop its adjoint at tol.
    allowed = allowance.map_upstream(want, v, sigma, rtol["upstream"], shift, adjoint)
    tol = allowed.total
    error = max_abs_diff([got], [want])
    if error <= tol:
        j.add(
            "upstream",
            "pass",
            f"v^T dx/da with v = {fmt(v)} matches (error {error:.2g} <= allowance "
            f"{allowed.text()}).",
            error=error,
            tol=tol,
        )
        return
    true_jac = at_x.dx_da if at_x is not None else base
    ones = [sum(row[c] for row in true_jac) for c in range(k)]
    ignored = max_abs_diff([got], [ones]) <= max(tol, 1e-6 * (1 + max(map(abs, ones))))
    j.add(
        "upstream",
        "fail",
        f"With grad_output v = {fmt(v)} the gradient w.r.t. a is {fmt(got)}, expected "
        f"v^T dx/da = {fmt(want)} (error {error:.2g} > allowance {allowed.text()}). "
        + (
            "It is the gradient for v = 1: backward must multiply by grad_output."
            if ignored
            else "It is not v^T times your own rows of dx/da: the backward is not linear in "
            "grad_output on this case."
            if jac is not None
            else "The cause is not identified from this case."
        ),
        error=error,
        tol=tol,
        expected=want,
        got=got,
        hint=HINTS["grad_output"] if ignored else "",
    )
