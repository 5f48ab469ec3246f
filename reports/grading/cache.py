"""Incremental regrades: each graded submission kept under the hash of what its grade depends on.

A submission's grade is a function of its bytes and of the grader: the frozen
cases, the rubric, the judge, the limits, the exploration budget, the isolation
the platform gives, and the grader's own code.  ``Cache.key`` hashes all of
them (the code as the sha256 of every source and data file of ``implicit``,
``properties`` and ``reports``, so that any change to the checks, the probe,
the rubric files or the pages invalidates every entry); a regrade reuses an
entry whose key matches and grades only the files that are new or changed.
Since grading is deterministic, a reused entry is what grading again would
give, so the gradebook of an incremental regrade is byte-identical to a full
one's (``--force`` ignores the entries and rewrites them).

A grade a clock decided (a timeout; exploration cut by its wall-clock backstop)
is never kept: on a loaded machine the same file may finish next time, so it is
graded again on every run.

Entries are pickles of the grader's own records (``Graded``) with the rendered
report, written by this process into ``OUT/.cache/``: trust that folder as you
trust the gradebook beside it, and never point ``--out`` at a folder that
others can write.  An entry that cannot be read is a miss, never an error.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import os
import pickle
import tempfile
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from .graded import Graded

ROOT = Path(__file__).resolve().parents[2]

#: The packages whose files make the grader's version.
PACKAGES = ("implicit", "properties", "reports")
VERSIONED_SUFFIXES = (".py", ".toml", ".json")
FOLDER = ".cache"


@functools.lru_cache(maxsize=1)
def grader_version() -> str:
    """The sha256 of every source and data file of the grader's packages (names and bytes)."""
    digest = hashlib.sha256()
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*")):
            if path.suffix in VERSIONED_SUFFIXES and "__pycache__" not in path.parts:
                digest.update(str(path.relative_to(ROOT)).encode() + b"\0")
                digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


def _name(fn: Callable[..., Any]) -> str:
    """A function's stable name (its repr holds a memory address)."""
    return f"{getattr(fn, '__module__', '')}.{getattr(fn, '__qualname__', type(fn).__name__)}"


#: Statuses a clock decided: on a loaded machine the same code may finish next time.
CLOCKED = frozenset({"timeout", "timeout at import"})


def reusable(graded: Graded) -> bool:
    """Whether a grade may be reused: not when a deadline or exploration's wall-clock
    backstop decided part of it (those depend on the machine's load, not only on the
    file), so such a file is graded again on every run."""
    exploration = graded.exploration
    timed = exploration is not None and exploration.timed_budget
    return graded.status not in CLOCKED and not timed


@dataclasses.dataclass(frozen=True)
class Entry:
    """One graded submission as cached: the record and its rendered pages.

    Attributes:
        graded: the grade.
        report: ``report.html``'s text.
        results: ``results.json``'s text.
    """

    graded: Graded
    report: str
    results: str


class Cache:
    """Graded submissions in ``folder``, by key (thread-safe).

    Args:
        folder: where entries live (created on the first store).
        force: when True every lookup misses (and stores overwrite): a full regrade.
    """

    def __init__(self, folder: Path, force: bool = False) -> None:
        self.folder = folder
        self.force = force
        self._digests: dict[int, tuple[object, str]] = {}
        self._lock = threading.Lock()

    def _cases_digest(self, cases: Sequence[object]) -> str:
        with self._lock:  # one digest per case set (hundreds of cases), not per submission
            kept = self._digests.get(id(cases))
            if kept is not None and kept[0] is cases:
                return kept[1]
            digest = hashlib.sha256(repr(tuple(cases)).encode()).hexdigest()
            self._digests[id(cases)] = (cases, digest)
            return digest

    def key(
        self,
        path: Path,
        name: str,
        assignment: str,
        rubric: object,
        cases: Sequence[object],
        judge: Callable[..., Any] | None,
        *settings: object,
    ) -> str:
        """The hash of everything the grade of ``path`` depends on.

        Args:
            path: the submission (its bytes count, not its folder).
            name: its name in the gradebook.
            assignment: the assignment it is graded for.
            rubric: the rubric (its ``repr``: items, points, deadline).
            cases: the frozen cases (their ``repr``).
            judge: the judge (None: the default), by its qualified name.
            settings: anything else the grade depends on (limits, exploration budget,
                isolation, trusted packages), each by its ``repr``.
        """
        parts = [
            grader_version(),
            hashlib.sha256(path.read_bytes()).hexdigest(),
            name,
            assignment,
            repr(rubric),
            self._cases_digest(cases),
            "" if judge is None else _name(judge),
            *(repr(s) for s in settings),
        ]
        return hashlib.sha256("\0".join(parts).encode()).hexdigest()

    def _file(self, key: str) -> Path:
        return self.folder / f"{key}.pickle"

    def load(self, key: str, path: Path) -> Entry | None:
        """The entry of ``key`` with its record pointing at ``path``, or None (a miss)."""
        if self.force:
            return None
        try:
            with self._file(key).open("rb") as handle:
                entry = pickle.load(handle)  # noqa: S301 - the grader's own output (see above)
        except Exception:  # noqa: BLE001 - missing, truncated or from another version: a miss
            return None
        if not isinstance(entry, Entry):
            return None
        return dataclasses.replace(entry, graded=dataclasses.replace(entry.graded, path=path))

    def store(self, key: str, graded: Graded, report: str, results: str) -> None:
        """Keep a graded submission and its pages under ``key`` (written whole or not at all),
        unless a clock decided its grade (``reusable``)."""
        if not reusable(graded):
            return
        self.folder.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=self.folder, suffix=".tmp")
        with os.fdopen(handle, "wb") as stream:
            pickle.dump(Entry(graded, report, results), stream, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(temporary, self._file(key))

    def reuse(self, key: str, path: Path, out: Path) -> Graded | None:
        """The cached grade of ``key`` with its pages rewritten into ``out``, or None (a miss)."""
        entry = self.load(key, path)
        if entry is None:
            return None
        folder = out / entry.graded.slug
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "report.html").write_text(entry.report, encoding="utf-8")
        (folder / "results.json").write_text(entry.results, encoding="utf-8")
        return entry.graded
