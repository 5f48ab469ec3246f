"""The main job: run the property suite on an implementation and write one HTML report.

Usage::

    python -m reports                                   # the reference implementation
    python -m reports --target path/to/solution.py      # a submission (assignment inferred)
    python -m reports --target s.py --assignment fixed_point --out out/s.html
    python -m reports --target s.py --json out/s.json   # results per property as JSON
    python -m reports -- -x -k circle                   # anything after -- goes to pytest

It runs ``python -m pytest --pyargs properties.suite --html=OUT
--self-contained-html --tb=short`` in a child process (the ``implicit_report``
plugin is registered by the package's entry point; a child keeps pytest's
assertion rewriting and warnings filters as on the command line) and prints the
report's path.  The results per property go to a JSON file beside it
(``--json``, default: the report's path with ``.json``; ``reports.results``).
A ``--target`` runs in an isolated worker with a per-case deadline
(``--deadline``), so a target that hangs, crashes or does not import still
gets its report.  The exit status is 0 when the
report was written, even if the target fails properties (the report says so);
``--strict`` makes failing properties exit 1, as pytest does.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import pytest

from properties.assignments import ASSIGNMENTS

SUITE = "properties.suite"
DEFAULT_OUT = Path("out") / "report.html"


def pytest_args(
    out: Path,
    target: str | None = None,
    assignment: str | None = None,
    extra: Sequence[str] = (),
    suite: str = SUITE,
    json_out: Path | None = None,
    deadline: float | None = None,
) -> list[str]:
    """The pytest command line (without ``pytest``) that writes the report.

    Args:
        out: where the HTML report goes.
        target: the file under test (None: the reference).
        assignment: "implicit" or "fixed_point" (None: inferred).
        extra: more pytest arguments.
        suite: the test package (or path) to run.
        json_out: where the JSON results go (None: not written).
        deadline: seconds per case of the target in its worker (None: the plugin's default).
    """
    args = ["--pyargs", suite, f"--html={out}", "--self-contained-html", "--tb=short"]
    args += ["-p", "no:cacheprovider"]
    if target:
        args += ["--target", target]
    if assignment:
        args += ["--assignment", assignment]
    if json_out is not None:
        args.append(f"--report-json={json_out}")
    if deadline is not None:
        args.append(f"--target-deadline={deadline:g}")
    return [*args, *extra]


def main(argv: list[str] | None = None) -> int:
    """Write the report and print its path; returns the process exit status."""
    parser = argparse.ArgumentParser(
        prog="python -m reports", description=__doc__.split("\n\n")[0] if __doc__ else None
    )
    parser.add_argument(
        "--target", metavar="PATH", help="file under test (default: the reference implementation)"
    )
    parser.add_argument(
        "--assignment", choices=ASSIGNMENTS, help="contract of the target (default: inferred)"
    )
    parser.add_argument(
        "--out", type=Path, default=DEFAULT_OUT, help=f"report path (default: {DEFAULT_OUT})"
    )
    parser.add_argument(
        "--json",
        type=Path,
        metavar="PATH",
        help="results per property as JSON (default: the report's path with .json)",
    )
    parser.add_argument(
        "--deadline",
        type=float,
        metavar="SECONDS",
        help="seconds one case of the --target may take in its isolated worker "
        "(default: the plugin's, 20)",
    )
    parser.add_argument(
        "--profile",
        choices=("dev", "ci", "thorough", "grade"),
        help="Hypothesis profile (default: $IMPLICIT_PROFILE, else ci)",
    )
    parser.add_argument(
        "--strict", action="store_true", help="exit 1 when a property fails (default: exit 0)"
    )
    parser.add_argument(
        "--suite", default=SUITE, help=f"test package or path to run (default: {SUITE})"
    )
    parser.add_argument("pytest_args", nargs="*", help="extra pytest arguments, after --")
    options = parser.parse_args(argv)
    if options.target and not Path(options.target).is_file():
        parser.error(f"--target {options.target!r}: no such file")
    if options.profile:
        os.environ["IMPLICIT_PROFILE"] = options.profile
    os.environ.setdefault("MPLBACKEND", "Agg")
    out = options.out.resolve()
    target = str(Path(options.target).resolve()) if options.target else None
    json_out = (options.json or out.with_suffix(".json")).resolve()
    out.unlink(missing_ok=True)  # an old report must not pass for this run's
    json_out.unlink(missing_ok=True)
    args = pytest_args(
        out,
        target,
        options.assignment,
        options.pytest_args,
        options.suite,
        json_out=json_out,
        deadline=options.deadline,
    )
    code = subprocess.call([sys.executable, "-m", "pytest", *args])
    if not out.is_file():
        print(f"no report written (pytest exit status {int(code)})", file=sys.stderr)
        return int(code) or 1
    print(f"report: {out}")
    if json_out.is_file():
        print(f"results: {json_out}")
    if code == pytest.ExitCode.TESTS_FAILED:
        print("some properties failed: see the summary at the top of the report")
        return 1 if options.strict else 0
    return int(code)


if __name__ == "__main__":
    sys.exit(main())
