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
import torch.autograd.forward_ad as fwAD

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


# What torch.func and forward AD do to tensors, read through torch's functorch
# bindings (torch has no public API for it); every use is in this block.


def transform_active() -> bool:
    """Whether a torch.func transform or a forward-AD level is active here."""
    return torch._C._functorch.peek_interpreter_stack() is not None or fwAD._current_level >= 0


def functorch_active() -> bool:
    """Whether a torch.func transform (not plain forward AD) is running."""
    return torch._C._functorch.peek_interpreter_stack() is not None


def is_batched(value: torch.Tensor) -> bool:
    """Whether ``value`` is batched by a ``torch.func.vmap`` at some level: its
    values then cannot steer Python (no ``bool()``, no ``.item()``)."""
    functorch = torch._C._functorch
    while functorch.is_functorch_wrapped_tensor(value):
        if functorch.is_batchedtensor(value):
            return True
        value = functorch.get_unwrapped(value)
    return False


def plain(t: torch.Tensor) -> torch.Tensor:
    """``t`` without functorch wrappers (a batched tensor: its first sample) nor
    forward-mode tangent, detached."""
    functorch = torch._C._functorch
    while functorch.is_functorch_wrapped_tensor(t):
        if functorch.is_batchedtensor(t):
            value, dim = functorch._unwrap_batched(t, functorch.maybe_get_level(t))
            t = value if dim is None else value.select(dim, 0)
        else:
            t = functorch.get_unwrapped(t)
    return fwAD.unpack_dual(t).primal.detach()


def transformed_by(value: torch.Tensor) -> str | None:
    """What a transform does to ``value`` (None: nothing): it carries a tangent,
    is tracked for a gradient at some level, or is batched by vmap."""
    if fwAD.unpack_dual(value).tangent is not None:
        return "carries a forward-mode tangent (torch.func.jvp or forward_ad)"
    functorch = torch._C._functorch
    while True:
        if value.requires_grad:
            return "requires grad (torch.func.grad, vjp or jacrev, or autograd)"
        if functorch.is_batchedtensor(value):
            return "is batched by torch.func.vmap"
        if not functorch.is_functorch_wrapped_tensor(value):
            return None
        value = functorch.get_unwrapped(value)


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


def captured(value: torch.Tensor, inputs: tuple[torch.Tensor, ...]) -> torch.Tensor | None:
    """A leaf that requires grad, reached by ``value``'s graph, other than ``inputs``.

    Called with every ``x`` detached: a leaf found here reached ``F`` through a
    closure, and a custom Function would give it no gradient.
    """
    seen, stack = set(), [value.grad_fn]
    while stack:
        node = stack.pop()
        if node is None or node in seen:
            continue
        seen.add(node)
        variable = getattr(node, "variable", None)
        if variable is not None and not any(variable is t for t in inputs):
            return variable
        stack.extend(next_node for next_node, _ in node.next_functions)
    return None
