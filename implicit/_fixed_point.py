"""``fixed_point``: HIPS autograd's ``fixed_point(f, a, x0, distance, tol)`` in PyTorch.

The forward iterates ``x <- f(a)(x)`` (plainly, or with Anderson acceleration;
``_iteration``) under an iteration cap, without building a graph.  The
derivatives are those of the root of ``F(a, x) = f(a)(x) - x``: with
``A = I - f_x`` at ``x*``, ``dx*/da = A^{-1} f_a``, evaluated at ``x*`` only.
The graph behind the result does not grow with the number of iterations.

Two linear-algebra paths: dense (``m`` vjps build each problem's ``m x m``
``F_y`` once; its SVD is the singularity test; the shared ``ImplicitFunction``
differentiates), and matrix-free (``_matrix_free``: Krylov solves with vjps,
memory ``O(m)`` per problem), taken when ``m > MATRIX_FREE_ABOVE`` or by
``linear_solver``.

Shapes: ``x0`` is ``batch_shape + event_shape`` (``event_ndim`` trailing
dimensions make one problem of ``m`` unknowns); ``RootInfo``'s fields are
``batch_shape``.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from typing import Any

import torch
import torch.autograd.forward_ad as fwAD

from ._common import (
    RootInfo,
    Tensors,
    as_tuple,
    captured,
    functorch_active,
    plain,
    transformed_by,
)
from ._errors import ImplicitError, check_policy
from ._fixed_point_solver import METHODS, Forward, dense
from ._iteration import Distance
from ._krylov import KrylovResult, cg, gmres
from ._matrix_free import FreeFixedPoint, FreeSpec, Solver

Map = Callable[[Any], Callable[[torch.Tensor], torch.Tensor]]

#: ``linear_solver="auto"`` goes matrix-free above this many unknowns per
#: problem: the dense path costs ``m`` vjps and an ``O(m^3)`` SVD, ``O(m^2)`` memory.
MATRIX_FREE_ABOVE = 256

#: Half-precision inputs are iterated in float32 and returned in their dtype.
_LOW = (torch.float16, torch.bfloat16)

#: Why the matrix-free path refuses torch.func (its derivatives call torch.autograd
#: on tensors a transform wraps, and would silently give 0 there).
_NO_TORCH_FUNC = (
    "linear_solver={linear_solver!r} is matrix-free (m = {m} unknowns per problem), and "
    "the matrix-free derivatives do not run under torch.func transforms (grad, vjp, jvp, "
    "jacrev, jacfwd, hessian, vmap). Pass linear_solver='dense' (one m x m solve per "
    "problem), or differentiate with torch.autograd.grad / torch.autograd.forward_ad, and "
    "batch problems as a leading dimension of x0 with event_ndim instead of vmap."
)


def _euclidean(event_ndim: int, batched: bool) -> Distance:
    if not batched:
        return lambda x, x_prev: torch.linalg.vector_norm(x - x_prev)
    if event_ndim == 0:
        return lambda x, x_prev: (x - x_prev).abs()
    dims = tuple(range(-event_ndim, 0))
    return lambda x, x_prev: torch.linalg.vector_norm(x - x_prev, dim=dims)


def _krylov(linear_solver: str | Callable[..., Any], rtol: float) -> Solver:
    if linear_solver == "gmres":
        return functools.partial(_rtol_call, gmres, rtol)
    if linear_solver == "cg":
        return functools.partial(_rtol_call, cg, rtol)
    assert callable(linear_solver)
    return functools.partial(_user_solve, linear_solver)


def _rtol_call(method: Callable[..., KrylovResult], rtol: float, matvec: Any, b: Any, nd: int):
    return method(matvec, b, nd, rtol)


def _user_solve(solver: Callable[..., torch.Tensor], matvec: Any, b: torch.Tensor, nd: int):
    """A user's ``solver(matvec, b) -> z``, trusted: only a non-finite ``z`` fails."""
    z = solver(matvec, b)
    batch_shape = b.shape[: b.dim() - nd]
    finite = torch.isfinite(z).reshape(*batch_shape, -1).all(-1)
    inf = torch.full(batch_shape, math.inf, dtype=b.dtype, device=b.device)
    return KrylovResult(z, finite, torch.where(finite, 0.0, inf), inf, 0)


