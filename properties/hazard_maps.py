"""Maps a fixed-point solver cannot iterate to convergence, as ``MapCase``s.

- ``non_contracting_map(c, a, x0)``: ``f(a)(x) = c x + a`` with ``|c| > 1``.  Its
  fixed point ``x* = a / (1 - c)`` exists and ``I - f_x = 1 - c`` is regular, but
  plain iteration runs away from it (oscillating for ``c < 0``).  A solver may
  find ``x*`` another way (Newton, Anderson) or must say it failed.
- ``singular_map(b, x0)``: ``f(a)(x) = x - (x - b)**2 + a`` at ``a = 0``: a double
  fixed point ``x* = b`` with ``f_x = 1`` there (``I - f_x`` singular).  Iteration
  from ``x0 > b`` creeps toward ``b`` like ``1 / n``, and ``x*(a) = b + sqrt(a)``
  has an infinite derivative: any finite ``dx/da`` is confidently wrong.

The property (``properties.checks.hazards``): within the probe's deadline the
candidate raises, warns, or returns a non-finite value, or (non-contracting
only) returns the true ``x*``; it never hangs and never returns a confident
finite answer that is wrong.  Their family names are ``HAZARD_FAMILIES``.
"""

from __future__ import annotations

from fractions import Fraction

from properties.oracle import exact_decimal, to_digits
from properties.records import MapCase

__all__ = ["HAZARD_FAMILIES", "HAZARD_TOL", "non_contracting_map", "singular_map"]

HAZARD_FAMILIES = ("non-contracting", "singular-map")
#: The ``tol`` handed to the candidate on a hazard case (float64).
HAZARD_TOL = 1e-12


def _text(value: Fraction) -> str:
    return (
        str(value.numerator) if value.denominator == 1 else f"{value.numerator}/{value.denominator}"
    )


def non_contracting_map(c: Fraction, a: Fraction, x0: Fraction) -> MapCase:
    """``f(a)(x) = c x + a`` with ``|c| > 1`` (see the module docstring).

    Raises:
        ValueError: ``|c| <= 1`` (that map contracts) or ``x0 == x*``.
    """
    c, a, x0 = Fraction(c), Fraction(a), Fraction(x0)
    if abs(c) <= 1:
        raise ValueError(f"c={c} must satisfy |c| > 1 for a map that does not contract.")
    x_star = a / (1 - c)
    if x0 == x_star:
        raise ValueError(f"x0={x0} is the fixed point itself; start elsewhere.")
    cs = _text(c)
    return MapCase(
        family="non-contracting",
        f_source=(f"({cs}) * x + a",),
        source=f"({cs})*x + a",
        a=(exact_decimal(a),),
        x0=(float(x0),),
        x_star=(to_digits(x_star),),
        dx_da=(to_digits(1 / (1 - c)),),
        rho=float(c),
        sigma_min=float(abs(1 - c)),
        tol=HAZARD_TOL,
        scalar=True,
    )


def singular_map(b: Fraction, x0: Fraction) -> MapCase:
    """``f(a)(x) = x - (x - b)**2 + a`` at ``a = 0``: double fixed point ``b``.

    Raises:
        ValueError: unless ``b < x0 <= b + 1/2`` (where iteration creeps toward ``b``).
    """
    b, x0 = Fraction(b), Fraction(x0)
    if not b < x0 <= b + Fraction(1, 2):
        raise ValueError(f"x0={x0} must lie in (b, b + 1/2] = ({b}, {b + Fraction(1, 2)}].")
    bs = _text(b)
    return MapCase(
        family="singular-map",
        f_source=(f"x - (x - ({bs}))**2 + a",),
        source=f"x - (x - ({bs}))**2 + a",
        a=("0",),
        x0=(float(x0),),
        x_star=(to_digits(b),),
        dx_da=("inf",),
        rho=1.0,
        sigma_min=0.0,
        tol=HAZARD_TOL,
        scalar=True,
    )
