"""Strategies for fixed-point map cases ``x* = f(a)(x*)`` (``maps``, ``curve_maps``)."""

from __future__ import annotations

from collections.abc import Sequence
from fractions import Fraction

from hypothesis import event
from hypothesis import strategies as st
from hypothesis.errors import InvalidArgument

from properties import curve_maps, maps
from properties.records import MapCase
from properties.simplicity import simplest_between
from properties.strategies._bounds import (
    DTYPES,
    MAP_FAMILIES,
    check_choices,
    check_int,
    check_number,
    sign,
)
from properties.strategies._cases import curve_cases_unchecked
from properties.strategies._curves import any_curve

__all__ = ["map_cases"]


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
        circle with ``rho`` near ``min_abs_rho`` (the simplest ``alpha`` whose rate
        is within 10% of the drawn one).
    """
    chosen_dtypes = check_choices("dtypes", dtypes, DTYPES)
    chosen = check_choices("families", families, MAP_FAMILIES)
    check_number("max_abs_rho", max_abs_rho, minimum=1e-3, maximum=0.99)
    check_number("min_abs_rho", min_abs_rho, minimum=1e-3, maximum=max_abs_rho)
    if scalar is not None and not isinstance(scalar, bool):
        raise InvalidArgument(f"scalar={scalar!r} must be True, False or None.")
    check_int("max_unknowns", max_unknowns, minimum=2, maximum=4)
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
    case = draw(curve_cases_unchecked(any_curve(), 0.2, False, record=False))
    # Not st.floats, which favours "nasty" values (the bounds, 0.5) where some wrong
    # backward coincides with the right one, and not a plain integer grid, where
    # Hypothesis favours small integers: a Weyl sequence spreads even the small
    # integers over [0, 1), and 0 (the shrink target) still maps to min_abs_rho.
    step = (draw(st.integers(0, 2**20 - 1)) * 0x9E3779B1 % 2**20) / 2**20
    magnitude = min_abs_rho + (max_abs_rho - min_abs_rho) * step
    rho = sign(draw) * magnitude
    # The simplest alpha whose rate is near the drawn one (within 10%, and a tenth of
    # the way to 1): readable maps, rates still spread over the continuum.
    near = sorted(
        rho / magnitude * m
        for m in (
            max(min_abs_rho, 0.9 * magnitude),
            min(max_abs_rho, magnitude + 0.1 * (1 - magnitude)),
        )
    )
    alpha = curve_maps.alpha_for_rho(case.curve, case.x, case.y_true, rho, band=(near[0], near[1]))
    position = sign(draw) * draw(st.integers(10, 100)) / 100
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
    # The simplest scale that keeps the row sums within the budget, and above 80% of it.
    scale = simplest_between(budget / total * Fraction(4, 5), budget / total)
    A_ = [[v * scale for v in row] for row in A]
    B_ = [[B[i] * scale if i == j else Fraction(0) for j in range(m)] for i in range(m)]
    C = [[Fraction(draw(st.integers(-8, 8)), 4) for _ in range(k)] for _ in range(m)]
    # Some f_a != 0: a map that ignores a has dx*/da = 0, where every backward (a
    # detached one included) is right and no gradient mistake can show.
    C[0][0] = sign(draw) * Fraction(draw(st.integers(1, 8)), 4)
    a = [Fraction(draw(st.integers(-16, 16)), 8) for _ in range(k)]
    x0 = [draw(st.integers(-8, 8)) / 4 for _ in range(m)]
    return maps.coupled_map(A_, B_, C, a, x0, dtype=dtype)