def _check_map(f: Map, a: tuple[torch.Tensor, ...], tuple_a: bool, x0: torch.Tensor) -> None:
    """``f(a)(x0)`` has ``x0``'s shape, and no tensor reaches it through a closure with
    grad, a forward-AD tangent or a vmap batch (a custom Function would silently
    drop any of them).

    Under a torch.func transform ``requires_grad_`` is refused: ``f`` runs at plain
    copies of ``a`` and ``x0`` (one sample of a batched tensor), so whatever the
    output still carries from a transform came through a closure.
    """
    transform = functorch_active()
    with torch.enable_grad():
        if transform:
            a_in = tuple(plain(t) for t in a)
            x_in = plain(x0)
        else:
            a_in = tuple(
                fwAD.unpack_dual(t).primal.detach().requires_grad_(t.is_floating_point()) for t in a
            )
            x_in = fwAD.unpack_dual(x0).primal.detach().requires_grad_()
        value = f(a_in if tuple_a else a_in[0])(x_in)
    if not isinstance(value, torch.Tensor) or value.shape != x_in.shape:
        shape = getattr(value, "shape", type(value).__name__)
        raise ValueError(
            f"f(a)(x) must return a tensor of x0's shape {tuple(x_in.shape)}; got {shape}."
        )
    what = None
    if transform:
        kind = transformed_by(value)
        what = None if kind is None else f"a tensor that {kind}"
    elif (leaf := captured(value, (*a_in, x_in))) is not None:
        what = f"a tensor of shape {tuple(leaf.shape)} that requires grad"
    elif fwAD.unpack_dual(value).tangent is not None:
        what = "a tensor with a forward-AD tangent (a dual tensor)"
    if what is not None:
        raise ImplicitError(
            f"f depends on {what} that is not in a: it reaches f through a closure, so it "
            "would silently get no derivative (or lose its batch). Pass it in a (a tuple "
            "of tensors) and read it there, or detach it."
        )


