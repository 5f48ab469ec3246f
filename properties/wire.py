"""The probe's request for a case: ``wire_for(case) -> dict`` (``probe_wire.REQUEST``).

The request is what ``probe.observe`` is sent, in process or in a grading
worker: the case's torch source and floats, the upstream weights, and for
curves the batch and gradcheck's step, chosen from the oracle so that finite
differences stay on the case's branch.  Its keys, and those of the observation
that comes back, are defined in ``properties.probe_wire``.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterable
from typing import Any

from properties import formulas
from properties.hazard_maps import HAZARD_FAMILIES
from properties.probe_wire import GRADCHECK_OPTIONS
from properties.records import CurveCase, MapCase, VectorRootCase

Case = CurveCase | MapCase

#: Seconds a hazard case's call (and its backward) may take: the reference stops
#: after its 10 000 iterations in under a second.
HAZARD_DEADLINE = 3.0

#: gradcheck's absolute tolerance (the probe's ``GRADCHECK_OPTIONS``).
GRADCHECK_ATOL = GRADCHECK_OPTIONS["atol"]


def weights_for(case: Case) -> tuple[float, ...]:
    """Deterministic random upstream weights for ``case`` (same case, same weights).

    Invariant: each weight has magnitude in [0.5, 2] and differs from 1 by more
    than 0.2; for maps ``|sum(v) - 1| > 0.2`` too, so that ignoring ``grad_output``
    (using ones) is always visible.
    """
    digest = hashlib.sha256(case.text().encode()).digest()
    n = case.m if isinstance(case, MapCase) else 1
    out = []
    for i in range(n):
        u = digest[2 * i] / 255
        sign = -1.0 if digest[2 * i + 1] % 3 == 0 else 1.0
        w = sign * (0.5 + 1.5 * u)
        if abs(w - 1.0) <= 0.2:
            w = 1.5
        out.append(round(w, 6))
    if n > 1 and abs(sum(out) - 1.0) <= 0.2:
        out[0] += 1.0
    return tuple(out)


def fd_step_for(d3y_dx3: float) -> float:
    """The largest central-difference step whose truncation error,
    ``|d3y_dx3| eps**2 / 6``, is at most 1 % of ``GRADCHECK_ATOL`` (inf: no bound)."""
    if not math.isfinite(d3y_dx3) or d3y_dx3 == 0:
        return math.inf
    return math.sqrt(6 * 0.01 * GRADCHECK_ATOL / abs(d3y_dx3))


def map_wire(case: MapCase, weights: tuple[float, ...] | None = None) -> dict[str, Any]:
    """A map case's torch source and floats (JSON-able), with upstream ``weights``."""
    return {
        "kind": "map",
        "f": list(case.f_source),
        "a": [float(v) for v in case.a],
        "x0": list(case.x0),
        "tol": case.tol,
        "dtype": case.dtype,
        "scalar": case.scalar,
        "weights": list(weights) if weights is not None else [1.0] * case.m,
    }


def curve_wire(case: CurveCase, dtype: str = "float64", weight: float = 1.0) -> dict[str, Any]:
    """A curve case's torch source and floats (JSON-able), with upstream ``weight``."""
    return {
        "kind": "curve",
        "F": case.curve.torch_source,
        "x": float(case.x),
        "y0": case.y0,
        "dtype": dtype,
        "weight": weight,
    }


def vector_wire(case: VectorRootCase, claims: Iterable[str] | None) -> dict[str, Any]:
    """A vector root case's request (``probe_vector.REQUEST``): always a conformance one,
    since its properties belong to the ``vector_roots`` capability."""
    return {
        "kind": "vector",
        "F": list(case.F_source),
        "x": [float(v) for v in case.x],
        "y0": list(case.y0),
        "weights": list(case.weights),
        "dtype": case.dtype,
        "conformance": True,
        "claims": sorted(claims or ()),
    }


def wire_for(
    case: Case | VectorRootCase, dtype: str | None = None, claims: Iterable[str] | None = None
) -> dict[str, Any]:
    """What to send to ``probe.observe`` for ``case``: its wire plus weights and batch.

    Curve batches are ``x`` and two neighbours close enough to stay on the same
    branch (closer to the point the more degenerate it is).  With ``claims``
    (the target's capabilities, possibly none) the conformance stages run too;
    a hazard map (``hazard_maps``) gets only the call and a backward, under
    ``HAZARD_DEADLINE``.
    """
    if isinstance(case, VectorRootCase):
        return vector_wire(case, claims)
    if isinstance(case, MapCase) and case.family in HAZARD_FAMILIES:
        return {**map_wire(case), "hazard": True, "deadline": HAZARD_DEADLINE}
    wire = _wire_for(case, dtype)
    if claims is not None:
        wire["conformance"] = True
        wire["claims"] = sorted(claims)
    return wire


def _wire_for(case: Case, dtype: str | None) -> dict[str, Any]:
    if isinstance(case, MapCase):
        wire = map_wire(case, weights=weights_for(case))
        if case.degenerate:
            wire["skip"] = ["gradcheck"]
        return wire
    wire = curve_wire(case, dtype=dtype or "float64", weight=weights_for(case)[0])
    if case.degenerate:
        # Finite differences cross the vertical tangent there: meaningless and slow.
        wire["skip"] = ["gradcheck"]
    x = float(case.x)
    # Finite differences and batch neighbours must stay well inside the distance
    # to the nearest vertical tangent: it shrinks like degeneracy**2 (e.g. 1 - x
    # on a circle), and more where the branch bends sharply (``fold_distance``:
    # a fold 0.005 away though F_y = F_x = 1 at the point).
    point = formulas.curve_point(case.curve.source, case.x, case.y_true)
    reach = min(1.0, case.degeneracy**2, point.fold_distance)
    # gradcheck's central differences must also be accurate where the third
    # derivative is huge (y = -2**24 x**3: dy/dx = 0 at 0, d3y/dx3 = -1e8).
    wire["gradcheck_eps"] = min(1e-6 * reach, fd_step_for(point.d3y_dx3))
    h = 1e-2 * reach * (1.0 + abs(x))
    wire["batch_x"] = [x, x + h, x - h]
    wire["batch_y0"] = [case.y0] * 3
    return wire
