"""Exact answers: true roots, ``dy/dx``, ``d2y/dx2`` and ``(I - f_x)^-1 f_a``.

Everything here is computed in sympy (exact) or mpmath at ``DPS`` digits and
returned as decimal strings with ``DIGITS`` significant digits, never through
float32 or float64.  Each curve's derivatives are differentiated and lambdified
once per ``source`` (``functools.lru_cache``), so building many cases on one
curve costs one sympy pass.

Curve cases:
    ``dy/dx = -F_x / F_y``,
    ``d2y/dx2 = -(F_xx F_y**2 - 2 F_xy F_x F_y + F_yy F_x**2) / F_y**3``,
    ``degeneracy = |F_y| / ||grad F||`` and ``condition = 1 / degeneracy``
    (clipped to ``CONDITION_CLIP``), all at ``(x, y_true)``.

Map cases (HIPS notation ``x* = f(a)(x*)``):
    ``dx*/da = (I - f_x)^-1 f_a``, ``sigma_min`` the smallest singular value of
    ``I - f_x`` and ``rho`` the spectral radius of ``f_x`` (signed when ``m == 1``).
"""

from __future__ import annotations

import dataclasses
import functools
import math
from collections.abc import Callable, Sequence
from decimal import Decimal, localcontext
from fractions import Fraction
from typing import Any

import mpmath
import sympy

from properties.curves import X, Y, expression, format_polynomial, to_torch_source
from properties.records import Curve, CurveCase, MapCase

__all__ = [
    "CONDITION_CLIP",
    "DIGITS",
    "DPS",
    "PointOracle",
    "alpha_for_rho",
    "basin",
    "coupled_map",
    "curve_case",
    "exact_decimal",
    "fixed_point_tol",
    "map_case",
    "map_case_from_curve",
    "point_oracle",
    "real_roots",
    "root_near",
    "sqrt_map",
]

#: Working precision (decimal digits) of every mpmath computation.
DPS = 50
#: Significant digits written to the records (>= 30 as the records require).
DIGITS = 40
#: ``condition`` is clipped here: the measure is meaningless beyond it.
CONDITION_CLIP = 1e16
#: ``|F_y|`` below this (relative to ``||grad F||``) counts as exactly zero.
_EXACT_ZERO = mpmath.mpf("1e-40")


def _nstr(value: Any) -> str:
    with mpmath.workdps(DPS):
        return mpmath.nstr(_mp(value), DIGITS, min_fixed=-30, max_fixed=30)


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


# -- curves ------------------------------------------------------------------------------


_Terms = tuple[tuple[int, int, int, int], ...]  # (i, j, p, q): (p / q) x**i y**j


def _evaluate(terms: _Terms, x: Any, y: Any) -> Any:
    """``sum(p / q * x**i * y**j)`` for mpmath numbers or floats."""
    return sum((p * x**i * y**j / q for i, j, p, q in terms), 0 * x)


def _terms_of(poly: sympy.Poly) -> _Terms:
    return tuple(
        (i, j, int(sympy.Rational(c).p), int(sympy.Rational(c).q)) for (i, j), c in poly.terms()
    )


@dataclasses.dataclass(frozen=True)
class _CompiledCurve:
    """One curve's derivatives, ready to evaluate (built once per source).

    ``derivatives(x, y)`` returns ``(F, F_x, F_y, F_xx, F_xy, F_yy)`` for mpmath
    or float arguments.  ``terms`` is set when ``F`` is a polynomial over Q: then
    everything is evaluated from exact coefficients, without sympy or lambdify.
    """

    source: str
    derivatives: Callable[[Any, Any], tuple[Any, ...]]
    floats: Callable[[float, float], tuple[float, float]]  # (F, F_y) in float64
    terms: _Terms | None
    terms_y: _Terms | None  # of F_y

    @property
    def F(self) -> sympy.Expr:
        return expression(self.source)

    def F_float(self, x: float, y: float) -> float:
        if self.terms is not None:
            return float(_evaluate(self.terms, x, y))
        return self.floats(x, y)[0]

    def F_y_float(self, x: float, y: float) -> float:
        if self.terms_y is not None:
            return float(_evaluate(self.terms_y, x, y))
        return self.floats(x, y)[1]


def _differentiate(terms: _Terms, wrt: int) -> _Terms:
    """Exact partial derivative of ``terms`` in x (``wrt=0``) or y (``wrt=1``)."""
    out = []
    for i, j, p, q in terms:
        power = (i, j)[wrt]
        if power:
            factor = Fraction(p * power, q)
            out.append((i - (wrt == 0), j - (wrt == 1), factor.numerator, factor.denominator))
    return tuple(out)


