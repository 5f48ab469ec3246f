"""Confirms by hand the torchopt rows of docs/conformance.md, on the library itself.

custom_root(optimality, argnums=1) with its default linear solver (solve_normal_cg):

1. second derivative: on F = x**2 + y (y = -x**2, d2y/dx2 = -2) the double backward
   through custom_root's backward gives 0 for shape (1,) as for shape () (the
   backward is not differentiable: torchopt computes it without create_graph);
2. a batch of independent problems: the normal-equations CG on the batch's whole
   (diagonal) Jacobian stops at its tolerance, so each gradient is off by ~1e-6
   (the harness: "gradient of sum(w * y) ... -0.438479, expected -0.438474");
3. the fixed-point form on a 0-d a: dx/da = 0 (the 0-d gradient of
   torchopt_0d_gradient.py), which the harness reports with no cause named.
"""

from __future__ import annotations

import warnings

import torch
from torchopt.diff.implicit import custom_root

warnings.simplefilter("ignore")  # torchopt's functorch deprecation warnings
dt = torch.float64


def root(F, shape, x_value, y_value):
    @custom_root(lambda y, x: F(x, y), argnums=1)
    def solve(y, x):
        return torch.full(shape, y_value, dtype=dt) + 0 * y  # the exact root, by hand

    x = torch.full(shape, x_value, dtype=dt, requires_grad=True)
    return solve(torch.zeros(shape, dtype=dt), x), x


for shape in ((), (1,)):
    y, x = root(lambda x, y: x**2 + y, shape, 0.5, -0.25)
    (g,) = torch.autograd.grad(y.sum(), x, create_graph=True)
    try:
        (h,) = torch.autograd.grad(g.sum(), x, allow_unused=True)
        h = None if h is None else h.flatten()[0].item()
    except RuntimeError as exc:
        h = f"raised: {str(exc)[:60]}"
    print(f"1. shape {shape}: dy/dx = {g.flatten()[0].item():+.6f} (true -1), d2y/dx2 = {h} (true -2)")

xs = torch.tensor([0.5, -0.3, 0.8], dtype=dt, requires_grad=True)
w = torch.tensor([1.0, 0.7, -1.6], dtype=dt)


@custom_root(lambda y, x: x**2 + y**2 - 1, argnums=1)
def circle(y, x):
    return torch.sqrt(1 - x.detach() ** 2) + 0 * y


y = circle(torch.ones(3, dtype=dt), xs)
(g,) = torch.autograd.grad((w * y).sum(), xs)
exact = w * (-xs / torch.sqrt(1 - xs**2))
print("2. batch gradient error:", (g - exact).abs().max().item())
