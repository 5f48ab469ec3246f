"""The class's grades as a CSV for Canvas's gradebook import, and the roster it is keyed by.

Canvas's importer (``GradebookImporter`` in canvas-lms) reads a header row that
starts ``Student, ID`` and, when ``SIS User ID`` and ``SIS Login ID`` follow, takes
five student columns ending with ``Section``; every later column is an
assignment.  A row whose first cell contains ``Points Possible`` sets each
assignment's points.  A header ``Title (123)`` means Canvas assignment 123, so an
assignment column here is named by the assignment alone (``fixed_point``): Canvas
matches it to an assignment of that title or creates one; to fill an existing
assignment, rename the header to its ``Title (id)`` before importing.  Students
are matched by ``ID`` (Canvas's user id), then ``SIS User ID`` / ``SIS Login ID``,
then by name.

The roster (``--roster FILE.csv``) maps submission files to students; header
(case and spaces do not matter): ``file`` (required: the submission's file
name), and any of ``name`` (or ``student``), ``id``, ``sis_user_id``,
``sis_login_id``, ``section``.  Without a roster, each submission is a row of its
own, keyed by its file name in ``Student``.  A student with two submissions of
one assignment gets the higher score; a roster student without a submission
gets an empty cell (Canvas leaves an empty cell's grade unchanged).
"""

from __future__ import annotations

import csv
import dataclasses
import io
from collections.abc import Sequence
from pathlib import Path

from .graded import Graded

FILE = "canvas.csv"
STUDENT_COLUMNS = ("Student", "ID", "SIS User ID", "SIS Login ID", "Section")
POINTS_POSSIBLE = "Points Possible"
_FIELDS = ("name", "id", "sis_user_id", "sis_login_id", "section")
_ALIASES = {"student": "name", "student_name": "name", "user_id": "id"}


class RosterError(ValueError):
    """A roster file that cannot be used (the message names the file and the row)."""


@dataclasses.dataclass(frozen=True)
class Student:
    """One student as Canvas identifies them (any field may be empty)."""

    name: str = ""
    id: str = ""
    sis_user_id: str = ""
    sis_login_id: str = ""
    section: str = ""

    def cells(self) -> list[str]:
        """The five student columns, in ``STUDENT_COLUMNS`` order."""
        return [self.name, self.id, self.sis_user_id, self.sis_login_id, self.section]


@dataclasses.dataclass(frozen=True)
class Roster:
    """Submission file name -> student, in the roster's order.

    Attributes:
        students: ``(file name, student)`` pairs; a student may own several files.
        source: where it was read from (for messages).
    """

    students: tuple[tuple[str, Student], ...]
    source: str = ""

    def lookup(self, file_name: str) -> Student | None:
        """The student who submitted ``file_name``, or None."""
        return next((s for f, s in self.students if f == file_name), None)


def _header_key(raw: str) -> str:
    key = "_".join(raw.strip().lower().split())
    return _ALIASES.get(key, key)


def read_roster(path: str | Path) -> Roster:
    """Read a roster CSV (see the module docstring for its columns).

    Raises:
        RosterError: unreadable, no ``file`` column, or a file listed twice.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise RosterError(f"--roster {path}: cannot read it ({exc}).") from exc
    reader = csv.reader(io.StringIO(text))
    header = [_header_key(h) for h in next(reader, [])]
    if "file" not in header:
        raise RosterError(
            f"--roster {path}: the header {header} has no 'file' column; give the "
            "submission's file name in a column named file (then name, id, sis_user_id, "
            "sis_login_id, section as you have them)."
        )
    pairs: list[tuple[str, Student]] = []
    seen: dict[str, int] = {}
    for number, row in enumerate(reader, start=2):
        if not any(cell.strip() for cell in row):
            continue
        record = {k: (row[i].strip() if i < len(row) else "") for i, k in enumerate(header)}
        name = record["file"]
        if not name:
            raise RosterError(f"--roster {path}, row {number}: the file cell is empty.")
        if name in seen:
            raise RosterError(
                f"--roster {path}, row {number}: {name!r} is already listed at row "
                f"{seen[name]}; list each submission file once."
            )
        seen[name] = number
        pairs.append((name, Student(**{f: record.get(f, "") for f in _FIELDS})))
    return Roster(tuple(pairs), str(path))


def unmatched(graded: Sequence[Graded], roster: Roster | None) -> list[str]:
    """The submissions the roster does not list (each gets a row keyed by its file)."""
    if roster is None:
        return []
    return [g.name for g in graded if roster.lookup(g.path.name) is None]


def to_csv(graded: Sequence[Graded], roster: Roster | None = None) -> str:
    """Canvas's gradebook import: the five student columns, one column per assignment.

    Args:
        graded: the class's submissions, in the order graded.
        roster: file name -> student (None: a row per submission, keyed by its file).

    Returns:
        CSV text: the header, the ``Points Possible`` row, then one row per student
        (submitters in the order graded, then roster students without a submission).
    """
    assignments: dict[str, float] = {}
    for g in graded:
        assignments.setdefault(g.assignment, g.max_score)
    rows: dict[Student, dict[str, float]] = {}
    for g in graded:
        student = roster.lookup(g.path.name) if roster is not None else None
        if student is None:
            student = Student(name=g.name)
        scores = rows.setdefault(student, {})
        scores[g.assignment] = max(g.score, scores.get(g.assignment, g.score))
    if roster is not None:
        for _, student in roster.students:
            rows.setdefault(student, {})
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow([*STUDENT_COLUMNS, *assignments])
    writer.writerow([POINTS_POSSIBLE, "", "", "", "", *(f"{p:g}" for p in assignments.values())])
    for student, scores in rows.items():
        cells = [f"{scores[a]:g}" if a in scores else "" for a in assignments]
        writer.writerow([*student.cells(), *cells])
    return buffer.getvalue()