def _parse_polynomial(source: str) -> _Terms | None:
    """Terms of a polynomial written as ``curves`` writes them, else None.

    Reads ``"3/4*x**2*y - x + 2"``: a sign-separated sum of products of an
    integer or ``p/q`` and powers of ``x`` and ``y``.  Anything else (functions,
    parentheses, floats) gives None, and sympy parses the text instead.
    """
    tokens = source.replace("**", "^").split()
    if not tokens:
        return None
    if tokens[0].startswith("-") and len(tokens[0]) > 1:
        tokens = ["-", tokens[0][1:], *tokens[1:]]
    else:
        tokens = ["+", *tokens]
    if len(tokens) % 2:
        return None
    terms: dict[tuple[int, int], Fraction] = {}
    for sign, body in zip(tokens[::2], tokens[1::2], strict=True):
        if sign not in "+-" or len(sign) != 1:
            return None
        coefficient, powers = Fraction(1 if sign == "+" else -1), [0, 0]
        for factor in body.split("*"):
            name, _, exponent = factor.partition("^")
            if name in ("x", "y") and (not exponent or exponent.isdigit()):
                powers[name == "y"] += int(exponent or 1)
            elif not exponent and all(part.isdigit() for part in name.split("/", 1)):
                coefficient *= Fraction(name)
            else:
                return None
        key = (powers[0], powers[1])
        terms[key] = terms.get(key, Fraction(0)) + coefficient
    return tuple((i, j, c.numerator, c.denominator) for (i, j), c in terms.items() if c)


@functools.lru_cache(maxsize=4096)
def _compiled(source: str) -> _CompiledCurve:
    terms = _parse_polynomial(source)
    if terms is None:
        try:
            poly = sympy.Poly(expression(source), X, Y)
            if poly.domain.is_QQ or poly.domain.is_ZZ:
                terms = _terms_of(poly)
        except sympy.PolynomialError:
            pass
    if terms is not None:
        # Polynomials (every built-in family): differentiate the exact coefficients;
        # far cheaper than sympy.diff + lambdify per curve.
        F_x, F_y = _differentiate(terms, 0), _differentiate(terms, 1)
        all_terms = [
            terms,
            F_x,
            F_y,
            _differentiate(F_x, 0),
            _differentiate(F_x, 1),
            _differentiate(F_y, 1),
        ]

        def derivatives(x: Any, y: Any) -> tuple[Any, ...]:
            return tuple(_evaluate(t, x, y) for t in all_terms)

        def floats(x: float, y: float) -> tuple[float, float]:
            return float(_evaluate(terms, x, y)), float(_evaluate(F_y, x, y))

        return _CompiledCurve(source, derivatives, floats, terms, F_y)
    F = expression(source)
    F_x, F_y = sympy.diff(F, X), sympy.diff(F, Y)
    exprs = [F, F_x, F_y, sympy.diff(F_x, X), sympy.diff(F_x, Y), sympy.diff(F_y, Y)]
    mp_all = sympy.lambdify((X, Y), exprs, modules="mpmath")
    float_pair = sympy.lambdify((X, Y), [F, F_y], modules="math")
    return _CompiledCurve(
        source,
        lambda x, y: tuple(mp_all(x, y)),
        lambda x, y: tuple(float_pair(x, y)),
        None,
        None,
    )


def _coefficients_at(terms: _Terms, x: Fraction) -> list[Fraction]:
    """Exact coefficients (highest power of ``y`` first) of ``F(x, .)``, no leading zeros."""
    degree = max((j for _, j, _, _ in terms), default=0)
    coeffs = [Fraction(0)] * (degree + 1)
    for i, j, p, q in terms:
        coeffs[degree - j] += Fraction(p, q) * x**i
    while coeffs and coeffs[0] == 0:
        coeffs.pop(0)
    return coeffs


def _univariate_roots(coeffs: Sequence[Fraction], dps: int = DPS) -> list[mpmath.mpf]:
    """Real roots, with multiplicity, of a polynomial with exact rational coefficients.

    Degrees 1 and 2 by formula (the quadratic in its cancellation-free form, with an
    exact test for a double root), higher degrees by ``mpmath.polyroots`` at twice
    the precision (a root of multiplicity k keeps about dps / k digits).
    """
    degree = len(coeffs) - 1
    if degree <= 0:
        return []
    with mpmath.workdps(dps + 20):
        if degree == 1:
            return [_mp(-coeffs[1] / coeffs[0])]
        if degree == 2:
            a, b, c = coeffs
            disc = b * b - 4 * a * c
            if disc < 0:
                return []
            if disc == 0:
                return [_mp(-b / (2 * a))] * 2
            q = -(_mp(b) + mpmath.sign(b or 1) * mpmath.sqrt(_mp(disc))) / 2
            roots = [q / _mp(a), _mp(c) / q] if c else [q / _mp(a), mpmath.mpf(0)]
            return sorted(+r for r in roots)
    with mpmath.workdps(2 * dps + 20):
        mp_coeffs = [_mp(c) for c in coeffs]
        found = mpmath.polyroots(mp_coeffs, maxsteps=400, extraprec=4 * dps)
        scale = max(1, *(abs(r) for r in found))
        real = [mpmath.re(r) for r in found if abs(mpmath.im(r)) <= mpmath.mpf(10) ** -dps * scale]
    return sorted(real)


