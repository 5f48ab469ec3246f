"""Causes of a failing fixed-point check (``causes.explain`` for a ``MapCase``).

``map_findings(ctx)`` gives each failing check of the case a ``Finding``: a
measured code (``no_gradient``, ``unrolled``, ...), a closed-form alternative
that matches the numbers (``alternatives.map_mistakes``), where the returned x
lies (``returned_point``), or the tol/100 experiment (``experiments.inexact``),
in that order; a check no evidence explains gets the measured words of
``experiments.unknown``.
"""

from __future__ import annotations

import math
from typing import Any

from properties import formulas, stencil
from properties.alternatives import map_mistakes, nearest_neumann_sum
from properties.experiments import (
    Context,
    Finding,
    finite,
    floats,
    inexact,
    map_formula_error,
    no_graph,
    true_gradient,
    unknown,
    upstream_error,
    x_error,
)
from properties.precision import low_precision
from properties.records import MapCase
from properties.returned_point import map_point_finding

__all__ = ["map_findings"]


def map_findings(ctx: Context) -> dict[str, Finding]:
    case, failing = ctx.case, ctx.failing
    assert isinstance(case, MapCase)
    out = no_graph(ctx.obs, failing)
    if "graph_growth" in failing:
        out["graph_growth"] = Finding(("unrolled",))
    if "backward_at_fixed_point" in failing:
        hint = failing["backward_at_fixed_point"].hint
        out["backward_at_fixed_point"] = Finding(
            ("at_start",)
            if "x0" in hint.split(":")[0]
            else ("finite_difference",)
            if hint.startswith("finite differences")
            else ("backward_reiterates",)
        )
    if "x0_grad" in failing:
        # Through n iterations x0 reaches x by rho**n: a tiny gradient is the loop's.
        through_loop = failing["x0_grad"].hint.startswith("unrolled")
        out["x0_grad"] = out.get(
            "graph_growth", Finding(("unrolled",) if through_loop else ("gradient_to_start",))
        )
    if "x_star" in failing or "residual" in failing:
        point = _map_point(ctx)
        for name in ("x_star", "residual"):
            if name in failing:
                out[name] = point
    if "dx_da_formula" in failing and "dx_da_formula" not in out:
        out["dx_da_formula"] = _map_formula_finding(ctx, out)
    gradient = true_gradient(out, failing, "dx_da", "x_star")
    if "upstream" in failing:
        result = failing["upstream"]
        if "upstream" in out:
            pass
        elif result.hint.startswith("ignores grad_output"):
            out["upstream"] = Finding(("ignores_upstream",))
        elif gradient is not None and gradient.codes:
            out["upstream"] = gradient
        else:
            found = inexact(ctx, lambda o: upstream_error(o), "inexact_backward", "v^T dx/da")
            if found is not None:
                out["upstream"] = found
    for name, what in (("loss_scale", "grad(s L) / s"), ("closure_gradient", "dx/dtheta")):
        if name in failing and name not in out:
            found = _backward_by_tol(ctx, name, what, out.get("x_star"))
            if found is not None:
                out[name] = found
    knock_on = gradient or out.get("upstream") or out.get("x_star")
    if "gradcheck" in failing and knock_on is not None and knock_on.codes:
        out["gradcheck"] = knock_on
    return out


def _backward_by_tol(ctx: Context, name: str, what: str, forward: Finding | None) -> Finding | None:
    """A failing gradient check ``name`` whose error shrinks with tol/100: the
    forward's cause when x itself is off (``forward``), else ``inexact_backward``.
    Needs ``ctx.judge`` (the check's own error on the experiment's observation)."""
    judge = ctx.judge
    if judge is None:
        return None

    def error(obs: dict[str, Any]) -> float:
        found = [r.error for r in judge(ctx.case, obs) if r.name == name]
        return float(found[0]) if found and found[0] is not None else math.inf

    shrank = inexact(ctx, error, "inexact_backward", what)
    if shrank is None:
        return None
    if forward is not None and forward.codes:
        return forward
    if name == "loss_scale":  # confirmed: an adjoint stop that does not scale with v
        return Finding(
            shrank.codes,
            f"{shrank.evidence}: the adjoint stops at a tolerance that does not scale with "
            "grad_output; stop it relative to |grad_output|",
        )
    return shrank


