"""Judge a hazard map (``properties.hazard_maps``): no hang, no confident wrong answer.

``judge_hazard(case, observation)`` reads a ``"hazard": true`` observation
(``probe_wire.HAZARD``) and returns one ``CheckResult``, named after the family
(``non_contracting`` or ``singular_map``).  A signal is: an exception other than
the probe's deadline (``TimeoutError``), a warning of a kind that reports a
problem (not a deprecation notice), or a non-finite value.  Passing needs a
signal, or, on a non-contracting map (whose fixed point is regular), the true
fixed point.  Stopped by the deadline is a failure: a solver must cap its
iterations.  These checks are never "degenerate": they are about the
behaviour at the hazard itself.
"""

from __future__ import annotations

import math

from properties.checks.common import Observation, as_float, error_text
from properties.records import CheckResult, MapCase

__all__ = ["NAMES", "judge_hazard", "unanswered"]

#: The check's name per hazard family.
NAMES = {"non-contracting": "non_contracting", "singular-map": "singular_map"}
#: Warning categories that are no signal about the problem at hand.
_NOISE = {"DeprecationWarning", "PendingDeprecationWarning", "FutureWarning", "ImportWarning"}
_FIX = (
    "Cap the iterations (max_iter) and raise (or warn and return nan) when distance(x, "
    "x_prev) <= tol is not reached"
)


def _signals(obs: Observation) -> tuple[list[str], str | None]:
    """What the candidate signalled, and the stage stopped by the deadline (if any)."""
    signals, timed_out = [], None
    for stage in ("call", "vjp"):
        error = obs.get(f"{stage}_error")
        if error is None:
            continue
        if error.get("type") == "TimeoutError":
            timed_out = stage
        else:
            signals.append(f"{stage} raised {error_text(error)[:120]}")
    for w in obs.get("warnings") or ():
        if w.get("category") not in _NOISE:
            signals.append(f"warned {w.get('category')}: {str(w.get('message'))[:120]}")
            break
    for key in ("x", "vjp"):
        values = [as_float(v) for v in obs.get(key) or ()]
        if any(not math.isfinite(v) for v in values):
            signals.append(f"{key} = {values}")
    return signals, timed_out


def _what(case: MapCase) -> str:
    return (
        "this map does not contract (plain iteration diverges)"
        if case.family == "non-contracting"
        else "I - f_x is singular at this double fixed point (dx/da is infinite)"
    )


def _name(case: MapCase) -> str:
    return NAMES.get(case.family, case.family.replace("-", "_"))


def _kept_going(
    case: MapCase, said: str, got: str, hint: str, codes: tuple[str, ...]
) -> CheckResult:
    """The failing hazard check of a case on which ``said`` happened: no answer came."""
    return CheckResult(
        name=_name(case),
        status="fail",
        message=f"{said}: {_what(case)}, and the solver kept going. {_FIX}.",
        hint=hint,
        expected="an error, a warning or a non-finite value within the deadline",
        got=got,
        diagnosis=codes,
        family=case.family,
        case=case.text(),
        degeneracy=float(case.degeneracy),
    )


def unanswered(case: MapCase, kind: str, detail: str, codes: tuple[str, ...]) -> CheckResult:
    """The hazard check of a case whose whole call got no answer (``kind``: "timeout" or
    "crashed"): no signal came, so it fails, as a stage that timed out does."""
    said = f"The call never returned ({kind}: {detail})"
    return _kept_going(case, said, kind, "no iteration cap" if kind == "timeout" else "", codes)


def judge_hazard(case: MapCase, obs: Observation) -> list[CheckResult]:
    """The one check of a hazard case (see the module docstring)."""
    name = _name(case)
    base = {"family": case.family, "case": case.text(), "degeneracy": float(case.degeneracy)}
    signals, timed_out = _signals(obs)
    what = _what(case)
    if timed_out is not None:
        seconds = as_float(obs.get("deadline"))
        said = f"The {timed_out} did not return within {seconds:g} s"
        got = f"still running after {seconds:g} s"
        return [_kept_going(case, said, got, "no iteration cap", ("timeout",))]
    if signals:
        return [
            CheckResult(
                name=name,
                status="pass",
                message=f"Here {what}; the implementation signalled it: {'; '.join(signals[:2])}.",
                **base,
            )
        ]
    x = [as_float(v) for v in obs.get("x") or ()]
    x_true = [as_float(v) for v in case.x_star]
    error = max((abs(a - b) for a, b in zip(x, x_true)), default=math.inf)
    if case.family == "non-contracting" and error <= 1e-8 * (1 + max(map(abs, x_true))):
        return [
            CheckResult(
                name=name,
                status="pass",
                message=f"Here {what}, but the implementation found the true fixed point "
                f"{x} (error {error:.2g}) another way.",
                error=error,
                **base,
            )
        ]
    got = f"x = {x}" + (f", dx/da = {obs.get('vjp')}" if "vjp" in obs else "")
    return [
        CheckResult(
            name=name,
            status="fail",
            message=f"Here {what}, yet the implementation returned a finite {got} with no "
            f"error or warning (true x* = {x_true}). {_FIX}"
            + ("; check that I - f_x is invertible in backward." if "vjp" in obs else "."),
            error=error,
            hint="a confident answer where the iteration cannot converge",
            expected="an error, a warning or a non-finite value",
            got=got,
            **base,
        )
    ]
