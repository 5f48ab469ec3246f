"""The forward iterations of ``fixed_point``: plain (as HIPS), Anderson, secant.

Shapes: ``x0`` is ``batch_shape + event_shape``.  ``distance(x, x_prev)``
returns either a scalar (the batch stops as one, as HIPS stops its one
problem) or a ``batch_shape`` tensor (each problem stops on its own: the plain
iteration then freezes a problem once its distance is at most ``tol``).
Every method returns ``(x, iterations, gap)`` with ``iterations`` and ``gap``
of ``batch_shape`` (a scalar distance is broadcast), ``gap`` the last distance.

A problem whose distance is not finite, or has not fallen below 99.9% of its
best over the last ``PATIENCE`` iterations (it diverges, cycles or stalls), is
stopped there unconverged: a failing batch fails fast instead of running to
``max_iter``.  Nothing here raises: ``fixed_point`` reads the gaps.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch

Step = Callable[[torch.Tensor], torch.Tensor]
Distance = Callable[[torch.Tensor, torch.Tensor], Any]

#: Iterations without progress (the best distance not improved by 0.1%) after
#: which a problem is stopped as diverging or stalled.  A contraction that
#: improves more slowly (rate above 0.99998) needs far more than ``max_iter``
#: iterations anyway.
PATIENCE = 50


def _gap(distance: Distance, x: torch.Tensor, x_prev: torch.Tensor) -> torch.Tensor:
    d = distance(x, x_prev)
    if isinstance(d, torch.Tensor):
        return d.detach()
    return torch.tensor(float(d), dtype=torch.float64, device=x.device)


class _Progress:
    """Per-problem stopping: converged, or no progress for ``PATIENCE`` iterations."""

    def __init__(self, batch_shape: torch.Size, tol: float, device: torch.device) -> None:
        self.tol = tol
        self.best = torch.full(batch_shape, math.inf, dtype=torch.float64, device=device)
        self.since = torch.zeros(batch_shape, dtype=torch.long, device=device)
        self.done = torch.zeros(batch_shape, dtype=torch.bool, device=device)

    def update(self, gap: torch.Tensor, n: int) -> torch.Tensor:
        """Record the gaps of iteration ``n``; return the problems that stop now."""
        gap = gap.to(self.best.dtype).expand_as(self.best)
        improved = gap < 0.999 * self.best
        self.best = torch.where(improved, gap, self.best)
        self.since = torch.where(improved, 0, self.since + 1)
        stop = ~self.done & ((gap <= self.tol) | ~torch.isfinite(gap) | (self.since >= PATIENCE))
        self.done = self.done | stop
        return stop


class _WholeBatch:
    """The step of ``anderson`` and ``secant``: the batch stops as one, when every
    problem's distance is at most ``tol`` or the largest stops making progress."""

    def __init__(
        self,
        step: Step,
        distance: Distance,
        tol: float,
        batch_shape: torch.Size,
        device: torch.device,
    ) -> None:
        self.step, self.distance, self.tol = step, distance, tol
        self.batch_shape, self.device = batch_shape, device
        self.progress = _Progress(torch.Size(()), tol, device)
        self.gap = torch.tensor(math.inf, dtype=torch.float64, device=device)

    def advance(self, x: torch.Tensor, n: int) -> tuple[torch.Tensor, bool, bool]:
        """``(f(x), converged, stalled)`` at iteration ``n``."""
        fx = self.step(x)
        self.gap = _gap(self.distance, fx, x)
        if bool((self.gap <= self.tol).all()):
            return fx, True, False
        return fx, False, bool(self.progress.update(self.gap.max(), n))

    def result(self, x: torch.Tensor, n: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``(x, iterations, distance)``, per problem."""
        iterations = torch.full(self.batch_shape, n, device=self.device)
        return x, iterations, self.gap.expand(self.batch_shape)


def iterate(
    step: Step, x0: torch.Tensor, distance: Distance, tol: float, max_iter: int, event_ndim: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Plain iteration ``x <- f(x)``; per problem when ``distance`` is per problem."""
    batch_shape = x0.shape[: x0.dim() - event_ndim]
    x = x0
    progress = _Progress(batch_shape, tol, x0.device)
    iterations = torch.zeros(batch_shape, dtype=torch.long, device=x0.device)
    gap = torch.full(batch_shape, math.inf, dtype=torch.float64, device=x0.device)
    for n in range(1, max_iter + 1):
        x_new = step(x)
        new_gap = _gap(distance, x_new, x)
        if new_gap.dim() == 0:  # one distance for the batch: it stops as one
            gap = new_gap.expand(batch_shape)
            iterations.fill_(n)
            x = x_new
            stop = progress.update(new_gap, n)
            if bool(stop.any()):
                break
            continue
        running = ~progress.done
        keep = running.reshape(tuple(batch_shape) + (1,) * event_ndim)
        x = torch.where(keep, x_new, x)
        gap = torch.where(running, new_gap.to(gap.dtype), gap)
        iterations = iterations + running.long()
        progress.update(torch.where(running, new_gap.to(gap.dtype), 0.0), n)
        if bool(progress.done.all()):
            break
    return x, iterations, gap


def anderson(
    step: Step,
    x0: torch.Tensor,
    distance: Distance,
    tol: float,
    max_iter: int,
    event_ndim: int,
    memory: int = 5,
    ridge: float = 1e-10,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Type-II Anderson acceleration on ``g(x) = f(x) - x``, per problem.

    Each of the ``B`` problems (``x0`` is ``batch_shape + event_shape``) mixes its
    own last ``memory`` residuals: a ``(B, h, h)`` batched least-squares solve.
    The batch stops when every problem's distance is at most ``tol`` (or the
    batch stops making progress).
    """
    batch_shape = x0.shape[: x0.dim() - event_ndim]
    B = math.prod(batch_shape)
    if x0.numel() == B and B > 1:  # scalar problems: elementwise, no linear algebra
        return secant(step, x0, distance, tol, max_iter, event_ndim)
    xs: list[torch.Tensor] = []  # each (B, m)
    gs: list[torch.Tensor] = []
    x = x0
    loop = _WholeBatch(step, distance, tol, batch_shape, x0.device)
    n = 0
    for n in range(1, max_iter + 1):
        fx, converged, stalled = loop.advance(x, n)
        if converged:
            return loop.result(fx, n)
        if stalled:
            break
        xs.append(x.reshape(B, -1))
        gs.append((fx - x).reshape(B, -1))
        xs, gs = xs[-(memory + 1) :], gs[-(memory + 1) :]
        if len(gs) == 1:
            x = fx
            continue
        X, G = torch.stack(xs, dim=-1), torch.stack(gs, dim=-1)  # (B, m, h)
        dX, dG = X.diff(dim=-1), G.diff(dim=-1)
        A = dG.mT @ dG  # (B, h-1, h-1)
        damping = ridge * (A.diagonal(dim1=-2, dim2=-1).abs().amax(-1) + 1)
        eye = torch.eye(A.shape[-1], dtype=A.dtype, device=A.device)
        A = A + damping[:, None, None] * eye
        gamma = torch.linalg.solve(A, dG.mT @ G[..., -1:])  # (B, h-1, 1)
        x_new = X[..., -1] + G[..., -1] - ((dX + dG) @ gamma)[..., 0]
        if not bool(torch.isfinite(x_new).all()):
            x, xs, gs = fx, [], []  # a bad extrapolation: restart from the plain step
            continue
        x = x_new.reshape(x0.shape)
    return loop.result(x, n)


def secant(
    step: Step, x0: torch.Tensor, distance: Distance, tol: float, max_iter: int, event_ndim: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Anderson with memory 1 on scalar problems, elementwise: the secant method
    on ``g(x) = f(x) - x``; where the secant is flat it takes the plain step."""
    batch_shape = x0.shape[: x0.dim() - event_ndim]
    x, x_prev = x0, x0
    g_prev: torch.Tensor | None = None
    loop = _WholeBatch(step, distance, tol, batch_shape, x0.device)
    n = 0
    for n in range(1, max_iter + 1):
        fx, converged, stalled = loop.advance(x, n)
        if converged:
            return loop.result(fx, n)
        if stalled:
            break
        g = fx - x
        if g_prev is None:
            x_next = fx
        else:
            # x - g (x - x_prev) / (g - g_prev), in place on temporaries (g_prev is
            # not needed again); a flat secant gives inf or NaN: those take the plain step.
            x_next = (x - x_prev).mul_(g).div_(g_prev.sub_(g)).add_(x)
            if not math.isfinite(float(x_next.sum())):  # one reduction, not a mask
                x_next = torch.where(torch.isfinite(x_next), x_next, fx)
        x_prev, g_prev, x = x, g, x_next
    return loop.result(x, n)
