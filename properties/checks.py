"""Judge an observation: ``judge(case, observation) -> list[CheckResult]``.

Pure: reads a case (``records.CurveCase``/``MapCase``) and the plain dict that
``probe.observe`` returned, and says what it means.  It never runs the code under
test, never prints, plots or grades.

Two questions are kept apart (DESIGN.md, "The verification model"):

- *Is the root right?*  ``root`` (``x_star`` for maps) compares the returned value
  with the true root, under a tolerance scaled by the case's conditioning.
- *Is the gradient formula right?*  ``dy_dx_formula`` (``dx_da_formula``) compares
  the returned gradient with the closed form evaluated at the *returned* root,
  tightly; ``dy_dx_true`` (``dx_da_true``) compares it with the true value, under a
  tolerance scaled by the conditioning.  So an inaccurate root fails ``root`` and
  ``*_true`` (whose message says the root is to blame) but not ``*_formula``; a
  wrong formula fails ``*_formula`` whatever the root.

Degenerate cases (``case.degenerate``) get status "degenerate" for every value
check; at exactly degenerate points (``dy_dx == "nan"``) ``degenerate_behaviour``
requires an error, a warning or a non-finite value.

Tolerances (``error <= tol``), with ``eps`` the machine epsilon of the dtype
(``RTOL`` below): root ``RTOL["root"] * condition * (1 + |y*|)``; formula
``RTOL["formula"] * condition_at_returned * (1 + |dy/dx|)``; true
``RTOL["true"] * condition * (1 + |dy/dx|)``; maps replace ``condition`` by
``1 / sigma_min`` and add the stopping tolerance ``tol / sigma_min`` to the root's.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from typing import Any

from properties import formulas
from properties.records import CheckResult, CurveCase, MapCase, Status

Case = CurveCase | MapCase
Observation = dict[str, Any]

#: Relative tolerances per dtype (see the module docstring).
RTOL: dict[str, dict[str, float]] = {
    "float64": {"root": 1e-8, "formula": 1e-8, "true": 1e-6, "d2": 1e-6, "upstream": 1e-9},
    "float32": {"root": 1e-4, "formula": 1e-4, "true": 1e-3, "d2": 1e-3, "upstream": 1e-5},
}
#: Finite-difference agreement required besides torch's gradcheck.
FD_RTOL = 1e-3
#: Graph nodes a result may gain when the tolerance tightens (0: must not grow).
GRAPH_SLACK = 0
#: How far from the returned x* the backward may evaluate f (relative).
BACKWARD_POINT_RTOL = {"float64": 1e-8, "float32": 1e-4}

VALUE_CHECKS_EXEMPT = ("no_mutation", "degenerate_behaviour")

HINTS = {
    "sign": "opposite sign: the implicit function theorem gives dy/dx = -F_x / F_y "
    "(for maps, dx/da = +(I - f_x)^-1 f_a); check the minus sign",
    "y0": "evaluated at the start y0: evaluate F_x and F_y at the returned root y",
    "inverted": "inverted ratio: you return -F_y / F_x; dy/dx = -F_x / F_y",
    "missing_inverse": "forgot (I - f_x)^-1: your gradient equals f_a alone; solve "
    "(I - f_x)^T u = v, then return u^T f_a",
    "transposed": "transposed Jacobian: you solve (I - f_x) u = v; the vector-Jacobian "
    "product needs (I - f_x)^T u = v (right only for symmetric f_x)",
    "x0": "Jacobian at x0: evaluate f_x and f_a at the fixed point x*, not at the start x0",
    "grad_output": "ignores grad_output: multiply by the incoming gradient (vjp) instead of "
    "using ones",
    "unrolled": "unrolled: the gradient is taken through the iterations; iterate under "
    "torch.no_grad() and attach the implicit gradient with a custom autograd.Function",
    "root": "inaccurate root: the gradient formula is right at your y, but y is not the root; "
    "tighten the solver's tolerance",
    "x_star": "inaccurate fixed point: the formula is right at your x, but x is not x*; "
    "iterate until distance(x, x_prev) <= tol",
}


# ------------------------------------------------------------------------ helpers


def _float(value: Any) -> float:
    """A float from an observation or case field ("nan", None -> NaN)."""
    if value is None:
        return math.nan
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


def _close(got: float, want: float, tol: float) -> bool:
    return math.isfinite(got) and math.isfinite(want) and abs(got - want) <= tol


def _max_abs_diff(got: Sequence[Sequence[float]], want: Sequence[Sequence[float]]) -> float:
    if len(got) != len(want) or any(len(g) != len(w) for g, w in zip(got, want)):
        return math.inf
    diffs = [abs(g - w) for gr, wr in zip(got, want) for g, w in zip(gr, wr)]
    return max(diffs, default=0.0) if all(math.isfinite(d) for d in diffs) else math.inf


def _max_abs(rows: Sequence[Sequence[float]]) -> float:
    return max((abs(v) for row in rows for v in row), default=0.0)


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.10g}"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_fmt(v) for v in value) + "]"
    return str(value)


def call_text(case: Case) -> str:
    """How messages name the candidate's call: ``fixed_point(...)`` (maps) or ``solve(...)``."""
    if isinstance(case, MapCase):
        return "fixed_point(f, a, x0, distance, tol)"
    return "solve(F, x, y0)"


