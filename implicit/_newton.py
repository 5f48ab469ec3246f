"""Batched Newton for ``F(x, y) = 0`` in ``y``, with a backtracking line search.

Shapes: ``y0`` is ``batch_shape + event_shape``; each of the problems in the
batch has its own ``m x m`` Jacobian ``F_y`` (``J``, ``batch_shape + (m, m)``),
solved per problem and never materialised across the batch.  Invariant: a
problem stops when its step is below ``tol * max(1, |y|)`` or, near its root,
when ``max |F|`` no longer falls (the rounding floor); the iteration cap holds
always.  A problem whose step is not finite stops and is classified: ``F``
NaN or inf at the iterate (``nonfinite``), ``F_y`` singular where ``F != 0``
(``stuck``: Newton cannot step, not a statement about a root), or ``F_y``
singular at an exact root (``broken``); ``failed_at`` is that iterate (0: ``y0``).
Nothing here raises: ``root_find`` reads the statistics and applies
the failure policy.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import torch

from ._common import all_, any_, max_abs, per_problem
from ._linear import jacobian, singular_values, solve, split

if TYPE_CHECKING:
    from ._compiled import Fused

#: Armijo's constant of the line search: a trial step of length t is taken when
#: ``|F|`` falls to ``(1 - SUFFICIENT_DECREASE * t)`` of its value or below (the
#: eager loop here and the compiled full-step trial in ``_compiled`` alike).
SUFFICIENT_DECREASE = 1e-4


def newton(
    G: Callable[[torch.Tensor], torch.Tensor],
    y0: torch.Tensor,
    start: tuple[torch.Tensor, torch.Tensor],
    event_ndim: int,
    tol: float,
    max_iter: int,
    max_backtracks: int = 30,
    fused: Fused | None = None,
) -> tuple[torch.Tensor, dict[str, Any]]:
    """Batched Newton with backtracking on ``max |F|``; see ``root_find``.

    On big batches of cheap ``F`` every elementwise pass costs about as much as
    evaluating ``F``, so the loop decides from reductions (one ``aminmax`` of the
    relative steps per iteration) and does per-problem bookkeeping only when
    some problem is near its root or has stopped.

    Once every step is below ``sqrt(tol)`` (the quadratic regime), ``F_y`` at the
    new iterate is taken only if needed: the step that confirms convergence is
    a chord step with the previous ``F_y`` (off by ``O(sqrt(tol))`` relatively,
    which changes a step below ``tol`` by far less than ``tol``).

    ``fused``, if given (scalar problems under ``compile=True``), computes ``F``
    and ``F_y`` at once, the step with its relative size, and the first trial
    of the line search, each in one compiled pass; the decisions are the same.
    """
    batch_shape, event_shape = split(y0.shape, event_ndim)

    def evaluate(y: torch.Tensor) -> tuple[torch.Tensor, Callable[[], torch.Tensor]]:
        """``F`` at ``y``, and ``F_y`` there on demand (the graph is kept until then)."""
        if fused is not None:
            value, J = fused.value_and_jacobian(y)
            return value, lambda: J
        with torch.enable_grad():
            y_in = y.requires_grad_()
            value = G(y_in)
        return value.detach(), lambda: jacobian(value, y_in, event_ndim)

    y = y0.detach()
    value: torch.Tensor | None
    value, J = start
    residual = max_abs(value, event_ndim)
    converged = torch.zeros(batch_shape, dtype=torch.bool, device=y.device)
    broken = torch.zeros_like(converged)  # F_y singular at an iterate where F = 0
    stuck = torch.zeros_like(converged)  # F_y singular at an iterate where F != 0
    nonfinite = torch.zeros_like(converged)  # F NaN or inf at an iterate
    # (int32: adding a mask to int64 takes four times as long)
    iterations = torch.zeros(batch_shape, dtype=torch.int32, device=y.device)
    failed_at = torch.zeros_like(iterations)  # where nonfinite or stuck happened (0: y0)
    sweeps = 0  # iterations in which every problem was active (added at the end)
    scale = singular_values(J)[1]
    sqrt_tol = math.sqrt(tol)
    all_active = True
    pending: Callable[[], torch.Tensor] | None = None  # F_y at y, not yet taken
    for _ in range(max_iter):
        if not all_active:
            active = ~(converged | broken)
            if not any_(active):
                break
        while True:
            if fused is not None:  # the same lo, hi and (where used) relative_step
                step, relative_step, lo, hi = fused.step(
                    value, J, y, None if all_active else active
                )
                if pending is None or hi <= tol:
                    break
                J, pending = pending(), None
                continue
            step = solve(J, value, event_shape)  # y - step is Newton's iterate
            if not all_active:
                step = torch.where(per_problem(active, event_ndim), step, 0.0)
            # The relative step |step| / max(1, |y|) lies in [|step| / max(1, max|y|),
            # |step|]: far from every root the bounds decide without dividing.
            relative_step = max_abs(step, event_ndim)
            lo, hi = (float(v) for v in torch.aminmax(relative_step))
            if hi > tol and lo <= sqrt_tol * max(1.0, *(abs(float(v)) for v in torch.aminmax(y))):
                relative_step.div_(max_abs(y, event_ndim).clamp_(min=1))
                lo, hi = (float(v) for v in torch.aminmax(relative_step))
            if pending is None or hi <= tol:
                break
            J, pending = pending(), None  # the chord step is not enough: Newton's
        if not math.isfinite(hi):  # NaN or inf: F non-finite, or F_y singular, at an iterate
            finite = torch.isfinite(relative_step)
            if all_active:
                active = torch.ones_like(converged)
            stopped = active & ~finite
            # F itself NaN/inf there; else F_y is singular: at a root (F = 0) that is
            # a singular solution, elsewhere Newton is stuck (no step from there).
            bad_F = ~torch.isfinite(max_abs(value, event_ndim))
            at_root = max_abs(value, event_ndim) == 0
            nonfinite |= stopped & bad_F
            stuck |= stopped & ~bad_F & ~at_root
            broken |= stopped & at_root
            failed_at = torch.where(stopped, iterations + sweeps, failed_at)
            active &= finite
            all_active = False
            step = torch.where(per_problem(finite, event_ndim), step, 0.0)
            relative_step = torch.where(finite, relative_step, 0.0)
            if not any_(active):
                break
            lo, hi = (float(v) for v in torch.aminmax(relative_step))
        if hi <= tol:
            # Every step is below tol: take it and stop, without another
            # evaluation (F_y there differs from the last one by O(tol)).  Newton's
            # linear model puts F at the new y at 0 (up to F_yy * tol^2).
            y = y - step
            if all_active:
                value = None
                converged.fill_(True)
                sweeps += 1
            else:
                value = torch.where(per_problem(active, event_ndim), 0.0, value)
                converged |= active
                iterations += active
            break
        # In Newton's quadratic regime take full steps: near the root the residual
        # sits at rounding level and a line search would only stall.
        all_near = hi <= sqrt_tol
        some_near = lo <= sqrt_tol
        near: torch.Tensor | bool = all_near or (relative_step <= sqrt_tol if some_near else False)
        t: torch.Tensor | float = 1.0  # a tensor once some problem backtracks
        for _ in range(max_backtracks):
            if fused is not None and isinstance(t, float):
                y_try, value_try, J_try, residual_try, all_ok = fused.trial(
                    y, step, residual, near if isinstance(near, torch.Tensor) else None
                )
                jacobian_try: Callable[[], torch.Tensor] = functools.partial(_identity, J_try)
                if all_near or all_ok:
                    break
            else:
                y_try = y - step if isinstance(t, float) else y - per_problem(t, event_ndim) * step
                value_try, jacobian_try = evaluate(y_try)
                residual_try = max_abs(value_try, event_ndim)
                if all_near:
                    break
            ok = residual_try <= (1 - SUFFICIENT_DECREASE * t) * residual
            if some_near:  # (stopped problems are near: their step is 0)
                ok |= near
            if all_(ok):
                break
            t = torch.where(ok, t, torch.as_tensor(t, dtype=y.dtype) / 2)
        if all_active:
            sweeps += 1
        else:
            iterations += active
        if some_near:
            # Problems stop when their step is below tol, or near the root when
            # the residual no longer falls (the rounding floor: no more to gain).
            finished = (residual_try >= residual) & near
            if lo <= tol:
                finished |= relative_step <= tol
            converged |= finished if all_active else active & finished
            all_active = all_active and not any_(finished)
        y, value, residual = y_try, value_try, residual_try
        if all_near:
            pending = jacobian_try  # keep the previous F_y for a chord step
        else:
            J = jacobian_try()
    iterations = iterations.long().add_(sweeps)
    sigma_min, sigma_max = singular_values(J)
    scale = torch.maximum(scale, sigma_max)
    return y.detach(), {  # (an accepted iterate was evaluate()'s leaf)
        "converged": converged,
        "broken": broken,
        "stuck": stuck,
        "nonfinite": nonfinite,
        "failed_at": failed_at,
        "iterations": iterations,
        "residual": residual,
        "value": value,
        "J": J,
        "sigma_min": sigma_min,
        "scale": scale,
    }


def _identity(value: torch.Tensor) -> torch.Tensor:
    return value
