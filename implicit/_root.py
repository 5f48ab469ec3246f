"""``root_find``: solve ``F(x, y) = 0`` for ``y`` and differentiate by the
implicit function theorem.

This module holds ``root_find``'s arguments, their validation, the check of
``F`` at the start (output shape, tensors reached through a closure), the
failure policy and the dispatch: to ``newton`` (``_newton``) or ``lbfgs``
(``_lbfgs``) for the forward, to ``singular_at_solution`` (``_singular``) for
the singularity test, and to ``ImplicitFunction`` (``_function``) for every
derivative.  ``compile=True`` swaps in the compiled pieces of ``_compiled``.

Shapes: ``y0`` is ``batch_shape + event_shape``; ``RootInfo``'s fields are
``batch_shape``.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from collections.abc import Callable
from typing import Any

import torch

from ._common import Fn, RootInfo, Spec, Tensors, any_, as_tuple, captured
from ._compiled import Compiled, Fused, compiled_change, compiled_for, compiled_start
from ._errors import ImplicitError, NonConvergenceError, SingularJacobianError, check_policy, fail
from ._function import apply
from ._lbfgs import lbfgs
from ._linear import jacobian, split
from ._newton import newton
from ._singular import multiple_root, singular_at_solution

_METHODS = {"newton": newton, "lbfgs": lbfgs}


def default_tol(dtype: torch.dtype) -> float:
    """The default step tolerance: 64 machine epsilons of ``dtype``."""
    return 64 * torch.finfo(dtype).eps


_HALF = (torch.float16, torch.bfloat16)


def compute_dtype(y0: torch.Tensor, xs: tuple[torch.Tensor, ...]) -> torch.dtype:
    """The dtype ``root_find`` solves in: ``y0``'s and the floating ``x``'s promoted
    (what ``F(x, y)`` computes in anyway), and at least float32: Newton's step
    tolerance and the singularity test need more digits than float16 (eps 1e-3)
    or bfloat16 (eps 8e-3) have."""
    dtype = y0.dtype
    for x in xs:
        if x.is_floating_point():
            dtype = torch.promote_types(dtype, x.dtype)
    return torch.float32 if dtype in _HALF else dtype


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

    Dtypes: the solve runs in the promotion of ``y0``'s and the floating ``x``'s
    dtypes, at least float32 (float16 and bfloat16 inputs are cast to float32,
    differentiably, and ``tol`` and ``singular_tol`` default to float32's); the
    result is rounded to ``y0``'s dtype, and ``info`` is in the compute dtype.

    Returns:
        ``y`` (same shape and dtype as ``y0``), or ``(y, info)``.

    Raises:
        NonConvergenceError: a problem did not converge within ``max_iter``.
        SingularJacobianError: ``F_y`` is singular at a solution (or an iterate).
        ImplicitError: ``F`` reaches a tensor that requires grad through a closure.
        ValueError, TypeError: bad arguments; the message names the value.
    """
    if torch.compiler.is_compiling():  # inside the caller's torch.compile
        return _eager_root_find(
            F,
            x,
            y0,
            event_ndim=event_ndim,
            method=method,
            tol=tol,
            max_iter=max_iter,
            singular_tol=singular_tol,
            on_failure=on_failure,
            return_info=return_info,
            compile=compile,
        )
    xs, tuple_x = as_tuple(x)
    check_policy(on_failure)
    if method not in _METHODS:
        raise ValueError(f"method={method!r} must be one of {sorted(_METHODS)}.")
    if not isinstance(y0, torch.Tensor) or not y0.is_floating_point():
        raise TypeError(f"y0 must be a floating-point tensor; got {y0!r}.")
    if not 0 <= event_ndim <= y0.dim():
        raise ValueError(f"event_ndim={event_ndim} must be between 0 and y0.dim()={y0.dim()}.")
    if max_iter < 1:
        raise ValueError(f"max_iter={max_iter} must be >= 1.")
    dtype = compute_dtype(y0, xs)
    if dtype != y0.dtype or any(x.dtype in _HALF for x in xs):
        # Solve in the compute dtype (x's half tensors cast, differentiably) and
        # round the result to y0's dtype.
        cast = tuple(x.to(dtype) if x.dtype in _HALF else x for x in xs)
        result = root_find(
            F,
            cast if tuple_x else cast[0],
            y0.to(dtype),
            event_ndim=event_ndim,
            method=method,
            tol=tol,
            max_iter=max_iter,
            singular_tol=singular_tol,
            on_failure=on_failure,
            return_info=return_info,
            compile=compile,
        )
        if isinstance(result, tuple):
            return result[0].to(y0.dtype), result[1]
        return result.to(y0.dtype)
    if tol is None:
        tol = default_tol(y0.dtype) if method == "newton" else 1e-6
    if not tol > 0:
        raise ValueError(f"tol={tol} must be > 0.")
    if singular_tol is None:
        singular_tol = torch.finfo(y0.dtype).eps ** (1 / 3)

    what = "|F_y|" if event_ndim == 0 else "smallest singular value of F_y"
    scalar = math.prod(split(y0.shape, event_ndim)[1]) == 1
    compiled = compiled_for(F) if compile and scalar and method == "newton" else None
    solver = _Solver(F, tuple_x, event_ndim, method, tol, max_iter, singular_tol, on_failure)
    spec = Spec(F, tuple_x, event_ndim, singular_tol, on_failure, what, compiled)
    y, *diagnostics = apply(spec, dataclasses.replace(solver, compiled=compiled), y0, xs)
    return (y, RootInfo(*diagnostics[:5])) if return_info else y


