"""``root_find``: solve ``F(x, y) = 0`` for ``y`` and differentiate by the
implicit function theorem.

Forward: batched Newton with a backtracking line search (or the notebook's
LBFGS on ``F**2``, for comparison), always with an iteration cap.

Backward: with ``u`` solving ``F_y^T u = g`` per problem, ``dL/dx = -u^T F_x``,
one vector-Jacobian product in ``x``.  It is built from differentiable ops
evaluated at the *returned* ``y``, so double backward is exact; ``jvp`` gives
forward mode, ``dy = -F_y^{-1} F_x dx``.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from collections.abc import Callable
from typing import Any

import torch

from ._compiled import SUFFICIENT_DECREASE, Compiled, compiled_for, newton_step
from ._errors import ImplicitError, NonConvergenceError, SingularJacobianError, check_policy, fail
from ._linear import jacobian, jacobian_from_vjp, singular_values, solve, split

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
class _Spec:
    """What the backward needs besides tensors (not differentiated)."""

    F: Fn
    tuple_x: bool
    event_ndim: int
    singular_tol: float
    on_failure: str
    what: str  # "|F_y|" or "sigma_min(I - f_x)", for messages
    compiled: Compiled | None = None  # scalar problems under root_find(compile=True)


def _call(spec: _Spec, xs: tuple[torch.Tensor, ...], y: torch.Tensor) -> torch.Tensor:
    return spec.F(xs if spec.tuple_x else xs[0], y)


class _ImplicitFunction(torch.autograd.Function):
    """Solves in ``forward`` (so torch.func transforms see plain tensors); its
    derivatives are those of the implicit function ``y(x)``.

    Outputs: ``y`` and the non-differentiable diagnostics (converged,
    iterations, residual, sigma_min, singular, scale), each ``batch_shape``.
    """

    @staticmethod
    def forward(
        spec: _Spec, solver: Callable[..., Any], y0: torch.Tensor, *xs: torch.Tensor
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
        spec: _Spec = ctx.spec
        *xs, y, scale = ctx.saved_tensors
        needs = ctx.needs_input_grad[3:]
        if grad_y is None:  # only the (non-differentiable) diagnostics were used
            return (None, None, None, *(None for _ in xs))
        # Under create_graph, keep the graph to x and to y (whose own backward is
        # this one): that is what makes the second derivative exact.  Views of x
        # give the partial F_x: y reaches the original x, not these views.
        keep = torch.is_grad_enabled()
        if spec.compiled is not None and not keep:
            grad_xs = _compiled_backward(spec, spec.compiled, xs, needs, y, grad_y, scale)
        else:
            grad_xs = _ImplicitFunction._backward(spec, xs, needs, y, grad_y, scale, keep)
        grad_y0 = None
        if ctx.needs_input_grad[2]:
            grad_y0 = torch.zeros(ctx.y0_like[0], dtype=ctx.y0_like[1], device=y.device)
        return (None, None, grad_y0, *grad_xs)

    @staticmethod
    def _backward(
        spec: _Spec,
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
            singular = _check_singular(spec, J, scale)
            _, event_shape = split(y.shape, spec.event_ndim)
            u = solve(J.mT, grad_y, event_shape)
            if singular is not None:
                u = torch.where(_per_problem(singular, spec.event_ndim), math.nan, u)
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
        y_dot = _ImplicitFunction._y_dot(ctx, xs_dot)
        return (y_dot, None, None, None, None, None, None)

    @staticmethod
    def _y_dot(ctx: Any, xs_dot: tuple[Any, ...]) -> torch.Tensor:
        """``dy = -F_y^{-1} (F_x dx)``, with torch.func so that it also runs under
        ``torch.func.jvp`` (where ``requires_grad_`` is not allowed)."""
        spec: _Spec = ctx.spec
        *xs, y, scale = ctx.saved_tensors
        tangents = tuple(torch.zeros_like(x) if t is None else t for x, t in zip(xs, xs_dot))

        # F_x dx as the vjp of a vjp (linear in w): torch.func.jvp would nest
        # forward AD levels, which torch does not support.
        def w_F_x(w: torch.Tensor) -> tuple[torch.Tensor, ...]:
            return torch.func.vjp(lambda *xs_: _call(spec, xs_, y), *xs)[1](w)

        (F_x_dx,) = torch.func.vjp(w_F_x, torch.zeros_like(y))[1](tangents)
        value, vjp = torch.func.vjp(lambda y_: _call(spec, tuple(xs), y_), y)[:2]
        J = jacobian_from_vjp(vjp, value, spec.event_ndim)
        singular = _check_singular(spec, J, scale)
        _, event_shape = split(y.shape, spec.event_ndim)
        y_dot = -solve(J, F_x_dx, event_shape)
        if singular is None:
            return y_dot
        return torch.where(_per_problem(singular, spec.event_ndim), math.nan, y_dot)


def _compiled_backward(
    spec: _Spec,
    compiled: Compiled,
    xs: list[torch.Tensor],
    needs: tuple[bool, ...],
    y: torch.Tensor,
    grad_y: torch.Tensor,
    scale: torch.Tensor,
) -> list[torch.Tensor | None]:
    """The first-order backward of a scalar problem by one compiled function (no
    double backward: under create_graph the eager ``_backward`` runs)."""

    def eager() -> tuple[torch.Tensor, None, list[torch.Tensor | None]]:
        return y, None, _ImplicitFunction._backward(spec, xs, needs, y, grad_y, scale, False)

    threshold = spec.singular_tol * scale
    # Detached: no graph is wanted here (and torch.compile would touch the saved
    # non-leaf tensors' .grad, which warns).
    plain = tuple(x.detach() for x in xs)
    F_y, regular, grads = compiled.call(
        "backward",
        eager,
        spec.F,
        spec.tuple_x,
        plain,
        needs,
        y.detach(),
        grad_y.detach(),
        threshold,
    )
    if regular is None:  # eager did it all, checks included
        return list(grads)
    if not _all(regular):
        _check_singular(spec, F_y.reshape(*F_y.shape, 1, 1), scale)  # raises or warns
    given = iter(grads)
    return [next(given) if n else None for n in needs]


def _check_singular(spec: _Spec, J: torch.Tensor, scale: torch.Tensor) -> torch.Tensor | None:
    """Raise, or warn and return the mask of problems whose ``F_y`` is singular
    (None when there are none)."""
    sigma_min, _ = singular_values(J)
    # NaN compares False: a non-finite sigma_min counts as singular too.
    regular = sigma_min > spec.singular_tol * scale
    if _all(regular):
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


def _any(mask: torch.Tensor) -> bool:
    """``mask.any()``: torch's boolean reductions are not vectorised on CPU, a
    ``uint8`` max is (30 times faster on a million problems)."""
    return mask.numel() > 0 and bool(mask.view(torch.uint8).max())


def _all(mask: torch.Tensor) -> bool:
    """``mask.all()``, like ``_any``."""
    return mask.numel() == 0 or bool(mask.view(torch.uint8).min())


def _per_problem(mask: torch.Tensor, event_ndim: int) -> torch.Tensor:
    """Broadcast a ``batch_shape`` tensor over the event dimensions."""
    return mask.reshape(tuple(mask.shape) + (1,) * event_ndim)


def _as_tuple(x: Tensors) -> tuple[tuple[torch.Tensor, ...], bool]:
    if isinstance(x, torch.Tensor):
        return (x,), False
    if isinstance(x, (tuple, list)) and all(isinstance(t, torch.Tensor) for t in x):
        return tuple(x), True
    raise TypeError(
        f"x must be a tensor or a tuple of tensors holding every tensor to differentiate "
        f"with respect to; got {type(x).__name__}."
    )


def _captured(value: torch.Tensor, y: torch.Tensor) -> torch.Tensor | None:
    """A tensor other than ``y`` that ``value`` depends on with grad, if any.

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
        if variable is not None and variable is not y:
            return variable
        stack.extend(next_node for next_node, _ in node.next_functions)
    return None


