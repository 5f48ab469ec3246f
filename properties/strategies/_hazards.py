"""Strategies for hazard maps (``properties.hazard_maps``): no convergent iteration."""

from __future__ import annotations

from fractions import Fraction

from hypothesis import event
from hypothesis import strategies as st

from properties import hazard_maps
from properties.records import MapCase
from properties.strategies._bounds import dyadic

__all__ = ["hazard_map_cases", "non_contracting_map_cases", "singular_map_cases"]


def hazard_map_cases() -> st.SearchStrategy[MapCase]:
    """Non-contracting maps ``c x + a`` (``|c|`` in [5/4, 4], both signs) and singular
    maps ``x - (x - b)**2 + a`` at ``a = 0`` (``b`` in [-2, 2], ``x0`` in (b, b + 1/2]).

    Every number is a dyadic rational with few bits.  Shrinks toward the
    non-contracting family, ``c = -5/4`` (oscillating), ``a = 0`` and ``x0`` near
    the fixed point.
    """
    return st.one_of(non_contracting_map_cases(), singular_map_cases())


def non_contracting_map_cases() -> st.SearchStrategy[MapCase]:
    """``c x + a`` with ``|c|`` in [5/4, 4], both signs: no convergent iteration."""
    return _non_contracting()


def singular_map_cases() -> st.SearchStrategy[MapCase]:
    """``x - (x - b)**2 + a`` at ``a = 0``: ``I - f_x`` is singular at the fixed point."""
    return _singular()


@st.composite
def _non_contracting(draw: st.DrawFn) -> MapCase:
    magnitude = Fraction(5, 4) + Fraction(draw(st.integers(0, 44)), 16)
    c = -magnitude if not draw(st.booleans()) else magnitude
    a = dyadic(draw, 2, 4)
    x_star = a / (1 - c)
    x0 = x_star + Fraction(draw(st.integers(1, 32)), 16) * (1 if draw(st.booleans()) else -1)
    event("family: non-contracting")
    return hazard_maps.non_contracting_map(c, a, x0)


@st.composite
def _singular(draw: st.DrawFn) -> MapCase:
    b = dyadic(draw, 2, 3)
    x0 = b + Fraction(draw(st.integers(1, 8)), 16)
    event("family: singular-map")
    return hazard_maps.singular_map(b, x0)
