"""Argument checks and exact draws shared by the strategies.

Bounds are validated when a strategy is *built*, raising ``InvalidArgument``
with the argument and its value (as ``hypothesis.internal.validation`` does).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from fractions import Fraction
from typing import Any

from hypothesis import strategies as st
from hypothesis.errors import InvalidArgument

__all__ = [
    "CURVE_FAMILIES",
    "DTYPES",
    "MAP_FAMILIES",
    "X_BITS",
    "check_choices",
    "check_int",
    "check_number",
    "dyadic",
    "sign",
]

#: Bits after the binary point of a curve point ``x``: float32-exact for |x| < 2**10.
X_BITS = 12
#: Curve families the built-in strategies draw.
CURVE_FAMILIES = ("circle", "ellipse", "polynomial")
MAP_FAMILIES = ("curve-map", "sqrt", "coupled")
DTYPES = ("float64", "float32")


def check_number(name: str, value: Any, *, minimum: float, maximum: float = math.inf) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float | Fraction):
        raise InvalidArgument(f"{name}={value!r} must be a number.")
    if not minimum <= value <= maximum:
        bounds = f">= {minimum}" if maximum == math.inf else f"in [{minimum}, {maximum}]"
        raise InvalidArgument(f"{name}={value!r} must be {bounds}.")


def check_int(name: str, value: Any, *, minimum: int, maximum: int | None = None) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidArgument(f"{name}={value!r} must be an integer.")
    if value < minimum or (maximum is not None and value > maximum):
        bounds = f">= {minimum}" if maximum is None else f"in [{minimum}, {maximum}]"
        raise InvalidArgument(f"{name}={value!r} must be {bounds}.")


def check_choices(name: str, value: Any, allowed: Sequence[str]) -> tuple[str, ...]:
    values = (value,) if isinstance(value, str) else tuple(value)
    bad = [v for v in values if v not in allowed]
    if not values or bad:
        raise InvalidArgument(f"{name}={value!r} must be a non-empty subset of {allowed}.")
    return values


def dyadic(draw: st.DrawFn, bound: float, bits: int) -> Fraction:
    """A dyadic ``k / 2**bits`` in ``[-bound, bound]``, shrinking toward 0."""
    limit = int(bound * 2**bits)
    return Fraction(draw(st.integers(-limit, limit)), 2**bits)


def sign(draw: st.DrawFn) -> int:
    return -1 if draw(st.booleans()) else 1
