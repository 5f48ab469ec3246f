"""Fixed-point problems ``x* = f(a)(x*)`` (HIPS notation) and their exact answers.

``map_case`` turns a map (one sympy expression per component of ``x``) into a
``MapCase``: the fixed point ``x*`` by Newton's method at ``DPS`` digits (the
engine's, ``properties.exact``), ``dx*/da = (I - f_x)^-1 f_a``, ``sigma_min`` the
smallest singular value of ``I - f_x``, ``rho`` the spectral radius of ``f_x``
(signed when ``m == 1``) and the ``tol`` handed to the implementation
(``fixed_point_tol``).  The families built on it: ``sqrt_map`` and
``coupled_map`` here, the curve-map ``y - alpha F(x, y)`` in ``properties.curve_maps``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from fractions import Fraction
from typing import Any

import mpmath
import sympy

from properties.exact import DPS, compile_map, exact_rational, map_symbols, mp
from properties.oracle import exact_decimal, to_digits
from properties.records import MapCase
from properties.rehearsal import to_float32
from properties.torch_source import to_torch_source, torch_names

__all__ = ["coupled_map", "fixed_point_tol", "map_case", "sqrt_map"]

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
        x0 = [float(mpmath.mpf(float(to_float32(v)))) for v in x0]
    if evaluate is None:
        canonical_x, canonical_a = map_symbols(m, k, scalar=False)
        rename = dict(zip((*xs, *as_), (*canonical_x, *canonical_a), strict=True))
        sources = tuple(sympy.sstr(e.xreplace(rename)) for e in f)
        evaluate = compile_map(sources, m, k).evaluate
    a_exact = [exact_rational(v) for v in a]
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
        names = torch_names(xs, as_, scalar=scalar)
        people = sympy.sstr(f[0]) if len(f) == 1 else "(" + ", ".join(map(sympy.sstr, f)) + ")"
        texts = (tuple(to_torch_source(e, names) for e in f), people)
    return MapCase(
        family=family,
        f_source=texts[0],
        source=texts[1],
        a=tuple(exact_decimal(v) for v in a_exact),
        x0=tuple(float(v) for v in x0),
        x_star=tuple(to_digits(v) for v in x_star),
        dx_da=tuple(to_digits(dx_da[i, j]) for i in range(m) for j in range(k)),
        rho=rho,
        sigma_min=sigma_min,
        tol=fixed_point_tol(dtype, magnitude, rho),
        dtype=dtype,
        scalar=scalar,
    )


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
    x = [mp(v) for v in guess]
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
    xs, as_ = map_symbols(len(a), len(a), scalar=scalar)
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
    xs, as_ = map_symbols(m, k, scalar=False)
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
