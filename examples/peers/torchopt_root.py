"""torchopt's ``custom_root`` decorator (its defaults: ``solve_normal_cg``) around a Newton solve.

The solver is ours (batched scalar Newton, capped); the derivative is the
library's: ``custom_root(optimality_fn, argnums=1)`` differentiates the root of
``optimality_fn(y, x) = F(x, y)`` by the implicit function theorem.
"""

from __future__ import annotations

import torch

REQUIRES = "torchopt"
MAX_ITER = 100


def _newton(F, x, y0):
    y = y0.detach().clone()
    x = x.detach()
    for _ in range(MAX_ITER):
        with torch.enable_grad():
            y_ = y.detach().requires_grad_(True)
            value = F(x, y_)
            (F_y,) = torch.autograd.grad(value.sum(), y_)
        step = value.detach() / F_y
        y = y - step
        if bool((step.abs() <= 1e-15 * (1 + y.abs())).all()):
            break
    return y


def implicit(F, x, y0):
    """``y`` with ``F(x, y) = 0`` near ``y0``; its gradient from torchopt."""
    from torchopt.diff.implicit import custom_root

    def optimality(y, x):
        return F(x, y)

    @custom_root(optimality, argnums=1)
    def solve(y, x):
        return _newton(F, x, y)

    return solve(y0, x)
