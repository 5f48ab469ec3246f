"""The demo: the bundled examples graded on the frozen cases with the default rubrics.

The correct submission and the reference score full marks; each classic mistake
loses the rubric items that are about it, with the hint that names it; the
infinite loop is reported as a timeout while the others are graded.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest

from reports.grading import autograder, explore, gradebook, run
from reports.grading.graded import Graded
from reports.grading.isolation import Limits

EXAMPLES = Path(__file__).parents[1] / "examples" / "submissions"


@pytest.fixture(scope="module")
def graded(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Graded]:
    out = tmp_path_factory.mktemp("examples")
    results = run.grade_class(
        run.collect([EXAMPLES]),
        out,
        jobs=2,
        limits=Limits(deadline=6.0),  # room for a loaded machine (3 s timed out once)
        reference=("fixed_point",),
        stream=io.StringIO(),
    )
    return {g.name: g for g in results}


def _lost(g: Graded) -> set[str]:
    return {s.item.name for s in g.items if s.score < s.item.points}


def _hint(g: Graded, item: str) -> str:
    return next(s.hint for s in g.items if s.item.name == item)


def test_examples_correct_and_reference_score_full_marks(graded: dict[str, Graded]) -> None:
    for name in ("correct_fixed_point.py", "reference (implicit, fixed_point)"):
        assert graded[name].score == graded[name].max_score == 100, name
        assert graded[name].status == "graded"


def test_examples_sign_error_loses_the_gradient_items(graded: dict[str, Graded]) -> None:
    g = graded["sign_error.py"]
    assert _lost(g) == {"gradient", "coupled", "float32"}
    assert "opposite sign" in _hint(g, "gradient")


def test_examples_missing_inverse_is_named(graded: dict[str, Graded]) -> None:
    g = graded["missing_inverse.py"]
    assert {"gradient", "coupled"} <= _lost(g)
    assert "fixed_point" not in _lost(g)
    assert "(I - f_x)^-1" in _hint(g, "gradient")


def test_examples_unrolled_loses_the_implicit_item(graded: dict[str, Graded]) -> None:
    g = graded["unrolled.py"]
    assert "implicit" in _lost(g)
    assert "unrolled" in _hint(g, "implicit")


def test_examples_infinite_loop_is_a_timeout(graded: dict[str, Graded]) -> None:
    g = graded["infinite_loop.py"]
    assert g.status == "timeout"
    assert g.score == 0
    assert sum(r.note == "timeout" for r in g.cases) == g.rubric.max_timeouts


def test_examples_notebook_shows_its_inaccurate_roots(graded: dict[str, Graded]) -> None:
    g = graded["notebook_implicit.py"]
    assert g.assignment == "implicit"
    assert "root" in _lost(g)
    assert 0 < g.score < 100


def test_examples_exploration_is_feedback_beside_the_score(
    graded: dict[str, Graded],
) -> None:
    for name in ("correct_fixed_point.py", "reference (implicit, fixed_point)"):
        found = graded[name].exploration
        assert found is not None, name
        assert not found.found, explore.text(found, name)
        assert found.examples > 0, name
    for name in ("sign_error.py", "missing_inverse.py", "unrolled.py", "notebook_implicit.py"):
        found = graded[name].exploration
        assert found is not None, name
        if name in ("unrolled.py", "notebook_implicit.py") and graded[name].status == "timeout":
            # Slow code near this fixture's deadline on a loaded machine: not explored.
            assert "timed out" in found.skipped
            continue
        assert found.found, name
        assert found.failures, name
    skipped = graded["infinite_loop.py"].exploration
    assert skipped is not None
    assert skipped.examples == 0
    assert "timed out" in skipped.skipped


def test_examples_gradebook_has_every_row(graded: dict[str, Graded]) -> None:
    book = gradebook.to_csv(list(graded.values()))
    rows = list(csv.DictReader(io.StringIO(book)))
    assert {r["submission"] for r in rows} == set(graded)
    assert all(r["max_score"] == "100" for r in rows)


def test_gradescope_run_writes_results_json(tmp_path: Path) -> None:
    submission = tmp_path / "submission"
    submission.mkdir()
    (submission / "my_fixed_point.py").write_bytes((EXAMPLES / "sign_error.py").read_bytes())
    (submission / "notes.txt").write_text("not python")
    results = tmp_path / "results" / "results.json"
    assert autograder.run(submission, results, None, None) == 0
    payload = json.loads(results.read_text())
    assert payload["score"] == 50
    assert any("opposite sign" in t["output"] for t in payload["tests"])
    assert (results.parent / "report.html").is_file()
