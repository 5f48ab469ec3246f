"""Strategies for curve cases: points on curves with their exact answers (``oracle``)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from fractions import Fraction
from typing import Any

from hypothesis import event, target
from hypothesis import strategies as st
from hypothesis.errors import InvalidArgument

from properties import curves as _curves
from properties import oracle
from properties.exact import compile_curve
from properties.hard_points import HardPoint, hard_points
from properties.records import DEGENERACY_THRESHOLD, Curve, CurveCase
from properties.simplicity import simplest_dyadic
from properties.strategies._bounds import CURVE_FAMILIES, X_BITS, check_choices, check_number, sign
from properties.strategies._curves import any_curve, circles, ellipses, polynomials_unchecked

__all__ = ["curve_cases", "curve_cases_unchecked", "degenerate_curve_cases", "user_curve_cases"]


def curve_cases(
    *,
    curves: st.SearchStrategy[Curve] | None = None,
    min_degeneracy: float = 0.05,
    aim_degenerate: bool = False,
) -> st.SearchStrategy[CurveCase]:
    """Points on curves, with the true root, a start in its basin and the oracle.

    Points are constructed: on a circle ``x = cx + r u`` with
    ``|u| <= sqrt(1 - min_degeneracy**2)`` (so ``|F_y| / ||grad F|| >=
    min_degeneracy``) on a random branch; on an ellipse likewise across its
    x-extent (the bound then holds only approximately; flagged cases may occur);
    on a polynomial its constructed point.  ``y0`` is drawn on either side of the
    root, between 10% and 100% of the way to the edge of ``oracle.basin``.

    Args:
        curves: where curves come from (default ``curves()``).  Curves of family
            "user" are not supported here: use ``user_curve_cases``.
        min_degeneracy: in ``(0, 1)``: aim for at least this
            ``|F_y| / ||grad F||``.
        aim_degenerate: instead draw points down to ``2**-40`` from a vertical
            tangent and call ``target(-log10(degeneracy))`` so Hypothesis seeks
            them out (many cases are then flagged degenerate).

    Returns:
        A strategy generating CurveCases; records ``event(f"family: {family}")``
        and ``event("degenerate")``.  Shrinks toward the unit circle at ``x = 0``
        with ``y0`` 10% of the way from the root to the edge of its basin.
    """
    if curves is not None and not isinstance(curves, st.SearchStrategy):
        raise InvalidArgument(f"curves={curves!r} must be a Hypothesis strategy of Curves.")
    check_number("min_degeneracy", min_degeneracy, minimum=1e-6, maximum=0.99)
    if not isinstance(aim_degenerate, bool):
        raise InvalidArgument(f"aim_degenerate={aim_degenerate!r} must be a bool.")
    if curves is None:
        curves = (
            st.one_of(circles(), ellipses(), polynomials_unchecked(2, 5, 5, 0.1, aim=True))
            if aim_degenerate
            else any_curve()
        )
    return curve_cases_unchecked(curves, min_degeneracy, aim_degenerate)


@st.composite
def curve_cases_unchecked(
    draw: st.DrawFn,
    curves: st.SearchStrategy[Curve],
    min_degeneracy: float,
    aim_degenerate: bool,
    record: bool = True,
) -> CurveCase:
    curve = draw(curves)
    position = sign(draw) * draw(st.integers(10, 100)) / 100
    if curve.family == "polynomial":
        params = dict(curve.params)
        x, y = Fraction(params["x_p"]), Fraction(params["y_p"])
        case = oracle.curve_case(curve, x, y, position=position, exact_root=y)
    elif curve.family in ("circle", "ellipse"):
        x, guess = _conic_point(draw, curve, min_degeneracy, aim_degenerate)
        case = oracle.curve_case(curve, x, guess, position=position)
    else:
        raise InvalidArgument(
            f"curve family {curve.family!r} is not supported by curve_cases; "
            "use user_curve_cases(text) for user curves."
        )
    if record:
        _record(case, aim_degenerate)
    return case


def _record(case: CurveCase, aim_degenerate: bool) -> None:
    event(f"family: {case.family}")
    if case.degenerate:
        event("degenerate")
    if aim_degenerate:
        target(-math.log10(max(case.degeneracy, 1e-300)), label="-log10(degeneracy)")


def _conic_extent(curve: Curve) -> tuple[Fraction, Fraction, float, Fraction]:
    """``(cx, cy, half-width in x, half-height scale)`` of a circle or ellipse."""
    p = dict(curve.params)
    cx, cy = Fraction(p["cx"]), Fraction(p["cy"])
    if curve.family == "circle":
        r = Fraction(p["r"])
        return cx, cy, float(r), r
    a, b = Fraction(p["a"]), Fraction(p["b"])
    c, s = Fraction(p["cos"]), Fraction(p["sin"])
    return cx, cy, math.sqrt(a * a * c * c + b * b * s * s), max(a, b)


def _conic_point(
    draw: st.DrawFn, curve: Curve, min_degeneracy: float, aim_degenerate: bool
) -> tuple[Fraction, float]:
    """A dyadic ``x`` inside the conic's x-extent, and a guess picking a branch."""
    cx, cy, half_width, height = _conic_extent(curve)
    bits = X_BITS
    if aim_degenerate:
        # |x - cx| = (1 - 2**-e) * half-width: degeneracy about 2**(-e/2).
        e = draw(st.integers(1, 36))
        u = 1 - Fraction(1, 2**e)
        bits += e
    else:
        u_max = math.sqrt(1 - min_degeneracy**2)
        u = Fraction(draw(st.integers(0, 2**10)), 2**10) * Fraction(u_max)
    # Round toward the centre so that x stays strictly inside the extent.
    offset = Fraction(math.floor(u * Fraction(half_width) * 2**bits), 2**bits)
    if not aim_degenerate:  # the fewest binary digits within 10% of the drawn offset
        offset = simplest_dyadic(offset * Fraction(9, 10), offset, bits)
    x = cx + sign(draw) * offset
    guess = float(cy) + sign(draw) * 2 * float(height)
    return x, guess


