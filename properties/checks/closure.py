"""Judge ``closure_gradient``: a parameter that reaches the problem through a closure.

A layer's weights usually reach ``F`` (or ``f``) not as arguments but through a
closure: ``F = lambda x, y: net(x, y)``.  An ``autograd.Function`` that takes only
``x`` (or ``a``) as inputs gives such a tensor no gradient, silently: autograd
finds no path to it, so ``.grad`` stays ``None`` and training does not move it,
a classic defect of implicit layers.  The probe adds ``theta = 0`` (requiring
grad) to ``F`` or to ``f(a)(x)`` through a closure, so the solution is the case's
own, and asks for the weighted gradient with respect to ``theta``:

- curves: ``F + theta``, ``dy/dtheta = -1 / F_y``: expected ``-w / F_y``;
- maps: ``f(a)(x) + theta`` (every component), ``dx*/dtheta = (I - f_x)^-1 1``:
  expected ``v^T (I - f_x)^-1 1``.

Passing: the right gradient, or a refusal that says so (an exception while the
plain call works, or a warning); never a silent ``None`` or zero.  The tolerance
is that of the first-order checks (``common.RTOL["true"]`` times the case's
conditioning), plus what the returned point allows: the closed form at the
returned solution, and for maps the adjoint stopped at ``tol``
(``allowance.adjoint_stop`` with ``f_a`` replaced by ``1``).
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import mpmath

from properties import formulas
from properties.checks import allowance
from properties.checks.common import RTOL, Judge, Observation, as_float, error_text
from properties.records import CurveCase, MapCase

__all__ = ["judge_closure"]

NAME = "closure_gradient"
_FIX = (
    "Every tensor that requires grad and reaches F through a closure must get its "
    "gradient (make it an input of your autograd.Function and return its vjp), or the "
    "layer must refuse it with an error or a warning."
)


def _warned(sub: dict[str, Any]) -> str:
    for w in sub.get("warnings") or ():
        if w.get("stage") == NAME:
            return f"{w.get('category', 'Warning')}: {w.get('message', '')}"
    return ""


def judge_closure(j: Judge, case: CurveCase | MapCase, obs: Observation) -> None:
    """Add the ``closure_gradient`` check of ``case`` to ``j`` (nothing when the plain
    call failed: a refusal then says nothing about closures)."""
    sub = obs.get("conformance") or {}
    if "call_error" in obs or (NAME not in sub and f"{NAME}_error" not in sub):
        return
    error = sub.get(f"{NAME}_error")
    if error is not None:
        timed_out = error.get("type") == "TimeoutError"
        j.add(
            NAME,
            "fail" if timed_out else "pass",
            f"With a parameter theta that reaches the problem through a closure, the call "
            f"raised {error_text(error)}"
            + (
                ": a stage must return within the deadline."
                if timed_out
                else ": refused, not silently dropped."
            ),
        )
        return
    record = sub.get(NAME) or {}
    want, tol = _expected(case, obs)
    got = record.get("grad")
    silent = got is None or (as_float(got) == 0.0 and abs(want) > tol)
    if silent and abs(want) > tol:
        warning = _warned(sub)
        if warning:
            j.add(
                NAME, "pass", f"theta's gradient is not computed, and the layer warned: {warning}."
            )
            return
        how = (
            "None (the result has no autograd graph)"
            if not record.get("graph", True)
            else "None"
            if got is None
            else "0"
        )
        j.add(
            NAME,
            "fail",
            f"theta = 0 requires grad and reaches the problem only through a closure; its "
            f"gradient came back {how} without an error or a warning, but the true "
            f"gradient is {want:.10g}. {_FIX}",
            error=abs(want),
            tol=tol,
            expected=want,
            got=0.0 if got is None else got,
        )
        j.results[-1] = dataclasses.replace(j.results[-1], diagnosis=("no_gradient",))
        return
    value = 0.0 if got is None else as_float(got)
    err = abs(value - want) if math.isfinite(value) else math.inf
    ok = err <= tol
    # f_theta = 1 alone, without (I - f_x)^-1: v^T 1 (a one-step or "phantom" gradient).
    alone = sum(float(t) for t in obs.get("weights") or ()) if isinstance(case, MapCase) else None
    missing = (
        not ok
        and alone is not None
        and abs(alone) > tol
        and abs(value - alone) <= tol
        and abs(alone - want) > 2 * tol
    )
    why = (
        f" It is v^T f_theta = {alone:.10g} alone: the inverse (I - f_x)^-1 is missing "
        "(a one-step gradient)."
        if missing
        else f" {_FIX}"
    )
    j.add(
        NAME,
        "pass" if ok else "fail",
        f"The gradient of a closure parameter theta is {value:.10g}, expected {want:.10g} "
        f"(error {err:.2g} {'<=' if ok else '>'} {tol:.2g})." + ("" if ok else why),
        error=err,
        tol=tol,
        expected=want,
        got=value,
    )
    if missing:
        j.results[-1] = dataclasses.replace(j.results[-1], diagnosis=("missing_inverse",))


def _expected(case: CurveCase | MapCase, obs: Observation) -> tuple[float, float]:
    """``(expected gradient, tolerance)`` of the closure parameter."""
    rtol = RTOL.get(str(obs.get("dtype", "float64")), RTOL["float64"])["true"]
    if isinstance(case, CurveCase):
        w = as_float((obs.get("conformance") or {}).get(NAME, {}).get("weight", 1.0))
        at = formulas.curve_point(case.curve.source, case.x, case.y_true)
        want = -w / at.F_y
        tol = rtol * case.condition * (1 + abs(want))
        y = as_float(obs.get("y"))
        if math.isfinite(y):
            shifted = formulas.curve_point(case.curve.source, case.x, y)
            if shifted.F_y != 0:
                tol += abs(-w / shifted.F_y - want)
        return want, tol
    v = [float(t) for t in obs.get("weights") or [1.0] * case.m]

    def closed_form(x: list[Any]) -> list[list[float]]:
        f_x = formulas.map_point(case.f_source, case.a, x, case.scalar).f_x
        J = mpmath.eye(case.m) - mpmath.matrix(f_x)
        u = mpmath.lu_solve(J.T, mpmath.matrix(v))
        return [[float(sum(u))]]  # v^T J^-1 1 = (J^-T v)^T 1

    want = closed_form(list(case.x_star))[0][0]
    sigma = max(case.sigma_min, 1e-12)
    weight = 1 + sum(abs(t) for t in v)
    tol = (rtol / sigma + 10 * case.tol / sigma**2) * (1 + abs(want)) * weight
    x = [as_float(t) for t in obs.get("x") or ()]
    if len(x) == case.m and all(math.isfinite(t) for t in x):
        at_x = formulas.map_point(case.f_source, case.a, x, case.scalar)
        radius = allowance.point_radius(case, as_float(obs.get("residual")), sigma)
        tol += allowance.largest_change(closed_form, x, radius)
        tol += abs(closed_form(x)[0][0] - want)
        ones = dataclasses.replace(at_x, f_a=[[1.0] for _ in range(case.m)])
        tol += weight * allowance.adjoint_stop(case, ones)
    return want, tol
