"""What the probe's stages share: plain values from tensors, and the stage guard.

TORCH AND STANDARD LIBRARY ONLY: ``probe.py`` loads this file by path beside
itself (a grading worker cannot import the ``properties`` package).  Nothing
here runs or judges the candidate; it turns what the candidate returned into
JSON-able values (``number``, ``numbers``, ``graph_size``) and records a
stage's warnings and exception (``Stages``).
"""

from __future__ import annotations

import contextlib
import math
import os
import time
import traceback
import warnings
from collections.abc import Callable, Iterator
from typing import Any

import torch

#: Longest error or warning message kept, and most warnings kept.
MESSAGE_LIMIT = 300
MAX_WARNINGS = 10
NODE_LIMIT = 100_000

Json = dict[str, Any]


def number(value: Any) -> float | str | None:
    """A plain float (or "nan"/"inf"/"-inf"), None when ``value`` is not a number."""
    if value is None:
        return None
    try:
        if isinstance(value, torch.Tensor):
            if value.numel() != 1:
                return None
            value = value.detach().reshape(()).item()
        out = float(value)
    except (TypeError, ValueError, RuntimeError):
        return None
    return out if math.isfinite(out) else repr(out)


def numbers(value: Any) -> list[float | str | None] | None:
    """A flat list of plain numbers from a tensor or sequence, None if impossible."""
    try:
        if isinstance(value, torch.Tensor):
            value = value.detach().reshape(-1).tolist()
        return [number(v) for v in value]
    except (TypeError, RuntimeError):
        return None


def error_record(exc: BaseException) -> Json:
    """``{"type", "message", "where"}`` of an exception, the message cut at ``MESSAGE_LIMIT``.

    ``where`` is the deepest frame of the traceback in the code under test (not
    torch, not the probe, not the standard library): ``"line N of FILE: source"``,
    or "" when there is none.
    """
    text = str(exc)
    if len(text) > MESSAGE_LIMIT:
        text = text[:MESSAGE_LIMIT] + " ..."
    return {"type": type(exc).__name__, "message": text, "where": _where(exc)}


def _where(exc: BaseException) -> str:
    ours = os.path.dirname(os.path.abspath(__file__))
    library = (os.path.dirname(os.__file__), os.path.dirname(torch.__file__))
    found = ""
    for frame in traceback.extract_tb(exc.__traceback__):
        path = os.path.abspath(frame.filename)
        if frame.filename.startswith("<") or path.startswith(library):
            continue
        if os.path.dirname(path) == ours and os.path.basename(path).startswith(
            ("probe", "worker", "assignments", "candidates")
        ):
            continue
        found = f"line {frame.lineno} of {os.path.basename(path)}: {(frame.line or '').strip()}"
    return found[:MESSAGE_LIMIT]


class Stages:
    """Runs guarded stages and collects their warnings and errors into ``obs``.

    Args:
        obs: the observation being written.
        error_key: where a stage that raised is recorded (``probe_wire.error_key``).
    """

    def __init__(self, obs: Json, error_key: Callable[[str], str]) -> None:
        self.obs = obs
        self.error_key = error_key
        obs.setdefault("warnings", [])

    @contextlib.contextmanager
    def stage(self, name: str) -> Iterator[None]:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                yield
            except Exception as exc:  # the candidate may raise anything
                self.obs[self.error_key(name)] = error_record(exc)
        for w in caught[:MAX_WARNINGS]:
            if len(self.obs["warnings"]) < MAX_WARNINGS:
                self.obs["warnings"].append(
                    {
                        "stage": name,
                        "category": w.category.__name__,
                        "message": str(w.message)[:MESSAGE_LIMIT],
                    }
                )


def as_tensor(y: Any, what: str) -> torch.Tensor:
    """``y`` itself when it is a tensor; a ``TypeError`` naming ``what`` otherwise."""
    if not isinstance(y, torch.Tensor):
        raise TypeError(f"{what} returned {type(y).__name__}, expected a torch.Tensor")
    return y


