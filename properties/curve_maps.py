"""The curve-map family: ``f(a)(x) = x - alpha F(a, x)`` for a curve ``F``.

A curve case becomes a fixed-point problem: the parameter ``a`` is the curve's
``x`` and the state the curve's ``y``, so ``x*`` is the root of ``F(a, .)`` and
``rho = 1 - alpha F_y`` there (``alpha_for_rho`` picks ``alpha`` for a wanted
rate).  The start ``x0`` lies where the map surely contracts, moved toward ``x*``
until the float iteration settles (``properties.rehearsal``).
"""

from __future__ import annotations

from fractions import Fraction
from typing import Any

import mpmath
import sympy

from properties.exact import (
    CompiledCurve,
    X,
    Y,
    coefficients_at,
    compile_curve,
    exact_rational,
    map_symbols,
    mp,
)
from properties.maps import fixed_point_tol, map_case
from properties.oracle import first_sign_change, point_oracle
from properties.records import Curve, MapCase
from properties.rehearsal import float_map, settling_start
from properties.roots import root_near
from properties.simplicity import simplest_between
from properties.torch_source import format_polynomial

__all__ = ["alpha_for_rho", "map_case_from_curve"]


def alpha_for_rho(
    curve: Curve,
    x: Any,
    y_true: Any,
    rho: float,
    *,
    band: tuple[float, float] | None = None,
) -> sympy.Rational:
    """The simplest rational ``alpha`` with ``rho' = 1 - alpha F_y(x, y_true)`` in ``band``.

    ``band`` is the interval of contraction rates the caller accepts (default: within
    1e-3 of ``rho``); it must not hold +-1.  The simplest ``alpha`` in the matching
    interval (``simplicity.simplest_between``: smallest denominator) keeps the map
    ``y - alpha F`` exact and readable; the exact ``rho'`` is ``MapCase.rho``.

    Raises:
        ValueError: at a point where ``F_y == 0`` (no ``alpha`` contracts there), or for
            a band that does not hold ``rho`` or reaches ``|rho| >= 1``.
    """
    F_y = point_oracle(curve, x, y_true).F_y
    if F_y == 0:
        raise ValueError(f"F_y = 0 at x = {x}, y = {y_true}: no alpha gives rho={rho}.")
    lo, hi = band if band is not None else (rho - 1e-3, rho + 1e-3)
    if not (lo <= rho <= hi and lo > -1 and hi < 1):
        raise ValueError(f"band={band!r} must hold rho={rho} and lie inside (-1, 1).")
    F_y_q = Fraction(float(F_y))
    ends = ((1 - Fraction(lo)) / F_y_q, (1 - Fraction(hi)) / F_y_q)
    return sympy.Rational(simplest_between(*ends))


