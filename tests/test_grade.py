"""The grader end to end on hand-made linear maps, with a small stand-in judge.

The maps are linear, so the fixed point and its derivative are exact:
``f(a)(x) = A x + a`` has ``x* = (I - A)^-1 a`` and ``dx*/da = (I - A)^-1``.
The stand-in judge reads the probe's observation the way ``properties.checks``
does (root, weighted gradient, graph size), so these tests exercise the worker,
the rubric, the outputs and determinism without depending on the frozen set.
Exploration is off here (``explore=None``): it draws the property suite's cases,
which the stand-in judge does not know; ``test_grade_explore.py`` tests it.
"""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from properties.records import CheckResult, MapCase
from reports.grading import gradebook, rubric, run
from reports.grading.graded import Graded
from reports.grading.isolation import Limits

ROOT = Path(__file__).parents[1]
EXAMPLES = ROOT / "examples" / "submissions"
HOSTILE = Path(__file__).parent / "hostile"
# Deadlines with room for a loaded 2-core machine (2 s let well-behaved code time
# out there once); the hanging cases pay it max_timeouts times.
FAST = Limits(deadline=5.0, startup=90.0, output_bytes=2048)


def linear_case(A: Sequence[Sequence[float]], a: Sequence[float], family: str) -> MapCase:
    """``f(a)(x) = A x + a`` with its exact fixed point and derivative."""
    m = len(a)
    if m == 1:
        inv = [[1.0 / (1.0 - A[0][0])]]
        sources: tuple[str, ...] = (f"{A[0][0]!r} * x + a",)
    else:
        (p, q), (r, s) = A
        det = (1 - p) * (1 - s) - q * r
        inv = [[(1 - s) / det, q / det], [r / det, (1 - p) / det]]
        sources = tuple(f"{A[i][0]!r} * x[0] + {A[i][1]!r} * x[1] + a[{i}]" for i in range(2))
    x_star = [sum(inv[i][j] * a[j] for j in range(m)) for i in range(m)]
    return MapCase(
        family=family,
        f_source=sources,
        source=" ; ".join(sources),
        a=tuple(repr(v) for v in a),
        x0=tuple(0.0 for _ in a),
        x_star=tuple(repr(v) for v in x_star),
        dx_da=tuple(repr(inv[i][j]) for i in range(m) for j in range(m)),
        rho=A[0][0],
        sigma_min=0.5,
        tol=1e-12,
        scalar=m == 1,
    )


CASES = [
    linear_case([[0.6]], [1.0], "curve-map"),
    linear_case([[-0.5]], [0.3], "curve-map"),
    linear_case([[0.3, 0.4], [-0.2, 0.1]], [1.0, -0.5], "coupled"),
]


def _floats(values: Any) -> list[float]:
    return [float(v) for v in values]


def stub_judge(case: MapCase, obs: dict[str, Any]) -> list[CheckResult]:
    """Root, weighted gradient and graph size, as ``properties.checks`` would name them."""
    base = {"family": case.family, "case": case.text()}
    if "call_error" in obs:
        message = f"{obs['call_error']['type']}: {obs['call_error']['message']}"[:300]
        return [CheckResult(n, "error", message=message, **base) for n in ("root", "grad", "graph")]
    x_star, inv = _floats(case.x_star), _floats(case.dx_da)
    m = case.m
    root_err = max(abs(x - t) for x, t in zip(_floats(obs["x"]), x_star))
    v = _floats(obs["weights"])
    want = [sum(v[i] * inv[i * m + j] for i in range(m)) for j in range(m)]
    grad_err = max(abs(g - w) for g, w in zip(_floats(obs["vjp"]), want))
    hint = (
        "gradient of the opposite sign"
        if grad_err > 1e-6 and all(abs(g + w) < 1e-6 for g, w in zip(_floats(obs["vjp"]), want))
        else ""
    )
    return [
        CheckResult("root", "pass" if root_err < 1e-8 else "fail", root_err, 1e-8, **base),
        CheckResult(
            "grad",
            "pass" if grad_err < 1e-6 else "fail",
            grad_err,
            1e-6,
            message="the weighted gradient differs from v^T (I - f_x)^-1 f_a",
            hint=hint,
            **base,
        ),
        CheckResult("graph", "pass" if obs["graph_nodes"] <= 10 else "fail", **base),
    ]


RUBRIC = rubric.parse(
    {
        "rubric": {"assignment": "fixed_point", "deadline": 5.0, "max_timeouts": 2},
        "items": {
            "root": {"title": "Fixed point", "points": 4},
            "grad": {"title": "Gradient", "points": 5},
            "graph": {"title": "Implicit, not unrolled", "points": 1},
        },
    },
    source="test rubric",
)


def grade_one(path: Path, **kwargs: Any) -> Graded:
    return run.grade_file(
        path, rubric=RUBRIC, cases=CASES, judge=stub_judge, limits=FAST, explore=None, **kwargs
    )


def test_infer_assignment_reads_the_file_without_running_it() -> None:
    assert run.infer_assignment(EXAMPLES / "correct_fixed_point.py") == "fixed_point"
    assert run.infer_assignment(EXAMPLES / "notebook_implicit.py") == "implicit"
    assert run.infer_assignment(HOSTILE / "syntax_error.py") is None
    assert run.infer_assignment(HOSTILE / "import_reference.py") == "fixed_point"


def test_grade_correct_submission_scores_full_marks() -> None:
    graded = grade_one(EXAMPLES / "correct_fixed_point.py")
    assert graded.status == "graded"
    assert (graded.score, graded.max_score) == (10, 10)
    assert [s.counted for s in graded.items] == [3, 3, 3]


