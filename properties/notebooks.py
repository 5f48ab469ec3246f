"""Jupyter notebooks as submissions: their code cells as a Python module, never run here.

A notebook is read with nbformat (any nbformat 4 file; outputs, widgets and
embedded images are never looked at: only the code cells' sources).  Cells are
numbered as a student counts them: cell N is the N-th cell from the top,
markdown cells included.  The module built from them (``to_module``) runs the
code cells in order, as Jupyter's "Run all" would, with these differences:

- IPython line magics (``%matplotlib inline``) and shell escapes (``!pip install``)
  become ``pass`` (the line stays, so no line number moves);
- a cell that starts with a cell magic (``%%bash``, ``%%writefile``) is not Python
  and is dropped, except ``%%time`` and ``%%capture``, whose body is Python: the
  magic line goes, the body stays;
- definitions (``def``, ``class``, ``import``, assignments) run as in a ``.py``
  file: if one raises, the module does not load, as a ``.py`` would not;
- every other top-level statement (a call that plots or prints, a loop, an
  ``assert`` of the student's own) runs guarded: if it raises, one line naming
  the cell, the line and the error goes to stderr and the next statement runs.
  Such statements only show things in a notebook; the graded functions are
  what the definitions bind, so a broken plot must not cost the grade.  They
  are run rather than dropped because a later definition may use what a loop
  computed.

Every statement is compiled with the file name ``"NAME.ipynb, cell N"`` and the
line numbers of its cell, so a traceback or a syntax error reads
``File "homework.ipynb, cell 4", line 2`` with no mapping back; the cells are
parsed before any of them runs, so a syntax error anywhere stops the load, as
in a ``.py`` file.  The module needs the standard library only: it is what the
grader's worker loads.
"""

from __future__ import annotations

import dataclasses
import re
import threading
import warnings
from pathlib import Path

SUFFIX = ".ipynb"

#: Cell magics whose body is Python: the magic line is dropped, the body kept.
PYTHON_CELL_MAGICS = frozenset({"time", "capture"})

# A line magic or shell escape, possibly assigned (``files = !ls``); ``!=`` is Python.
_LINE_MAGIC = re.compile(r"^(\s*)(?:[\w.,\[\] ]+=\s*)?(?:%{1,2}[A-Za-z_]|!(?!=))")
_CELL_MAGIC = re.compile(r"^\s*%%(\w+)")

# nbformat's reader swaps the warning filters while it validates: one read at a time.
_READ_LOCK = threading.Lock()


class NotebookError(ValueError):
    """A notebook that cannot be read as one (not JSON, not nbformat 4, not Python)."""


@dataclasses.dataclass(frozen=True)
class Cell:
    """One code cell as it will run.

    Attributes:
        number: its position from the top of the notebook (1-based, all cells counted).
        source: its code, magic lines replaced by ``pass`` (same line count).
    """

    number: int
    source: str


@dataclasses.dataclass(frozen=True)
class Notebook:
    """A notebook's code, in order.

    Attributes:
        name: the file name (``homework.ipynb``), used in every error location.
        cells: the code cells kept, in order.
        notes: what was dropped or replaced, for the report (one sentence each).
    """

    name: str
    cells: tuple[Cell, ...]
    notes: tuple[str, ...] = ()

    def filename(self, cell: Cell) -> str:
        """The file name tracebacks show for ``cell``: ``"NAME.ipynb, cell N"``."""
        return f"{self.name}, cell {cell.number}"


def is_notebook(path: str | Path) -> bool:
    """Whether ``path`` names a notebook (by its suffix, ``.ipynb``)."""
    return Path(path).suffix.lower() == SUFFIX


