"""Typed failures: every solver failure is an ``ImplicitError`` that names the
batch indices, the numbers that show the failure, and what to try next."""

from __future__ import annotations

import warnings

import torch

#: ``on_failure`` policies: raise the error, or return NaN for the failing
#: problems with an ``ImplicitWarning``.
POLICIES = ("raise", "nan")


class ImplicitError(RuntimeError):
    """Base class of every error raised by ``implicit``."""


class NonConvergenceError(ImplicitError):
    """The solver hit its iteration cap before meeting its tolerance."""


class SingularJacobianError(ImplicitError):
    """``F_y`` (or ``I - f_x`` for a fixed point) is singular at the solution,
    so ``y(x)`` is not differentiable there (or not unique)."""


class ImplicitWarning(UserWarning):
    """Emitted with NaN results under ``on_failure="nan"``."""


def check_policy(on_failure: str) -> None:
    """Raise ``ValueError`` unless ``on_failure`` is a known policy."""
    if on_failure not in POLICIES:
        raise ValueError(f"on_failure={on_failure!r} must be one of {POLICIES}.")


def describe(indices: torch.Tensor, values: torch.Tensor, limit: int = 5) -> str:
    """Format failing problems, e.g. ``1.2e-03 at batch index (3,)``.

    Args:
        indices: ``(n, batch_ndim)`` integer tensor, as from ``nonzero()``.
        values: ``(n,)`` the number shown beside each index.
        limit: how many to list before "and N more".
    """
    parts = []
    for index, value in zip(indices[:limit].tolist(), values[:limit].tolist()):
        parts.append(f"{value:.3g} at batch index {tuple(index)}" if index else f"{value:.3g}")
    more = f" and {len(indices) - limit} more" if len(indices) > limit else ""
    return ", ".join(parts) + more


def fail(
    error: type[ImplicitError],
    mask: torch.Tensor,
    values: torch.Tensor,
    what: str,
    advice: str,
    on_failure: str,
) -> None:
    """Raise ``error``, or warn, for the problems where ``mask`` holds.

    Args:
        error: the error class to raise.
        mask: ``batch_shape`` booleans, True where a problem failed.
        values: ``batch_shape`` numbers to quote (residuals, ``|F_y|``).
        what: what the number is, e.g. ``"residual |F|"``.
        advice: what to try next.
        on_failure: "raise" or "nan" (the caller puts the NaNs in).
    """
    if not bool(mask.any()):
        return
    indices = mask.nonzero() if mask.dim() else mask.new_zeros(1, 0, dtype=torch.long)
    picked = values[mask] if mask.dim() else values.reshape(1)
    n, total = len(indices), max(mask.numel(), 1)
    message = f"{n} of {total} problem(s) failed: {what} = {describe(indices, picked)}. {advice}"
    if on_failure == "raise":
        raise error(message)
    warnings.warn(message + " Returning NaN for those problems.", ImplicitWarning, stacklevel=4)
