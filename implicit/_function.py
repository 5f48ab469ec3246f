"""The autograd Function shared by ``root_find`` and ``fixed_point``: it solves in
``forward`` and differentiates the implicit function ``y(x)`` defined by
``F(x, y) = 0``.

Backward: with ``u`` solving ``F_y^T u = g`` per problem, ``dL/dx = -u^T F_x``,
one vector-Jacobian product in ``x``.  It is built from differentiable ops
evaluated at the *returned* ``y``, so double backward is exact; ``jvp`` gives
forward mode, ``dy = -F_y^{-1} F_x dx``.  The gradient with respect to ``y0``
is zero.  A singular ``F_y`` at ``y`` raises or gives NaN, by the policy.

Shapes: ``y`` is ``batch_shape + event_shape``; ``F_y`` is solved per problem
(``batch_shape + (m, m)``), never across the batch.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from typing import Any

import torch

from ._common import Spec, per_problem
from ._compiled import compiled_backward
from ._linear import jacobian, jacobian_from_vjp, solve, split
from ._singular import check_singular


def _call(spec: Spec, xs: tuple[torch.Tensor, ...], y: torch.Tensor) -> torch.Tensor:
    return spec.F(xs if spec.tuple_x else xs[0], y)


class ImplicitFunction(torch.autograd.Function):
    """Solves in ``forward`` (so torch.func transforms see plain tensors); its
    derivatives are those of the implicit function ``y(x)``.

    Outputs: ``y`` and the non-differentiable diagnostics (converged,
    iterations, residual, sigma_min, singular, scale), each ``batch_shape``.
    """

    @staticmethod
    def forward(
        spec: Spec, solver: Callable[..., Any], y0: torch.Tensor, *xs: torch.Tensor
    ) -> tuple[torch.Tensor, ...]:
        y, info, scale = solver(y0, tuple(x.detach() for x in xs))
        return (
            y,
            info.converged,
            info.iterations,
            info.residual,
            info.sigma_min,
            info.singular,
            scale,
        )

    @staticmethod
    def setup_context(ctx: Any, inputs: tuple[Any, ...], output: tuple[torch.Tensor, ...]) -> None:
        spec, _, y0, *xs = inputs
        y, *diagnostics = output
        ctx.mark_non_differentiable(*diagnostics)
        # Zero gradients for the diagnostics would be six batch-sized tensors.
        ctx.set_materialize_grads(False)
        ctx.spec = spec
        ctx.y0_like = (y0.shape, y0.dtype)
        ctx.save_for_backward(*xs, y, diagnostics[-1])
        ctx.save_for_forward(*xs, y, diagnostics[-1])

    @staticmethod
    def backward(ctx: Any, grad_y: torch.Tensor, *_: Any) -> tuple[torch.Tensor | None, ...]:
        spec: Spec = ctx.spec
        *xs, y, scale = ctx.saved_tensors
        needs = ctx.needs_input_grad[3:]
        if grad_y is None:  # only the (non-differentiable) diagnostics were used
            return (None, None, None, *(None for _ in xs))
        # Under create_graph, keep the graph to x and to y (whose own backward is
        # this one): that is what makes the second derivative exact.  Views of x
        # give the partial F_x: y reaches the original x, not these views.
        keep = torch.is_grad_enabled()
        if spec.compiled is not None and not keep:
            eager = functools.partial(
                ImplicitFunction._backward, spec, xs, needs, y, grad_y, scale, False
            )
            grad_xs = compiled_backward(spec, spec.compiled, xs, needs, y, grad_y, scale, eager)
        else:
            grad_xs = ImplicitFunction._backward(spec, xs, needs, y, grad_y, scale, keep)
        grad_y0 = None
        if ctx.needs_input_grad[2]:
            grad_y0 = torch.zeros(ctx.y0_like[0], dtype=ctx.y0_like[1], device=y.device)
        return (None, None, grad_y0, *grad_xs)

    @staticmethod
    def _backward(
        spec: Spec,
        xs: list[torch.Tensor],
        needs: tuple[bool, ...],
        y: torch.Tensor,
        grad_y: torch.Tensor,
        scale: torch.Tensor,
        keep: bool,
    ) -> list[torch.Tensor | None]:
        with torch.enable_grad():
            if keep:
                xs_in = [x.view_as(x) if n else x for x, n in zip(xs, needs)]
                y_in = y if y.requires_grad else y.detach().requires_grad_()
            else:
                xs_in = [x.detach().requires_grad_(n) for x, n in zip(xs, needs)]
                y_in = y.detach().requires_grad_()
            value = _call(spec, tuple(xs_in), y_in)
            # F_y at the returned y itself: the solve's last F_y is O(tol) away,
            # which F_yy / F_y can magnify far beyond round-off (float32).
            J = jacobian(value, y_in, spec.event_ndim, create_graph=keep)
            singular = check_singular(spec, J, scale)
            _, event_shape = split(y.shape, spec.event_ndim)
            u = solve(J.mT, grad_y, event_shape)
            if singular is not None:
                u = torch.where(per_problem(singular, spec.event_ndim), math.nan, u)
            wanted = [x for x, n in zip(xs_in, needs) if n]
            grads = iter(
                torch.autograd.grad(value, wanted, -u, create_graph=keep, allow_unused=True)
                if wanted
                else ()
            )
        grad_xs = [next(grads) if n else None for n in needs]
        # F does not depend on this x: the derivative is zero, and under
        # create_graph a zero that keeps x's graph, so that it can be differentiated.
        return [
            (x * 0 if keep else torch.zeros_like(x)) if n and g is None else g
            for x, n, g in zip(xs, needs, grad_xs)
        ]

    @staticmethod
    def jvp(ctx: Any, _spec: Any, _solver: Any, _y0_dot: Any, *xs_dot: Any) -> tuple[Any, ...]:
        y_dot = ImplicitFunction._y_dot(ctx, xs_dot)
        return (y_dot, None, None, None, None, None, None)

    @staticmethod
    def _y_dot(ctx: Any, xs_dot: tuple[Any, ...]) -> torch.Tensor:
        """``dy = -F_y^{-1} (F_x dx)``, with torch.func so that it also runs under
        ``torch.func.jvp`` (where ``requires_grad_`` is not allowed)."""
        spec: Spec = ctx.spec
        *xs, y, scale = ctx.saved_tensors
        tangents = tuple(torch.zeros_like(x) if t is None else t for x, t in zip(xs, xs_dot))

        # F_x dx as the vjp of a vjp (linear in w): torch.func.jvp would nest
        # forward AD levels, which torch does not support.
        def w_F_x(w: torch.Tensor) -> tuple[torch.Tensor, ...]:
            return torch.func.vjp(lambda *xs_: _call(spec, xs_, y), *xs)[1](w)

        (F_x_dx,) = torch.func.vjp(w_F_x, torch.zeros_like(y))[1](tangents)
        value, vjp = torch.func.vjp(lambda y_: _call(spec, tuple(xs), y_), y)[:2]
        J = jacobian_from_vjp(vjp, value, spec.event_ndim)
        singular = check_singular(spec, J, scale)
        _, event_shape = split(y.shape, spec.event_ndim)
        y_dot = -solve(J, F_x_dx, event_shape)
        if singular is None:
            return y_dot
        return torch.where(per_problem(singular, spec.event_ndim), math.nan, y_dot)
