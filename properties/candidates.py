"""The implementation under test, as candidate callables for ``probe.observe``.

A *target* is the reference library or one submission file.  It offers
``solve(F, x, y0) -> y`` (curve cases, the ``implicit`` assignment) and/or
``fixed_point(f, a, x0, distance, tol) -> x*`` (map cases, the ``fixed_point``
assignment).  A submission file is loaded by path under a unique module name,
without putting its folder on ``sys.path`` (a class folder holding a file named
``implicit.py`` must not shadow the reference package).

The assignment of a file is inferred from what it defines at top level, read
from its syntax tree without running it, and its function is adapted to the
probe's calling convention by ``properties.assignments`` (the one adapter, also
loaded by path in the grader's worker); this module adds the error messages.
"""

from __future__ import annotations

import dataclasses
import hashlib
import importlib.util
import sys
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

from properties import notebooks
from properties.assignments import ASSIGNMENTS, TargetError, candidate, infer_assignment

#: The reference implements both assignments.
BOTH = "both"

Solve = Callable[[Any, Any, Any], Any]
FixedPoint = Callable[[Any, Any, Any, Any, float], Any]
#: A request (``properties.probe_wire.REQUEST``) -> its observation.
Observe = Callable[[dict[str, Any]], dict[str, Any]]
#: The assignment whose contract cases of a kind check.
KIND_ASSIGNMENT = {"curve": "implicit", "vector": "implicit", "map": "fixed_point"}


@dataclasses.dataclass(frozen=True)
class Target:
    """An implementation under test.

    Attributes:
        name: "implicit (reference)" or the file's name.
        assignment: "implicit", "fixed_point", or "both" (the reference, when no
            assignment was asked for).
        solve: ``solve(F, x, y0) -> y`` for curve cases, or None.
        fixed_point: ``fixed_point(f, a, x0, distance, tol) -> x*`` for map cases, or None.
        path: the submission file, None for the reference.
        observe: when set, how a case's request becomes its observation (the
            target runs elsewhere: ``solve``/``fixed_point`` are then None); it
            raises ``NotObserved`` when none came back.
    """

    name: str
    assignment: str
    solve: Solve | None = None
    fixed_point: FixedPoint | None = None
    path: str | None = None
    observe: Observe | None = None

    def supports(self, kind: str) -> bool:
        """Whether the target can be run on cases of ``kind`` ("curve" or "map")."""
        if self.observe is not None:
            return self.assignment in (BOTH, KIND_ASSIGNMENT[kind])
        return self.candidate(kind) is not None

    def candidate(self, kind: str) -> Callable[..., Any] | None:
        """The callable ``probe.observe`` needs for cases of ``kind``."""
        return self.fixed_point if kind == "map" else self.solve  # vector: solve.vector_root


# --------------------------------------------------------------------- reference


def reference_solve(F: Any, x: Any, y0: Any) -> Any:
    """``implicit.root_find(F, x, y0)`` as a curve candidate."""
    import implicit

    return implicit.root_find(F, x, y0)


def reference_vector_root(F: Any, x: Any, y0: Any) -> Any:
    """``implicit.root_find(F, x, y0, event_ndim=1)``: one problem with ``y`` in R^m."""
    import implicit

    return implicit.root_find(F, x, y0, event_ndim=1)


#: The vector-root entry point travels with the curve candidate (``assignments.candidate``).
reference_solve.vector_root = reference_vector_root  # type: ignore[attr-defined]


def reference_fixed_point(f: Any, a: Any, x0: Any, distance: Any, tol: float) -> Any:
    """``implicit.fixed_point`` (HIPS signature) as a map candidate."""
    import implicit

    return implicit.fixed_point(f, a, x0, distance, tol)


def reference(assignment: str | None = None) -> Target:
    """The reference library as a target (both assignments unless one is asked for)."""
    _check_assignment(assignment)
    return Target(
        name="implicit (reference)",
        assignment=assignment or BOTH,
        solve=reference_solve if assignment in (None, "implicit") else None,
        fixed_point=reference_fixed_point if assignment in (None, "fixed_point") else None,
    )


# -------------------------------------------------------------------- submissions


def _check_assignment(assignment: str | None) -> None:
    if assignment is not None and assignment not in ASSIGNMENTS:
        raise TargetError(f"assignment={assignment!r} must be one of {ASSIGNMENTS} (or None).")


