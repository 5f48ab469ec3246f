"""CORRECT maths, but it prints about 1 MB on every call: full marks, and the run-level
signal "output_flood" in the report, results.json and the gradebook.
"""

import torch

MAX_ITER = 10_000


def _iterate(step, x, distance, tol):
    for _ in range(MAX_ITER):
        x_prev, x = x, step(x)
        if distance(x, x_prev) <= tol:
            return x
    raise RuntimeError(f"fixed_point: no convergence in {MAX_ITER} iterations")


class _FixedPoint(torch.autograd.Function):
    @staticmethod
    def forward(ctx, a, x0, f, distance, tol):
        with torch.no_grad():
            x = _iterate(f(a), x0, distance, tol)
        ctx.f, ctx.distance, ctx.tol = f, distance, tol
        ctx.save_for_backward(a, x)
        return x

    @staticmethod
    def backward(ctx, g):
        a, x = ctx.saved_tensors
        with torch.enable_grad():
            a = a.detach().requires_grad_()
            x = x.detach().requires_grad_()
            fx = ctx.f(a)(x)

            def adjoint_step(u):
                (ju,) = torch.autograd.grad(fx, x, u, retain_graph=True, allow_unused=True)
                return g if ju is None else g + ju

            u = _iterate(adjoint_step, g, ctx.distance, ctx.tol)
            (grad_a,) = torch.autograd.grad(fx, a, u, allow_unused=True)
        if grad_a is None:
            grad_a = torch.zeros_like(a)
        return grad_a, None, None, None, None


def fixed_point(f, a, x0, distance, tol):
    """Return x* = f(a)(x*), differentiable in a by the implicit function theorem."""
    print("debug " * 170_000)
    return _FixedPoint.apply(a, x0, f, distance, tol)
