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
