"""Vector root problems ``F(x, y) = 0``, ``y`` in R^m, ``x`` in R^n, with exact answers.

The family ("coupled") is polynomial with rational coefficients, so that every
oracle value is an exact rational:

    F_i(x, y) = sum_j A_ij y_j + s_i y_i**3 + sum_k (B_ik + E_ik y_i) x_k - c_i

with ``c`` chosen so that ``F(x*, y*) = 0`` at the drawn rational point.  Then

- ``F_y = A + diag(3 s_i y_i**2 + sum_k E_ik x_k)``, ``F_x = B + diag(y) E``;
- ``dy/dx = -F_y^-1 F_x`` (``m x n``);
- the second derivative of ``w^T y`` (``n x n``): differentiating ``F(x, y(x)) = 0``
  twice gives ``F_y y_ab = -Z_a^T H_i Z_b`` per component ``i``, with ``H_i`` the
  Hessian of ``F_i`` in ``z = (x, y)`` and ``Z_a = (e_a, dy/dx_a)``.

``A`` is not symmetric (``A_01 - A_10`` is drawn non-zero): a backward that solves
with ``F_y^T`` instead of ``F_y`` gives another answer, which the judge can tell
from a right one (``VectorRootCase.symmetric`` says where it cannot).
"""

from __future__ import annotations

from collections.abc import Sequence
from fractions import Fraction
from typing import Any

import numpy as np
import sympy

from properties.records import VectorRootCase

__all__ = ["coupled_case", "symbols"]

Rational = Fraction | int


def symbols(m: int, n: int) -> tuple[list[sympy.Symbol], list[sympy.Symbol]]:
    """``(x, y)`` symbols for the person's text: ``x0.., y0..``."""
    return list(sympy.symbols(f"x0:{n}")), list(sympy.symbols(f"y0:{m}"))


def _torch_names(m: int, n: int) -> dict[sympy.Symbol, sympy.Symbol]:
    xs, ys = symbols(m, n)
    return {**{s: sympy.Symbol(f"x[{k}]") for k, s in enumerate(xs)}} | {
        s: sympy.Symbol(f"y[{i}]") for i, s in enumerate(ys)
    }


def _q(value: Rational) -> sympy.Rational:
    return sympy.Rational(Fraction(value).numerator, Fraction(value).denominator)


def _digits(value: sympy.Expr) -> str:
    return str(sympy.Float(value, 40))


def coupled_case(
    A: Sequence[Sequence[Rational]],
    s: Sequence[Rational],
    B: Sequence[Sequence[Rational]],
    E: Sequence[Sequence[Rational]],
    x_star: Sequence[Rational],
    y_star: Sequence[Rational],
    y0: Sequence[float],
    weights: Sequence[float],
) -> VectorRootCase:
    """The coupled case with these coefficients, its root ``y*`` at ``x*``.

    Args:
        A: ``m x m``; s: ``m``; B, E: ``m x n``; x_star: ``n``; y_star: ``m`` (all
            exact rationals; ``x_star`` dyadic, so that floats hold it).
        y0: the start (``m`` floats, in ``y*``'s basin: the caller's duty).
        weights: ``w`` of the second-order property (``m`` floats, dyadic).

    Raises:
        ValueError: when ``F_y`` is singular at the root.
    """
    m, n = len(y_star), len(x_star)
    xs, ys = symbols(m, n)
    x_at = {xs[k]: _q(v) for k, v in enumerate(x_star)}
    y_at = {ys[i]: _q(v) for i, v in enumerate(y_star)}
    parts = []
    for i in range(m):
        expr = sum((_q(A[i][j]) * ys[j] for j in range(m)), sympy.Integer(0))
        expr += _q(s[i]) * ys[i] ** 3
        expr += sum(((_q(B[i][k]) + _q(E[i][k]) * ys[i]) * xs[k] for k in range(n)), 0)
        parts.append(sympy.expand(expr - expr.subs({**x_at, **y_at})))
    F = sympy.Matrix(parts)
    at = {**x_at, **y_at}
    F_y = F.jacobian(ys).subs(at)
    F_x = F.jacobian(xs).subs(at)
    if F_y.det() == 0:
        raise ValueError(f"F_y is singular at y* = {list(y_star)}: {F_y.tolist()}.")
    dy_dx = -F_y.LUsolve(F_x)  # m x n
    z = [*xs, *ys]
    w = [_q(Fraction(v)) for v in weights]
    d2 = sympy.zeros(n, n)
    hessians = [sympy.hessian(F[i], z).subs(at) for i in range(m)]
    for a in range(n):
        for b in range(n):
            Z_a = sympy.Matrix([1 if k == a else 0 for k in range(n)] + list(dy_dx[:, a]))
            Z_b = sympy.Matrix([1 if k == b else 0 for k in range(n)] + list(dy_dx[:, b]))
            terms = sympy.Matrix([(Z_a.T * H * Z_b)[0] for H in hessians])
            y_ab = -F_y.LUsolve(terms)
            d2[a, b] = sum(w[i] * y_ab[i] for i in range(m))
    J = np.array(F_y.tolist(), dtype=float)
    whole = np.hstack([np.array(F_x.tolist(), dtype=float), J])
    sigma_min = float(np.linalg.svd(J, compute_uv=False)[-1])
    names = _torch_names(m, n)
    return VectorRootCase(
        family="coupled",
        components=tuple(str(p) for p in parts),
        F_source=tuple(str(p.xreplace(names)) for p in parts),
        x=tuple(str(sympy.Float(_q(v), 30)) for v in x_star),
        y0=tuple(float(v) for v in y0),
        y_true=tuple(_digits(_q(v)) for v in y_star),
        dy_dx=tuple(_digits(v) for v in dy_dx),  # row-major m x n
        weights=tuple(float(v) for v in weights),
        d2y=tuple(_digits(v) for v in d2),  # row-major n x n
        sigma_min=sigma_min,
        condition=(1 + float(np.linalg.norm(whole, 2))) / sigma_min,
        symmetric=bool(F_y == F_y.T),
    )


def as_floats(values: Sequence[Any]) -> list[float]:
    return [float(v) for v in values]
