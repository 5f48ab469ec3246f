"""Per-problem Jacobians and solves for a batch of independent problems.

Shapes: ``y`` is ``batch_shape + event_shape``; one problem has
``m = prod(event_shape)`` unknowns; its Jacobian is ``m x m``.  The Jacobian of
the whole batch is block diagonal and is never materialised: ``m``
vector-Jacobian products with a basis vector repeated over the batch give every
problem's rows at once.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch


def split(shape: torch.Size, event_ndim: int) -> tuple[torch.Size, torch.Size]:
    """Split ``shape`` into ``(batch_shape, event_shape)``."""
    cut = len(shape) - event_ndim
    return shape[:cut], shape[cut:]


def jacobian(
    value: torch.Tensor, y: torch.Tensor, event_ndim: int, create_graph: bool = False
) -> torch.Tensor:
    """Each problem's Jacobian ``dF/dy``.

    Args:
        value: ``F(x, y)``, shape ``batch_shape + event_shape``, with a graph to ``y``.
        y: the unknowns, same shape.
        event_ndim: number of trailing event dimensions.
        create_graph: keep the result differentiable (for double backward).

    Returns:
        ``batch_shape + (m, m)`` with ``J[..., j, i] = dF_j / dy_i``.
    """
    batch_shape, event_shape = split(y.shape, event_ndim)
    m = math.prod(event_shape)
    if m == 1:  # the common scalar case: one vjp with ones, no stacking
        ones = torch.ones((), dtype=value.dtype, device=value.device).expand_as(value)
        (row,) = torch.autograd.grad(
            value,
            y,
            ones,
            retain_graph=True,
            create_graph=create_graph,
            allow_unused=True,
        )
        row = torch.zeros_like(y) if row is None else row
        return row.reshape(*batch_shape, 1, 1)
    rows = []
    for j in range(m):
        basis = torch.zeros(m, dtype=value.dtype, device=value.device)
        basis[j] = 1
        v = basis.reshape(event_shape).expand(value.shape)
        (row,) = torch.autograd.grad(
            value, y, v, retain_graph=True, create_graph=create_graph, allow_unused=True
        )
        if row is None:  # F does not depend on y at all
            row = torch.zeros_like(y)
        rows.append(row.reshape(*batch_shape, m))
    return torch.stack(rows, dim=-2)


def jacobian_from_vjp(
    vjp: Callable[[torch.Tensor], tuple[torch.Tensor, ...]], value: torch.Tensor, event_ndim: int
) -> torch.Tensor:
    """Like ``jacobian``, from a ``torch.func.vjp`` function (works under torch.func)."""
    batch_shape, event_shape = split(value.shape, event_ndim)
    m = math.prod(event_shape)
    eye = torch.eye(m, dtype=value.dtype, device=value.device)
    rows = [
        vjp(eye[j].reshape(event_shape).expand(value.shape))[0].reshape(*batch_shape, m)
        for j in range(m)
    ]
    return torch.stack(rows, dim=-2)


def solve(J: torch.Tensor, r: torch.Tensor, event_shape: torch.Size) -> torch.Tensor:
    """Solve ``J z = r`` per problem, differentiably; singular ``J`` gives inf/NaN.

    Args:
        J: ``batch_shape + (m, m)``.
        r: ``batch_shape + event_shape``.
        event_shape: the event shape of ``r`` and of the result.

    Returns:
        ``z`` with the shape of ``r``.
    """
    batch_shape = J.shape[:-2]
    m = J.shape[-1]
    if m == 1:
        return r / J.reshape(r.shape)
    z, info = torch.linalg.solve_ex(J, r.reshape(*batch_shape, m, 1))
    z = torch.where((info != 0)[..., None, None], torch.full_like(z, math.nan), z)
    return z.reshape(*batch_shape, *event_shape)


def singular_values(J: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Smallest and largest singular value of each problem's Jacobian.

    Returns:
        ``(sigma_min, sigma_max)``, each ``batch_shape``; for ``m == 1`` both are ``|F_y|``.
    """
    if J.shape[-1] == 1:
        value = J[..., 0, 0].abs()
        return value, value
    J = J.detach()
    finite = torch.isfinite(J).flatten(-2).all(-1)
    if bool(finite.all()):
        s = torch.linalg.svdvals(J)
        return s[..., -1], s[..., 0]
    # LAPACK refuses non-finite input (a problem already NaN under on_failure="nan").
    s = torch.linalg.svdvals(torch.where(finite[..., None, None], J, 0.0))
    s = torch.where(finite[..., None], s, math.nan)
    return s[..., -1], s[..., 0]
