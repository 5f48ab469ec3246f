"""Gradescope's autograder: the bundle, and the driver it runs on every submission.

The bundle (``python -m reports.grading.autograder bundle --out DIR``, also
``python -m reports.gradescope bundle``) is a zip with
``setup.sh`` (installs Python, torch's CPU wheel and this project) and
``run_autograder`` (grades ``/autograder/submission/*.py`` with the same
isolated worker and writes ``/autograder/results/results.json``), so a course
can grade on Gradescope's machines.  Gradescope's default container has
768 MB; the worker's address-space limit is 2 GB, so pick a 2 GB container.
"""

from __future__ import annotations

import argparse
import json
import stat
import sys
import zipfile
from collections.abc import Sequence
from pathlib import Path

from properties.assignments import ASSIGNMENTS

from . import gradebook
from . import rubric as rubric_mod
from .gradescope_results import write_results
from .run import grade_file, infer_assignment

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("implicit", "properties", "reports")
#: A fixed timestamp for every zip entry: the same sources give the same bundle bytes.
ZIP_TIME = (2024, 1, 1, 0, 0, 0)

SETUP_SH = """#!/usr/bin/env bash
# Gradescope runs this once when the autograder image is built.
set -euo pipefail
apt-get update
apt-get install -y python3 python3-venv python3-pip util-linux
python3 -m venv /autograder/venv
/autograder/venv/bin/pip install --upgrade pip
# The CPU wheel: the default index would pull a multi-GB CUDA build.
/autograder/venv/bin/pip install --index-url https://download.pytorch.org/whl/cpu torch==2.13.0
/autograder/venv/bin/pip install /autograder/source
"""

RUN_AUTOGRADER = """#!/usr/bin/env bash
# Gradescope runs this for every submission.
set -uo pipefail
mkdir -p /autograder/results
cd /autograder
/autograder/venv/bin/python -m reports.grading.autograder run \\
    --submission /autograder/submission \\
    --results /autograder/results/results.json {options}
"""


# -- the bundle --------------------------------------------------------------------


def _add(zf: zipfile.ZipFile, name: str, data: bytes, executable: bool = False) -> None:
    info = zipfile.ZipInfo(name, date_time=ZIP_TIME)
    mode = 0o755 if executable else 0o644
    info.external_attr = (stat.S_IFREG | mode) << 16
    info.compress_type = zipfile.ZIP_DEFLATED
    zf.writestr(info, data)


def _sources() -> list[tuple[str, Path]]:
    files = []
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc":
                files.append((f"{package}/{path.relative_to(ROOT / package).as_posix()}", path))
    for extra in ("pyproject.toml", "README.md", "constraints.txt"):
        if (ROOT / extra).is_file():
            files.append((extra, ROOT / extra))
    return files


def bundle(out: Path, assignment: str | None = None, rubric_path: str | Path | None = None) -> Path:
    """Write ``autograder.zip`` into ``out`` and return its path.

    Args:
        out: the folder to write into.
        assignment: fix the assignment (default: inferred from each submission).
        rubric_path: a rubric to ship instead of the default one.
    """
    options = []
    if assignment:
        options.append(f"--assignment {assignment}")
    if rubric_path is not None:
        rubric_mod.load(rubric_path)  # refuse a broken rubric now, not on Gradescope
        options.append("--rubric /autograder/source/rubric.toml")
    out.mkdir(parents=True, exist_ok=True)
    target = out / "autograder.zip"
    with zipfile.ZipFile(target, "w") as zf:
        _add(zf, "setup.sh", SETUP_SH.encode(), executable=True)
        script = RUN_AUTOGRADER.format(options=" ".join(options))
        _add(zf, "run_autograder", script.encode(), executable=True)
        if rubric_path is not None:
            _add(zf, "rubric.toml", Path(rubric_path).read_bytes())
        sources = _sources()
        for name, path in sources:
            _add(zf, name, path.read_bytes())
        if "README.md" not in {name for name, _ in sources}:
            _add(zf, "README.md", b"implicit-verify autograder\n")  # pyproject's readme
    return target


def pick_submission(folder: Path, assignment: str | None) -> Path | None:
    """The file to grade in a Gradescope submission folder.

    The first ``.py`` file (by name) that defines the assignment's function,
    else the first ``.py`` file, else None.
    """
    files = sorted(p for p in folder.rglob("*.py") if p.is_file())
    for path in files:
        found = infer_assignment(path)
        if found is not None and (assignment is None or found == assignment):
            return path
    return files[0] if files else None


def run(
    submission: Path, results_path: Path, assignment: str | None, rubric_path: str | None
) -> int:
    """Grade the Gradescope submission folder and write ``results.json``."""
    path = pick_submission(submission, assignment) if submission.is_dir() else submission
    results_path.parent.mkdir(parents=True, exist_ok=True)
    if path is None:
        payload = {
            "score": 0,
            "output": "No .py file was submitted: upload one file defining the function.",
            "visibility": "visible",
            "tests": [],
        }
        results_path.write_text(json.dumps(payload, indent=1) + "\n", encoding="utf-8")
        return 0
    rubric = rubric_mod.load(rubric_path, assignment) if rubric_path or assignment else None
    graded = grade_file(path, assignment=assignment, rubric=rubric)
    write_results(graded, results_path)
    (results_path.parent / "report.html").write_text(gradebook.student_report(graded), "utf-8")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m reports.grading.autograder")
    commands = parser.add_subparsers(dest="command", required=True)
    make = commands.add_parser("bundle", help="write autograder.zip (setup.sh, run_autograder)")
    make.add_argument("--out", type=Path, required=True)
    make.add_argument("--assignment", choices=ASSIGNMENTS, default=None)
    make.add_argument("--rubric", default=None)
    grade = commands.add_parser("run", help="grade one Gradescope submission (run_autograder)")
    grade.add_argument("--submission", type=Path, default=Path("/autograder/submission"))
    grade.add_argument("--results", type=Path, default=Path("/autograder/results/results.json"))
    grade.add_argument("--assignment", choices=ASSIGNMENTS, default=None)
    grade.add_argument("--rubric", default=None)
    args = parser.parse_args(argv)
    if args.command == "bundle":
        print(bundle(args.out, args.assignment, args.rubric))
        return 0
    return run(args.submission, args.results, args.assignment, args.rubric)


if __name__ == "__main__":
    sys.exit(main())