def timed_call(
    obs: Json, out: str, what: str, call: Callable[[], Any], **inputs: torch.Tensor
) -> torch.Tensor:
    """Run the candidate's ``call`` once; record in ``obs`` its ``time``, which of
    ``inputs`` it ``mutated``, and ``<out>_shape`` / ``<out>_dtype`` of its result."""
    before = {name: t.detach().clone() for name, t in inputs.items()}
    start = time.perf_counter()
    result = as_tensor(call(), what)
    obs["time"] = time.perf_counter() - start
    obs["mutated"] = [
        name for name, t in inputs.items() if not torch.equal(t.detach(), before[name])
    ]
    obs[f"{out}_shape"] = list(result.shape)
    obs[f"{out}_dtype"] = str(result.dtype).removeprefix("torch.")
    return result


def graph_size(output: torch.Tensor) -> int:
    """Number of autograd graph nodes reachable from ``output.grad_fn`` (0 if none)."""
    root = output.grad_fn
    if root is None:
        return 0
    seen = {root}
    stack = [root]
    while stack and len(seen) < NODE_LIMIT:
        node = stack.pop()
        for child, _ in getattr(node, "next_functions", ()):
            if child is not None and child not in seen:
                seen.add(child)
                stack.append(child)
    return len(seen)


def curve_function(source: str) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    """``F(x, y)`` from torch-evaluable source over ``x``, ``y`` and ``torch``.

    The result always has the broadcast shape of ``x`` and ``y`` (a constant
    expression is broadcast too).
    """
    code = compile(source, "<F>", "eval")

    def F(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        value = eval(code, {"torch": torch, "__builtins__": {}}, {"x": x, "y": y})
        if not isinstance(value, torch.Tensor):
            like = x if isinstance(x, torch.Tensor) else y
            value = torch.full_like(like, float(value))
        return value

    return F


#: Bound at load, before any candidate runs (a candidate cannot swap it).
_GRAD = torch.autograd.grad


def gradient(
    y: torch.Tensor,
    x: torch.Tensor,
    weight: torch.Tensor,
    no_graph: list[str] | None = None,
    stage: str = "",
    **kwargs: Any,
) -> Any:
    """``weight^T dy/dx``, shaped like ``x``.

    Where ``y`` carries no autograd graph to ``x`` (it does not require grad, or
    ``x`` is unused) autograd's answer is None, the zero gradient: zeros are
    returned and ``stage`` is appended to ``no_graph``, so the checks can tell a
    zero derivative that is right (``y`` does not depend on ``x``) from a
    result that was cut from its inputs.
    """
    g = _GRAD(y, x, weight, allow_unused=True, **kwargs)[0] if y.requires_grad else None
    if g is None:
        if no_graph is not None and stage not in no_graph:
            no_graph.append(stage)
        return torch.zeros_like(x)
    return g


class MapRecorder:
    """A map case's ``f`` from its sources (``f(a)(x)``, one expression per component,
    evaluated with only ``torch`` in scope), wrapped so that every point it is
    evaluated at is counted (forward) or recorded (``phase = "backward"``)."""

    def __init__(self, sources: list[str], scalar: bool) -> None:
        self.codes = [compile(s, f"<f[{i}]>", "eval") for i, s in enumerate(sources)]
        self.scalar = scalar
        self.phase = "forward"
        self.forward_calls = 0
        self.backward_points: list[list[float]] = []

    def f(self, a: Any) -> Callable[[torch.Tensor], torch.Tensor]:
        def step(x: torch.Tensor) -> torch.Tensor:
            if self.phase == "backward":
                self.backward_points.append(x.detach().to(torch.float64).reshape(-1).tolist())
            else:
                self.forward_calls += 1
            return self.evaluate(a, x)

        return step

    def evaluate(self, a: Any, x: torch.Tensor) -> torch.Tensor:
        names = {"torch": torch, "__builtins__": {}}
        parts = []
        for code in self.codes:
            value = eval(code, names, {"a": a, "x": x})
            if not isinstance(value, torch.Tensor):
                value = torch.tensor(float(value), dtype=x.dtype)
            parts.append(value.reshape(()))
        return parts[0] if self.scalar else torch.stack(parts)


def distance_norm(x: torch.Tensor, x_prev: torch.Tensor) -> torch.Tensor:
    """The map cases' ``distance(x, x_prev)``: the Euclidean norm of the step."""
    return torch.linalg.vector_norm(x - x_prev)
