"""Grade one submission (``grade_file``) or a class (``grade_class``) in isolated workers.

For each file, a worker process (``reports.grading.sandbox.Worker``) runs
``probe.observe`` on every frozen case (``properties.frozen.load_cases``); this
process alone judges the observations (``reports.grading.judging``) and scores
them with the rubric.  ``grade_class`` writes, in its output folder,
``<name>/report.html`` and ``<name>/results.json`` per submission,
``gradebook.html`` and ``gradebook.csv``.

After the frozen cases, a submission that loaded and did not time out or crash
is *explored* (``reports.grading.explore``): a derandomized Hypothesis search over
the property suite's cases, each case run in the same worker and judged here, that
shrinks to the smallest case on which a scored check fails.  The reports show
that case and how to reproduce it; the score never depends on it.

Grading is deterministic: the same file on the same frozen cases gets the same
score, the same exploration result and the same CSV bytes; a submission that hangs costs at most
``max_timeouts`` deadlines before its remaining cases are marked as not run.
"""

from __future__ import annotations

import concurrent.futures
import sys
import tempfile
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TextIO

from properties import assignments

from . import canvas, classpage, gradebook, gradescope_results, submissions
from . import explore as explore_mod
from . import rubric as rubric_mod
from .cache import Cache
from .canvas import Roster
from .explore import DEFAULT_BUDGET, Budget, Exploration
from .graded import Graded
from .isolation import Isolation, Limits, detect_isolation
from .judging import Case, Judge, default_judge, load_cases, not_run, run_case
from .records import LOAD_STATUSES, CaseResult
from .rubric import Rubric
from .sandbox import Worker

ROOT = Path(__file__).resolve().parents[2]
PROBE = ROOT / "properties" / "probe.py"


def infer_assignment(path: Path) -> str | None:
    """The assignment a file is written for, from its top-level names (never run).

    Returns:
        "fixed_point" or "implicit" (``properties.assignments.infer_assignment``),
        or None when the file defines neither or does not parse.
    """
    try:
        return assignments.infer_assignment(path)
    except assignments.TargetError:
        return None


# -- one submission ----------------------------------------------------------------


def grade_file(
    path: Path,
    *,
    name: str | None = None,
    assignment: str | None = None,
    rubric: Rubric | None = None,
    cases: Sequence[Case] | None = None,
    judge: Judge | None = None,
    limits: Limits | None = None,
    probe: Path = PROBE,
    isolation: Isolation | None = None,
    on_case: Callable[[int, int], None] | None = None,
    trusted: tuple[str, ...] = (),
    explore: Budget | None = DEFAULT_BUDGET,
) -> Graded:
    """Grade one file in its own worker (nothing it does raises here).

    Args:
        path: the submission.
        name: how to call it (default: the file name).
        assignment: default: inferred from the file, else the rubric's.
        rubric: default: the shipped rubric of the assignment.
        cases: default: the frozen cases of the assignment.
        judge: default: ``properties.checks.judge``.
        limits: default: ``Limits(deadline=rubric.deadline)``.
        probe: the probe module file run in the worker.
        isolation: default: ``detect_isolation()``.
        on_case: called with (cases done, cases in all) for progress.
        trusted: our packages the worker may import (only to grade the reference).
        explore: the exploration budget after the frozen cases (``reports.grading.explore``),
            or None for none.  It never changes the score.
    """
    assignment = assignment or infer_assignment(path) or (rubric.assignment if rubric else None)
    assignment = assignment or "fixed_point"
    rubric = rubric or rubric_mod.load(None, assignment)
    cases = list(cases) if cases is not None else load_cases(assignment)
    judge = judge or default_judge()
    limits = limits or Limits(deadline=rubric.deadline)
    isolation = isolation if isolation is not None else detect_isolation()
    graded = Graded(name or path.name, path, assignment, "graded", rubric, notes=isolation.notes)
    try:
        script = submissions.script(path)  # a notebook becomes a .py here (parsed, not run)
    except submissions.NotebookError as exc:
        graded.status, graded.load_error = submissions.MALFORMED, str(exc)
        graded.cases = [not_run(c, graded.status, str(exc)) for c in cases]
        graded.items = rubric_mod.score(rubric, graded.cases)
        return graded
    graded.notes = (*graded.notes, *script.notes)

    with script, Worker(script.path, assignment, probe, limits, isolation, trusted) as worker:
        hello = worker.hello()
        if hello.error is not None:
            graded.status = LOAD_STATUSES.get(hello.error_kind or "", "import error")
            graded.load_error = hello.error
            results = [not_run(c, graded.status, hello.error) for c in cases]
            tampered, files = set(hello.tampered), set()
        else:
            results, tampered, files = _run_cases(
                worker, cases, judge, rubric.max_timeouts, on_case
            )
            tampered |= set(hello.tampered)
            # Not after tampering with the grader: every case is discarded below.
            if explore is not None and not rubric_mod.grader_tampering(sorted(tampered)):
                graded.exploration = _explore(
                    worker, judge, assignment, rubric, explore, results, tampered, files
                )
        graded.tampered = tuple(sorted(tampered))
    graded.output, graded.output_total = worker.output, worker.output_total
    graded.files = tuple(sorted(files))
    forged = rubric_mod.grader_tampering(graded.tampered)
    if forged:
        message = (
            "the code replaced the grader's own functions ("
            + ", ".join(forged)
            + "), so nothing measured in its process can be trusted and no case counts"
        )
        graded.status = rubric_mod.TAMPERED
        graded.exploration = None  # tampering seen only while exploring
        results = [not_run(c, rubric_mod.TAMPERED, message) for c in cases]
    graded.cases = results
    notes = {r.note for r in results if not r.ran}
    if graded.load_error is None and not forged:
        if "timeout" in notes or "not run" in notes:
            graded.status = "timeout"
        elif "crashed" in notes:
            graded.status = "crashed"
    graded.items = rubric_mod.score(rubric, results)
    return graded


