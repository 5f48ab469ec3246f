"""A float rehearsal of HIPS-style fixed-point iteration, run when a case is built.

A curve-map's start ``x0`` must be one from which the implementation's plain
iteration ``x <- g(x)`` and the adjoint iteration ``u <- v + g'(x) u`` both stop
at the case's ``tol`` in the case's dtype (float32 rounding included);
``settling_start`` moves ``x0`` toward ``x*`` until they do.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from fractions import Fraction
from typing import Any

from properties.exact import CompiledCurve

__all__ = ["cast_to", "float_map", "settling_start", "to_float32"]


def cast_to(dtype: str) -> Callable[[float], float]:
    """Rounding of a float to ``dtype`` (float32 overflows to +-inf, as in torch)."""
    if dtype != "float32":
        return float

    def cast(value: float) -> float:
        try:
            return to_float32(value)
        except OverflowError:
            return math.copysign(math.inf, value)

    return cast


def to_float32(value: float) -> float:
    import struct

    return struct.unpack("f", struct.pack("f", value))[0]


#: Iterations the generation-time rehearsal of a curve-map allows (a correct loop
#: needs a few hundred at ``|rho| = 0.95``; tests allow 20000).
_REHEARSAL_LIMIT = 5000
#: Halvings of ``x0 - x*`` tried before starting at ``x*`` itself.
_REHEARSAL_TRIES = 40


def float_map(
    compiled: CompiledCurve,
    g_terms: dict[tuple[int, int], Fraction] | None,
    alpha: Fraction,
    a: Fraction,
    dtype: str,
) -> tuple[Callable[[float], float], Callable[[float], float]]:
    """``g(x) = x - alpha F(a, x)`` and ``g'(x)`` evaluated in ``dtype``.

    Polynomials are evaluated term by term in the order and precision of the
    torch source (``format_polynomial``), so float32 rounding noise is rehearsed;
    other curves in float64, rounded to ``dtype``.
    """
    if g_terms is None:
        a_f, alpha_f = float(a), float(alpha)
        cast = cast_to(dtype)
        return (
            lambda x: cast(x - alpha_f * compiled.F_float(a_f, x)),
            lambda x: cast(1 - alpha_f * compiled.F_y_float(a_f, x)),
        )
    if dtype == "float32":
        import numpy as np

        number: Callable[[Any], Any] = np.float32
    else:
        number = float
    a_t = number(float(a))
    ordered = sorted(g_terms.items(), key=lambda t: (-(t[0][0] + t[0][1]), -t[0][0]))
    # (coefficient * a**i, j) per term, rounded as torch rounds them.
    value_terms = [(number(float(c)) * a_t**i, j) for (i, j), c in ordered if c]
    slope_terms = [(number(float(c * j)) * a_t**i, j - 1) for (i, j), c in ordered if c and j]

    def evaluate(terms: list[tuple[Any, int]], x: float) -> float:
        x_t, total = number(x), number(0)
        with _quiet_floats():
            for coefficient, j in terms:
                total = total + (coefficient * x_t**j if j else coefficient)
        return float(total)

    return (lambda x: evaluate(value_terms, x)), (lambda x: evaluate(slope_terms, x))


def _quiet_floats() -> Any:
    """Overflow in a rehearsal is a result (non-finite), not a warning."""
    import numpy as np

    return np.errstate(all="ignore")


def settling_start(
    g: Callable[[float], float],
    g_x: Callable[[float], float],
    x_star: float,
    offset: float,
    tol: float,
    rho: float,
    dtype: str,
) -> float:
    """``x* + offset``, halved toward ``x*`` until the rehearsal (``stops``) succeeds in ``dtype``.

    Inside the contraction interval the iteration converges in exact arithmetic;
    the rehearsal also catches what the interval cannot: float32 rounding, a
    stopping point where ``g'`` has drifted far from ``rho``.  Starting at ``x*``
    (rounded) is the last resort: the first step then stops.
    """
    cast = cast_to(dtype)

    def stops(x0: float) -> bool:
        """Whether plain iteration from ``x0`` and the adjoint iteration both stop.

        HIPS's loop ``x <- g(x)`` until ``|x - x_prev| <= tol`` must stop within
        ``_REHEARSAL_LIMIT`` steps at most ``1.25 tol max(|rho|, 1/2) / (1 - rho)``
        (plus a little noise) from ``x*``, which is what a linear map of rate ``rho``
        gives; then ``u <- v + g'(x) u`` (``|v| = 2``, at the returned ``x``) must stop
        at the same ``tol``.
        """
        try:
            x = cast(x0)
            for _ in range(_REHEARSAL_LIMIT):
                x_next = g(x)
                if not math.isfinite(x_next):
                    return False
                if abs(x_next - x) <= tol:
                    break
                x = x_next
            else:
                return False
            if abs(x_next - x_star) > tol * (1.25 * max(abs(rho), 0.5) / (1 - rho) + 0.1):
                return False
            slope = g_x(x_next)
            if not abs(slope) < 1:
                return False
            v = u = cast(2.0)
            for _ in range(_REHEARSAL_LIMIT):
                u_next = cast(v + cast(slope * u))
                if not math.isfinite(u_next):
                    return False
                if abs(u_next - u) <= tol:
                    return True
                u = u_next
            return False
        except (ValueError, ZeroDivisionError, OverflowError):
            return False

    for _ in range(_REHEARSAL_TRIES):
        if stops(cast(x_star + offset)):
            return x_star + offset
        offset /= 2
    return x_star
