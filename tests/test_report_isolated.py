"""The suite's --target in an isolated worker: a hang, a crash or an import error is a
reported error, and the HTML report and the JSON results are always written."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from properties import checks, frozen, not_run
from properties.candidates import Target
from properties.records import CheckResult
from properties.suite import harness
from reports import samples
from reports.isolated import IsolatedRun

pytest_plugins = ("pytester",)

ROOT = Path(__file__).resolve().parents[1]
HOSTILE = ROOT / "tests" / "hostile"


def test_no_answer_is_a_call_error_and_no_signal_at_a_degenerate_point() -> None:
    regular = samples.circle_case("0.5")
    [call] = not_run.results(regular, not_run.NotObserved("timeout", "no answer within 2 s"))
    assert (call.name, call.status) == ("call", "error")
    assert "no answer within 2 s" in call.message
    assert "iteration cap" in call.message
    # raising is a signal at F_y = 0, hanging is not
    degenerate = samples.circle_case("1")
    found = {
        r.name: r.status for r in not_run.results(degenerate, not_run.NotObserved("timeout", "x"))
    }
    assert found == {"call": "error", "degenerate_behaviour": "fail"}
    skipped = not_run.results(degenerate, not_run.NotObserved("not_run", "x"))
    assert [r.name for r in skipped] == ["call"]
    with pytest.raises(ValueError, match="kind='hung' must be one of"):
        not_run.NotObserved("hung", "x")


def test_harness_runs_a_target_through_its_observer() -> None:
    case = samples.circle_case("0.5")
    seen: list[dict] = []

    def hangs(wire: dict) -> dict:
        seen.append(wire)
        raise not_run.NotObserved("timeout", "no answer within 1 s")

    target = Target("t.py", "implicit", path="t.py", observe=hangs)
    assert target.supports("curve")
    assert not target.supports("map")
    [result] = harness.run(case, target)
    assert seen == [checks.wire_for(case)]
    assert (result.name, result.status) == ("call", "error")

    def answers(wire: dict) -> dict:
        from properties import candidates, probe

        return probe.observe(wire, candidates.reference_solve)

    ok = harness.run(case, Target("t.py", "implicit", path="t.py", observe=answers))
    assert {r.status for r in ok} == {"pass"}


def test_isolated_run_stops_a_hang_and_then_stops_calling(tmp_path: Path) -> None:
    run = IsolatedRun(HOSTILE / "hang_in_call.py", None, deadline=1.0, max_consecutive=2)
    case = frozen.load_cases("fixed_point")[0]
    try:
        target = run.target()
        assert target.assignment == "fixed_point"
        assert target.observe is not None
        run.begin("t::a")
        with pytest.raises(not_run.NotObserved) as first:
            target.observe(checks.wire_for(case))
        assert first.value.kind == "timeout"
        with pytest.raises(pytest.skip.Exception, match="did not return"):
            target.observe(checks.wire_for(case))  # the same test: stop it
        run.begin("t::b")
        with pytest.raises(not_run.NotObserved):
            target.observe(checks.wire_for(case))
        run.begin("t::c")
        with pytest.raises(not_run.NotObserved) as later:
            target.observe(checks.wire_for(case))  # two in a row: no more calls
        assert later.value.kind == "not_run"
        assert "did not answer the last 2 calls" in later.value.detail
    finally:
        run.close()


def test_the_target_folder_is_importable_in_the_worker() -> None:
    # readable by the worker's user (nobody, where it can drop to it): not pytest's tmp_path
    with tempfile.TemporaryDirectory() as folder:
        os.chmod(folder, 0o755)
        _adapter_with_helper(Path(folder))


def _adapter_with_helper(tmp_path: Path) -> None:
    (tmp_path / "helper_for_adapter.py").write_text(
        "def fixed_point(f, a, x0, distance, tol):\n"
        "    x = x0\n"
        "    for _ in range(10000):\n"
        "        x, prev = f(a)(x), x\n"
        "        if distance(x, prev) <= tol:\n"
        "            return x\n"
        "    raise RuntimeError('no convergence')\n"
    )
    (tmp_path / "adapter.py").write_text("from helper_for_adapter import fixed_point\n")
    run = IsolatedRun(tmp_path / "adapter.py", None, deadline=20.0)
    try:
        observation = run.target().observe(checks.wire_for(frozen.load_cases("fixed_point")[0]))
        assert "call_error" not in observation
    finally:
        run.close()


def test_report_written_when_a_property_failed_only_in_earlier_examples(
    pytester: pytest.Pytester,
) -> None:
    """The summary once raised KeyError here (no failing row for a failing property)."""
    pytester.makepyfile(
        test_earlier="""
