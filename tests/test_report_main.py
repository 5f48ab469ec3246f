"""Tests of ``python -m reports`` (the main job's command)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from reports import samples
from reports.__main__ import SUITE, pytest_args


def test_pytest_args_forward_target_and_assignment(tmp_path: Path) -> None:
    args = pytest_args(tmp_path / "r.html", "/s/x.py", "fixed_point", ["-x"])
    assert args[:2] == ["--pyargs", SUITE]
    assert f"--html={tmp_path / 'r.html'}" in args
    assert "--self-contained-html" in args
    assert args[-5:] == ["--target", "/s/x.py", "--assignment", "fixed_point", "-x"]
    assert "--target" not in pytest_args(tmp_path / "r.html")


def _main(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    (tmp_path / "test_fake.py").write_text(samples.FAKE_SUITE)
    (tmp_path / "sub.py").write_text("")
    env = {**os.environ, "FAKE_SIGN_ERROR": "1"}
    return subprocess.run(
        [sys.executable, "-m", "reports", "--suite", "test_fake.py", "--target", "sub.py", *args],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_main_writes_the_report_and_prints_its_path(tmp_path: Path) -> None:
    done = _main(tmp_path, "--out", "o/r.html", "--strict", "--", "-q", "-W", "error")
    report = tmp_path / "o" / "r.html"
    assert report.is_file()
    assert f"report: {report}" in done.stdout
    assert done.returncode == 1  # --strict: failing properties fail the command
    assert "Verification report: sub.py" in report.read_text()


def test_main_rejects_a_missing_target(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "reports", "--target", "nope.py"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert "no such file" in done.stderr
