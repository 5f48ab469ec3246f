"""The probe's conformance stages: loss scale, forward mode, torch.func, second order, hazards.

TORCH AND STANDARD LIBRARY ONLY, loaded by path beside ``probe.py`` (like the
other ``probe_*.py`` files).  ``probe.observe`` calls these when the request has
``"conformance": true``; what they record goes under the observation's
``"conformance"`` key (keys: ``probe_wire.CONFORMANCE``).  A capability's
stages run only when the request's ``claims`` list it; the properties every
target must have (loss scale, the gradient of a closure's parameter) always
run.  Every stage runs under a deadline (``deadline``): a candidate that hangs
is stopped and recorded as having raised ``TimeoutError``, so one hang costs
one stage, not the run.

Nothing here judges: ``properties.checks.conformance`` reads the result.
"""

from __future__ import annotations

import contextlib
import importlib.util
import math
import os
import signal
import threading
from collections.abc import Callable, Iterator
from typing import Any

import torch
from torch.autograd import forward_ad

Json = dict[str, Any]


def _load(name: str) -> Any:
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), f"{name}.py")
    spec = importlib.util.spec_from_file_location(f"_iv_{name}", path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_values = _load("probe_values")
_wire = _load("probe_wire")
_vector = _load("probe_vector")
number, numbers, Stages = _values.number, _values.numbers, _values.Stages
as_tensor, gradient = _values.as_tensor, _values.gradient


class _Deadline(BaseException):
    """Raised in the main thread when a stage overruns (a BaseException, so that a
    candidate's own ``except Exception`` cannot swallow it and keep looping)."""


@contextlib.contextmanager
def deadline(seconds: float | None) -> Iterator[None]:
    """Stop the block after ``seconds`` of wall-clock time with a ``TimeoutError``.

    Uses ``SIGALRM`` in the main thread only (elsewhere, or without a deadline,
    the block runs unbounded and the grading worker's own deadline applies); a
    timer already running (pytest-timeout, say) is restored afterwards.
    Python-level loops are stopped; a single C call that never returns is not.
    """
    usable = (
        seconds is not None
        and seconds > 0
        and hasattr(signal, "setitimer")
        and threading.current_thread() is threading.main_thread()
    )
    if not usable:
        yield
        return

    def expire(signum: int, frame: Any) -> None:
        raise _Deadline

    previous = signal.signal(signal.SIGALRM, expire)
    outer, _ = signal.setitimer(signal.ITIMER_REAL, float(seconds))  # type: ignore[arg-type]
    try:
        yield
    except _Deadline:
        raise TimeoutError(
            f"did not return within the deadline of {seconds:g} s (a loop without an "
            "iteration cap, or one whose stopping test can never hold?)"
        ) from None
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
        if outer:
            signal.setitimer(signal.ITIMER_REAL, outer)


@contextlib.contextmanager
def stage(run: Any, name: str, seconds: float | None) -> Iterator[None]:
    """``run.stage(name)`` (errors and warnings recorded) under ``deadline(seconds)``."""
    with run.stage(name), deadline(seconds):
        yield


def _claimed(wire: Json) -> set[str]:
    return set(wire.get("claims") or ())


def _scales(wire: Json) -> list[float]:
    return [float(s) for s in wire.get("scales") or _wire.LOSS_SCALES]


class _Layer(torch.nn.Module):
    """A layer's parameters, reaching the problem only through a closure, as a module's
    weights do: ``theta`` (0-d, added) and ``phi`` (the state's shape, multiplying it),
    both 0, so the solution is the case's own; ``layer(z) = theta + phi * z``."""

    def __init__(self, like: torch.Tensor) -> None:
        super().__init__()
        self.theta = torch.nn.Parameter(torch.zeros((), dtype=like.dtype))
        self.phi = torch.nn.Parameter(torch.zeros_like(like))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.theta + self.phi * z


def _closure_grad(out: torch.Tensor, layer: _Layer, weight: torch.Tensor) -> Json:
    """``{graph, grad, phi}``: whether ``out`` has a graph, and ``weight^T d out / d p``
    for ``p = theta`` (a number) and ``p = phi`` (a list); None where autograd finds no
    path from ``out`` to that parameter."""
    if not out.requires_grad:
        return {"graph": False, "grad": None, "phi": None}
    g_theta, g_phi = torch.autograd.grad(out, (layer.theta, layer.phi), weight, allow_unused=True)
    return {
        "graph": True,
        "grad": None if g_theta is None else number(g_theta),
        "phi": None if g_phi is None else numbers(g_phi),
    }


# ----------------------------------------------------------------------- curves


def observe_curve(wire: Json, solve: Callable[..., Any], F: Callable[..., Any]) -> Json:
    """The conformance observation of ``solve(F, x, y0)`` on a curve request."""
    dtype = getattr(torch, wire.get("dtype", "float64"))
    x, y0 = float(wire["x"]), float(wire["y0"])
    seconds = float(wire.get("deadline", _wire.DEADLINE))
    claims = _claimed(wire)
    out: Json = {"claims": sorted(claims)}
    run = Stages(out, _wire.error_key)

    def point(value: float, grad: bool = True) -> torch.Tensor:
        return torch.tensor(value, dtype=dtype, requires_grad=grad)

    def y_of(xt: torch.Tensor, y0t: torch.Tensor | None = None) -> torch.Tensor:
        start = torch.tensor(y0, dtype=dtype) if y0t is None else y0t
        return as_tensor(solve(F, xt, start), "solve(F, x, y0)")

    with stage(run, "loss_scale", seconds):
        scales = _scales(wire)
        grads = []
        for s in scales:
            xt = point(x)
            y = y_of(xt)
            grads.append(number(gradient(y, xt, torch.full_like(y, s))))
        out["loss_scale"] = {"scales": scales, "grads": grads}
    with stage(run, "closure_gradient", seconds):
        layer, xt = _Layer(torch.tensor(y0, dtype=dtype)), point(x)
        y = as_tensor(
            solve(lambda x_, y_: F(x_, y_) + layer(y_), xt, torch.tensor(y0, dtype=dtype)),
            "solve(F, x, y0)",
        )
        w = float(wire.get("weight", 1.0))
        out["closure_gradient"] = {**_closure_grad(y, layer, torch.full_like(y, w)), "weight": w}
    if "forward_mode" in claims:
        with stage(run, "forward_ad", seconds), forward_ad.dual_level():
            dual = forward_ad.make_dual(point(x, False), torch.tensor(1.0, dtype=dtype))
            out["forward_ad"] = number(forward_ad.unpack_dual(y_of(dual)).tangent)
        with stage(run, "func_jvp", seconds):
            _, tangent = torch.func.jvp(y_of, (point(x, False),), (torch.tensor(1.0, dtype=dtype),))
            out["func_jvp"] = number(tangent)
    if "torch_func" in claims:
        _curve_func(out, run, wire, y_of, point, dtype, seconds)
    return out


def _curve_func(
    out: Json,
    run: Any,
    wire: Json,
    y_of: Callable[..., torch.Tensor],
    point: Callable[..., torch.Tensor],
    dtype: torch.dtype,
    seconds: float,
) -> None:
    x, w = float(wire["x"]), float(wire.get("weight", 1.0))
    xs = [float(v) for v in wire.get("batch_x") or _wire.batch_points(x)]
    y0s = [float(v) for v in wire.get("batch_y0") or [float(wire["y0"])] * len(xs)]
    with stage(run, "func_grad", seconds):
        out["func_grad"] = number(torch.func.grad(y_of)(point(x, False)))
    with stage(run, "func_vjp", seconds):
        _, pullback = torch.func.vjp(y_of, point(x, False))
        (g,) = pullback(torch.tensor(w, dtype=dtype))
        out["func_vjp"] = {"weight": w, "grad": number(g)}
    # Reverse mode one point at a time: what the batched transforms must agree with.
    singles = {"y": [], "grad": []}
    for xi, y0i in zip(xs, y0s):
        try:
            xt = point(xi)
            yi = y_of(xt, torch.tensor(y0i, dtype=dtype))
            singles["y"].append(number(yi))
            singles["grad"].append(number(gradient(yi, xt, torch.ones_like(yi))))
        except Exception:  # judged by the assignment's own batch check
            singles["y"].append(None)
            singles["grad"].append(None)
    out["singles"] = {"x": xs, **singles}
    batch_x, batch_y0 = torch.tensor(xs, dtype=dtype), torch.tensor(y0s, dtype=dtype)
    with stage(run, "func_jacrev", seconds):
        jac = torch.func.jacrev(lambda xt: y_of(xt, batch_y0))(batch_x)
        out["func_jacrev"] = [numbers(row) for row in jac.reshape(len(xs), len(xs))]
    with stage(run, "func_vmap", seconds):
        # The roots first: a wrong vmap rule shows there even when grad under vmap raises.
        out["func_vmap"] = {"y": numbers(torch.func.vmap(y_of)(batch_x, batch_y0))}
        grads = torch.func.vmap(torch.func.grad(y_of))(batch_x, batch_y0)
        out["func_vmap"]["grad"] = numbers(grads)


# ------------------------------------------------------------------------- maps


def observe_map(
    wire: Json,
    fixed_point: Callable[..., Any],
    new_f: Callable[[], Callable[..., Any]],
    inputs: Callable[..., tuple[torch.Tensor, torch.Tensor]],
    distance: Callable[..., Any],
) -> Json:
    """The conformance observation of ``fixed_point(f, a, x0, distance, tol)``.

    Args:
        wire: the map request.
        fixed_point: the candidate.
        new_f: a fresh curried map ``f`` (the probe's recorder).
        inputs: ``inputs(dtype) -> (a, x0)``, ``a`` requiring grad.
        distance: the Euclidean distance handed to the candidate.
    """
    dtype = getattr(torch, wire.get("dtype", "float64"))
    tol, seconds = float(wire["tol"]), float(wire.get("deadline", _wire.DEADLINE))
    m, k = len(wire["f"]), len(wire["a"])
    v = [float(t) for t in wire.get("weights") or [1.0] * m]
    tangent = [1.0 + 0.5 * j for j in range(k)]
    claims = _claimed(wire)
    out: Json = {"claims": sorted(claims), "tangent": tangent}
    run = Stages(out, _wire.error_key)
    scalar = bool(wire.get("scalar", False))

    def x_of(a: torch.Tensor) -> torch.Tensor:
        _, x0 = inputs(dtype)
        return as_tensor(fixed_point(new_f(), a, x0, distance, tol), "fixed_point(...)")

    def shaped(values: list[float], like: torch.Tensor) -> torch.Tensor:
        return torch.tensor(values[0] if scalar else values, dtype=dtype).reshape(like.shape)

    with stage(run, "loss_scale", seconds):
        scales, vjps = _scales(wire), []
        for s in scales:
            a, _ = inputs(dtype)
            x = x_of(a)
            vjps.append(numbers(gradient(x, a, shaped([s * t for t in v], x))))
        out["loss_scale"] = {"scales": scales, "vjps": vjps}
    with stage(run, "closure_gradient", seconds):
        base = new_f()
        a, x0 = inputs(dtype)
        layer = _Layer(x0)

        def shifted(a_: Any) -> Callable[[torch.Tensor], torch.Tensor]:
            step = base(a_)
            return lambda x_: step(x_) + layer(x_)

        x = as_tensor(fixed_point(shifted, a, x0, distance, tol), "fixed_point(...)")
        out["closure_gradient"] = _closure_grad(x, layer, shaped(v, x))
    if "forward_mode" in claims:
        with stage(run, "forward_ad", seconds), forward_ad.dual_level():
            a, _ = inputs(dtype)
            dual = forward_ad.make_dual(a.detach(), shaped(tangent, a))
            out["forward_ad"] = numbers(forward_ad.unpack_dual(x_of(dual)).tangent)
        with stage(run, "func_jvp", seconds):
            a, _ = inputs(dtype)
            _, t = torch.func.jvp(x_of, (a.detach(),), (shaped(tangent, a),))
            out["func_jvp"] = numbers(t)
    if "second_order" in claims:
        with stage(run, "d2x_da2", seconds):
            a, _ = inputs(dtype)
            x = x_of(a)
            g = gradient(x, a, shaped(v, x), create_graph=True)
            g = g.reshape(-1)
            one = torch.ones_like(g[0])
            out["d2x_da2"] = [
                numbers(gradient(g[j], a, one, retain_graph=j < k - 1)) for j in range(k)
            ]
    if "torch_func" in claims:
        with stage(run, "func_grad", seconds):
            a, _ = inputs(dtype)

            def loss(a_: torch.Tensor) -> torch.Tensor:
                x = x_of(a_)
                return (x * shaped(v, x)).sum()

            out["func_grad"] = numbers(torch.func.grad(loss)(a.detach()))
        with stage(run, "func_vjp", seconds):
            a, _ = inputs(dtype)
            x, pullback = torch.func.vjp(x_of, a.detach())
            out["func_vjp"] = numbers(pullback(shaped(v, x))[0])
        with stage(run, "func_jacrev", seconds):
            a, _ = inputs(dtype)
            out["func_jacrev"] = [
                numbers(r) for r in torch.func.jacrev(x_of)(a.detach()).reshape(m, k)
            ]
    return out


def observe_hazard(
    wire: Json,
    fixed_point: Callable[..., Any],
    new_f: Callable[[], Callable[..., Any]],
    inputs: Callable[..., tuple[torch.Tensor, torch.Tensor]],
    distance: Callable[..., Any],
) -> Json:
    """A map with no convergent iteration or a singular ``I - f_x``: the call and
    one backward, each under the deadline, with what they raised or warned."""
    dtype = getattr(torch, wire.get("dtype", "float64"))
    seconds = float(wire.get("deadline", _wire.DEADLINE))
    obs: Json = {"kind": "map", "hazard": True, "deadline": seconds}
    run = Stages(obs, _wire.error_key)
    with stage(run, "call", seconds):
        a, x0 = inputs(dtype)
        x = as_tensor(fixed_point(new_f(), a, x0, distance, float(wire["tol"])), "fixed_point")
        obs["x"] = numbers(x)
    if "call_error" in obs:
        return obs
    values = [v for v in obs["x"] or [] if isinstance(v, float)]
    if len(values) != len(obs["x"] or [None]) or not all(math.isfinite(v) for v in values):
        return obs  # non-finite: already a signal, nothing to differentiate
    with stage(run, "vjp", seconds):
        obs["vjp"] = numbers(gradient(x, a, torch.ones_like(x)))
    return obs


# ----------------------------------------------------------------------- vector


def observe_vector(wire: Json, solve: Callable[..., Any]) -> Json:
    """A vector root request: ``probe_vector``'s stages on ``solve.vector_root``, each
    under the deadline, when the claims hold ``"vector_roots"``; else only the claims
    (nothing is called)."""
    claims = _claimed(wire)
    out: Json = {"kind": "vector", "claims": sorted(claims)}
    if "vector_roots" not in claims:
        return out
    vector_root = getattr(solve, "vector_root", None)
    if not callable(vector_root):
        missing = AttributeError(
            "the target claims 'vector_roots' but defines no vector_root(F, x, y0)"
        )
        return {**out, "vector_call_error": _values.error_record(missing)}
    seconds = float(wire.get("deadline", _wire.DEADLINE))

    @contextlib.contextmanager
    def guarded(record: Json, name: str) -> Iterator[None]:
        with stage(Stages(record, _wire.error_key), name, seconds):
            yield

    return {**_vector.observe(wire, vector_root, guarded, _values), **out}
