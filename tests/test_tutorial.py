"""docs/tutorial.ipynb runs from top to bottom (nbclient, a fresh kernel), and is committed
without outputs.

Executed here so that ``tox`` (CI) runs it and it never rots: every cell must run
without an error, and the cells' printed results must tell the story the markdown
tells (the notebook's wrong gradient at x = 0.999, the checks blaming its root, the
exercise graded at full marks).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import nbformat

TUTORIAL = Path(__file__).parents[1] / "docs" / "tutorial.ipynb"


def test_tutorial_is_committed_without_outputs() -> None:
    nb = nbformat.read(TUTORIAL, as_version=4)
    nbformat.validate(nb)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code
    for cell in code:
        assert cell.outputs == [], cell.source[:60]
        assert cell.execution_count is None, cell.source[:60]
    assert "widgets" not in nb.metadata


def _text(cell: nbformat.NotebookNode) -> str:
    return "".join(o.get("text", "") for o in cell.outputs if o.output_type == "stream")


def test_tutorial_executes_and_tells_its_story(tmp_path: Path) -> None:
    from nbclient import NotebookClient

    nb = nbformat.read(TUTORIAL, as_version=4)
    # The kernel must import this checkout (as the test process does) and stay headless.
    env = {
        "MPLBACKEND": "Agg",
        "PYTHONPATH": os.pathsep.join(
            filter(None, [str(TUTORIAL.parents[1]), os.environ.get("PYTHONPATH", "")])
        ),
    }
    old = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        client = NotebookClient(
            nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
        )
        client.execute()
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    outputs = [_text(c) for c in nb.cells if c.cell_type == "code"]
    errors = [
        o for c in nb.cells if c.cell_type == "code" for o in c.outputs if o.output_type == "error"
    ]
    assert not errors
    story = "\n".join(outputs)
    # The notebook's gradient at x = 0.999: about -115, five times the true -22.34.
    assert re.search(r"dy/dx = -1\d\d\.\d\d   true -22\.34", story), story
    assert "dy_dx_formula  pass" in story
    assert "dy_dx_true     fail" in story
    assert "inaccurate root" in story
    assert "0 failed" in story  # verify_curve on the folium
    assert "score 100 / 100 (graded)" in story
    assert (tmp_path / "my_fixed_point.py").is_file()
