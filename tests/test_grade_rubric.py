"""Rubric files and scoring, the gradebook's CSV/HTML and Gradescope's formats (no workers)."""

from __future__ import annotations

import dataclasses
import json
import math
import stat
import zipfile
from pathlib import Path

import pytest

from properties import candidates, checks, frozen, probe
from properties.records import CheckResult, MapCase
from reports.grading import autograder, gradebook, gradescope_results, judging, rubric, run
from reports.grading.graded import Graded
from reports.grading.isolation import Isolation, Limits
from reports.grading.records import LOAD_STATUSES, CaseResult
from reports.grading.rubric import RubricError
from reports.grading.sandbox import Hello, Reply

CASE = MapCase(
    family="curve-map",
    f_source=("0.5 * x + a",),
    source="0.5*x + a",
    a=("1",),
    x0=(0.0,),
    x_star=("2",),
    dx_da=("2",),
    rho=0.5,
    sigma_min=0.5,
    tol=1e-10,
    scalar=True,
)
DEGENERATE = MapCase(
    family="curve-map",
    f_source=("x + a",),
    source="x + a",
    a=("0",),
    x0=(0.0,),
    x_star=("0",),
    dx_da=("nan",),
    rho=1.0,
    sigma_min=0.0,
    tol=1e-10,
    scalar=True,
)


def _check(name: str, status: str, case: MapCase = CASE, hint: str = "") -> CheckResult:
    return CheckResult(name, status, family=case.family, case=case.text(), hint=hint)  # type: ignore[arg-type]


def _rubric(**head: object) -> rubric.Rubric:
    return rubric.parse(
        {
            "rubric": {"assignment": "fixed_point", **head},
            "items": {
                "grad": {"points": 10, "checks": ["dx_da_formula", "dx_da_true"]},
                "degenerate": {"points": 0, "checks": ["degenerate_behaviour"], "degenerate": True},
            },
        }
    )


@pytest.mark.parametrize("assignment", rubric.ASSIGNMENTS)
def test_default_rubric_loads_and_totals_100(assignment: str) -> None:
    loaded = rubric.load(None, assignment)
    assert loaded.assignment == assignment
    assert loaded.max_score == 100
    assert any(i.degenerate and i.points == 0 for i in loaded.items)


@pytest.mark.parametrize("assignment", rubric.ASSIGNMENTS)
def test_default_rubric_names_only_checks_the_judge_makes(assignment: str) -> None:
    target = candidates.reference(assignment)
    names = {"degenerate_behaviour"}  # only at exactly degenerate points
    for case in [c for c in frozen.load_cases(assignment) if not c.degenerate][:3]:
        kind = "map" if isinstance(case, MapCase) else "curve"
        observation = probe.observe(checks.wire_for(case), target.candidate(kind))
        names.update(c.name for c in checks.judge(case, observation))
    for item in rubric.load(None, assignment).items:
        assert set(item.checks) <= names, (item.name, set(item.checks) - names)


@pytest.mark.parametrize(
    ("data", "words"),
    [
        ({"rubric": {"assignment": "nope"}, "items": {"a": {}}}, "assignment='nope'"),
        ({"rubric": {"assignment": "implicit"}}, "no [items.NAME]"),
        ({"rubric": {"assignment": "implicit"}, "items": {"a": {"points": -1}}}, "points=-1"),
        ({"rubric": {"assignment": "implicit"}, "items": {"a": {"visibility": "x"}}}, "visibility"),
        ({"rubric": {"assignment": "implicit"}, "items": {"a": {"pionts": 1}}}, "unknown keys"),
        ({"rubric": {"assignment": "implicit", "scoring": "most"}, "items": {"a": {}}}, "scoring"),
    ],
)
def test_rubric_errors_name_the_problem(data: dict, words: str) -> None:
    with pytest.raises(RubricError, match=words.replace("[", r"\[").replace("(", r"\(")):
        rubric.parse(data)


def test_rubric_scores_fraction_and_all() -> None:
    results = [
        CaseResult(CASE, (_check("dx_da_formula", "pass"), _check("dx_da_true", "pass"))),
        CaseResult(CASE, (_check("dx_da_formula", "fail", hint="sign"),)),
        CaseResult(CASE, (_check("call", "error"),), ran=False, note="raised"),
        CaseResult(CASE, (_check("call", "error"),), ran=False, note="timeout"),
    ]
    fraction = rubric.score(_rubric(scoring="fraction"), results)[0]
    assert (fraction.passed, fraction.counted, fraction.score) == (1, 4, 2.5)
    assert fraction.hint == "sign"
    assert rubric.score(_rubric(scoring="all"), results)[0].score == 0


