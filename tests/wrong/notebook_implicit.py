"""The notebook "Implicit functions in pytorch", as a student would submit it.

Solves F(x, y) = 0 for y by LBFGS on F**2 and differentiates by the implicit
function theorem, dy/dx = -F_x / F_y.  Kept verbatim in spirit: its root is only
accurate to about 1e-5, and near F_y = 0 it silently returns a wrong gradient.
"""

import torch


class Implicit(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, y0, F, max_iter=100):
        y = y0.clone().detach().requires_grad_(True)
        optimizer = torch.optim.LBFGS([y], max_iter=max_iter)

        def closure():
            optimizer.zero_grad()
            loss = (F(x, y) ** 2).sum()
            loss.backward()
            return loss

        optimizer.step(closure)
        y = y.detach()
        ctx.F = F
        ctx.save_for_backward(x, y)
        return y

    @staticmethod
    def backward(ctx, grad_output):
        x, y = ctx.saved_tensors
        with torch.enable_grad():
            x = x.detach().requires_grad_(True)
            y = y.detach().requires_grad_(True)
            value = ctx.F(x, y)
            F_x, F_y = torch.autograd.grad(value, (x, y), torch.ones_like(value))
        return -grad_output * F_x / F_y, None, None, None