def map_case_from_curve(
    curve: Curve,
    x: Any,
    alpha: Any,
    *,
    guess: Any = 0,
    dtype: str = "float64",
    scalar: bool = True,
    position: float = 0.5,
    exact_root: Any = None,
) -> MapCase:
    """The curve-map ``g(y) = y - alpha F(x, y)`` in HIPS notation.

    The parameter ``a`` is the curve's ``x`` (one component) and the state is the
    curve's ``y``: ``f(a)(x) = x - alpha F(a, x)``.  Its fixed point is the root
    of ``F(a, .)`` nearest ``guess`` and its rate ``rho = 1 - alpha F_y``.

    Args:
        curve: the curve.
        x: the curve's point (the parameter ``a``), a dyadic rational.
        alpha: the step (exact rational, e.g. from ``alpha_for_rho``).
        guess: selects the root.
        dtype: "float64" or "float32".
        scalar: 0-d ``a`` and ``x`` (else shape ``(1,)``, indexed ``a[0]``, ``x[0]``).
        position: in ``[-1, 1]``: where ``x0`` sits in the interval around ``x*``
            on which ``|1 - alpha F_y| <= (1 + |rho|) / 2`` (a sure contraction;
            its edges are the exact roots for polynomial curves).  ``x0`` is then
            moved toward ``x*`` until plain iteration in ``dtype`` and the adjoint
            iteration both stop at the case's ``tol`` (``rehearsal.settling_start``).
        exact_root: the root (e.g. ``CurveCase.y_true``) when already known.

    Raises:
        ValueError: if ``|rho| >= 1`` at the root.
    """
    if not -1.0 <= position <= 1.0:
        raise ValueError(f"position={position!r} must lie in [-1, 1].")
    alpha_ = sympy.Rational(Fraction(alpha) if not isinstance(alpha, str) else alpha)
    x_exact = exact_rational(x)
    y_true = mp(exact_root) if exact_root is not None else root_near(curve, x_exact, guess)
    rho = 1 - float(alpha_) * float(point_oracle(curve, x_exact, y_true).F_y)
    if not abs(rho) < 1:
        raise ValueError(
            f"alpha={alpha_} gives rho = 1 - alpha*F_y = {rho:.3g} at the root: "
            "not a contraction; pick alpha with |1 - alpha*F_y| < 1 (see alpha_for_rho)."
        )
    compiled = compile_curve(curve.source)
    x_f, a_f = float(y_true), float(x_exact)
    alpha_q = Fraction(str(alpha_))
    # |g'| <= bound < 1 on the symmetric interval [x* - r, x* + r] keeps every
    # iterate inside it (mean value theorem); an asymmetric one would not when
    # rho < 0 makes the iteration jump to the shorter side.
    bound = (1 + abs(rho)) / 2
    radius = _contraction_radius(compiled, alpha_q, x_exact, y_true, bound)
    xs, as_ = map_symbols(1, 1, scalar=scalar)
    texts = None
    g_terms: dict[tuple[int, int], Fraction] | None = None
    if compiled.terms is not None:
        # g(a, x) = x - alpha F(a, x): the curve's (x, y) become (a, x).
        g_terms = {(i, j): -alpha_q * Fraction(p, q) for i, j, p, q in compiled.terms}
        g_terms[(0, 1)] = g_terms.get((0, 1), Fraction(0)) + 1
        torch_names = ("a", "x") if scalar else ("a[0]", "x[0]")
        people_names = ("a", "x") if scalar else ("a0", "x0")
        texts = (
            (format_polynomial(g_terms, torch=True, names=torch_names),),
            format_polynomial(g_terms, names=people_names),
        )
        g = None
    else:
        g = xs[0] - alpha_ * compiled.F.xreplace({X: as_[0], Y: xs[0]})
    alpha_mp = mp(Fraction(str(alpha_)))

    def evaluate(x: list[Any], a: list[Any]) -> tuple[list[Any], Any, Any]:
        F, F_x, F_y, *_ = compiled.derivatives(a[0], x[0])
        f_x = mpmath.matrix([[1 - alpha_mp * F_y]])
        return [x[0] - alpha_mp * F], f_x, mpmath.matrix([[-alpha_mp * F_x]])

    if compiled.terms is not None:  # rounding noise of F grows with its largest terms
        term_scale = sum(abs(p * a_f**i * x_f**j / q) for i, j, p, q in compiled.terms)
    else:
        term_scale = 1.0 + abs(compiled.F_float(a_f, x_f))
    scale = abs(x_f) + abs(float(alpha_)) * term_scale
    # The tol map_case will give the case (its magnitude is max(scale, |x*|, |a|)).
    tol = fixed_point_tol(dtype, max(scale, abs(x_f), abs(a_f)), rho)
    g_float, g_x_float = float_map(compiled, g_terms, alpha_q, x_exact, dtype)
    x0 = settling_start(g_float, g_x_float, x_f, position * radius * 0.9, tol, rho, dtype)
    return map_case(
        "curve-map",
        [g] if g is not None else [],
        xs,
        as_,
        [x_exact],
        [x0],
        guess=[y_true],
        dtype=dtype,
        scalar=scalar,
        scale=scale,
        evaluate=evaluate,
        texts=texts,
    )


def _contraction_radius(
    compiled: CompiledCurve, alpha: Fraction, a: Fraction, x_star: Any, bound: float
) -> float:
    """The largest ``r <= max(1, |x*|)`` with ``|1 - alpha F_y(a, y)| <= bound`` on
    ``[x* - r, x* + r]``.

    For a polynomial ``F`` the interval ends at the nearest root of
    ``alpha F_y(a, .) = 1 -+ bound`` (``numpy.roots``, nearly real pairs counted): a scan
    on a grid can step over a narrow spike of ``|g'|`` or, when ``g'`` leaves the
    band within the first step, miss the edge altogether.  Other curves are scanned
    (``oracle.first_sign_change``, anchored at ``x*`` itself, where ``|g'| = |rho| < bound``).
    """
    x_f = float(mp(x_star))
    reach = max(1.0, abs(x_f))
    if compiled.terms_y is not None:
        import numpy as np

        scaled = [alpha * c for c in coefficients_at(compiled.terms_y, a)] or [Fraction(0)]
        radius = reach
        for level in (1 - Fraction(bound), 1 + Fraction(bound)):
            shifted = [float(c) for c in (*scaled[:-1], scaled[-1] - level)]
            if len(shifted) < 2:  # g' is constant (= rho): no edge
                continue
            for root in np.roots(shifted):
                # A nearly real pair is a near-double root: |g'| comes close to the
                # bound there; counting it only makes the interval smaller.
                if abs(root.imag) <= 1e-6 * max(1.0, abs(root.real)):
                    radius = min(radius, abs(float(root.real) - x_f))
        return radius
    a_f, alpha_f = float(a), float(alpha)

    def contracting(y: float) -> float:
        return bound - abs(1 - alpha_f * compiled.F_y_float(a_f, y))

    return min(
        first_sign_change(contracting, x_f, -1.0, reach),
        first_sign_change(contracting, x_f, +1.0, reach),
    )