def test_same_cause_is_claimed_only_for_identified_causes() -> None:
    two = rubric.parse(
        {
            "rubric": {"assignment": "fixed_point"},
            "items": {
                "first": {"points": 10, "checks": ["x_star"]},
                "second": {"points": 10, "checks": ["dx_da_formula"]},
            },
        }
    )

    def failing(name: str, *codes: str) -> CheckResult:
        return dataclasses.replace(_check(name, "fail"), diagnosis=codes)

    def second(*codes: str) -> rubric.ItemScore:
        results = [
            CaseResult(CASE, (failing("x_star", "timeout", "unknown"),)),
            CaseResult(CASE, (failing("dx_da_formula", *codes),)),
        ]
        return rubric.score(two, results)[1]

    assert second("timeout").same_as == "first"
    # "unknown" on both sides is no evidence of one cause: never "same cause as".
    assert second("timeout", "unknown").same_as == ""
    assert second("unknown").same_as == ""


def test_rubric_shows_a_case_it_ran_before_one_it_did_not_try() -> None:
    """After too many timeouts the rest are "not run": the smallest failure shown
    is still one the code ran (here a timeout on a longer case)."""
    longer = dataclasses.replace(
        CASE, source="x/2 + a/(2*x) + 0*x", f_source=("x/2 + a/(2*x) + 0*x",)
    )
    assert len(longer.text()) > len(CASE.text())
    results = [
        CaseResult(CASE, (_check("call", "error"),), ran=False, note="not run"),
        CaseResult(longer, (_check("call", "error", longer),), ran=False, note="timeout"),
    ]
    (grad, _) = rubric.score(_rubric(), results)
    assert [f.case for f in grad.failures] == [longer.text(), CASE.text()]


def test_rubric_reports_degenerate_cases_apart() -> None:
    results = [
        CaseResult(CASE, (_check("dx_da_formula", "pass"),)),
        CaseResult(
            DEGENERATE,
            (
                _check("dx_da_formula", "degenerate", DEGENERATE),
                _check("degenerate_behaviour", "fail", DEGENERATE),
            ),
        ),
    ]
    grad, degenerate = rubric.score(_rubric(), results)
    assert (grad.score, grad.counted, grad.degenerate) == (10, 1, 1)
    assert (degenerate.score, degenerate.counted, degenerate.status) == (0, 1, "fail")


def _graded(name: str = "a<b>.py", status: str = "graded") -> Graded:
    used = _rubric()
    results = [CaseResult(CASE, (_check("dx_da_formula", "fail", hint="<b>sign</b>"),))]
    return Graded(
        name,
        Path("/somewhere") / name,
        "fixed_point",
        status,
        used,
        items=rubric.score(used, results),
        cases=results,
        output="<script>alert(1)</script>",
        output_total=26,
    )


def test_gradebook_csv_has_the_lms_columns_and_no_paths() -> None:
    text = gradebook.to_csv([_graded(), _graded("b.py", "syntax error")])
    lines = text.splitlines()
    assert lines[0].startswith("submission,assignment,score,max_score,status")
    assert lines[1].startswith("a<b>.py,fixed_point,0,10,graded")
    assert "/somewhere" not in text
    assert text == gradebook.to_csv([_graded(), _graded("b.py", "syntax error")])


def test_gradebook_html_escapes_submission_text() -> None:
    page = gradebook.student_report(_graded())
    assert "<script>alert" not in page
    assert "&lt;b&gt;sign&lt;/b&gt;" in page
    book = gradebook.to_html([_graded()])
    assert "a&lt;b&gt;.py" in book
    assert "iv-sortable" in book


def test_gradescope_results_format() -> None:
    payload = gradescope_results.results(_graded())
    assert payload["score"] == 0
    assert payload["visibility"] == "visible"
    (test,) = [t for t in payload["tests"] if t["max_score"] == 10]
    assert set(test) == {
        "name",
        "score",
        "max_score",
        "status",
        "output",
        "output_format",
        "visibility",
        "extra_data",
    }
    assert test["extra_data"]["diagnosis"] == list(
        next(s for s in _graded().items if s.item.points == 10).diagnosis
    )
    assert set(payload["extra_data"]) == {"signals", "diagnosis"}
    assert test["status"] == "failed"
    assert "Likely mistake: <b>sign</b>" in test["output"]
    json.dumps(payload, allow_nan=False)
    assert all(math.isfinite(t["score"]) for t in payload["tests"])


def test_gradescope_bundle_is_complete_and_reproducible(tmp_path: Path) -> None:
    first = autograder.bundle(tmp_path / "one", assignment="fixed_point")
    second = autograder.bundle(tmp_path / "two", assignment="fixed_point")
    assert first.read_bytes() == second.read_bytes()
    with zipfile.ZipFile(first) as zf:
        names = set(zf.namelist())
        assert {"setup.sh", "run_autograder", "pyproject.toml"} <= names
        assert "reports/grading/worker.py" in names
        assert "properties/probe.py" in names
        assert any(n.startswith("properties/data/fixed_point") for n in names)
        for script in ("setup.sh", "run_autograder"):
            assert zf.getinfo(script).external_attr >> 16 & stat.S_IXUSR
        assert "--assignment fixed_point" in zf.read("run_autograder").decode()
        assert "torch==2.13.0" in zf.read("setup.sh").decode()


