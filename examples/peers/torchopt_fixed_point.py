"""torchopt's ``custom_root`` decorator (its defaults) on the root of ``f(a)(x) - x``.

The iteration is the contract's (``x <- f(a)(x)`` until ``distance <= tol``,
capped); the derivative is the library's implicit one.
"""

from __future__ import annotations

import torch

REQUIRES = "torchopt"
MAX_ITER = 10_000


def fixed_point(f, a, x0, distance, tol):
    """``x* = f(a)(x*)``; ``dx*/da`` by torchopt's implicit differentiation."""
    from torchopt.diff.implicit import custom_root

    def optimality(x, a):
        return f(a)(x) - x

    @custom_root(optimality, argnums=1)
    def solve(x, a):
        with torch.no_grad():
            x_prev, x = x, f(a)(x)
            for _ in range(MAX_ITER):
                if distance(x, x_prev) <= tol:
                    return x
                x_prev, x = x, f(a)(x)
        raise RuntimeError(f"no fixed point within {MAX_ITER} iterations (tol={tol:g})")

    return solve(x0, a)
