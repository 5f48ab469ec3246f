"""Closed-form alternatives of known mistakes, held against observed derivatives.

Each function evaluates, at the returned point, what a known mistake computes
instead of ``dx/da = (I - f_x)^-1 f_a`` (maps) or ``dy/dx = -F_x / F_y``
(curves), keyed by its diagnosis code (``properties.diagnosis.CODES``).  An
alternative is offered only where the mistake can show (no transposition for
``m = 1`` or a symmetric ``f_x``), and ``match`` names one only when it is
distinguishable from the right answer on this case.  Matrices are small nested
float lists (``m x k``; ``m`` is at most a few here).
"""

from __future__ import annotations

import math

from properties import formulas

Matrix = list[list[float]]


def max_abs(rows: Matrix) -> float:
    return max((abs(v) for row in rows for v in row), default=0.0)


def distance(a: Matrix, b: Matrix) -> float:
    if len(a) != len(b) or any(len(r) != len(s) for r, s in zip(a, b)):
        return math.inf
    values = [abs(x - y) for r, s in zip(a, b) for x, y in zip(r, s)]
    return max(values, default=0.0) if all(math.isfinite(v) for v in values) else math.inf


def _matmul(a: Matrix, b: Matrix) -> Matrix:
    return [
        [sum(a[i][t] * b[t][j] for t in range(len(b))) for j in range(len(b[0]))]
        for i in range(len(a))
    ]


def _solve(A: Matrix, B: Matrix) -> Matrix | None:
    """``A^-1 B`` by Gaussian elimination with partial pivoting (small m), None if singular."""
    n = len(A)
    M = [list(A[i]) + list(B[i]) for i in range(n)]
    for c in range(n):
        p = max(range(c, n), key=lambda r: abs(M[r][c]))
        if M[p][c] == 0:
            return None
        M[c], M[p] = M[p], M[c]
        for r in range(n):
            if r != c:
                factor = M[r][c] / M[c][c]
                M[r] = [x - factor * y for x, y in zip(M[r], M[c])]
    return [[M[i][n + j] / M[i][i] for j in range(len(B[0]))] for i in range(n)]


def _eye(m: int) -> Matrix:
    return [[1.0 if i == j else 0.0 for j in range(m)] for i in range(m)]


#: Neumann sums ``f_a + f_x f_a + ... + f_x^K f_a`` tried for ``truncated_inverse``:
#: an adjoint iterated a fixed number of times (from 0 or from v) computes one.
NEUMANN_TERMS = 60
#: A Neumann sum beyond ``I + f_x`` matches only within this share of its distance to
#: the sum before it (a fixed number of adjoint steps reproduces it to round-off).
SPACING_SHARE = 0.01


def neumann_sums(point: formulas.MapPoint, terms: int = NEUMANN_TERMS) -> list[Matrix]:
    """``[S_1, ..., S_terms]`` with ``S_K = sum_{i=0}^{K} f_x^i f_a`` (``S_0 = f_a`` is
    ``missing_inverse``); they tend to ``dx/da`` when the spectral radius of f_x is < 1."""
    fx, term, total = point.f_x, point.f_a, point.f_a
    out = []
    for _ in range(terms):
        term = _matmul(fx, term)
        total = [[a + b for a, b in zip(r, s)] for r, s in zip(total, term)]
        out.append(total)
        if not all(math.isfinite(v) for row in total for v in row):
            break
    return out