def _explore(
    worker: Worker,
    judge: Judge,
    assignment: str,
    rubric: Rubric,
    budget: Budget,
    frozen: Sequence[CaseResult],
    tampered: set[str],
    files: set[str],
) -> Exploration:
    """Explore beyond the frozen cases in the same worker (``reports.grading.explore``)."""
    notes = {r.note for r in frozen if not r.ran}
    what = [w for n, w in (("timeout", "timed out"), ("crashed", "crashed")) if n in notes]
    if what:
        return explore_mod.skipped(
            budget,
            f"the code {' and '.join(what)} on the frozen cases; fix that first "
            "(exploring would only spend more deadlines)",
        )

    def observe(case: Case) -> CaseResult:
        result, reply = run_case(worker, case, judge)
        tampered.update(reply.tampered)
        files.update(reply.files)
        return result

    return explore_mod.explore(observe, assignment, rubric, budget)


def _run_cases(
    worker: Worker,
    cases: Sequence[Case],
    judge: Judge,
    max_timeouts: int,
    on_case: Callable[[int, int], None] | None,
) -> tuple[list[CaseResult], set[str], set[str]]:
    """Run every case; returns the results, the torch names replaced, the files written."""
    results: list[CaseResult] = []
    timeouts = 0
    seen_tampered: set[str] = set()
    seen_files: set[str] = set()
    for index, case in enumerate(cases):
        if timeouts >= max_timeouts:
            message = (
                f"the code already timed out on {timeouts} cases "
                f"(limit {max_timeouts}); fix the endless loop first"
            )
            results.append(not_run(case, "not run", message))
        else:
            result, reply = run_case(worker, case, judge)
            seen_tampered.update(reply.tampered)
            seen_files.update(reply.files)
            timeouts += reply.status == "timeout"
            results.append(result)
        if on_case is not None:
            on_case(index + 1, len(cases))
    return results, seen_tampered, seen_files


# -- a class -----------------------------------------------------------------------

#: The reference solution as a one-file submission of each assignment.
REFERENCE_SHIMS = {
    "fixed_point": "from implicit import fixed_point  # noqa: F401\n",
    "implicit": (
        "from implicit import root_find\n\n\n"
        "def implicit(F, x, y0):\n    return root_find(F, x, y0)\n"
    ),
}


def reference_file(assignment: str, folder: Path) -> Path:
    """Write the reference shim of ``assignment`` into ``folder`` and return its path."""
    path = folder / f"reference_{assignment}.py"
    path.write_text(REFERENCE_SHIMS[assignment], encoding="utf-8")
    return path


collect = submissions.collect


def unique_names(paths: Sequence[Path]) -> list[str]:
    """File names, with ``name (2)`` for a repeated one (deterministic)."""
    seen: dict[str, int] = {}
    names = []
    for path in paths:
        seen[path.name] = seen.get(path.name, 0) + 1
        names.append(path.name if seen[path.name] == 1 else f"{path.name} ({seen[path.name]})")
    return names


class Progress:
    """Terminal progress: done / total, the current files, failures so far."""

    def __init__(self, total: int, stream: TextIO | None = None) -> None:
        self.total = total
        self.done = 0
        self.failures = 0
        self.stream = stream or sys.stderr
        self.lock = threading.Lock()

    def start(self, name: str) -> None:
        with self.lock:
            self._write(f"[{self.done}/{self.total}] grading {name} ...")

    def finish(self, graded: Graded, note: str = "") -> None:
        with self.lock:
            self.done += 1
            if graded.score < graded.max_score:
                self.failures += 1
            self._write(
                f"[{self.done}/{self.total}] {graded.name}: {graded.score:g}/{graded.max_score:g}"
                f" ({graded.status}{', ' + note if note else ''}); failures so far: "
                f"{self.failures}"
            )

    def _write(self, line: str) -> None:
        print(line, file=self.stream, flush=True)


