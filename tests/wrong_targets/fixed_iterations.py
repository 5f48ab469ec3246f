"""A fixed_point that runs 200 iterations and returns, whatever distance says."""

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
            a_in, x_in = a.detach().requires_grad_(), x_star.detach().requires_grad_()
            fx = ctx.f(a_in)(x_in)
            (f_x,) = torch.autograd.grad(fx, x_in, retain_graph=True)
            (grad_a,) = torch.autograd.grad(fx, a_in, v / (1 - f_x))
        return grad_a, None, None


def fixed_point(f, a, x0, distance, tol):
    with torch.no_grad():
        step = f(a.detach())
        x = x0.detach()
        for _ in range(200):  # WRONG: never checks distance(x, x_prev) <= tol
            x = step(x)
    return _FixedPoint.apply(a, x, f)
