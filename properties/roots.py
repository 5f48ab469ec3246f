"""Real roots of a curve at a given x, exactly: the oracle's root finding.

A polynomial in y (at rational x) has its real roots from its exact rational
coefficients (closed forms to degree 2, ``mpmath.polyroots`` beyond, each root
polished); any other curve is solved near a guess by a bracketed Newton that
starts from the nearest extremum, so two roots a hair apart beside a fold are
told apart.  Everything at ``DPS`` digits (``properties.exact``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from fractions import Fraction
from typing import Any

import mpmath

from properties.exact import DPS, coefficients_at, compile_curve, exact_rational, mp
from properties.records import Curve

__all__ = ["real_roots", "root_near", "univariate_roots"]


def univariate_roots(coeffs: Sequence[Fraction], dps: int = DPS) -> list[mpmath.mpf]:
    """Real roots, with multiplicity, of a polynomial with exact rational coefficients.

    Degrees 1 and 2 by formula (the quadratic in its cancellation-free form, with an
    exact test for a double root), higher degrees by ``mpmath.polyroots`` at twice
    the precision (a root of multiplicity k keeps about dps / k digits).
    """
    degree = len(coeffs) - 1
    if degree <= 0:
        return []
    zeros = len(coeffs) - len(_rstrip(coeffs))
    if zeros:  # y**k divides it: k exact roots at 0 (polyroots stalls on a multiple 0)
        return sorted([mpmath.mpf(0)] * zeros + univariate_roots(_rstrip(coeffs), dps))
    with mpmath.workdps(dps + 20):
        if degree == 1:
            return [mp(-coeffs[1] / coeffs[0])]
        if degree == 2:
            a, b, c = coeffs
            disc = b * b - 4 * a * c
            if disc < 0:
                return []
            if disc == 0:
                return [mp(-b / (2 * a))] * 2
            q = -(mp(b) + mpmath.sign(b or 1) * mpmath.sqrt(mp(disc))) / 2
            roots = [q / mp(a), mp(c) / q] if c else [q / mp(a), mpmath.mpf(0)]
            return sorted(+r for r in roots)
    with mpmath.workdps(2 * dps + 20):
        mp_coeffs = [mp(c) for c in coeffs]
        found = mpmath.polyroots(mp_coeffs, maxsteps=400, extraprec=4 * dps)
        scale = max(1, *(abs(r) for r in found))
        real = [mpmath.re(r) for r in found if abs(mpmath.im(r)) <= mpmath.mpf(10) ** -dps * scale]
    return sorted(real)


def _rstrip(coeffs: Sequence[Fraction]) -> list[Fraction]:
    """``coeffs`` (highest power first) without its trailing zeros."""
    out = list(coeffs)
    while out and out[-1] == 0:
        out.pop()
    return out


def real_roots(curve: Curve, x: Any) -> list[mpmath.mpf] | None:
    """All real roots ``y`` of ``F(x, y) = 0`` at the exact point ``x``.

    Args:
        curve: the curve.
        x: the exact point (Rational, Fraction, int, float or decimal text).

    Returns:
        The sorted real roots with multiplicity (at ``DPS`` digits) when ``F`` is a
        polynomial in ``y`` with rational coefficients, else None (unknown).
    """
    compiled = compile_curve(curve.source)
    if compiled.terms is None:
        return None
    return univariate_roots(coefficients_at(compiled.terms, Fraction(str(exact_rational(x)))))


def root_near(curve: Curve, x: Any, guess: Any) -> mpmath.mpf:
    """The true root of ``F(x, .)`` nearest ``guess``, to ``DPS`` digits.

    Exact for conics (quadratic formula in sympy), ``mpmath.polyroots`` then Newton
    polishing for other polynomials in ``y``, the nearest sign change bisected to
    ``DPS`` digits otherwise (``_bracketed``: near a vertical tangent, where two roots
    are a hair apart and Newton from the fold's vertex fails, it still separates them).

    Raises:
        ValueError: if there is no real root near ``guess``, saying so.
    """
    x_ = exact_rational(x)
    roots = real_roots(curve, x_)
    compiled = compile_curve(curve.source)
    with mpmath.workdps(DPS):
        guess_ = mp(guess)
        x_mp = mpmath.mpf(x_.p) / x_.q
        d = compiled.derivatives
        if roots is not None:
            if not roots:
                raise ValueError(f"F = {curve.source} has no real root at x = {x_}.")
            root = min(roots, key=lambda r: abs(r - guess_))
            if max(j for _, j, _, _ in compiled.terms) <= 2 or roots.count(root) > 1:
                return root
            start = root
        else:
            bracketed = _bracketed(lambda y: d(x_mp, y)[0], lambda y: d(x_mp, y)[2], guess_)
            if bracketed is None:
                raise ValueError(
                    f"no root of F = {curve.source} near y = {guess} at x = {x_}: F(x, .) "
                    "keeps one sign around it (beyond a vertical tangent, or no real root)."
                )
            return +mpmath.mpf(bracketed)  # bisected to DPS digits: no polishing needed
        try:
            with mpmath.workdps(DPS + 10):
                polished = mpmath.findroot(
                    lambda y: d(x_mp, y)[0], start, solver="newton", df=lambda y: d(x_mp, y)[2]
                )
        except (ValueError, ZeroDivisionError, mpmath.libmp.NoConvergence) as exc:
            raise ValueError(
                f"no root of F = {curve.source} near y = {guess} at x = {x_}: {exc}"
            ) from exc
        return +mpmath.mpf(polished)


def _bracketed(f: Callable[[Any], Any], df: Callable[[Any], Any], guess: Any) -> Any:
    """The root of ``f`` nearest ``guess`` (``df`` its derivative), or None.

    On each side of ``guess``: the nearest zero ``e`` of ``df`` (an extremum of ``f``,
    found by a sign change of ``df``, which crosses zero transversally even where two
    roots of ``f`` are a hair apart); ``f`` is monotone between ``guess`` and ``e``,
    so a root lies there exactly when ``f(e)`` has the other sign (bisected), and
    ``f(e) == 0`` to ``DPS`` digits is a double root (a vertical tangent).
    Otherwise, the first sign change of ``f`` itself on that side.  The nearer of
    the two sides' roots wins."""
    scale = max(1, abs(guess))
    try:
        at_guess = f(guess)
    except (ValueError, ZeroDivisionError, OverflowError):
        return None
    if at_guess == 0:
        return guess
    tiny = mpmath.mpf(10) ** -(DPS - 10) * scale
    found = []
    for direction in (1, -1):
        root = None
        e = _first_change(df, guess, direction, 4 * scale)
        if e is not None:
            at_e = f(e)
            if abs(at_e) <= tiny:
                root = e
            elif mpmath.sign(at_e) != mpmath.sign(at_guess):
                root = _bisect(f, guess, e)
        if root is None:
            root = _first_change(f, guess, direction, 4 * scale)
        if root is not None:
            found.append(root)
    return min(found, key=lambda r: abs(r - guess), default=None)


def _first_change(g: Callable[[Any], Any], y: Any, direction: int, reach: Any) -> Any:
    """The first zero of ``g`` from ``y`` in ``direction`` within ``reach``, bisected from
    the first sign change of samples at ``reach * 2**-k`` (``k = 60 .. 1``) and then
    on a uniform grid of 128 steps; None when the sign never changes."""
    steps = [reach * mpmath.mpf(2) ** -k for k in range(60, 0, -1)]
    steps += [reach * i / 128 for i in range(1, 129)]
    try:
        start = g(y)
    except (ValueError, ZeroDivisionError, OverflowError):
        return None
    previous = y
    for t in steps:
        point = y + direction * t
        try:
            value = g(point)
        except (ValueError, ZeroDivisionError, OverflowError):
            return None
        if value == 0:
            return point
        if start != 0 and mpmath.isfinite(value) and mpmath.sign(value) != mpmath.sign(start):
            return _bisect(g, previous, point)
        previous = point
    return None


def _bisect(f: Callable[[Any], Any], a: Any, b: Any) -> Any:
    """A root of ``f`` between ``a`` and ``b`` (``f(a)``, ``f(b)`` of opposite signs)."""
    fa = f(a)
    for _ in range(4 * DPS):
        mid = (a + b) / 2
        fm = f(mid)
        if fm == 0:
            return mid
        if mpmath.sign(fm) == mpmath.sign(fa):
            a, fa = mid, fm
        else:
            b = mid
        if abs(b - a) <= mpmath.mpf(10) ** -(DPS + 5) * (1 + abs(a)):
            break
    return (a + b) / 2