def _map_point(ctx: Context) -> Finding:
    """The returned x misses x*: inexact when tol/100 brings it closer, else where it
    lies (``returned_point``: stopped early although tol was tightened, or another
    fixed point), else not identified."""
    case = ctx.case
    assert isinstance(case, MapCase)
    dtype = str(ctx.obs.get("dtype", "float64"))
    rounded = low_precision(floats(ctx.obs.get("x")), [float(v) for v in case.x_star], dtype, "x")
    if rounded is not None:
        return rounded
    shrank = inexact(ctx, lambda o: x_error(case, o), "inexact_forward", "x")
    if shrank is not None:
        return shrank
    x = floats(ctx.obs.get("x"))
    result = ctx.failing.get("x_star") or ctx.failing["residual"]
    if len(x) != case.m or not all(math.isfinite(v) for v in x):
        return Finding((), unknown(result))
    try:
        found = map_point_finding(case, x, finite(result.tol))
    except (ArithmeticError, ValueError):  # a point the closed forms cannot evaluate
        found = None
    if found is not None and found.codes == ("inexact_forward",) and ctx.tighter is not None:
        return Finding(
            found.codes,
            f"{found.evidence}; with tol/100 it did not get closer: the iteration does not "
            "stop on distance(x, x_prev) <= tol, or cannot get closer in the precision it "
            "computes in",
        )
    return found or Finding((), unknown(result))


def _map_formula_finding(ctx: Context, so_far: dict[str, Finding]) -> Finding:
    case, result = ctx.case, ctx.failing["dx_da_formula"]
    assert isinstance(case, MapCase)
    x, rows = floats(ctx.obs.get("x")), ctx.obs.get("jacobian")
    if rows and len(x) == case.m and all(math.isfinite(v) for v in x):
        point = formulas.map_point(case.f_source, case.a, x, case.scalar)
        got = [floats(r) for r in rows]
        tol = finite(result.tol)
        codes = map_mistakes(case.f_source, case.a, case.x0, case.scalar, point, got, tol)
        if codes == ("truncated_inverse",):
            return _truncated(ctx, nearest_neumann_sum(point, got)[0])
        if codes:
            return Finding(codes)
        flat = [v for row in got for v in row]
        want = [v for row in point.dx_da for v in row]
        rounded = low_precision(flat, want, str(ctx.obs.get("dtype", "float64")), "dx/da")
        if rounded is not None:
            return rounded
    if "graph_growth" in so_far:
        return so_far["graph_growth"]
    h = _stencil_step(ctx, x)
    error = finite(result.error if result.error is not None else math.inf)
    want = result.expected if isinstance(result.expected, list) else []
    size = max((abs(v) for row in want for v in floats(row)), default=0.0)
    if h is not None and 0 < error <= stencil.ORDER * h * (1 + size):
        return Finding(
            ("finite_difference",),
            f"backward evaluates f a step h = {h:.3g} from x* (a finite-difference stencil), "
            f"and the error {error:.2g} is of the order of h",
        )
    found = inexact(ctx, lambda o: map_formula_error(case, o), "inexact_backward", "dx/da")
    return found or Finding((), unknown(result))


def _truncated(ctx: Context, terms: int) -> Finding:
    """dx/da equals a Neumann sum of ``terms`` terms.  Beyond ``I + f_x``, that is also
    what an adjoint iteration stopped by a tolerance computes: the tol/100 call tells
    a loop of a fixed count (the same gradient) from one that stops early (closer)."""
    case = ctx.case
    assert isinstance(case, MapCase)
    sums = f"f_a + f_x f_a + ... + f_x^{terms - 1} f_a ({terms} terms)" if terms > 2 else ""
    if terms > 2:
        found = inexact(ctx, lambda o: map_formula_error(case, o), "inexact_backward", "dx/da")
        if found is not None:
            return Finding(found.codes, f"it equals the Neumann sum {sums}; {found.evidence}")
        if ctx.tighter is not None:
            sums += ", and with tol/100 it stayed: the adjoint's steps do not follow tol"
    return Finding(("truncated_inverse",), f"it equals the Neumann sum {sums}" if sums else "")


def _stencil_step(ctx: Context, x: list[float]) -> float | None:
    """The step of a finite-difference backward (``stencil.step``), measured where the
    failing ``backward_at_fixed_point`` check saw f evaluated; None without one."""
    case, points = ctx.case, ctx.failing.get("backward_at_fixed_point")
    assert isinstance(case, MapCase)
    if points is None or len(x) != case.m or points.tol is None:
        return None
    distances = floats(ctx.obs.get("backward_distances"))
    return stencil.step(distances, 1 + max(abs(v) for v in x), float(points.tol), case.m)