def grade_class(
    paths: Sequence[Path],
    out: Path,
    *,
    jobs: int = 1,
    assignment: str | None = None,
    rubric_path: str | Path | None = None,
    limits: Limits | None = None,
    judge: Judge | None = None,
    cases: dict[str, Sequence[Case]] | None = None,
    rubrics: dict[str, Rubric] | None = None,
    reference: Sequence[str] = (),
    stream: TextIO | None = None,
    explore: Budget | None = DEFAULT_BUDGET,
    cache: Cache | None = None,
    roster: Roster | None = None,
) -> list[Graded]:
    """Grade ``paths`` (``jobs`` at a time) and write every output into ``out``.

    Besides each submission's outputs and the gradebook: ``canvas.csv`` (Canvas's
    gradebook import, rows from ``roster`` when given: ``reports.grading.canvas``) and
    ``class.html`` (the class's scores and mistakes: ``reports.grading.classpage``).
    With a ``cache`` (``reports.grading.cache``), a file whose grade is cached under
    the same key is not graded again.

    ``cases`` and ``rubrics`` (per assignment) replace the frozen cases and the
    rubric files, for tests and experiments.  ``reference`` names assignments
    whose reference solution (the ``implicit`` package) is graded too, in the
    same kind of worker, as a row of its own.  ``explore`` is each submission's
    exploration budget (None: frozen cases only); it never changes a score.

    Returns:
        One ``Graded`` per path, in the order given.
    """
    out.mkdir(parents=True, exist_ok=True)
    isolation = detect_isolation()
    rubrics = dict(rubrics or {})
    case_sets: dict[str, list[Case]] = {k: list(v) for k, v in (cases or {}).items()}
    names = unique_names(paths)
    trusted: list[tuple[str, ...]] = [()] * len(paths)
    shims = tempfile.TemporaryDirectory(prefix="iv-reference-")
    paths = list(paths)
    for chosen in reference:
        paths.append(reference_file(chosen, Path(shims.name)))
        names.append(f"reference (implicit, {chosen})")
        trusted.append(("implicit",))
    progress = Progress(len(paths), stream)
    lock = threading.Lock()

    def prepare(chosen: str) -> tuple[str, Rubric, list[Case]]:
        with lock:
            if chosen not in rubrics:
                given = rubric_mod.load(rubric_path) if rubric_path is not None else None
                ok = given is not None and given.assignment == chosen
                rubrics[chosen] = given if ok else rubric_mod.load(None, chosen)
            if chosen not in case_sets:
                case_sets[chosen] = load_cases(chosen)
            return chosen, rubrics[chosen], case_sets[chosen]

    def setup(index: int) -> tuple[str, Rubric, list[Case]]:
        if trusted[index]:
            return prepare(paths[index].stem.removeprefix("reference_"))
        chosen = assignment or infer_assignment(paths[index])
        if chosen is None and rubric_path is not None:
            chosen = rubric_mod.load(rubric_path).assignment
        return prepare(chosen or "fixed_point")

    def one(index: int) -> Graded:
        path, name = paths[index], names[index]
        chosen, rubric, chosen_cases = setup(index)
        key = ""
        if cache is not None:  # incremental: an unchanged file under an unchanged grader
            limit = limits or Limits(deadline=rubric.deadline)
            settings = (limit, explore, isolation, trusted[index])
            key = cache.key(path, name, chosen, rubric, chosen_cases, judge, *settings)
            reused = cache.reuse(key, path, out)
            if reused is not None:
                progress.finish(reused, "unchanged, not regraded")
                return reused
        progress.start(name)
        graded = grade_file(
            path,
            name=name,
            assignment=chosen,
            rubric=rubric,
            cases=chosen_cases,
            judge=judge,
            limits=limits or Limits(deadline=rubric.deadline),
            isolation=isolation,
            trusted=trusted[index],
            explore=explore,
        )
        folder = out / graded.slug
        folder.mkdir(parents=True, exist_ok=True)
        report = gradebook.student_report(graded)
        (folder / "report.html").write_text(report, encoding="utf-8")
        gradescope_results.write_results(graded, folder / "results.json")
        if cache is not None:
            cache.store(key, graded, report, (folder / "results.json").read_text(encoding="utf-8"))
        progress.finish(graded)
        return graded

    with shims, concurrent.futures.ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        graded_all = list(pool.map(one, range(len(paths))))
    (out / "gradebook.csv").write_text(gradebook.to_csv(graded_all), encoding="utf-8", newline="")
    (out / "gradebook.html").write_text(
        gradebook.to_html(graded_all, class_page=classpage.FILE), encoding="utf-8"
    )
    students = [g for g, ours in zip(graded_all, trusted) if not ours]  # not the reference
    (out / canvas.FILE).write_text(canvas.to_csv(students, roster), encoding="utf-8", newline="")
    (out / classpage.FILE).write_text(classpage.to_html(students), encoding="utf-8")
    return graded_all
