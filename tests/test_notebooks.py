"""Notebook submissions: the code cells as a module, magics dropped, errors at their cell.

The conversion tests run the converted module in this process on tiny notebooks
(no torch); the grading tests run the bundled notebooks in the grader's worker
with the stand-in judge and linear maps of ``test_grade``.
"""

from __future__ import annotations

import io
import json
import sys
import traceback
import types
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output
from test_grade import CASES, FAST, RUBRIC, stub_judge

from properties import assignments, candidates, notebooks
from reports.grading import run, submissions

EXAMPLES = Path(__file__).parents[1] / "examples" / "submissions"


def write(path: Path, *cells: nbformat.NotebookNode, language: str = "python") -> Path:
    nb = new_notebook(cells=list(cells), metadata={"language_info": {"name": language}})
    nbformat.write(nb, path)
    return path


def load(path: Path) -> tuple[types.ModuleType, str]:
    """Run the converted module here; returns it and what it wrote to stderr."""
    module = types.ModuleType("converted")
    err, sys.stderr = sys.stderr, io.StringIO()
    try:
        exec(compile(notebooks.to_module(notebooks.read(path)), "m", "exec"), vars(module))
        return module, sys.stderr.getvalue()
    finally:
        sys.stderr = err


def test_notebook_magics_and_shell_lines_become_pass_and_keep_line_numbers(
    tmp_path: Path,
) -> None:
    path = write(
        tmp_path / "hw.ipynb",
        new_markdown_cell("# title"),
        new_code_cell(
            "%matplotlib inline\nfiles = !ls\nx = 1\nif x:\n    !echo hi\n    y = x != 2\n"
        ),
    )
    nb = notebooks.read(path)
    assert [c.number for c in nb.cells] == [2]
    assert nb.cells[0].source.splitlines() == [
        "pass",
        "pass",
        "x = 1",
        "if x:",
        "    pass",
        "    y = x != 2",
    ]
    assert "hw.ipynb, cell 2" in nb.notes[0]
    assert "%matplotlib inline" in nb.notes[0]
    module, _ = load(path)
    assert (module.x, module.y) == (1, True)


def test_notebook_cell_magics_drop_non_python_cells_and_keep_time_bodies(
    tmp_path: Path,
) -> None:
    path = write(
        tmp_path / "hw.ipynb",
        new_code_cell("%%bash\necho not python"),
        new_code_cell("%%time\ndef f():\n    return 3"),
    )
    nb = notebooks.read(path)
    assert [c.number for c in nb.cells] == [2]
    assert any("cell 1 (%%bash) is not Python" in n for n in nb.notes)
    module, _ = load(path)
    assert module.f() == 3


def test_notebook_plot_or_print_failures_do_not_block_the_definitions(tmp_path: Path) -> None:
    path = write(
        tmp_path / "hw.ipynb",
        new_code_cell("def fixed_point(f, a, x0, distance, tol):\n    return 42"),
        new_code_cell("print('ok')\nplot(undefined)  # no such names"),
        new_code_cell("for i in range(3):\n    assert i < 1, 'student check'"),
        new_code_cell("value = fixed_point(None, 1, 0, None, 1e-9)"),
    )
    module, err = load(path)
    assert module.value == 42
    assert "hw.ipynb, cell 2, line 2: NameError" in err
    assert "hw.ipynb, cell 3, line 1: AssertionError: student check" in err


def test_notebook_definition_errors_point_at_the_cell_and_line(tmp_path: Path) -> None:
    path = write(
        tmp_path / "hw.ipynb",
        new_markdown_cell("intro"),
        new_code_cell("import math\n\nscale = math.sqrt(-1)"),
    )
    with pytest.raises(ValueError, match="math domain error") as info:
        load(path)
    frames = [(f.filename, f.lineno) for f in traceback.extract_tb(info.value.__traceback__)]
    assert ("hw.ipynb, cell 2", 3) in frames


def test_notebook_syntax_error_points_at_its_cell_before_anything_runs(tmp_path: Path) -> None:
    path = write(
        tmp_path / "hw.ipynb",
        new_code_cell("print('must not run')"),
        new_code_cell("x = 1\ndef broken(:\n    pass"),
    )
    err, sys.stdout = sys.stdout, io.StringIO()
    try:
        with pytest.raises(SyntaxError) as info:
            load(path)
        assert sys.stdout.getvalue() == ""
    finally:
        sys.stdout = err
    assert (info.value.filename, info.value.lineno) == ("hw.ipynb, cell 2", 2)