def map_alternatives(point: formulas.MapPoint, got: Matrix | None = None) -> dict[str, Matrix]:
    """What known mistakes compute for ``dx/da`` at ``point`` (code -> m x k matrix).

    Only alternatives a mistake can produce *here*: ``transposed`` and
    ``diagonal_only`` need ``m >= 2`` and an ``f_x`` that is not symmetric
    (resp. not diagonal); ``inverse_sign``, ``(I + f_x)^-1 f_a``, an ``f_x != 0``;
    ``swapped_partials`` needs ``m == k``.
    ``truncated_inverse`` is the Neumann sum (``neumann_sums``) nearest ``got``
    (the first, ``I + f_x``, when ``got`` is not given).
    """
    m = len(point.f_x)
    fx, fa = point.f_x, point.f_a
    out: dict[str, Matrix] = {
        "sign": [[-v for v in row] for row in point.dx_da],
        "missing_inverse": fa,
    }
    out["truncated_inverse"] = neumann_sums(point, 1)[0]
    if got is not None:
        terms, nearest = nearest_neumann_sum(point, got)
        out["truncated_inverse"] = nearest
        if terms > 2:
            # Long sums lie close together: a gradient merely near dx/da is near one of
            # them.  Only a match far tighter than their spacing is evidence.
            spacing = distance(nearest, neumann_sums(point, terms - 1)[-2])
            if distance(got, nearest) > SPACING_SHARE * spacing:
                del out["truncated_inverse"]
    if any(v != 0 for row in fx for v in row):
        plus = _solve(
            [[(1.0 if i == j else 0.0) + fx[i][j] for j in range(m)] for i in range(m)], fa
        )
        if plus is not None:
            out["inverse_sign"] = plus
    symmetric = all(
        abs(fx[i][j] - fx[j][i]) <= 1e-12 * (1 + abs(fx[i][j])) for i in range(m) for j in range(m)
    )
    if m >= 2 and not symmetric:
        out["transposed"] = point.dx_da_transposed
    if m >= 2 and any(fx[i][j] != 0 for i in range(m) for j in range(m) if i != j):
        diagonal = [[(1.0 - fx[i][i]) if i == j else 0.0 for j in range(m)] for i in range(m)]
        solved = _solve(diagonal, fa)
        if solved is not None:
            out["diagonal_only"] = solved
    if m >= 2:
        # The probe takes row i with grad_output e_i: a backward that uses ones
        # instead returns the column sums of dx/da in every row.
        sums = [sum(row[c] for row in point.dx_da) for c in range(len(fa[0]))]
        out["ignores_upstream"] = [list(sums) for _ in range(m)]
    if m == len(fa[0]):
        swapped = _solve(
            [[(1.0 if i == j else 0.0) - fa[i][j] for j in range(m)] for i in range(m)], fx
        )
        if swapped is not None:
            out["swapped_partials"] = swapped
    return out


def curve_alternatives(point: formulas.CurvePoint) -> dict[str, float]:
    """What known mistakes compute for ``dy/dx`` at ``point`` (code -> value)."""
    out = {"sign": -point.dy_dx, "missing_inverse": -point.F_x}
    if point.F_x != 0:
        out["swapped_partials"] = -point.F_y / point.F_x
    return out


def match(
    got: Matrix, want: Matrix, alternatives: dict[str, Matrix], tol: float
) -> tuple[str, ...]:
    """Codes of the alternatives ``got`` equals (within ``tol`` and 1e-6 relative) while
    being distinguishable from ``want``; several only when they coincide here.

    An alternative that is zero here confirms nothing: a zero gradient is what many
    causes give (a dropped or detached gradient, a shape the library mishandles),
    e.g. ``swapped_partials`` on Newton's square-root map, whose ``f_x`` is 0 at x*."""
    found = []
    for code, alt in alternatives.items():
        near = max(tol, 1e-6 * (1 + max_abs(alt)))
        if max_abs(alt) <= near:
            continue
        if distance(alt, want) > 2 * near and distance(got, alt) <= near:
            found.append(code)
    return tuple(found)


def map_mistakes(
    f_source: tuple[str, ...],
    a: tuple[str, ...],
    x0: tuple[float, ...],
    scalar: bool,
    point: formulas.MapPoint,
    got: Matrix,
    tol: float,
) -> tuple[str, ...]:
    """The known mistakes whose ``dx/da`` equals ``got`` at ``point`` (``match``), the
    derivatives taken at the start ``x0`` among them (``at_start``)."""
    alternatives = map_alternatives(point, got)
    alternatives["at_start"] = formulas.map_point(f_source, a, x0, scalar).dx_da
    return match(got, point.dx_da, alternatives, tol)


def nearest_neumann_sum(point: formulas.MapPoint, got: Matrix) -> tuple[int, Matrix]:
    """The Neumann sum nearest ``got`` and its number of terms (``K + 1`` for ``S_K``)."""
    sums = neumann_sums(point)
    i = min(range(len(sums)), key=lambda i: distance(sums[i], got))
    return i + 2, sums[i]