class ScriptedWorker:
    """Stands in for ``sandbox.Worker`` (no process): the same reply to every case."""

    output = ""
    output_total = 0

    def __init__(self, reply: Reply, tampered: tuple[str, ...] = ()) -> None:
        self.reply = reply
        self.tampered = tampered

    def __call__(self, *args: object) -> ScriptedWorker:  # grade_file's Worker(...)
        return self

    def __enter__(self) -> ScriptedWorker:
        return self

    def __exit__(self, *exc: object) -> None:
        pass

    def hello(self) -> Hello:
        return Hello(None, None, tampered=self.tampered)

    def observe(self, wire: dict) -> Reply:
        return self.reply

    limits = Limits(memory_bytes=2 << 30)


def _raised(assignment: str, error: str = "ValueError", message: str = "boom") -> dict:
    kind = "map" if assignment == "fixed_point" else "curve"
    return {"kind": kind, "call_error": {"type": error, "message": message}, "warnings": []}


#: What torch raises when its allocator hits the worker's memory limit.
TORCH_OOM = (
    "[enforce fail at alloc_cpu.cpp:127] err == 0. DefaultCPUAllocator: can't allocate memory: "
    "you tried to allocate 8589934592 bytes. Error code 12 (Cannot allocate memory)"
)

#: The judge's advice after a real exception, per assignment.
#: An exception gets advice about that exception (issue #10), never about iterating.
ADVICE = {"fixed_point": "ValueError usually means", "implicit": "ValueError usually means"}


@pytest.mark.parametrize("assignment", rubric.ASSIGNMENTS)
@pytest.mark.parametrize(
    ("what", "words"),
    [
        ("timeout", ["did not return", "no answer within 10 s", "iteration cap"]),
        ("crashed", ["did not return", "SIGKILL", "killed by a limit"]),
        ("tampered", ["not judged", rubric.TAMPERED, "probe.observe"]),
        ("out of memory", ["raised MemoryError", "limit is 2048 MiB", "grows at every"]),
        ("torch out of memory", ["raised MemoryError", "limit is 2048 MiB", "grows at every"]),
        ("raised", ["raised ValueError: boom"]),
    ],
)
def test_grade_feedback_says_why_the_code_did_not_run(
    monkeypatch: pytest.MonkeyPatch, assignment: str, what: str, words: list[str]
) -> None:
    worker = {
        "timeout": ScriptedWorker(
            Reply("timeout", message="no answer within 10 s, so it was stopped")
        ),
        "crashed": ScriptedWorker(Reply("crashed", message="the process died: SIGKILL (killed)")),
        # The forged observation would read as an exception: the discarded case must not.
        "tampered": ScriptedWorker(Reply("ok", _raised(assignment)), ("probe.observe",)),
        "raised": ScriptedWorker(Reply("ok", _raised(assignment))),
        "out of memory": ScriptedWorker(Reply("ok", _raised(assignment, "MemoryError", ""))),
        "torch out of memory": ScriptedWorker(
            Reply("ok", _raised(assignment, "RuntimeError", TORCH_OOM))
        ),
    }[what]
    monkeypatch.setattr(run, "Worker", worker)
    graded = run.grade_file(
        Path("student.py"),
        assignment=assignment,
        cases=judging.load_cases(assignment)[:2],
        isolation=Isolation(False, None, ()),
        explore=None,
    )
    assert graded.score == 0
    results = json.dumps(gradescope_results.results(graded))
    report = gradebook.student_report(graded)
    for text in (results, report):
        for word in words:
            assert word in text, (word, text[:2000])
        assert (ADVICE[assignment] in text) == (what == "raised")


@pytest.mark.parametrize(
    "kind",
    [
        "timeout",
        "crashed",
        "out of memory",
        "raised",
        "not run",
        rubric.TAMPERED,
        *LOAD_STATUSES.values(),
    ],
)
def test_not_run_check_words_each_kind_and_names_the_call(kind: str) -> None:
    check = judging.not_run_check(CASE, kind, "what the worker saw.\n")
    assert kind in judging.NOT_RUN_TEXT
    assert (check.name, check.status) == ("call", "error")
    # The call is named (a timeout may be the call's derivatives: the case did not finish).
    assert "fixed_point(f, a, x0, distance, tol)" in check.message.split("what the")[0]
    assert "what the worker saw." in check.message
    assert ".." not in check.message
    assert ADVICE["fixed_point"] not in check.message