def fixed_point(
    f: Map,
    a: Tensors | float,
    x0: torch.Tensor | float,
    distance: Distance | None = None,
    tol: float = 1e-10,
    *,
    method: str = "iterate",
    max_iter: int = 10_000,
    event_ndim: int | None = None,
    singular_tol: float | None = None,
    linear_solver: str | Callable[..., torch.Tensor] = "auto",
    on_failure: str = "raise",
    return_info: bool = False,
) -> torch.Tensor | tuple[torch.Tensor, RootInfo]:
    """Find ``x* = f(a)(x*)`` by iteration, differentiably in ``a``.

    Same signature and curried map as HIPS autograd's ``fixed_point``, so this is
    itself a valid submission for the fixed-point assignment.  Invariant:
    ``distance(f(a)(x*), x*) <= tol`` and ``dx*/da = (I - f_x)^{-1} f_a`` at ``x*``
    (first and second order, reverse and forward mode); the gradient w.r.t. ``x0``
    is zero; the backward evaluates ``f`` only at ``x*``.

    Args:
        f: ``f(a)`` returns the map ``x -> f(a)(x)`` (same shape as ``x``).
        a: a tensor or a tuple of tensors: every tensor that should get a gradient.
            A tensor that requires grad (or carries a forward-AD tangent) and reaches
            ``f`` only through a closure is an ``ImplicitError``.
        x0: the start, ``batch_shape + event_shape``.
        distance: ``distance(x, x_prev)``: a scalar stops the whole batch at once
            (as HIPS stops its one problem); a ``batch_shape`` tensor stops each
            problem on its own (``method="iterate"``; Anderson and the secant stop
            when all are done).  Default: the Euclidean norm, per problem when
            ``event_ndim`` leaves a batch.
        tol: stop when ``distance(x, x_prev) <= tol``.  In float16/bfloat16 (iterated
            in float32) at least ``eps / 16`` of the input dtype.
        method: ``"iterate"`` (plain, as HIPS) or ``"anderson"`` (accelerated; also
            finds fixed points of non-contracting maps such as ``-x + a``; on a
            batch of scalar problems it is the elementwise secant method).
        max_iter: the iteration cap (HIPS has none and hangs on a map that does
            not contract).  A problem whose distance is not finite or has not
            improved for ``PATIENCE`` (50) iterations stops there, unconverged.
        event_ndim: trailing dimensions of ``x0`` that make up one problem (default:
            all: one problem of ``m = x0.numel()`` unknowns). With fewer, the rest
            are independent problems: ``f`` must not couple them; each has its own
            convergence, singularity test and failure.
        singular_tol: ``I - f_x`` counts as singular at or below this smallest
            singular value (default: the cube root of machine epsilon, 6e-6 in float64).
        linear_solver: how ``I - f_x`` is solved in the derivatives: ``"dense"``
            (``m x m`` per problem; exact singularity test at ``x*`` in the forward),
            ``"gmres"`` (restarted GMRES with vjps, any ``I - f_x``), ``"cg"``
            (conjugate gradients; only for symmetric positive definite ``I - f_x``,
            e.g. a gradient step on a convex energy), a callable
            ``solver(matvec, b) -> z`` (trusted; ``matvec`` applies ``I - f_x`` or its
            transpose, per problem), or ``"auto"``: dense up to ``MATRIX_FREE_ABOVE``
            (256) unknowns per problem, GMRES above.  The Krylov solves stop at a
            residual relative to the right-hand side (``eps ** 0.75``), so gradients
            are scale-free; matrix-free, ``I - f_x`` is tested for singularity
            in the derivatives (``sigma_min`` in ``RootInfo`` is NaN).
        on_failure: ``"raise"``, or ``"nan"``: warn and return NaN for the failed
            problems only.
        return_info: also return ``RootInfo``.

    Returns:
        ``x*`` with ``x0``'s shape and dtype, or ``(x*, info)``.

    Raises:
        NonConvergenceError: a problem stopped without meeting ``tol``.
        SingularJacobianError: ``I - f_x`` is singular at ``x*`` (``f_x`` has an
            eigenvalue 1): the fixed point is not differentiable in ``a``.
        ImplicitError: ``f`` reaches a tensor with a derivative through a closure.
    """
    check_policy(on_failure)
    if method not in METHODS:
        raise ValueError(f"method={method!r} must be one of {sorted(METHODS)}.")
    if max_iter < 1:
        raise ValueError(f"max_iter={max_iter} must be >= 1.")
    if not tol > 0:
        raise ValueError(f"tol={tol} must be > 0; an exact fixed point is rarely reachable.")
    if not (callable(linear_solver) or linear_solver in ("auto", "dense", "gmres", "cg")):
        raise ValueError(
            f"linear_solver={linear_solver!r} must be 'auto', 'dense', 'gmres', 'cg' or a "
            "callable solver(matvec, b) -> z."
        )
    like = a if isinstance(a, torch.Tensor) else None
    if not isinstance(x0, torch.Tensor):
        dtype = like.dtype if like is not None else torch.get_default_dtype()
        x0 = torch.as_tensor(x0, dtype=dtype, device=like.device if like is not None else None)
    if not x0.is_floating_point():
        raise TypeError(f"x0 must be floating point; got dtype {x0.dtype}.")
    if not isinstance(a, (torch.Tensor, tuple, list)):
        a = torch.as_tensor(a, dtype=x0.dtype, device=x0.device)
    a_parts, tuple_a = as_tuple(a)
    out_dtype = x0.dtype
    if out_dtype in _LOW:
        tol = max(tol, torch.finfo(out_dtype).eps / 16)
        x0 = x0.float()
        a_parts = tuple(t.float() if t.dtype in _LOW else t for t in a_parts)
    if event_ndim is None:
        event_ndim = x0.dim()
    if not 0 <= event_ndim <= x0.dim():
        raise ValueError(f"event_ndim={event_ndim} must be between 0 and x0.dim()={x0.dim()}.")
    distance = distance or _euclidean(event_ndim, event_ndim < x0.dim())
    if singular_tol is None:
        singular_tol = torch.finfo(x0.dtype).eps ** (1 / 3)
    _check_map(f, a_parts, tuple_a, x0)
    m = math.prod(x0.shape[x0.dim() - event_ndim :])
    if linear_solver == "auto":
        linear_solver = "gmres" if m > MATRIX_FREE_ABOVE else "dense"
    forward = Forward(f, tuple_a, method, distance, tol, max_iter, event_ndim, on_failure)
    if linear_solver == "dense":
        x, *diagnostics = dense(forward, singular_tol, x0, a_parts)
    else:
        if functorch_active():
            raise ImplicitError(_NO_TORCH_FUNC.format(linear_solver=linear_solver, m=m))
        rtol = torch.finfo(x0.dtype).eps ** 0.75
        spec = FreeSpec(
            f, tuple_a, event_ndim, _krylov(linear_solver, rtol), singular_tol, on_failure
        )
        x, *diagnostics = FreeFixedPoint.apply(spec, forward, x0, *a_parts)
    x = x.to(out_dtype)
    return (x, RootInfo(*diagnostics[:5])) if return_info else x
