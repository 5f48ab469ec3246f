"""HIPS autograd's ``autograd.misc.fixed_points.fixed_point``, bridged into torch.

The map ``f(a)(x)`` is a torch function; autograd traces numpy.  The bridge
makes ``f`` an autograd primitive whose vector-Jacobian products come from
torch, runs HIPS's own ``fixed_point`` (forward iteration and its adjoint
fixed-point backward) on numpy copies, and wraps the whole in a
``torch.autograd.Function``: forward = HIPS's forward, backward = HIPS's vjp.
First order only (the Function's backward is not itself differentiable).
"""

from __future__ import annotations

import torch

REQUIRES = "autograd"


def _bridge(f, dtype):
    """``f`` as an autograd primitive ``g(a, x)`` (numpy in, numpy out), VJPs by torch."""
    from autograd.extend import defvjp, primitive

    def as_torch(value):
        return torch.as_tensor(value, dtype=dtype)

    @primitive
    def g(a, x):
        with torch.no_grad():
            return f(as_torch(a))(as_torch(x)).numpy()

    def vjp(argnum):
        def make(ans, a, x):
            def back(v):
                a_t = as_torch(a).requires_grad_(True)
                x_t = as_torch(x).requires_grad_(True)
                with torch.enable_grad():
                    out = f(a_t)(x_t)
                    grads = torch.autograd.grad(out, (a_t, x_t), as_torch(v), allow_unused=True)
                grad = grads[argnum]
                shape = (a_t if argnum == 0 else x_t).shape
                return (torch.zeros(shape, dtype=dtype) if grad is None else grad).numpy()

            return back

        return make

    defvjp(g, vjp(0), vjp(1))
    return g


class _HIPS(torch.autograd.Function):
    @staticmethod
    def forward(ctx, a, x0, f, distance, tol):
        from autograd import make_vjp
        from autograd.misc.fixed_points import fixed_point as hips_fixed_point

        g = _bridge(f, a.dtype)
        dtype = a.dtype

        def dist(x, x_prev):
            return float(
                distance(torch.as_tensor(x, dtype=dtype), torch.as_tensor(x_prev, dtype=dtype))
            )

        def solve(a_np):
            return hips_fixed_point(
                lambda a_: lambda x: g(a_, x), a_np, x0.detach().numpy(), dist, tol
            )

        vjp, x_star = make_vjp(solve)(a.detach().numpy())
        ctx.vjp = vjp
        return torch.as_tensor(x_star, dtype=dtype)

    @staticmethod
    def backward(ctx, grad):
        return (
            torch.as_tensor(ctx.vjp(grad.detach().numpy()), dtype=grad.dtype),
            None,
            None,
            None,
            None,
        )


def fixed_point(f, a, x0, distance, tol):
    """HIPS's ``fixed_point(f, a, x0, distance, tol)`` on torch tensors."""
    return _HIPS.apply(a, x0, f, distance, tol)
