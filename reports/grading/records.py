"""The grader's records: what happened on a case, an item's score, a graded submission.

The bottom of ``reports.grading``: every other grading module reads these, and
this module imports none of them at run time (the rubric's ``Item`` and ``Rubric``
and exploration's ``Exploration`` are named in annotations only).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import TYPE_CHECKING

from properties.records import CheckResult, CurveCase, MapCase

if TYPE_CHECKING:
    from .explore import Exploration
    from .rubric import Item, Rubric

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


@dataclasses.dataclass(frozen=True)
class ItemScore:
    """The score of one item, with the evidence a student needs.

    Attributes:
        item: the rubric item.
        score: points earned.
        passed: cases on which the item passed.
        counted: cases it was measured on (degenerate ones excluded).
        degenerate: selected cases flagged degenerate (reported, not counted).
        failures: the failing checks, smallest case first (cases not tried last).
        hint: the most common hint among the failures ("" when none).
    """

    item: Item
    score: float
    passed: int
    counted: int
    degenerate: int
    failures: tuple[CheckResult, ...]
    hint: str

    @property
    def status(self) -> str:
        if self.counted == 0:
            return "not measured"
        return "pass" if self.passed == self.counted else "fail"


@dataclasses.dataclass
class Graded:
    """Everything known about one graded submission.

    Attributes:
        name: the name shown and used in the CSV (the file name, made unique).
        path: the file graded.
        assignment: "fixed_point" or "implicit".
        status: "graded", "timeout", "crashed", or a load failure (``LOAD_STATUSES``).
        rubric: the rubric used.
        items: the score of each rubric item.
        cases: what happened on each case (empty when the file did not load).
        load_error: why the file could not be called, else None.
        output: what the submission printed (capped) and ``output_total`` bytes in all.
        tampered: torch functions, and the grader's own (``probe.*``, ``worker.*``),
            that the submission replaced.
        files: files the submission left in its working folder.
        notes: isolation notes and anything else the report should say.
        exploration: what the search beyond the frozen cases found (feedback, never
            score), or None when exploration was not asked for.
    """

    name: str
    path: Path
    assignment: str
    status: str
    rubric: Rubric
    items: list[ItemScore] = dataclasses.field(default_factory=list)
    cases: list[CaseResult] = dataclasses.field(default_factory=list)
    load_error: str | None = None
    output: str = ""
    output_total: int = 0
    tampered: tuple[str, ...] = ()
    files: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    exploration: Exploration | None = None

    @property
    def score(self) -> float:
        return round(sum(s.score for s in self.items), 2)

    @property
    def max_score(self) -> float:
        return self.rubric.max_score

    @property
    def slug(self) -> str:
        """A folder name for this submission's outputs."""
        return "".join(c if c.isalnum() or c in "-_." else "_" for c in self.name)