def _mp(value: Any) -> mpmath.mpf:
    """``value`` (mpf, sympy number, Rational, float or text) as an mpmath number."""
    if isinstance(value, mpmath.mpf):
        return value
    with mpmath.workdps(DPS + 10):
        if isinstance(value, Fraction):
            return mpmath.mpf(value.numerator) / value.denominator
        if isinstance(value, sympy.Basic):
            return mpmath.mpf(str(sympy.N(value, DPS + 10)))
        return mpmath.mpf(str(value)) if isinstance(value, str) else mpmath.mpf(value)


def _x_rational(x: Any) -> sympy.Rational:
    rational = sympy.Rational(str(x)) if isinstance(x, str) else sympy.Rational(Fraction(x))
    return rational


def real_roots(curve: Curve, x: Any) -> list[mpmath.mpf] | None:
    """All real roots ``y`` of ``F(x, y) = 0`` at the exact point ``x``.

    Args:
        curve: the curve.
        x: the exact point (Rational, Fraction, int, float or decimal text).

    Returns:
        The sorted real roots with multiplicity (at ``DPS`` digits) when ``F`` is a
        polynomial in ``y`` with rational coefficients, else None (unknown).
    """
    compiled = _compiled(curve.source)
    if compiled.terms is None:
        return None
    return _univariate_roots(_coefficients_at(compiled.terms, Fraction(str(_x_rational(x)))))


def root_near(curve: Curve, x: Any, guess: Any) -> mpmath.mpf:
    """The true root of ``F(x, .)`` nearest ``guess``, to ``DPS`` digits.

    Exact for conics (quadratic formula in sympy), ``mpmath.polyroots`` then Newton
    polishing for other polynomials in ``y``, ``mpmath.findroot`` otherwise.

    Raises:
        ValueError: if there is no real root (polynomials) or ``findroot`` fails.
    """
    x_ = _x_rational(x)
    roots = real_roots(curve, x_)
    compiled = _compiled(curve.source)
    with mpmath.workdps(DPS):
        guess_ = _mp(guess)
        x_mp = mpmath.mpf(x_.p) / x_.q
        if roots is not None:
            if not roots:
                raise ValueError(f"F = {curve.source} has no real root at x = {x_}.")
            root = min(roots, key=lambda r: abs(r - guess_))
            if max(j for _, j, _, _ in compiled.terms) <= 2 or roots.count(root) > 1:
                return root
            start = root
        else:
            start = guess_
        d = compiled.derivatives
        try:
            with mpmath.workdps(DPS + 10):
                polished = mpmath.findroot(
                    lambda y: d(x_mp, y)[0], start, solver="newton", df=lambda y: d(x_mp, y)[2]
                )
        except (ValueError, ZeroDivisionError) as exc:
            raise ValueError(
                f"no root of F = {curve.source} near y = {guess} at x = {x_}: {exc}"
            ) from exc
        return +mpmath.mpf(polished)


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
    derivatives = _compiled(curve.source).derivatives
    with mpmath.workdps(DPS):
        x_ = _x_rational(x)
        xm, ym = mpmath.mpf(x_.p) / x_.q, _mp(y)
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
    compiled = _compiled(curve.source)
    y_mp = _mp(y_true)
    y_f = float(y_mp)
    reach = float(reach) if reach is not None else max(1.0, abs(y_f))
    tiny = mpmath.mpf(10) ** -8 * max(1, abs(y_mp))
    left, right = reach, reach
    if compiled.terms_y is not None:
        coeffs = _coefficients_at(compiled.terms_y, Fraction(str(_x_rational(x))))
        for c in _univariate_roots(coeffs, dps=20):
            distance = float(abs(c - y_mp))
            if abs(c - y_mp) <= tiny:
                continue
            if c < y_mp:
                left = min(left, distance)
            else:
                right = min(right, distance)
    else:
        x_f = float(_x_rational(x))
        left = _scan(lambda y: compiled.F_y_float(x_f, y), y_f, -1.0, reach)
        right = _scan(lambda y: compiled.F_y_float(x_f, y), y_f, +1.0, reach)
    return y_f - left / 2, y_f + right / 2


def _scan(g: Callable[[float], float], y: float, direction: float, reach: float) -> float:
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
    x_text = exact_decimal(_x_rational(x))
    y_true = _mp(exact_root) if exact_root is not None else root_near(curve, x_text, guess)
    oracle = point_oracle(curve, x_text, y_true)
    lo, hi = basin(curve, x_text, y_true)
    y_f = float(y_true)
    y0 = y_f + position * ((hi - y_f) if position > 0 else (y_f - lo))
    return CurveCase(
        curve=curve,
        x=x_text,
        y_true=_nstr(y_true),
        y0=y0,
        dy_dx=_nstr(oracle.dy_dx),
        d2y_dx2=_nstr(oracle.d2y_dx2),
        degeneracy=oracle.degeneracy,
        condition=oracle.condition,
    )


# -- maps --------------------------------------------------------------------------------

#: ``(x, a) -> (f(a)(x), f_x, f_a)``: a list of m values, m x m and m x k mpmath matrices.
_MapEvaluator = Callable[[list[Any], list[Any]], tuple[list[Any], Any, Any]]

