"""Run a candidate on one case and record what it did, as plain numbers.

SELF-CONTAINED: this module, and the ``probe_*.py`` files beside it that it
loads by path (``probe_wire``: the request and response format;
``probe_values``: plain values and the stage guard), import only torch and the
standard library.  A grading worker loads it by file path (the ``properties``
package is not importable there), calls ``observe(wire, candidate)`` and sends
the returned dict, which holds only JSON-able plain values, to the parent, where
``properties.checks.judge`` decides what it means.  Nothing here judges.

Calling conventions (``docs/ARCHITECTURE.md``):

- curve cases: ``candidate(F, x, y0) -> y`` with ``F(x, y) = 0``; ``x`` and
  ``y0`` are tensors of the same shape (0-d, or a batch of shape ``(n,)``).
- map cases: ``candidate(f, a, x0, distance, tol) -> x*`` (HIPS autograd's
  ``fixed_point``), ``f(a)`` returning the map and ``distance(x, x_prev)`` a
  scalar.

Every stage is run on fresh inputs and guarded on its own, so that a candidate
without (say) double backward still gets its first derivative recorded.  A
request with ``"conformance": true`` adds ``probe_conformance``'s stages (loss
scale, and the claimed forward mode, torch.func, second order), each under a
deadline; a map request with ``"hazard": true`` runs only the call and one
backward under it.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import time
import types
from collections.abc import Callable
from typing import Any

import torch


def _sibling(name: str) -> types.ModuleType:
    """The module ``name`` beside this file, loaded by path: where a worker runs the
    probe, the ``properties`` package is not importable (the grader copies the
    ``probe_*.py`` files beside ``probe.py``)."""
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), f"{name}.py")
    spec = importlib.util.spec_from_file_location(f"_iv_{name}", path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_wire = _sibling("probe_wire")
_values = _sibling("probe_values")
# Bound here, so that the worker's tamper check (``probe.NAME``) sees them.
GRADCHECK_OPTIONS, LOOSE_TOL_FACTOR = _wire.GRADCHECK_OPTIONS, _wire.LOOSE_TOL_FACTOR
GRADCHECK_MAP_TOL, MESSAGE_LIMIT = _wire.GRADCHECK_MAP_TOL, _values.MESSAGE_LIMIT
error_key, batch_points = _wire.error_key, _wire.batch_points
number, numbers, graph_size = _values.number, _values.numbers, _values.graph_size
error_record, as_tensor, timed_call = _values.error_record, _values.as_tensor, _values.timed_call
Stages, curve_function = _values.Stages, _values.curve_function
MapRecorder, distance_norm = _values.MapRecorder, _values.distance_norm
_grad = _values.gradient
_conformance = _sibling("probe_conformance")
#: The same options under their former name (``tests/test_checks.py`` compares them).
_GRADCHECK_OPTIONS = GRADCHECK_OPTIONS

# Private references taken at import time, before any submission is loaded: a
# submission that monkeypatches torch.autograd.gradcheck cannot change these.
_GRADCHECK = importlib.import_module("torch.autograd.gradcheck").gradcheck

Json = dict[str, Any]


# ----------------------------------------------------------------------- curves


def _curve_call(
    solve: Callable[..., Any],
    F: Callable[..., torch.Tensor],
    x: float | list[float],
    y0: float | list[float],
    dtype: torch.dtype,
    *,
    x_grad: bool = True,
    y0_grad: bool = False,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    xt = torch.tensor(x, dtype=dtype, requires_grad=x_grad)
    y0t = torch.tensor(y0, dtype=dtype, requires_grad=y0_grad)
    y = as_tensor(solve(F, xt, y0t), "solve(F, x, y0)")
    return xt, y0t, y


def observe_curve(wire: Json, solve: Callable[..., Any]) -> Json:
    """Observe ``solve(F, x, y0)`` on a curve case's wire dict (see ``observe``)."""
    dtype = getattr(torch, wire.get("dtype", "float64"))
    F = curve_function(wire["F"])
    x, y0, w = float(wire["x"]), float(wire["y0"]), float(wire.get("weight", 1.0))
    obs: Json = {"kind": "curve", "dtype": str(dtype).removeprefix("torch."), "x": x}
    obs.update({"y0": y0, "weight": w})
    run = Stages(obs, error_key)

    with run.stage("call"):
        xt = torch.tensor(x, dtype=dtype, requires_grad=True)
        y0t = torch.tensor(y0, dtype=dtype)
        y = timed_call(obs, "y", "solve(F, x, y0)", lambda: solve(F, xt, y0t), x=xt, y0=y0t)
        obs["y"] = number(y)
        obs["requires_grad"] = bool(y.requires_grad)
        with torch.no_grad():
            y64 = y.detach().to(torch.float64).reshape(())
            obs["residual"] = number(F(torch.tensor(x, dtype=torch.float64), y64).abs())
    if "call_error" in obs:
        return obs
    with run.stage("weighted_grad"):
        start = time.perf_counter()
        gaps = obs.setdefault("no_graph", [])
        obs["weighted_grad"] = number(_grad(y, xt, torch.full_like(y, w), gaps, "weighted_grad"))
        obs["backward_time"] = time.perf_counter() - start

    with run.stage("dy_dx"):
        xt, _, y = _curve_call(solve, F, x, y0, dtype)
        obs["dy_dx"] = number(_grad(y, xt, torch.ones_like(y), gaps, "dy_dx"))
    with run.stage("d2y_dx2"):
        xt, _, y = _curve_call(solve, F, x, y0, dtype)
        g = _grad(y, xt, torch.ones_like(y), gaps, "dy_dx", create_graph=True)
        obs["d2y_dx2"] = number(_grad(g, xt, torch.ones_like(g), gaps, "d2y_dx2"))
    with run.stage("y0_grad"):
        xt, y0t, y = _curve_call(solve, F, x, y0, dtype, y0_grad=True)
        obs["y0_grad"] = number(_grad(y, y0t, torch.ones_like(y)))
    skip = set(wire.get("skip") or ())
    if "batch" not in skip:
        with run.stage("batch"):
            obs["batch"] = _curve_batch(wire, solve, F, dtype, gaps)
    if dtype == torch.float64 and "gradcheck" not in skip:
        with run.stage("gradcheck"):
            eps = float(wire.get("gradcheck_eps", GRADCHECK_OPTIONS["eps"]))
            obs["gradcheck"] = _curve_gradcheck(solve, F, x, y0, eps, gaps)
    if dtype == torch.float64 and "float32" not in skip:
        with run.stage("float32"):
            xt, _, y = _curve_call(solve, F, x, y0, torch.float32)
            obs["float32"] = {
                "y": number(y),
                "y_dtype": str(y.dtype).removeprefix("torch."),
                "dy_dx": number(_grad(y, xt, torch.ones_like(y))),
            }
    if wire.get("conformance"):
        obs["conformance"] = _conformance.observe_curve(wire, solve, F)
    return obs


