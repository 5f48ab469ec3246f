"""Hard points of a curve: where implicit differentiation breaks.

A point of ``F(x, y) = 0`` with ``F_y = 0`` has no implicit function ``y(x)``:

- a *vertical tangent* (``F = F_y = 0``, ``F_x != 0``): the branch folds back, two
  roots merge and vanish on one side, ``dy/dx`` is infinite there;
- a *singular point* (``F = F_x = F_y = 0``): branches cross or a cusp forms.

Implementations break there and near there (Newton from a start across the fold,
``-F_x / F_y`` with a tiny denominator), which uniform draws almost never reach.
``hard_points(curve, x_range, y_range)`` finds them in a box:

- for polynomials over Q, exactly: the real roots ``x_h`` of the resultant
  ``res_y(F, F_y)`` (sympy, exact real-root isolation), then the common roots
  ``y_h`` of ``F(x_h, .)`` and ``F_y(x_h, .)``;
- otherwise numerically: a grid of the box, seeding every cell where ``F`` and
  ``F_y`` (or ``F_x`` and ``F_y``) both change sign.

Every point is then polished by Newton's method on ``(F, F_y)`` (on ``(F_x, F_y)``
for singular points) at ``DPS`` digits and kept when ``|F|`` and ``|F_y|`` vanish
to ``1e-30`` relative to the gradient's scale.  The strategies aim draws at and
near these points (``strategies.user_curve_cases``); the oracle returns a
degenerate case at them (``oracle.curve_case``).
"""

from __future__ import annotations

import dataclasses
import functools
import math
from typing import Any

import mpmath
import sympy

from properties.exact import DPS, X, Y, compile_curve, expression
from properties.records import Curve

__all__ = ["HardPoint", "hard_points"]

#: Residual (relative to 1 + the largest partial) below which a polished point counts.
_ZERO = mpmath.mpf(10) ** -30
#: Grid of the numerical search: columns x rows of the box.
GRID = (64, 128)


@dataclasses.dataclass(frozen=True)
class HardPoint:
    """A point with ``F = F_y = 0`` (to ``DPS`` digits, as decimal text).

    Attributes:
        x, y: the point.
        kind: "vertical_tangent" (``F_x != 0``) or "singular" (``F_x = 0`` too).
        side: for a vertical tangent, +1 or -1: the side of ``x`` on which the two
            merging roots are real (``x - x_h`` has the sign of ``-F_yy / F_x``);
            0 for a singular point (branches on both sides, in general).
    """

    x: str
    y: str
    kind: str
    side: int


def hard_points(
    curve: Curve, x_range: tuple[float, float], y_range: tuple[float, float]
) -> tuple[HardPoint, ...]:
    """The vertical tangents and singular points of ``curve`` in the box, by ``x``."""
    return _hard_points(curve.source, tuple(map(float, x_range)), tuple(map(float, y_range)))


@functools.lru_cache(maxsize=256)
def _hard_points(
    source: str, x_range: tuple[float, float], y_range: tuple[float, float]
) -> tuple[HardPoint, ...]:
    compiled = compile_curve(source)
    seeds = _exact_seeds(source, x_range, y_range) if compiled.terms is not None else None
    if seeds is None:
        seeds = _grid_seeds(compiled, x_range, y_range)
    found: list[HardPoint] = []
    for x0, y0 in seeds:
        point = _polish(compiled, x0, y0)
        if point is None:
            continue
        x_f, y_f = float(point.x), float(point.y)
        inside = x_range[0] <= x_f <= x_range[1] and y_range[0] <= y_f <= y_range[1]
        width = max(x_range[1] - x_range[0], y_range[1] - y_range[0])
        fresh = all(math.hypot(x_f - float(p.x), y_f - float(p.y)) > 1e-9 * width for p in found)
        if inside and fresh:
            found.append(point)
    return tuple(sorted(found, key=lambda p: (float(p.x), float(p.y))))


def _exact_seeds(
    source: str, x_range: tuple[float, float], y_range: tuple[float, float]
) -> list[tuple[Any, Any]] | None:
    """Exact ``x_h`` (real roots of ``res_y(F, F_y)``) with each common ``y_h``; None
    when sympy cannot do it (the grid search is then used)."""
    try:
        F = sympy.Poly(expression(source), X, Y)
        F_y = F.diff(Y)
        if F_y.is_zero or F.degree(Y) < 1:
            return []
        resultant = sympy.Poly(sympy.resultant(F.as_expr(), F_y.as_expr(), Y), X)
        if resultant.is_zero:  # a repeated factor: F_y vanishes on a whole branch
            return None
        xs = [r for r in resultant.real_roots() if x_range[0] <= float(r) <= x_range[1]]
    except (sympy.PolynomialError, NotImplementedError, ValueError):
        return None
    seeds: list[tuple[Any, Any]] = []
    with mpmath.workdps(DPS):
        for x_h in dict.fromkeys(xs):
            x_mp = mpmath.mpf(str(sympy.N(x_h, DPS)))
            coeffs = [
                complex(c.subs(X, x_h).evalf(DPS))
                for c in sympy.Poly(F_y.as_expr(), Y).all_coeffs()
            ]
            for y in _real_roots(coeffs):
                if y_range[0] <= y <= y_range[1]:
                    seeds.append((x_mp, mpmath.mpf(y)))
    return seeds


