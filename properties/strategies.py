"""Hypothesis strategies for curves, curve cases and fixed-point map cases.

Bounds are keyword-only and validated when the strategy is *built* (not when it
is drawn from), raising ``InvalidArgument`` with the argument and its value.
Valid cases are constructed, never filtered: points on circles and ellipses are
drawn along the curve away from its vertical tangents, polynomials are built to
pass through their point with a prescribed ``F_y`` there.

Every number handed to the code under test is a dyadic rational with few
significant bits (curve points ``x``, map parameters ``a``), so float32 and
float64 hold it exactly and the oracle's answer is the answer for the very
input the implementation sees.

Statistics: each case records ``event(f"family: {family}")``, and
``event("degenerate")`` when its degeneracy is below
``records.DEGENERACY_THRESHOLD``; the ``aim_degenerate`` variants call
``target(-log10(degeneracy), label=...)`` to steer toward ``F_y = 0``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from fractions import Fraction
from typing import Any

from hypothesis import event, target
from hypothesis import strategies as st
from hypothesis.errors import InvalidArgument

from properties import curve_maps, maps, oracle
from properties import curves as _curves
from properties.exact import compile_curve
from properties.records import DEGENERACY_THRESHOLD, Curve, CurveCase, MapCase

__all__ = [
    "circles",
    "curve_cases",
    "curves",
    "degenerate_curve_cases",
    "ellipses",
    "map_cases",
    "polynomials",
    "user_curve_cases",
]

#: Bits after the binary point of a curve point ``x``: float32-exact for |x| < 2**10.
_X_BITS = 12
#: Curve families the built-in strategies draw.
CURVE_FAMILIES = ("circle", "ellipse", "polynomial")
MAP_FAMILIES = ("curve-map", "sqrt", "coupled")
DTYPES = ("float64", "float32")


# -- validation --------------------------------------------------------------------------


def _check_number(name: str, value: Any, *, minimum: float, maximum: float = math.inf) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float | Fraction):
        raise InvalidArgument(f"{name}={value!r} must be a number.")
    if not minimum <= value <= maximum:
        bounds = f">= {minimum}" if maximum == math.inf else f"in [{minimum}, {maximum}]"
        raise InvalidArgument(f"{name}={value!r} must be {bounds}.")


def _check_int(name: str, value: Any, *, minimum: int, maximum: int | None = None) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidArgument(f"{name}={value!r} must be an integer.")
    if value < minimum or (maximum is not None and value > maximum):
        bounds = f">= {minimum}" if maximum is None else f"in [{minimum}, {maximum}]"
        raise InvalidArgument(f"{name}={value!r} must be {bounds}.")


def _check_choices(name: str, value: Any, allowed: Sequence[str]) -> tuple[str, ...]:
    values = (value,) if isinstance(value, str) else tuple(value)
    bad = [v for v in values if v not in allowed]
    if not values or bad:
        raise InvalidArgument(f"{name}={value!r} must be a non-empty subset of {allowed}.")
    return values


def _dyadic(draw: st.DrawFn, bound: float, bits: int) -> Fraction:
    """A dyadic ``k / 2**bits`` in ``[-bound, bound]``, shrinking toward 0."""
    limit = int(bound * 2**bits)
    return Fraction(draw(st.integers(-limit, limit)), 2**bits)


def _sign(draw: st.DrawFn) -> int:
    return -1 if draw(st.booleans()) else 1


# -- curves ------------------------------------------------------------------------------


def circles(*, max_radius: float = 4, max_centre: float = 2) -> st.SearchStrategy[Curve]:
    """Circles with dyadic centre and radius.

    Args:
        max_radius: largest radius, >= 1.
        max_centre: largest ``|cx|`` and ``|cy|``, >= 0.

    Returns:
        A strategy generating circle Curves with centre coordinates in multiples of
        1/4 and radius in multiples of 1/8 in ``[1/8, max_radius]``.  Shrinks toward
        the unit circle ``x**2 + y**2 - 1``.
    """
    _check_number("max_radius", max_radius, minimum=1)
    _check_number("max_centre", max_centre, minimum=0)
    return _circles(max_radius, max_centre)


@st.composite
def _circles(draw: st.DrawFn, max_radius: float, max_centre: float) -> Curve:
    cx, cy = _dyadic(draw, max_centre, 2), _dyadic(draw, max_centre, 2)
    r = Fraction(8 + draw(st.integers(-7, int(8 * max_radius) - 8)), 8)
    return _curves.circle(cx, cy, r)


def ellipses(
    *, max_axis: float = 4, max_centre: float = 2, rotated: bool = True
) -> st.SearchStrategy[Curve]:
    """Ellipses with dyadic centre and semi-axes and an exact rational rotation.

    Args:
        max_axis: largest semi-axis, >= 1.
        max_centre: largest ``|cx|`` and ``|cy|``, >= 0.
        rotated: draw rotations (``tan(theta / 2)`` in multiples of 1/12); else 0.

    Returns:
        A strategy generating ellipse Curves.  Shrinks toward the unrotated unit
        circle (``a = b = 1``, centre 0).
    """
    _check_number("max_axis", max_axis, minimum=1)
    _check_number("max_centre", max_centre, minimum=0)
    if not isinstance(rotated, bool):
        raise InvalidArgument(f"rotated={rotated!r} must be a bool.")
    return _ellipses(max_axis, max_centre, rotated)


@st.composite
def _ellipses(draw: st.DrawFn, max_axis: float, max_centre: float, rotated: bool) -> Curve:
    cx, cy = _dyadic(draw, max_centre, 2), _dyadic(draw, max_centre, 2)
    a = Fraction(8 + draw(st.integers(-6, int(8 * max_axis) - 8)), 8)
    b = Fraction(8 + draw(st.integers(-6, int(8 * max_axis) - 8)), 8)
    t = Fraction(draw(st.integers(-11, 11)), 12) if rotated else Fraction(0)
    return _curves.ellipse(cx, cy, a, b, 2 * math.atan(t))


def polynomials(
    *,
    min_degree: int = 2,
    max_degree: int = 5,
    max_coefficient: int = 5,
    min_degeneracy: float = 0.1,
) -> st.SearchStrategy[Curve]:
    """Bivariate polynomial curves through a dyadic point, non-degenerate there.

    The curve is ``P(x, y) - P(x_p, y_p) + (s - P_y(x_p, y_p)) (y - y_p)`` with
    integer coefficients in ``P`` and a drawn ``s = F_y(x_p, y_p)`` with
    ``|s| / ||grad F|| >= min_degeneracy``: it passes through ``(x_p, y_p)``
    (recorded in ``params``) by construction, with a vertical tangent nowhere near.

    Args:
        min_degree: smallest total degree, >= 1.
        max_degree: largest total degree, in ``[min_degree, 8]``.
        max_coefficient: largest ``|coefficient|`` of ``P``, >= 1.
        min_degeneracy: lower bound of ``|F_y| / ||grad F||`` at the point, in
            ``(0, 1]``.

    Returns:
        A strategy generating polynomial Curves of total degree in
        ``[min_degree, max_degree]`` (degree 1 only when the top term is linear).
        Shrinks toward low degree, few small coefficients and the point ``(0, 0)``.
    """
    _check_int("min_degree", min_degree, minimum=1)
    _check_int("max_degree", max_degree, minimum=min_degree, maximum=8)
    _check_int("max_coefficient", max_coefficient, minimum=1)
    _check_number("min_degeneracy", min_degeneracy, minimum=1e-12, maximum=1)
    return _polynomials(min_degree, max_degree, max_coefficient, min_degeneracy, aim=False)


def _gradient(
    coefficients: dict[tuple[int, int], Fraction], x: Fraction, y: Fraction
) -> tuple[Fraction, Fraction]:
    """Exact ``(P_x, P_y)`` at ``(x, y)`` (plain Fractions: no sympy on the hot path)."""
    P_x = sum((c * i * x ** (i - 1) * y**j for (i, j), c in coefficients.items() if i), Fraction())
    P_y = sum((c * j * x**i * y ** (j - 1) for (i, j), c in coefficients.items() if j), Fraction())
    return P_x, P_y


@st.composite
def _polynomials(
    draw: st.DrawFn,
    min_degree: int,
    max_degree: int,
    max_coefficient: int,
    min_degeneracy: float,
    aim: bool,
    exactly_degenerate: bool = False,
) -> Curve:
    degree = draw(st.integers(min_degree, max_degree))
    coefficient = st.integers(-max_coefficient, max_coefficient)
    coefficients: dict[tuple[int, int], Fraction] = {}
    for total in range(2, degree + 1):
        for j in range(total + 1):
            c = draw(coefficient)
            if c:
                coefficients[(total - j, j)] = Fraction(c)
    # The top-degree term is constructed non-zero, so the degree is what was drawn.
    # A degenerate curve must still depend on y after F_y(point) is set to 0.
    top_j = draw(st.integers(2 if exactly_degenerate else 0, degree))
    top = draw(st.integers(1, max_coefficient)) * _sign(draw)
    coefficients[(degree - top_j, top_j)] = Fraction(top)
    x_p, y_p = _dyadic(draw, 2, 3), _dyadic(draw, 2, 3)
    coefficients.setdefault((1, 0), Fraction(draw(coefficient)))
    P_x, P_y = _gradient(coefficients, x_p, y_p)
    if exactly_degenerate:
        s = Fraction(0)
        if P_x == 0:  # keep ||grad F|| > 0: a vertical tangent, not a singular point
            coefficients[(1, 0)] += 1
    elif aim:
        # |s| = |P_x| 2**-e: degeneracy about 2**-e, steered by `target` downstream.
        e = draw(st.integers(1, 40))
        s = _sign(draw) * max(abs(P_x), Fraction(1)) / 2**e
    else:
        # degeneracy = |s| / sqrt(s**2 + P_x**2) >= min_degeneracy for |s| >= k |P_x|.
        k = min_degeneracy / math.sqrt(1 - min_degeneracy**2) if min_degeneracy < 1 else 1e9
        floor_ = Fraction(k).limit_denominator(1000) * abs(P_x) + Fraction(1, 1000)
        extra = Fraction(draw(st.integers(0, 4 * max_coefficient)), 2)
        s = _sign(draw) * (max(floor_, Fraction(1)) + extra)
        if P_x and abs(s) / math.hypot(s, P_x) < min_degeneracy:  # pragma: no cover
            s = s * 2
    coefficients[(0, 1)] = coefficients.get((0, 1), Fraction(0)) + s - P_y
    return _curves.polynomial(coefficients, through=(x_p, y_p))


def curves() -> st.SearchStrategy[Curve]:
    """Any built-in curve: circles, ellipses and polynomials.

    Returns:
        A strategy generating Curves of the families ``CURVE_FAMILIES``.  Shrinks
        toward circles, hence toward the unit circle.
    """
    return _any_curve()


def _any_curve() -> st.SearchStrategy[Curve]:
    return st.one_of(circles(), ellipses(), polynomials())


# -- curve cases -------------------------------------------------------------------------


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
    _check_number("min_degeneracy", min_degeneracy, minimum=1e-6, maximum=0.99)
    if not isinstance(aim_degenerate, bool):
        raise InvalidArgument(f"aim_degenerate={aim_degenerate!r} must be a bool.")
    if curves is None:
        curves = (
            st.one_of(circles(), ellipses(), _polynomials(2, 5, 5, 0.1, aim=True))
            if aim_degenerate
            else _any_curve()
        )
    return _curve_cases(curves, min_degeneracy, aim_degenerate)


@st.composite
def _curve_cases(
    draw: st.DrawFn,
    curves: st.SearchStrategy[Curve],
    min_degeneracy: float,
    aim_degenerate: bool,
    record: bool = True,
) -> CurveCase:
    curve = draw(curves)
    position = _sign(draw) * draw(st.integers(10, 100)) / 100
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
    bits = _X_BITS
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
    x = cx + _sign(draw) * offset
    guess = float(cy) + _sign(draw) * 2 * float(height)
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
    chosen = _check_choices("families", families, CURVE_FAMILIES)
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
            _polynomials(2, 4, 5, 0.1, aim=False, exactly_degenerate=True).map(
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
    offset = draw(st.integers(1, 8)) / 16 * _sign(draw)
    if family == "polynomial":
        params = dict(curve.params)
        x, y = Fraction(params["x_p"]), Fraction(params["y_p"])
        lo, hi = oracle.basin(curve, x, y, reach=1.0)
        position = offset * 2 * (hi - float(y) if offset > 0 else float(y) - lo)
        case = oracle.curve_case(curve, x, y, exact_root=y, position=0.0)
        case = _with_y0(case, float(y) + position)
    else:
        cx, cy, half_width, height = _conic_extent(curve)
        side = _sign(draw)
        x = cx + side * Fraction(half_width).limit_denominator(2**_X_BITS)
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

    Returns:
        A strategy generating CurveCases of family "user".  Shrinks toward the grid
        point nearest the middle of ``x_range`` and its lowest root.

    Raises:
        ValueError: from ``user_curve`` for bad text, or when no usable point lies
            in the box (widen ``x_range``/``y_range``).
    """
    curve = _curves.user_curve(text)
    for name, bounds in (("x_range", x_range), ("y_range", y_range)):
        if len(bounds) != 2 or not bounds[0] < bounds[1]:
            raise InvalidArgument(f"{name}={bounds!r} must be (lo, hi) with lo < hi.")
    _check_number("min_degeneracy", min_degeneracy, minimum=0, maximum=0.99)
    points = _user_points(curve, x_range, y_range, min_degeneracy)
    if not points:
        raise ValueError(
            f"curve {text!r} has no point with degeneracy >= {min_degeneracy} in "
            f"x_range={x_range!r}, y_range={y_range!r}; widen the ranges."
        )
    mid = (x_range[0] + x_range[1]) / 2
    points.sort(key=lambda p: (abs(float(p[0]) - mid), p[1]))
    return _user_curve_cases(curve, tuple(points))


