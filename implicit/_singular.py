"""When ``F_y`` counts as singular: the test, and the scale it is measured against.

``F_y`` is singular at a solution when its smallest singular value ``sigma_min``
(``|F_y|`` for scalar problems) is at most ``singular_tol * scale``, the scale
taken at the solution: the largest of ``sigma_max(F_y)``, the change of ``F_y``
per unit relative shift of ``y`` (so a double root, where ``F_y`` vanishes
next to ``y``, is singular) and ``|F_x . 1|`` (how fast ``F`` moves with ``x``),
the latter counted only where ``F_y`` could vanish near ``y``: at a vertical
tangent only ``F_x`` stays away from 0, while a steep straight curve such as
``y = 1000 x`` must stay regular.  There ``y(x)`` is not differentiable: the
policy raises, or warns and returns NaN.

Shapes: ``y`` is ``batch_shape + event_shape``; ``J`` is ``batch_shape + (m, m)``;
``sigma_min``, ``scale`` and every mask are ``batch_shape``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch

from ._common import Spec, all_, any_, is_batched, max_abs, per_problem
from ._errors import SingularJacobianError, fail
from ._linear import jacobian, singular_values, split


def check_singular(spec: Spec, J: torch.Tensor, scale: torch.Tensor) -> torch.Tensor | None:
    """Raise, or warn and return the mask of problems whose ``F_y`` is singular
    (None when there are none).

    Under ``vmap`` of a derivative (``J`` batched: ``vmap(grad(...))``,
    ``hessian`` inside ``vmap``) a value cannot raise: the mask is returned and
    those problems get NaN.  The forward already applied the policy at this
    ``y``; this is the check that ``F`` did not change meaning since.
    """
    if is_batched(J) or is_batched(scale):
        if J.shape[-1] == 1:
            sigma_min = J[..., 0, 0].abs()
        else:
            finite = torch.isfinite(J).flatten(-2).all(-1)[..., None, None]
            sigma_min = torch.linalg.svdvals(torch.where(finite, J, 0.0))[..., -1]
        return ~(sigma_min > spec.singular_tol * scale)
    sigma_min, _ = singular_values(J)
    # NaN compares False: a non-finite sigma_min counts as singular too.
    regular = sigma_min > spec.singular_tol * scale
    if all_(regular):
        return None
    singular = ~regular | ~torch.isfinite(sigma_min)
    fail(
        SingularJacobianError,
        singular & torch.isfinite(sigma_min),  # NaN: the forward already said so
        sigma_min,
        spec.what,
        "The implicit function is not differentiable there (a vertical tangent or a "
        "double root); move x away from it or reformulate F.",
        spec.on_failure,
    )
    return singular


def singular_at_solution(
    F: Callable[[tuple[torch.Tensor, ...], torch.Tensor], torch.Tensor],
    G: Callable[[torch.Tensor], torch.Tensor],
    xs: tuple[torch.Tensor, ...],
    y: torch.Tensor,
    stats: dict[str, Any],
    event_ndim: int,
    singular_tol: float,
    change_of: Callable[..., torch.Tensor] | None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Which converged problems have a singular ``F_y`` at the solver's ``y``, and
    the scale the backward measures ``F_y`` against.

    The decision uses quantities at the solution only: ``sigma_min`` is compared
    with the largest of ``sigma_max(F_y)``, the change of ``F_y`` per unit
    relative shift of ``y`` (``F_yy max(1, |y|)`` for a scalar problem: then
    ``F_y`` would vanish within ``singular_tol * max(1, |y|)`` of ``y``), and
    ``|F_x . 1|`` where ``F_y`` can vanish near ``y`` (a vertical tangent).  The
    path's largest ``sigma_max`` only decides which problems are worth that
    extra evaluation: a regular root reached from a far start (``exp(y) - x``
    from ``y0 = 20``, where ``F_y`` was ``e^20``) stays regular.

    Args:
        F: ``F(xs, y)`` with ``x`` as a tuple; ``G``: ``y -> F(x, y)``.
        xs: the detached ``x``'s.
        y: the solver's result, ``batch_shape + event_shape``.
        stats: the solver's statistics (``converged``, ``value``, ``J``,
            ``sigma_min`` and ``scale``, the largest ``sigma_max`` on its path).
        event_ndim: trailing dimensions of one problem.
        singular_tol: the relative threshold.
        change_of: the compiled ``|F_x . 1|`` of a scalar problem, or None.

    Returns:
        ``(singular, scale)``, each ``batch_shape``; unconverged problems are never
        ``singular`` (they fail as not converged).
    """
    converged = stats["converged"]
    F_x = sensitivity_to_x(F, xs, y, stats["value"], event_ndim, change_of=change_of)
    if not all_(converged):
        F_x = torch.where(converged, F_x, 0.0)
    sigma_min = stats["sigma_min"]
    sigma_max = singular_values(stats["J"])[1]
    scale = torch.maximum(sigma_max, F_x)
    # Small against the path or F_x: in doubt (rare; one more F_y evaluation).
    doubt = converged & (sigma_min <= singular_tol * torch.maximum(stats["scale"], F_x))
    if not any_(doubt):
        return doubt, scale
    reach = singular_tol**0.5
    change = change_of_F_y(G, y, stats["J"], event_ndim, reach)
    vanish = ~(change < sigma_min)  # F_y could reach 0 within reach * max(1, |y|)
    local = torch.maximum(sigma_max, change / reach)
    local = torch.maximum(local, torch.where(vanish, F_x, 0.0))
    scale = torch.where(doubt, local, scale)
    return doubt & (sigma_min <= singular_tol * local), scale


