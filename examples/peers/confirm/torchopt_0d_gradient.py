"""Confirms by hand: torchopt's custom_root returns a zero gradient for 0-d tensors.

Unit circle x**2 + y**2 = 1 at x = 0.5: dy/dx = -x/y = -0.577...  The solver
returns the exact root; only the tensor's shape changes.  Observed with
torchopt 0.7.3: shape () gives 0.0, shapes (1,) and (3,) give -0.5773...
"""

from __future__ import annotations

import warnings

import torch
from torchopt.diff.implicit import custom_root

warnings.simplefilter("ignore")  # torchopt's functorch deprecation warnings
dt = torch.float64
for shape in [(), (1,), (3,)]:
    for argnums in [1, (1,)]:
        x = torch.full(shape, 0.5, dtype=dt, requires_grad=True)

        def optimality(y, x):
            return x**2 + y**2 - 1

        @custom_root(optimality, argnums=argnums)
        def solve(y, x):
            return torch.sqrt(1 - x.detach() ** 2) * torch.ones_like(y)

        y = solve(torch.full(shape, 0.9, dtype=dt), x)
        (g,) = torch.autograd.grad(y.sum(), x)
        print(
            f"shape={shape!s:5} argnums={argnums!s:4} dy/dx={g.flatten()[0].item():+.6f}",
            f"(true {-0.5 / 0.75**0.5:+.6f})",
        )