def _residual(value: torch.Tensor, event_ndim: int) -> torch.Tensor:
    if event_ndim == 0:
        return value.abs()
    return value.abs().flatten(-event_ndim).amax(-1)


def _newton(
    G: Callable[[torch.Tensor], torch.Tensor],
    y0: torch.Tensor,
    start: tuple[torch.Tensor, torch.Tensor],
    event_ndim: int,
    tol: float,
    max_iter: int,
    max_backtracks: int = 30,
    fused: _Fused | None = None,
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
    residual = _residual(value, event_ndim)
    converged = torch.zeros(batch_shape, dtype=torch.bool, device=y.device)
    broken = torch.zeros_like(converged)  # F_y singular at an iterate
    # (int32: adding a mask to int64 takes four times as long)
    iterations = torch.zeros(batch_shape, dtype=torch.int32, device=y.device)
    sweeps = 0  # iterations in which every problem was active (added at the end)
    scale = singular_values(J)[1]
    sqrt_tol = math.sqrt(tol)
    all_active = True
    pending: Callable[[], torch.Tensor] | None = None  # F_y at y, not yet taken
    for _ in range(max_iter):
        if not all_active:
            active = ~(converged | broken)
            if not _any(active):
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
                step = torch.where(_per_problem(active, event_ndim), step, 0.0)
            # The relative step |step| / max(1, |y|) lies in [|step| / max(1, max|y|),
            # |step|]: far from every root the bounds decide without dividing.
            relative_step = _residual(step, event_ndim)
            lo, hi = (float(v) for v in torch.aminmax(relative_step))
            if hi > tol and lo <= sqrt_tol * max(1.0, *(abs(float(v)) for v in torch.aminmax(y))):
                relative_step.div_(_residual(y, event_ndim).clamp_(min=1))
                lo, hi = (float(v) for v in torch.aminmax(relative_step))
            if pending is None or hi <= tol:
                break
            J, pending = pending(), None  # the chord step is not enough: Newton's
        if not math.isfinite(hi):  # NaN or inf somewhere: F_y singular at an iterate
            finite = torch.isfinite(relative_step)
            if all_active:
                active = torch.ones_like(converged)
            broken |= active & ~finite
            active &= finite
            all_active = False
            step = torch.where(_per_problem(finite, event_ndim), step, 0.0)
            relative_step = torch.where(finite, relative_step, 0.0)
            if not _any(active):
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
                value = torch.where(_per_problem(active, event_ndim), 0.0, value)
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
                y_try = y - step if isinstance(t, float) else y - _per_problem(t, event_ndim) * step
                value_try, jacobian_try = evaluate(y_try)
                residual_try = _residual(value_try, event_ndim)
                if all_near:
                    break
            ok = residual_try <= (1 - SUFFICIENT_DECREASE * t) * residual
            if some_near:  # (stopped problems are near: their step is 0)
                ok |= near
            if _all(ok):
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
            all_active = all_active and not _any(finished)
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
        "iterations": iterations,
        "residual": residual,
        "value": value,
        "J": J,
        "sigma_min": sigma_min,
        "scale": scale,
    }


