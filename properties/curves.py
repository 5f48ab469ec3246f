"""Curve constructors: exact sympy expressions ``F(x, y)`` and their torch source.

Every constructor returns a :class:`~properties.records.Curve` whose ``source``
is sympy text of ``F`` (parsable back with :func:`expression`) and whose
``torch_source`` is the same expression as Python source over ``x``, ``y`` and
``torch``.  Coefficients are kept exact (integers and rationals; rotations use
rational cosines and sines from Pythagorean triples) so that the oracle can
compute roots and derivatives to 30+ digits.

The invariant of ``torch_source`` (one dtype in, the same dtype out) is
``properties.torch_source``'s.  This module re-exports what a curve's author
needs beside the families: the symbols ``X``, ``Y`` and ``expression`` (from the
engine, ``properties.exact``), the printers (``properties.torch_source``) and
``user_curve`` (``properties.user_curves``).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping
from fractions import Fraction

import sympy

from properties.exact import X, Y, expression
from properties.records import Curve
from properties.torch_source import format_polynomial, to_torch_source
from properties.user_curves import user_curve

__all__ = [
    "X",
    "Y",
    "RationalLike",
    "circle",
    "ellipse",
    "expression",
    "format_polynomial",
    "polynomial",
    "rotation",
    "to_torch_source",
    "user_curve",
]

#: Anything :func:`sympy.Rational` accepts exactly: int, Fraction, "3/4", Rational.
RationalLike = int | Fraction | str | sympy.Rational


def _rational(value: RationalLike, name: str) -> sympy.Rational:
    """``value`` as an exact sympy Rational, or ValueError naming ``name``."""
    if isinstance(value, float):
        raise ValueError(
            f"{name}={value!r} is a float; pass an int, a Fraction or a string like '3/4' "
            "so that the curve stays exact."
        )
    try:
        rational = sympy.Rational(value)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name}={value!r} is not an exact rational number.") from exc
    if not isinstance(rational, sympy.Rational):  # pragma: no cover - sympy returns Rational
        raise ValueError(f"{name}={value!r} is not an exact rational number.")
    return rational


#: A polynomial in x, y as ``{(i, j): c}`` for ``c x**i y**j``.
Terms = dict[tuple[int, int], Fraction]


def _polynomial_curve(family: str, terms: Terms, params: tuple[tuple[str, str], ...]) -> Curve:
    terms = {k: v for k, v in terms.items() if v != 0}
    return Curve(
        family=family,
        source=format_polynomial(terms),
        torch_source=format_polynomial(terms, torch=True),
        params=params,
    )


def _fraction(value: RationalLike, name: str) -> Fraction:
    return Fraction(str(_rational(value, name)))


def circle(cx: RationalLike = 0, cy: RationalLike = 0, r: RationalLike = 1) -> Curve:
    """The circle ``(x - cx)**2 + (y - cy)**2 - r**2 = 0``.

    Args:
        cx: centre abscissa (exact rational).
        cy: centre ordinate (exact rational).
        r: radius, > 0 (exact rational).

    Returns:
        A Curve of family "circle"; ``F_y = 0`` exactly at ``x = cx +- r``.

    Raises:
        ValueError: for a non-positive radius or a non-rational argument.
    """
    cx_, cy_, r_ = _fraction(cx, "cx"), _fraction(cy, "cy"), _fraction(r, "r")
    if r_ <= 0:
        raise ValueError(f"r={r!r} must be > 0.")
    return _circle(cx_, cy_, r_)


@functools.lru_cache(maxsize=4096)
def _circle(cx: Fraction, cy: Fraction, r: Fraction) -> Curve:
    terms = {
        (2, 0): Fraction(1),
        (0, 2): Fraction(1),
        (1, 0): -2 * cx,
        (0, 1): -2 * cy,
        (0, 0): cx * cx + cy * cy - r * r,
    }
    return _polynomial_curve("circle", terms, (("cx", str(cx)), ("cy", str(cy)), ("r", str(r))))


def rotation(theta: float | RationalLike) -> tuple[sympy.Rational, sympy.Rational]:
    """Exact rational ``(cos, sin)`` of a rotation close to the angle ``theta``.

    With ``t`` a rational close to ``tan(theta / 2)``, ``cos = (1 - t**2) / (1 + t**2)``
    and ``sin = 2 t / (1 + t**2)`` (a Pythagorean triple), so ``cos**2 + sin**2 == 1``
    exactly. ``theta`` must lie in ``(-pi, pi)``; ``t`` has denominator <= 12.

    Args:
        theta: the angle in radians.

    Returns:
        ``(cos, sin)`` as sympy Rationals.
    """
    theta_ = float(theta)
    if not -math.pi < theta_ < math.pi:
        raise ValueError(f"theta={theta!r} must lie in (-pi, pi).")
    t = sympy.Rational(Fraction(math.tan(theta_ / 2)).limit_denominator(12))
    return (1 - t**2) / (1 + t**2), 2 * t / (1 + t**2)


def ellipse(
    cx: RationalLike = 0,
    cy: RationalLike = 0,
    a: RationalLike = 1,
    b: RationalLike = 1,
    theta: float | RationalLike = 0,
) -> Curve:
    """The ellipse with centre ``(cx, cy)``, semi-axes ``a``, ``b``, rotated by ``theta``.

    ``F = u**2 / a**2 + v**2 / b**2 - 1`` with ``u = c (x - cx) + s (y - cy)``,
    ``v = -s (x - cx) + c (y - cy)``, where ``(c, s) = rotation(theta)`` is an exact
    rational rotation close to ``theta`` (recorded in ``params``).

    Args:
        cx: centre abscissa (exact rational).
        cy: centre ordinate (exact rational).
        a: semi-axis along the rotated x axis, > 0.
        b: semi-axis along the rotated y axis, > 0.
        theta: rotation angle in radians, in ``(-pi, pi)``.

    Returns:
        A Curve of family "ellipse" whose coefficients are exact rationals.

    Raises:
        ValueError: for non-positive semi-axes, a non-rational centre or axis, or an
            angle outside ``(-pi, pi)``.
    """
    cx_, cy_ = _fraction(cx, "cx"), _fraction(cy, "cy")
    a_, b_ = _fraction(a, "a"), _fraction(b, "b")
    for name, value, exact in (("a", a, a_), ("b", b, b_)):
        if exact <= 0:
            raise ValueError(f"{name}={value!r} must be > 0.")
    c, s = (Fraction(str(v)) for v in rotation(theta))
    return _ellipse(cx_, cy_, a_, b_, c, s)


@functools.lru_cache(maxsize=4096)
def _ellipse(
    cx: Fraction, cy: Fraction, a: Fraction, b: Fraction, c: Fraction, s: Fraction
) -> Curve:
    # u**2/a**2 + v**2/b**2 - 1 = A X**2 + B X Y + C Y**2 - 1 with X = x - cx, Y = y - cy.
    A = c * c / (a * a) + s * s / (b * b)
    B = 2 * c * s * (1 / (a * a) - 1 / (b * b))
    C = s * s / (a * a) + c * c / (b * b)
    terms = {
        (2, 0): A,
        (1, 1): B,
        (0, 2): C,
        (1, 0): -2 * A * cx - B * cy,
        (0, 1): -2 * C * cy - B * cx,
        (0, 0): A * cx * cx + B * cx * cy + C * cy * cy - 1,
    }
    params = (("cx", str(cx)), ("cy", str(cy)), ("a", str(a)), ("b", str(b)))
    params = (*params, ("cos", str(c)), ("sin", str(s)))
    if any(f.denominator > 64 for f in (cx, cy, a, b, c, s)):  # no simpler to read
        return _polynomial_curve("ellipse", terms, params)
    # As a person writes it: (u/a)**2 + (v/b)**2 - 1, u and v the rotated offsets.
    u, v = _rotated(c, s, cx, cy, 1), _rotated(c, s, cx, cy, 2)
    parts = [_over(u, a * a), _over(v, b * b), "-1"]
    return Curve(
        family="ellipse",
        source=" + ".join(parts).replace("+ -", "- "),
        torch_source=" + ".join((*parts[:2], "-1")).replace("+ -", "- "),
        params=params,
    )


def _offset(name: str, centre: Fraction) -> str:
    """``x``, ``(x - 1/2)`` or ``(x + 3/4)``."""
    if centre == 0:
        return name
    return f"({name} {'-' if centre > 0 else '+'} {abs(centre)})"


def _rotated(c: Fraction, s: Fraction, cx: Fraction, cy: Fraction, which: int) -> str:
    """``u = c X + s Y`` (``which`` 1) or ``v = -s X + c Y`` (2), ``X = x - cx``,
    ``Y = y - cy``, over the common denominator of ``c`` and ``s``:
    ``(4*(x - 1/2) + 3*y)/5``."""
    X, Y = _offset("x", cx), _offset("y", cy)
    p, q = (c, s) if which == 1 else (-s, c)
    den = math.lcm(p.denominator, q.denominator)
    parts = [(int(p * den), name) for p, name in ((p, X), (q, Y)) if p]
    text = " + ".join(
        name if k == 1 else f"-{name}" if k == -1 else f"{k}*{name}" for k, name in parts
    ).replace("+ -", "- ")
    return text if den == 1 else f"({text})/{den}"


def _atomic(text: str) -> bool:
    """Whether ``text**2`` squares all of ``text``: a name, or one parenthesised group."""
    if text.isidentifier():
        return True
    if not (text.startswith("(") and text.endswith(")")):
        return False
    depth = 0
    for i, ch in enumerate(text):
        depth += {"(": 1, ")": -1}.get(ch, 0)
        if depth == 0 and i < len(text) - 1:
            return False
    return True


def _over(u: str, q: Fraction) -> str:
    """``u**2 / q`` as text (``u**2`` when ``q`` is 1; a fraction in parentheses, which
    the torch text reads as a float literal)."""
    square = f"{u}**2" if _atomic(u) else f"({u})**2"
    if q == 1:
        return square
    return f"{square}/({q})" if q.denominator != 1 else f"{square}/{q}"


def polynomial(
    coefficients: Mapping[tuple[int, int], RationalLike],
    through: tuple[RationalLike, RationalLike] = (0, 0),
) -> Curve:
    """The polynomial curve ``P(x, y) - P(x_p, y_p) = 0`` through ``(x_p, y_p)``.

    ``P = sum(c[i, j] * x**i * y**j)``; subtracting its value at the point makes the
    curve pass through ``through`` exactly (construction, not filtering).

    Args:
        coefficients: ``{(i, j): c}`` with exponents ``i, j >= 0`` and exact
            rational coefficients; some term with ``j >= 1`` must be non-zero.
        through: the point ``(x_p, y_p)`` on the curve (exact rationals).

    Returns:
        A Curve of family "polynomial" with ``F(x_p, y_p) == 0`` exactly.

    Raises:
        ValueError: for negative exponents, non-rational coefficients, or a
            polynomial that does not depend on ``y``.
    """
    x_p, y_p = _fraction(through[0], "through[0]"), _fraction(through[1], "through[1]")
    terms: Terms = {}
    for (i, j), c in coefficients.items():
        if i < 0 or j < 0:
            raise ValueError(f"exponent (i, j)={(i, j)!r} must have i >= 0 and j >= 0.")
        terms[(i, j)] = terms.get((i, j), Fraction(0)) + _fraction(c, f"coefficients[{(i, j)!r}]")
    value = sum((c * x_p**i * y_p**j for (i, j), c in terms.items()), Fraction(0))
    terms[(0, 0)] = terms.get((0, 0), Fraction(0)) - value
    if not any(c for (_, j), c in terms.items() if j):
        raise ValueError(
            f"coefficients={dict(coefficients)!r} give a polynomial constant in y; "
            "give some term with j >= 1 a non-zero coefficient."
        )
    degree = max(i + j for (i, j), c in terms.items() if c)
    params = (("degree", str(degree)), ("x_p", str(x_p)), ("y_p", str(y_p)))
    return _polynomial_curve("polynomial", terms, params)
