"""The autograd Function shared by ``root_find`` and ``fixed_point``: it solves in
``forward`` and differentiates the implicit function ``y(x)`` defined by
``F(x, y) = 0``.

Backward: with ``u`` solving ``F_y^T u = g`` per problem, ``dL/dx = -u^T F_x``,
one vector-Jacobian product in ``x``.  It is built from differentiable ops
evaluated at the *returned* ``y``, so double backward is exact; ``jvp`` gives
forward mode, ``dy = -F_y^{-1} F_x dx``.  The gradient with respect to ``y0``
is zero.  A singular ``F_y`` at ``y`` raises or gives NaN, by the policy.

Every derivative is taken with ``torch.func.vjp`` (never ``requires_grad_`` and
``torch.autograd.grad``), so that the same code runs under plain autograd and
under every torch.func transform (``grad``, ``vjp``, ``jacrev``, ``jvp``,
``jacfwd``, ``hessian`` and their nestings), where the saved tensors are
functorch wrappers that plain autograd does not see.  ``vmap`` folds the mapped
dimension into the batch: the solver is already batched, so it runs once on
the whole stack with ``F`` vmapped over the new leading dimension (a solver
that supports this has a ``batched(F, x_dims)`` method returning the solver for
that ``F``; ``x_dims``, shaped like ``x``, says which ``x``'s are mapped: 0 or
None).  ``apply`` is the entry point: under a transform or forward AD it first
checks that no tensor reaches ``F`` through a closure at that level (inside
``forward`` such a tensor is invisible, and its derivative would be silently 0).

Shapes: ``y`` is ``batch_shape + event_shape``; ``F_y`` is solved per problem
(``batch_shape + (m, m)``), never across the batch.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from collections.abc import Callable
from typing import Any

import torch

from ._common import Spec, per_problem, plain, transform_active, transformed_by
from ._compiled import compiled_backward
from ._errors import ImplicitError
from ._linear import jacobian_from_vjp, solve, split
from ._singular import check_singular


def _call(spec: Spec, xs: tuple[torch.Tensor, ...], y: torch.Tensor) -> torch.Tensor:
    return spec.F(xs if spec.tuple_x else xs[0], y)


def apply(
    spec: Spec, solver: Callable[..., Any], y0: torch.Tensor, xs: tuple[torch.Tensor, ...]
) -> tuple[torch.Tensor, ...]:
    """``ImplicitFunction.apply(spec, solver, y0, *xs)``, after checking, under a
    torch.func transform or forward AD, that ``F`` reaches no tensor of that
    transform through a closure.

    Raises:
        ImplicitError: ``F(x, y0)`` depends on a tensor that is tracked for a
            gradient, carries a tangent or is batched by ``vmap`` but is not in ``x``.
    """
    if transform_active():
        _check_closures(spec, y0, xs)
    return ImplicitFunction.apply(spec, solver, y0, *xs)


def _check_closures(spec: Spec, y0: torch.Tensor, xs: tuple[torch.Tensor, ...]) -> None:
    """``F`` at plain copies of ``x`` and ``y0`` (every wrapper and tangent removed,
    one sample of a batched tensor): any gradient tracking, tangent or batching
    left in the output came through a closure."""
    value = _call(spec, tuple(plain(x) for x in xs), plain(y0))
    if not isinstance(value, torch.Tensor):
        return  # root_find's own check names a wrong output
    kind = transformed_by(value)
    if kind is not None:
        raise ImplicitError(
            f"F depends on a tensor that {kind} but is not in x: it reaches F through a "
            "closure, so its derivative (or its batch) would be silently lost. Pass it "
            "in x (a tuple of tensors) and read it there, or detach it."
        )


class ImplicitFunction(torch.autograd.Function):
    """Solves in ``forward`` (so torch.func transforms see plain tensors); its
    derivatives are those of the implicit function ``y(x)``.

    Inputs: ``spec``, ``solver(y0, xs) -> (y, RootInfo, scale)``, ``y0`` and the
    ``x``'s.  Outputs: ``y`` and the non-differentiable diagnostics (converged,
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
    def vmap(
        info: Any, in_dims: tuple[Any, ...], spec: Spec, solver: Any, y0: torch.Tensor, *xs: Any
    ) -> tuple[tuple[torch.Tensor, ...], tuple[int, ...]]:
        """Fold the mapped dimension into the batch: one solve of the whole stack,
        with ``F`` vmapped over the new leading batch dimension."""
        batched = getattr(solver, "batched", None)
        if batched is None:
            raise ImplicitError(
                "this solver has no vmap rule; call it on a batch (a leading batch "
                "dimension of y0 and x) instead of under torch.func.vmap."
            )
        y0_dim, x_dims = in_dims[2], in_dims[3:]
        y0 = y0.expand(info.batch_size, *y0.shape) if y0_dim is None else y0.movedim(y0_dim, 0)
        xs = tuple(x if d is None else x.movedim(d, 0) for x, d in zip(xs, x_dims))
        dims = tuple(None if d is None else 0 for d in x_dims)
        mapped = dims if spec.tuple_x else dims[0]
        F = functools.partial(_vmapped, spec.F, mapped)
        outputs = ImplicitFunction.apply(
            dataclasses.replace(spec, F=F, compiled=None), batched(F, mapped), y0, *xs
        )
        return outputs, (0,) * len(outputs)

    @staticmethod
    def backward(ctx: Any, grad_y: torch.Tensor, *_: Any) -> tuple[torch.Tensor | None, ...]:
        spec: Spec = ctx.spec
        *xs, y, scale = ctx.saved_tensors
        needs = ctx.needs_input_grad[3:]
        if grad_y is None:  # only the (non-differentiable) diagnostics were used
            return (None, None, None, *(None for _ in xs))
        # Under create_graph (and always under torch.func) keep the graph to x and
        # to y (whose own backward is this one): that makes the second derivative exact.
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
        """``-u^T F_x`` with ``F_y^T u = grad_y``, both at the returned ``y``."""
        if not keep:
            xs, y = [x.detach() for x in xs], y.detach()
        wanted = [i for i, n in enumerate(needs) if n]

        def G(y_: torch.Tensor, *wanted_: torch.Tensor) -> torch.Tensor:
            full = list(xs)
            for i, x in zip(wanted, wanted_):
                full[i] = x
            return _call(spec, tuple(full), y_)

        value, vjp = torch.func.vjp(G, y, *(xs[i] for i in wanted))[:2]
        # F_y at the returned y itself: the solve's last F_y is O(tol) away,
        # which F_yy / F_y can magnify far beyond round-off (float32).
        J = jacobian_from_vjp(vjp, value, spec.event_ndim)
        singular = check_singular(spec, J, scale)
        _, event_shape = split(y.shape, spec.event_ndim)
        u = solve(J.mT, grad_y, event_shape)
        if singular is not None:
            u = torch.where(per_problem(singular, spec.event_ndim), math.nan, u)
        grads = iter(vjp(-u)[1:])
        grad_xs: list[torch.Tensor | None] = []
        for x, n in zip(xs, needs):
            g = next(grads) if n else None
            # F does not depend on this x: under create_graph a zero that keeps x's
            # graph, so that it can be differentiated again.
            if keep and g is not None and x.requires_grad and not g.requires_grad:
                g = g + x * 0
            grad_xs.append(g)
        return grad_xs

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


def _vmapped(F: Any, x_dims: Any, x: Any, y: torch.Tensor) -> torch.Tensor:
    """``F`` mapped over dimension 0 of ``y`` and of the ``x``'s whose dim is 0."""
    return torch.func.vmap(F, in_dims=(x_dims, 0))(x, y)
