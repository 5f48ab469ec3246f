"""Grade a class: every submission on the same frozen cases, each in its own worker.

Usage::

    python -m reports.grade [SUBMISSIONS...] [--out DIR] [-j N] [--reference]
        [--assignment fixed_point|implicit] [--rubric FILE] [--deadline SECONDS]

``SUBMISSIONS`` are ``.py`` files or folders of them (default: the bundled
``examples/submissions/``).  Each file's assignment is read from what it
defines (without running it) unless ``--assignment`` is given.  For each file,
a worker process (``reports.sandbox.Worker``) runs ``probe.observe`` on every
frozen case (``properties.frozen.load_cases``); this process alone judges the
observations (``properties.checks.judge``) and scores them with the rubric.
Writes, in ``--out``: ``<name>/report.html`` and ``<name>/results.json`` per
submission, ``gradebook.html`` and ``gradebook.csv``.

After the frozen cases, a submission that loaded and did not time out or crash
is *explored* (``reports.explore``): a derandomized Hypothesis search over the
property suite's cases, each case run in the same worker and judged here, that
shrinks to the smallest case on which a scored check fails.  The reports show
that case and how to reproduce it; the score never depends on it (``--explore
0`` turns it off).

Grading is deterministic: the same file on the same frozen cases gets the same
score, the same exploration result and the same CSV bytes; a submission that hangs costs at most
``max_timeouts`` deadlines before its remaining cases are marked as not run.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import dataclasses
import math
import sys
import tempfile
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TextIO

from properties import candidates
from properties.records import CheckResult, CurveCase, MapCase

from . import explore as explore_mod
from . import gradebook
from . import rubric as rubric_mod
from .explore import DEFAULT_BUDGET, SYMBOLIC_LOCK, Budget, Exploration
from .rubric import CaseResult, ItemScore, Rubric
from .sandbox import Isolation, Limits, Reply, Worker, detect_isolation

Case = CurveCase | MapCase
Judge = Callable[[Case, dict[str, Any]], list[CheckResult]]

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples" / "submissions"
PROBE = ROOT / "properties" / "probe.py"

#: Gradebook status of a submission, worst first.
LOAD_STATUSES = {
    "syntax": "syntax error",
    "import": "import error",
    "exit": "exited at import",
    "missing": "missing function",
    "timeout": "timeout at import",
    "crash": "crashed at import",
}


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


# -- assignment --------------------------------------------------------------------


def infer_assignment(path: Path) -> str | None:
    """The assignment a file is written for, from its top-level names (never run).

    Returns:
        "fixed_point" or "implicit" (``properties.candidates.infer_assignment``),
        or None when the file defines neither or does not parse.
    """
    try:
        return candidates.infer_assignment(path)
    except candidates.TargetError:
        return None


# -- cases and judging -------------------------------------------------------------


def load_cases(assignment: str) -> list[Case]:
    """The frozen cases of ``assignment``, non-degenerate ones first (stable order)."""
    from properties import frozen

    cases = list(frozen.load_cases(assignment))
    return sorted(cases, key=lambda c: c.degenerate)


def wire_of(case: Case) -> dict[str, Any]:
    """What the worker is sent for ``case``: ``properties.checks.wire_for`` (fixed weights)."""
    from properties.checks import wire_for

    return wire_for(case)


def default_judge() -> Judge:
    """``properties.checks.judge``."""
    from properties.checks import judge

    return judge


#: The "call" check of a case the code did not run to a value, per ``CaseResult.note``.
#: ``{call}`` is the call as the judge names it (``checks.call_text``), ``{kind}`` the
#: note and ``{detail}`` what the worker or the grader saw.  An exception the code
#: raised is not here: the probe records it and the judge gives its own advice.
NOT_RUN_TEXT = {
    "timeout": (
        "{call} did not return on this case: {detail}. It raised nothing, it never "
        "finished: check the iteration cap (every loop must stop after a bounded number "
        "of steps, and raise or warn when the tolerance is not reached) and look for a "
        "loop that never ends (a map that does not contract, a tol below the dtype's "
        "precision)."
    ),
    "crashed": (
        "{call} did not return on this case: {detail}. It raised nothing: the process "
        "running it was killed by a limit or ended. Look for memory that grows at every "
        "iteration (lists or graphs kept across iterations, huge tensors) and for calls "
        "that end the process (os._exit, native code)."
    ),
    "raised": (
        "{call} gave no value on this case: {detail}. It must return its result or raise "
        "an Exception (never call sys.exit() or exit(): they end the process)."
    ),
    "out of memory": (
        "{call} raised MemoryError on this case: {detail}. Look for memory that grows at "
        "every iteration (lists or graphs kept across iterations) or a tensor far larger "
        "than the problem."
    ),
    "not run": "{call} was not run on this case: {detail}.",
    rubric_mod.TAMPERED: "{call} was not judged on this case ({kind}): {detail}.",
    **dict.fromkeys(
        LOAD_STATUSES.values(),
        "{call} could not be called ({kind}): {detail}.",
    ),
}


def not_run_check(case: Case, kind: str, detail: str) -> CheckResult:
    """The "call" error of a case the code did not run to a value (``NOT_RUN_TEXT``)."""
    from properties.checks import call_text

    template = NOT_RUN_TEXT.get(kind, "{call} was not run on this case ({kind}): {detail}.")
    detail = detail.strip().rstrip(".") or "no details"
    return CheckResult(
        "call",
        "error",
        family=case.family,
        case=case.text(),
        message=template.format(call=call_text(case), kind=kind, detail=detail),
        degeneracy=float(case.degeneracy),
    )


def judge_safely(judge: Judge, case: Case, observation: dict[str, Any]) -> tuple[CheckResult, ...]:
    """``judge`` that never raises: an observation it cannot read is an error result.

    Holds ``SYMBOLIC_LOCK``: the judge evaluates closed forms in mpmath, whose
    precision is process-wide, while other submissions are graded in threads.
    """
    try:
        with SYMBOLIC_LOCK:
            return tuple(judge(case, observation))
    except Exception as exc:  # noqa: BLE001 - a malformed observation must not stop grading
        return (
            CheckResult(
                name="call",
                status="error",
                family=case.family,
                case=case.text(),
                message=f"the grader could not read what the code returned: {exc}",
            ),
        )


def _not_run(case: Case, kind: str, detail: str) -> CaseResult:
    """A case the code did not run to a value: never judged, worded by ``kind``."""
    return CaseResult(case, (not_run_check(case, kind, detail),), ran=False, note=kind)


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
        explore: the exploration budget after the frozen cases (``reports.explore``),
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

    with Worker(path, assignment, probe, limits, isolation, trusted) as worker:
        hello = worker.hello()
        if hello.error is not None:
            graded.status = LOAD_STATUSES.get(hello.error_kind or "", "import error")
            graded.load_error = hello.error
            results = [_not_run(c, graded.status, hello.error) for c in cases]
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
        results = [_not_run(c, rubric_mod.TAMPERED, message) for c in cases]
    graded.cases = results
    notes = {r.note for r in results if not r.ran}
    if graded.load_error is None and not forged:
        if "timeout" in notes or "not run" in notes:
            graded.status = "timeout"
        elif "crashed" in notes:
            graded.status = "crashed"
    graded.items = rubric_mod.score(rubric, results)
    return graded


def run_case(worker: Worker, case: Case, judge: Judge) -> tuple[CaseResult, Reply]:
    """Run one case in ``worker`` and judge it here; returns the result and the reply."""
    reply = worker.observe(wire_of(case))
    if reply.status == "ok" and reply.observation is not None:
        observation = reply.observation
        if _out_of_memory(observation.get("call_error")):
            limit = f"{worker.limits.memory_bytes / (1 << 20):g} MiB"
            return _not_run(case, "out of memory", f"the worker's limit is {limit}"), reply
        ran = "call_error" not in observation
        checks = judge_safely(judge, case, observation)
        return CaseResult(case, checks, ran=ran, note="" if ran else "raised"), reply
    note = {"timeout": "timeout", "crashed": "crashed"}.get(reply.status, "raised")
    return _not_run(case, note, reply.message), reply


def _out_of_memory(error: dict[str, Any] | None) -> bool:
    """The call failed to allocate: Python's MemoryError, or torch's allocator
    (a RuntimeError "DefaultCPUAllocator: can't allocate memory ...")."""
    if not error:
        return False
    kind, message = error.get("type"), str(error.get("message", ""))
    return kind == "MemoryError" or (kind == "RuntimeError" and "can't allocate memory" in message)


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
    """Explore beyond the frozen cases in the same worker (``reports.explore``)."""
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
            results.append(_not_run(case, "not run", message))
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


def collect(paths: Sequence[str | Path]) -> list[Path]:
    """The ``.py`` files named or contained (not recursively) in ``paths``, in order.

    Raises:
        FileNotFoundError: a path that does not exist.
    """
    found: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            found.extend(sorted(p for p in path.glob("*.py") if p.is_file()))
        elif path.is_file():
            found.append(path)
        else:
            raise FileNotFoundError(f"{raw}: no such file or folder of submissions.")
    return found


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

    def finish(self, graded: Graded) -> None:
        with self.lock:
            self.done += 1
            if graded.score < graded.max_score:
                self.failures += 1
            self._write(
                f"[{self.done}/{self.total}] {graded.name}: {graded.score:g}/{graded.max_score:g}"
                f" ({graded.status}); failures so far: {self.failures}"
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
) -> list[Graded]:
    """Grade ``paths`` (``jobs`` at a time) and write every output into ``out``.

    ``cases`` and ``rubrics`` (per assignment) replace the frozen cases and the
    rubric files, for tests and experiments.  ``reference`` names assignments
    whose reference solution (the ``implicit`` package) is graded too, in the
    same kind of worker, as a row of its own.  ``explore`` is each submission's
    exploration budget (None: frozen cases only); it never changes a score.

    Returns:
        One ``Graded`` per path, in the order given.
    """
    from . import gradescope

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
        (folder / "report.html").write_text(gradebook.student_report(graded), encoding="utf-8")
        gradescope.write_results(graded, folder / "results.json")
        progress.finish(graded)
        return graded

    with shims, concurrent.futures.ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        graded_all = list(pool.map(one, range(len(paths))))
    (out / "gradebook.csv").write_text(gradebook.to_csv(graded_all), encoding="utf-8", newline="")
    (out / "gradebook.html").write_text(gradebook.to_html(graded_all), encoding="utf-8")
    return graded_all


# -- command line ------------------------------------------------------------------


#: Worker calls exploration may spend on shrinking beyond its ``--explore`` examples.
SHRINK_CALLS = DEFAULT_BUDGET.calls - DEFAULT_BUDGET.examples


def explore_budget(examples: int) -> Budget | None:
    """The budget of ``--explore N`` (None for 0)."""
    if examples <= 0:
        return None
    return dataclasses.replace(DEFAULT_BUDGET, examples=examples, calls=examples + SHRINK_CALLS)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m reports.grade",
        description="Grade submissions on the frozen cases, each in an isolated worker.",
    )
    parser.add_argument(
        "submissions",
        nargs="*",
        help="submission .py files or folders of them (default: examples/submissions/)",
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=Path("out") / "grade",
        help="folder for the reports and the gradebook (default: out/grade)",
    )
    parser.add_argument(
        "-j", "--jobs", type=int, default=1, help="submissions graded at once (default: 1)"
    )
    parser.add_argument(
        "--assignment",
        choices=rubric_mod.ASSIGNMENTS,
        default=None,
        help="contract of every file (default: inferred from what each file defines)",
    )
    parser.add_argument("--rubric", default=None, help="rubric TOML (default: the shipped one)")
    parser.add_argument(
        "--reference",
        action="store_true",
        help="also grade the reference solution (the implicit package) of each assignment "
        "in the class, as a row of its own: it must score full marks",
    )
    parser.add_argument(
        "--explore",
        type=int,
        default=DEFAULT_BUDGET.examples,
        metavar="N",
        help="after the frozen cases, explore N more cases per submission with Hypothesis "
        "and show the smallest failing one (feedback only, never scored; shrinking adds at "
        f"most {SHRINK_CALLS} worker calls; 0: no exploration; default: "
        f"{DEFAULT_BUDGET.examples})",
    )
    parser.add_argument(
        "--deadline",
        type=float,
        default=None,
        help="seconds per case before the worker is stopped (default: the rubric's)",
    )
    return parser


def _reference_assignments(paths: Sequence[Path], args: argparse.Namespace) -> list[str]:
    if args.assignment:
        return [args.assignment]
    found = {infer_assignment(p) for p in paths} - {None}
    return sorted(str(a) for a in found) or ["fixed_point"]


def main(argv: Sequence[str] | None = None) -> int:
    """Run the grader; returns 0 when every submission was graded (whatever the scores)."""
    args = build_parser().parse_args(argv)
    try:
        paths = collect(args.submissions or [EXAMPLES])
    except FileNotFoundError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if not paths:
        print("error: no .py files to grade.", file=sys.stderr)
        return 2
    limits = None
    if args.deadline is not None:
        if not (args.deadline > 0 and math.isfinite(args.deadline)):
            print(f"error: --deadline={args.deadline} must be > 0 seconds.", file=sys.stderr)
            return 2
        limits = Limits(deadline=args.deadline)
    if args.explore < 0:
        print(f"error: --explore={args.explore} must be >= 0 cases.", file=sys.stderr)
        return 2
    try:
        graded = grade_class(
            paths,
            args.out,
            jobs=args.jobs,
            assignment=args.assignment,
            rubric_path=args.rubric,
            limits=limits,
            reference=_reference_assignments(paths, args) if args.reference else (),
            explore=explore_budget(args.explore),
        )
    except rubric_mod.RubricError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    for note in detect_isolation().notes:
        print(f"isolation: {note}", file=sys.stderr)
    print(f"{len(graded)} submissions graded: {args.out / 'gradebook.html'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