def _curve_batch(
    wire: Json,
    solve: Callable[..., Any],
    F: Callable[..., torch.Tensor],
    dtype: torch.dtype,
    no_graph: list[str],
) -> Json:
    xs = [float(v) for v in wire.get("batch_x") or batch_points(float(wire["x"]))]
    y0s = [float(v) for v in wire.get("batch_y0") or [float(wire["y0"])] * len(xs)]
    w = float(wire.get("weight", 1.0))
    weights = [1.0, w, -0.5 * w, 2.0][: len(xs)] + [1.0] * max(0, len(xs) - 4)
    out: Json = {"x": xs, "y0": y0s, "weights": weights}
    xt, _, y = _curve_call(solve, F, xs, y0s, dtype)
    out["shape"] = list(y.shape)
    out["y"] = numbers(y)
    out["residual"] = _residuals(F, xs, y)
    weight = torch.tensor(weights, dtype=dtype).reshape(y.shape)
    out["grad"] = numbers(_grad(y, xt, weight, no_graph, "batch"))
    singles_y, singles_g, singles_r = [], [], []
    for xi, y0i in zip(xs, y0s):
        try:
            xi_t, _, yi = _curve_call(solve, F, xi, y0i, dtype)
            singles_y.append(number(yi))
            singles_r.append(_residuals(F, [xi], yi)[0])
            singles_g.append(number(_grad(yi, xi_t, torch.ones_like(yi))))
        except Exception:  # a point of the batch the candidate cannot solve alone
            singles_y.append(None)
            singles_g.append(None)
            singles_r.append(None)
    out["single_y"], out["single_grad"], out["single_residual"] = singles_y, singles_g, singles_r
    return out


