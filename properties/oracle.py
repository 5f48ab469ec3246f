"""Exact answers on curves: true roots, ``dy/dx``, ``d2y/dx2``, the basin of a start.

Everything here is computed in sympy (exact) or mpmath at ``DPS`` digits (the
engine's, ``properties.exact``) and returned as decimal strings with ``DIGITS``
significant digits, never through float32 or float64.  Each curve's derivatives
are compiled once per ``source`` (``exact.compile_curve``), so building many
cases on one curve costs one sympy pass.

Curve cases:
    ``dy/dx = -F_x / F_y``,
    ``d2y/dx2 = -(F_xx F_y**2 - 2 F_xy F_x F_y + F_yy F_x**2) / F_y**3``,
    ``degeneracy = |F_y| / ||grad F||`` and ``condition = 1 / degeneracy``
    (clipped to ``CONDITION_CLIP``), all at ``(x, y_true)``.

The fixed-point map families (HIPS notation ``x* = f(a)(x*)``) are in
``properties.maps`` and ``properties.curve_maps``.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from decimal import Decimal, localcontext
from fractions import Fraction
from typing import Any

import mpmath
import sympy

from properties.exact import DPS, coefficients_at, compile_curve, exact_rational, mp
from properties.records import Curve, CurveCase
from properties.roots import root_near, univariate_roots

__all__ = [
    "CONDITION_CLIP",
    "DIGITS",
    "DPS",
    "PointOracle",
    "basin",
    "curve_case",
    "exact_decimal",
    "first_sign_change",
    "point_oracle",
    "to_digits",
]

#: Significant digits written to the records (>= 30 as the records require).
DIGITS = 40
#: ``condition`` is clipped here: the measure is meaningless beyond it.
CONDITION_CLIP = 1e16
#: ``|F_y|`` below this (relative to ``||grad F||``) counts as exactly zero.
_EXACT_ZERO = mpmath.mpf("1e-40")


def to_digits(value: Any) -> str:
    """``value`` as decimal text with ``DIGITS`` significant digits (as records hold it)."""
    with mpmath.workdps(DPS):
        return mpmath.nstr(mp(value), DIGITS, min_fixed=-30, max_fixed=30)


def exact_decimal(value: sympy.Rational | Fraction | int | float | str) -> str:
    """The exact decimal text of a number whose denominator has only factors 2 and 5.

    Args:
        value: a rational, a float (exactly a dyadic rational) or decimal text.

    Returns:
        Text such that ``Fraction(text) == value`` exactly, e.g. ``"0.375"``.

    Raises:
        ValueError: if ``value`` has no finite decimal expansion (e.g. ``1/3``); use a
            dyadic rational such as ``k / 2**n``, which floats also represent exactly.
    """
    fraction = Fraction(str(value)) if isinstance(value, sympy.Rational) else Fraction(value)
    q = fraction.denominator
    for p in (2, 5):
        while q % p == 0:
            q //= p
    if q != 1:
        raise ValueError(
            f"x={value!s} has no finite decimal expansion; use a dyadic rational k/2**n."
        )
    with localcontext() as context:
        context.prec = 400
        text = format(Decimal(fraction.numerator) / Decimal(fraction.denominator), "f")
    return text


@dataclasses.dataclass(frozen=True)
class PointOracle:
    """Oracle values at a point of a curve (mpmath numbers at ``DPS`` digits).

    ``dy_dx`` and ``d2y_dx2`` are NaN when ``F_y == 0`` (to 40 digits).
    """

    F_x: mpmath.mpf
    F_y: mpmath.mpf
    dy_dx: mpmath.mpf
    d2y_dx2: mpmath.mpf
    degeneracy: float
    condition: float


def point_oracle(curve: Curve, x: Any, y: Any) -> PointOracle:
    """``dy/dx``, ``d2y/dx2``, degeneracy and condition at ``(x, y)`` (see module doc)."""
    derivatives = compile_curve(curve.source).derivatives
    with mpmath.workdps(DPS):
        x_ = exact_rational(x)
        xm, ym = mpmath.mpf(x_.p) / x_.q, mp(y)
        _, F_x, F_y, F_xx, F_xy, F_yy = derivatives(xm, ym)
        norm = mpmath.sqrt(F_x**2 + F_y**2)
        if norm == 0 or abs(F_y) <= _EXACT_ZERO * norm:
            nan = mpmath.mpf("nan")
            return PointOracle(F_x, F_y, nan, nan, 0.0, CONDITION_CLIP)
        dy_dx = -F_x / F_y
        d2y_dx2 = -(F_xx * F_y**2 - 2 * F_xy * F_x * F_y + F_yy * F_x**2) / F_y**3
        degeneracy = float(abs(F_y) / norm)
    return PointOracle(F_x, F_y, dy_dx, d2y_dx2, degeneracy, min(CONDITION_CLIP, 1 / degeneracy))


def basin(curve: Curve, x: Any, y_true: Any, *, reach: float | None = None) -> tuple[float, float]:
    """A safe interval ``(lo, hi)`` around ``y_true`` for the start ``y0``.

    ``F(x, .)`` is strictly monotone on the interval bounded by the nearest zeros
    of ``F_y(x, .)`` on each side of ``y_true`` (found exactly for polynomials in
    ``y``, by a sign scan otherwise); the returned interval is half of it on each
    side, capped at ``reach`` (default ``max(1, |y_true|)``).  By Rolle's theorem
    it holds no other root, and every point of it is closer to ``y_true`` than to
    any other root.  Zeros of ``F_y`` at ``y_true`` itself (a degenerate point)
    are ignored, so degenerate points get a one-sided or two-sided neighbourhood
    free of other roots and turning points.

    Returns:
        ``(lo, hi)`` floats with ``lo < y_true < hi`` (as floats).
    """
    compiled = compile_curve(curve.source)
    y_mp = mp(y_true)
    y_f = float(y_mp)
    reach = float(reach) if reach is not None else max(1.0, abs(y_f))
    tiny = mpmath.mpf(10) ** -8 * max(1, abs(y_mp))
    left, right = reach, reach
    if compiled.terms_y is not None:
        coeffs = coefficients_at(compiled.terms_y, Fraction(str(exact_rational(x))))
        for c in univariate_roots(coeffs, dps=20):
            distance = float(abs(c - y_mp))
            if abs(c - y_mp) <= tiny:
                continue
            if c < y_mp:
                left = min(left, distance)
            else:
                right = min(right, distance)
    else:
        x_f = float(exact_rational(x))
        left = first_sign_change(lambda y: compiled.F_y_float(x_f, y), y_f, -1.0, reach)
        right = first_sign_change(lambda y: compiled.F_y_float(x_f, y), y_f, +1.0, reach)
    return y_f - left / 2, y_f + right / 2


def first_sign_change(
    g: Callable[[float], float], y: float, direction: float, reach: float
) -> float:
    """Distance from ``y`` to the first sign change (or non-finite value) of ``g``.

    The sign is taken at ``y`` itself (or, where ``g(y) == 0``, a little off it),
    and ``g`` is sampled at distances ``reach / 128 * 2**-k`` (``k = 12 .. 1``)
    before the uniform grid of 128 steps, so a change close to ``y`` is not
    stepped over.  Returns the last distance sampled before the change.
    """
    steps = 128
    grid = [reach / steps * 2.0**-k for k in range(12, 0, -1)]
    grid += [reach * i / steps for i in range(1, steps + 1)]
    try:
        start = g(y)
        if start == 0 or not math.isfinite(start):
            start = g(y + direction * grid[0] / 2)
    except (ValueError, ZeroDivisionError, OverflowError):
        return grid[0] / 2
    previous = grid[0] / 2
    for t in grid:
        try:
            value = g(y + direction * t)
        except (ValueError, ZeroDivisionError, OverflowError):
            return previous
        if not math.isfinite(value) or value * start <= 0:
            return previous
        previous = t
    return reach


def curve_case(
    curve: Curve, x: Any, guess: Any, *, position: float = 0.5, exact_root: Any = None
) -> CurveCase:
    """The case at ``x`` for the root nearest ``guess``.

    Args:
        curve: the curve.
        x: the point; must have a finite decimal expansion (floats and dyadic
            rationals do), so that ``float(case.x)`` is the exact point when it is
            a dyadic rational with <= 53 significant bits.
        guess: picks the root (nearest real root to it).
        position: in ``[-1, 1]``: ``y0 = y_true + position * (half-width of the
            basin on that side)``; 0 starts at the root (rounded to float).
        exact_root: the root when the caller knows it exactly (e.g. the point a
            polynomial was built through); skips the root finding.

    Returns:
        A CurveCase with ``F(x, y_true) = 0`` to ``DPS`` digits and ``y0`` in
        ``basin(curve, x, y_true)``.  At an exactly degenerate point (``F_y == 0``)
        ``dy_dx`` and ``d2y_dx2`` are "nan" and ``degeneracy`` is 0.
    """
    if not -1.0 <= position <= 1.0:
        raise ValueError(f"position={position!r} must lie in [-1, 1].")
    x_text = exact_decimal(exact_rational(x))
    y_true = mp(exact_root) if exact_root is not None else root_near(curve, x_text, guess)
    oracle = point_oracle(curve, x_text, y_true)
    lo, hi = basin(curve, x_text, y_true)
    y_f = float(y_true)
    y0 = y_f + position * ((hi - y_f) if position > 0 else (y_f - lo))
    return CurveCase(
        curve=curve,
        x=x_text,
        y_true=to_digits(y_true),
        y0=y0,
        dy_dx=to_digits(oracle.dy_dx),
        d2y_dx2=to_digits(oracle.d2y_dx2),
        degeneracy=oracle.degeneracy,
        condition=oracle.condition,
    )
