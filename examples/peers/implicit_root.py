"""Our ``implicit`` library as a curve target: ``implicit(F, x, y0) = root_find(F, x, y0)``.

Run: ``python -m reports --target examples/peers/implicit_root.py``.
"""

from __future__ import annotations

#: The distribution this adapter needs (the table skips it when missing).
REQUIRES = "implicit"
#: What the library claims beyond the contract (``properties.capabilities``).
CAPABILITIES = {"forward_mode", "second_order", "torch_func", "vector_roots"}


def implicit(F, x, y0):
    """``y`` with ``F(x, y) = 0`` near ``y0``, differentiable in ``x`` by the IFT."""
    import implicit as library

    return library.root_find(F, x, y0)


def vector_root(F, x, y0):
    """One problem with ``y`` in R^m: ``F(x, y)`` returns its ``m`` components."""
    import implicit as library

    return library.root_find(F, x, y0, event_ndim=1)
