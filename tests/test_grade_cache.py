"""Incremental regrades: only new or changed files are graded, and the gradebook is the
same bytes as a full regrade's.

``run.grade_file`` is replaced by a stand-in that scores a file from what it says
(``root=pass grad=fail ...``) on the linear cases of ``test_grade``, and records
each call: the cache is ``grade_class``'s business, so this measures exactly
what it regrades, without spending a worker per file.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest
from test_grade import CASES, RUBRIC

from properties.records import CheckResult
from reports.grading import cache as cache_mod
from reports.grading import rubric as rubric_mod
from reports.grading import run
from reports.grading.graded import Graded
from reports.grading.records import CaseResult


def graded_from_text(path: Path, name: str, rubric: rubric_mod.Rubric = RUBRIC) -> Graded:
    """A graded submission whose checks are what the file says (``root=pass grad=fail``)."""
    said = dict(part.split("=") for part in path.read_text().split())
    results = [
        CaseResult(
            case,
            tuple(
                CheckResult(
                    check, said.get(check, "pass"), case=case.text(), hint=said.get("hint", "")
                )
                for check in ("root", "grad", "graph")
            ),
        )
        for case in CASES
    ]
    return Graded(
        name,
        path,
        "fixed_point",
        "graded",
        rubric,
        items=rubric_mod.score(rubric, results),
        cases=results,
    )


@pytest.fixture
def calls(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    made: list[str] = []

    def fake_grade_file(path: Path, *, name: str, rubric: rubric_mod.Rubric, **_: Any) -> Graded:
        made.append(name)
        return graded_from_text(path, name, rubric)

    monkeypatch.setattr(run, "grade_file", fake_grade_file)
    return made


def grade(folder: Path, out: Path, *, force: bool = False, rubric: Any = RUBRIC) -> list[Graded]:
    return run.grade_class(
        run.collect([folder]),
        out,
        jobs=2,
        cases={"fixed_point": CASES},
        rubrics={"fixed_point": rubric},
        stream=io.StringIO(),
        explore=None,
        cache=cache_mod.Cache(out / cache_mod.FOLDER, force=force),
    )


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    made = tmp_path / "class"
    made.mkdir()
    (made / "a.py").write_text("root=pass grad=pass graph=pass")
    (made / "b.py").write_text("root=pass grad=fail hint=sign")
    (made / "c.ipynb").write_text("root=fail grad=fail graph=fail")
    return made


def test_regrade_grades_only_the_changed_file_and_matches_a_full_regrade(
    folder: Path, tmp_path: Path, calls: list[str]
) -> None:
    out = tmp_path / "out"
    grade(folder, out)
    assert sorted(calls) == ["a.py", "b.py", "c.ipynb"]
    calls.clear()
    (folder / "b.py").write_text("root=pass grad=pass graph=pass")
    graded = grade(folder, out)
    assert calls == ["b.py"]
    assert [g.score for g in graded] == [10, 10, 0]
    incremental = {f: (out / f).read_bytes() for f in ("gradebook.csv", "canvas.csv")}
    calls.clear()
    grade(folder, tmp_path / "full", force=True)
    assert sorted(calls) == ["a.py", "b.py", "c.ipynb"]
    for name, data in incremental.items():
        assert data == (tmp_path / "full" / name).read_bytes(), name
    for sub in ("a.py", "b.py"):
        for page in ("report.html", "results.json"):
            assert (out / sub / page).read_bytes() == (tmp_path / "full" / sub / page).read_bytes()


def test_regrade_with_nothing_changed_grades_nothing_and_force_grades_all(
    folder: Path, tmp_path: Path, calls: list[str]
) -> None:
    out = tmp_path / "out"
    grade(folder, out)
    calls.clear()
    grade(folder, out)
    assert calls == []
    grade(folder, out, force=True)
    assert sorted(calls) == ["a.py", "b.py", "c.ipynb"]


def test_a_changed_rubric_regrades_every_file(
    folder: Path, tmp_path: Path, calls: list[str]
) -> None:
    out = tmp_path / "out"
    grade(folder, out)
    calls.clear()
    heavier = rubric_mod.parse(
        {
            "rubric": {"assignment": "fixed_point", "deadline": 5.0, "max_timeouts": 2},
            "items": {
                "root": {"title": "Fixed point", "points": 2},
                "grad": {"title": "Gradient", "points": 7},
                "graph": {"title": "Implicit, not unrolled", "points": 1},
            },
        },
        source="test rubric, reweighted",
    )
    graded = grade(folder, out, rubric=heavier)
    assert sorted(calls) == ["a.py", "b.py", "c.ipynb"]
    assert graded[1].score == 3


def test_a_renamed_or_moved_file_is_reused_only_under_its_name(
    folder: Path, tmp_path: Path, calls: list[str]
) -> None:
    out = tmp_path / "out"
    grade(folder, out)
    calls.clear()
    (folder / "a.py").rename(folder / "d.py")
    grade(folder, out)
    assert calls == ["d.py"]


def test_a_grade_decided_by_a_deadline_is_graded_again(
    folder: Path, tmp_path: Path, calls: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = run.grade_file

    def timing_out(path: Path, **kwargs: Any) -> Graded:
        graded = fake(path, **kwargs)
        if path.name == "b.py":
            graded.status = "timeout"
        return graded

    monkeypatch.setattr(run, "grade_file", timing_out)
    out = tmp_path / "out"
    grade(folder, out)
    calls.clear()
    grade(folder, out)
    assert calls == ["b.py"]


def test_an_unreadable_cache_entry_is_a_miss(
    folder: Path, tmp_path: Path, calls: list[str]
) -> None:
    out = tmp_path / "out"
    grade(folder, out)
    for entry in (out / cache_mod.FOLDER).glob("*.pickle"):
        entry.write_bytes(b"not a pickle")
    calls.clear()
    grade(folder, out)
    assert sorted(calls) == ["a.py", "b.py", "c.ipynb"]


def test_the_key_changes_with_each_thing_the_grade_depends_on(
    folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = cache_mod.Cache(folder / "cache")
    path = folder / "a.py"

    def key(**changed: Any) -> str:
        args = {"name": "a.py", "rubric": RUBRIC, "cases": CASES, "settings": ("limits",)}
        args.update(changed)
        settings = args.pop("settings")
        return store.key(
            path, args["name"], "fixed_point", args["rubric"], args["cases"], None, *settings
        )

    base = key()
    assert key() == base  # deterministic: no address, no time
    assert len({base, key(name="b.py"), key(cases=CASES[:2]), key(settings=("other",))}) == 4
    path.write_text(path.read_text() + " ")
    assert key() != base
    changed = key()
    monkeypatch.setattr(cache_mod, "grader_version", lambda: "another grader")
    assert key() != changed


def test_the_grader_version_hashes_the_grading_sources() -> None:
    version = cache_mod.grader_version()
    assert len(version) == 64
    assert version == cache_mod.grader_version()