def load_module(path: str | Path) -> ModuleType:
    """Import the file at ``path`` under a unique module name; its folder goes last on ``sys.path``.

    Appended, not prepended: a helper beside the file is importable, but a file
    there named like an installed package (``implicit.py``) does not shadow it.

    A notebook (``.ipynb``) is loaded as its code cells (``properties.notebooks``).

    Raises:
        TargetError: the file is missing or raises while being imported.
    """
    path = Path(path).resolve()
    if not path.is_file():
        raise TargetError(f"The target file {path} does not exist.")
    digest = hashlib.sha256(str(path).encode()).hexdigest()[:12]
    name = f"_submission_{path.stem.replace('-', '_')}_{digest}"
    if notebooks.is_notebook(path):
        return _load_notebook(path, name)
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise TargetError(f"Cannot load {path} as a Python module (is it a .py file?).")
    module = importlib.util.module_from_spec(spec)
    if str(path.parent) not in sys.path:
        sys.path.append(str(path.parent))
    sys.modules[name] = module  # dataclasses and pickling look the module up here
    try:
        spec.loader.exec_module(module)
    except Exception as exc:
        sys.modules.pop(name, None)
        raise TargetError(
            f"Importing {path} raised {type(exc).__name__}: {exc}. The file must import "
            "cleanly (no work at import time that can fail)."
        ) from exc
    return module


def _load_notebook(path: Path, name: str) -> ModuleType:
    """A notebook's code cells as the module ``name`` (``properties.notebooks``)."""
    try:
        source = notebooks.to_module(notebooks.read(path))
    except notebooks.NotebookError as exc:
        raise TargetError(str(exc)) from exc
    module = ModuleType(name)
    module.__file__ = str(path)
    sys.modules[name] = module
    try:
        exec(compile(source, f"{path.name} (converted)", "exec", dont_inherit=True), vars(module))
    except Exception as exc:
        sys.modules.pop(name, None)
        raise TargetError(
            f"Running the notebook {path} raised {type(exc).__name__}: {exc}. Its definitions "
            "must run cleanly from a fresh kernel (Kernel > Restart and run all)."
        ) from exc
    return module


def candidates_from_module(
    module: ModuleType, assignment: str, path: str | Path = "<module>"
) -> tuple[Solve | None, FixedPoint | None]:
    """The ``(solve, fixed_point)`` callables a loaded submission offers for ``assignment``.

    Raises:
        TargetError: naming the file and what is missing.
    """
    found = candidate(module, assignment)
    if assignment == "fixed_point":
        if found is None:
            raise TargetError(
                f"{path} must define fixed_point(f, a, x0, distance, tol) for the fixed_point "
                "assignment; it does not."
            )
        return None, found
    Implicit = getattr(module, "Implicit", None)
    if Implicit is not None and not callable(getattr(Implicit, "apply", None)):
        raise TargetError(
            f"{path} defines Implicit, but it has no apply(): make it a subclass of "
            "torch.autograd.Function, used as Implicit.apply(x, y0, F)."
        )
    if found is None:
        raise TargetError(
            f"{path} must define a torch.autograd.Function named Implicit (used as "
            "Implicit.apply(x, y0, F)) or a function implicit(F, x, y0) for the implicit "
            "assignment; it defines neither."
        )
    return found, None


def load_target(path: str | Path | None, assignment: str | None = None) -> Target:
    """The target to verify: the reference (``path=None``) or a submission file.

    Args:
        path: a ``.py`` file, or None for the reference library.
        assignment: "implicit" or "fixed_point"; None infers it from the file
            (the reference then offers both).

    Returns:
        A ``Target`` whose ``solve``/``fixed_point`` follow the probe's conventions.

    Raises:
        TargetError: an unknown assignment, a missing or broken file, or a file that
            does not define what the assignment needs (the message names the file).
    """
    _check_assignment(assignment)
    if path is None:
        return reference(assignment)
    assignment = assignment or infer_assignment(path)
    module = load_module(path)
    solve, fixed_point = candidates_from_module(module, assignment, path)
    return Target(
        name=Path(path).name,
        assignment=assignment,
        solve=solve,
        fixed_point=fixed_point,
        path=str(path),
    )
