"""A case the target did not run to a value: ``NotObserved`` and the results it stands for.

An observer (``Target.observe``: a request -> its observation, made elsewhere,
e.g. in an isolated worker with a per-call deadline) raises ``NotObserved`` when
no observation came back: the call did not return within the deadline, the
process running it died, the target could not be loaded, or it was not run at
all (an earlier call of the same test had already timed out).  Such a case is
never judged as if the code had answered; ``results`` says what happened.

Hanging is not a signal: at an exactly degenerate point (``F_y = 0``) the
contract asks for an error, a warning or a non-finite value *within the
deadline*, so a call that did not return fails ``degenerate_behaviour`` there
instead of passing it as an error would; on a map that cannot be iterated it
fails that hazard's check (``checks.hazards.unanswered``).
"""

from __future__ import annotations

import math

from properties.checks.hazards import NAMES, unanswered
from properties.records import CheckResult, CurveCase, MapCase

#: Why no observation came back, -> what it means for the person reading the report.
KINDS = {
    "timeout": (
        "did not return within the per-call deadline ({detail}). It raised nothing, it never "
        "finished: every loop needs an iteration cap, and should raise or warn when the "
        "tolerance is not reached (a map that does not contract, a tol below the dtype's "
        "precision)."
    ),
    "crashed": (
        "did not return: the process running it died ({detail}). Look for memory that grows "
        "at every iteration and for calls that end the process (os._exit, native code)."
    ),
    "not_loaded": "could not be called: the target did not load ({detail}).",
    "not_run": "was not run on this case ({detail}).",
}


class NotObserved(Exception):
    """No observation came back for a request.

    Args:
        kind: one of ``KINDS``: "timeout", "crashed", "not_loaded" or "not_run".
        detail: what the observer saw (shown in the report).
    """

    def __init__(self, kind: str, detail: str) -> None:
        if kind not in KINDS:
            raise ValueError(f"kind={kind!r} must be one of {tuple(KINDS)}.")
        super().__init__(f"{kind}: {detail}")
        self.kind = kind
        self.detail = detail


#: The diagnosis of a case that got no observation, by kind (``not_run``: none).
CODES = {"timeout": ("timeout",), "crashed": ("crash",), "not_loaded": ("exception",)}


def _call_text(case: CurveCase | MapCase) -> str:
    if isinstance(case, MapCase):
        return f"fixed_point(f, a, x0, distance, tol={case.tol:g}) on {case.text()}"
    return f"solve(F, x, y0) on {case.text()}"


def results(case: CurveCase | MapCase, error: NotObserved) -> list[CheckResult]:
    """The checks of a case without an observation.

    Returns:
        A "call" error saying what happened (``KINDS``), and at an exactly
        degenerate point of a curve, unless the target was merely not run
        there, a ``degenerate_behaviour`` failure: not returning is no signal.
    """
    detail = error.detail.strip().rstrip(".") or "no details"
    common = {"family": case.family, "case": case.text(), "degeneracy": float(case.degeneracy)}
    codes = CODES.get(error.kind, ())
    found = [
        CheckResult(
            "call",
            "error",
            message=f"{_call_text(case)} {KINDS[error.kind].format(detail=detail)}",
            diagnosis=codes,
            **common,
        )
    ]
    if isinstance(case, MapCase) and case.family in NAMES and error.kind in ("timeout", "crashed"):
        found.append(unanswered(case, error.kind, detail, codes))
    exactly_degenerate = isinstance(case, CurveCase) and math.isnan(_as_float(case.dy_dx))
    if exactly_degenerate and error.kind in ("timeout", "crashed"):
        found.append(
            CheckResult(
                "degenerate_behaviour",
                "fail",
                message=(
                    "At this exactly degenerate point (F_y = 0) the call never returned "
                    f"({error.kind}): it must raise, warn or return a non-finite value within "
                    "the deadline."
                ),
                expected="an error, a warning, or a non-finite value, within the deadline",
                got=error.kind,
                diagnosis=codes,
                **common,
            )
        )
    return found


def _as_float(value: object) -> float:
    try:
        return float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return math.nan
