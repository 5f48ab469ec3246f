"""Strategies for vector root problems ``F(x, y) = 0``, ``y`` in R^m (``vector_roots``)."""

from __future__ import annotations

from fractions import Fraction

from hypothesis import event
from hypothesis import strategies as st

from properties import vector_roots
from properties.records import VectorRootCase
from properties.strategies._bounds import check_int, sign

__all__ = ["vector_root_cases"]


def vector_root_cases(
    *, max_unknowns: int = 3, max_inputs: int = 2
) -> st.SearchStrategy[VectorRootCase]:
    """Coupled polynomial systems with a non-symmetric ``F_y`` and their exact oracle.

    ``A`` is diagonally dominant (diagonal ``+-3 .. +-5``, off-diagonal in
    ``{-1/2, 0, 1/2}``, ``A_01 - A_10 = +-1/2``: never symmetric), the cubic terms
    ``s_i y_i**3`` have the sign of ``A_ii`` and the ``E x y`` terms are at most
    ``1/4``, so ``F_y`` stays dominant on the box ``|x|, |y| <= 1`` and Newton's
    method converges from the start ``y* + k/16`` (``|k| <= 2``).  ``B_00 != 0``:
    ``y`` depends on ``x``.

    Args:
        max_unknowns: largest ``m``, in ``[2, 4]``.
        max_inputs: largest ``n``, in ``[1, 3]``.

    Returns:
        A strategy of VectorRootCases (``event("vector: m=.., n=..")``); shrinks toward
        ``m = 2``, ``n = 1`` and small integers.
    """
    check_int("max_unknowns", max_unknowns, minimum=2, maximum=4)
    check_int("max_inputs", max_inputs, minimum=1, maximum=3)
    return _vector_root_cases(max_unknowns, max_inputs)


def _quarter(draw: st.DrawFn, lo: int, hi: int) -> Fraction:
    return Fraction(draw(st.integers(lo, hi)), 4)


@st.composite
def _vector_root_cases(draw: st.DrawFn, max_unknowns: int, max_inputs: int) -> VectorRootCase:
    m = draw(st.integers(2, max_unknowns))
    n = draw(st.integers(1, max_inputs))
    diagonal = [sign(draw) * draw(st.integers(3, 5)) for _ in range(m)]
    half = st.sampled_from([Fraction(0), Fraction(1, 2), Fraction(-1, 2)])
    A = [[Fraction(diagonal[i]) if i == j else draw(half) for j in range(m)] for i in range(m)]
    A[0][1] = A[1][0] + sign(draw) * Fraction(1, 2)
    s = [Fraction(1 if d > 0 else -1) * _quarter(draw, 0, 2) for d in diagonal]
    B = [[Fraction(draw(st.integers(-2, 2))) for _ in range(n)] for _ in range(m)]
    B[0][0] = sign(draw) * Fraction(draw(st.integers(1, 2)))
    E = [[_quarter(draw, -1, 1) for _ in range(n)] for _ in range(m)]
    x_star = [_quarter(draw, -4, 4) for _ in range(n)]
    y_star = [_quarter(draw, -4, 4) for _ in range(m)]
    y0 = [float(v) + draw(st.integers(-2, 2)) / 16 for v in y_star]
    weights = [sign(draw) * (1 + draw(st.integers(0, 4)) / 4) for _ in range(m)]
    event(f"vector: m={m}, n={n}")
    return vector_roots.coupled_case(A, s, B, E, x_star, y_star, y0, weights)