from properties.records import to_json
from reports import samples

def test_hypothesis_like(request):
    case = samples.circle_case("0.5")
    checks = samples.curve_checks(case)
    request.node.user_properties.append(
        ("implicit_earlier", [["circle", False, [["root", "fail"], ["dy_dx_true", "pass"]]]])
    )
    request.node.user_properties.append(("implicit_checks", to_json(checks)))
    request.node.user_properties.append(("implicit_case", to_json(case)))
"""
    )
    result = pytester.runpytest(
        *samples.STRICT_WARNINGS,
        "--html=out/r.html",
        "--self-contained-html",
        "--report-json=out/r.json",
    )
    result.assert_outcomes(passed=1)
    page = (pytester.path / "out" / "r.html").read_text(encoding="utf-8")
    assert "all of them earlier examples of a Hypothesis test" in page
    data = json.loads((pytester.path / "out" / "r.json").read_text())
    assert data["properties"]["root"]["fail"] == 1
    assert data["properties"]["root"]["pass"] == 1
    assert "smallest_failure" not in data["properties"]["root"]
    assert data["cases"] == 2


def _suite(tmp_path: Path, target: Path, *args: str) -> tuple[str, dict]:
    """Run the real suite on one frozen map case of ``target``: (HTML text, JSON)."""
    out = tmp_path / "r.html"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "MPLBACKEND": "Agg"}
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "reports",
            "--target",
            str(target),
            "--out",
            str(out),
            "--deadline",
            "3",
            "--",
            "-q",
            "-k",
            "test_frozen_case and coupled and float64_2",
            *args,
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert out.is_file(), done.stdout + done.stderr
    assert f"report: {out}" in done.stdout
    return out.read_text(encoding="utf-8"), json.loads(out.with_suffix(".json").read_text())


@pytest.mark.parametrize(
    ("name", "expect"),
    [
        ("hang_in_call.py", "did not return within the per-call deadline"),
        ("os_exit_in_call.py", "the process running it died"),
    ],
)
def test_report_and_json_written_when_the_target_hangs_or_crashes(
    tmp_path: Path, name: str, expect: str
) -> None:
    page, data = _suite(tmp_path, HOSTILE / name)
    assert "Verification report: " + name in page
    assert expect in page
    assert data["target"] == name
    assert data["properties"]["call"]["error"] == 1


def test_report_and_json_written_when_the_target_does_not_import(tmp_path: Path) -> None:
    broken = tmp_path / "broken.py"
    broken.write_text(
        "import no_such_module_here\n\ndef fixed_point(f, a, x0, distance, tol):\n    return x0\n"
    )
    page, data = _suite(tmp_path, broken)
    assert "The target could not be loaded" in page
    assert "no_such_module_here" in page
    assert "no_such_module_here" in data["load_error"]
    assert data["properties"] == {}


def test_check_results_from_a_not_run_case_are_plain_records() -> None:
    case = samples.circle_case("0.5")
    [result] = not_run.results(case, not_run.NotObserved("crashed", "SIGKILL"))
    assert isinstance(result, CheckResult)
    assert result.case == case.text()
    assert result.family == case.family


def test_a_case_that_times_out_fails_its_test_unshrunk(tmp_path: Path) -> None:
    # Shrinking a hang would wait out a deadline per step (HIPS autograd's adapter
    # spent five minutes per test so); the case that hung is the one shown.
    page, data = _suite(
        tmp_path,
        ROOT / "tests" / "wrong_targets" / "no_iteration_cap.py",
        "-k",
        "test_maps_that_do_not_contract or test_maps_with_singular_jacobian",
    )
    hazard = data["properties"]["non_contracting"]
    assert hazard["fail"] >= 1
    assert hazard["diagnosis"] == ["timeout"]
    assert "Not shrunk: a case that times out" in page
    # Its own test: a hang on maps that do not contract leaves singular maps measured.
    singular = data["properties"]["singular_map"]
    assert singular["pass"] + singular["fail"] >= 1, singular
