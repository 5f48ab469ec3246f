"""Counterfactual calls of the candidate, and what their results confirm.

A ``Context`` holds one case under explanation: the request the candidate was
given, what it did, its failing checks and an ``observe`` that runs the same
candidate on another request (in this process, or in the grader's worker).
``inexact`` is the experiment: the same map with a 100x smaller ``tol``; an
error that falls by ``SHRINK`` or more with it is inexactness, not a wrong
formula.  At most ``BUDGET`` extra calls per case, deterministic.

The measured findings need no call: an exception's class and line
(``exception_finding``), a gradient autograd had no path for (``no_graph``), a
shape or dtype that differs (``shape_dtype_finding``).
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Callable, Sequence
from typing import Any

from properties import formulas
from properties.alternatives import distance
from properties.probe_wire import LOSS_SCALES
from properties.records import CheckResult, CurveCase, MapCase

Case = CurveCase | MapCase
Observe = Callable[[dict[str, Any]], dict[str, Any]]
#: ``properties.checks.judge``: (case, observation) -> its checks.
Rejudge = Callable[[Case, dict[str, Any]], Sequence[CheckResult]]


#: Extra calls of the candidate per case, at most.
BUDGET = 1
#: An error that falls by this factor when tol falls 100x "shrinks with tol".
SHRINK = 10.0


@dataclasses.dataclass(frozen=True)
class Finding:
    """Codes and the evidence sentences that confirm them (codes empty: not identified)."""

    codes: tuple[str, ...]
    evidence: str = ""


# ----------------------------------------------------------------------- findings


@dataclasses.dataclass
class Context:
    """One case under explanation: the base observation and the experiments run so far."""

    case: Case
    wire: dict[str, Any]
    obs: dict[str, Any]
    failing: dict[str, CheckResult]
    observe: Observe | None
    budget: int
    #: ``properties.checks.judge`` (passed in: ``checks`` imports this package), to
    #: re-judge an experiment's observation; None: such experiments are not run.
    judge: Rejudge | None = None
    tighter: dict[str, Any] | None = None
    tried: bool = False

    def with_smaller_tol(self) -> dict[str, Any] | None:
        """The same call with tol / 100 (maps only; one call, cached), or None."""
        if not self.tried and self.observe is not None and self.budget > 0:
            self.tried = True
            if isinstance(self.case, MapCase) and "tol" in self.wire:
                wire = dict(self.wire, tol=float(self.wire["tol"]) / 100, skip=["gradcheck"])
                try:
                    self.tighter = self.observe(wire)
                except Exception:  # noqa: BLE001 - an experiment that fails proves nothing
                    self.tighter = None
        return self.tighter


def floats(values: Any) -> list[float]:
    out = []
    for v in values or []:
        try:
            out.append(float(v))
        except (TypeError, ValueError):
            out.append(math.nan)
    return out


def map_formula_error(case: MapCase, obs: dict[str, Any]) -> float:
    """``|dx/da - (I - f_x)^-1 f_a|`` at the returned x of ``obs`` (inf if unreadable)."""
    x, rows = floats(obs.get("x")), obs.get("jacobian")
    if len(x) != case.m or not rows or not all(math.isfinite(v) for v in x):
        return math.inf
    point = formulas.map_point(case.f_source, case.a, x, case.scalar)
    return distance([floats(r) for r in rows], point.dx_da)


def x_error(case: MapCase, obs: dict[str, Any]) -> float:
    x, true = floats(obs.get("x")), [float(v) for v in case.x_star]
    if len(x) != len(true):
        return math.inf
    err = max(abs(a - b) for a, b in zip(x, true))
    return err if math.isfinite(err) else math.inf


def shrinks(before: float, after: float) -> bool:
    return math.isfinite(before) and math.isfinite(after) and after * SHRINK <= before


def inexact(
    ctx: Context, error: Callable[[dict[str, Any]], float], code: str, what: str
) -> Finding | None:
    """``code`` when the error measured by ``error`` shrinks with a 100x smaller tol."""
    tighter = ctx.with_smaller_tol()
    if tighter is None or "call_error" in tighter:
        return None
    before, after = error(ctx.obs), error(tighter)
    if shrinks(before, after):
        return Finding(
            (code,),
            f"with tol/100 the error of {what} went from {before:.2g} to {after:.2g}: "
            "it shrinks with the tolerance",
        )
    return None


def upstream_error(obs: dict[str, Any]) -> float:
    rows, v, got = obs.get("jacobian"), floats(obs.get("weights")), floats(obs.get("vjp"))
    if not rows or len(v) != len(rows):
        return math.inf
    J = [floats(r) for r in rows]
    want = [sum(v[i] * J[i][c] for i in range(len(J))) for c in range(len(J[0]))]
    return distance([got], [want])


# ------------------------------------------------------------ measured findings


def exception_finding(error: dict[str, Any] | None) -> Finding:
    """An exception the code raised: ``signature`` when the call itself did not fit."""
    error = error or {}
    kind, text = str(error.get("type", "")), str(error.get("message", ""))
    calling = kind == "TypeError" and re.search(
        r"positional argument|keyword argument|takes \d+|missing \d+ required|not callable",
        text,
    )
    where = error.get("where") or ""
    evidence = f"{kind}: {text[:200]}" + (f" (at {where})" if where else "")
    return Finding(("signature",) if calling else ("exception",), evidence)


#: Per gradient stage of the probe: the checks its numbers feed, what the gradient
#: is of and with respect to, and what shows that it should not be zero.
_STAGE_CHECKS = {
    "dy_dx": (("dy_dx_formula",), "y", "x", "the true dy/dx is not zero"),
    "batch": (("batch",), "the batch's y", "x", "the true dy/dx is not zero"),
    "d2y_dx2": (("d2y_dx2",), "the dy/dx your backward returns", "x", "d2y/dx2 is not zero"),
    "jacobian": (("dx_da_formula",), "x", "a", "the true dx*/da is not zero"),
    "vjp": (("upstream",), "x", "a", "the true dx*/da is not zero"),
    "gradcheck": (("gradcheck",), "the result", "its input", "finite differences move"),
}


def no_graph(obs: dict[str, Any], failing: dict[str, CheckResult]) -> dict[str, Finding]:
    """``no_gradient`` on each failing check whose gradient autograd found no path for.

    A measurement, not a guess: the probe saw ``None`` from ``torch.autograd.grad``
    (``obs["no_graph"]``), so the zero it compared is no computed derivative at all.
    (Where the true derivative is zero too, the check passed and is not here.)
    """
    out = {}
    for stage in obs.get("no_graph") or ():
        names, output, wrt, because = _STAGE_CHECKS.get(stage, ((), "", "", ""))
        for name in names:
            if name in failing:
                out[name] = Finding(
                    ("no_gradient",),
                    f"{output} carries no autograd graph to {wrt} (autograd's gradient is "
                    f"None, taken as zero), while {because}: the result was detached from "
                    "its inputs (.detach(), .item(), torch.tensor of a value, or a "
                    "backward that returns None)",
                )
    return out


def shape_dtype_finding(result: CheckResult) -> Finding:
    expected, got = result.expected.split(), result.got.split()
    codes = []
    if expected[:-1] != got[:-1]:
        codes.append("shape")
    if expected[-1:] != got[-1:]:
        codes.append("dtype")
    return Finding(tuple(codes) or ("unknown",))


def finite(tol: float) -> float:
    return tol if math.isfinite(tol) else 0.0


def true_gradient(
    out: dict[str, Finding], failing: dict[str, CheckResult], gradient: str, point: str
) -> Finding | None:
    """The ``<gradient>_formula`` finding; a failing ``<gradient>_true`` gets it, or
    else the ``point``'s finding (same cause as).  Returns the formula finding."""
    formula = out.get(f"{gradient}_formula")
    if f"{gradient}_true" in failing:
        # Only a confirmed cause carries over (an unidentified one's measurements are
        # the other check's); the true-value check then shows its own.
        found = out.get(point)
        if formula is not None and formula.codes:
            out[f"{gradient}_true"] = formula
        elif f"{gradient}_formula" not in failing and found is not None and found.codes:
            out[f"{gradient}_true"] = found  # the formula is right at the returned point
    return formula


