"""Judge an observation: ``judge(case, observation) -> list[CheckResult]``.

``judge`` is pure: it reads a case (``records.CurveCase``/``MapCase``) and the
plain dict that ``probe.observe`` returned, and says what it means.  It never
runs the code under test, never prints, plots or grades.  ``run`` is the one
composition "observe, then judge": ``judge(case, observe(wire_for(case)))``.

Two questions are kept apart (DESIGN.md, "The verification model"):

- *Is the root right?*  ``root`` (``x_star`` for maps) compares the returned value
  with the true root, under a tolerance scaled by the case's conditioning.
- *Is the gradient formula right?*  ``dy_dx_formula`` (``dx_da_formula``) compares
  the returned gradient with the closed form evaluated at the *returned* root,
  tightly; ``dy_dx_true`` (``dx_da_true``) compares it with the true value, under a
  tolerance scaled by the conditioning.  So an inaccurate root fails ``root`` and
  ``*_true`` (whose message says the root is to blame) but not ``*_formula``; a
  wrong formula fails ``*_formula`` whatever the root.

Degenerate cases (``case.degenerate``) get status "degenerate" for every value
check; at exactly degenerate points (``dy_dx == "nan"``) ``degenerate_behaviour``
requires an error, a warning or a non-finite value.  Tolerances: see
``properties.checks.common``.

Modules: ``common`` (tolerances, hints, ``Judge``, the checks both kinds ask),
``curves`` (``judge_curve``), ``maps`` (``judge_map``), ``conformance`` (loss
scale, forward mode, torch.func, d2x*/da2: ``judge_conformance``), ``hazards``
(non-contracting and singular maps: ``judge_hazard``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from properties import causes, probe
from properties.checks.common import HINTS, RTOL, Case, Observation, call_text
from properties.checks.conformance import judge_conformance
from properties.checks.curves import judge_curve
from properties.checks.hazards import judge_hazard
from properties.checks.maps import judge_map
from properties.checks.vector import judge_vector
from properties.records import CheckResult, MapCase, VectorRootCase
from properties.wire import GRADCHECK_ATOL, weights_for, wire_for

__all__ = [
    "GRADCHECK_ATOL",
    "HINTS",
    "RTOL",
    "Case",
    "Observation",
    "call_text",
    "judge",
    "run",
    "weights_for",
    "wire_for",
]

#: A request (``properties.probe_wire.REQUEST``) -> its observation.
Observe = Callable[[dict[str, Any]], Observation]


def judge(case: Case, observation: Observation) -> list[CheckResult]:
    """All checks of one case.

    Args:
        case: the case the observation was made on.
        observation: ``probe.observe(wire_for(case), candidate)``.

    Returns:
        One ``CheckResult`` per property, in a fixed order.  A candidate that
        raised on the plain call gets a single "call" result (status "error",
        or "degenerate"/a behaviour pass at degenerate points).
    """
    if isinstance(case, VectorRootCase):
        return judge_vector(case, observation)
    if isinstance(case, MapCase) and observation.get("hazard"):
        return judge_hazard(case, observation)
    if isinstance(case, MapCase):
        return judge_map(case, observation) + judge_conformance(case, observation)
    return judge_curve(case, observation) + judge_conformance(case, observation)


def run(
    case: Case,
    candidate: Callable[..., Any] | None = None,
    *,
    observe: Observe | None = None,
    claims: Iterable[str] | None = None,
    diagnose: bool = True,
) -> list[CheckResult]:
    """Observe ``case``, judge it, and explain what failed.

    ``judge(case, observe(wire_for(case)))``, then ``causes.explain``: every
    failing check gets the diagnosis its evidence confirms, from closed forms
    and at most ``causes.BUDGET`` more calls of the same candidate.

    Args:
        case: the case to run.
        candidate: ``solve(F, x, y0)`` (curves) or ``fixed_point(f, a, x0,
            distance, tol)`` (maps), run in this process by ``probe.observe``.
        observe: instead of ``candidate``, what turns the request into an
            observation elsewhere (e.g. a grading worker's round trip).
        claims: the target's capabilities (``properties.capabilities``): when
            given (even empty) the conformance properties are checked too, an
            unclaimed capability's as "not_claimed".
        diagnose: False: ``judge``'s results as they are (no extra calls).

    Returns:
        ``judge``'s results, diagnosed.

    Raises:
        ValueError: unless exactly one of ``candidate`` and ``observe`` is given.
    """
    if (candidate is None) == (observe is None):
        raise ValueError("run(case, ...) needs exactly one of candidate= and observe=.")
    if observe is None:

        def observe(request: dict[str, Any]) -> Observation:
            return probe.observe(request, candidate)

    wire = wire_for(case, claims=claims)
    observation = observe(wire)
    results = judge(case, observation)
    if isinstance(case, VectorRootCase):  # diagnosed by their judge's closed forms
        return results
    if not diagnose:
        return results
    return causes.explain(case, wire, observation, results, observe, judge=judge)
