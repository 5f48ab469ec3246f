"""Grading speed: seconds per submission with the default rubric, and a class's throughput.

Usage::

    python bench/bench_grade.py [--class-size 20] [--jobs 2]

Prints, for the correct example of each assignment, the seconds to grade it on
the frozen cases (worker start, every case, judging; target <= 60 s), then
grades a class of ``--class-size`` copies of the bundled examples (correct ones
and classic mistakes, no infinite loop) with ``--jobs`` workers and prints its
throughput in submissions per minute.
"""

from __future__ import annotations

import argparse
import io
import shutil
import sys
import tempfile
import time
from pathlib import Path

from reports.grading import run

EXAMPLES = Path(__file__).resolve().parents[1] / "examples" / "submissions"
ONE = {"fixed_point": "correct_fixed_point.py", "implicit": "notebook_implicit.py"}
CLASS = (
    "correct_fixed_point.py",
    "sign_error.py",
    "missing_inverse.py",
    "unrolled.py",
    "notebook_implicit.py",
)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--class-size", type=int, default=20)
    parser.add_argument("--jobs", type=int, default=2)
    args = parser.parse_args(argv)

    for assignment, name in ONE.items():
        start = time.perf_counter()
        graded = run.grade_file(EXAMPLES / name)
        seconds = time.perf_counter() - start
        print(
            f"{assignment:12s} {name:24s} {len(graded.cases)} cases: {seconds:6.1f} s "
            f"per submission (score {graded.score:g}/{graded.max_score:g}; target <= 60 s)"
        )

    with tempfile.TemporaryDirectory(prefix="iv-bench-") as tmp:
        paths = []
        for i in range(args.class_size):
            source = EXAMPLES / CLASS[i % len(CLASS)]
            target = Path(tmp) / f"student{i:02d}_{source.name}"
            shutil.copyfile(source, target)
            paths.append(target)
        start = time.perf_counter()
        graded_all = run.grade_class(paths, Path(tmp) / "out", jobs=args.jobs, stream=io.StringIO())
        seconds = time.perf_counter() - start
    print(
        f"class of {len(graded_all)} with {args.jobs} workers: {seconds:.0f} s, "
        f"{seconds / len(graded_all):.1f} s per submission, "
        f"{60 * len(graded_all) / seconds:.1f} submissions per minute"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
