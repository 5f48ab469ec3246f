"""Causes of failing checks, confirmed by evidence: ``explain(case, wire, obs, results, observe)``.

A failing check gets diagnosis codes (``properties.diagnosis.CODES``) only from
evidence that confirms them:

- *measurements* that are the cause by definition (a wrong dtype, a mutated
  input, a graph that grows with the iterations, ``f`` evaluated away from x*
  in backward, a nonzero gradient to the start);
- *closed-form alternatives* of known mistakes (the opposite sign, ``f_a``
  alone, a truncated Neumann sum, the transposed or diagonal-only solve, the
  derivatives at the start, swapped partials, ones instead of grad_output),
  evaluated at the returned point and held against the observed numbers; an
  alternative counts only where it is distinguishable from the right answer
  (so no transposition is ever named for ``m = 1`` or a symmetric ``f_x``);
- *counterfactual calls* of the same candidate (``observe``: in-process, or
  the grader's worker), within ``budget`` calls per case: the same map with a
  100x smaller ``tol`` — an error that shrinks with tol is inexactness, not a
  wrong formula;
- *where a wrong point lies* (``returned_point``): one Newton step from it
  against its error tells a solve that stopped early from one that converged
  to another root, or stopped where ``F_y = 0``.

Fixed-point checks are explained in ``map_causes``, curve checks here.

A failure no evidence explains gets ``unknown`` and words that say so, with the
measurements.  A failure on a case where another check already names the cause
(the formula check, for the true-value, upstream, batch and float32 checks)
says "same cause as ..." and carries that check's codes.  Deterministic: the
experiments are fixed functions of the case.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from typing import Any

from properties import formulas
from properties.alternatives import curve_alternatives, distance, match
from properties.diagnosis import CODES, check_codes
from properties.experiments import (
    BUDGET,
    Context,
    Finding,
    Observe,
    Rejudge,
    exception_finding,
    finite,
    floats,
    no_graph,
    shape_dtype_finding,
    timeout_findings,
    true_gradient,
    unknown,
)
from properties.map_causes import map_findings
from properties.precision import low_precision
from properties.records import CheckResult, CurveCase, MapCase
from properties.returned_point import curve_point_finding

Case = CurveCase | MapCase

#: The checks whose causes this module looks for (a hint of theirs needs its evidence here).
EXPLAINED = frozenset(
    {
        "call",
        "shape_dtype",
        "no_mutation",
        "root",
        "residual",
        "x_star",
        "dy_dx_formula",
        "dx_da_formula",
        "dy_dx_true",
        "dx_da_true",
        "upstream",
        "batch",
        "float32",
        "gradcheck",
        "graph_growth",
        "backward_at_fixed_point",
        "x0_grad",
        "y0_grad",
        "degenerate_behaviour",
        "d2y_dx2",
        "loss_scale",
        "closure_gradient",
    }
)


def _curve_point(case: CurveCase, obs: dict[str, Any], failing: dict[str, CheckResult]) -> Finding:
    """The returned y misses the root: where it lies (``returned_point``), or unknown."""
    result = failing.get("root") or failing["residual"]
    y = floats([obs.get("y")])[0]
    dtype = str(obs.get("dtype", "float64"))
    found = low_precision([y], [float(case.y_true)], dtype, "y")
    if found is None and math.isfinite(y):
        found = curve_point_finding(case, y, finite(result.tol))
    return found or Finding((), unknown(result))


def _curve_findings(ctx: Context) -> dict[str, Finding]:
    case, obs, failing = ctx.case, ctx.obs, ctx.failing
    assert isinstance(case, CurveCase)
    out = no_graph(obs, failing)
    if "root" in failing or "residual" in failing:
        point = _curve_point(case, obs, failing)
        for name in ("root", "residual"):
            if name in failing:
                out[name] = point
    if "y0_grad" in failing:
        out["y0_grad"] = Finding(("gradient_to_start",))
    if "degenerate_behaviour" in failing:
        out["degenerate_behaviour"] = Finding(("no_degenerate_signal",))
    if "dy_dx_formula" in failing and "dy_dx_formula" not in out:
        result = failing["dy_dx_formula"]
        y = floats([obs.get("y")])[0]
        got = floats([obs.get("dy_dx")])[0]
        codes: tuple[str, ...] = ()
        evidence = ""
        if math.isfinite(y) and result.status == "fail":
            point = formulas.curve_point(case.curve.source, case.x, y)
            alternatives = {k: [[v]] for k, v in curve_alternatives(point).items()}
            start = formulas.curve_point(case.curve.source, case.x, case.y0)
            alternatives["at_start"] = [[start.dy_dx]]
            codes = match([[got]], [[point.dy_dx]], alternatives, finite(result.tol))
            if not codes:
                dtype = str(obs.get("dtype", "float64"))
                found = low_precision([got], [point.dy_dx], dtype, "dy/dx")
                codes, evidence = (found.codes, found.evidence) if found else ((), "")
            if math.isinf(got) and point.F_x == 0 and point.F_y != 0:
                codes = ("swapped_partials",)  # -F_y / F_x with F_x = 0: infinite
                evidence = f"F_x = 0 at your y (F_y = {point.F_y:.6g}), so -F_y / F_x is {got}"
        off_root = result.status == "error" and "dy_dx_error" not in obs
        if off_root and "root" in out and out["root"].codes:
            out["dy_dx_formula"] = out["root"]  # no formula at a y that is not the root
        else:
            out["dy_dx_formula"] = Finding(codes, evidence if codes else unknown(result))
    gradient = true_gradient(out, failing, "dy_dx", "root")
    if "upstream" in failing:
        if failing["upstream"].hint.startswith("ignores grad_output"):
            out["upstream"] = Finding(("ignores_upstream",))
        elif gradient is not None and gradient.codes:
            out["upstream"] = gradient
        else:
            found = low_precision(
                floats([obs.get("weighted_grad")]),
                floats([failing["upstream"].expected]),
                str(obs.get("dtype", "float64")),
                "gradient",
            )
            if found is not None:
                out["upstream"] = found
    if "batch" in failing and "batch" not in out and gradient is None:
        gradient_of_batch = _curve_batch_finding(case, obs)
        if gradient_of_batch is not None:
            out["batch"] = gradient_of_batch
    knock_on = gradient if gradient is not None and gradient.codes else out.get("root")
    for name in ("batch", "float32", "gradcheck"):
        # Only a confirmed cause carries over: an unidentified one's measurements are
        # another call's (a 0-d call's zero is not the batch's gradient).
        if name in failing and name not in out and knock_on is not None and knock_on.codes:
            out[name] = knock_on
    return out


def _curve_batch_finding(case: CurveCase, obs: dict[str, Any]) -> Finding | None:
    """The known mistake every wrong gradient of the batch call shows, if one does."""
    batch = obs.get("batch") or {}
    found: set[tuple[str, ...]] = set()
    for x_i, w_i, y_i, g_i in zip(
        batch.get("x", []), batch.get("weights", []), batch.get("y", []), batch.get("grad", [])
    ):
        y, g, w = floats([y_i])[0], floats([g_i])[0], float(w_i)
        if not (math.isfinite(y) and math.isfinite(g)) or w == 0:
            return None
        point = formulas.curve_point(case.curve.source, x_i, y)
        want = [[w * point.dy_dx]]
        if distance([[g]], want) <= 1e-6 * (1 + abs(want[0][0])):
            continue
        alternatives = {k: [[w * v]] for k, v in curve_alternatives(point).items()}
        codes = match([[g]], want, alternatives, 0.0)
        if not codes:
            return None
        found.add(codes)
    return Finding(found.pop()) if len(found) == 1 else None


def explain(
    case: Case,
    wire: dict[str, Any],
    obs: dict[str, Any],
    results: Sequence[CheckResult],
    observe: Observe | None = None,
    budget: int = BUDGET,
    judge: Rejudge | None = None,
) -> list[CheckResult]:
    """``results`` with a diagnosis on every failing check (see the module docstring).

    Args:
        case: the case judged.
        wire: what the candidate was given (``wire_for(case)``).
        obs: what it did (``probe.observe``).
        results: ``judge(case, obs)``.
        observe: runs the candidate on another wire (the same process or worker),
            for counterfactual calls; None: closed forms and measurements only.
        budget: counterfactual calls allowed on this case.
        judge: ``properties.checks.judge``, to re-judge a counterfactual observation
            (the loss-scale and closure checks' tol/100 experiment); None: not run.

    Returns:
        The same checks in the same order; a failing one has ``diagnosis`` set
        (``("unknown",)`` when nothing confirmed a cause), its ``hint`` worded by
        the codes, and the evidence appended to its message.
    """
    failing = {r.name: r for r in results if r.status in ("fail", "error")}
    if not failing:
        return list(results)
    ctx = Context(case, wire, obs, failing, observe, budget, judge)
    kind = "map" if isinstance(case, MapCase) else "curve"
    findings = map_findings(ctx) if kind == "map" else _curve_findings(ctx)
    for name, found in timeout_findings(obs, failing).items():
        findings.setdefault(name, found)
    if "call" in failing and "call_error" in obs:
        findings["call"] = exception_finding(obs["call_error"])
    if "shape_dtype" in failing:
        findings["shape_dtype"] = shape_dtype_finding(failing["shape_dtype"])
    if "no_mutation" in failing:
        findings["no_mutation"] = Finding(("mutates_input",))
    out = []
    for result in results:
        if result.name not in failing or result.diagnosis:
            out.append(result)
            continue
        finding = findings.get(result.name)
        if finding is None and result.status == "error":
            error = next((v for k, v in obs.items() if k.endswith("_error")), None)
            finding = exception_finding(error) if error else None
        out.append(_worded(result, finding))
    return out


def _worded(result: CheckResult, finding: Finding | None) -> CheckResult:
    if finding is None or not finding.codes:
        evidence = finding.evidence if finding is not None else unknown(result)
        # Our own checks' hints are replaced by confirmed codes; a check this module
        # does not know (another judge's) keeps the hint its judge gave.
        hint = result.hint if result.name not in EXPLAINED else ""
        return dataclasses.replace(
            result,
            diagnosis=("unknown",),
            hint=hint,
            message=f"{result.message} ({evidence}.)",
        )
    codes = check_codes(finding.codes)
    hint = result.hint
    if not hint or not _hint_agrees(hint, codes):
        hint = "; ".join(CODES[c] for c in codes)
    message = result.message
    if finding.evidence and finding.evidence not in message:  # an exception's text: once
        message = f"{message} Evidence: {finding.evidence}."
    return dataclasses.replace(result, diagnosis=codes, hint=hint, message=message)


#: The hint wordings of ``properties.checks.HINTS`` each code agrees with.
_AGREES = {
    "sign": "opposite sign",
    "missing_inverse": "forgot",
    "transposed": "transposed",
    "inverse_sign": "sign inside the inverse",
    "at_start": ("evaluated at the start", "Jacobian at x0"),
    "swapped_partials": "inverted ratio",
    "ignores_upstream": "ignores grad_output",
    "unrolled": "unrolled",
    "inexact_forward": ("inaccurate root", "inaccurate fixed point"),
    "inexact_backward": "adjoint tolerance",
}


def _hint_agrees(hint: str, codes: tuple[str, ...]) -> bool:
    """Whether the judge's own hint names one of ``codes`` (else the codes' words win)."""
    for code in codes:
        words = _AGREES.get(code, ())
        if hint.startswith(words if isinstance(words, tuple) else (words,)):
            return True
    return False