def _user_points(
    curve: Curve, x_range: tuple[float, float], y_range: tuple[float, float], min_degeneracy: float
) -> list[tuple[Fraction, float]]:
    import numpy as np

    F = compile_curve(curve.source)
    xs = np.linspace(x_range[0], x_range[1], 65)
    ys = np.linspace(y_range[0], y_range[1], 513)
    points: list[tuple[Fraction, float]] = []
    for x_float in xs:
        x = Fraction(round(float(x_float) * 2**_X_BITS), 2**_X_BITS)
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
    position = _sign(draw) * draw(st.integers(10, 100)) / 100
    case = oracle.curve_case(curve, x, guess, position=position)
    _record(case, aim_degenerate=False)
    return case


# -- map cases ---------------------------------------------------------------------------


def map_cases(
    *,
    dtypes: Sequence[str] | str = DTYPES,
    families: Sequence[str] | str = MAP_FAMILIES,
    min_abs_rho: float = 0.05,
    max_abs_rho: float = 0.95,
    scalar: bool | None = None,
    max_unknowns: int = 4,
) -> st.SearchStrategy[MapCase]:
    """Fixed-point problems ``x* = f(a)(x*)`` with the oracle ``(I - f_x)^-1 f_a``.

    - "curve-map": ``f(a)(x) = x - alpha F(a, x)`` for a curve case, with the
      contraction rate ``rho = 1 - alpha F_y`` drawn from the continuum
      ``min_abs_rho <= |rho| <= max_abs_rho``, both signs (a single ``rho`` lets
      some wrong backward coincide with the right one).
    - "sqrt": Newton's square root ``(x + a / x) / 2`` (``rho = 0``), one to three
      components.
    - "coupled": ``A x + B sin(x) + C a`` with 2 to ``max_unknowns`` unknowns, 1 to
      3 parameters, ``A`` not symmetric (so ``f_x`` is not: a transposed Jacobian
      shows) and row sums of ``|A| + |B|`` up to ``max_abs_rho``.

    Args:
        dtypes: subset of ``("float64", "float32")``.
        families: subset of ``("curve-map", "sqrt", "coupled")``.
        min_abs_rho: smallest ``|rho|`` of curve-maps, in ``(0, max_abs_rho]``.
        max_abs_rho: largest ``|rho|`` (and coupled row-sum bound), in ``(0, 0.99]``.
        scalar: 0-d ``a`` and ``x`` (True), shape ``(1,)``-or-longer vectors
            (False) or both (None); "coupled" is always vector.
        max_unknowns: largest ``m`` of coupled maps, in ``[2, 4]``.

    Returns:
        A strategy generating MapCases; records ``event(f"family: {family}")``,
        ``event(f"dtype: {dtype}")`` and ``event("degenerate")``.  Shrinks toward a
        float64 scalar map: Newton's square root of 1, or a curve-map of the unit
        circle with ``rho = min_abs_rho``.
    """
    chosen_dtypes = _check_choices("dtypes", dtypes, DTYPES)
    chosen = _check_choices("families", families, MAP_FAMILIES)
    _check_number("max_abs_rho", max_abs_rho, minimum=1e-3, maximum=0.99)
    _check_number("min_abs_rho", min_abs_rho, minimum=1e-3, maximum=max_abs_rho)
    if scalar is not None and not isinstance(scalar, bool):
        raise InvalidArgument(f"scalar={scalar!r} must be True, False or None.")
    _check_int("max_unknowns", max_unknowns, minimum=2, maximum=4)
    if chosen == ("coupled",) and scalar is True:
        raise InvalidArgument("scalar=True with families=('coupled',): coupled maps are vectors.")
    dtype = st.sampled_from(chosen_dtypes)
    scalars = st.booleans().map(lambda b: not b) if scalar is None else st.just(scalar)
    options = []
    if "curve-map" in chosen:
        options.append(_curve_maps(dtype, scalars, min_abs_rho, max_abs_rho))
    if "sqrt" in chosen:
        options.append(_sqrt_maps(dtype, scalars))
    if "coupled" in chosen and scalar is not True:
        options.append(_coupled_maps(dtype, max_unknowns, max_abs_rho))
    return st.one_of(options).map(_record_map)


