"""CORRECT variant of the implicit assignment: Newton on F(x, y) = 0 that stops when
its step is below 1e-4 (quadratic convergence makes the root far better than the
step), with dy/dx = -F_x / F_y at the returned y in backward.
"""

import torch

STEP_TOL = 1e-4
MAX_ITER = 100


class Implicit(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, y0, F, max_iter=MAX_ITER):
        with torch.enable_grad():
            y = y0.detach().clone()
            xd = x.detach()
            for _ in range(max_iter):
                y_in = y.detach().requires_grad_()
                value = F(xd, y_in)
                (F_y,) = torch.autograd.grad(value.sum(), y_in)
                step = value.detach() / F_y
                y = y - step
                if step.abs().max() < STEP_TOL:
                    break
            else:
                raise RuntimeError("Newton did not converge")
        ctx.F = F
        ctx.save_for_backward(x, y)
        return y.detach()

    @staticmethod
    def backward(ctx, g):
        x, y = ctx.saved_tensors
        with torch.enable_grad():
            x_in = x.detach().requires_grad_()
            y_in = y.detach().requires_grad_()
            value = ctx.F(x_in, y_in)
            F_x, F_y = torch.autograd.grad(value.sum(), (x_in, y_in), create_graph=True)
        return -g * F_x / F_y, None, None, None
