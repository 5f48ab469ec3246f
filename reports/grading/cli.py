"""Grade a class: every submission on the same frozen cases, each in its own worker.

Usage::

    python -m reports.grade [SUBMISSIONS...] [--out DIR] [-j N] [--reference]
        [--assignment fixed_point|implicit] [--rubric FILE] [--deadline SECONDS]
        [--roster FILE.csv] [--force]

``SUBMISSIONS`` are ``.py`` files, Jupyter notebooks (``.ipynb``: their code
cells, ``properties.notebooks``) or folders of them (default: the bundled
``examples/submissions/``).  Each file's assignment is read from what it
defines (without running it) unless ``--assignment`` is given.  For each file,
a worker process (``reports.grading.sandbox.Worker``) runs ``probe.observe``
on every frozen case (``properties.frozen.load_cases``); this process alone judges
the observations (``properties.checks.judge``) and scores them with the rubric
(``reports.grading.run``).
Writes, in ``--out``: ``<name>/report.html`` and ``<name>/results.json`` per
submission, ``gradebook.html`` and ``gradebook.csv``, ``canvas.csv`` (Canvas's
gradebook import; ``--roster`` maps files to students) and ``class.html`` (the
class's scores and mistakes by cause).  A file graded before into the same
``--out``, unchanged and under an unchanged grader, is not graded again
(``reports.grading.cache``; ``--force`` regrades all).

After the frozen cases, a submission that loaded and did not time out or crash
is *explored* (``reports.grading.explore``): a derandomized Hypothesis search over the
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
import dataclasses
import math
import sys
from collections.abc import Sequence
from pathlib import Path

from properties.assignments import ASSIGNMENTS

from . import canvas, classpage
from .cache import FOLDER as CACHE_FOLDER
from .cache import Cache
from .explore import DEFAULT_BUDGET, Budget
from .isolation import Limits, detect_isolation
from .rubric import RubricError
from .run import ROOT, collect, grade_class, infer_assignment

EXAMPLES = ROOT / "examples" / "submissions"


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
        help="submission .py or .ipynb files, or folders of them (default: examples/submissions/)",
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
        choices=ASSIGNMENTS,
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
        "--roster",
        type=Path,
        default=None,
        metavar="FILE.csv",
        help="CSV mapping submission files to students (columns file, name, id, sis_user_id, "
        "sis_login_id, section) for canvas.csv (default: rows keyed by file)",
    )
    parser.add_argument(
        "--force",
        action="store_true",
        help="regrade every file (default: reuse the grade of a file unchanged since the last "
        "run into --out, under an unchanged grader, rubric and frozen set)",
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
        print("error: no .py or .ipynb files to grade.", file=sys.stderr)
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
        roster = canvas.read_roster(args.roster) if args.roster is not None else None
    except canvas.RosterError as exc:
        print(f"error: {exc}", file=sys.stderr)
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
            cache=Cache(args.out / CACHE_FOLDER, force=args.force),
            roster=roster,
        )
    except RubricError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    for name in canvas.unmatched(graded, roster):
        print(f"roster: {name} is not in {args.roster}; its canvas.csv row is keyed by file.")
    for note in detect_isolation().notes:
        print(f"isolation: {note}", file=sys.stderr)
    print(f"{len(graded)} submissions graded: {args.out / 'gradebook.html'}")
    print(f"class page: {args.out / classpage.FILE}; Canvas import: {args.out / canvas.FILE}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
