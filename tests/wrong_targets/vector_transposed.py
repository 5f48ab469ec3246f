"""Claims vector roots; its backward solves with F_y where the vjp needs F_y^T.

Forward: Newton on F(x, y) = 0 with the dense F_y.  Backward: u = F_y^-1 g instead of
F_y^-T g, then -F_x^T u: right wherever F_y is symmetric, wrong elsewhere.  Also has
the curve entry point (scalar problems are right: a 1 x 1 F_y is its own transpose).
"""

import torch

CAPABILITIES = {"vector_roots"}
TRANSPOSE = False  # the mistake: the right code solves with F_y.T


def _newton(F, x, y):
    with torch.enable_grad():
        for _ in range(50):
            y_in = y.detach().requires_grad_()
            J = torch.autograd.functional.jacobian(lambda y_: F(x, y_), y_in)
            y = y_in.detach() - torch.linalg.solve(J, F(x, y_in).detach())
    return y.detach()


class _Root(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, y0, F):
        y = _newton(F, x.detach(), y0)
        ctx.F = F
        ctx.save_for_backward(x, y)
        return y

    @staticmethod
    def backward(ctx, g):
        x, y = ctx.saved_tensors
        with torch.enable_grad():
            x_in = x.detach().requires_grad_()
            F_y = torch.autograd.functional.jacobian(lambda y_: ctx.F(x, y_), y)
            u = torch.linalg.solve(F_y.T if TRANSPOSE else F_y, g)
            (grad_x,) = torch.autograd.grad(ctx.F(x_in, y), x_in, -u)
        return grad_x, None, None


def vector_root(F, x, y0):
    return _Root.apply(x, y0, F)


def implicit(F, x, y0):
    """The curve entry point, required beside vector_root; not under test here."""
    raise NotImplementedError("this target is about vector roots")
