"""``fixed_point``'s solver: the forward iteration with its failure policy, the
dense path through ``ImplicitFunction``, and their ``torch.func.vmap`` forms.

``Forward`` iterates ``x <- f(a)(x)`` without a graph and applies the policy;
``DenseSolver`` adds the dense singularity test of ``I - f_x`` at ``x*`` (the
smallest singular value of each problem's ``m x m`` matrix).  Under
``torch.func.vmap`` the Function's vmap rule folds the mapped dimension into
the batch: ``batched`` returns the same solver for ``f`` and ``distance``
mapped over a new leading batch dimension, so each mapped problem has its own
stopping (``method="iterate"``; Anderson and the secant stop the stack as one),
distance, singularity test and failure, exactly as in a batch the caller stacked.

Shapes: ``x0`` is ``batch_shape + event_shape``; ``distance`` returns a scalar
or a ``batch_shape`` tensor; ``RootInfo``'s fields are ``batch_shape``.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from collections.abc import Callable
from typing import Any

import torch

from ._common import RootInfo, Spec
from ._errors import ImplicitError, NonConvergenceError, SingularJacobianError, fail
from ._function import ImplicitFunction
from ._iteration import PATIENCE, Distance, anderson, iterate
from ._linear import jacobian, singular_values

Map = Callable[[Any], Callable[[torch.Tensor], torch.Tensor]]
Sigma = Callable[[torch.Tensor], tuple[torch.Tensor, torch.Tensor]]

METHODS = {"iterate": iterate, "anderson": anderson}


@dataclasses.dataclass(frozen=True)
class Forward:
    """``(x0, a_parts, sigma) -> (x*, RootInfo)``: iterate, test (``sigma(x*)``
    gives the dense ``(sigma_min, singular)``; without it ``sigma_min`` is NaN),
    apply the failure policy (failed problems are NaN under ``on_failure="nan"``)."""

    f: Map
    tuple_a: bool
    method: str
    distance: Distance
    tol: float
    max_iter: int
    event_ndim: int
    on_failure: str

    def batched(self, a_dims: Any) -> Forward:
        """The same forward for a new leading batch dimension of ``x`` (and of the
        ``a``'s whose dim in ``a_dims``, one per part, is 0; None: not mapped)."""
        return dataclasses.replace(
            self,
            f=functools.partial(_mapped_f, self.f, a_dims),
            distance=functools.partial(_mapped_distance, self.distance, self.event_ndim),
        )

    def __call__(
        self, x0: torch.Tensor, a_parts: tuple[torch.Tensor, ...], sigma: Sigma | None = None
    ) -> tuple[torch.Tensor, RootInfo]:
        tol, event_ndim = self.tol, self.event_ndim
        with torch.no_grad():
            x, iterations, gap = METHODS[self.method](
                self.f(a_parts if self.tuple_a else a_parts[0]),
                x0,
                self.distance,
                tol,
                self.max_iter,
                event_ndim,
            )
        converged = gap <= tol
        if sigma is None:
            sigma_min = torch.full(converged.shape, math.nan, dtype=x.dtype, device=x.device)
            singular = torch.zeros_like(converged)
        else:
            sigma_min, singular = sigma(x)
        info = RootInfo(
            converged=converged.to(x.device),
            iterations=iterations.to(x.device),
            residual=gap.to(dtype=x.dtype, device=x.device),
            sigma_min=sigma_min,
            singular=singular,
        )
        failed = info.singular | ~info.converged
        if bool(failed.any()):
            _apply_policy(info, iterations, tol, self.max_iter, self.on_failure)
            x = torch.where(failed.reshape(tuple(failed.shape) + (1,) * event_ndim), math.nan, x)
        return x, info


def _mapped_f(f: Map, a_dims: Any, a: Any) -> Callable[[torch.Tensor], torch.Tensor]:
    """``f`` mapped over dimension 0 of ``x`` and of the mapped ``a``'s."""

    def step(x: torch.Tensor) -> torch.Tensor:
        return torch.func.vmap(lambda a_, x_: f(a_)(x_), in_dims=(a_dims, 0))(a, x)

    return step


def _mapped_distance(
    distance: Distance, event_ndim: int, x: torch.Tensor, x_prev: torch.Tensor
) -> torch.Tensor:
    """``distance`` per mapped problem, as a ``batch_shape`` tensor: the caller's
    scalar for one mapped problem stops that problem's own batch as one."""
    try:
        d = torch.func.vmap(distance)(x, x_prev)
    except (RuntimeError, ValueError) as error:
        raise ImplicitError(
            "distance(x, x_prev) cannot run under torch.func.vmap: compute it with torch "
            "ops and return a tensor (no float(), .item() or numpy), or leave distance to "
            f"the default. torch said: {error}"
        ) from error
    batch_shape = x.shape[: x.dim() - event_ndim]
    if d.dim() < len(batch_shape):
        d = d.reshape(tuple(d.shape) + (1,) * (len(batch_shape) - d.dim())).expand(batch_shape)
    return d


def residual(f: Map, a: Any, x: torch.Tensor) -> torch.Tensor:
    """``F(a, x) = f(a)(x) - x``: fixed points are its roots."""
    return f(a)(x) - x


@dataclasses.dataclass(frozen=True)
class DenseSolver:
    """``ImplicitFunction``'s solver for fixed points: ``(x0, a_parts) ->
    (x*, RootInfo, scale)``; ``batched(F, a_dims)`` is its vmap form (``F``, the
    vmapped residual, is rebuilt from ``forward.f``: the two agree)."""

    forward: Forward
    singular_tol: float

    def batched(self, F: Any, a_dims: Any) -> DenseSolver:
        return dataclasses.replace(self, forward=self.forward.batched(a_dims))

    def __call__(
        self, x0: torch.Tensor, a_parts: tuple[torch.Tensor, ...]
    ) -> tuple[torch.Tensor, RootInfo, torch.Tensor]:
        forward = self.forward
        a_in = a_parts if forward.tuple_a else a_parts[0]

        def sigma(x_star: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            with torch.enable_grad():
                x_in = x_star.detach().requires_grad_()
                J = jacobian(residual(forward.f, a_in, x_in), x_in, forward.event_ndim)
            sigma_min, _ = singular_values(J)
            return sigma_min, sigma_min <= self.singular_tol

        x_star, info = forward(x0, a_parts, sigma)
        return x_star, info, torch.ones_like(info.sigma_min)


def dense(
    forward: Forward, singular_tol: float, x0: torch.Tensor, a_parts: tuple[torch.Tensor, ...]
) -> tuple[torch.Tensor, ...]:
    """The dense path: ``F_y = f_x - I`` per problem, through ``ImplicitFunction``."""
    F = functools.partial(residual, forward.f)
    what = "sigma_min(I - f_x)"
    spec = Spec(F, forward.tuple_a, forward.event_ndim, singular_tol, forward.on_failure, what)
    return ImplicitFunction.apply(spec, DenseSolver(forward, singular_tol), x0, *a_parts)


def _apply_policy(
    info: RootInfo, iterations: torch.Tensor, tol: float, max_iter: int, on_failure: str
) -> None:
    fail(
        SingularJacobianError,
        info.singular & info.converged,
        info.sigma_min,
        "sigma_min(I - f_x)",
        "f_x has an eigenvalue 1 at the fixed point: x*(a) is not differentiable there "
        "(or not unique).",
        on_failure,
    )
    stopped = int(iterations.max()) if iterations.numel() else 0
    why = (
        "the cap max_iter"
        if stopped >= max_iter
        else f"stopped early: a non-finite distance or {PATIENCE} iterations without progress"
    )
    fail(
        NonConvergenceError,
        ~info.converged,
        info.residual,
        f"distance(x, x_prev) after {stopped} iterations ({why}), tol={tol:g}",
        "The map may not contract near x0 (|f_x| >= 1): try method='anderson', a start "
        "closer to the fixed point, a larger max_iter or a looser tol.",
        on_failure,
    )