def _record_map(case: MapCase) -> MapCase:
    event(f"family: {case.family}")
    event(f"dtype: {case.dtype}")
    if case.degenerate:
        event("degenerate")
    return case


@st.composite
def _curve_maps(
    draw: st.DrawFn,
    dtypes: st.SearchStrategy[str],
    scalars: st.SearchStrategy[bool],
    min_abs_rho: float,
    max_abs_rho: float,
) -> MapCase:
    dtype, scalar = draw(dtypes), draw(scalars)
    # record=False: the map's own events say "curve-map", not the curve's family.
    case = draw(_curve_cases(_any_curve(), 0.2, False, record=False))
    # Not st.floats, which favours "nasty" values (the bounds, 0.5) where some wrong
    # backward coincides with the right one, and not a plain integer grid, where
    # Hypothesis favours small integers: a Weyl sequence spreads even the small
    # integers over [0, 1), and 0 (the shrink target) still maps to min_abs_rho.
    step = (draw(st.integers(0, 2**20 - 1)) * 0x9E3779B1 % 2**20) / 2**20
    rho = _sign(draw) * (min_abs_rho + (max_abs_rho - min_abs_rho) * step)
    alpha = curve_maps.alpha_for_rho(case.curve, case.x, case.y_true, rho)
    position = _sign(draw) * draw(st.integers(10, 100)) / 100
    return curve_maps.map_case_from_curve(
        case.curve,
        Fraction(case.x),
        alpha,
        exact_root=case.y_true,
        dtype=dtype,
        scalar=scalar,
        position=position,
    )


