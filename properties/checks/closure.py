"""Judge ``closure_gradient``: parameters that reach the problem through a closure.

A layer's weights usually reach ``F`` (or ``f``) not as arguments but through a
closure: ``F = lambda x, y: net(x, y)``.  An ``autograd.Function`` that takes only
``x`` (or ``a``) as inputs gives such tensors no gradient, silently: autograd
finds no path to them, so ``.grad`` stays ``None`` and training does not move them,
a classic defect of implicit layers.  The probe adds a module's two parameters,
``theta`` (0-d) and ``phi`` (the state's shape), both 0 and requiring grad, to
``F`` or to ``f(a)(x)`` through a closure as ``theta + phi * state``, so the
solution is the case's own, and asks for the weighted gradient of each:

- curves: ``F + theta + phi * y``, ``dy/dtheta = -1 / F_y``, ``dy/dphi = -y / F_y``:
  expected ``-w / F_y`` and ``-w y / F_y``;
- maps: ``f(a)(x) + theta + phi * x``, with ``u = (I - f_x)^-T v``: expected
  ``v^T (I - f_x)^-1 1 = sum(u)`` for theta and ``u * x*`` (elementwise) for phi.

A layer that handles one parameter but not the other (the first of a tuple, or
only 0-d tensors) fails on the other.  Passing: the right gradients, or a refusal
that says so (an exception while the plain call works, or a warning); never a
silent ``None`` or zero.  The tolerance is that of the first-order checks
(``common.RTOL["true"]`` times the case's conditioning), plus what the returned
point allows: the closed form at the returned solution, and for maps the adjoint
stopped at ``tol`` (``allowance.adjoint_stop`` with ``f_a`` replaced by ``f_theta
= 1`` or ``f_phi = diag(x)``).
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
    wants = _expected(case, obs)
    got = {"theta": record.get("grad"), "phi": record.get("phi")}
    if "phi" not in record:  # an observation from before phi: theta alone
        wants.pop("phi")
    silent = [p for p, (want, tol) in wants.items() if _silent(got[p], want, tol)]
    if silent:
        warning = _warned(sub)
        if warning:
            j.add(
                NAME,
                "pass",
                f"{_names(silent)} {'is' if len(silent) == 1 else 'are'} not computed, and the "
                f"layer warned: {warning}.",
            )
            return
        how = (
            "None (the result has no autograd graph)"
            if not record.get("graph", True)
            else "None"
            if got[silent[0]] is None
            else "0"
        )
        others = [p for p in wants if p not in silent]
        j.add(
            NAME,
            "fail",
            f"{_names(silent)} came back {how} without an error or a warning"
            + (f", while {_names(others)} did not" if others else "")
            + f"; they are parameters of a module, 0 and requiring grad, that reaches the "
            f"problem only through a closure ({_ROLE}). True: "
            + ", ".join(f"{p} {_text(wants[p][0])}" for p in silent)
            + f". {_FIX}",
            error=max(max(map(abs, wants[p][0])) for p in silent),
            tol=max(wants[p][1] for p in silent),
            expected=_scalar(wants[silent[0]][0]),
            got=0.0 if got[silent[0]] is None else _scalar(_floats(got[silent[0]])),
        )
        j.results[-1] = dataclasses.replace(j.results[-1], diagnosis=("no_gradient",))
        return
    errors = {p: _error(_floats(got[p]), want) for p, (want, _) in wants.items()}
    ok = all(errors[p] <= wants[p][1] for p in wants)
    theta, theta_tol = wants["theta"]
    value = _floats(got["theta"])[0]
    # f_theta = 1 alone, without (I - f_x)^-1: v^T 1 (a one-step or "phantom" gradient).
    alone = sum(float(t) for t in obs.get("weights") or ()) if isinstance(case, MapCase) else None
    missing = (
        not ok
        and alone is not None
        and abs(alone) > theta_tol
        and abs(value - alone) <= theta_tol
        and abs(alone - theta[0]) > 2 * theta_tol
    )
    why = (
        f" theta's is v^T f_theta = {alone:.10g} alone: the inverse (I - f_x)^-1 is missing "
        "(a one-step gradient)."
        if missing
        else f" {_FIX}"
    )
    worst = max(wants, key=lambda p: errors[p] / max(wants[p][1], 1e-300))
    j.add(
        NAME,
        "pass" if ok else "fail",
        "The gradients of a closure module's parameters: "
        + "; ".join(
            f"{p} {_text(_floats(got[p]))}, expected {_text(want)} (error {errors[p]:.2g} "
            f"{'<=' if errors[p] <= tol else '>'} {tol:.2g})"
            for p, (want, tol) in wants.items()
        )
        + "."
        + ("" if ok else why),
        error=errors[worst],
        tol=wants[worst][1],
        expected=_scalar(wants[worst][0]),
        got=_scalar(_floats(got[worst])),
    )
    if missing:
        j.results[-1] = dataclasses.replace(j.results[-1], diagnosis=("missing_inverse",))


_ROLE = "theta added to the problem, phi multiplying the state"


def _floats(value: Any) -> list[float]:
    """An observation's number or list as floats (None -> [0.0])."""
    if value is None:
        return [0.0]
    return [as_float(t) for t in (value if isinstance(value, list) else [value])]


