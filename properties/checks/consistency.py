"""A curve candidate against itself: ``batch`` (a batched call against one-by-one
calls) and ``float32`` (float32 against the truth, or against the candidate's own
float64 answer).

Each item judges its own property.  A mistake that a batch and a single call
make alike (a wrong formula), or float32 and float64 alike, is the value and
gradient items' to score: these fail only where batching or float32 adds an
error of its own.  Where the comparison point is missing (a point the candidate
cannot solve alone, a non-finite float64 answer) they fall back on the closed form.
"""

from __future__ import annotations

import math

from properties import formulas
from properties.checks.common import (
    HINTS,
    RTOL,
    Judge,
    Observation,
    as_float,
    close,
    error_text,
    fmt_pair,
)
from properties.records import CurveCase

__all__ = ["curve_batch", "curve_float32"]


def curve_batch(j: Judge, obs: Observation, case: CurveCase, rtol: dict[str, float]) -> None:
    if "batch_error" in obs:
        j.add(
            "batch",
            "error",
            "The batch stage (solve(F, x, y0) on a batch of 3 points, then the gradient of "
            f"sum(w * y)) raised {error_text(obs['batch_error'])}. "
            "x and y0 may be batched (shape (n,)): forward and backward must both treat "
            "the points as independent problems.",
        )
        return
    batch = obs.get("batch")
    if not batch:
        return
    n = len(batch["x"])
    if batch.get("shape") != [n]:
        j.add(
            "batch",
            "fail",
            f"For x of shape ({n},) the result has shape {batch.get('shape')}; it must have "
            f"the shape of x.",
        )
        return
    worst, problems, apart, hint = 0.0, [], [], ""
    got_all, want_all = [], []
    for i in range(n):
        x_i, w_i = batch["x"][i], batch["weights"][i]
        y_b, y_s = as_float(batch["y"][i]), as_float(batch["single_y"][i])
        g_b, g_s = as_float(batch["grad"][i]), as_float((batch.get("single_grad") or [None] * n)[i])
        if not math.isfinite(y_b):
            if math.isfinite(y_s):
                problems.append(f"y[{i}] is {y_b} in the batch but {y_s:.10g} alone")
            continue
        at = formulas.curve_point(case.curve.source, x_i, y_b)
        if math.isfinite(y_s) and abs(at.F_y) > 0:
            r_b, r_s = as_float(batch["residual"][i]), as_float(batch["single_residual"][i])
            y_tol = rtol["root"] * case.condition * (1 + abs(y_s)) + 2 * (r_b + r_s) / abs(at.F_y)
            if abs(y_b - y_s) > y_tol:
                apart.append(
                    f"y[{i}] = {y_b:.10g} in the batch but {y_s:.10g} alone "
                    f"(differs by {abs(y_b - y_s):.2g})"
                )
        # The batch's gradient against w_i times the one-by-one call's, within what that
        # call's own error allows (the batch item judges batching; whether the gradient
        # is right is the gradient items' job), or against the closed form (a batch that
        # is right where the single call is not, e.g. only 0-d calls go wrong, passes).
        if math.isinf(g_s) and g_b == w_i * g_s:
            continue  # the same infinite gradient alone: the gradient items judge it
        alone = math.isfinite(g_s) and math.isfinite(y_s)
        want = w_i * g_s if alone else w_i * at.dy_dx
        g_tol = rtol["formula"] * min(at.condition, 1e8) * (1 + abs(want)) * 10
        if not math.isfinite(want):
            continue  # the one-by-one gradient is not finite either: the gradient items say so
        err_g = abs(g_b - want) if math.isfinite(g_b) else math.inf
        if alone:
            single = formulas.curve_point(case.curve.source, x_i, y_s)
            if single.F_y != 0:
                own = abs(w_i * (g_s - single.dy_dx))  # the single call's own error
                g_tol += abs(w_i * (at.dy_dx - single.dy_dx)) + 2 * own
                truth = abs(g_b - w_i * at.dy_dx) if math.isfinite(g_b) else math.inf
                err_g = min(err_g, truth)
        got_all.append(g_b)
        want_all.append(want)
        if err_g > g_tol:
            base = g_s if alone else at.dy_dx
            if w_i != 1.0 and close(g_b, base, g_tol):
                hint = HINTS["grad_output"]
            got, exp = fmt_pair(g_b, want)
            problems.append(
                f"the gradient of sum(w * y) w.r.t. x[{i}] is {got}, but w[{i}] = {w_i:g} times "
                + (f"the gradient of one call alone is {exp}" if alone else f"dy/dx is {exp}")
            )
        worst = max(worst, err_g / g_tol)
    if problems or apart:
        apart_text = f"The batched call disagrees with one-by-one calls: {'; '.join(apart[:3])}."
        grad_text = f"In a batch with weights w, {'; '.join(problems[:3])}."
        words = [apart_text, "Solve the problems of a batch independently."] if apart else []
        words += (
            [grad_text, "Scale each by its own grad_output." if hint else ""] if problems else []
        )
        j.add(
            "batch",
            "fail",
            " ".join(w for w in words if w),
            error=worst,  # in units of each point's tolerance
            tol=1.0,
            hint=hint,
            got=got_all if problems else "",
            expected=want_all if problems else "",
        )
    else:
        j.add("batch", "pass", f"A batch of {n} agrees with one-by-one calls.")


