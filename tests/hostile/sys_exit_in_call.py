"""Hostile: calls sys.exit in the call."""

import sys

import torch


class _FixedPoint(torch.autograd.Function):
    @staticmethod
    def forward(ctx, a, x0, f, distance, tol):
        with torch.no_grad():
            x_prev, x = x0, f(a)(x0)
            while distance(x, x_prev) > tol:
                x_prev, x = x, f(a)(x)
        ctx.f, ctx.distance, ctx.tol = f, distance, tol
        ctx.save_for_backward(a, x)
        return x

    @staticmethod
    def backward(ctx, g):
        a, x = ctx.saved_tensors
        with torch.enable_grad():
            a, x = a.detach().requires_grad_(), x.detach().requires_grad_()
            fx = ctx.f(a)(x)
            u_prev, u = g, g + torch.autograd.grad(fx, x, g, retain_graph=True)[0]
            while ctx.distance(u, u_prev) > ctx.tol:
                u_prev, u = u, g + torch.autograd.grad(fx, x, u, retain_graph=True)[0]
            (grad_a,) = torch.autograd.grad(fx, a, u)
        return SIGN * grad_a, None, None, None, None


def correct(f, a, x0, distance, tol):
    return _FixedPoint.apply(a, x0, f, distance, tol)


SIGN = 1


def fixed_point(f, a, x0, distance, tol):
    sys.exit("bye")
