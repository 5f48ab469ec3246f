"""Claims forward mode, but its jvp rule returns zero (backward is right)."""

import torch

CAPABILITIES = {"forward_mode"}


class Implicit(torch.autograd.Function):
    @staticmethod
    def forward(x, y0, F):
        y = y0.detach().clone()
        with torch.enable_grad():
            for _ in range(60):
                y_in = y.detach().requires_grad_()
                value = F(x.detach(), y_in)
                (F_y,) = torch.autograd.grad(value.sum(), y_in)
                y = (y_in - value / F_y).detach()
        return y

    @staticmethod
    def setup_context(ctx, inputs, output):
        x, _, F = inputs
        ctx.F = F
        ctx.save_for_backward(x, output)

    @staticmethod
    def backward(ctx, g):
        x, y = ctx.saved_tensors
        with torch.enable_grad():
            x_in, y_in = x.detach().requires_grad_(), y.detach().requires_grad_()
            F_x, F_y = torch.autograd.grad(ctx.F(x_in, y_in).sum(), (x_in, y_in))
        return -g * F_x / F_y, None, None

    @staticmethod
    def jvp(ctx, x_dot, y0_dot, F_dot):
        return torch.zeros_like(x_dot)  # WRONG: dy = -F_x / F_y dx