def _gradcheck(
    fn: Callable[[torch.Tensor], Any], inputs: torch.Tensor, options: Json, no_graph: list[str]
) -> Json:
    """``{"options", "passed"[, "error"]}``: torch's gradcheck of ``fn`` at ``inputs``;
    "gradcheck" noted in ``no_graph`` when ``fn`` returns a tensor with no graph."""

    def noted(a: torch.Tensor) -> Any:
        out = fn(a)
        if isinstance(out, torch.Tensor) and not out.requires_grad and "gradcheck" not in no_graph:
            no_graph.append("gradcheck")
        return out

    result: Json = {"options": options}
    try:
        result["passed"] = bool(_GRADCHECK(noted, (inputs,), raise_exception=True, **options))
    except Exception as exc:  # GradcheckError or the candidate's own
        result["passed"] = False
        result["error"] = error_record(exc)
    return result


def _residuals(F: Callable[..., torch.Tensor], xs: list[float], y: torch.Tensor) -> Any:
    with torch.no_grad():
        y64 = y.detach().to(torch.float64).reshape(-1)
        return numbers(F(torch.tensor(xs, dtype=torch.float64), y64).abs())


def _curve_gradcheck(
    solve: Callable[..., Any],
    F: Callable[..., torch.Tensor],
    x: float,
    y0: float,
    eps: float,
    no_graph: list[str],
) -> Json:
    y0t = torch.tensor(y0, dtype=torch.float64)
    xt = torch.tensor(x, dtype=torch.float64, requires_grad=True)
    options = {**GRADCHECK_OPTIONS, "eps": eps}
    out = _gradcheck(lambda x_in: solve(F, x_in, y0t), xt, options, no_graph)
    # An independent central difference, computed here and not by gradcheck.
    h = eps * (1.0 + abs(x))
    with torch.no_grad():
        up = solve(F, torch.tensor(x + h, dtype=torch.float64), y0t)
        down = solve(F, torch.tensor(x - h, dtype=torch.float64), y0t)
    out["fd_dy_dx"] = number((up.detach() - down.detach()) / (2 * h))
    return out


# ------------------------------------------------------------------------- maps


def _map_inputs(
    wire: Json, dtype: torch.dtype, *, x0_grad: bool = False
) -> tuple[torch.Tensor, torch.Tensor]:
    scalar = bool(wire.get("scalar", False))
    a_values = wire["a"][0] if scalar else wire["a"]
    x0_values = wire["x0"][0] if scalar else wire["x0"]
    a = torch.tensor(a_values, dtype=dtype, requires_grad=True)
    x0 = torch.tensor(x0_values, dtype=dtype, requires_grad=x0_grad)
    return a, x0


def _map_call(
    wire: Json,
    fixed_point: Callable[..., Any],
    dtype: torch.dtype,
    tol: float,
    *,
    x0_grad: bool = False,
) -> tuple[MapRecorder, torch.Tensor, torch.Tensor, torch.Tensor]:
    rec = MapRecorder(list(wire["f"]), bool(wire.get("scalar", False)))
    a, x0 = _map_inputs(wire, dtype, x0_grad=x0_grad)
    x = as_tensor(
        fixed_point(rec.f, a, x0, distance_norm, tol), "fixed_point(f, a, x0, distance, tol)"
    )
    return rec, a, x0, x


