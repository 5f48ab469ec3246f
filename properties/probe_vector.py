"""The probe's vector-root stages: ``implicit(F, x, y0)`` with ``y`` in R^m, ``x`` in R^n.

TORCH AND STANDARD LIBRARY ONLY, loaded by path beside ``probe.py`` by
``probe_conformance`` (which runs it only when the request's ``claims`` hold
``"vector_roots"``, each stage under its deadline).  ``F`` is built from the
request's torch source: ``F(x, y)`` returns the ``m`` components stacked, for
``x`` of shape ``(n,)`` and ``y`` of shape ``(m,)``.

Stages, each on a fresh call so that one failure does not hide the others:

- ``vector_call``: ``y = solve(F, x, y0)``; its values, shape and ``|F(x, y)|``
  in float64;
- ``vector_jacobian``: ``dy/dx`` by reverse mode, one vjp per output row
  (``e_i^T dy/dx``, ``m`` rows of ``n``): the rows of a transposed backward
  come out as the columns of ``-F_y^-T F_x``, visible when ``F_y`` is not symmetric;
- ``vector_d2y``: ``g = grad(w^T y, x)`` with ``create_graph``, then one backward
  per component of ``g``: ``d2(w^T y)/dx2`` (``n`` rows of ``n``).

Nothing here judges: ``properties.checks.vector`` reads the result.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

Json = dict[str, Any]
_GRAD = torch.autograd.grad

# The request and observation formats: ``probe_wire.REQUEST["vector"]``,
# ``probe_wire.OBSERVATION["vector"]``, ``probe_wire.STAGES["vector"]``.


def vector_function(sources: list[str]) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    """``F(x, y)``: the components of ``sources`` evaluated and stacked (shape ``(m,)``)."""
    codes = [compile(s, f"<F[{i}]>", "eval") for i, s in enumerate(sources)]

    def F(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        names = {"torch": torch, "__builtins__": {}}
        parts = []
        for code in codes:
            value = eval(code, names, {"x": x, "y": y})
            if not isinstance(value, torch.Tensor):
                value = torch.tensor(float(value), dtype=y.dtype)
            parts.append(value.reshape(()))
        return torch.stack(parts)

    return F


def observe(
    wire: Json,
    solve: Callable[..., Any],
    stage: Callable[[Json, str], Any],
    values: Any,
) -> Json:
    """The vector observation of ``solve(F, x, y0)`` (keys: ``probe_wire.OBSERVATION["vector"]``).

    Args:
        wire: the vector request (``probe_wire.REQUEST["vector"]``).
        solve: the candidate, ``solve(F, x, y0) -> y``.
        stage: ``stage(out, name)``, a context manager that records the block's
            warnings and exception in ``out`` (``<name>_error``) under the deadline.
        values: ``probe_values`` (``numbers``, ``as_tensor``).
    """
    dtype = getattr(torch, wire.get("dtype", "float64"))
    F = vector_function(list(wire["F"]))
    x, y0 = [float(v) for v in wire["x"]], [float(v) for v in wire["y0"]]
    m, n = len(y0), len(x)
    w = [float(v) for v in wire.get("weights") or [1.0] * m]
    out: Json = {"kind": "vector", "dtype": str(dtype).removeprefix("torch."), "m": m, "n": n}

    def call() -> tuple[torch.Tensor, torch.Tensor]:
        xt = torch.tensor(x, dtype=dtype, requires_grad=True)
        y0t = torch.tensor(y0, dtype=dtype)
        return xt, values.as_tensor(solve(F, xt, y0t), "solve(F, x, y0)")

    with stage(out, "vector_call"):
        xt, y = call()
        out["y_shape"] = list(y.shape)
        out["y"] = values.numbers(y)
        with torch.no_grad():
            y64 = y.detach().to(torch.float64).reshape(-1)
            if y64.numel() == m:
                residual = F(torch.tensor(x, dtype=torch.float64), y64).abs().max()
                out["residual"] = values.number(residual)
    if "vector_call_error" in out:
        return out
    with stage(out, "vector_jacobian"):
        xt, y = call()
        rows = []
        flat = y.reshape(-1)
        for i in range(flat.numel()):
            (g,) = _GRAD(flat[i], xt, retain_graph=i < flat.numel() - 1)
            rows.append(values.numbers(g))
        out["vector_jacobian"] = rows
    with stage(out, "vector_d2y"):
        xt, y = call()
        weight = torch.tensor(w, dtype=y.dtype).reshape(y.shape)
        (g,) = _GRAD(y, xt, weight, create_graph=True)
        g = g.reshape(-1)
        # A gradient without a graph has zero second derivative as autograd sees it
        # (right for a linear F; the judge says which backward is not differentiable).
        out["vector_d2y_graph"] = bool(g.requires_grad)
        rows = []
        for a in range(n):
            h = None
            if g.requires_grad:
                (h,) = _GRAD(g[a], xt, retain_graph=True, allow_unused=True)
            rows.append(values.numbers(torch.zeros(n) if h is None else h))
        out["vector_d2y"] = rows
    return out