#: ``tol = factor * scale / (1 - |rho|)``; see ``fixed_point_tol``.
_TOL_FACTOR = {"float64": 1e-12, "float32": 5e-6}


def fixed_point_tol(dtype: str, scale: float, rho: float) -> float:
    """The ``tol`` handed to a HIPS-style ``fixed_point`` for this case.

    Floating-point iteration near ``x*`` stalls at a rounding noise of about
    ``eps * scale`` per step, amplified to ``eps * scale / (1 - |rho|)`` between
    consecutive iterates (oscillating for ``rho < 0``); the adjoint iteration
    ``u = v + f_x^T u`` stalls likewise at ``eps * |v| / (1 - |rho|)``.  Measured
    on ``map_cases`` (forward and adjoint iteration in float32, Euclidean
    distance, weights ``|v| <= 2``): correct code stops for every factor down to
    about ``1e-7`` and starts cycling at ``5e-8``; the float32 factor ``5e-6`` keeps
    a margin of about 100, the float64 factor ``1e-12`` one of about ``10**4``.
    The forward error is then up to ``tol * |rho| / (1 - |rho|)`` (about
    ``20 tol`` at ``|rho| = 0.95``), which the checks must allow.

    Args:
        dtype: "float64" or "float32".
        scale: magnitude of ``x*`` and of the terms of ``f`` (clipped below at 1).
        rho: contraction rate (spectral radius of ``f_x``), ``|rho| < 1``.

    Raises:
        ValueError: for an unknown dtype or ``|rho| >= 1``.
    """
    if dtype not in _TOL_FACTOR:
        raise ValueError(f"dtype={dtype!r} must be one of {sorted(_TOL_FACTOR)}.")
    if not abs(rho) < 1:
        raise ValueError(f"rho={rho!r} must satisfy |rho| < 1 for a contraction.")
    return _TOL_FACTOR[dtype] * max(1.0, scale) / (1 - abs(rho))


@dataclasses.dataclass(frozen=True)
class _CompiledMap:
    f: Callable[..., Any]
    f_x: Callable[..., Any]
    f_a: Callable[..., Any]

    def evaluate(self, x: list[Any], a: list[Any]) -> tuple[list[Any], Any, Any]:
        values = self.f(*x, *a)
        return (
            [values[i, 0] for i in range(len(x))],
            mpmath.matrix(self.f_x(*x, *a)),
            mpmath.matrix(self.f_a(*x, *a)),
        )


@functools.lru_cache(maxsize=1024)
def _compiled_map(sources: tuple[str, ...], m: int, k: int) -> _CompiledMap:
    xs, as_ = _map_symbols(m, k, scalar=False)
    locals_ = {str(s): s for s in (*xs, *as_)}
    f = sympy.Matrix([sympy.sympify(s, locals=locals_) for s in sources])
    args = (*xs, *as_)
    return _CompiledMap(
        f=sympy.lambdify(args, f, modules="mpmath"),
        f_x=sympy.lambdify(args, f.jacobian(xs), modules="mpmath"),
        f_a=sympy.lambdify(args, f.jacobian(as_), modules="mpmath"),
    )


def _map_symbols(m: int, k: int, *, scalar: bool) -> tuple[list[sympy.Symbol], list[sympy.Symbol]]:
    if scalar:
        return [sympy.Symbol("x", real=True)], [sympy.Symbol("a", real=True)]
    xs = [sympy.Symbol(f"x{i}", real=True) for i in range(m)]
    as_ = [sympy.Symbol(f"a{j}", real=True) for j in range(k)]
    return xs, as_