def _real_roots(coeffs: list[complex]) -> list[float]:
    while coeffs and abs(coeffs[0]) == 0:
        coeffs = coeffs[1:]
    if len(coeffs) < 2:
        return []
    try:
        roots = mpmath.polyroots(coeffs, maxsteps=200, extraprec=200)
    except mpmath.libmp.NoConvergence:
        return []
    return [float(mpmath.re(r)) for r in roots if abs(mpmath.im(r)) < 1e-8 * (1 + abs(r))]


def _grid_seeds(
    compiled: Any, x_range: tuple[float, float], y_range: tuple[float, float]
) -> list[tuple[float, float]]:
    """Cell centres where ``(F, F_y)`` or ``(F_x, F_y)`` both change sign."""
    nx, ny = GRID
    xs = [x_range[0] + (x_range[1] - x_range[0]) * i / nx for i in range(nx + 1)]
    ys = [y_range[0] + (y_range[1] - y_range[0]) * j / ny for j in range(ny + 1)]

    def values(x: float, y: float) -> tuple[float, float, float]:
        try:
            F, F_x, F_y, *_ = compiled.derivatives(x, y)
            return float(F), float(F_x), float(F_y)
        except (ValueError, ZeroDivisionError, OverflowError, TypeError):
            return math.nan, math.nan, math.nan

    table = [[values(x, y) for y in ys] for x in xs]
    seeds = []
    for i in range(nx):
        for j in range(ny):
            corners = [table[i][j], table[i + 1][j], table[i][j + 1], table[i + 1][j + 1]]
            if any(not math.isfinite(v) for c in corners for v in c):
                continue

            if _changes(corners, 2) and (_changes(corners, 0) or _changes(corners, 1)):
                seeds.append(((xs[i] + xs[i + 1]) / 2, (ys[j] + ys[j + 1]) / 2))
    return seeds


def _changes(corners: list[tuple[float, float, float]], k: int) -> bool:
    """Whether component ``k`` (0: F, 1: F_x, 2: F_y) changes sign over a cell."""
    return len({math.copysign(1.0, c[k]) for c in corners}) > 1


def _polish(compiled: Any, x0: Any, y0: Any) -> HardPoint | None:
    """Newton on ``(F, F_y)``, then on ``(F_x, F_y)`` if the point is singular; the
    point when it satisfies ``F = F_y = 0`` to ``_ZERO``, else None."""
    with mpmath.workdps(DPS + 10):
        x, y = mpmath.mpf(x0), mpmath.mpf(y0)
        for system in ("tangent", "singular"):
            x, y = _newton(compiled, x, y, system)
            if x is None:
                return None
            F, F_x, F_y, _, F_xy, F_yy = compiled.derivatives(x, y)
            scale = 1 + max(abs(F_x), abs(F_y), abs(F_xy), abs(F_yy))
            if abs(F) <= _ZERO * scale and abs(F_y) <= _ZERO * scale:
                singular = abs(F_x) <= mpmath.mpf(10) ** -20 * scale
                side = 0 if singular or F_x == 0 else int(mpmath.sign(-F_yy / F_x))
                kind = "singular" if singular else "vertical_tangent"
                return HardPoint(mpmath.nstr(x, DPS), mpmath.nstr(y, DPS), kind, side)
        return None


def _newton(compiled: Any, x: Any, y: Any, system: str) -> tuple[Any, Any]:
    """Newton's method on ``(F, F_y)`` ("tangent") or ``(F_x, F_y)`` ("singular")."""
    for _ in range(80):
        try:
            F, F_x, F_y, F_xx, F_xy, F_yy = compiled.derivatives(x, y)
        except (ValueError, ZeroDivisionError, OverflowError, TypeError):
            return None, None
        if system == "tangent":
            g, h, J = F, F_y, ((F_x, F_y), (F_xy, F_yy))
        else:
            g, h, J = F_x, F_y, ((F_xx, F_xy), (F_xy, F_yy))
        det = J[0][0] * J[1][1] - J[0][1] * J[1][0]
        if det == 0 or not mpmath.isfinite(det):
            return x, y
        dx = (g * J[1][1] - h * J[0][1]) / det
        dy = (h * J[0][0] - g * J[1][0]) / det
        x, y = x - dx, y - dy
        if abs(dx) + abs(dy) <= mpmath.mpf(10) ** -(DPS + 5) * (1 + abs(x) + abs(y)):
            break
    return x, y