def degenerate_curve_cases(
    *, families: Sequence[str] | str = CURVE_FAMILIES
) -> st.SearchStrategy[CurveCase]:
    """Points exactly at a vertical tangent (``F_y == 0``): the double root.

    Circles at ``x = cx +- r``; axis-aligned ellipses at ``x = cx +- a`` (or
    ``+- b`` when turned by 90 degrees); polynomials built with ``F_y = 0`` and
    ``F_x != 0`` at their point.  ``y_true`` is the double root, ``dy_dx`` and
    ``d2y_dx2`` are "nan", ``degeneracy`` is 0; ``y0`` is off the root.

    Args:
        families: a subset of ``("circle", "ellipse", "polynomial")``.

    Returns:
        A strategy generating exactly degenerate CurveCases (all flagged), recording
        ``event(f"family: {family}")`` and ``event("degenerate")``.  Shrinks toward
        the unit circle at ``x = 1`` with ``y0 = 1/16``.
    """
    chosen = check_choices("families", families, CURVE_FAMILIES)
    options = []
    if "circle" in chosen:
        options.append(circles().map(lambda c: ("circle", c)))
    if "ellipse" in chosen:
        options.append(
            st.tuples(ellipses(rotated=False), st.booleans()).map(
                lambda t: ("ellipse", _turned(t[0]) if t[1] else t[0])
            )
        )
    if "polynomial" in chosen:
        options.append(
            polynomials_unchecked(2, 4, 5, 0.1, aim=False, exactly_degenerate=True).map(
                lambda c: ("polynomial", c)
            )
        )
    return _degenerate_curve_cases(st.one_of(options))


