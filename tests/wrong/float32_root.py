"""Mistake: Newton's method runs in float32 whatever the input dtype (a float32
working copy, as ``torch.zeros(n)`` without ``dtype=`` makes), then casts back; the
backward is right at the returned y.

The root carries float32's round-off (about 1e-7 relative) where float64 allows
1e-8 times the case's conditioning.  Diagnosis: low_precision (the returned y is
exactly a float32 number).
"""

import torch


class Implicit(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, y0, F):
        x32, y = x.detach().float(), y0.detach().float()  # WRONG: float32 for float64 inputs
        for _ in range(50):
            with torch.enable_grad():
                yv = y.requires_grad_()
                value = F(x32, yv)
                (F_y,) = torch.autograd.grad(value.sum(), yv)
            step = (value / F_y).detach()
            y = (y - step).detach()
            if bool((step.abs() <= 1e-6 * (1 + y.abs())).all()):
                break
        y = y.to(y0.dtype)
        ctx.F = F
        ctx.save_for_backward(x, y)
        return y

    @staticmethod
    def backward(ctx, g):
        x, y = ctx.saved_tensors
        with torch.enable_grad():
            xv, yv = x.detach().requires_grad_(), y.detach().requires_grad_()
            F_x, F_y = torch.autograd.grad(ctx.F(xv, yv).sum(), (xv, yv))
        return -g * F_x / F_y, None, None
