"""Strategies for curves: circles, ellipses and polynomials with exact coefficients."""

from __future__ import annotations

import math
from fractions import Fraction

from hypothesis import strategies as st
from hypothesis.errors import InvalidArgument

from properties import curves as _curves
from properties.records import Curve
from properties.strategies._bounds import check_int, check_number, dyadic, sign

__all__ = ["any_curve", "circles", "curves", "ellipses", "polynomials", "polynomials_unchecked"]


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
    check_number("max_radius", max_radius, minimum=1)
    check_number("max_centre", max_centre, minimum=0)
    return _circles(max_radius, max_centre)


@st.composite
def _circles(draw: st.DrawFn, max_radius: float, max_centre: float) -> Curve:
    cx, cy = dyadic(draw, max_centre, 2), dyadic(draw, max_centre, 2)
    r = Fraction(8 + draw(st.integers(-7, int(8 * max_radius) - 8)), 8)
    return _curves.circle(cx, cy, r)


def ellipses(
    *, max_axis: float = 4, max_centre: float = 2, rotated: bool = True
) -> st.SearchStrategy[Curve]:
    """Ellipses with dyadic centre and semi-axes and an exact rational rotation.

    Args:
        max_axis: largest semi-axis, >= 1.
        max_centre: largest ``|cx|`` and ``|cy|``, >= 0.
        rotated: draw rotations (``tan(theta / 2)`` from small Pythagorean
            triples, ``_HALF_TANGENTS``); else 0.

    Returns:
        A strategy generating ellipse Curves, semi-axes in multiples of 1/4 in
        ``[1/2, max_axis]``.  Shrinks toward the unrotated unit
        circle (``a = b = 1``, centre 0).
    """
    check_number("max_axis", max_axis, minimum=1)
    check_number("max_centre", max_centre, minimum=0)
    if not isinstance(rotated, bool):
        raise InvalidArgument(f"rotated={rotated!r} must be a bool.")
    return _ellipses(max_axis, max_centre, rotated)


@st.composite
def _ellipses(draw: st.DrawFn, max_axis: float, max_centre: float, rotated: bool) -> Curve:
    cx, cy = dyadic(draw, max_centre, 2), dyadic(draw, max_centre, 2)
    a = Fraction(4 + draw(st.integers(-2, int(4 * max_axis) - 4)), 4)
    b = Fraction(4 + draw(st.integers(-2, int(4 * max_axis) - 4)), 4)
    t = sign(draw) * draw(st.sampled_from(_HALF_TANGENTS)) if rotated else Fraction(0)
    return _curves.ellipse(cx, cy, a, b, 2 * math.atan(t))


#: ``tan(theta / 2)`` of the rotations drawn, simplest first: each gives a small
#: Pythagorean triple ``(cos, sin)`` (1/3: (4/5, 3/5); 1/2: (3/5, 4/5); 1/5: (12/13,
#: 5/13); 2/3: (5/13, 12/13); 1/4: (15/17, 8/17)), so rotated ellipses keep small
#: denominators (a person's ``((4x + 3y)/5)**2 / a**2 + ...``).
_HALF_TANGENTS = tuple(Fraction(t) for t in ("0", "1/3", "1/2", "1/5", "2/3", "1/4", "3/5", "1/6"))


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
    check_int("min_degree", min_degree, minimum=1)
    check_int("max_degree", max_degree, minimum=min_degree, maximum=8)
    check_int("max_coefficient", max_coefficient, minimum=1)
    check_number("min_degeneracy", min_degeneracy, minimum=1e-12, maximum=1)
    return polynomials_unchecked(min_degree, max_degree, max_coefficient, min_degeneracy, aim=False)


def _gradient(
    coefficients: dict[tuple[int, int], Fraction], x: Fraction, y: Fraction
) -> tuple[Fraction, Fraction]:
    """Exact ``(P_x, P_y)`` at ``(x, y)`` (plain Fractions: no sympy on the hot path)."""
    P_x = sum((c * i * x ** (i - 1) * y**j for (i, j), c in coefficients.items() if i), Fraction())
    P_y = sum((c * j * x**i * y ** (j - 1) for (i, j), c in coefficients.items() if j), Fraction())
    return P_x, P_y


@st.composite
def polynomials_unchecked(
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
    top = draw(st.integers(1, max_coefficient)) * sign(draw)
    coefficients[(degree - top_j, top_j)] = Fraction(top)
    x_p, y_p = dyadic(draw, 2, 3), dyadic(draw, 2, 3)
    coefficients.setdefault((1, 0), Fraction(draw(coefficient)))
    P_x, P_y = _gradient(coefficients, x_p, y_p)
    if exactly_degenerate:
        s = Fraction(0)
        if P_x == 0:  # keep ||grad F|| > 0: a vertical tangent, not a singular point
            coefficients[(1, 0)] += 1
    elif aim:
        # |s| = |P_x| 2**-e: degeneracy about 2**-e, steered by `target` downstream.
        e = draw(st.integers(1, 40))
        s = sign(draw) * max(abs(P_x), Fraction(1)) / 2**e
    else:
        # degeneracy = |s| / sqrt(s**2 + P_x**2) >= min_degeneracy for |s| >= k |P_x|.
        k = min_degeneracy / math.sqrt(1 - min_degeneracy**2) if min_degeneracy < 1 else 1e9
        floor_ = Fraction(k).limit_denominator(1000) * abs(P_x) + Fraction(1, 1000)
        extra = Fraction(draw(st.integers(0, 4 * max_coefficient)), 2)
        s = sign(draw) * (max(floor_, Fraction(1)) + extra)
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
    return any_curve()


def any_curve() -> st.SearchStrategy[Curve]:
    return st.one_of(circles(), ellipses(), polynomials())
