"""Where a returned point that misses the solution lies, measured at the point itself.

One Newton step from the returned point measures how far its own residual puts
the nearest zero: ``d = |F / F_y|`` for a curve, ``d = ||(I - f_x)^-1 (f(x) - x)||``
for a map, both evaluated exactly (``properties.formulas``).  Against the error
``e`` of the point (its distance from the solution of the case):

- ``e <= SLACK * d``: the point's own residual accounts for its error: it
  approximates the right solution and the solve stopped early
  (``inexact_forward``);
- ``e > SLACK * d``: a zero lies within about ``d`` of the point and it is not the
  solution; Newton's method polishes it exactly and, when it converges to a
  solution other than the case's, that one is named (``other_root``: another
  root at this x, or another fixed point of the map);
- curves only, first: the point is within ``|F_y / F_yy|`` (a Newton step for
  ``F_y``) of a point where ``F_y = 0``, at a distance far below ``e``, while
  ``F != 0``: the gradient ``2 F F_y`` of ``F**2`` vanishes there (a minimum when
  ``F * F_yy > 0``, else a maximum), where a solver that minimises ``F**2``
  (LBFGS, gradient descent: the notebook's) stops although no root is there
  (``stationary_point``).

Anything else returns None: the cause is not identified.  Every function here is
pure and cheap (a few closed-form evaluations, no call of the code under test).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import mpmath

from properties import formulas
from properties.exact import DPS
from properties.experiments import Finding
from properties.records import CurveCase, MapCase
from properties.roots import root_near

__all__ = ["SLACK", "curve_point_finding", "map_point_finding", "newton_step"]

#: A point's error is "accounted for by its residual" up to this many Newton steps
#: (the linear model errs at second order; a stopped solver is within a few steps).
SLACK = 10.0
#: Newton polishing of a map's fixed point: at most this many steps, to this size.
_POLISH_STEPS, _POLISH_TOL = 50, 1e-13


def curve_point_finding(case: CurveCase, y: float, tol: float) -> Finding | None:
    """What the returned ``y`` is, when it is not the root ``case.y_true`` (see above).

    Args:
        case: the curve case.
        y: the returned root (finite).
        tol: the root check's allowance (two roots closer than it are one).
    """
    y_true = float(case.y_true)
    e = abs(y - y_true)
    point = formulas.curve_point(case.curve.source, case.x, y)
    F, F_y, F_yy = point.F, point.F_y, point.F_yy
    if F != 0 and math.isfinite(F_yy) and F_yy != 0:
        s = abs(F_y / F_yy)
        if SLACK * s <= e:
            kind = "minimum" if F * F_yy > 0 else "maximum"
            return Finding(
                ("stationary_point",),
                f"at your y = {y:.10g}, F = {F:.3g} is not zero while F_y = {F_y:.3g}"
                + (
                    ""
                    if s == 0
                    else f": a point where F_y = 0 lies within {s:.2g} of y, much nearer "
                    f"than the root y* = {y_true:.10g} ({e:.2g} away)"
                )
                + f"; the gradient 2 F F_y of F**2 vanishes there: y is at a {kind} of "
                "F**2, not at a root",
            )
    d = abs(F / F_y) if F_y != 0 else math.inf
    if e <= SLACK * d:
        return Finding(
            ("inexact_forward",),
            f"|F(x, y)| = {abs(F):.2g} at your y is one Newton step of {d:.2g} from the "
            f"root, which accounts for the error {e:.2g}: y approximates the right root "
            "and the solve stopped early",
        )
    try:
        other = float(root_near(case.curve, case.x, y))
    except Exception:  # noqa: BLE001 - no root found near y (mpmath may not converge): no claim
        return None
    if abs(other - y_true) <= max(tol, 0.0) or abs(other - y) > SLACK * d + 1e-12 * (1 + abs(y)):
        return None
    return Finding(
        ("other_root",),
        f"your y = {y:.10g} solves F(x, y) = 0 to {abs(F):.2g}: it is the root y = "
        f"{other:.10g}, not the root near y0 = {case.y0:.10g}, y* = {y_true:.10g}",
    )


def newton_step(case: MapCase, x: Sequence[float]) -> tuple[list[float], float] | None:
    """``(delta, ||delta||_inf)`` with ``(I - f_x) delta = f(x) - x`` at ``x`` (None: singular)."""
    point = formulas.map_point(case.f_source, case.a, list(x), case.scalar)
    with mpmath.workdps(DPS):
        A = mpmath.eye(case.m) - mpmath.matrix(point.f_x)
        b = mpmath.matrix([point.f[i] - x[i] for i in range(case.m)])
        try:
            delta = mpmath.lu_solve(A, b)
        except ZeroDivisionError:
            return None
        step = [float(delta[i]) for i in range(case.m)]
    size = max(abs(v) for v in step)
    return (step, size) if math.isfinite(size) else None


def map_point_finding(case: MapCase, x: Sequence[float], tol: float) -> Finding | None:
    """What the returned ``x`` is, when it is not ``case.x_star``: ``inexact_forward``
    when its residual accounts for its error, ``other_root`` when Newton's method
    from it converges to another fixed point; else None."""
    x_true = [float(v) for v in case.x_star]
    e = max(abs(a - b) for a, b in zip(x, x_true))
    first = newton_step(case, x)
    if first is None:
        return None
    d = first[1]
    if e <= SLACK * d:
        return Finding(
            ("inexact_forward",),
            f"one Newton step from your x, of size {d:.2g}, accounts for its error {e:.2g}: "
            "x approximates x* and the iteration stopped early",
        )
    z = list(x)
    for _ in range(_POLISH_STEPS):
        found = newton_step(case, z)
        if found is None:
            return None
        z = [a + b for a, b in zip(z, found[0])]
        if found[1] <= _POLISH_TOL * (1 + max(abs(v) for v in z)):
            break
    else:
        return None
    if max(abs(a - b) for a, b in zip(z, x_true)) <= max(tol, 0.0):
        return None
    shown = ", ".join(f"{v:.10g}" for v in z)
    return Finding(
        ("other_root",),
        f"f(a)(x) = x holds near your x (one Newton step of {d:.2g} from it): it is the "
        f"fixed point [{shown}], not the one the case starts in, x* = "
        f"[{', '.join(f'{v:.10g}' for v in x_true)}]",
    )
