"""The two assignments: their names, which one a file follows, and its function as a candidate.

- ``fixed_point``: the file defines ``fixed_point(f, a, x0, distance, tol) -> x*``
  (HIPS signature); the candidate is that function itself.
- ``implicit``: the file defines a ``torch.autograd.Function`` named ``Implicit``
  (called as ``Implicit.apply(x, y0, F)``) or a function ``implicit(F, x, y0)``;
  the candidate is ``solve(F, x, y0) -> y``, the probe's curve convention.

Self-contained (the standard library only): the grader's worker, where our
packages cannot be imported, loads this file by path; ``properties.candidates``,
the report and the grader import it.  The assignment of a file is read from its
syntax tree (top-level names), never by running it.
"""

from __future__ import annotations

import ast
import threading
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

#: Every assignment, by the name its rubric, frozen set and ``--assignment`` use.
ASSIGNMENTS = ("implicit", "fixed_point")


class TargetError(ValueError):
    """A target file cannot be loaded or does not define what its assignment needs."""


_AST_LOCK = threading.Lock()


def _top_level_names(tree: ast.Module) -> tuple[set[str], set[str]]:
    functions = {
        n.name for n in tree.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))
    }
    classes = {n.name for n in tree.body if isinstance(n, ast.ClassDef)}
    for node in tree.body:  # fixed_point = ... and from x import fixed_point also count
        if isinstance(node, ast.Assign):
            functions |= {t.id for t in node.targets if isinstance(t, ast.Name)}
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            imported = {(a.asname or a.name).split(".")[0] for a in node.names}
            functions |= imported
            classes |= imported
    return functions, classes


def infer_assignment(path: str | Path) -> str:
    """The assignment a submission file follows, from its top-level definitions.

    Reads the file's syntax tree (a notebook's: its code cells', see
    ``properties.notebooks``); never runs it.

    Raises:
        TargetError: unreadable file, syntax error, or neither assignment's names.
    """
    path = Path(path)
    tree = _notebook_tree(path) if path.suffix.lower() == ".ipynb" else _file_tree(path)
    functions, classes = _top_level_names(tree)
    if "fixed_point" in functions:
        return "fixed_point"
    if "Implicit" in classes or "implicit" in functions:
        return "implicit"
    raise TargetError(
        f"{path} defines neither fixed_point(f, a, x0, distance, tol) (the fixed_point "
        "assignment) nor a torch.autograd.Function named Implicit or a function "
        "implicit(F, x, y0) (the implicit assignment). Define one of them at top level."
    )


def _notebook_tree(path: Path) -> ast.Module:
    """The top-level statements of a notebook's code cells; a cell that does not parse
    defines nothing here (loading the notebook reports it, with its cell and line)."""
    from properties import notebooks  # nbformat: only ever in the grader, not the worker

    try:
        notebook = notebooks.read(path)
    except notebooks.NotebookError as exc:
        raise TargetError(str(exc)) from exc
    body: list[ast.stmt] = []
    for cell in notebook.cells:
        try:
            with _AST_LOCK:
                body += ast.parse(cell.source, filename=notebook.filename(cell)).body
        except SyntaxError:
            continue
    return ast.Module(body=body, type_ignores=[])


def _file_tree(path: Path) -> ast.Module:
    try:
        source = path.read_text(encoding="utf-8", errors="replace")
        with _AST_LOCK:  # ast.parse is not thread-safe in CPython 3.11.7 (gh-106905)
            return ast.parse(source, filename=str(path))
    except OSError as exc:
        raise TargetError(f"Cannot read the target file {path}: {exc}.") from exc
    except SyntaxError as exc:
        raise TargetError(
            f"{path} has a syntax error at line {exc.lineno}: {exc.msg}. Fix it and rerun."
        ) from exc


def expected(assignment: str) -> str:
    """What a file of ``assignment`` must define, as a student reads it."""
    if assignment == "fixed_point":
        return "a function fixed_point(f, a, x0, distance, tol)"
    return (
        "a torch.autograd.Function named Implicit (used as Implicit.apply(x, y0, F)) "
        "or a function implicit(F, x, y0)"
    )


def candidate(module: ModuleType, assignment: str) -> Callable[..., Any] | None:
    """The callable ``probe.observe`` is given for a loaded submission, or None.

    ``fixed_point``: the module's ``fixed_point``.  ``implicit``: ``Implicit.apply``
    (when ``Implicit`` has a callable ``apply``), else ``implicit``, as
    ``solve(F, x, y0)``, carrying the module's ``vector_root(F, x, y0)`` (``y`` in
    R^m, the ``vector_roots`` capability) as its ``vector_root`` attribute when
    defined.  None when the module defines neither.
    """
    if assignment == "fixed_point":
        fn = getattr(module, "fixed_point", None)
        return fn if callable(fn) else None
    cls = getattr(module, "Implicit", None)
    fn = getattr(module, "implicit", None)
    found: Callable[..., Any] | None = None
    if cls is not None and callable(getattr(cls, "apply", None)):

        def solve(F: Any, x: Any, y0: Any) -> Any:
            return cls.apply(x, y0, F)

        found = solve
    elif callable(fn):

        def solve_fn(F: Any, x: Any, y0: Any) -> Any:
            return fn(F, x, y0)

        found = solve_fn
    vector_root = getattr(module, "vector_root", None)
    if found is not None and callable(vector_root):
        found.vector_root = vector_root  # type: ignore[attr-defined]
    return found
