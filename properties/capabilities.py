"""What a target claims beyond its assignment, and which properties each claim brings.

A target declares its capabilities with a module-level literal in its file::

    CAPABILITIES = {"forward_mode", "second_order"}

read from the file's syntax tree, never by running it (so the grader and the
report agree without importing the submission twice), or with a
``capabilities`` attribute on the callable under test (``declared``).  A plain
submission declares nothing: it is checked on its assignment's properties only,
plus the properties every implementation must have (loss-scale invariance, and
for maps no hang and no confident answer on a non-contracting or singular map).
Each property of an undeclared capability is reported with status
``"not_claimed"``: listed, never counted as a pass or a fail.

The names (``CAPABILITIES``):

- ``forward_mode``: ``torch.autograd.forward_ad`` and ``torch.func.jvp`` give
  the same derivative as reverse mode and the oracle.
- ``torch_func``: ``torch.func.grad``, ``vjp``, ``jacrev`` and ``vmap`` agree
  with the oracle (and ``vmap`` with one call per point).
- ``second_order``: for maps, ``d2x*/da2`` by double backward agrees with the
  oracle (curves' ``d2y/dx2`` belongs to the assignment).
- ``vector_roots``: ``F(x, y) = 0`` with ``y`` in R^m, ``x`` in R^n.
- ``parameters``: every tensor the layer differentiates gets its gradient.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable
from pathlib import Path
from typing import Any

__all__ = [
    "ALWAYS",
    "CAPABILITIES",
    "DEFAULT",
    "NOT_CLAIMED",
    "PROPERTIES",
    "REFERENCE",
    "claims_of",
    "declared",
    "declared_in_file",
    "validate",
]

#: Every capability a target may declare, with what it promises.
CAPABILITIES: dict[str, str] = {
    "forward_mode": "forward-mode derivatives (torch.autograd.forward_ad, torch.func.jvp)",
    "torch_func": "torch.func transforms: grad, vjp, jacrev, vmap",
    "second_order": "second derivatives of fixed points, d2x*/da2 by double backward",
    "vector_roots": "roots F(x, y) = 0 with vector y in R^m and x in R^n",
    "parameters": "gradients for every tensor the layer differentiates (module parameters)",
}

#: The properties (``CheckResult.name``) each capability brings.
PROPERTIES: dict[str, tuple[str, ...]] = {
    "forward_mode": ("forward_ad", "func_jvp"),
    "torch_func": ("func_grad", "func_vjp", "func_jacrev", "func_vmap"),
    "second_order": ("d2x_da2",),
    "vector_roots": ("vector_root", "vector_dy_dx", "vector_d2y"),
    "parameters": (),
}

#: Properties every target must have, whatever it declares.
ALWAYS = ("loss_scale", "closure_gradient", "non_contracting", "singular_map")

#: A plain submission's claims: its assignment's properties only.
DEFAULT: frozenset[str] = frozenset()

#: What the reference library ``implicit`` claims (and must pass): ``root_find``
#: and ``fixed_point`` have vmap rules and run under every torch.func transform.
#: ``vector_roots`` through ``root_find(F, x, y0, event_ndim=1)``.  Not ``parameters``:
#: the suite has no properties of its own for it (``closure_gradient`` is everyone's).
REFERENCE: frozenset[str] = frozenset(
    {"forward_mode", "second_order", "torch_func", "vector_roots"}
)

#: The status of a property whose capability the target did not declare.
NOT_CLAIMED = "not_claimed"


def validate(names: Iterable[Any], where: str = "CAPABILITIES") -> frozenset[str]:
    """``names`` as a frozenset of known capabilities.

    Raises:
        ValueError: naming the unknown entry and listing the known ones.
    """
    if isinstance(names, str):
        raise ValueError(
            f"{where} = {names!r} must be a set of names, e.g. {{{names!r}}}, not a string."
        )
    out = set()
    for name in names:
        if name not in CAPABILITIES:
            raise ValueError(
                f"{where} has the unknown capability {name!r}; known: {sorted(CAPABILITIES)}."
            )
        out.add(name)
    return frozenset(out)


def declared(obj: Any) -> frozenset[str]:
    """The capabilities a callable or module declares (``capabilities`` or
    ``CAPABILITIES`` attribute); ``DEFAULT`` when it declares none."""
    for attribute in ("CAPABILITIES", "capabilities"):
        value = getattr(obj, attribute, None)
        if value is not None:
            return validate(value, f"{getattr(obj, '__name__', obj)!s}.{attribute}")
    return DEFAULT


def declared_in_file(path: str | Path) -> frozenset[str]:
    """The ``CAPABILITIES = {...}`` literal at the top level of the file ``path``.

    Read from the syntax tree; the file is never run.  ``DEFAULT`` when absent.

    Raises:
        ValueError: the assignment is not a literal set, list or tuple of strings,
            or names an unknown capability (the message names the file).
    """
    path = Path(path)
    try:
        tree = ast.parse(path.read_text(encoding="utf-8", errors="replace"), filename=str(path))
    except (OSError, SyntaxError):
        return DEFAULT  # the target loader reports these with its own message
    for node in tree.body:
        targets = node.targets if isinstance(node, ast.Assign) else []
        if isinstance(node, ast.AnnAssign) and node.value is not None:
            targets = [node.target]
        if not any(isinstance(t, ast.Name) and t.id == "CAPABILITIES" for t in targets):
            continue
        try:
            value = ast.literal_eval(node.value)  # type: ignore[arg-type]
        except ValueError as exc:
            raise ValueError(
                f"{path}: CAPABILITIES must be a literal set of names, e.g. "
                f'{{"forward_mode"}}; got {ast.unparse(node.value)!r}.'  # type: ignore[arg-type]
            ) from exc
        return validate(value, f"{path}: CAPABILITIES")
    return DEFAULT


def claims_of(target: Any) -> frozenset[str]:
    """What a ``properties.candidates.Target`` claims: ``REFERENCE`` for the
    reference library, the file's ``CAPABILITIES`` for a submission."""
    path = getattr(target, "path", None)
    return REFERENCE if path is None else declared_in_file(path)
