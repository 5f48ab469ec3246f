"""Judge the conformance stages: loss scale, forward mode, torch.func, d2x*/da2.

``judge_conformance(case, observation)`` reads ``observation["conformance"]``
(``probe_wire.CONFORMANCE``) and returns one ``CheckResult`` per property of
``capabilities.ALWAYS`` and of every capability the case applies to: a claimed
one is judged, an unclaimed one is ``"not_claimed"`` (listed, never counted).

Tolerances follow the assignment's (``common.RTOL``): a transform's derivative
is compared with the reverse-mode one of the same candidate tightly
(``formula``) and with the oracle under the conformance of the case (``true``,
scaled by ``condition`` or ``1 / sigma_min``).  Loss scale compares the
candidate with itself: ``grad(s L) / s`` for ``s`` from 1e-8 to 1e8 against
``grad(L)``, allowing rounding (``formula`` relative) plus, for maps, what a
stopping test relative to the weight leaves (``10 tol / sigma_min``); an
adjoint stopped by an absolute tolerance is off by ``tol / s`` at small ``s``
and never stops at large ``s`` (a ``TimeoutError`` under the probe's deadline).
"""

from __future__ import annotations

import math
from typing import Any

from properties import capabilities, exact
from properties.checks import allowance
from properties.checks.closure import judge_closure
from properties.checks.common import RTOL, Judge, Observation, as_float, error_text, max_abs_diff
from properties.records import CheckResult, CurveCase, MapCase

__all__ = ["judge_conformance", "not_claimed"]

#: Properties that apply to each kind of case.
APPLIES = {
    "curve": ("forward_mode", "torch_func"),
    "map": ("forward_mode", "second_order", "torch_func"),
}
_CURVE_ONLY = {"func_vmap"}  # torch.func.vmap is checked on curve batches only


def not_claimed(j: Judge, capability: str, kind: str) -> None:
    """Every property of ``capability`` as ``"not_claimed"``."""
    for name in capabilities.PROPERTIES[capability]:
        if kind == "map" and name in _CURVE_ONLY:
            continue
        j.add(
            name,
            capabilities.NOT_CLAIMED,  # type: ignore[arg-type]
            f"Not claimed: the target does not declare {capability!r} "
            f"({capabilities.CAPABILITIES[capability]}); add it to CAPABILITIES to have "
            "it checked.",
        )


def judge_conformance(case: CurveCase | MapCase, obs: Observation) -> list[CheckResult]:
    """The conformance checks of one case (empty when none were observed)."""
    sub = obs.get("conformance")
    if not isinstance(sub, dict):
        return []
    j = Judge(case)
    claims = set(sub.get("claims") or ())
    kind = case.kind
    if isinstance(case, MapCase):
        _map(j, case, obs, sub, claims)
    else:
        _curve(j, case, obs, sub, claims)
    judge_closure(j, case, obs)
    for capability in APPLIES[kind]:
        if capability not in claims:
            not_claimed(j, capability, kind)
    return j.results


def _raised(j: Judge, sub: dict[str, Any], name: str) -> bool:
    error = sub.get(f"{name}_error")
    if error is None:
        return False
    timed_out = error.get("type") == "TimeoutError"
    j.add(
        name,
        "fail" if timed_out else "error",
        f"{name} raised {error_text(error)}."
        + (" A stage must return within the deadline." if timed_out else ""),
    )
    return True


def _vector_check(
    j: Judge, name: str, what: str, got: list[float], want: list[float], tol: float, fix: str
) -> None:
    if len(got) != len(want):
        j.add(name, "fail", f"{what}: got {len(got)} values, expected {len(want)}. {fix}")
        return
    error = max((abs(g - w) for g, w in zip(got, want)), default=0.0)
    if not math.isfinite(error):
        error = math.inf
    status = "pass" if error <= tol else "fail"
    text = f"{what} = {got}, expected {want}: error {error:.2g}" + (
        f" <= {tol:.2g}." if status == "pass" else f" > tol {tol:.2g}. {fix}"
    )
    j.add(name, status, text, error=error, tol=tol, expected=want, got=got)