def test_notebook_outputs_widgets_and_large_images_are_ignored(tmp_path: Path) -> None:
    image = "iVBORw0KGgo" + "A" * 3_000_000  # a 3 MB "image" output: never decoded
    cell = new_code_cell(
        "def fixed_point(f, a, x0, distance, tol):\n    return 1",
        outputs=[
            new_output("display_data", data={"image/png": image}),
            new_output(
                "display_data",
                data={"application/vnd.jupyter.widget-view+json": {"model_id": "m"}},
            ),
        ],
    )
    path = write(tmp_path / "hw.ipynb", cell)
    assert assignments.infer_assignment(path) == "fixed_point"
    assert load(path)[0].fixed_point(None, 0, 0, None, 0) == 1


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ('{"cells": [{"cell_type": "code", "source": "def f(', "not a readable Jupyter notebook"),
        ("[1, 2]", "not a readable Jupyter notebook|no list of cells"),
        ("", "not a readable Jupyter notebook"),
    ],
)
def test_malformed_notebook_raises_naming_the_file(tmp_path: Path, text: str, match: str) -> None:
    path = tmp_path / "broken.ipynb"
    path.write_text(text)
    with pytest.raises(notebooks.NotebookError, match=match) as info:
        notebooks.read(path)
    assert "broken.ipynb" in str(info.value)
    with pytest.raises(assignments.TargetError, match="broken.ipynb"):
        candidates.load_target(path)


def test_notebook_in_another_language_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path / "r.ipynb", new_code_cell("x <- 1"), language="R")
    with pytest.raises(notebooks.NotebookError, match="R notebook"):
        notebooks.read(path)


def test_notebook_assignment_is_inferred_even_past_a_broken_cell(tmp_path: Path) -> None:
    path = write(
        tmp_path / "hw.ipynb",
        new_code_cell("%matplotlib inline\nimport torch"),
        new_code_cell("class Implicit(torch.autograd.Function):\n    pass"),
        new_code_cell("oops("),
    )
    assert assignments.infer_assignment(path) == "implicit"
    assert run.infer_assignment(path) == "implicit"


def test_local_check_loads_the_bundled_notebook() -> None:
    target = candidates.load_target(EXAMPLES / "notebook_fixed_point.ipynb")
    assert target.assignment == "fixed_point"
    assert target.fixed_point is not None


def test_collect_takes_notebooks_and_python_files_from_a_folder(tmp_path: Path) -> None:
    for name in ("b.py", "a.ipynb", "notes.txt", "c.ipynb"):
        (tmp_path / name).write_text("")
    (tmp_path / ".ipynb_checkpoints").mkdir()
    assert [p.name for p in run.collect([tmp_path])] == ["a.ipynb", "b.py", "c.ipynb"]


def test_script_of_a_notebook_is_a_removed_temporary_file() -> None:
    with submissions.script(EXAMPLES / "notebook_fixed_point.ipynb") as script:
        assert script.path.name == "notebook_fixed_point.ipynb.py"
        assert "_iv_run" in script.path.read_text()
        assert script.notes
    assert not script.path.exists()
    plain = submissions.script(EXAMPLES / "sign_error.py")
    with plain:
        pass
    assert plain.path.exists()


# -- graded in the worker ----------------------------------------------------------


def test_grade_class_mixes_python_files_and_notebooks_into_one_gradebook(
    tmp_path: Path,
) -> None:
    folder = tmp_path / "class"
    folder.mkdir()
    for name in ("sign_error.py", "notebook_fixed_point.ipynb", "malformed_notebook.ipynb"):
        (folder / name).write_bytes((EXAMPLES / name).read_bytes())
    write(
        folder / "typo.ipynb",
        new_markdown_cell("intro"),
        new_code_cell("import torch"),
        new_code_cell("def fixed_point(f, a, x0, distance, tol):\n    return f(a)(x0\n"),
    )
    out = tmp_path / "out"
    graded = run.grade_class(
        run.collect([folder]),
        out,
        jobs=2,
        limits=FAST,
        judge=stub_judge,
        cases={"fixed_point": CASES},
        rubrics={"fixed_point": RUBRIC},
        stream=io.StringIO(),
        explore=None,
    )
    by_name = {g.name: g for g in graded}
    assert {name: (g.status, g.score) for name, g in by_name.items()} == {
        "malformed_notebook.ipynb": ("malformed notebook", 0),
        "notebook_fixed_point.ipynb": ("graded", 10),  # as correct_fixed_point.py scores
        "sign_error.py": ("graded", 5),
        "typo.ipynb": ("syntax error", 0),
    }
    # The magics and the %%bash cell dropped, the plots run, a failing print skipped:
    notebook = by_name["notebook_fixed_point.ipynb"]
    assert "notebook_fixed_point.ipynb, cell 9, line 1: NameError" in notebook.output
    assert "cell 8 (%%bash)" in (out / notebook.slug / "report.html").read_text()
    # A syntax error is named by its cell and its line in that cell.
    assert 'File "typo.ipynb, cell 3", line 2' in (by_name["typo.ipynb"].load_error or "")
    book = (out / "gradebook.csv").read_text()
    assert "malformed_notebook.ipynb,fixed_point,0,10,malformed notebook" in book
    report = (out / "malformed_notebook.ipynb" / "report.html").read_text()
    assert "not a readable Jupyter notebook" in report
    results = json.loads((out / "malformed_notebook.ipynb" / "results.json").read_text())
    assert results["score"] == 0