def observe_map(wire: Json, fixed_point: Callable[..., Any]) -> Json:
    """Observe ``fixed_point(f, a, x0, distance, tol)`` on a map case's wire dict."""
    dtype = getattr(torch, wire.get("dtype", "float64"))
    tol = float(wire["tol"])
    m, k = len(wire["f"]), len(wire["a"])
    v = [float(t) for t in wire.get("weights") or [1.0] * m]
    obs: Json = {"kind": "map", "dtype": str(dtype).removeprefix("torch."), "m": m, "k": k}
    obs.update({"scalar": bool(wire.get("scalar", False)), "tol": tol, "weights": v})
    run = Stages(obs, error_key)

    with run.stage("call"):
        rec = MapRecorder(list(wire["f"]), obs["scalar"])
        a, x0 = _map_inputs(wire, dtype)
        x = timed_call(
            obs,
            "x",
            "fixed_point(...)",
            lambda: fixed_point(rec.f, a, x0, distance_norm, tol),
            a=a,
            x0=x0,
        )
        obs["x"] = numbers(x)
        obs["forward_f_calls"] = rec.forward_calls
        obs["requires_grad"] = bool(x.requires_grad)
        gaps = obs.setdefault("no_graph", [])
        obs["graph_nodes"] = graph_size(x)
        with torch.no_grad():
            a64 = a.detach().to(torch.float64)
            x64 = x.detach().to(torch.float64).reshape(x0.shape)
            obs["residual"] = number(distance_norm(rec.evaluate(a64, x64), x64))
    if "call_error" in obs:
        return obs
    with run.stage("vjp"):
        # One weighted vjp, recording where f is evaluated while backward runs.
        weight = torch.tensor(v if not obs["scalar"] else v[0], dtype=x.dtype).reshape(x.shape)
        rec.phase = "backward"
        start = time.perf_counter()
        try:
            obs["vjp"] = numbers(_grad(x, a, weight, gaps, "vjp"))
        finally:
            rec.phase = "done"
        obs["backward_time"] = time.perf_counter() - start
        x_flat = x64.reshape(-1)
        distances = [
            float(torch.linalg.vector_norm(torch.tensor(p, dtype=torch.float64) - x_flat))
            for p in rec.backward_points
        ]
        obs["backward_f_calls"] = len(rec.backward_points)
        obs["backward_max_distance"] = max(distances, default=0.0)
        obs["backward_distances"] = distances[:32]

    with run.stage("jacobian"):
        _, a, _, x = _map_call(wire, fixed_point, dtype, tol)
        rows = []
        for i in range(m):
            e = torch.zeros(m, dtype=x.dtype)
            e[i] = 1.0
            grad = _grad(x, a, e.reshape(x.shape), gaps, "jacobian", retain_graph=i < m - 1)
            rows.append(numbers(grad))
        obs["jacobian"] = rows
    with run.stage("x0_grad"):
        _, a, x0, x = _map_call(wire, fixed_point, dtype, tol, x0_grad=True)
        obs["x0_grad"] = numbers(_grad(x, x0, torch.ones_like(x)).reshape(-1))
    with run.stage("graph"):
        loose = tol * LOOSE_TOL_FACTOR
        rec, _, _, x = _map_call(wire, fixed_point, dtype, loose)
        obs["graph_loose"] = {"tol": loose, "nodes": graph_size(x), "f_calls": rec.forward_calls}
    if dtype == torch.float64 and "gradcheck" not in set(wire.get("skip") or ()):
        with run.stage("gradcheck"):
            tol_gc = min(tol, GRADCHECK_MAP_TOL)
            obs["gradcheck"] = _map_gradcheck(wire, fixed_point, tol_gc, gaps)
    if wire.get("conformance"):
        obs["conformance"] = _conformance.observe_map(wire, fixed_point, *_map_parts(wire))
    return obs


def _map_parts(wire: Json) -> tuple[Callable[..., Any], Callable[..., Any], Callable[..., Any]]:
    """``(new_f, inputs, distance)`` for ``probe_conformance``: a fresh recorded map,
    ``inputs(dtype) -> (a, x0)`` and the distance."""
    scalar = bool(wire.get("scalar", False))
    return (
        lambda: MapRecorder(list(wire["f"]), scalar).f,
        lambda dtype: _map_inputs(wire, dtype),
        distance_norm,
    )


def _map_gradcheck(
    wire: Json, fixed_point: Callable[..., Any], tol: float, no_graph: list[str]
) -> Json:
    rec = MapRecorder(list(wire["f"]), bool(wire.get("scalar", False)))
    a, x0 = _map_inputs(wire, torch.float64)
    options = dict(GRADCHECK_OPTIONS)
    out = _gradcheck(
        lambda a_in: fixed_point(rec.f, a_in, x0, distance_norm, tol), a, options, no_graph
    )
    return {**out, "tol": tol}


# ------------------------------------------------------------------------ entry


def observe(wire: Json, candidate: Callable[..., Any]) -> Json:
    """Run ``candidate`` on one case and return what it did, as plain numbers.

    Args:
        wire: the request, ``probe_wire.REQUEST[kind]`` (``properties.wire.wire_for``
            builds it from a case); ``skip`` lists optional stages not to run
            (e.g. gradcheck is meaningless, and slow, at degenerate points).
        candidate: ``solve(F, x, y0)`` for curve cases (and, as its ``vector_root``
            attribute, ``vector_root(F, x, y0)`` for vector cases),
            ``fixed_point(f, a, x0, distance, tol)`` for map cases.

    Returns:
        A JSON-able dict with the keys of ``probe_wire.observation_keys(kind)``
        (their meaning in ``probe_wire.OBSERVATION``).
    """
    if wire.get("kind") == "vector":  # probe_conformance runs probe_vector's stages
        return _conformance.observe_vector(wire, candidate)
    if wire.get("kind") == "map":
        if wire.get("hazard"):
            return _conformance.observe_hazard(wire, candidate, *_map_parts(wire))
        return observe_map(wire, candidate)
    return observe_curve(wire, candidate)