def _loss_scale(j: Judge, sub: dict[str, Any], key: str, rel: float, floor: float) -> None:
    """``grad(s L) / s`` against ``grad(L)`` for every scale ``s``."""
    if _raised(j, sub, "loss_scale"):
        return
    record = sub.get("loss_scale") or {}
    scales = [float(s) for s in record.get("scales") or ()]
    rows = [
        [as_float(v) for v in (g if isinstance(g, list) else [g])] for g in record.get(key) or ()
    ]
    if 1.0 not in scales or len(rows) != len(scales):
        j.add("loss_scale", "error", "The loss-scale stage recorded no gradient at weight 1.")
        return
    base = rows[scales.index(1.0)]
    size = max((abs(v) for v in base), default=0.0)
    tol = rel * size + floor
    worst, at = 0.0, 1.0
    for s, row in zip(scales, rows):
        err = max((abs(g / s - b) for g, b in zip(row, base)), default=math.inf)
        err = err if math.isfinite(err) and len(row) == len(base) else math.inf
        if err > worst:
            worst, at = err, s
    if worst <= tol:
        j.add(
            "loss_scale",
            "pass",
            f"grad(s L) / s matches grad(L) for s in {scales} (error {worst:.2g} <= {tol:.2g}).",
            error=worst,
            tol=tol,
        )
        return
    j.add(
        "loss_scale",
        "fail",
        f"grad(s L) / s at s = {at:g} differs from grad(L) = {base} by {worst:.2g} > "
        f"{tol:.2g}: the backward is not linear in the upstream gradient, as the implicit "
        "function theorem's vjp is (grad(s L) = s grad(L)).",
        error=worst,
        tol=tol,
        details=(("scale", at),),
    )


# ----------------------------------------------------------------------- curves


def _curve(
    j: Judge, case: CurveCase, obs: Observation, sub: dict[str, Any], claims: set[str]
) -> None:
    rtol = RTOL.get(str(obs.get("dtype")), RTOL["float64"])
    cond = min(case.condition, 1e16)
    want = as_float(case.dy_dx)
    true_tol = rtol["true"] * cond * (1 + abs(want))
    _loss_scale(j, sub, "grads", 10 * rtol["formula"], rtol["formula"] * cond)
    reverse = as_float(obs.get("dy_dx"))
    tight = rtol["formula"] * cond * (1 + abs(reverse))
    fix_mode = "Forward mode must give the implicit derivative -F_x / F_y (a jvp rule)."
    for name in ("forward_ad", "func_jvp") if "forward_mode" in claims else ():
        if _raised(j, sub, name):
            continue
        got = as_float(sub.get(name))
        _vector_check(j, name, f"{name} dy/dx", [got], [want], true_tol, fix_mode)
        if j.results[-1].status == "pass" and math.isfinite(reverse) and abs(got - reverse) > tight:
            j.results.pop()
            j.add(name, "fail", f"{name} dy/dx = {got} but reverse mode gives {reverse}.")
    if "torch_func" not in claims:
        return
    fix = "torch.func must see the same implicit derivative as torch.autograd."
    if not _raised(j, sub, "func_grad"):
        _vector_check(
            j,
            "func_grad",
            "torch.func.grad",
            [as_float(sub.get("func_grad"))],
            [want],
            true_tol,
            fix,
        )
    if not _raised(j, sub, "func_vjp"):
        rec = sub.get("func_vjp") or {}
        w = as_float(rec.get("weight"))
        got = as_float(rec.get("grad"))
        _vector_check(j, "func_vjp", "torch.func.vjp", [got], [w * want], abs(w) * true_tol, fix)
    singles = sub.get("singles") or {}
    s_grad = [as_float(v) for v in singles.get("grad") or ()]
    s_y = [as_float(v) for v in singles.get("y") or ()]
    n = len(s_grad)
    if not _raised(j, sub, "func_jacrev"):
        rows = [[as_float(v) for v in r] for r in sub.get("func_jacrev") or ()]
        expect = [[s_grad[i] if i == c else 0.0 for c in range(n)] for i in range(n)]
        if n:
            expect[0][0] = want
        got_flat = [v for r in rows for v in r]
        want_flat = [v for r in expect for v in r]
        keep = [i for i, v in enumerate(want_flat) if math.isfinite(v)]
        _vector_check(
            j,
            "func_jacrev",
            "torch.func.jacrev of the batch",
            [got_flat[i] for i in keep] if len(got_flat) == len(want_flat) else got_flat,
            [want_flat[i] for i in keep],
            true_tol,
            fix + " The Jacobian of a batch is diagonal.",
        )
    _curve_vmap(j, sub, s_y, s_grad, rtol["root"] * cond, true_tol)


def _curve_vmap(
    j: Judge,
    sub: dict[str, Any],
    s_y: list[float],
    s_grad: list[float],
    root_rtol: float,
    grad_tol: float,
) -> None:
    """vmap's roots (and dy/dx, when grad under vmap ran) against one call per point."""
    rec = sub.get("func_vmap") or {}
    if "y" not in rec:
        _raised(j, sub, "func_vmap") or j.add("func_vmap", "error", "vmap recorded nothing.")
        return
    n = len(s_y)
    ys = [as_float(v) for v in rec.get("y") or ()]
    gs = [as_float(v) for v in rec.get("grad") or ()] if "grad" in rec else None
    if len(ys) != n or (gs is not None and len(gs) != n):
        j.add("func_vmap", "fail", f"torch.func.vmap returned {len(ys)} roots for {n} points.")
        return
    keep = [i for i in range(n) if math.isfinite(s_y[i]) and math.isfinite(s_grad[i])]
    y_scale = 1 + max((abs(s_y[i]) for i in keep), default=0.0)
    got, want = [ys[i] for i in keep], [s_y[i] for i in keep]
    if gs is not None:
        got, want = got + [gs[i] for i in keep], want + [s_grad[i] for i in keep]
    fix = "vmap must solve every point of the batch on its own, as one call per point does."
    _vector_check(
        j,
        "func_vmap",
        "torch.func.vmap (roots, then dy/dx)",
        got,
        want,
        root_rtol * y_scale + grad_tol,
        fix,
    )
    if j.results[-1].status == "pass" and gs is None:
        j.results.pop()
        _raised(j, sub, "func_vmap")


