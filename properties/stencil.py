"""Whether a backward took finite differences: measured on where it evaluated f.

A finite-difference backward evaluates f at the solution and at points a small
step ``h`` from it, a handful of times (a forward or central stencil over the m
unknowns and the parameters); its derivatives are then off by O(h) (forward) or
O(h**2) (central).  ``step`` finds ``h`` from the probe's record of distances;
pure, no call of the code under test.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

__all__ = ["ORDER", "STENCIL_RTOL", "step"]

#: How near the solution (relative to ``1 + |x*|``) a stencil's points lie.
STENCIL_RTOL = 1e-2
#: A gradient error "of the order of h": at most this factor times ``h (1 + |dx/da|)``
#: (a forward difference errs by h |f''| / 2, amplified by the solve).
ORDER = 100.0


def step(distances: Sequence[float], scale: float, point_tol: float, m: int) -> float | None:
    """The step ``h`` of a finite-difference stencil, or None.

    Args:
        distances: the distance from x* of every point f was evaluated at in backward.
        scale: ``1 + |x*|``.
        point_tol: distances at most this are x* itself.
        m: the number of unknowns (a stencil has at most ``4 m + 4`` points).
    """
    off = [t for t in distances if t > point_tol]
    if not off or len(distances) > 4 * m + 4 or not all(math.isfinite(t) for t in off):
        return None
    return min(off) if max(off) <= STENCIL_RTOL * scale else None
