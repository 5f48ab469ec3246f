"""What a submission file becomes before its worker loads it: a ``.py`` file as it is,
a notebook converted to one (``properties.notebooks``: parsed here, never run here).

The converted module is written into a private temporary folder, named
``NAME.ipynb.py`` so that the few frames of the converter's own that a traceback
shows name the notebook; the cells' own frames read ``"NAME.ipynb, cell N"``.
"""

from __future__ import annotations

import dataclasses
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path

from properties import notebooks
from properties.notebooks import NotebookError

#: The files a folder of submissions contributes, by suffix.
SUFFIXES = (".py", notebooks.SUFFIX)

#: Gradebook status of a notebook that cannot be read as one.
MALFORMED = "malformed notebook"


@dataclasses.dataclass
class Script:
    """The ``.py`` file to load for a submission; a context manager that removes a
    converted file (and only a converted one) on exit.

    Attributes:
        path: the file the worker loads.
        notes: what the conversion dropped or replaced (empty for a ``.py``).
    """

    path: Path
    notes: tuple[str, ...] = ()
    _folder: str | None = None

    def __enter__(self) -> Script:
        return self

    def __exit__(self, *exc: object) -> None:
        if self._folder is not None:
            shutil.rmtree(self._folder, ignore_errors=True)
            self._folder = None


def script(path: Path) -> Script:
    """The Python file to grade for ``path``.

    Raises:
        NotebookError: a notebook that cannot be read (its message is the gradebook's).
    """
    if not notebooks.is_notebook(path):
        return Script(path)
    notebook = notebooks.read(path)
    folder = tempfile.mkdtemp(prefix="iv-notebook-")
    converted = Path(folder) / f"{path.name}.py"
    converted.write_text(notebooks.to_module(notebook), encoding="utf-8")
    return Script(converted, notebook.notes, folder)


def collect(paths: Sequence[str | Path]) -> list[Path]:
    """The ``.py`` and ``.ipynb`` files named, or contained (not recursively) in the
    folders named, in ``paths``: each folder's in name order.

    Raises:
        FileNotFoundError: a path that does not exist.
    """
    found: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            found.extend(
                sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() in SUFFIXES)
            )
        elif path.is_file():
            found.append(path)
        else:
            raise FileNotFoundError(f"{raw}: no such file or folder of submissions.")
    return found


__all__ = ["MALFORMED", "SUFFIXES", "NotebookError", "Script", "collect", "script"]
