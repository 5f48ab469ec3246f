"""Missing inverse: the backward returns (df/da)^T g and forgets (I - df/dx)^-1.

A classic mistake: it is right only where df/dx = 0 (Newton's map), so tests
that use such a map alone never see it.
"""

import torch

MAX_ITER = 10_000


class _FixedPoint(torch.autograd.Function):
    @staticmethod
    def forward(ctx, a, x0, f, distance, tol):
        with torch.no_grad():
            step = f(a)
            x = x0
            for _ in range(MAX_ITER):
                x_prev, x = x, step(x)
                if distance(x, x_prev) <= tol:
                    break
        ctx.f = f
        ctx.save_for_backward(a, x)
        return x

    @staticmethod
    def backward(ctx, g):
        a, x = ctx.saved_tensors
        with torch.enable_grad():
            a = a.detach().requires_grad_()
            x = x.detach().requires_grad_()  # so that fx has a graph even if f ignores a
            fx = ctx.f(a)(x)
            (grad_a,) = torch.autograd.grad(fx, a, g, allow_unused=True)  # BUG: no inverse
        if grad_a is None:
            grad_a = torch.zeros_like(a)
        return grad_a, None, None, None, None


def fixed_point(f, a, x0, distance, tol):
    return _FixedPoint.apply(a, x0, f, distance, tol)