def multiple_root(
    stats: dict[str, Any], y: torch.Tensor, event_ndim: int, singular_tol: float
) -> torch.Tensor:
    """Which unconverged problems stalled at a multiple root, shape ``batch_shape``.

    Where ``F_y`` vanishes at the root itself (a double root at a vertical tangent, a
    triple one at a singular point such as the folium's node), Newton converges only
    linearly, and ``max_iter`` runs out with ``F`` already at rounding level: the
    cause is the singular ``F_y``, not the iteration.  Such a problem has
    ``|F| <= sqrt(eps) * scale * max(1, |y|)`` and ``sigma_min(F_y) <=
    sqrt(singular_tol) * scale``, with ``scale`` the largest ``sigma_max(F_y)`` on the
    path; a slow regular root keeps ``F_y`` of the path's size and is not one."""
    eps = torch.finfo(y.dtype).eps
    scale = stats["scale"].to(y.dtype)
    size = torch.clamp(max_abs(y, event_ndim), min=1.0)
    at_root = stats["residual"].to(y.dtype) <= eps**0.5 * scale * size
    flat = stats["sigma_min"].to(y.dtype) <= singular_tol**0.5 * scale
    finite = torch.isfinite(scale) & ~stats["nonfinite"]
    return ~stats["converged"] & finite & at_root & flat


def sensitivity_to_x(
    F: Callable[[tuple[torch.Tensor, ...], torch.Tensor], torch.Tensor],
    xs: tuple[torch.Tensor, ...],
    y: torch.Tensor,
    value: torch.Tensor | None,
    event_ndim: int,
    change_of: Callable[..., torch.Tensor] | None = None,
) -> torch.Tensor:
    """``|F_x . 1|`` per problem (max over its components): how fast ``F`` at ``y``
    moves when every element of ``x`` moves together, by a forward difference.

    This is the scale against which ``|F_y|`` is small at a vertical tangent.  The
    path alone gives none: started near a double root, ``|F_y|`` is as small at
    ``y0`` as at the solution.  ``value`` is ``F(x, y)`` (None: zero, Newton's
    linear model after its last step).  A step outside ``F``'s domain
    (non-finite) gives 0, i.e. no evidence either way.  ``change_of(xs, y, value,
    h, eager)``, if given, computes it (compiled) for scalar problems.
    """
    batch_shape, _ = split(y.shape, event_ndim)
    floats = [x for x in xs if x.is_floating_point() and x.numel()]
    size = max((abs(float(v)) for x in floats for v in torch.aminmax(x)), default=math.nan)
    h = math.sqrt(torch.finfo(y.dtype).eps) * max(1.0, size)
    if not math.isfinite(h):
        return torch.zeros(batch_shape, dtype=y.dtype, device=y.device)
    if change_of is not None:
        return change_of(xs, y, value, h, lambda: sensitivity_to_x(F, xs, y, value, event_ndim))
    moved = tuple(x + h if x.is_floating_point() else x for x in xs)
    with torch.no_grad():
        change = F(moved, y)
        if value is not None:
            change = change - value
        change = max_abs(change, event_ndim).div_(h)
    return change.nan_to_num_(nan=0.0, posinf=0.0)


def change_of_F_y(
    G: Callable[[torch.Tensor], torch.Tensor],
    y: torch.Tensor,
    J: torch.Tensor,
    event_ndim: int,
    reach: float,
) -> torch.Tensor:
    """``||F_y(y + delta) - F_y(y)||`` per problem, ``delta = reach * max(1, |y|)``
    on every component: how much ``F_y`` moves within that distance.

    By the linear extrapolation, ``F_y`` could vanish that close when the change
    is at least ``sigma_min``: what tells a vertical tangent or a double root
    (``F_y`` has a zero next to ``y``) from a steep but regular curve such as
    ``y = 1000 x``, where ``|F_y|`` is small against ``|F_x|`` but constant.  One
    more evaluation of ``F`` and ``F_y`` for the batch; non-finite there gives
    inf (counts as "can vanish").
    """
    batch_shape, _ = split(y.shape, event_ndim)
    delta = max_abs(y, event_ndim).clamp_(min=1).mul_(reach)
    with torch.enable_grad():
        y_in = (y + per_problem(delta, event_ndim)).requires_grad_()
        J_moved = jacobian(G(y_in), y_in, event_ndim)
    change = torch.linalg.vector_norm((J_moved - J).reshape(*batch_shape, -1), dim=-1)
    return change.nan_to_num_(nan=math.inf)
