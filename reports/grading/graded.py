"""A graded submission: everything the gradebook, the student's report and Gradescope show.

Above ``rubric`` and ``explore`` (it holds their results), below the writers
(``gradebook``, ``gradescope_results``) and ``run``, which fills it.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from .explore import Exploration
from .records import CaseResult
from .rubric import ItemScore, Rubric


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
    def signals(self) -> tuple[str, ...]:
        """Run-level observations (``properties.diagnosis.SIGNALS``), shown whatever the score.

        ``output_flood``: it printed more than the grader keeps; ``wrote_files``;
        ``tampering``: it replaced torch's or the grader's functions; ``timeout``,
        ``crash``, ``memory``: a call that did not return, a process that died, an
        allocation that failed.
        """
        notes = {c.note for c in self.cases if not c.ran}
        found = {
            "output_flood": self.output_total > len(self.output.encode("utf-8", "replace")),
            "wrote_files": bool(self.files),
            "tampering": bool(self.tampered),
            "timeout": bool(notes & {"timeout", "not run"}) or self.status == "timeout at import",
            "crash": "crashed" in notes or self.status == "crashed at import",
            "memory": "out of memory" in notes,
        }
        return tuple(name for name, seen in found.items() if seen)

    @property
    def diagnosis(self) -> tuple[str, ...]:
        """The codes of every item that lost points, in rubric order (repeats dropped)."""
        codes = [c for s in self.items if s.score < s.item.points for c in s.diagnosis]
        return tuple(dict.fromkeys(codes))

    @property
    def slug(self) -> str:
        """A folder name for this submission's outputs."""
        return "".join(c if c.isalnum() or c in "-_." else "_" for c in self.name)
