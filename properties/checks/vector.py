"""Judge a vector root observation (``probe_vector``): ``vector_root``, ``vector_dy_dx``,
``vector_d2y``.

Tolerances follow the curves' (``common.RTOL``), with the case's ``condition``
``(1 + ||[F_x F_y]||) / sigma_min(F_y)`` in place of ``||grad F|| / |F_y|``; the
derivative checks add what the returned root's own error explains (its error
times the condition).  A failing derivative is diagnosed by the closed forms of
known mistakes, evaluated at the root, when exactly one of them matches the
measured numbers: ``sign`` (``+F_y^-1 F_x``), ``transposed`` (``-F_y^-T F_x``, only
where ``F_y`` is not symmetric), ``missing_inverse`` (``-F_x``), ``diagonal_only``
(``-diag(F_y)^-1 F_x``); otherwise no code: the cause is not identified.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import numpy as np
import sympy

from properties import capabilities
from properties.checks.common import RTOL, Judge, Observation, as_float, error_text
from properties.records import CheckResult, VectorRootCase
from properties.vector_roots import symbols

__all__ = ["judge_vector"]

NAMES = capabilities.PROPERTIES["vector_roots"]  # vector_root, vector_dy_dx, vector_d2y


def judge_vector(case: VectorRootCase, obs: Observation) -> list[CheckResult]:
    """The vector-root checks of one case (``not_claimed`` when not declared)."""
    j = Judge(case)
    if "vector_roots" not in set(obs.get("claims") or ()):
        for name in NAMES:
            j.add(
                name,
                capabilities.NOT_CLAIMED,  # type: ignore[arg-type]
                "Not claimed: the target does not declare 'vector_roots' "
                f"({capabilities.CAPABILITIES['vector_roots']}); define vector_root(F, x, y0) "
                "and add it to CAPABILITIES to have it checked.",
            )
        return j.results
    error = obs.get("vector_call_error")
    if error is not None:
        code = "timeout" if error.get("type") == "TimeoutError" else "exception"
        for name in NAMES:
            _coded(j, name, "error", f"vector_root(F, x, y0) raised {error_text(error)}.", code)
        return j.results
    rtol = RTOL["float64"]
    want_y = [float(v) for v in case.y_true]
    got_y = [as_float(v) for v in obs.get("y") or ()]
    if list(obs.get("y_shape") or []) != [case.m]:
        for name in NAMES:
            j.add(
                name,
                "fail",
                f"y has shape {obs.get('y_shape')}, expected [{case.m}] (m = {case.m}).",
            )
        return j.results
    y_err = max(abs(g - w) for g, w in zip(got_y, want_y))
    y_err = y_err if math.isfinite(y_err) else math.inf
    y_tol = rtol["root"] * case.condition * (1 + max(map(abs, want_y)))
    j.add(
        "vector_root",
        "pass" if y_err <= y_tol else "fail",
        f"y = {got_y} against y* = {want_y}: error {y_err:.2g} "
        + ("<= " if y_err <= y_tol else "> ")
        + f"{y_tol:.2g} (|F(x, y)| = {as_float(obs.get('residual')):.2g}).",
        error=y_err,
        tol=y_tol,
        expected=want_y,
        got=got_y,
    )
    shift = y_err * case.condition if math.isfinite(y_err) else 0.0
    _dy_dx(j, case, obs, rtol["true"], shift)
    _d2y(j, case, obs, rtol["d2"], shift)
    return j.results


def _coded(j: Judge, name: str, status: str, message: str, code: str, **kw: Any) -> None:
    j.add(name, status, message, **kw)  # type: ignore[arg-type]
    j.results[-1] = dataclasses.replace(j.results[-1], diagnosis=(code,) if code else ())


def _partials(case: VectorRootCase) -> tuple[np.ndarray, np.ndarray]:
    """``(F_y, F_x)`` at the root, in float64."""
    xs, ys = symbols(case.m, case.n)
    F = sympy.Matrix(
        [sympy.sympify(c, locals={s.name: s for s in (*xs, *ys)}) for c in case.components]
    )
    at = {**{s: sympy.Float(v, 40) for s, v in zip(xs, case.x)}}
    at.update({s: sympy.Float(v, 40) for s, v in zip(ys, case.y_true)})
    F_y = np.array(F.jacobian(ys).subs(at).tolist(), dtype=float)
    F_x = np.array(F.jacobian(xs).subs(at).tolist(), dtype=float)
    return F_y, F_x


def _alternatives(case: VectorRootCase) -> dict[str, np.ndarray]:
    F_y, F_x = _partials(case)
    out = {
        "sign": np.linalg.solve(F_y, F_x),
        "missing_inverse": -F_x,
        "diagonal_only": -F_x / np.diag(F_y)[:, None],
    }
    if not case.symmetric:
        out["transposed"] = -np.linalg.solve(F_y.T, F_x)
    return out


def _dy_dx(j: Judge, case: VectorRootCase, obs: Observation, rtol: float, shift: float) -> None:
    if "vector_jacobian_error" in obs:
        error = obs["vector_jacobian_error"]
        _coded(j, "vector_dy_dx", "error", f"The backward raised {error_text(error)}.", "exception")
        return
    want = np.array([float(v) for v in case.dy_dx]).reshape(case.m, case.n)
    rows = obs.get("vector_jacobian") or []
    got = np.array([[as_float(v) for v in row] for row in rows], dtype=float)
    if got.shape != want.shape:
        j.add(
            "vector_dy_dx",
            "fail",
            f"dy/dx has shape {list(got.shape)}, expected {list(want.shape)}.",
        )
        return
    size = 1 + float(np.abs(want).max())
    tol = rtol * case.condition * size + shift * size
    error = float(np.abs(got - want).max()) if np.all(np.isfinite(got)) else math.inf
    if error <= tol:
        j.add(
            "vector_dy_dx",
            "pass",
            f"dy/dx = -F_y^-1 F_x (error {error:.2g} <= {tol:.2g}).",
            error=error,
            tol=tol,
        )
        return
    matches = [
        code
        for code, alt in _alternatives(case).items()
        if float(np.abs(alt).max()) > 10 * tol  # a zero alternative confirms nothing
        and float(np.abs(got - alt).max()) <= 10 * tol
        and float(np.abs(alt - want).max()) > 10 * tol
    ]
    code = matches[0] if len(matches) == 1 else ""
    why = {
        "sign": "it is +F_y^-1 F_x: the sign is wrong",
        "missing_inverse": "it is -F_x: F_y^-1 is missing",
        "diagonal_only": "it is -diag(F_y)^-1 F_x: only the diagonal of F_y is used",
        "transposed": "it is -F_y^-T F_x: the adjoint solve uses F_y where the vjp needs "
        "F_y^T (u = F_y^-T v, then -F_x^T u)",
    }.get(code, "the cause is not identified (no known mistake matches the numbers)")
    _coded(
        j,
        "vector_dy_dx",
        "fail",
        f"dy/dx = {got.tolist()}, expected -F_y^-1 F_x = {want.tolist()} (error {error:.2g} > "
        f"{tol:.2g}): {why}.",
        code,
        error=error,
        tol=tol,
        expected=want.flatten().tolist(),
        got=got.flatten().tolist(),
    )


def _d2y(j: Judge, case: VectorRootCase, obs: Observation, rtol: float, shift: float) -> None:
    if "vector_d2y_error" in obs:
        error = obs["vector_d2y_error"]
        _coded(
            j, "vector_d2y", "error", f"Double backward raised {error_text(error)}.", "exception"
        )
        return
    want = np.array([float(v) for v in case.d2y]).reshape(case.n, case.n)
    rows = obs.get("vector_d2y") or []
    got = np.array([[as_float(v) for v in row] for row in rows], dtype=float)
    if got.shape != want.shape:
        j.add(
            "vector_d2y",
            "fail",
            f"d2(w^T y)/dx2 has shape {list(got.shape)}, expected {list(want.shape)}.",
        )
        return
    size = 1 + float(np.abs(want).max())
    tol = rtol * case.condition**2 * size + shift * case.condition * size
    error = float(np.abs(got - want).max()) if np.all(np.isfinite(got)) else math.inf
    ok = error <= tol
    flat = not obs.get("vector_d2y_graph", True) and float(np.abs(want).max()) > tol
    message = f"d2(w^T y)/dx2 = {got.tolist()}, expected {want.tolist()} (error {error:.2g} " + (
        f"<= {tol:.2g})." if ok else f"> {tol:.2g})."
    )
    if flat:
        message += " The gradient had no graph (create_graph): the backward is not differentiable."
    _coded(
        j,
        "vector_d2y",
        "pass" if ok else "fail",
        message,
        "no_gradient" if flat and not ok else "",
        error=error,
        tol=tol,
    )