def _silent(got: Any, want: list[float], tol: float) -> bool:
    """No gradient (None, or all zeros) where the true one is not within ``tol`` of 0."""
    return max(map(abs, want)) > tol and all(t == 0.0 for t in _floats(got))


def _error(got: list[float], want: list[float]) -> float:
    if len(got) != len(want) or not all(math.isfinite(t) for t in got):
        return math.inf
    return max(abs(g - w) for g, w in zip(got, want))


def _names(params: list[str]) -> str:
    return " and ".join(f"{p}'s gradient" for p in params)


def _text(values: list[float]) -> str:
    return (
        f"{values[0]:.10g}"
        if len(values) == 1
        else "[" + ", ".join(f"{t:.6g}" for t in values) + "]"
    )


def _scalar(values: list[float]) -> float | list[float]:
    return values[0] if len(values) == 1 else values


def _expected(case: CurveCase | MapCase, obs: Observation) -> dict[str, tuple[list[float], float]]:
    """Parameter -> ``(expected gradient, tolerance)``: ``theta`` (one number) and ``phi``
    (one per component of the state)."""
    rtol = RTOL.get(str(obs.get("dtype", "float64")), RTOL["float64"])["true"]
    if isinstance(case, CurveCase):
        w = as_float((obs.get("conformance") or {}).get(NAME, {}).get("weight", 1.0))
        y_true = float(case.y_true)

        def curve_form(y: float) -> tuple[float, float]:
            F_y = formulas.curve_point(case.curve.source, case.x, y).F_y
            return -w / F_y, -w * y / F_y  # F_theta = 1, F_phi = y

        wants = curve_form(y_true)
        tols = [rtol * case.condition * (1 + abs(t)) for t in wants]
        y = as_float(obs.get("y"))
        if math.isfinite(y) and formulas.curve_point(case.curve.source, case.x, y).F_y != 0:
            tols = [t + abs(s - u) for t, s, u in zip(tols, curve_form(y), wants)]
        return {"theta": ([wants[0]], tols[0]), "phi": ([wants[1]], tols[1])}
    v = [float(t) for t in obs.get("weights") or [1.0] * case.m]

    def adjoint(x: list[Any]) -> list[float]:
        f_x = formulas.map_point(case.f_source, case.a, x, case.scalar).f_x
        J = mpmath.eye(case.m) - mpmath.matrix(f_x)
        u = mpmath.lu_solve(J.T, mpmath.matrix(v))
        return [float(t) for t in u]  # (I - f_x)^-T v

    forms = {
        "theta": lambda x: [[sum(adjoint(x))]],  # v^T (I - f_x)^-1 1
        "phi": lambda x: [[u * float(t)] for u, t in zip(adjoint(x), x)],  # u * x, elementwise
    }
    x_star = list(case.x_star)
    sigma = max(case.sigma_min, 1e-12)
    weight = 1 + sum(abs(t) for t in v)
    x = [as_float(t) for t in obs.get("x") or ()]
    returned = len(x) == case.m and all(math.isfinite(t) for t in x)
    out = {}
    for name, form in forms.items():
        want = [row[0] for row in form(x_star)]
        size = max(map(abs, want))
        tol = (rtol / sigma + 10 * case.tol / sigma**2) * (1 + size) * weight
        if returned:
            at_x = formulas.map_point(case.f_source, case.a, x, case.scalar)
            radius = allowance.point_radius(case, as_float(obs.get("residual")), sigma)
            tol += allowance.largest_change(form, x, radius)
            tol += max(abs(row[0] - t) for row, t in zip(form(x), want))
            f_p = [[1.0] for _ in x] if name == "theta" else [[t] for t in x]
            tol += weight * allowance.adjoint_stop(case, dataclasses.replace(at_x, f_a=f_p))
        out[name] = (want, tol)
    return out
