"""Opt-in ``torch.compile`` for ``root_find(..., compile=True)``.

On big batches of a cheap ``F`` each eager op is one pass over memory, and
Newton's ``F`` plus its vjp for ``F_y`` are a dozen of them; compiled, ``F`` and
``F_y`` come out of one fused kernel.  What is compiled is always a pure
function of tensors (``F`` and its derivatives), never the solver's decisions,
so the checks stay exactly those of the eager path.

Every compiled function is built per ``F`` (per code object for plain
functions, so that a lambda re-created on each call with the same code reuses
the compilation) from a fresh copy of a template's code object: torch.compile
keeps its cache and its recompile limit on the code object, so distinct ``F``'s
neither evict each other nor share that limit.  ``fullgraph=True``: either the
whole function is one graph or compilation fails; then that ``F`` is evaluated
eagerly from then on, with one warning.

Below the templates and ``Compiled`` is the glue the rest of the package calls:
``Fused`` (Newton's loop pieces), ``compiled_start`` and ``compiled_change``
(for ``root_find``) and ``compiled_backward`` (for the Function).  Each takes
the eager computation of the same quantities as its fallback.  Shapes: scalar
problems only, ``y`` is ``batch_shape`` (or ``batch_shape + (1,)``) and ``F_y``
comes back as ``batch_shape + (1, 1)``.
"""

from __future__ import annotations

import functools
import types
import warnings
import weakref
from collections.abc import Callable
from typing import Any

import torch

from ._common import Fn, Spec, all_
from ._linear import jacobian, split
from ._newton import SUFFICIENT_DECREASE
from ._singular import check_singular

# (result, F, tuple_x, xs, y) templates; copied per F, never compiled themselves.


def _value_and_F_y(F: Any, tuple_x: bool, xs: tuple[torch.Tensor, ...], y: torch.Tensor) -> Any:
    """``F(x, y)`` and the scalar ``F_y`` (a vjp with ones), in one graph."""
    value, vjp = torch.func.vjp(lambda y_: F(xs if tuple_x else xs[0], y_), y)[:2]
    (F_y,) = vjp(torch.ones_like(value))
    return value, F_y


def _backward(
    F: Any,
    tuple_x: bool,
    xs: tuple[torch.Tensor, ...],
    needs: tuple[bool, ...],
    y: torch.Tensor,
    grad_y: torch.Tensor,
    threshold: torch.Tensor,
) -> Any:
    """The scalar IFT backward in one graph: ``F_y`` at ``y``, ``u = grad_y / F_y``
    (NaN where ``|F_y| <= threshold``, the singular problems) and ``-u F_x`` for
    the ``x``'s in ``needs``; also ``F_y`` and the mask of regular problems."""
    wanted = [x for x, n in zip(xs, needs) if n]

    def G(y_: torch.Tensor, *wanted_: torch.Tensor) -> torch.Tensor:
        given = iter(wanted_)
        full = tuple(next(given) if n else x for x, n in zip(xs, needs))
        return F(full if tuple_x else full[0], y_)

    value, vjp = torch.func.vjp(G, y, *wanted)[:2]
    F_y = vjp(torch.ones_like(value))[0]
    regular = F_y.abs() > threshold
    u = torch.where(regular, grad_y / F_y, torch.nan)
    return F_y, regular, vjp(-u)[1:]


def _change(
    F: Any,
    tuple_x: bool,
    xs: tuple[torch.Tensor, ...],
    y: torch.Tensor,
    value: torch.Tensor | None,
    h: torch.Tensor,
) -> torch.Tensor:
    """``|F(x + h, y) - value| / h`` (``value`` None: 0), non-finite as 0."""
    moved = tuple(x + h if x.is_floating_point() else x for x in xs)
    change = F(moved if tuple_x else moved[0], y)
    if value is not None:
        change = change - value
    return (change.abs() / h).nan_to_num(nan=0.0, posinf=0.0)


def newton_step(
    value: torch.Tensor, F_y: torch.Tensor, y: torch.Tensor, active: torch.Tensor | None
) -> Any:
    """Newton's step ``value / F_y`` (0 where not ``active``), the relative step
    ``|step| / max(1, |y|)`` and its ``[min, max]``, in one pass."""
    step = value / F_y
    if active is not None:
        step = torch.where(active, step, 0.0)
    relative_step = step.abs() / y.abs().clamp(min=1)
    return step, relative_step, torch.stack(torch.aminmax(relative_step))


def _trial(
    F: Any,
    tuple_x: bool,
    xs: tuple[torch.Tensor, ...],
    y: torch.Tensor,
    step: torch.Tensor,
    residual: torch.Tensor,
    near: torch.Tensor | None,
) -> Any:
    """The line search's first trial, the full step: ``y - step``, ``F`` and ``F_y``
    there, ``|F|``, and whether every problem passed the sufficient-decrease test
    (or is ``near`` its root), in one pass."""
    y_try = y - step
    value, F_y = _value_and_F_y(F, tuple_x, xs, y_try)
    residual_try = value.abs()
    ok = residual_try <= (1 - SUFFICIENT_DECREASE) * residual
    if near is not None:
        ok = ok | near
    return y_try, value, F_y, residual_try, ok.all()