def _error_text(error: dict[str, Any] | None) -> str:
    if not error:
        return ""
    return f"{error.get('type', 'Exception')}: {error.get('message', '')}"


def weights_for(case: Case) -> tuple[float, ...]:
    """Deterministic random upstream weights for ``case`` (same case, same weights).

    Invariant: each weight has magnitude in [0.5, 2] and differs from 1 by more
    than 0.2; for maps ``|sum(v) - 1| > 0.2`` too, so that ignoring ``grad_output``
    (using ones) is always visible.
    """
    digest = hashlib.sha256(case.text().encode()).digest()
    n = case.m if isinstance(case, MapCase) else 1
    out = []
    for i in range(n):
        u = digest[2 * i] / 255
        sign = -1.0 if digest[2 * i + 1] % 3 == 0 else 1.0
        w = sign * (0.5 + 1.5 * u)
        if abs(w - 1.0) <= 0.2:
            w = 1.5
        out.append(round(w, 6))
    if n > 1 and abs(sum(out) - 1.0) <= 0.2:
        out[0] += 1.0
    return tuple(out)


#: gradcheck's absolute tolerance (``probe._GRADCHECK_OPTIONS``, which the probe,
#: self-contained, keeps on its own).
GRADCHECK_ATOL = 1e-5


def _fd_step_for(d3y_dx3: float) -> float:
    """The largest central-difference step whose truncation error,
    ``|d3y_dx3| eps**2 / 6``, is at most 1 % of ``GRADCHECK_ATOL`` (inf: no bound)."""
    if not math.isfinite(d3y_dx3) or d3y_dx3 == 0:
        return math.inf
    return math.sqrt(6 * 0.01 * GRADCHECK_ATOL / abs(d3y_dx3))


def wire_for(case: Case, dtype: str | None = None) -> dict[str, Any]:
    """What to send to ``probe.observe`` for ``case``: its wire plus weights and batch.

    Curve batches are ``x`` and two neighbours close enough to stay on the same
    branch (closer to the point the more degenerate it is).
    """
    if isinstance(case, MapCase):
        wire = case.wire(weights=weights_for(case))
        if case.degenerate:
            wire["skip"] = ["gradcheck"]
        return wire
    wire = case.wire(dtype=dtype or "float64", weight=weights_for(case)[0])
    if case.degenerate:
        # Finite differences cross the vertical tangent there: meaningless and slow.
        wire["skip"] = ["gradcheck"]
    x = float(case.x)
    # Finite differences and batch neighbours must stay well inside the distance
    # to the nearest vertical tangent: it shrinks like degeneracy**2 (e.g. 1 - x
    # on a circle), and more where the branch bends sharply (``fold_distance``:
    # a fold 0.005 away though F_y = F_x = 1 at the point).
    point = formulas.curve_point(case.curve.source, case.x, case.y_true)
    reach = min(1.0, case.degeneracy**2, point.fold_distance)
    # gradcheck's central differences must also be accurate where the third
    # derivative is huge (y = -2**24 x**3: dy/dx = 0 at 0, d3y/dx3 = -1e8).
    wire["gradcheck_eps"] = min(1e-6 * reach, _fd_step_for(point.d3y_dx3))
    h = 1e-2 * reach * (1.0 + abs(x))
    wire["batch_x"] = [x, x + h, x - h]
    wire["batch_y0"] = [case.y0] * 3
    return wire


