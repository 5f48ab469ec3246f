"""Closed forms evaluated at any point, for the checks (sympy, compiled once, mpmath).

The checks compare a candidate's gradient with the implicit-function-theorem
formula evaluated at the point the candidate *returned*, and with the formula at
other points that reveal a mistake (the start ``y0`` or ``x0``).  These
functions give those values, computed by the engine (``properties.exact``) at its
``DPS`` digits from the case's own source text and returned as floats.

Curves: ``dy/dx = -F_x / F_y`` and
``d2y/dx2 = -(F_xx F_y^2 - 2 F_xy F_x F_y + F_yy F_x^2) / F_y^3``.
Maps: ``dx/da = (I - f_x)^{-1} f_a`` (``m x k``).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from typing import Any

import mpmath

from properties import exact

__all__ = ["CurvePoint", "MapPoint", "curve_point", "map_point"]


@dataclasses.dataclass(frozen=True)
class CurvePoint:
    """Derivatives of ``F`` at one point, as floats.

    Attributes:
        F: ``F(x, y)``.
        F_x, F_y: first partial derivatives.
        dy_dx: ``-F_x / F_y`` (NaN when ``F_y == 0``).
        d2y_dx2: the second derivative of the implicit function (NaN when ``F_y == 0``).
        condition: ``||grad F|| / |F_y|`` (inf when ``F_y == 0``).
        fold_distance: estimated ``|dx|`` to the nearest vertical tangent of this
            branch, where the second-order expansion of ``F(x + dx, y + dy) = 0``
            loses its real ``dy``: ``F_y**2 / (2 |F_y F_xy - F_yy F_x|)`` (inf for a
            straight branch, 0 when ``F_y == 0``).
        d3y_dx3: the third derivative, with ``p = dy/dx`` and ``q = d2y/dx2``:
            ``-(F_xxx + 3 F_xxy p + 3 F_xyy p^2 + F_yyy p^3 + 3 q (F_xy + F_yy p)) / F_y``
            (NaN when ``F_y == 0``); a central difference of step ``h`` errs by
            ``|d3y_dx3| h^2 / 6``.
        F_yy: the second partial in ``y``: Newton's error after a step ``s`` is
            about ``|F_yy / (2 F_y)| s**2``.
    """

    F: float
    F_x: float
    F_y: float
    dy_dx: float
    d2y_dx2: float
    condition: float
    fold_distance: float = math.inf
    d3y_dx3: float = math.nan
    F_yy: float = math.nan


def curve_point(source: str, x: float | str, y: float | str) -> CurvePoint:
    """Closed-form derivatives of the curve ``source`` at ``(x, y)``.

    Args:
        source: sympy-parsable ``F`` in ``x`` and ``y`` (``Curve.source``).
        x, y: the point (floats are taken as exact binary values).
    """
    compiled = exact.compile_curve(source)
    with mpmath.workdps(exact.DPS):
        xm, ym = mpmath.mpf(x), mpmath.mpf(y)
        values = (*compiled.derivatives(xm, ym), *compiled.third(xm, ym))
        F, F_x, F_y, F_xx, F_xy, F_yy, F_xxx, F_xxy, F_xyy, F_yyy = (mpmath.mpf(v) for v in values)
        norm = mpmath.sqrt(F_x**2 + F_y**2)
        if F_y == 0:
            nan = math.nan
            return CurvePoint(float(F), float(F_x), 0.0, nan, nan, math.inf, 0.0, nan, float(F_yy))
        dy_dx = -F_x / F_y
        d2 = -(F_xx * F_y**2 - 2 * F_xy * F_x * F_y + F_yy * F_x**2) / F_y**3
        bend = abs(F_y * F_xy - F_yy * F_x)
        fold = math.inf if bend == 0 else float(F_y**2 / (2 * bend))
        p, q = dy_dx, d2
        d3 = (
            -(F_xxx + 3 * F_xxy * p + 3 * F_xyy * p**2 + F_yyy * p**3 + 3 * q * (F_xy + F_yy * p))
            / F_y
        )
        return CurvePoint(
            float(F),
            float(F_x),
            float(F_y),
            float(dy_dx),
            float(d2),
            float(norm / abs(F_y)),
            fold,
            float(d3),
            float(F_yy),
        )


@dataclasses.dataclass(frozen=True)
class MapPoint:
    """The map's derivatives at one point, as nested float lists.

    Attributes:
        f: ``f(a)(x)`` (``m``).
        f_x: ``m x m``.
        f_a: ``m x k``.
        dx_da: ``(I - f_x)^{-1} f_a`` (``m x k``; NaN when singular).
        dx_da_transposed: ``(I - f_x^T)^{-1} f_a``: what a transposed solve gives.
        sigma_min: smallest singular value of ``I - f_x``.
    """

    f: list[float]
    f_x: list[list[float]]
    f_a: list[list[float]]
    dx_da: list[list[float]]
    dx_da_transposed: list[list[float]]
    sigma_min: float


def _rows(M: Any) -> list[list[float]]:
    return [[float(M[i, j]) for j in range(M.cols)] for i in range(M.rows)]


def map_point(
    f_source: Sequence[str], a: Sequence[float | str], x: Sequence[float | str], scalar: bool
) -> MapPoint:
    """Closed-form derivatives of the map ``f_source`` at parameters ``a`` and point ``x``.

    Args:
        f_source: ``MapCase.f_source`` (torch source per component).
        a: ``k`` parameter values.
        x: ``m`` point values.
        scalar: ``MapCase.scalar`` (``x`` and ``a`` are 0-d in the source).
    """
    c = exact.compile_torch_map(tuple(f_source), len(a), scalar)
    with mpmath.workdps(exact.DPS):
        x_mp, a_mp = [mpmath.mpf(v) for v in x], [mpmath.mpf(v) for v in a]
        values, fx, fa = c.evaluate(x_mp, a_mp)
        A = mpmath.eye(c.m) - fx
        sigma = min(mpmath.svd_r(A, compute_uv=False)) if c.m > 1 else abs(A[0, 0])
        try:
            J = mpmath.lu_solve(A, fa) if c.k == 1 else A**-1 * fa
            JT = mpmath.lu_solve(A.T, fa) if c.k == 1 else A.T**-1 * fa
            J_rows, JT_rows = _rows(mpmath.matrix(J)), _rows(mpmath.matrix(JT))
        except ZeroDivisionError:
            J_rows = JT_rows = [[math.nan] * c.k for _ in range(c.m)]
        return MapPoint(
            [float(values[i]) for i in range(c.m)],
            _rows(fx),
            _rows(fa),
            J_rows,
            JT_rows,
            float(sigma),
        )