def curve_float32(j: Judge, obs: Observation, case: CurveCase) -> None:
    if "float32_error" in obs:
        j.add(
            "float32",
            "error",
            "The float32 stage (solve in float32, then its gradient) raised "
            f"{error_text(obs['float32_error'])}.",
        )
        return
    f32 = obs["float32"]
    rtol = RTOL["float32"]
    y_true = as_float(case.y_true)
    y = as_float(f32.get("y"))
    problems = []
    if f32.get("y_dtype") != "float32":
        problems.append(f"returned dtype {f32.get('y_dtype')} for float32 inputs")
    # Against the truth, or against the candidate's own float64 answer: the float32
    # item judges float32, and a mistake float64 makes too is the other items' to score.
    own = obs.get("dtype", "float64") == "float64"
    y64, g64 = as_float(obs.get("y")) if own else math.nan, as_float(obs.get("dy_dx"))
    root_tol = rtol["root"] * case.condition * (1 + abs(y_true))
    as_own = False
    if not close(y, y_true, root_tol):
        as_own = math.isfinite(y64) and close(y, y64, root_tol)
        if not as_own:
            problems.append(f"y = {y:.8g} is off the root {y_true:.8g} by more than {root_tol:.2g}")
    if not problems and math.isfinite(y):
        at = formulas.curve_point(case.curve.source, case.x, y)
        g = as_float(f32.get("dy_dx"))
        g_tol = rtol["formula"] * min(at.condition, 1e8) * (1 + abs(at.dy_dx))
        if not close(g, at.dy_dx, g_tol):
            shift = math.inf
            if math.isfinite(y64) and math.isfinite(g64):
                at64 = formulas.curve_point(case.curve.source, case.x, y64)
                shift = abs(at.dy_dx - at64.dy_dx) if at64.F_y != 0 else math.inf
            if close(g, g64, g_tol + shift) or (math.isinf(g) and g == g64):
                as_own = True
            else:
                problems.append(f"dy/dx = {g:.8g}, expected {at.dy_dx:.8g} (tol {g_tol:.2g})")
    if problems:
        j.add(
            "float32",
            "fail",
            "In float32: " + "; ".join(problems) + ".",
            hint="keep the input dtype and use dtype-aware tolerances (torch.finfo(dtype).eps)",
        )
    elif as_own:
        j.add(
            "float32",
            "pass",
            "In float32 the root and gradient agree with your own float64 answer within "
            "float32 tolerances (the other items judge that answer).",
        )
    else:
        j.add("float32", "pass", "float32 root and gradient are within float32 tolerances.")
