"""Mistake: the root is right but detached, so no gradient reaches x (autograd's None).

Newton's method on F(x, .) from y0 with the derivative taken by autograd, every step
detached and no implicit-function-theorem backward at all.  Diagnosis: no_gradient.
"""

import torch


def implicit(F, x, y0):
    y = y0.detach().clone()
    for _ in range(100):
        with torch.enable_grad():
            y_ = y.requires_grad_(True)
            value = F(x.detach(), y_)
            (F_y,) = torch.autograd.grad(value.sum(), y_)
        step = (value / F_y).detach()
        y = (y_ - step).detach()
        if bool((step.abs() <= 1e-15 * (1 + y.abs())).all()):
            break
    return y
