"""The Gradescope bundle, run as Gradescope would: installed from the zip, not from this tree.

Gradescope unpacks the bundle into ``/autograder/source``, runs ``setup.sh`` once
(pip install of the source) and ``run_autograder`` per submission.  Here the
same zip is installed with pip into a private folder and ``run_autograder`` is
run with ``/autograder`` moved to a temporary folder and the image's venv
replaced by this interpreter plus that folder: so the wheel's contents (frozen
cases, rubrics, the probe the worker loads) and the script's paths are what is
tested, not this checkout.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from reports.grading import autograder as gradescope

EXAMPLES = Path(__file__).resolve().parents[1] / "examples" / "submissions"


@pytest.fixture(scope="module")
def autograder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("autograder")
    bundle = gradescope.bundle(root / "zip")
    with zipfile.ZipFile(bundle) as zf:
        zf.extractall(root / "source")
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
         "--target", str(root / "site"), str(root / "source")],
        check=True,
    )  # fmt: skip
    return root


def _run_autograder(root: Path, files: dict[str, str]) -> dict:
    submission = root / "submission"
    submission.mkdir(exist_ok=True)
    for old in submission.iterdir():
        old.unlink()
    for name, text in files.items():
        (submission / name).write_text(text, encoding="utf-8")
    script = (root / "source" / "run_autograder").read_text(encoding="utf-8")
    python = f"env PYTHONPATH={root / 'site'} {sys.executable}"
    # Paths first: root itself ends in "/autograder0", which must not be replaced again.
    script = script.replace("/autograder", str(root)).replace(f"{root}/venv/bin/python", python)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    done = subprocess.run(
        ["bash", "-c", script], cwd=root, env=env, capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads((root / "results" / "results.json").read_text(encoding="utf-8"))


def test_the_installed_bundle_grades_from_its_own_files(autograder: Path) -> None:
    probe = subprocess.run(
        [sys.executable, "-c", "import reports, properties; print(reports.__file__)"],
        env={**os.environ, "PYTHONPATH": str(autograder / "site")},
        cwd=autograder,
        capture_output=True,
        text=True,
        check=True,
    )
    assert probe.stdout.startswith(str(autograder / "site"))
    correct = (EXAMPLES / "correct_fixed_point.py").read_text(encoding="utf-8")
    payload = _run_autograder(autograder, {"answer.py": correct})
    assert payload["tests"], payload
    assert payload["score"] == sum(t["max_score"] for t in payload["tests"]) > 0, payload["output"]
    assert all(t["status"] == "passed" for t in payload["tests"] if t["max_score"] > 0)
    assert (autograder / "results" / "report.html").stat().st_size > 1000


def test_an_empty_submission_still_gets_results(autograder: Path) -> None:
    payload = _run_autograder(autograder, {"notes.txt": "no python here"})
    assert payload["score"] == 0
    assert "No .py file" in payload["output"]
