"""What every part of ``implicit`` shares: the types, the diagnostics record,
the backward's specification, and small batch reductions.

Shapes: ``y`` is ``batch_shape + event_shape`` (``event_ndim`` trailing
dimensions make up one problem of ``m = prod(event_shape)`` unknowns); masks
and per-problem numbers are ``batch_shape``.  Nothing here solves or
differentiates: it is the bottom layer, imported by the Function, the solvers,
the compiled glue, ``root_find`` and ``fixed_point`` alike.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import torch
from torch._C import _functorch

if TYPE_CHECKING:
    from ._compiled import Compiled

Tensors = torch.Tensor | tuple[torch.Tensor, ...]
Fn = Callable[[Any, torch.Tensor], torch.Tensor]


@dataclasses.dataclass
class RootInfo:
    """Per-problem diagnostics, each tensor of shape ``batch_shape``.

    Attributes:
        converged: the solver met its tolerance.
        iterations: iterations used.
        residual: ``max |F(x, y)|`` over the problem's components, at the last
            iterate where ``F`` was evaluated (Newton's last step, below ``tol``,
            is taken without evaluating ``F`` again).
        sigma_min: ``|F_y|`` (scalar problems) or the smallest singular value of
            ``F_y`` (``I - f_x`` for fixed points) at the returned ``y``.
        singular: ``sigma_min`` is below ``singular_tol`` times a scale, the largest
            of ``|F_y|`` at the start and at the solution and of ``|F_x . 1|`` (how
            fast ``F`` moves with ``x``; counted only where ``F_y`` could vanish
            near the solution): ``y(x)`` is not differentiable there.
    """

    converged: torch.Tensor
    iterations: torch.Tensor
    residual: torch.Tensor
    sigma_min: torch.Tensor
    singular: torch.Tensor


@dataclasses.dataclass(frozen=True)
class Spec:
    """What the backward needs besides tensors (not differentiated)."""

    F: Fn
    tuple_x: bool
    event_ndim: int
    singular_tol: float
    on_failure: str
    what: str  # "|F_y|" or "sigma_min(I - f_x)", for messages
    compiled: Compiled | None = None  # scalar problems under root_find(compile=True)


def any_(mask: torch.Tensor) -> bool:
    """``mask.any()``: torch's boolean reductions are not vectorised on CPU, a
    ``uint8`` max is (30 times faster on a million problems)."""
    return mask.numel() > 0 and bool(mask.view(torch.uint8).max())


def all_(mask: torch.Tensor) -> bool:
    """``mask.all()``, like ``any_``."""
    return mask.numel() == 0 or bool(mask.view(torch.uint8).min())


def is_batched(value: torch.Tensor) -> bool:
    """Whether ``value`` is batched by a ``torch.func.vmap`` at some level: its
    values then cannot steer Python (no ``bool()``, no ``.item()``)."""
    while _functorch.is_functorch_wrapped_tensor(value):
        if _functorch.is_batchedtensor(value):
            return True
        value = _functorch.get_unwrapped(value)
    return False


def per_problem(mask: torch.Tensor, event_ndim: int) -> torch.Tensor:
    """Broadcast a ``batch_shape`` tensor over the event dimensions."""
    return mask.reshape(tuple(mask.shape) + (1,) * event_ndim)


def as_tuple(x: Tensors) -> tuple[tuple[torch.Tensor, ...], bool]:
    """``(x,), False`` for a tensor, ``tuple(x), True`` for a tuple or list of them."""
    if isinstance(x, torch.Tensor):
        return (x,), False
    if isinstance(x, (tuple, list)) and all(isinstance(t, torch.Tensor) for t in x):
        return tuple(x), True
    raise TypeError(
        f"x must be a tensor or a tuple of tensors holding every tensor to differentiate "
        f"with respect to; got {type(x).__name__}."
    )


def max_abs(value: torch.Tensor, event_ndim: int) -> torch.Tensor:
    """``max |value|`` over each problem's components, shape ``batch_shape`` (the
    residual of ``F``, or the size of a step or of ``y``)."""
    if event_ndim == 0:
        return value.abs()
    return value.abs().flatten(-event_ndim).amax(-1)
