"""Hypothesis strategies for curves, curve cases and fixed-point map cases: every one is here.

Bounds are keyword-only and validated when the strategy is *built* (not when it
is drawn from), raising ``InvalidArgument`` with the argument and its value.
Valid cases are constructed, never filtered: points on circles and ellipses are
drawn along the curve away from its vertical tangents, polynomials are built to
pass through their point with a prescribed ``F_y`` there.

Every number handed to the code under test is a dyadic rational with few
significant bits (curve points ``x``, map parameters ``a``), so float32 and
float64 hold it exactly and the oracle's answer is the answer for the very
input the implementation sees.

Statistics: each case records ``event(f"family: {family}")``, and
``event("degenerate")`` when its degeneracy is below
``records.DEGENERACY_THRESHOLD``; the ``aim_degenerate`` variants call
``target(-log10(degeneracy), label=...)`` to steer toward ``F_y = 0``.
"""

from __future__ import annotations

from properties.strategies._bounds import CURVE_FAMILIES, DTYPES, MAP_FAMILIES
from properties.strategies._cases import curve_cases, degenerate_curve_cases, user_curve_cases
from properties.strategies._curves import circles, curves, ellipses, polynomials
from properties.strategies._hazards import (
    hazard_map_cases,
    non_contracting_map_cases,
    singular_map_cases,
)
from properties.strategies._maps import map_cases
from properties.strategies._vectors import vector_root_cases

__all__ = [
    "CURVE_FAMILIES",
    "DTYPES",
    "MAP_FAMILIES",
    "circles",
    "curve_cases",
    "curves",
    "degenerate_curve_cases",
    "ellipses",
    "hazard_map_cases",
    "non_contracting_map_cases",
    "singular_map_cases",
    "map_cases",
    "polynomials",
    "user_curve_cases",
    "vector_root_cases",
]