# ------------------------------------------------------------------------- maps


def _second_shift(case: MapCase, obs: Observation, v: list[float], at_star: Any) -> float:
    """The ``returned point`` term of ``d2x_da2``: how much ``v^T d2x*/da2`` changes
    between x* and anywhere a correct code may have differentiated (within
    ``allowance.point_radius`` of the returned x); 0 without a finite returned x."""
    x = [as_float(t) for t in obs.get("x") or ()]
    if len(x) != case.m or not all(math.isfinite(t) for t in x):
        return 0.0
    residual = as_float(obs.get("residual"))
    sigma = max(case.sigma_min, 1e-12)
    x_star = [float(t) for t in case.x_star]
    radius = allowance.point_radius(case, residual, sigma) + max(
        abs(p - q) for p, q in zip(x, x_star)
    )

    def closed_form(p: list[float]) -> list[list[float]]:
        h = exact.map_second_derivative(case.f_source, case.k, case.scalar, p, case.a, v)
        return [[float(t) for t in row] for row in h]

    here = [[float(t) for t in row] for row in at_star]
    return max(
        allowance.largest_change(closed_form, x_star, radius),
        max_abs_diff(closed_form(x), here),
    )


def _matvec(rows: list[list[float]], t: list[float]) -> list[float]:
    return [sum(r * c for r, c in zip(row, t)) for row in rows]


def _map(j: Judge, case: MapCase, obs: Observation, sub: dict[str, Any], claims: set[str]) -> None:
    rtol = RTOL.get(case.dtype, RTOL["float64"])
    sigma = max(case.sigma_min, 1e-12)
    v = [float(t) for t in obs.get("weights") or [1.0] * case.m]
    want = [[as_float(case.dx_da[i * case.k + c]) for c in range(case.k)] for i in range(case.m)]
    size = 1 + max((abs(x) for row in want for x in row), default=0.0)
    stop = 10 * case.tol / sigma
    _loss_scale(j, sub, "vjps", 10 * rtol["formula"] / sigma + stop, rtol["formula"] / sigma)
    t = [float(x) for x in sub.get("tangent") or [1.0] * case.k]
    true_tol = (rtol["true"] / sigma + stop / sigma) * size * (1 + sum(abs(x) for x in t))
    for name in ("forward_ad", "func_jvp") if "forward_mode" in claims else ():
        if not _raised(j, sub, name):
            got = [as_float(x) for x in sub.get(name) or ()]
            _vector_check(
                j,
                name,
                f"{name} dx/da t",
                got,
                _matvec(want, t),
                true_tol,
                "Forward mode must give (I - f_x)^-1 f_a t (a jvp rule).",
            )
    if "second_order" in claims and not _raised(j, sub, "d2x_da2"):
        exact_h = exact.map_second_derivative(
            case.f_source, case.k, case.scalar, case.x_star, case.a, v
        )
        h_want = [float(x) for row in exact_h for x in row]
        got = [as_float(x) for row in sub.get("d2x_da2") or () for x in row]
        h_size = 1 + max((abs(x) for x in h_want), default=0.0)
        tol = (rtol["d2"] / sigma**2 + stop / sigma**2) * h_size * (1 + sum(abs(x) for x in v))
        tol += _second_shift(case, obs, v, exact_h)
        _vector_check(
            j,
            "d2x_da2",
            "d2(v^T x*)/da2",
            got,
            h_want,
            tol,
            "Differentiate the implicit gradient once more: build backward from "
            "differentiable ops at x* (create_graph).",
        )
    if "torch_func" not in claims:
        return
    vjp_want = [sum(v[i] * want[i][c] for i in range(case.m)) for c in range(case.k)]
    fix = "torch.func must see the same implicit derivative as torch.autograd."
    for name in ("func_grad", "func_vjp"):
        if not _raised(j, sub, name):
            got = [as_float(x) for x in sub.get(name) or ()]
            _vector_check(j, name, f"torch.func {name[5:]}", got, vjp_want, true_tol, fix)
    if not _raised(j, sub, "func_jacrev"):
        got = [as_float(x) for row in sub.get("func_jacrev") or () for x in row]
        _vector_check(
            j,
            "func_jacrev",
            "torch.func.jacrev dx/da",
            got,
            [x for row in want for x in row],
            true_tol,
            fix,
        )