def _identity(value: torch.Tensor) -> torch.Tensor:
    return value


class _Fused:
    """The compiled pieces of Newton's loop for scalar problems; each falls back to
    the eager computation of the same quantities."""

    def __init__(
        self,
        compiled: Compiled,
        F: Fn,
        tuple_x: bool,
        xs: tuple[torch.Tensor, ...],
        event_ndim: int,
    ) -> None:
        self.compiled, self.F, self.tuple_x, self.xs = compiled, F, tuple_x, xs
        self.value_and_jacobian = _compiled_value_and_jacobian(compiled, F, tuple_x, xs, event_ndim)

    def step(
        self, value: torch.Tensor, J: torch.Tensor, y: torch.Tensor, active: torch.Tensor | None
    ) -> tuple[torch.Tensor, torch.Tensor, float, float]:
        """``step = F / F_y`` (0 where not active), ``|step| / max(1, |y|)``, its min and max."""
        F_y = J.reshape(value.shape)
        step, relative_step, lo_hi = self.compiled.call(
            "newton_step",
            functools.partial(newton_step, value, F_y, y, active),
            value,
            F_y,
            y,
            active,
        )
        lo, hi = lo_hi.tolist()
        return step, relative_step, lo, hi

    def trial(
        self,
        y: torch.Tensor,
        step: torch.Tensor,
        residual: torch.Tensor,
        near: torch.Tensor | None,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, bool]:
        """``y - step``, ``F`` and ``F_y`` there, ``|F|``, and whether all passed."""

        def eager() -> tuple[torch.Tensor, ...]:
            y_try = y - step
            value, J = self.value_and_jacobian(y_try)
            residual_try = value.abs()
            ok = residual_try <= (1 - SUFFICIENT_DECREASE) * residual
            if near is not None:
                ok |= near
            return y_try, value, J.reshape(y.shape), residual_try, torch.tensor(_all(ok))

        with torch.enable_grad():  # as in value_and_jacobian (one set of guards)
            y_try, value, F_y, residual_try, all_ok = self.compiled.call(
                "trial", eager, self.F, self.tuple_x, self.xs, y, step, residual, near
            )
        return y_try, value, F_y.reshape(*F_y.shape, 1, 1), residual_try, bool(all_ok)


