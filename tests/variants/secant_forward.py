"""CORRECT variant: a secant forward on g(x) = f(a)(x) - x for scalar maps (plain
iteration for vector ones), stopping when distance(x, x_prev) <= tol; the backward
solves (I - f_x)^T u = v directly at the returned point.
"""

import torch

MAX_ITER = 1000


def _secant(step, x0, distance, tol):
    x_prev, x = x0, step(x0)
    g_prev = x - x_prev
    for _ in range(MAX_ITER):
        g = step(x) - x
        denom = g - g_prev
        x_new = x + g if denom == 0 else x - g * (x - x_prev) / denom
        x_prev, g_prev, x = x, g, x_new
        if distance(x, x_prev) <= tol:
            return x
    raise RuntimeError("secant: no convergence")


def _iterate(step, x, distance, tol):
    for _ in range(MAX_ITER * 10):
        x_prev, x = x, step(x)
        if distance(x, x_prev) <= tol:
            return x
    raise RuntimeError("iteration: no convergence")


class _FixedPoint(torch.autograd.Function):
    @staticmethod
    def forward(ctx, a, x0, f, distance, tol):
        with torch.no_grad():
            solve = _secant if x0.numel() == 1 else _iterate
            x = solve(f(a), x0, distance, tol)
        ctx.f = f
        ctx.save_for_backward(a, x)
        return x

    @staticmethod
    def backward(ctx, v):
        a, x = ctx.saved_tensors
        m = x.numel()
        with torch.enable_grad():
            a_in = a.detach().requires_grad_()
            x_in = x.detach().requires_grad_()
            fx = ctx.f(a_in)(x_in)
            rows = [
                torch.autograd.grad(fx.reshape(-1)[i], x_in, retain_graph=True)[0].reshape(-1)
                for i in range(m)
            ]
            J = torch.stack(rows)
            u = torch.linalg.solve((torch.eye(m, dtype=J.dtype) - J).T, v.reshape(m))
            (grad_a,) = torch.autograd.grad(fx, a_in, u.reshape(fx.shape), allow_unused=True)
        if grad_a is None:
            grad_a = torch.zeros_like(a)
        return grad_a, None, None, None, None


def fixed_point(f, a, x0, distance, tol):
    return _FixedPoint.apply(a, x0, f, distance, tol)
