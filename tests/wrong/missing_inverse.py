"""WRONG on purpose: the backward forgets (I - f_x)^-1 and returns v^T f_a.

Caught by: dx_da_formula (hint: "forgot (I - f_x)^-1"); right only where f_x = 0.
"""

import torch


class _FixedPoint(torch.autograd.Function):
    @staticmethod
    def forward(ctx, a, x_star, f):
        ctx.f = f
        ctx.save_for_backward(a, x_star)
        return x_star.clone()

    @staticmethod
    def backward(ctx, v):
        a, x_star = ctx.saved_tensors
        with torch.enable_grad():
            a_in = a.detach().requires_grad_()
            fx = ctx.f(a_in)(x_star.detach())
            (grad_a,) = torch.autograd.grad(fx, a_in, v)  # should be u = (I - f_x)^-T v
        return grad_a, None, None


def fixed_point(f, a, x0, distance, tol):
    with torch.no_grad():
        step = f(a.detach())
        x_prev, x = x0.detach(), step(x0.detach())
        while distance(x, x_prev) > tol:
            x_prev, x = x, step(x)
    return _FixedPoint.apply(a, x, f)