# One graph break where a caller's torch.compile reaches root_find (its solver
# decides from values, so no graph can hold it): the solve and every derivative
# run eagerly, F included; the caller's code around it is compiled.
_eager_root_find = torch.compiler.disable(
    root_find,
    reason="implicit.root_find runs a data-dependent solver loop: it is one graph break "
    "(compile without fullgraph=True, or call root_find outside the compiled function)",
)


@dataclasses.dataclass(frozen=True)
class _Solver:
    """``root_find``'s forward for one ``F``: ``(y0, xs) -> (y, RootInfo, scale)``,
    failure policy applied.  ``batched(F, x_dims)`` is the same solver for another ``F``
    (the Function's vmap rule passes ``F`` vmapped over a new batch dimension)."""

    F: Fn
    tuple_x: bool
    event_ndim: int
    method: str
    tol: float
    max_iter: int
    singular_tol: float
    on_failure: str
    compiled: Compiled | None = None

    def batched(self, F: Fn, x_dims: Any = None) -> _Solver:
        return dataclasses.replace(self, F=F, compiled=None)

    def __call__(self, y0: torch.Tensor, xs: tuple[torch.Tensor, ...]) -> tuple[Any, RootInfo, Any]:
        F, tuple_x, event_ndim, compiled = self.F, self.tuple_x, self.event_ndim, self.compiled

        def G(y: torch.Tensor) -> torch.Tensor:
            return F(xs if tuple_x else xs[0], y)

        if compiled is None:
            start = _validate(G, y0, event_ndim, xs)
            y_star, stats = _METHODS[self.method](G, y0, start, event_ndim, self.tol, self.max_iter)
        else:
            fused = Fused(compiled, F, tuple_x, xs, event_ndim)
            validate = functools.partial(_validate, G, y0, event_ndim, xs)
            start = compiled_start(fused.value_and_jacobian, validate, y0)
            y_star, stats = newton(G, y0, start, event_ndim, self.tol, self.max_iter, fused=fused)
        singular, scale = singular_at_solution(
            lambda xs, y: F(xs if tuple_x else xs[0], y),
            G,
            xs,
            y_star,
            stats,
            event_ndim,
            self.singular_tol,
            change_of=None if compiled is None else compiled_change(compiled, F, tuple_x),
        )
        stalled = multiple_root(stats, y_star, event_ndim, self.singular_tol)
        info = RootInfo(
            converged=stats["converged"],
            iterations=stats["iterations"],
            residual=stats["residual"],
            sigma_min=stats["sigma_min"],
            singular=stats["broken"] | singular | stalled,
        )
        what = "|F_y|" if event_ndim == 0 else "smallest singular value of F_y"
        y_star = _apply_policy(
            y_star, info, stats, what, event_ndim, self.max_iter, self.on_failure
        )
        return y_star, info, scale


