"""Whether a float64 answer was computed in float32: measured on the numbers alone.

A float64 number chosen by chance is exactly representable in float32 with
probability about 2**-29; one with many significant bits (``BITS`` of float32's
24) that is exactly a float32 number came out of float32 arithmetic.  Short
dyadic numbers (a start such as 0.5, an exact answer such as 2) are float32
numbers too, so they are never taken as evidence.

When every returned number of a failing float64 check is such a float32 number,
and its error is float32's round-off (at most ``ULPS`` float32 steps of the
expected value), the cause is ``low_precision``: the code computes in float32
(``torch.zeros(n)`` without ``dtype=``, ``.float()``, a float32 constant) for
float64 inputs.  Pure and cheap: no call of the code under test.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Sequence

from properties.experiments import Finding

__all__ = ["BITS", "ULPS", "float32_number", "low_precision"]

#: Significant bits a float32 number must use to count as evidence (of 24).
BITS = 18
#: An error of at most this many float32 steps of the expected value is float32's
#: round-off (the solve's conditioning multiplies the unit round-off).
ULPS = 1e4
_EPS32 = 2.0**-23


def float32_number(value: float) -> bool:
    """Whether ``value`` is exactly a float32 number with at least ``BITS`` significant bits."""
    if not math.isfinite(value) or value == 0:
        return False
    try:
        as32 = struct.unpack("f", struct.pack("f", value))[0]
    except OverflowError:
        return False
    if as32 != value:
        return False
    mantissa, _ = math.frexp(abs(value))
    n = int(mantissa * 2**24)
    trailing = (n & -n).bit_length() - 1
    return 24 - trailing >= BITS


def low_precision(
    got: Sequence[float], want: Sequence[float], dtype: str, what: str
) -> Finding | None:
    """``low_precision`` when the float64 values ``got`` (against ``want``) are float32
    numbers within float32's round-off of ``want``; else None.

    Args:
        got: the returned numbers (a root, a fixed point, a gradient's entries).
        want: the expected ones, same length.
        dtype: the dtype of the call ("float64" only: float32 numbers are expected in float32).
        what: how the words name ``got`` ("y", "x", "dy/dx").
    """
    if dtype != "float64" or not got or len(got) != len(want):
        return None
    if not all(float32_number(g) for g in got):
        return None
    error = max(abs(g - w) for g, w in zip(got, want))
    scale = max(abs(w) for w in want)
    if not error <= ULPS * _EPS32 * max(scale, 1e-300):
        return None
    shown = ", ".join(repr(g) for g in got[:3])
    return Finding(
        ("low_precision",),
        f"your {what} = {shown} is exactly a float32 number (a float64 one is by chance with "
        f"odds of about 2**-29), and its error {error:.2g} is {error / (_EPS32 * scale):.3g} "
        "float32 steps: the code computes in float32 for float64 inputs",
    )