class _Judge:
    """Builds ``CheckResult``s that carry the case's family, text and degeneracy."""

    def __init__(self, case: Case) -> None:
        self.case = case
        self.results: list[CheckResult] = []

    def add(
        self,
        name: str,
        status: Status,
        message: str,
        *,
        error: float = math.nan,
        tol: float = math.nan,
        hint: str = "",
        expected: Any = "",
        got: Any = "",
        details: tuple[tuple[str, Any], ...] = (),
    ) -> CheckResult:
        if self.case.degenerate and name not in VALUE_CHECKS_EXEMPT and status != "pass":
            message = (
                f"(degenerate case, degeneracy {self.case.degeneracy:.2g}: not counted) {message}"
            )
        if self.case.degenerate and name not in VALUE_CHECKS_EXEMPT:
            status = "degenerate"
        result = CheckResult(
            name=name,
            status=status,
            error=float(error),
            tol=float(tol),
            family=self.case.family,
            case=self.case.text(),
            message=message,
            hint=hint,
            expected=_fmt(expected),
            got=_fmt(got),
            degeneracy=float(self.case.degeneracy),
            details=details,
        )
        self.results.append(result)
        return result

    def compare(
        self,
        name: str,
        what: str,
        got: float,
        want: float,
        tol: float,
        fix: str,
        **kwargs: Any,
    ) -> CheckResult:
        error = abs(got - want) if math.isfinite(got) and math.isfinite(want) else math.inf
        if error <= tol:
            message = f"{what} = {got:.10g} matches {want:.10g} (error {error:.2g} <= {tol:.2g})."
            return self.add(name, "pass", message, error=error, tol=tol, expected=want, got=got)
        message = (
            f"{what} = {got:.10g}, expected {want:.10g}: error {error:.2g} > tol {tol:.2g}. {fix}"
        )
        return self.add(
            name, "fail", message, error=error, tol=tol, expected=want, got=got, **kwargs
        )

    def failed(self, name: str) -> bool:
        return any(r.name == name and r.status == "fail" for r in self.results)


# ------------------------------------------------------------------------ entry


def judge(case: Case, observation: Observation) -> list[CheckResult]:
    """All checks of one case.

    Args:
        case: the case the observation was made on.
        observation: ``probe.observe(wire_for(case), candidate)``.

    Returns:
        One ``CheckResult`` per property, in a fixed order.  A candidate that
        raised on the plain call gets a single "call" result (status "error",
        or "degenerate"/a behaviour pass at degenerate points).
    """
    if isinstance(case, MapCase):
        return _judge_map(case, observation)
    return _judge_curve(case, observation)


# ------------------------------------------------------------------------ curves


def _exactly_degenerate(case: CurveCase) -> bool:
    return math.isnan(_float(case.dy_dx))


def _judge_curve(case: CurveCase, obs: Observation) -> list[CheckResult]:
    j = _Judge(case)
    dtype = obs.get("dtype", "float64")
    rtol = RTOL.get(dtype, RTOL["float64"])
    if _exactly_degenerate(case):
        _degenerate_behaviour(j, obs)
    if "call_error" in obs:
        j.add(
            "call",
            "error",
            f"{call_text(case)} raised {_error_text(obs['call_error'])}. It should return y "
            "with F(x, y) = 0 near y0.",
        )
        return j.results

    y_true = _float(case.y_true)
    y = _float(obs.get("y"))
    x = float(case.x)
    dy_dx_true = _float(case.dy_dx)
    cond = case.condition

    _shape_dtype(j, obs, expected_shape=[], dtype=dtype)
    root_tol = rtol["root"] * cond * (1 + abs(y_true))
    root_error = abs(y - y_true) if math.isfinite(y) else math.inf
    j.compare(
        "root",
        "y",
        y,
        y_true,
        root_tol,
        "The returned y is not the root near y0: tighten the solver's tolerance or raise "
        "its iteration cap.",
        details=(("y", y), ("root_error", root_error)),
    )
    true_point = formulas.curve_point(case.curve.source, case.x, case.y_true)
    grad_norm = math.hypot(true_point.F_x, true_point.F_y)
    residual = _float(obs.get("residual"))
    res_tol = max(root_tol * grad_norm, 1e3 * _eps(dtype) * max(1.0, grad_norm))
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
            "not solve F(x, y) = 0; iterate until |F| is at round-off level.",
            error=residual,
            tol=res_tol,
            got=residual,
            details=(("residual", residual),),
        )

    at_y = formulas.curve_point(case.curve.source, x, y) if math.isfinite(y) else None
    dy_dx = _float(obs.get("dy_dx"))
    _curve_formula(j, obs, case, at_y, dy_dx, rtol)
    _curve_true(j, obs, at_y, dy_dx, dy_dx_true, rtol["true"] * cond * (1 + abs(dy_dx_true)))
    _curve_upstream(j, obs, dy_dx, at_y, rtol)
    _curve_d2(j, obs, at_y, rtol)
    _gradcheck(j, obs, dy_dx, root_failed=j.failed("root"))
    _curve_batch(j, obs, case, rtol)
    if "float32" in obs or "float32_error" in obs:
        _curve_float32(j, obs, case)
    _no_mutation(j, obs, ("x", "y0"))
    _zero_start_grad(j, obs, "y0_grad", "y0")
    return j.results