def read(path: str | Path) -> Notebook:
    """Read a notebook's code cells (never runs them).

    Raises:
        NotebookError: unreadable, not JSON, not an nbformat 4 notebook, or not Python;
            the message names the file and what to do.
    """
    import nbformat  # the grader's side only: the worker loads the converted module

    path = Path(path)
    invalid: dict[str, object] = {}
    try:
        with _READ_LOCK, warnings.catch_warnings():
            warnings.simplefilter("ignore")  # missing cell ids and the like: not the student's
            node = nbformat.read(path, as_version=4, capture_validation_error=invalid)
    except OSError as exc:
        raise NotebookError(f"Cannot read the notebook {path.name}: {exc}.") from exc
    except Exception as exc:  # noqa: BLE001 - nbformat raises many kinds on a broken file
        raise NotebookError(
            f"{path.name} is not a readable Jupyter notebook ({type(exc).__name__}: "
            f"{_first_line(exc)}). Save it again from Jupyter (File > Save) and resubmit, "
            "or submit a .py file."
        ) from exc
    cells = node.get("cells") if hasattr(node, "get") else None
    if not isinstance(cells, list):
        raise NotebookError(f"{path.name} has no list of cells: it is not a Jupyter notebook.")
    language = str(node.get("metadata", {}).get("language_info", {}).get("name", "python"))
    if language.lower() != "python":
        raise NotebookError(
            f"{path.name} is a {language} notebook; the assignment is written in Python."
        )
    notes = []
    if invalid.get("ValidationError") is not None:
        notes.append(
            f"{path.name} does not follow the notebook schema "
            f"({_first_line(invalid['ValidationError'])}); its code cells were read anyway."
        )
    kept = []
    for number, cell in enumerate(cells, start=1):
        if not hasattr(cell, "get") or cell.get("cell_type") != "code":
            continue
        source = cell.get("source", "")
        if isinstance(source, list):
            source = "".join(str(s) for s in source)
        if not isinstance(source, str):
            raise NotebookError(f"{path.name}, cell {number}: its source is not text.")
        code, note = _strip_magics(source, f"{path.name}, cell {number}")
        if note:
            notes.append(note)
        if code is not None:
            kept.append(Cell(number, code))
    return Notebook(path.name, tuple(kept), tuple(notes))


def _first_line(exc: object) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:200] if text else type(exc).__name__


def _strip_magics(source: str, where: str) -> tuple[str | None, str]:
    """The cell's Python (None: not Python) and a note on what was dropped ("": nothing)."""
    lines = source.splitlines()
    first = next((i for i, line in enumerate(lines) if line.strip()), None)
    if first is not None:
        match = _CELL_MAGIC.match(lines[first])
        if match and match.group(1) not in PYTHON_CELL_MAGICS:
            return None, f"{where} (%%{match.group(1)}) is not Python: dropped."
        if match:
            lines[first] = ""
    dropped = []
    for i, line in enumerate(lines):
        found = _LINE_MAGIC.match(line)
        if found:
            dropped.append(line.strip())
            lines[i] = f"{found.group(1)}pass"
    if not dropped:
        return "\n".join(lines) + "\n", ""
    shown = ", ".join(dropped[:3]) + (", ..." if len(dropped) > 3 else "")
    return "\n".join(lines) + "\n", f"{where}: IPython magic or shell line skipped ({shown})."


_RUNNER = """
import ast as _iv_ast
import linecache as _iv_linecache
import sys as _iv_sys

# Statements that define names run as in a .py file; every other one is guarded.
_IV_DEFINES = (
    _iv_ast.FunctionDef, _iv_ast.AsyncFunctionDef, _iv_ast.ClassDef, _iv_ast.Import,
    _iv_ast.ImportFrom, _iv_ast.Assign, _iv_ast.AnnAssign, _iv_ast.AugAssign,
)


def _iv_run(cells, namespace):
    trees = []
    for filename, source in cells:  # every cell parsed first: a syntax error stops the load
        _iv_linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
        trees.append((filename, compile(source, filename, "exec", _iv_ast.PyCF_ONLY_AST, True)))
    for filename, tree in trees:
        for node in tree.body:
            code = compile(_iv_ast.Module([node], []), filename, "exec", dont_inherit=True)
            if isinstance(node, _IV_DEFINES):
                exec(code, namespace)
                continue
            try:
                exec(code, namespace)
            except Exception as exc:
                _iv_sys.stderr.write(
                    f"{filename}, line {node.lineno}: {type(exc).__name__}: {exc} "
                    "(not a definition: skipped, grading goes on)\\n"
                )


_iv_run(_IV_CELLS, globals())
del _iv_ast, _iv_linecache, _iv_sys, _iv_run, _IV_CELLS, _IV_DEFINES
"""


def to_module(notebook: Notebook) -> str:
    """The Python module that runs ``notebook``'s code cells (see the module docstring).

    Returns:
        Source text needing the standard library only; its definitions are the
        notebook's, and every error it raises names ``"NAME.ipynb, cell N"``.
    """
    notes = "".join(f"#   {note}\n" for note in notebook.notes)
    cells = "".join(f"    ({notebook.filename(c)!r}, {c.source!r}),\n" for c in notebook.cells)
    return (
        f"# The code cells of {notebook.name}, converted by properties/notebooks.py.\n"
        f"{notes}"
        f"_IV_CELLS = (\n{cells})\n"
        f"{_RUNNER}"
    )


def script(notebook: Notebook) -> list[tuple[int, str]]:
    """``(cell number, code)`` of every kept cell, for reading without running."""
    return [(c.number, c.source) for c in notebook.cells]