def _lbfgs(
    G: Callable[[torch.Tensor], torch.Tensor],
    y0: torch.Tensor,
    start: tuple[torch.Tensor, torch.Tensor],
    event_ndim: int,
    tol: float,
    max_iter: int,
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """The notebook's solver: ``torch.optim.LBFGS`` on ``sum F**2``.

    Kept for comparison.  Its limits: one optimiser for the whole batch, the
    loss ``F**2`` is flat near the root (the root is only accurate to about the
    square root of LBFGS's own tolerance, ~1e-5 in practice), and near
    ``F_y = 0`` it stops early.  Problems whose residual stays above ``tol`` are
    reported as not converged.
    """
    y = y0.detach().clone().requires_grad_()
    optimizer = torch.optim.LBFGS([y], max_iter=max_iter, line_search_fn="strong_wolfe")

    def closure() -> torch.Tensor:
        optimizer.zero_grad()
        loss = (G(y) ** 2).sum()
        loss.backward()
        return loss

    with torch.enable_grad():
        optimizer.step(closure)
    y = y.detach()
    with torch.enable_grad():
        y_in = y.clone().requires_grad_()
        value = G(y_in)
        J = jacobian(value, y_in, event_ndim)
    residual = _residual(value.detach(), event_ndim)
    sigma_min, scale = singular_values(J)
    batch_shape, _ = split(y0.shape, event_ndim)
    iterations = optimizer.state[optimizer.param_groups[0]["params"][0]].get("n_iter", 0)
    return y, {
        "converged": residual <= tol,
        "broken": torch.zeros(batch_shape, dtype=torch.bool),
        "iterations": torch.full(batch_shape, int(iterations), dtype=torch.long),
        "residual": residual,
        "value": value.detach(),
        "J": J.detach(),
        "sigma_min": sigma_min,
        "scale": scale,
    }


def _sensitivity_to_x(
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
        return change_of(xs, y, value, h, lambda: _sensitivity_to_x(F, xs, y, value, event_ndim))
    moved = tuple(x + h if x.is_floating_point() else x for x in xs)
    with torch.no_grad():
        change = F(moved, y)
        if value is not None:
            change = change - value
        change = _residual(change, event_ndim).div_(h)
    return change.nan_to_num_(nan=0.0, posinf=0.0)


def _can_vanish(
    G: Callable[[torch.Tensor], torch.Tensor],
    y: torch.Tensor,
    J: torch.Tensor,
    sigma_min: torch.Tensor,
    event_ndim: int,
    reach: float,
) -> torch.Tensor:
    """Whether ``F_y`` changes by at least ``sigma_min`` within ``reach * max(1, |y|)``
    of ``y``: by the linear extrapolation, it could vanish that close.

    What tells a vertical tangent or a double root (``F_y`` has a zero next to
    ``y``) from a steep but regular curve such as ``y = 1000 x``, where ``|F_y|``
    is small against ``|F_x|`` but constant.  One more evaluation of ``F`` and
    ``F_y`` for the batch; non-finite there counts as "can vanish".
    """
    batch_shape, _ = split(y.shape, event_ndim)
    delta = _residual(y, event_ndim).clamp_(min=1).mul_(reach)
    with torch.enable_grad():
        y_in = (y + _per_problem(delta, event_ndim)).requires_grad_()
        J_moved = jacobian(G(y_in), y_in, event_ndim)
    change = torch.linalg.vector_norm((J_moved - J).reshape(*batch_shape, -1), dim=-1)
    return ~(change < sigma_min)


_METHODS = {"newton": _newton, "lbfgs": _lbfgs}


def default_tol(dtype: torch.dtype) -> float:
    """The default step tolerance: 64 machine epsilons of ``dtype``."""
    return 64 * torch.finfo(dtype).eps


def root_find(
    F: Fn,
    x: Tensors,
    y0: torch.Tensor,
    *,
    event_ndim: int = 0,
    method: str = "newton",
    tol: float | None = None,
    max_iter: int = 50,
    singular_tol: float | None = None,
    on_failure: str = "raise",
    return_info: bool = False,
    compile: bool = False,
) -> torch.Tensor | tuple[torch.Tensor, RootInfo]:
    """Solve ``F(x, y) = 0`` for ``y`` near ``y0``, differentiably in ``x``.

    Invariant: the returned ``y`` satisfies ``F(x, y) == 0`` to the solver's
    tolerance, and its derivatives are those of the implicit function ``y(x)``:
    ``dy/dx = -F_y^{-1} F_x`` (first and second order, reverse and forward mode).
    The gradient with respect to ``y0`` is zero.

    Args:
        F: ``F(x, y) -> tensor`` of ``y``'s shape. Problems in the batch must be
            independent: component ``b`` of ``F`` depends on ``y[b]`` only.
        x: a tensor or tuple of tensors holding *every* tensor that should get a
            gradient; ``F`` receives it as given. A tensor that requires grad but
            reaches ``F`` through a closure is an error (it would get no gradient).
        y0: the start, shape ``batch_shape + event_shape``.
        event_ndim: how many trailing dimensions of ``y0`` make up one problem
            (0: every element is its own scalar problem).
        method: ``"newton"`` (batched ``m x m`` Newton with a backtracking line
            search) or ``"lbfgs"`` (the notebook's solver, for comparison).
        tol: Newton stops a problem when its step is below ``tol * max(1, |y|)``
            (default 64 machine epsilons); LBFGS requires ``max |F| <= tol``
            (default 1e-6).
        max_iter: the iteration cap.
        singular_tol: ``F_y`` counts as singular when its smallest singular value
            is below ``singular_tol`` times the largest of: its largest singular
            value at ``y0`` and at the solution, and ``|F_x . 1|`` at the
            solution (the change of ``F`` per unit shift of every element of
            ``x``, by a forward difference; the design's degeneracy measure
            ``|F_y| / |grad F|``).  Default: the cube root of machine epsilon,
            6e-6 in float64.  Newton reaches a double root only to about the
            square root of epsilon, where ``|F_y|`` is still that small: a
            smaller default would let it pass as regular.  The ``F_x`` term is
            what catches a vertical tangent when ``y0`` starts near it (then
            ``|F_y|`` is tiny all along the path); it counts only where ``F_y``
            changes by at least itself within ``sqrt(singular_tol) * max(1, |y|)``
            (it could vanish there), so a steep straight curve such as
            ``y = 1000 x`` stays regular.
        on_failure: ``"raise"`` an ``ImplicitError``, or ``"nan"``: warn and
            return NaN for the failing problems.
        return_info: also return per-problem ``RootInfo``.
        compile: use ``torch.compile`` (``fullgraph=True``) for scalar problems
            (one unknown per problem) with ``method="newton"``: ``F`` with ``F_y``,
            Newton's step with its relative size, the line search's full-step
            trial, the ``|F_x . 1|`` difference and the first-order backward each
            run as one fused compiled function.  The solver's decisions and every
            check are unchanged; results equal the eager path's to rounding.
            Compilation happens once per ``F`` (per code object for plain
            functions), dtype and rank: 11.6 s for the first call in
            ``bench/bench_implicit.py`` here (2 CPU cores), 2 s more at the first
            change of batch size (then the size is symbolic).  Worth it for big
            batches called repeatedly with the same ``F``: 7.3 "F + vjp" units
            instead of 18.3 at a million problems in that bench; 12.9 instead of
            14.3 at ten thousand, so not for small batches, nor for a new ``F``
            (new code) on every call.  Stays eager:
            vector problems, ``"lbfgs"``, double backward (``create_graph``) and
            forward mode (``torch.func`` transforms).  An ``F`` torch.compile cannot
            trace (a ``print``, an unsupported library call) is evaluated eagerly,
            with one ``UserWarning``; results are the same.

    Returns:
        ``y`` (same shape and dtype as ``y0``), or ``(y, info)``.

    Raises:
        NonConvergenceError: a problem did not converge within ``max_iter``.
        SingularJacobianError: ``F_y`` is singular at a solution (or an iterate).
        ImplicitError: ``F`` reaches a tensor that requires grad through a closure.
        ValueError, TypeError: bad arguments; the message names the value.
    """
    xs, tuple_x = _as_tuple(x)
    check_policy(on_failure)
    if method not in _METHODS:
        raise ValueError(f"method={method!r} must be one of {sorted(_METHODS)}.")
    if not isinstance(y0, torch.Tensor) or not y0.is_floating_point():
        raise TypeError(f"y0 must be a floating-point tensor; got {y0!r}.")
    if not 0 <= event_ndim <= y0.dim():
        raise ValueError(f"event_ndim={event_ndim} must be between 0 and y0.dim()={y0.dim()}.")
    if max_iter < 1:
        raise ValueError(f"max_iter={max_iter} must be >= 1.")
    if tol is None:
        tol = default_tol(y0.dtype) if method == "newton" else 1e-6
    if not tol > 0:
        raise ValueError(f"tol={tol} must be > 0.")
    if singular_tol is None:
        singular_tol = torch.finfo(y0.dtype).eps ** (1 / 3)

    what = "|F_y|" if event_ndim == 0 else "smallest singular value of F_y"
    scalar = math.prod(split(y0.shape, event_ndim)[1]) == 1
    compiled = compiled_for(F) if compile and scalar and method == "newton" else None

    def solver(y0: torch.Tensor, xs: tuple[torch.Tensor, ...]) -> tuple[Any, RootInfo, Any]:
        def G(y: torch.Tensor) -> torch.Tensor:
            return F(xs if tuple_x else xs[0], y)

        if compiled is None:
            start = _validate(G, y0, event_ndim)
            y_star, stats = _METHODS[method](G, y0, start, event_ndim, tol, max_iter)
        else:
            fused = _Fused(compiled, F, tuple_x, xs, event_ndim)
            start = _compiled_start(fused.value_and_jacobian, G, y0, event_ndim)
            y_star, stats = _newton(G, y0, start, event_ndim, tol, max_iter, fused=fused)
        # |F_y| is compared with the largest |F_y| on the path and with |F_x|: at a
        # vertical tangent only the latter stays away from 0 when y0 is close.
        # (Unconverged problems fail anyway; their F(x, y) is not near 0 either.)
        F_x = _sensitivity_to_x(
            lambda xs, y: F(xs if tuple_x else xs[0], y),
            xs,
            y_star,
            stats["value"],
            event_ndim,
            change_of=None if compiled is None else _compiled_change(compiled, F, tuple_x),
        )
        if not _all(stats["converged"]):
            F_x = torch.where(stats["converged"], F_x, 0.0)
        sigma_min = stats["sigma_min"]
        scale = torch.maximum(stats["scale"], F_x)
        singular = sigma_min <= singular_tol * scale
        if _any(singular):
            # Small against F_x alone is not enough: a steep straight curve has that
            # too.  F_y must also be able to vanish near y (rarely needed: one more
            # evaluation, and only when some problem is in doubt).
            doubt = singular & (sigma_min > singular_tol * stats["scale"])
            if _any(doubt):
                near_zero = _can_vanish(
                    G, y_star, stats["J"], sigma_min, event_ndim, singular_tol**0.5
                )
                F_x = torch.where(doubt & ~near_zero, 0.0, F_x)
                scale = torch.maximum(stats["scale"], F_x)
                singular = sigma_min <= singular_tol * scale
        info = RootInfo(
            converged=stats["converged"],
            iterations=stats["iterations"],
            residual=stats["residual"],
            sigma_min=stats["sigma_min"],
            singular=stats["broken"] | singular,
        )
        y_star = _apply_policy(y_star, info, what, event_ndim, max_iter, on_failure)
        return y_star, info, scale

    spec = _Spec(F, tuple_x, event_ndim, singular_tol, on_failure, what, compiled)
    y, *diagnostics = _ImplicitFunction.apply(spec, solver, y0, *xs)
    return (y, RootInfo(*diagnostics[:5])) if return_info else y


def _compiled_value_and_jacobian(
    compiled: Compiled, F: Fn, tuple_x: bool, xs: tuple[torch.Tensor, ...], event_ndim: int
) -> Callable[..., tuple[torch.Tensor, torch.Tensor]]:
    """``y -> (F(x, y), F_y)`` for a scalar problem (``F_y`` as ``batch_shape + (1, 1)``),
    compiled, or eager where torch.compile cannot be used."""

    def value_and_jacobian(
        y: torch.Tensor, eager: Callable[[], tuple[torch.Tensor, torch.Tensor]] | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        def by_autograd() -> tuple[torch.Tensor, torch.Tensor]:
            y_in = y.detach().requires_grad_()
            value = F(xs if tuple_x else xs[0], y_in)
            return value.detach(), jacobian(value, y_in, event_ndim).reshape(y.shape)

        # Grad mode on, as in the eager path: a closure tensor that requires grad
        # then shows in the output (and torch.compile guards on the mode).
        with torch.enable_grad():
            value, F_y = compiled.call(
                "value_and_F_y", eager or by_autograd, F, tuple_x, xs, y.detach()
            )
        return value, F_y.reshape(*split(y.shape, event_ndim)[0], 1, 1)

    return value_and_jacobian


def _compiled_change(compiled: Compiled, F: Fn, tuple_x: bool) -> Callable[..., torch.Tensor]:
    """``_sensitivity_to_x``'s forward difference of a scalar problem, compiled."""

    def change_of(
        xs: tuple[torch.Tensor, ...],
        y: torch.Tensor,
        value: torch.Tensor | None,
        h: float,
        eager: Callable[[], torch.Tensor],
    ) -> torch.Tensor:
        # h as a tensor: a Python float would be specialised, one compilation per value.
        h_tensor = torch.tensor(h, dtype=y.dtype, device=y.device)
        with torch.no_grad():
            return compiled.call("change", eager, F, tuple_x, xs, y, value, h_tensor)

    return change_of


def _compiled_start(
    value_and_jacobian: Callable[..., tuple[torch.Tensor, torch.Tensor]],
    G: Callable[[torch.Tensor], torch.Tensor],
    y0: torch.Tensor,
    event_ndim: int,
) -> tuple[torch.Tensor, torch.Tensor]:
    """``_validate``'s result by the compiled function; its checks, with their
    messages, by ``_validate`` itself whenever the compiled output fails one."""
    validated = False

    def eager() -> tuple[torch.Tensor, torch.Tensor]:
        nonlocal validated
        validated = True
        value, J = _validate(G, y0, event_ndim)
        return value, J.reshape(y0.shape)

    value, J = value_and_jacobian(y0, eager)
    if not validated and (value.shape != y0.shape or value.requires_grad):
        value, J = _validate(G, y0, event_ndim)  # raises, naming the problem
    return value, J


def _validate(
    G: Callable[[torch.Tensor], torch.Tensor], y0: torch.Tensor, event_ndim: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Check ``F``'s output shape and closures; return ``F(x, y0)`` and ``F_y`` there."""
    with torch.enable_grad():
        y_in = y0.detach().requires_grad_()
        value = G(y_in)
        if not isinstance(value, torch.Tensor) or value.shape != y0.shape:
            shape = getattr(value, "shape", type(value).__name__)
            raise ValueError(
                f"F(x, y) must return a tensor of y's shape {tuple(y0.shape)}; got {shape}."
            )
        captured = _captured(value, y_in)
        if captured is not None:
            raise ImplicitError(
                f"F depends on a tensor of shape {tuple(captured.shape)} that requires grad "
                "but is not in x: it reaches F through a closure, so it would silently get "
                "no gradient. Pass it in x (a tuple of tensors) and read it there, or detach it."
            )
        J = jacobian(value, y_in, event_ndim)
    return value.detach(), J


def _apply_policy(
    y: torch.Tensor, info: RootInfo, what: str, event_ndim: int, max_iter: int, on_failure: str
) -> torch.Tensor:
    if not _any(info.singular | ~info.converged):
        return y
    fail(
        SingularJacobianError,
        info.singular,
        info.sigma_min,
        what,
        "F_y is singular at the solution (a vertical tangent or a double root): y(x) is "
        "not differentiable there; move x away from it, or try another y0.",
        on_failure,
    )
    not_converged = ~info.converged & ~info.singular
    fail(
        NonConvergenceError,
        not_converged,
        info.residual,
        f"residual max|F| after {max_iter} iterations",
        "Raise max_iter, start closer to the root (y0), or check that F(x, .) has a root near y0.",
        on_failure,
    )
    failed = info.singular | not_converged
    if not bool(failed.any()):
        return y
    mask = failed.reshape(tuple(failed.shape) + (1,) * event_ndim)
    return torch.where(mask, torch.full_like(y, math.nan), y)