def unknown(result: CheckResult) -> str:
    """The words of a failure no evidence explains (its measurements, when it has some)."""
    measured = (
        f"measured {result.got} against {result.expected}; "
        if result.got not in (None, "") and result.expected not in (None, "")
        else ""
    )
    return f"cause not identified: {measured}no known mistake and no experiment explains it"


def timeout_findings(obs: dict[str, Any], failing: dict[str, CheckResult]) -> dict[str, Finding]:
    """``timeout`` on each failing conformance check whose stage did not return within
    its deadline (a measurement).  For ``loss_scale``, where the plain backward of
    the same case returned, the evidence says that the size of grad_output decides."""
    sub = obs.get("conformance")
    if not isinstance(sub, dict):
        return {}
    out = {}
    for name in failing:
        error = sub.get(f"{name}_error")
        if not isinstance(error, dict) or error.get("type") != "TimeoutError":
            continue
        evidence = f"the {name} stage did not return within its deadline"
        backward_ran = any(k in obs for k in ("dy_dx", "jacobian", "vjp")) and not any(
            k in obs for k in ("dy_dx_error", "jacobian_error", "vjp_error")
        )
        if name == "loss_scale" and backward_ran:
            scales = sub.get("scales") or LOSS_SCALES
            biggest = max((float(s) for s in scales), default=0.0)
            evidence = (
                "the backward returned with grad_output of size 1 (the gradient checks "
                "measured it), but not within the deadline with the loss scaled by up to "
                + (f"{biggest:g}" if biggest else "the scales tried")
                + ": its stopping test depends on the size of grad_output (an absolute "
                "tolerance on the adjoint, say, which rounding at that size cannot meet)"
            )
        out[name] = Finding(("timeout",), evidence)
    return out
