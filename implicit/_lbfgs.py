"""The notebook's root solver: ``torch.optim.LBFGS`` on ``sum F**2``, for comparison.

Shapes: ``y0`` is ``batch_shape + event_shape``; one optimiser serves the whole
batch.  Returns the same statistics as ``newton`` (each ``batch_shape``, ``J``
``batch_shape + (m, m)``), so that ``root_find`` judges both alike.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from ._common import max_abs
from ._linear import jacobian, singular_values, split


def lbfgs(
    G: Callable[[torch.Tensor], torch.Tensor],
    y0: torch.Tensor,
    start: tuple[torch.Tensor, torch.Tensor],
    event_ndim: int,
    tol: float,
    max_iter: int,
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """The notebook's solver: ``torch.optim.LBFGS`` on ``sum F**2``.

    Kept for comparison.  Its limits: one optimiser for the whole batch, the
    loss ``F**2`` is flat near the root (the root is only accurate to about the
    square root of LBFGS's own tolerance, ~1e-5 in practice), and near
    ``F_y = 0`` it stops early.  Problems whose residual stays above ``tol`` are
    reported as not converged.
    """
    y = y0.detach().clone().requires_grad_()
    optimizer = torch.optim.LBFGS([y], max_iter=max_iter, line_search_fn="strong_wolfe")

    def closure() -> torch.Tensor:
        optimizer.zero_grad()
        loss = (G(y) ** 2).sum()
        loss.backward()
        return loss

    with torch.enable_grad():
        optimizer.step(closure)
    y = y.detach()
    with torch.enable_grad():
        y_in = y.clone().requires_grad_()
        value = G(y_in)
        J = jacobian(value, y_in, event_ndim)
    residual = max_abs(value.detach(), event_ndim)
    sigma_min, scale = singular_values(J)
    batch_shape, _ = split(y0.shape, event_ndim)
    iterations = optimizer.state[optimizer.param_groups[0]["params"][0]].get("n_iter", 0)
    never = torch.zeros(batch_shape, dtype=torch.bool, device=y.device)
    return y, {
        "converged": residual <= tol,
        "broken": never,
        "stuck": never,
        "nonfinite": ~torch.isfinite(residual),
        "failed_at": torch.full(batch_shape, int(iterations), dtype=torch.long, device=y.device),
        "iterations": torch.full(batch_shape, int(iterations), dtype=torch.long, device=y.device),
        "residual": residual,
        "value": value.detach(),
        "J": J.detach(),
        "sigma_min": sigma_min,
        "scale": scale,
    }