class Compiled:
    """The compiled functions of one ``F`` (or one code object), built lazily."""

    def __init__(self) -> None:
        self.failed: str | None = None  # why torch.compile could not be used
        self._functions: dict[str, Callable[..., Any]] = {}
        self._warm: set[str] = set()

    def call(self, name: str, eager: Callable[[], Any], *args: Any) -> Any:
        """The compiled template ``name`` on ``args``, or ``eager()`` if this ``F``
        cannot be compiled.

        An exception from the compiled call is re-tried eagerly first: if ``F``
        itself raises, the caller sees ``F``'s own error; only if eager succeeds
        is compilation given up for this ``F`` (with a warning).
        """
        if self.failed is not None or not usable():
            return eager()
        try:
            if name in self._warm:
                return self._function(name)(*args)
            with warnings.catch_warnings():
                # Importing inductor scripts a module of torch's: not ours to fix.
                warnings.filterwarnings(
                    "ignore", message="`torch.jit.script", category=DeprecationWarning
                )
                result = self._function(name)(*args)
            self._warm.add(name)
            return result
        except Exception as error:  # noqa: BLE001 (any failure of compile: eager decides)
            result = eager()
            self.give_up(error)
            return result

    def give_up(self, error: BaseException) -> None:
        first = (str(error).strip().splitlines() or [""])[0][:200]
        self.failed = f"{type(error).__name__}: {first}"
        warnings.warn(
            f"root_find(compile=True): torch.compile cannot compile F ({self.failed}); "
            "F is evaluated eagerly from now on (same results, eager speed).",
            UserWarning,
            stacklevel=2,
        )

    def _function(self, name: str) -> Callable[..., Any]:
        function = self._functions.get(name)
        if function is None:
            template = _TEMPLATES[name]
            fresh = types.FunctionType(
                template.__code__.replace(), template.__globals__, template.__name__
            )
            # dynamic=None: the first batch size is specialised, a second one
            # recompiles once with a symbolic size that then serves every size.
            function = torch.compile(fresh, fullgraph=True)
            self._functions[name] = function
        return function


_TEMPLATES: dict[str, Callable[..., Any]] = {
    "value_and_F_y": _value_and_F_y,
    "backward": _backward,
    "change": _change,
    "newton_step": newton_step,
    "trial": _trial,
}
_BY_CODE: dict[types.CodeType, Compiled] = {}
_BY_OBJECT: weakref.WeakKeyDictionary[Any, Compiled] = weakref.WeakKeyDictionary()


def compiled_for(F: Any) -> Compiled:
    """The ``Compiled`` of ``F``: shared by functions with the same code object
    (torch.compile guards on their closures and defaults), else by ``F`` itself."""
    code = getattr(getattr(F, "__func__", F), "__code__", None)
    if isinstance(code, types.CodeType):
        return _BY_CODE.setdefault(code, Compiled())
    try:
        return _BY_OBJECT.setdefault(F, Compiled())
    except TypeError as error:  # not weak-referenceable: nowhere to keep its compilation
        compiled = Compiled()
        compiled.give_up(error)
        return compiled


def usable() -> bool:
    """Not inside a torch.func transform (forward mode, vmap) nor inside a
    torch.compile of the caller's own: there the eager path is what is traced."""
    if torch.compiler.is_compiling():
        return False
    return torch._C._functorch.peek_interpreter_stack() is None


# The glue: what root_find and the Function call, each falling back to eager.


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


def compiled_change(compiled: Compiled, F: Fn, tuple_x: bool) -> Callable[..., torch.Tensor]:
    """``sensitivity_to_x``'s forward difference of a scalar problem, compiled."""

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


def compiled_start(
    value_and_jacobian: Callable[..., tuple[torch.Tensor, torch.Tensor]],
    validate: Callable[[], tuple[torch.Tensor, torch.Tensor]],
    y0: torch.Tensor,
) -> tuple[torch.Tensor, torch.Tensor]:
    """``validate()``'s result (``F(x, y0)`` and ``F_y`` there, after checking
    ``F``'s output shape and closures) by the compiled function; its checks, with
    their messages, by ``validate`` itself whenever the compiled output fails one."""
    validated = False

    def eager() -> tuple[torch.Tensor, torch.Tensor]:
        nonlocal validated
        validated = True
        value, J = validate()
        return value, J.reshape(y0.shape)

    value, J = value_and_jacobian(y0, eager)
    if not validated and (value.shape != y0.shape or value.requires_grad):
        value, J = validate()  # raises, naming the problem
    return value, J


class Fused:
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
            all_ok = torch.tensor(all_(ok), device=y.device)
            return y_try, value, J.reshape(y.shape), residual_try, all_ok

        with torch.enable_grad():  # as in value_and_jacobian (one set of guards)
            y_try, value, F_y, residual_try, all_ok = self.compiled.call(
                "trial", eager, self.F, self.tuple_x, self.xs, y, step, residual, near
            )
        return y_try, value, F_y.reshape(*F_y.shape, 1, 1), residual_try, bool(all_ok)


def compiled_backward(
    spec: Spec,
    compiled: Compiled,
    xs: list[torch.Tensor],
    needs: tuple[bool, ...],
    y: torch.Tensor,
    grad_y: torch.Tensor,
    scale: torch.Tensor,
    eager_grads: Callable[[], list[torch.Tensor | None]],
) -> list[torch.Tensor | None]:
    """The first-order backward of a scalar problem by one compiled function (no
    double backward: under create_graph the eager backward runs).  ``eager_grads``
    is that eager backward, the fallback when this ``F`` cannot be compiled."""

    def eager() -> tuple[torch.Tensor, None, list[torch.Tensor | None]]:
        return y, None, eager_grads()

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
    if not all_(regular):
        check_singular(spec, F_y.reshape(*F_y.shape, 1, 1), scale)  # raises or warns
    given = iter(grads)
    return [next(given) if n else None for n in needs]