def test_grade_sign_error_loses_the_gradient_points_with_its_hint() -> None:
    graded = grade_one(EXAMPLES / "sign_error.py")
    by_name = {s.item.name: s for s in graded.items}
    assert graded.score == 5
    assert by_name["grad"].score == 0
    assert by_name["grad"].hint == "gradient of the opposite sign"
    assert "opposite sign" in gradebook.student_report(graded)


def test_grade_unrolled_loses_the_graph_point() -> None:
    graded = grade_one(EXAMPLES / "unrolled.py")
    by_name = {s.item.name: s.score for s in graded.items}
    assert by_name == {"root": 4, "grad": 5, "graph": 0}


def test_grade_infinite_loop_is_a_timeout_and_stops_after_max_timeouts() -> None:
    graded = grade_one(EXAMPLES / "infinite_loop.py")
    assert graded.status == "timeout"
    assert graded.score == 0
    assert [r.note for r in graded.cases] == ["timeout", "timeout", "not run"]


def _run_class(out: Path, paths: Sequence[Path], jobs: int = 2) -> list[Graded]:
    stream = io.StringIO()
    graded = run.grade_class(
        list(paths),
        out,
        jobs=jobs,
        rubric_path=None,
        limits=FAST,
        judge=stub_judge,
        cases={"fixed_point": CASES},
        rubrics={"fixed_point": RUBRIC},
        stream=stream,
        explore=None,
    )
    assert f"[{len(paths)}/{len(paths)}]" in stream.getvalue()
    return graded


def test_grade_class_writes_every_output_and_is_byte_identical_twice(tmp_path: Path) -> None:
    paths = [EXAMPLES / "correct_fixed_point.py", EXAMPLES / "sign_error.py"]
    _run_class(tmp_path / "one", paths)
    _run_class(tmp_path / "two", paths, jobs=1)
    for name in ("gradebook.csv", "correct_fixed_point.py/results.json"):
        first = (tmp_path / "one" / name).read_bytes()
        assert first == (tmp_path / "two" / name).read_bytes(), name
    rows = list(csv.DictReader(io.StringIO((tmp_path / "one" / "gradebook.csv").read_text())))
    assert [(r["submission"], r["score"], r["max_score"], r["status"]) for r in rows] == [
        ("correct_fixed_point.py", "10", "10", "graded"),
        ("sign_error.py", "5", "10", "graded"),
    ]
    book = (tmp_path / "one" / "gradebook.html").read_text()
    assert 'href="sign_error.py/report.html"' in book
    assert (tmp_path / "one" / "sign_error.py" / "report.html").is_file()
    results = json.loads((tmp_path / "one" / "sign_error.py" / "results.json").read_text())
    assert results["score"] == 5
    assert {t["status"] for t in results["tests"]} == {"passed", "failed"}
    assert str(tmp_path) not in (tmp_path / "one" / "gradebook.csv").read_text()


EXPECTED_HOSTILE = {
    "flood_output.py": ("graded", 10),
    "hang_at_import.py": ("timeout at import", 0),
    "hang_in_call.py": ("timeout", 0),
    "import_reference.py": ("import error", 0),
    "forge_observation.py": ("tampered with the grader", 0),
    "inject_html.py": ("graded", 0),
    "missing_function.py": ("missing function", 0),
    "os_exit_in_call.py": ("crashed", 0),
    "patch_gradcheck.py": ("graded", 5),
    "segfault_in_call.py": ("crashed", 0),
    "syntax_error.py": ("syntax error", 0),
    "sys_exit_in_call.py": ("graded", 0),
    "unbounded_memory.py": ("graded", 0),  # or "timeout" when the allocation is slow
    "well_behaved.py": ("graded", 10),
    "write_files.py": ("graded", 10),
}


def test_grade_hostile_class_is_contained_and_every_row_is_written(tmp_path: Path) -> None:
    paths = sorted(HOSTILE.glob("*.py"))
    assert {p.name for p in paths} == set(EXPECTED_HOSTILE)
    before = sorted(p.name for p in HOSTILE.iterdir())
    graded = _run_class(tmp_path / "out", paths)
    got = {g.name: (g.status, g.score) for g in graded}
    if got["unbounded_memory.py"] == ("timeout", 0):
        got["unbounded_memory.py"] = ("graded", 0)
    assert got == EXPECTED_HOSTILE
    rows = (tmp_path / "out" / "gradebook.csv").read_text().splitlines()
    assert len(rows) == 1 + len(paths)
    assert sorted(p.name for p in HOSTILE.iterdir()) == before  # nothing written beside them
    report = (tmp_path / "out" / "inject_html.py" / "report.html").read_text()
    assert "<script>alert" not in report
    assert "&lt;script&gt;alert(1)" in report  # shown, escaped
    hostile = {g.name: g for g in graded}
    assert "torch.autograd.gradcheck" in hostile["patch_gradcheck.py"].tampered
    assert hostile["forge_observation.py"].tampered == ("probe.observe",)
    assert not any(c.ran for c in hostile["forge_observation.py"].cases)
    forged_report = tmp_path / "out" / "forge_observation.py" / "report.html"
    assert "every case discarded" in forged_report.read_text()
    assert hostile["flood_output.py"].output_total >= 50 << 20
    for name, words in (
        ("hang_in_call.py", "iteration cap"),
        ("os_exit_in_call.py", "exited with code 3"),
        ("segfault_in_call.py", "SIGSEGV"),
        ("forge_observation.py", "not judged on this case (tampered with the grader)"),
    ):
        assert words in (tmp_path / "out" / name / "results.json").read_text(), name
    assert not math.isnan(hostile["well_behaved.py"].score)