def _turned(curve: Curve) -> Curve:
    """The same ellipse turned by 90 degrees (exact: cos = 0, sin = 1)."""
    p = dict(curve.params)
    return _curves.ellipse(p["cx"], p["cy"], p["a"], p["b"], math.pi / 2)


@st.composite
def _degenerate_curve_cases(
    draw: st.DrawFn, tagged: st.SearchStrategy[tuple[str, Curve]]
) -> CurveCase:
    family, curve = draw(tagged)
    offset = draw(st.integers(1, 8)) / 16 * sign(draw)
    if family == "polynomial":
        params = dict(curve.params)
        x, y = Fraction(params["x_p"]), Fraction(params["y_p"])
        lo, hi = oracle.basin(curve, x, y, reach=1.0)
        position = offset * 2 * (hi - float(y) if offset > 0 else float(y) - lo)
        case = oracle.curve_case(curve, x, y, exact_root=y, position=0.0)
        case = _with_y0(case, float(y) + position)
    else:
        cx, cy, half_width, height = _conic_extent(curve)
        side = sign(draw)
        x = cx + side * Fraction(half_width).limit_denominator(2**X_BITS)
        case = oracle.curve_case(curve, x, float(cy), position=0.0)
        case = _with_y0(case, float(cy) + offset * float(height))
    _record(case, aim_degenerate=False)
    return case


def _with_y0(case: CurveCase, y0: float) -> CurveCase:
    import dataclasses

    return dataclasses.replace(case, y0=y0)


def user_curve_cases(
    text: str,
    *,
    x_range: tuple[float, float] = (-2.0, 2.0),
    y_range: tuple[float, float] = (-4.0, 4.0),
    min_degeneracy: float = DEGENERACY_THRESHOLD,
    aim_hard: bool = True,
) -> st.SearchStrategy[CurveCase]:
    """Points on a user-given curve, e.g. ``user_curve_cases("x**3 + y**3 - 3*x*y")``.

    The text is parsed and validated now (``curves.user_curve``), and the box
    ``x_range`` x ``y_range`` is scanned once on a grid of dyadic ``x`` for sign
    changes of ``F(x, .)``; each draw picks one grid point and its bracketed root
    (polished by the oracle) and a start in its basin.

    Args:
        text: the curve ``F(x, y)``, see ``curves.user_curve``.
        x_range: ``(lo, hi)`` where ``x`` is drawn.
        y_range: ``(lo, hi)`` where roots are looked for.
        min_degeneracy: skip grid points whose ``|F_y| / ||grad F||`` (estimated in
            float64) is below this.
        aim_hard: also draw at and near the curve's vertical tangents and singular
            points in the box (``hard_points``), where ``x`` is ``2**-k`` from the
            point (``k`` from 2 to ``HARD_BITS``) on the side with real roots.

    Returns:
        A strategy generating CurveCases of family "user", about half of them aimed at
        hard points when there are any (``event("hard point: <kind>")``).  Shrinks
        toward the grid point nearest the middle of ``x_range`` and its lowest root.

    Raises:
        ValueError: from ``user_curve`` for bad text, or when no usable point lies
            in the box (widen ``x_range``/``y_range``).
    """
    curve = _curves.user_curve(text)
    for name, bounds in (("x_range", x_range), ("y_range", y_range)):
        if len(bounds) != 2 or not bounds[0] < bounds[1]:
            raise InvalidArgument(f"{name}={bounds!r} must be (lo, hi) with lo < hi.")
    check_number("min_degeneracy", min_degeneracy, minimum=0, maximum=0.99)
    points = _user_points(curve, x_range, y_range, min_degeneracy)
    if not points:
        raise ValueError(
            f"curve {text!r} has no point with degeneracy >= {min_degeneracy} in "
            f"x_range={x_range!r}, y_range={y_range!r}; widen the ranges."
        )
    mid = (x_range[0] + x_range[1]) / 2
    points.sort(key=lambda p: (abs(float(p[0]) - mid), p[1]))
    regular = _user_curve_cases(curve, tuple(points))
    hard = hard_points(curve, x_range, y_range) if aim_hard else ()
    if not hard:
        return regular
    return st.one_of(regular, _hard_point_cases(curve, hard))