def _eps(dtype: str) -> float:
    return 1.1920929e-07 if dtype == "float32" else 2.220446049250313e-16


def _shape_dtype(j: _Judge, obs: Observation, *, expected_shape: list[int], dtype: str) -> None:
    key = "x" if "x_shape" in obs else "y"
    shape, got_dtype = obs.get(f"{key}_shape"), obs.get(f"{key}_dtype")
    if shape == expected_shape and got_dtype == dtype:
        j.add("shape_dtype", "pass", f"Returned shape {shape} and dtype {dtype}.")
        return
    j.add(
        "shape_dtype",
        "fail",
        f"Returned shape {shape} and dtype {got_dtype}; expected shape {expected_shape} "
        f"and dtype {dtype} (those of the start). Keep the start's shape and dtype.",
        expected=f"{expected_shape} {dtype}",
        got=f"{shape} {got_dtype}",
    )


def _curve_formula(
    j: _Judge,
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
            f"Backward raised {_error_text(obs['dy_dx_error'])}: y.backward() must give dy/dx.",
        )
        return
    if at_y is None or not math.isfinite(at_y.dy_dx):
        j.add("dy_dx_formula", "error", "The returned y is not finite: no formula to compare with.")
        return
    want = at_y.dy_dx
    tol = rtol["formula"] * min(at_y.condition, 1e8) * (1 + abs(want))
    hint = ""
    if not _close(dy_dx, want, tol):
        at_y0 = formulas.curve_point(case.curve.source, case.x, case.y0)
        if _close(dy_dx, -want, tol):
            hint = HINTS["sign"]
        elif _close(dy_dx, at_y0.dy_dx, max(tol, 1e-9 * abs(at_y0.dy_dx))):
            hint = HINTS["y0"]
        elif at_y.F_x != 0 and _close(dy_dx, -at_y.F_y / at_y.F_x, tol):
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
    j: _Judge,
    obs: Observation,
    at_y: formulas.CurvePoint | None,
    dy_dx: float,
    want: float,
    tol: float,
) -> None:
    if "dy_dx_error" in obs or at_y is None:
        j.add("dy_dx_true", "error", "No gradient to compare with the true dy/dx.")
        return
    formula_ok = not j.failed("dy_dx_formula")
    root_blamed = formula_ok and j.failed("root")
    fix = (
        "Your gradient is right for the y you returned, but that y is not the root: fix the "
        "root and this follows."
        if root_blamed
        else "The gradient differs from the true dy/dx; see dy_dx_formula."
    )
    j.compare(
        "dy_dx_true",
        "dy/dx",
        dy_dx,
        want,
        tol,
        fix,
        hint=HINTS["root"] if root_blamed else "",
        details=(("dy_dx", dy_dx),),
    )


def _curve_upstream(
    j: _Judge,
    obs: Observation,
    dy_dx: float,
    at_y: formulas.CurvePoint | None,
    rtol: dict[str, float],
) -> None:
    w = _float(obs.get("weight", 1.0))
    if "weighted_grad_error" in obs:
        j.add(
            "upstream",
            "error",
            f"Backward with grad_output = {w:g} raised {_error_text(obs['weighted_grad_error'])}.",
        )
        return
    got = _float(obs.get("weighted_grad"))
    base = dy_dx if math.isfinite(dy_dx) else (at_y.dy_dx if at_y else math.nan)
    want = w * base
    tol = rtol["upstream"] * max(1.0, min(at_y.condition if at_y else 1.0, 1e8)) * (1 + abs(want))
    hint = HINTS["grad_output"] if not _close(got, want, tol) and _close(got, base, tol) else ""
    j.compare(
        "upstream",
        f"the gradient of {w:g} * y",
        got,
        want,
        tol,
        f"With grad_output = {w:g} the gradient must be {w:g} * dy/dx: multiply by "
        "grad_output in backward.",
        hint=hint,
    )


def _curve_d2(
    j: _Judge, obs: Observation, at_y: formulas.CurvePoint | None, rtol: dict[str, float]
) -> None:
    if "d2y_dx2_error" in obs:
        j.add(
            "d2y_dx2",
            "error",
            "Double backward (create_graph=True) failed: "
            f"{_error_text(obs['d2y_dx2_error'])}. Build backward from differentiable torch "
            "ops on tensors that keep their graph (no .detach() of x, no .item()).",
        )
        return
    if at_y is None or not math.isfinite(at_y.d2y_dx2):
        j.add("d2y_dx2", "error", "The returned y is not finite: no second derivative to check.")
        return
    got = _float(obs.get("d2y_dx2"))
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


