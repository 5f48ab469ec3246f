"""torchdeq with its defaults: ``get_deq()`` (sliced core, one-step gradient), ``f_tol=tol``.

``deq(func, z_init)`` returns the trajectory; the last state is the fixed point.
The contract's ``tol`` is handed over as ``f_tol``; the rest is the library's.
"""

from __future__ import annotations

REQUIRES = "torchdeq"
OPTIONS: dict = {}


def fixed_point(f, a, x0, distance, tol):
    """``x* = f(a)(x*)`` by torchdeq; its gradient as torchdeq computes it."""
    from torchdeq import get_deq

    deq = get_deq(**OPTIONS)
    states, _ = deq(lambda z: f(a)(z), x0, solver_kwargs={"f_tol": tol})
    return states[-1]
