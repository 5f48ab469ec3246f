"""The grader's records at the bottom: what happened on one case, and the load statuses.

Every other grading module reads these; this module imports none of them.
(``rubric.ItemScore`` is an item's score, ``graded.Graded`` a graded submission.)
"""

from __future__ import annotations

import dataclasses

from properties.records import CheckResult, CurveCase, MapCase

#: Gradebook status of a submission, worst first.
LOAD_STATUSES = {
    "syntax": "syntax error",
    "import": "import error",
    "exit": "exited at import",
    "missing": "missing function",
    "timeout": "timeout at import",
    "crash": "crashed at import",
}


@dataclasses.dataclass(frozen=True)
class CaseResult:
    """What grading found on one case: the checks, and whether the code ran at all.

    Attributes:
        case: the case.
        checks: ``judge``'s results (or the grader's, when the code did not run).
        ran: False when the call timed out, crashed or raised before any value.
        note: what happened when it did not run ("timeout", "crashed", ...).
    """

    case: CurveCase | MapCase
    checks: tuple[CheckResult, ...]
    ran: bool = True
    note: str = ""
