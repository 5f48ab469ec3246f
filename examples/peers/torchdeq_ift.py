"""torchdeq with exact implicit gradients: ``get_deq(ift=True)``, ``f_tol=tol``."""

from __future__ import annotations

REQUIRES = "torchdeq"
OPTIONS = {"ift": True}


def fixed_point(f, a, x0, distance, tol):
    """``x* = f(a)(x*)`` by torchdeq; the backward solves the adjoint fixed point (IFT)."""
    from torchdeq import get_deq

    deq = get_deq(**OPTIONS)
    states, _ = deq(lambda z: f(a)(z), x0, solver_kwargs={"f_tol": tol})
    return states[-1]
