"""Our ``implicit`` library as a map target: ``implicit.fixed_point`` (HIPS signature).

Run: ``python -m reports --target examples/peers/implicit_fixed_point.py``.
"""

from __future__ import annotations

REQUIRES = "implicit"
#: What the library claims beyond the contract (``properties.capabilities``).
CAPABILITIES = {"forward_mode", "second_order", "torch_func"}


def fixed_point(f, a, x0, distance, tol):
    """``x* = f(a)(x*)``, iterated from ``x0`` until ``distance(x, x_prev) <= tol``."""
    import implicit as library

    return library.fixed_point(f, a, x0, distance, tol)