def map_case(
    family: str,
    f: Sequence[sympy.Expr],
    xs: Sequence[sympy.Symbol],
    as_: Sequence[sympy.Symbol],
    a: Sequence[Any],
    x0: Sequence[float],
    *,
    guess: Sequence[Any] | None = None,
    dtype: str = "float64",
    scalar: bool = False,
    scale: float = 1.0,
    evaluate: _MapEvaluator | None = None,
    texts: tuple[tuple[str, ...], str] | None = None,
) -> MapCase:
    """A MapCase for ``x* = f(a)(x*)`` with its oracle values.

    Args:
        family: "curve-map", "sqrt" or "coupled".
        f: one sympy expression per component of ``x``, in ``xs`` and ``as_``.
        xs: the ``m`` state symbols; ``as_``: the ``k`` parameter symbols.
        a: exact values of the parameters (dyadic rationals: floats hold them exactly).
        x0: the start handed to the implementation.
        guess: where Newton's method starts looking for ``x*`` (default ``x0``).
        dtype: "float64" or "float32".
        scalar: ``m == k == 1`` given as 0-d tensors (bare ``x``, ``a`` in the source).
        scale: noise scale for ``fixed_point_tol`` (magnitude of the terms of ``f``).
        evaluate: ``(x, a) -> (f, f_x, f_a)`` in mpmath (lists and matrices), when
            the caller knows them in closed form; default: sympy's Jacobians of
            ``f``, lambdified (and cached) per map.
        texts: ``(f_source, source)`` when the caller has written them already
            (sympy's printers are the slow part of a case); default: printed from ``f``.

    Returns:
        The case; ``dx_da`` is ``(I - f_x)^-1 f_a`` at ``x*``, row-major ``m x k``.

    Raises:
        ValueError: if Newton's method does not find a fixed point, or ``|rho| >= 1``.
    """
    m, k = len(xs), len(as_)
    if scalar and (m, k) != (1, 1):
        raise ValueError(f"scalar=True needs m == k == 1, got m={m}, k={k}.")
    if dtype == "float32":
        x0 = [float(mpmath.mpf(float(_to_float32(v)))) for v in x0]
    if evaluate is None:
        canonical_x, canonical_a = _map_symbols(m, k, scalar=False)
        rename = dict(zip((*xs, *as_), (*canonical_x, *canonical_a), strict=True))
        sources = tuple(sympy.sstr(e.xreplace(rename)) for e in f)
        evaluate = _compiled_map(sources, m, k).evaluate
    a_exact = [_x_rational(v) for v in a]
    with mpmath.workdps(DPS + 10):
        a_mp = [mpmath.mpf(v.p) / v.q for v in a_exact]
        x_star = _newton_fixed_point(evaluate, list(guess if guess is not None else x0), a_mp)
        _, f_x, f_a = evaluate(x_star, a_mp)
        eye_minus = mpmath.eye(m) - f_x
        dx_da = mpmath.inverse(eye_minus) * f_a
        with mpmath.workdps(20):  # measures, stored as floats
            sigma_min = float(min(mpmath.svd_r(+eye_minus, compute_uv=False)))
            if m == 1:
                rho = float(f_x[0, 0])
            else:
                rho = float(max(abs(e) for e in mpmath.eig(+f_x, left=False, right=False)))
    if not abs(rho) < 1:
        shown = texts[1] if texts is not None else [sympy.sstr(e) for e in f]
        raise ValueError(f"the map {shown} has rho={rho} at x*: not a contraction.")
    magnitude = max([scale, *(abs(float(v)) for v in x_star), *(abs(float(v)) for v in a_mp)])
    if texts is None:
        names = _torch_names(xs, as_, scalar=scalar)
        people = sympy.sstr(f[0]) if len(f) == 1 else "(" + ", ".join(map(sympy.sstr, f)) + ")"
        texts = (tuple(to_torch_source(e, names) for e in f), people)
    return MapCase(
        family=family,
        f_source=texts[0],
        source=texts[1],
        a=tuple(exact_decimal(v) for v in a_exact),
        x0=tuple(float(v) for v in x0),
        x_star=tuple(_nstr(v) for v in x_star),
        dx_da=tuple(_nstr(dx_da[i, j]) for i in range(m) for j in range(k)),
        rho=rho,
        sigma_min=sigma_min,
        tol=fixed_point_tol(dtype, magnitude, rho),
        dtype=dtype,
        scalar=scalar,
    )


def _cast_to(dtype: str) -> Callable[[float], float]:
    """Rounding of a float to ``dtype`` (float32 overflows to +-inf, as in torch)."""
    if dtype != "float32":
        return float

    def cast(value: float) -> float:
        try:
            return _to_float32(value)
        except OverflowError:
            return math.copysign(math.inf, value)

    return cast


def _to_float32(value: float) -> float:
    import struct

    return struct.unpack("f", struct.pack("f", value))[0]


def _torch_names(
    xs: Sequence[sympy.Symbol], as_: Sequence[sympy.Symbol], *, scalar: bool
) -> dict[sympy.Symbol, str]:
    if scalar:
        return {xs[0]: "x", as_[0]: "a"}
    return {**{s: f"x[{i}]" for i, s in enumerate(xs)}, **{s: f"a[{j}]" for j, s in enumerate(as_)}}


def _newton_fixed_point(
    evaluate: _MapEvaluator, guess: list[Any], a: list[mpmath.mpf]
) -> list[mpmath.mpf]:
    """Newton's method on ``f(a)(x) - x`` from ``guess``: to 1e-15 at 20 digits, then
    the few quadratically convergent steps left at full precision.

    A Newton step that does not shrink the residual ``|f(a)(x) - x|`` is replaced by
    the plain step ``x <- f(a)(x)``, which shrinks it wherever ``f`` contracts: so
    a map that contracts everywhere (``coupled_map``) always reaches its fixed
    point, even where undamped Newton overshoots (found at ``a = [1.5, 0]``).
    """
    x = [_mp(v) for v in guess]
    m = len(x)

    def residual_at(point: list[Any]) -> tuple[list[Any], Any, Any]:
        fx, f_x, _ = evaluate(point, a)
        return fx, f_x, mpmath.matrix([point[i] - fx[i] for i in range(m)])

    with mpmath.workdps(20):
        fx, f_x, residual = residual_at(x)
        for _ in range(400):
            step = mpmath.lu_solve(mpmath.eye(m) - f_x, residual)
            newton = [x[i] - step[i] for i in range(m)]
            fx_n, f_x_n, residual_n = residual_at(newton)
            if mpmath.norm(residual_n) < mpmath.norm(residual):
                x, fx, f_x, residual = newton, fx_n, f_x_n, residual_n
            else:
                x = list(fx)
                fx, f_x, residual = residual_at(x)
            if mpmath.norm(residual) <= 1e-15 * (1 + mpmath.norm(mpmath.matrix(x))):
                break
    for _ in range(200):
        _, f_x, residual = residual_at(x)
        step = mpmath.lu_solve(mpmath.eye(m) - f_x, residual)
        x = [x[i] - step[i] for i in range(m)]
        if mpmath.norm(step) <= mpmath.mpf(10) ** (-DPS - 5) * (1 + mpmath.norm(mpmath.matrix(x))):
            return x
    raise ValueError(f"Newton's method found no fixed point from {guess} with a = {a}.")


