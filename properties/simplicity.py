"""What "simple" means for a case: the numbers a person would write, and an order.

Two uses, one notion:

- ``simplest_between(lo, hi)``: the rational with the smallest denominator (then
  the smallest numerator) in ``[lo, hi]``, by the continued-fraction descent of the
  Stern-Brocot tree.  Strategies that need a number "about this big" (a step
  ``alpha`` for a wanted contraction rate, a scale for a row-sum budget) take the
  simplest one in the band they can accept, so that cases read ``x - x**2/4``
  rather than ``x - 59/603*x**2``.
- ``case_key(case)``: the order in which failing cases are shown, simplest first:
  fewer unknowns, then lower degree, then fewer digits in the numbers, then the
  shorter text.  Shrinking (Hypothesis) prefers the same things, and the grader's
  and the report's "smallest failing case" use this key, so that what is shown as
  smallest is the simplest failing case in that order.
"""

from __future__ import annotations

import math
import re
from fractions import Fraction
from typing import Any

__all__ = ["case_key", "digits", "simplest_between", "simplest_dyadic"]

_NUMBER = re.compile(r"\d+(?:\.\d+)?(?:[eE][-+]?\d+)?")
_POWER = re.compile(r"\*\*\s*(\d+)")


def simplest_between(lo: Fraction | float, hi: Fraction | float) -> Fraction:
    """The simplest rational ``q`` with ``lo <= q <= hi`` (smallest denominator, then
    smallest ``|numerator|``); 0 when the interval holds 0.

    Invariant: the result lies in ``[min(lo, hi), max(lo, hi)]``, exactly.

    Raises:
        ValueError: for a non-finite bound.
    """
    if not (math.isfinite(float(lo)) and math.isfinite(float(hi))):
        raise ValueError(f"bounds ({lo!r}, {hi!r}) must be finite.")
    lo_, hi_ = sorted((Fraction(lo), Fraction(hi)))
    if lo_ <= 0 <= hi_:
        return Fraction(0)
    if hi_ < 0:
        return -_simplest_positive(-hi_, -lo_)
    return _simplest_positive(lo_, hi_)


def _simplest_positive(lo: Fraction, hi: Fraction) -> Fraction:
    """``simplest_between`` for ``0 < lo <= hi``."""
    n = math.floor(lo)
    if n == lo:
        return Fraction(n)
    if n + 1 <= hi:
        return Fraction(n + 1)
    # lo and hi share the integer part n: recurse on the reciprocals of the rests.
    return n + 1 / _simplest_positive(1 / (hi - n), 1 / (lo - n))


def simplest_dyadic(lo: Fraction, hi: Fraction, max_bits: int) -> Fraction:
    """The dyadic ``n / 2**k`` in ``[lo, hi]`` with the smallest ``k <= max_bits`` (then
    the smallest ``|n|``): exact in binary floating point, as few digits as the band
    allows.  Falls back to ``lo`` rounded toward ``hi`` at ``max_bits``.

    Invariant: ``lo <= result <= hi`` whenever the band holds a ``max_bits`` dyadic.
    """
    lo, hi = sorted((Fraction(lo), Fraction(hi)))
    for k in range(max_bits + 1):
        scale = 2**k
        if lo <= 0 <= hi:
            return Fraction(0)
        n = math.ceil(lo * scale) if lo > 0 else math.floor(hi * scale)
        if lo <= Fraction(n, scale) <= hi:
            return Fraction(n, scale)
    return Fraction(math.ceil(lo * 2**max_bits), 2**max_bits)


def digits(text: str) -> int:
    """How many digits the numbers of ``text`` take (``3/4`` is 2, ``0.625`` is 4),
    exponents ``**k`` excluded (they count as degree)."""
    return sum(len(re.sub(r"\D", "", m)) for m in _NUMBER.findall(_POWER.sub("", text)))


def degree(text: str) -> int:
    """The highest explicit power in ``text`` (1 without ``**``): a cheap total-degree
    proxy that needs no parsing (products like ``x*y`` count as 1)."""
    powers = [int(p) for p in _POWER.findall(text)]
    return max(powers, default=1)


def case_key(case: Any) -> tuple[int, int, int, int]:
    """``(unknowns, degree, digits, length)`` of ``case.text()``: smaller is simpler.

    ``unknowns`` is ``case.m`` for maps (and anything with ``m``), 1 for curves."""
    text = case.text()
    return (int(getattr(case, "m", 1)), degree(text), digits(text), len(text))
