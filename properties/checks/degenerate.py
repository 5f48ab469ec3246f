"""Judge ``degenerate_behaviour``: what a curve implementation does where ``F_y = 0``.

At an exactly degenerate point ``y(x)`` is not differentiable (a vertical tangent
or a singular point of the curve).  A right implementation says so: an exception
or a warning whose words say the Jacobian is singular / not invertible /
degenerate (``common.relevant_signal``), or a non-finite value.  An unrelated
warning does not excuse a finite answer, and an error that names another cause
(non-convergence, say) is not the right signal either.
"""

from __future__ import annotations

import math

from properties.checks.common import Judge, Observation, as_float, relevant_signal

__all__ = ["degenerate_behaviour"]


def degenerate_behaviour(j: Judge, obs: Observation) -> None:
    """At an exactly degenerate point, require a relevant signal: an exception or a
    warning that says the Jacobian is singular (``relevant_signal``), or a
    non-finite value.  An unrelated warning or error does not excuse a finite answer."""
    signals, ignored = [], []
    for stage in ("call", "weighted_grad", "dy_dx"):
        error = obs.get(f"{stage}_error")
        if error:
            text = f"{error.get('type')}: {error.get('message', '')}"
            (signals if relevant_signal(text) else ignored).append(f"{stage} raised {text[:80]}")
    for warning in obs.get("warnings") or []:
        text = f"{warning.get('category', '')}: {warning.get('message', '')}"
        (signals if relevant_signal(text) else ignored).append(f"warned {text[:80]}")
    for key in ("y", "dy_dx", "weighted_grad"):
        value = as_float(obs.get(key)) if key in obs else 0.0
        if not math.isfinite(value):
            signals.append(f"{key} = {value}")
    if signals:
        j.add(
            "degenerate_behaviour",
            "pass",
            "At this exactly degenerate point (F_y = 0) the implementation signalled it: "
            + "; ".join(signals[:3])
            + ".",
        )
        return
    where = "At this exactly degenerate point (F_y = 0: a vertical tangent or a singular point)"
    expected = "an error or warning about the singular F_y, or a non-finite value"
    if "call_error" in obs:  # it refused, but for another reason than the real one
        error = obs["call_error"]
        j.add(
            "degenerate_behaviour",
            "fail",
            f"{where} the call raised {error.get('type')}: {str(error.get('message', ''))[:120]}"
            ", which does not say that F_y is singular there: the error names another "
            "cause than the real one. Test |F_y| (relative to |grad F|) at the root and "
            "say so when it is (near) zero.",
            expected=expected,
            hint="the error does not name the singular F_y",
        )
        return
    got = as_float(obs.get("dy_dx"))
    unrelated = (
        f" (it did say: {'; '.join(ignored[:2])}, which does not mention a singular "
        "Jacobian, so it is not counted)"
        if ignored
        else ""
    )
    j.add(
        "degenerate_behaviour",
        "fail",
        f"{where} you returned a finite dy/dx = {got:.6g} without a relevant warning or "
        f"error{unrelated}. Check |F_y| in backward and raise (or warn and return inf/nan), "
        "saying that F_y is singular, when it is (near) zero.",
        got=got,
        expected=expected,
        hint="no check of F_y == 0 before dividing by it",
    )