def alpha_for_rho(curve: Curve, x: Any, y_true: Any, rho: float) -> sympy.Rational:
    """A rational ``alpha`` with ``1 - alpha F_y(x, y_true)`` close to ``rho``.

    ``alpha`` has a denominator <= 1000, so the map ``y - alpha F`` stays exact;
    the exact ``rho`` of the resulting case is ``MapCase.rho``.

    Raises:
        ValueError: at a point where ``F_y == 0`` (no ``alpha`` contracts there).
    """
    F_y = point_oracle(curve, x, y_true).F_y
    if F_y == 0:
        raise ValueError(f"F_y = 0 at x = {x}, y = {y_true}: no alpha gives rho={rho}.")
    return sympy.Rational(Fraction((1 - rho) / float(F_y)).limit_denominator(1000))


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
            iteration both stop at the case's ``tol`` (``_settling_start``).
        exact_root: the root (e.g. ``CurveCase.y_true``) when already known.

    Raises:
        ValueError: if ``|rho| >= 1`` at the root.
    """
    if not -1.0 <= position <= 1.0:
        raise ValueError(f"position={position!r} must lie in [-1, 1].")
    alpha_ = sympy.Rational(Fraction(alpha) if not isinstance(alpha, str) else alpha)
    x_exact = _x_rational(x)
    y_true = _mp(exact_root) if exact_root is not None else root_near(curve, x_exact, guess)
    rho = 1 - float(alpha_) * float(point_oracle(curve, x_exact, y_true).F_y)
    if not abs(rho) < 1:
        raise ValueError(
            f"alpha={alpha_} gives rho = 1 - alpha*F_y = {rho:.3g} at the root: "
            "not a contraction; pick alpha with |1 - alpha*F_y| < 1 (see alpha_for_rho)."
        )
    compiled = _compiled(curve.source)
    x_f, a_f = float(y_true), float(x_exact)
    alpha_q = Fraction(str(alpha_))
    # |g'| <= bound < 1 on the symmetric interval [x* - r, x* + r] keeps every
    # iterate inside it (mean value theorem); an asymmetric one would not when
    # rho < 0 makes the iteration jump to the shorter side.
    bound = (1 + abs(rho)) / 2
    radius = _contraction_radius(compiled, alpha_q, x_exact, y_true, bound)
    xs, as_ = _map_symbols(1, 1, scalar=scalar)
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
    alpha_mp = _mp(Fraction(str(alpha_)))

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
    g_float, g_x_float = _float_map(compiled, g_terms, alpha_q, x_exact, dtype)
    x0 = _settling_start(g_float, g_x_float, x_f, position * radius * 0.9, tol, rho, dtype)
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
    compiled: _CompiledCurve, alpha: Fraction, a: Fraction, x_star: Any, bound: float
) -> float:
    """The largest ``r <= max(1, |x*|)`` with ``|1 - alpha F_y(a, y)| <= bound`` on
    ``[x* - r, x* + r]``.

    For a polynomial ``F`` the interval ends at the nearest root of
    ``alpha F_y(a, .) = 1 -+ bound`` (``numpy.roots``, nearly real pairs counted): a scan
    on a grid can step over a narrow spike of ``|g'|`` or, when ``g'`` leaves the
    band within the first step, miss the edge altogether.  Other curves are scanned
    (``_scan``, anchored at ``x*`` itself, where ``|g'| = |rho| < bound``).
    """
    x_f = float(_mp(x_star))
    reach = max(1.0, abs(x_f))
    if compiled.terms_y is not None:
        import numpy as np

        scaled = [alpha * c for c in _coefficients_at(compiled.terms_y, a)] or [Fraction(0)]
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

    return min(_scan(contracting, x_f, -1.0, reach), _scan(contracting, x_f, +1.0, reach))


#: Iterations the generation-time rehearsal of a curve-map allows (a correct loop
#: needs a few hundred at ``|rho| = 0.95``; tests allow 20000).
_REHEARSAL_LIMIT = 5000
#: Halvings of ``x0 - x*`` tried before starting at ``x*`` itself.
_REHEARSAL_TRIES = 40


def _float_map(
    compiled: _CompiledCurve,
    g_terms: dict[tuple[int, int], Fraction] | None,
    alpha: Fraction,
    a: Fraction,
    dtype: str,
) -> tuple[Callable[[float], float], Callable[[float], float]]:
    """``g(x) = x - alpha F(a, x)`` and ``g'(x)`` evaluated in ``dtype``.

    Polynomials are evaluated term by term in the order and precision of the
    torch source (``format_polynomial``), so float32 rounding noise is rehearsed;
    other curves in float64, rounded to ``dtype``.
    """
    if g_terms is None:
        a_f, alpha_f = float(a), float(alpha)
        cast = _cast_to(dtype)
        return (
            lambda x: cast(x - alpha_f * compiled.F_float(a_f, x)),
            lambda x: cast(1 - alpha_f * compiled.F_y_float(a_f, x)),
        )
    if dtype == "float32":
        import numpy as np

        number: Callable[[Any], Any] = np.float32
    else:
        number = float
    a_t = number(float(a))
    ordered = sorted(g_terms.items(), key=lambda t: (-(t[0][0] + t[0][1]), -t[0][0]))
    # (coefficient * a**i, j) per term, rounded as torch rounds them.
    value_terms = [(number(float(c)) * a_t**i, j) for (i, j), c in ordered if c]
    slope_terms = [(number(float(c * j)) * a_t**i, j - 1) for (i, j), c in ordered if c and j]

    def evaluate(terms: list[tuple[Any, int]], x: float) -> float:
        x_t, total = number(x), number(0)
        with _quiet_floats():
            for coefficient, j in terms:
                total = total + (coefficient * x_t**j if j else coefficient)
        return float(total)

    return (lambda x: evaluate(value_terms, x)), (lambda x: evaluate(slope_terms, x))


def _quiet_floats() -> Any:
    """Overflow in a rehearsal is a result (non-finite), not a warning."""
    import numpy as np

    return np.errstate(all="ignore")


def _rehearse(
    g: Callable[[float], float],
    g_x: Callable[[float], float],
    x0: float,
    x_star: float,
    tol: float,
    rho: float,
    cast: Callable[[float], float],
) -> bool:
    """Whether plain iteration from ``x0`` and the adjoint iteration both stop.

    HIPS's loop ``x <- g(x)`` until ``|x - x_prev| <= tol`` must stop within
    ``_REHEARSAL_LIMIT`` steps at most ``1.25 tol max(|rho|, 1/2) / (1 - rho)``
    (plus a little noise) from ``x*``, which is what a linear map of rate ``rho``
    gives; then ``u <- v + g'(x) u`` (``|v| = 2``, at the returned ``x``) must stop
    at the same ``tol``.
    """
    try:
        return _rehearse_loops(g, g_x, x0, x_star, tol, rho, cast)
    except (ValueError, ZeroDivisionError, OverflowError):
        return False


def _rehearse_loops(
    g: Callable[[float], float],
    g_x: Callable[[float], float],
    x0: float,
    x_star: float,
    tol: float,
    rho: float,
    cast: Callable[[float], float],
) -> bool:
    x = cast(x0)
    for _ in range(_REHEARSAL_LIMIT):
        x_next = g(x)
        if not math.isfinite(x_next):
            return False
        if abs(x_next - x) <= tol:
            break
        x = x_next
    else:
        return False
    if abs(x_next - x_star) > tol * (1.25 * max(abs(rho), 0.5) / (1 - rho) + 0.1):
        return False
    slope = g_x(x_next)
    if not abs(slope) < 1:
        return False
    v = u = cast(2.0)
    for _ in range(_REHEARSAL_LIMIT):
        u_next = cast(v + cast(slope * u))
        if not math.isfinite(u_next):
            return False
        if abs(u_next - u) <= tol:
            return True
        u = u_next
    return False


def _settling_start(
    g: Callable[[float], float],
    g_x: Callable[[float], float],
    x_star: float,
    offset: float,
    tol: float,
    rho: float,
    dtype: str,
) -> float:
    """``x* + offset``, halved toward ``x*`` until ``_rehearse`` succeeds in ``dtype``.

    Inside the contraction interval the iteration converges in exact arithmetic;
    the rehearsal also catches what the interval cannot: float32 rounding, a
    stopping point where ``g'`` has drifted far from ``rho``.  Starting at ``x*``
    (rounded) is the last resort: the first step then stops.
    """
    cast = _cast_to(dtype)
    for _ in range(_REHEARSAL_TRIES):
        x0 = cast(x_star + offset)
        if _rehearse(g, g_x, x0, x_star, tol, rho, cast):
            return x_star + offset
        offset /= 2
    return x_star


def sqrt_map(
    a: Sequence[Any], x0: Sequence[float], *, dtype: str = "float64", scalar: bool = True
) -> MapCase:
    """Newton's square-root map ``f(a)(x) = (x + a / x) / 2``, componentwise.

    ``x* = sqrt(a)``, ``f_x = 0`` at ``x*`` (``rho = 0``) and
    ``dx*/da = diag(1 / (2 sqrt(a)))``.

    Args:
        a: positive dyadic rationals (``k = m = len(a)``).
        x0: positive starts (Newton converges from any positive start).
        dtype: "float64" or "float32".
        scalar: one component given as 0-d tensors.

    Raises:
        ValueError: for a non-positive ``a`` or ``x0``, or mismatched lengths.
    """
    if len(a) != len(x0) or not a:
        raise ValueError(f"a={list(a)!r} and x0={list(x0)!r} must have the same length >= 1.")
    for name, values in (("a", a), ("x0", x0)):
        for v in values:
            if not float(v) > 0:
                raise ValueError(f"{name}={list(values)!r} must be positive.")
    xs, as_ = _map_symbols(len(a), len(a), scalar=scalar)
    f = [(xi + ai / xi) / 2 for xi, ai in zip(xs, as_, strict=True)]
    guess = [math.sqrt(float(v)) for v in a]

    def evaluate(x: list[Any], a_: list[Any]) -> tuple[list[Any], Any, Any]:
        m = len(x)
        f_x, f_a = mpmath.zeros(m, m), mpmath.zeros(m, m)
        for i in range(m):
            f_x[i, i] = (1 - a_[i] / x[i] ** 2) / 2
            f_a[i, i] = 1 / (2 * x[i])
        return [(x[i] + a_[i] / x[i]) / 2 for i in range(m)], f_x, f_a

    return map_case(
        "sqrt", f, xs, as_, a, x0, guess=guess, dtype=dtype, scalar=scalar, evaluate=evaluate
    )


def coupled_map(
    A: Sequence[Sequence[Any]],
    B: Sequence[Sequence[Any]],
    C: Sequence[Sequence[Any]],
    a: Sequence[Any],
    x0: Sequence[float],
    *,
    dtype: str = "float64",
) -> MapCase:
    """The coupled map ``f(a)(x) = A x + B sin(x) + C a`` (``m`` unknowns, ``k`` parameters).

    ``f_x = A + B diag(cos x)``; when ``max_i sum_j (|A_ij| + |B_ij|) < 1`` the map is
    a contraction in the max-norm everywhere, so every ``x0`` converges and the
    spectral radius at ``x*`` is < 1.  With ``A`` not symmetric, ``f_x`` is not
    symmetric: a transposed Jacobian in backward gives a wrong answer.

    Args:
        A: ``m x m`` exact rationals.
        B: ``m x m`` exact rationals.
        C: ``m x k`` exact rationals.
        a: ``k`` dyadic rationals.
        x0: ``m`` floats.
        dtype: "float64" or "float32".

    Raises:
        ValueError: for inconsistent shapes or a row sum ``sum_j |A_ij| + |B_ij| >= 1``.
    """
    m, k = len(A), len(a)
    shapes_ok = (
        all(len(row) == m for row in A)
        and len(B) == m
        and all(len(row) == m for row in B)
        and len(C) == m
        and all(len(row) == k for row in C)
        and len(x0) == m
    )
    if not shapes_ok or m < 1 or k < 1:
        raise ValueError(
            f"A, B must be m x m, C m x k, x0 of length m; got A {len(A)} rows, "
            f"C {len(C)} rows, a of length {k}, x0 of length {len(x0)}."
        )
    A_ = sympy.Matrix(A).applyfunc(sympy.Rational)
    B_ = sympy.Matrix(B).applyfunc(sympy.Rational)
    C_ = sympy.Matrix(C).applyfunc(sympy.Rational)
    row_sums = [sum(abs(A_[i, j]) + abs(B_[i, j]) for j in range(m)) for i in range(m)]
    if max(row_sums) >= 1:
        raise ValueError(
            f"row sums of |A| + |B| = {[float(s) for s in row_sums]} must be < 1 "
            "for a contraction; scale A and B down."
        )
    xs, as_ = _map_symbols(m, k, scalar=False)
    xv, av = sympy.Matrix(xs), sympy.Matrix(as_)
    f = A_ * xv + B_ * xv.applyfunc(sympy.sin) + C_ * av
    exact = [[[Fraction(str(v)) for v in row] for row in M.tolist()] for M in (A_, B_, C_)]

    def evaluate(x: list[Any], a_: list[Any]) -> tuple[list[Any], Any, Any]:
        # Built here, under the caller's working precision: mpmath.matrix rounds its
        # entries to the precision current at construction.
        A_mp, B_mp, C_mp = (
            mpmath.matrix([[mpmath.mpf(v.numerator) / v.denominator for v in row] for row in M])
            for M in exact
        )
        xv, sin_x = mpmath.matrix(x), mpmath.matrix([mpmath.sin(v) for v in x])
        values = A_mp * xv + B_mp * sin_x + C_mp * mpmath.matrix(a_)
        f_x = A_mp + B_mp * mpmath.diag([mpmath.cos(v) for v in x])
        return [values[i] for i in range(m)], f_x, C_mp

    return map_case(
        "coupled", list(f), xs, as_, a, x0, guess=[0.0] * m, dtype=dtype, evaluate=evaluate
    )
