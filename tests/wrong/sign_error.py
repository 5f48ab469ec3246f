"""WRONG on purpose: a Newton Implicit whose backward gives dy/dx = +F_x / F_y.

Caught by: dy_dx_formula (hint: "opposite sign").
"""

import torch


class Implicit(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, y0, F, max_iter=50):
        y = y0.detach().clone()
        x_d = x.detach()
        for _ in range(max_iter):
            with torch.enable_grad():
                y_in = y.detach().requires_grad_()
                value = F(x_d, y_in)
                (F_y,) = torch.autograd.grad(value.sum(), y_in)
            step = value.detach() / F_y
            y = y - step
            if bool((step.abs() <= 1e-14 * (1 + y.abs())).all()):
                break
        ctx.F = F
        ctx.save_for_backward(x, y)
        return y

    @staticmethod
    def backward(ctx, grad_output):
        x, y = ctx.saved_tensors
        with torch.enable_grad():
            x = x.detach().requires_grad_(True)
            y = y.detach().requires_grad_(True)
            value = ctx.F(x, y)
            F_x, F_y = torch.autograd.grad(value, (x, y), torch.ones_like(value))
        return grad_output * F_x / F_y, None, None, None  # should be -F_x / F_y
