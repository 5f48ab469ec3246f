"""Mistake: the backward takes f_x and f_a by forward differences with a step of
1e-3 instead of autograd, then solves the adjoint exactly: the gradient is off by
O(h) (about 1e-4 relative here), far above float64's allowance.

Caught by: dx_da_formula and backward_at_fixed_point (diagnosis: finite_difference).
"""

import torch

H = 1e-3


def _jacobian(g, z):
    """Forward differences of g at z: (len(g(z)), len(z))."""
    base = g(z).reshape(-1)
    cols = []
    for j in range(z.numel()):
        dz = torch.zeros_like(z).reshape(-1)
        dz[j] = H
        cols.append((g(z + dz.reshape(z.shape)).reshape(-1) - base) / H)
    return torch.stack(cols, dim=1)


class _FixedPoint(torch.autograd.Function):
    @staticmethod
    def forward(ctx, a, x_star, f):
        ctx.f = f
        ctx.save_for_backward(a, x_star)
        return x_star.clone()

    @staticmethod
    def backward(ctx, v):
        a, x_star = ctx.saved_tensors
        with torch.no_grad():
            f_x = _jacobian(lambda x: ctx.f(a)(x), x_star)  # WRONG: O(h) error
            f_a = _jacobian(lambda b: ctx.f(b)(x_star), a)
            eye = torch.eye(x_star.numel(), dtype=f_x.dtype)
            u = torch.linalg.solve((eye - f_x).T, v.reshape(-1))
            grad_a = (u @ f_a).reshape(a.shape)
        return grad_a, None, None


def fixed_point(f, a, x0, distance, tol):
    with torch.no_grad():
        step = f(a.detach())
        x_prev, x = x0.detach(), step(x0.detach())
        while distance(x, x_prev) > tol:
            x_prev, x = x, step(x)
    return _FixedPoint.apply(a, x, f)