def _gradcheck(j: _Judge, obs: Observation, grad: float | None, *, root_failed: bool) -> None:
    gc = obs.get("gradcheck")
    if gc is None:
        if "gradcheck_error" in obs:
            j.add("gradcheck", "error", f"gradcheck raised {_error_text(obs['gradcheck_error'])}.")
        return
    fd = _float(gc.get("fd_dy_dx"))
    fd_ok = grad is None or not math.isfinite(fd) or _close(grad, fd, FD_RTOL * (1 + abs(fd)))
    if gc.get("passed") and fd_ok:
        j.add("gradcheck", "pass", "torch.autograd.gradcheck (float64) passed.")
        return
    reason = _error_text(gc.get("error")) or (
        f"the gradient {grad:.10g} differs from the central difference {fd:.10g}"
    )
    message = f"torch.autograd.gradcheck in float64 failed: {reason[:200]}."
    if root_failed:
        message += (
            " Your root is inaccurate, so finite differences of it are noise: fix the root first."
        )
    j.add("gradcheck", "fail", message, hint=HINTS["root"] if root_failed else "")


def _curve_batch(j: _Judge, obs: Observation, case: CurveCase, rtol: dict[str, float]) -> None:
    if "batch_error" in obs:
        j.add(
            "batch",
            "error",
            f"solve(F, x, y0) on a batch of 3 points raised {_error_text(obs['batch_error'])}. "
            "x and y0 may be batched (shape (n,)): solve the problems independently.",
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
    worst, problems, hint = 0.0, [], ""
    for i in range(n):
        x_i, w_i = batch["x"][i], batch["weights"][i]
        y_b, y_s = _float(batch["y"][i]), _float(batch["single_y"][i])
        g_b = _float(batch["grad"][i])
        if not math.isfinite(y_b):
            problems.append(f"y[{i}] is {y_b}")
            continue
        at = formulas.curve_point(case.curve.source, x_i, y_b)
        g_tol = rtol["formula"] * min(at.condition, 1e8) * (1 + abs(w_i * at.dy_dx)) * 10
        err_g = abs(g_b - w_i * at.dy_dx) if math.isfinite(g_b) else math.inf
        if err_g > g_tol:
            if w_i != 1.0 and _close(g_b, at.dy_dx, g_tol):
                hint = HINTS["grad_output"]
            problems.append(
                f"the gradient of sum(w * y) w.r.t. x[{i}] is {g_b:.6g}, expected "
                f"w[{i}] * dy/dx = {w_i * at.dy_dx:.6g}"
            )
        worst = max(worst, err_g / g_tol)
        if math.isfinite(y_s) and abs(at.F_y) > 0:
            r_b, r_s = _float(batch["residual"][i]), _float(batch["single_residual"][i])
            y_tol = rtol["root"] * case.condition * (1 + abs(y_s)) + 2 * (r_b + r_s) / abs(at.F_y)
            if abs(y_b - y_s) > y_tol:
                problems.append(
                    f"y[{i}] = {y_b:.10g} in the batch but {y_s:.10g} alone "
                    f"(differs by {abs(y_b - y_s):.2g})"
                )
    if problems:
        j.add(
            "batch",
            "fail",
            "Batched call disagrees with one-by-one calls: "
            + "; ".join(problems[:3])
            + ". Solve the problems of a batch independently and scale each gradient by its "
            "own grad_output.",
            error=worst,
            tol=1.0,
            hint=hint,
        )
    else:
        j.add("batch", "pass", f"A batch of {n} agrees with one-by-one calls.")


def _curve_float32(j: _Judge, obs: Observation, case: CurveCase) -> None:
    if "float32_error" in obs:
        j.add(
            "float32",
            "error",
            f"solve in float32 raised {_error_text(obs['float32_error'])}.",
        )
        return
    f32 = obs["float32"]
    rtol = RTOL["float32"]
    y_true = _float(case.y_true)
    y = _float(f32.get("y"))
    problems = []
    if f32.get("y_dtype") != "float32":
        problems.append(f"returned dtype {f32.get('y_dtype')} for float32 inputs")
    root_tol = rtol["root"] * case.condition * (1 + abs(y_true))
    if not _close(y, y_true, root_tol):
        problems.append(f"y = {y:.8g} is off the root {y_true:.8g} by more than {root_tol:.2g}")
    elif math.isfinite(y):
        at = formulas.curve_point(case.curve.source, case.x, y)
        g = _float(f32.get("dy_dx"))
        g_tol = rtol["formula"] * min(at.condition, 1e8) * (1 + abs(at.dy_dx))
        if not _close(g, at.dy_dx, g_tol):
            problems.append(f"dy/dx = {g:.8g}, expected {at.dy_dx:.8g} (tol {g_tol:.2g})")
    if problems:
        j.add(
            "float32",
            "fail",
            "In float32: " + "; ".join(problems) + ". Keep the input dtype and use "
            "dtype-aware tolerances (torch.finfo(dtype).eps).",
        )
    else:
        j.add("float32", "pass", "float32 root and gradient are within float32 tolerances.")


def _no_mutation(j: _Judge, obs: Observation, names: tuple[str, ...]) -> None:
    mutated = obs.get("mutated") or []
    if mutated:
        j.add(
            "no_mutation",
            "fail",
            f"Your code modified its input(s) {', '.join(mutated)} in place; work on a "
            "copy (x.clone()) instead.",
            got=", ".join(mutated),
        )
    else:
        j.add("no_mutation", "pass", f"Inputs {', '.join(names)} left unchanged.")


def _zero_start_grad(j: _Judge, obs: Observation, key: str, start: str) -> None:
    name = f"{start}_grad"
    if f"{key}_error" in obs:
        j.add(
            name,
            "error",
            f"Calling with {start}.requires_grad=True failed: "
            f"{_error_text(obs[f'{key}_error'])}. Do not modify {start} in place.",
        )
        return
    value = obs.get(key)
    values = value if isinstance(value, list) else [value]
    floats = [_float(v) for v in values]
    size = max((abs(v) if math.isfinite(v) else math.inf for v in floats), default=0.0)
    if size == 0.0:
        j.add(name, "pass", f"The gradient w.r.t. the start {start} is zero.")
        return
    unrolled = math.isfinite(size) and size < 1e-3
    j.add(
        name,
        "fail",
        f"The gradient w.r.t. the start {start} is {_fmt(floats)}, not zero: the solution "
        f"does not depend on where the iteration starts; return None (or zeros) for {start}.",
        error=size,
        tol=0.0,
        got=floats,
        hint=HINTS["unrolled"] if unrolled else "",
    )


def _degenerate_behaviour(j: _Judge, obs: Observation) -> None:
    """At an exactly degenerate point, require an error, a warning or a non-finite value."""
    signals = []
    for stage in ("call", "weighted_grad", "dy_dx"):
        if f"{stage}_error" in obs:
            signals.append(f"{stage} raised {obs[f'{stage}_error'].get('type')}")
    if obs.get("warnings"):
        signals.append(f"warned: {obs['warnings'][0].get('message', '')[:80]}")
    for key in ("y", "dy_dx", "weighted_grad"):
        value = _float(obs.get(key)) if key in obs else 0.0
        if not math.isfinite(value):
            signals.append(f"{key} = {value}")
    if signals:
        j.add(
            "degenerate_behaviour",
            "pass",
            "At this exactly degenerate point (F_y = 0) the implementation signalled it: "
            + "; ".join(signals[:3])
            + ".",
        )
        return
    got = _float(obs.get("dy_dx"))
    j.add(
        "degenerate_behaviour",
        "fail",
        f"At this exactly degenerate point (F_y = 0, the tangent is vertical) you returned "
        f"a finite dy/dx = {got:.6g} without a warning or error. Check |F_y| in backward "
        "and raise (or warn and return inf/nan) when it is (near) zero.",
        got=got,
        expected="an error, a warning, or a non-finite value",
        hint="no check of F_y == 0 before dividing by it",
    )


# -------------------------------------------------------------------------- maps


def _judge_map(case: MapCase, obs: Observation) -> list[CheckResult]:
    j = _Judge(case)
    dtype = case.dtype
    rtol = RTOL.get(dtype, RTOL["float64"])
    if "call_error" in obs:
        j.add(
            "call",
            "error",
            f"{call_text(case)} raised {_error_text(obs['call_error'])}. "
            "It should iterate x <- f(a)(x) until distance(x, x_prev) <= tol.",
        )
        return j.results
    sigma = max(case.sigma_min, 1e-12)
    x_true = [_float(v) for v in case.x_star]
    x = [_float(v) for v in obs.get("x") or []]
    expected_shape = [] if case.scalar else [case.m]
    _shape_dtype(j, obs, expected_shape=expected_shape, dtype=dtype)

    scale = 1 + max(abs(v) for v in x_true)
    x_tol = 10 * case.tol / sigma + rtol["root"] * scale / sigma
    x_err = max((abs(a - b) for a, b in zip(x, x_true)), default=math.inf)
    if len(x) != len(x_true) or not math.isfinite(x_err):
        x_err = math.inf
    _map_x_star(j, x, x_true, x_err, x_tol)
    residual = _float(obs.get("residual"))
    res_tol = 10 * case.tol + 100 * _eps(dtype) * scale
    j.add(
        "residual",
        "pass" if residual <= res_tol else "fail",
        f"|f(a)(x) - x| = {residual:.2g} at the returned x"
        + (
            f" <= {res_tol:.2g}."
            if residual <= res_tol
            else f", more than {res_tol:.2g}: x is not a fixed point; iterate until "
            "distance(x, x_prev) <= tol."
        ),
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
    _map_formula(j, obs, case, at_x, jac, rtol)
    _map_true(j, case, jac, rtol, sigma, at_x if x_err <= x_tol else None)
    _map_upstream(j, obs, jac, at_x, rtol)
    _graph_growth(j, obs)
    _backward_points(j, obs, case, x)
    if "gradcheck" in obs or "gradcheck_error" in obs:
        _gradcheck(j, obs, None, root_failed=j.failed("x_star"))
    _no_mutation(j, obs, ("a", "x0"))
    _zero_start_grad(j, obs, "x0_grad", "x0")
    return j.results


def _jacobian(obs: Observation) -> list[list[float]] | None:
    rows = obs.get("jacobian")
    if not rows or any(r is None for r in rows):
        return None
    return [[_float(v) for v in row] for row in rows]


def _map_x_star(j: _Judge, x: list[float], x_true: list[float], x_err: float, tol: float) -> None:
    details = (("x_star", x[0] if x else math.nan), ("root_error", x_err))
    if x_err <= tol:
        j.add(
            "x_star",
            "pass",
            f"x = {_fmt(x)} matches x* (error {x_err:.2g} <= {tol:.2g}).",
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
        f"x = {_fmt(x)}, but the fixed point is x* = {_fmt(x_true)}: error {x_err:.2g} > tol "
        f"{tol:.2g}. Iterate until distance(x, x_prev) <= tol (do not stop after a fixed "
        "number of steps).",
        error=x_err,
        tol=tol,
        expected=x_true,
        got=x,
        details=details,
    )


def _map_formula(
    j: _Judge,
    obs: Observation,
    case: MapCase,
    at_x: formulas.MapPoint | None,
    jac: list[list[float]] | None,
    rtol: dict[str, float],
) -> None:
    if "jacobian_error" in obs or jac is None:
        j.add(
            "dx_da_formula",
            "error",
            f"Backward raised {_error_text(obs.get('jacobian_error'))}: "
            "torch.autograd.grad(x, a, v) must give v^T dx/da.",
        )
        return
    if at_x is None:
        j.add("dx_da_formula", "error", "The returned x is not finite: nothing to compare with.")
        return
    want = at_x.dx_da
    sigma = max(at_x.sigma_min, 1e-12)
    tol = rtol["formula"] * (1 + _max_abs(want)) / sigma
    error = _max_abs_diff(jac, want)
    details = (("dx_da", jac[0][0] if jac and jac[0] else math.nan), ("dx_da_at_returned_x", want))
    if error <= tol:
        j.add(
            "dx_da_formula",
            "pass",
            f"dx/da matches (I - f_x)^-1 f_a at your x (error {error:.2g} <= {tol:.2g}).",
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
        f"dx/da = {_fmt(jac)}, but at your own x the implicit function theorem gives "
        f"(I - f_x)^-1 f_a = {_fmt(want)} (error {error:.2g} > tol {tol:.2g}).",
        error=error,
        tol=tol,
        expected=want,
        got=jac,
        hint=_map_hint(jac, want, at_x, case, tol),
        details=details,
    )


def _map_hint(
    jac: list[list[float]],
    want: list[list[float]],
    at_x: formulas.MapPoint,
    case: MapCase,
    tol: float,
) -> str:
    def near(other: list[list[float]]) -> bool:
        return _max_abs_diff(jac, other) <= max(tol, 1e-6 * (1 + _max_abs(other)))

    if near([[-v for v in row] for row in want]):
        return HINTS["sign"]
    if near(at_x.f_a):
        return HINTS["missing_inverse"]
    if near(at_x.dx_da_transposed):
        return HINTS["transposed"]
    at_x0 = formulas.map_point(case.f_source, case.a, case.x0, case.scalar)
    if near(at_x0.dx_da):
        return HINTS["x0"]
    column_sums = [[sum(want[i][c] for i in range(len(want))) for c in range(len(want[0]))]]
    if len(want) > 1 and near(column_sums * len(want)):
        return HINTS["grad_output"]
    return ""


def _map_true(
    j: _Judge,
    case: MapCase,
    jac: list[list[float]] | None,
    rtol: dict[str, float],
    sigma: float,
    at_accepted_x: formulas.MapPoint | None,
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
    want = [[_float(case.dx_da[i * case.k + c]) for c in range(case.k)] for i in range(case.m)]
    tol = rtol["true"] * (1 + _max_abs(want)) / sigma
    if at_accepted_x is not None:
        shift = _max_abs_diff(at_accepted_x.dx_da, want)
        tol += shift if math.isfinite(shift) else 0.0
    error = _max_abs_diff(jac, want)
    if error <= tol:
        j.add(
            "dx_da_true",
            "pass",
            f"dx/da matches the true value (error {error:.2g} <= {tol:.2g}).",
            error=error,
            tol=tol,
            expected=want,
            got=jac,
        )
        return
    root_blamed = not j.failed("dx_da_formula") and j.failed("x_star")
    fix = (
        "Your gradient is right at the x you returned, but that x is not the fixed point: "
        "iterate until distance(x, x_prev) <= tol and this follows."
        if root_blamed
        else "See dx_da_formula for the mistake."
    )
    j.add(
        "dx_da_true",
        "fail",
        f"dx/da = {_fmt(jac)}, true value {_fmt(want)}: error {error:.2g} > tol {tol:.2g}. {fix}",
        error=error,
        tol=tol,
        expected=want,
        got=jac,
        hint=HINTS["x_star"] if root_blamed else "",
    )


def _map_upstream(
    j: _Judge,
    obs: Observation,
    jac: list[list[float]] | None,
    at_x: formulas.MapPoint | None,
    rtol: dict[str, float],
) -> None:
    v = [_float(t) for t in obs.get("weights") or []]
    if "vjp_error" in obs:
        j.add(
            "upstream",
            "error",
            f"Backward with grad_output = {_fmt(v)} raised {_error_text(obs['vjp_error'])}.",
        )
        return
    got = [_float(t) for t in obs.get("vjp") or []]
    base = jac if jac is not None else (at_x.dx_da if at_x else None)
    if base is None:
        j.add("upstream", "error", "No Jacobian to compare the weighted gradient with.")
        return
    k = len(base[0])
    want = [sum(v[i] * base[i][c] for i in range(len(base))) for c in range(k)]
    sigma = max(at_x.sigma_min if at_x else 1.0, 1e-12)
    tol = rtol["upstream"] * (1 + max(abs(t) for t in want)) / sigma * 10
    error = _max_abs_diff([got], [want])
    if error <= tol:
        j.add(
            "upstream",
            "pass",
            f"v^T dx/da with v = {_fmt(v)} matches (error {error:.2g}).",
            error=error,
            tol=tol,
        )
        return
    true_jac = at_x.dx_da if at_x is not None else base
    ones = [sum(row[c] for row in true_jac) for c in range(k)]
    ignored = _max_abs_diff([got], [ones]) <= max(tol, 1e-6 * (1 + max(map(abs, ones))))
    j.add(
        "upstream",
        "fail",
        f"With grad_output v = {_fmt(v)} the gradient w.r.t. a is {_fmt(got)}, expected "
        f"v^T dx/da = {_fmt(want)} (error {error:.2g} > tol {tol:.2g}). Backward must "
        "multiply by grad_output.",
        error=error,
        tol=tol,
        expected=want,
        got=got,
        hint=HINTS["grad_output"] if ignored else "",
    )


def _graph_growth(j: _Judge, obs: Observation) -> None:
    if "graph_error" in obs:
        j.add(
            "graph_growth",
            "error",
            f"The call with a looser tol raised {_error_text(obs['graph_error'])}.",
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


def _backward_points(j: _Judge, obs: Observation, case: MapCase, x: list[float]) -> None:
    if "vjp_error" in obs or "backward_max_distance" not in obs:
        return
    calls = obs.get("backward_f_calls", 0)
    distance = _float(obs.get("backward_max_distance"))
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
    if abs(distance - x0_distance) <= 1e-6 * (1 + x0_distance):
        hint = HINTS["x0"]
    elif calls > 3:
        hint = HINTS["unrolled"]
    j.add(
        "backward_at_fixed_point",
        "fail",
        f"During backward f was evaluated {calls} time(s), at points up to {distance:.3g} "
        "away from the returned x*. The implicit gradient needs f_x and f_a at x* only; do "
        "not re-run the iteration or use x0 in backward.",
        error=distance,
        tol=tol,
        hint=hint,
    )
