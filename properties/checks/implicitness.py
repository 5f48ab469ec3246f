"""Is the map's gradient implicit?  The graph must not grow with the iterations, and
backward may evaluate ``f`` only at the returned fixed point (DESIGN.md, "Implicit,
not unrolled")."""

from __future__ import annotations

import math

from properties import stencil
from properties.checks.common import (
    BACKWARD_POINT_RTOL,
    GRAPH_SLACK,
    HINTS,
    Judge,
    Observation,
    as_float,
    error_text,
)
from properties.records import MapCase


def graph_growth(j: Judge, obs: Observation) -> None:
    if "graph_error" in obs:
        j.add(
            "graph_growth",
            "error",
            f"The call with a looser tol raised {error_text(obs['graph_error'])}.",
        )
        return
    tight, loose = obs.get("graph_nodes"), obs.get("graph_loose") or {}
    loose_nodes, loose_calls = loose.get("nodes"), loose.get("f_calls")
    tight_calls = obs.get("forward_f_calls")
    if tight is None or loose_nodes is None:
        return
    details = (
        ("graph_nodes", tight),
        ("graph_nodes_loose", loose_nodes),
        ("f_calls", tight_calls),
        ("f_calls_loose", loose_calls),
    )
    grew = tight > loose_nodes + GRAPH_SLACK
    if not grew:
        j.add(
            "graph_growth",
            "pass",
            f"The graph behind x has {tight} node(s) after {tight_calls} evaluations of f and "
            f"{loose_nodes} after {loose_calls}: it does not grow with the iterations.",
            error=float(tight - loose_nodes),
            tol=float(GRAPH_SLACK),
            details=details,
        )
        return
    j.add(
        "graph_growth",
        "fail",
        f"The autograd graph behind x grows with the iterations: {loose_nodes} nodes after "
        f"{loose_calls} evaluations of f, {tight} after {tight_calls}. The gradient must come "
        "from the implicit function theorem at x*, not from backpropagating through the loop.",
        error=float(tight - loose_nodes),
        tol=float(GRAPH_SLACK),
        hint=HINTS["unrolled"],
        details=details,
    )


def backward_points(j: Judge, obs: Observation, case: MapCase, x: list[float]) -> None:
    if "vjp_error" in obs or "backward_max_distance" not in obs:
        return
    calls = obs.get("backward_f_calls", 0)
    distance = as_float(obs.get("backward_max_distance"))
    scale = 1 + max((abs(v) for v in x), default=0.0)
    tol = BACKWARD_POINT_RTOL.get(case.dtype, 1e-8) * scale
    if distance <= tol:
        j.add(
            "backward_at_fixed_point",
            "pass",
            f"During backward f was evaluated {calls} time(s), only at the fixed point.",
            error=distance,
            tol=tol,
        )
        return
    x0_distance = math.sqrt(sum((a - b) ** 2 for a, b in zip(case.x0, x)))
    hint = ""
    h = stencil.step([as_float(t) for t in obs.get("backward_distances") or ()], scale, tol, case.m)
    if abs(distance - x0_distance) <= 1e-6 * (1 + x0_distance):
        hint = HINTS["x0"]
    elif h is not None:
        hint = HINTS["finite_difference"]
    elif calls > 3:
        hint = HINTS["unrolled"]
    advice = (
        "besides x*, only at points "
        + (f"{h:.3g} to {distance:.3g}" if distance > 1.5 * h else f"a distance {h:.3g}")
        + " from it: a finite-difference stencil. The implicit gradient needs f_x and f_a "
        "at x* exactly: take them by autograd at x*."
        if h is not None
        else f"at points up to {distance:.3g} away from the returned x*. The implicit "
        "gradient needs f_x and f_a at x* only; do not re-run the iteration or use x0 in "
        "backward."
    )
    j.add(
        "backward_at_fixed_point",
        "fail",
        f"During backward f was evaluated {calls} time(s), {advice}",
        error=distance,
        tol=tol,
        hint=hint,
    )