def _validate(
    G: Callable[[torch.Tensor], torch.Tensor],
    y0: torch.Tensor,
    event_ndim: int,
    xs: tuple[torch.Tensor, ...],
) -> tuple[torch.Tensor, torch.Tensor]:
    """Check ``F``'s output shape and closures; return ``F(x, y0)`` and ``F_y`` there."""
    x_shapes = ", ".join(str(tuple(x.shape)) for x in xs)
    with torch.enable_grad():
        y_in = y0.detach().requires_grad_()
        try:
            value = G(y_in)
        except RuntimeError as error:
            try:
                torch.broadcast_shapes(y0.shape, *(x.shape for x in xs))
            except RuntimeError:
                raise ValueError(
                    f"F(x, y0) failed, and x of shape {x_shapes} does not broadcast with y0 "
                    f"of shape {tuple(y0.shape)}: give x y0's batch shape (or one that "
                    f"broadcasts to it). F raised: {error}"
                ) from error
            raise
        if not isinstance(value, torch.Tensor) or value.shape != y0.shape:
            shape = getattr(value, "shape", type(value).__name__)
            raise ValueError(
                f"F(x, y) must return a tensor of y's shape {tuple(y0.shape)}; got {shape} "
                f"(x has shape {x_shapes})."
            )
        leaf = captured(value, (y_in,))
        if leaf is not None:
            raise ImplicitError(
                f"F depends on a tensor of shape {tuple(leaf.shape)} that requires grad "
                "but is not in x: it reaches F through a closure, so it would silently get "
                "no gradient. Pass it in x (a tuple of tensors) and read it there, or detach it."
            )
        J = jacobian(value, y_in, event_ndim)
    return value.detach(), J


def _apply_policy(
    y: torch.Tensor,
    info: RootInfo,
    stats: dict[str, Any],
    what: str,
    event_ndim: int,
    max_iter: int,
    on_failure: str,
) -> torch.Tensor:
    """Raise (or warn and put NaN) for each failed problem, naming the real cause:
    a singular ``F_y`` at a solution; ``F`` NaN/inf at an iterate; ``F_y`` singular
    at an iterate that is not a root; no convergence within ``max_iter``."""
    if not any_(info.singular | ~info.converged):
        return y
    fail(
        SingularJacobianError,
        info.singular,
        info.sigma_min,
        what,
        "F_y is singular at the solution (a vertical tangent, a multiple root or a singular "
        "point of the curve): y(x) is not differentiable there; move x away from it, or try "
        "another y0.",
        on_failure,
    )
    failed_at = stats["failed_at"]
    nonfinite = stats["nonfinite"] & ~info.singular
    fail(
        NonConvergenceError,
        nonfinite,
        failed_at,
        "iterate at which F(x, y) returned NaN or inf (0 = y0)",
        "y left F's domain or F overflowed there: start inside the domain (y0), or make "
        "F finite along the way (e.g. clamp its argument).",
        on_failure,
    )
    stuck = stats["stuck"] & ~info.singular & ~nonfinite
    fail(
        NonConvergenceError,
        stuck,
        info.residual,
        "residual max|F| at an iterate where F_y is singular",
        "Newton cannot step from a point where F_y = 0 that is not a root: try another "
        "y0, and check that F(x, .) has a real root near it.",
        on_failure,
    )
    not_converged = ~info.converged & ~info.singular & ~nonfinite & ~stuck
    fail(
        NonConvergenceError,
        not_converged,
        info.residual,
        f"residual max|F| after {max_iter} iterations",
        "Raise max_iter, start closer to the root (y0), or check that F(x, .) has a real "
        "root near y0 (the residual does not fall to 0).",
        on_failure,
    )
    failed = info.singular | ~info.converged
    mask = failed.reshape(tuple(failed.shape) + (1,) * event_ndim)
    return torch.where(mask, torch.full_like(y, math.nan), y)