@st.composite
def _sqrt_maps(
    draw: st.DrawFn, dtypes: st.SearchStrategy[str], scalars: st.SearchStrategy[bool]
) -> MapCase:
    dtype, scalar = draw(dtypes), draw(scalars)
    m = 1 if scalar else draw(st.integers(1, 3))
    a = [Fraction(16 + draw(st.integers(-12, 240)), 16) for _ in range(m)]
    x0 = [(8 + draw(st.integers(-6, 56))) / 8 for _ in range(m)]
    return maps.sqrt_map(a, x0, dtype=dtype, scalar=scalar)


@st.composite
def _coupled_maps(
    draw: st.DrawFn, dtypes: st.SearchStrategy[str], max_unknowns: int, max_abs_rho: float
) -> MapCase:
    dtype = draw(dtypes)
    m = draw(st.integers(2, max_unknowns))
    k = draw(st.integers(1, 3))
    entry = st.integers(-4, 4)
    A = [[draw(entry) for _ in range(m)] for _ in range(m)]
    # Construct the asymmetry rather than hope for it: A[0][1] - A[1][0] >= 2.
    A[0][1] = A[1][0] + 2 + draw(st.integers(0, 2))
    B = [draw(entry) for _ in range(m)]
    budget = Fraction(draw(st.integers(10, int(100 * max_abs_rho))), 100)
    total = max(sum(abs(v) for v in A[i]) + abs(B[i]) for i in range(m))
    scale = budget / total
    A_ = [[v * scale for v in row] for row in A]
    B_ = [[B[i] * scale if i == j else Fraction(0) for j in range(m)] for i in range(m)]
    C = [[Fraction(draw(st.integers(-8, 8)), 4) for _ in range(k)] for _ in range(m)]
    a = [Fraction(draw(st.integers(-16, 16)), 8) for _ in range(k)]
    x0 = [draw(st.integers(-8, 8)) / 4 for _ in range(m)]
    return maps.coupled_map(A_, B_, C, a, x0, dtype=dtype)
