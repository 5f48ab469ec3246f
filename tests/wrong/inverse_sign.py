"""WRONG on purpose: a sign inside the inverse, (I + f_x)^T u = v: the adjoint
iterated as u <- v - f_x^T u, the update of a fixed point of u = v + f_x^T u
written with the wrong sign.

Caught by: dx_da_formula wherever f_x != 0 (diagnosis: inverse_sign).
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
        m = x_star.numel()
        with torch.enable_grad():
            a_in = a.detach().requires_grad_()
            x_in = x_star.detach().requires_grad_()
            fx = ctx.f(a_in)(x_in)
            rows = [
                torch.autograd.grad(fx.reshape(-1)[i], x_in, retain_graph=True)[0].reshape(-1)
                for i in range(m)
            ]
            f_x = torch.stack(rows)  # m x m, f_x[i, j] = d f_i / d x_j
            eye = torch.eye(m, dtype=f_x.dtype)
            u = torch.linalg.solve((eye + f_x).T, v.reshape(m))
            (grad_a,) = torch.autograd.grad(fx, a_in, u.reshape(fx.shape))
        return grad_a, None, None


def fixed_point(f, a, x0, distance, tol):
    with torch.no_grad():
        step = f(a.detach())
        x_prev, x = x0.detach(), step(x0.detach())
        while distance(x, x_prev) > tol:
            x_prev, x = x, step(x)
    return _FixedPoint.apply(a, x, f)
