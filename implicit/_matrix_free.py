"""The matrix-free derivatives of a fixed point ``x* = f(a)(x*)``: no ``m x m`` matrix.

With ``A = I - f_x`` at ``x*``, the gradient of ``L`` is ``f_a^T u`` where
``A^T u = v = dL/dx*``, and the tangent is ``t = A^{-1} f_a da``.  ``A^T u``
costs one vector-Jacobian product of ``f`` in ``x`` (the graph of ``f`` at
``x*`` is built once and reused); ``A t`` costs a vjp of that vjp (linear in its
cotangent, so exact, and available wherever double backward is).  The solves
are Krylov solves (``_krylov``) with a tolerance relative to ``|v|``: scaling
``L`` by ``c`` scales the gradient by ``c`` to rounding.

``LinearSolve`` is itself differentiable (its backward is the solve with the
other side, ``A`` for ``A^T``), so double backward and forward-over-reverse
differentiate the solution, not the Krylov iterations.

Singularity, without ``A``: the Krylov space gives an upper bound on
``sigma_min(A)`` (the smallest singular value of the Arnoldi matrix); a bound at
or below ``singular_tol`` proves ``A`` singular to that tolerance, and a solve
that stalls or hits its cap is reported alike (``I - f_x`` singular or too
ill-conditioned to solve).  This is weaker than the dense test: a singular
``A`` with ``v`` in its range is not seen.

Shapes: ``x`` is ``batch_shape + event_shape``; every solve is per problem.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from typing import Any

import torch

from ._errors import SingularJacobianError, fail
from ._krylov import KrylovResult

Map = Callable[[Any], Callable[[torch.Tensor], torch.Tensor]]
Solver = Callable[[Callable[[torch.Tensor], torch.Tensor], torch.Tensor, int], KrylovResult]


@dataclasses.dataclass(frozen=True)
class FreeSpec:
    """What the matrix-free derivatives need besides tensors."""

    f: Map
    tuple_a: bool
    event_ndim: int
    solve: Solver  # (matvec, b, event_ndim) -> KrylovResult
    singular_tol: float
    on_failure: str


def _map(spec: FreeSpec, a: list[torch.Tensor], x: torch.Tensor) -> torch.Tensor:
    return spec.f(tuple(a) if spec.tuple_a else a[0])(x)


def _grad(out: torch.Tensor, inputs: list[torch.Tensor], v: torch.Tensor, **kw: Any) -> list[Any]:
    """``v^T d out / d inputs``, zeros where ``out`` does not depend on an input."""
    if not inputs:
        return []
    if not out.requires_grad:  # out does not depend on any input
        return [torch.zeros_like(t) for t in inputs]
    grads = torch.autograd.grad(out, inputs, v, allow_unused=True, **kw)
    return [torch.zeros_like(t) if g is None else g for t, g in zip(inputs, grads)]


def _solve(
    spec: FreeSpec, transpose: bool, b: torch.Tensor, x: torch.Tensor, a: list[torch.Tensor]
) -> torch.Tensor:
    """``A^T z = b`` (``transpose``) or ``A z = b`` at ``(x, a)``, not differentiably;
    applies the failure policy."""
    with torch.enable_grad():
        x_in = x.detach().requires_grad_()
        fx = _map(spec, [t.detach() for t in a], x_in)
        if transpose:

            def matvec(u: torch.Tensor) -> torch.Tensor:
                return u - _grad(fx, [x_in], u, retain_graph=True)[0]
        else:
            w = torch.zeros_like(fx, requires_grad=True)
            (vjp,) = _grad(fx, [x_in], w, create_graph=True)

            def matvec(u: torch.Tensor) -> torch.Tensor:
                if not vjp.requires_grad:  # f_x does not depend on x at all (f_x = 0)
                    return u
                return u - _grad(vjp, [w], u, retain_graph=True)[0]

        result = spec.solve(matvec, b.detach(), spec.event_ndim)
    z = result.z
    singular = result.sigma_min <= spec.singular_tol
    stalled = ~result.converged & ~singular
    side = "(I - f_x)^T u = dL/dx*" if transpose else "(I - f_x) t = f_a da"
    fail(
        SingularJacobianError,
        singular,
        result.sigma_min,
        f"sigma_min(I - f_x) (an upper bound from the Krylov space of the solve of {side})",
        "f_x has an eigenvalue 1 at the fixed point: x*(a) is not differentiable there "
        "(or not unique).",
        spec.on_failure,
    )
    fail(
        SingularJacobianError,
        stalled,
        result.residual,
        f"relative residual of the matrix-free solve of {side} after {result.matvecs} products",
        "I - f_x is singular or too ill-conditioned at the fixed point for the Krylov "
        "solve: try linear_solver='dense' (small m) or check that f contracts there.",
        spec.on_failure,
    )
    failed = singular | stalled
    if bool(failed.any()):
        mask = failed.reshape(tuple(failed.shape) + (1,) * spec.event_ndim)
        z = torch.where(mask, math.nan, z)
    return z


class LinearSolve(torch.autograd.Function):
    """``z = A^{-T} b`` (``transpose``) or ``A^{-1} b`` with ``A = I - f_x(x, a)``,
    differentiable in ``b``, ``x`` and ``a`` to any order."""

    @staticmethod
    def forward(
        spec: FreeSpec, transpose: bool, b: torch.Tensor, x: torch.Tensor, *a: torch.Tensor
    ) -> torch.Tensor:
        return _solve(spec, transpose, b, x, list(a))

    @staticmethod
    def setup_context(ctx: Any, inputs: tuple[Any, ...], output: torch.Tensor) -> None:
        spec, transpose, _, x, *a = inputs
        ctx.spec, ctx.transpose = spec, transpose
        ctx.save_for_backward(x, output, *a)

    @staticmethod
    def backward(ctx: Any, grad_z: torch.Tensor) -> tuple[Any, ...]:
        # R(z; b, p) = A(p)^(T) z - b = 0: d/db = the other solve, and
        # d/dp = d_p <s2, f_x(p) s1> with (s1, s2) = (w, z) for A^T, (z, w) for A.
        spec: FreeSpec = ctx.spec
        x, z, *a = ctx.saved_tensors
        needs = ctx.needs_input_grad
        keep = torch.is_grad_enabled()
        w = LinearSolve.apply(spec, not ctx.transpose, grad_z, x, *a)
        grad_b = w if needs[2] else None
        s1, s2 = (w, z) if ctx.transpose else (z, w)
        params = [x, *a]
        wanted = [p for p, n in zip(params, needs[3:]) if n]
        grads: list[Any] = []
        if wanted:
            with torch.enable_grad():
                inputs = [
                    (p.view_as(p) if keep else p.detach().requires_grad_()) if n else p.detach()
                    for p, n in zip(params, needs[3:])
                ]
                x_in = inputs[0] if needs[3] else inputs[0].requires_grad_()
                fx = _map(spec, inputs[1:], x_in)
                (vjp,) = _grad(fx, [x_in], s2, create_graph=True)
                phi = (vjp * s1).sum()
                picked = [p for p, n in zip(inputs, needs[3:]) if n]
                grads = _grad(phi, picked, torch.ones_like(phi), create_graph=keep)
        it = iter(grads)
        return (None, None, grad_b, *(next(it) if n else None for n in needs[3:]))


class FreeFixedPoint(torch.autograd.Function):
    """Returns the solver's ``x*`` and diagnostics; derivatives by ``LinearSolve``.

    Outputs: ``x*`` and the non-differentiable ``converged``, ``iterations``,
    ``residual``, ``sigma_min``, ``singular`` (each ``batch_shape``).
    """

    @staticmethod
    def forward(
        spec: FreeSpec, solver: Callable[..., Any], x0: torch.Tensor, *a: torch.Tensor
    ) -> tuple[torch.Tensor, ...]:
        x, info = solver(x0, tuple(t.detach() for t in a))
        return (x, info.converged, info.iterations, info.residual, info.sigma_min, info.singular)

    @staticmethod
    def setup_context(ctx: Any, inputs: tuple[Any, ...], output: tuple[torch.Tensor, ...]) -> None:
        spec, _, x0, *a = inputs
        x, *diagnostics = output
        ctx.mark_non_differentiable(*diagnostics)
        ctx.set_materialize_grads(False)
        ctx.spec = spec
        ctx.x0_like = (x0.shape, x0.dtype)
        ctx.save_for_backward(x, *a)
        ctx.save_for_forward(x, *a)

    @staticmethod
    def backward(ctx: Any, grad_x: torch.Tensor, *_: Any) -> tuple[Any, ...]:
        spec: FreeSpec = ctx.spec
        x, *a = ctx.saved_tensors
        needs = ctx.needs_input_grad[3:]
        grad_x0 = None
        if ctx.needs_input_grad[2]:
            grad_x0 = torch.zeros(ctx.x0_like[0], dtype=ctx.x0_like[1], device=x.device)
        if grad_x is None or not any(needs):
            return (None, None, grad_x0, *(None for _ in a))
        keep = torch.is_grad_enabled()
        u = LinearSolve.apply(spec, True, grad_x, x if keep else x.detach(), *a)
        with torch.enable_grad():
            a_in = [
                (t.view_as(t) if keep else t.detach().requires_grad_()) if n else t.detach()
                for t, n in zip(a, needs)
            ]
            fx = _map(spec, a_in, x if keep else x.detach())
            wanted = [t for t, n in zip(a_in, needs) if n]
            grads = iter(_grad(fx, wanted, u, create_graph=keep))
        return (None, None, grad_x0, *(next(grads) if n else None for n in needs))

    @staticmethod
    def jvp(ctx: Any, _spec: Any, _solver: Any, _x0_dot: Any, *a_dot: Any) -> tuple[Any, ...]:
        spec: FreeSpec = ctx.spec
        x, *a = ctx.saved_tensors
        pairs = [(t, d) for t, d in zip(a, a_dot) if d is not None]
        if not pairs:
            return (torch.zeros_like(x), None, None, None, None, None)
        with torch.enable_grad():
            a_in = [t.detach().requires_grad_() for t in a]
            fx = _map(spec, a_in, x.detach())
            # f_a da as the vjp of a vjp (linear in its cotangent w).
            w = torch.zeros_like(fx, requires_grad=True)
            picked = [t for t, (_, d) in zip(a_in, zip(a, a_dot)) if d is not None]
            vjps = _grad(fx, picked, w, create_graph=True)
            phi = sum((g * d).sum() for g, (_, d) in zip(vjps, pairs))
            if isinstance(phi, torch.Tensor) and phi.requires_grad:
                (f_a_da,) = _grad(phi, [w], torch.ones_like(phi))
            else:  # f does not depend on a
                f_a_da = torch.zeros_like(x)
        t = _solve(spec, False, f_a_da, x, a)
        return (t, None, None, None, None, None)