#: How close aimed draws come to a hard point: ``|x - x_h| = 2**-k``, ``k`` up to this
#: (a dyadic ``x`` keeps <= 53 significant bits for ``|x| < 8``).
HARD_BITS = 48


@st.composite
def _hard_point_cases(draw: st.DrawFn, curve: Curve, hard: tuple[HardPoint, ...]) -> CurveCase:
    """A case at or near a vertical tangent or singular point: ``x`` at ``2**-k`` of
    ``x_h`` on the side where the branch's roots are real (``k = HARD_BITS``: as close
    as a float allows, a degenerate case), or exactly at ``x_h`` when a float holds it
    (``F_y = 0``: the exactly degenerate case); the start beside the merging roots."""
    point = draw(st.sampled_from(hard))
    # Half near (|x - x_h| >= 2**-16: still counted, degeneracy above the threshold for
    # most curves), half at float distance (flagged degenerate, counted apart).
    k = draw(st.one_of(st.integers(2, 16), st.integers(17, HARD_BITS)))
    side = point.side or sign(draw)
    grid = 2 ** (HARD_BITS + 2)
    x_h = Fraction(point.x)
    x = Fraction(math.floor(x_h * grid) if side > 0 else math.ceil(x_h * grid), grid)
    if x != x_h or not draw(st.booleans()):  # an x_h a float holds: also exactly there
        x += Fraction(side, 2**k)
    guess = float(point.y) + sign(draw) * 2.0**-k
    event(f"hard point: {point.kind}")
    position = sign(draw) * draw(st.integers(10, 100)) / 100
    case = oracle.curve_case(curve, x, guess, position=position)
    _record(case, aim_degenerate=False)
    return case


def _user_points(
    curve: Curve, x_range: tuple[float, float], y_range: tuple[float, float], min_degeneracy: float
) -> list[tuple[Fraction, float]]:
    import numpy as np

    F = compile_curve(curve.source)
    xs = np.linspace(x_range[0], x_range[1], 65)
    ys = np.linspace(y_range[0], y_range[1], 513)
    points: list[tuple[Fraction, float]] = []
    for x_float in xs:
        x = Fraction(round(float(x_float) * 2**X_BITS), 2**X_BITS)
        with np.errstate(all="ignore"):
            values = np.array([_safe(F.F_float, float(x), float(y)) for y in ys])
        signs = np.sign(values)
        for i in np.flatnonzero(signs[:-1] * signs[1:] < 0):
            y_mid = float((ys[i] + ys[i + 1]) / 2)
            g_x = _safe(lambda a, b: _float_diff(F.F_float, a, b), float(x), y_mid)
            g_y = _safe(F.F_y_float, float(x), y_mid)
            if math.isfinite(g_y) and abs(g_y) >= min_degeneracy * math.hypot(g_x, g_y):
                points.append((x, y_mid))
    return points


def _float_diff(F: Any, x: float, y: float) -> float:
    h = 1e-6 * max(1.0, abs(x))
    return (F(x + h, y) - F(x - h, y)) / (2 * h)


def _safe(F: Any, x: float, y: float) -> float:
    try:
        value = float(F(x, y))
    except (ValueError, ZeroDivisionError, OverflowError, TypeError):
        return math.nan
    return value if math.isfinite(value) else math.nan


@st.composite
def _user_curve_cases(
    draw: st.DrawFn, curve: Curve, points: tuple[tuple[Fraction, float], ...]
) -> CurveCase:
    x, guess = draw(st.sampled_from(points))
    position = sign(draw) * draw(st.integers(10, 100)) / 100
    case = oracle.curve_case(curve, x, guess, position=position)
    _record(case, aim_degenerate=False)
    return case
