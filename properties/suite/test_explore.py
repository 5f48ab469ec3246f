"""Hypothesis exploration, one test per family of properties, with shrinking.

Each test draws cases, runs every check and fails on its own family of checks, so
Hypothesis shrinks to the smallest case that breaks *that* property (a case that
times out is shown as it is, and shrinking stops after ``harness.SHRINK_EXAMPLES``
examples: ``harness.Stop``).  The
failing (shrunk) case and its checks are recorded on the test item for the
report; degenerate cases never fail a value check (their status is
"degenerate").  Settings come from the active profile (``properties.profiles``).
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings

from properties import capabilities, strategies
from properties.candidates import Target
from properties.checks.hazards import NAMES
from properties.records import CurveCase, MapCase, VectorRootCase
from properties.suite import harness

ROOT = ("call", "shape_dtype", "root", "residual")
GRADIENT = ("dy_dx_formula", "dy_dx_true", "upstream", "d2y_dx2", "gradcheck")
HYGIENE = ("batch", "float32", "no_mutation", "y0_grad")
MAP_ROOT = ("call", "shape_dtype", "x_star", "residual")
MAP_GRADIENT = ("dx_da_formula", "dx_da_true", "upstream", "gradcheck")
MAP_IMPLICIT = ("graph_growth", "backward_at_fixed_point", "x0_grad", "no_mutation")
#: Loss scale (every target) and the properties of the capabilities a target
#: declares (``properties.capabilities``); undeclared ones are "not_claimed".
CONFORMANCE = ("loss_scale",) + tuple(p for ps in capabilities.PROPERTIES.values() for p in ps)
#: Its own tests: a layer that drops closure parameters (a common design) must not
#: stop the conformance tests at their first case, leaving loss_scale unmeasured.
CLOSURE = ("closure_gradient",)
#: The conformance tests run a fifth of the profile's examples: each case costs
#: several more calls (five loss scales, the transforms), a hazard case up to
#: the candidate's whole iteration cap.
FEW = settings(max_examples=max(4, settings.default.max_examples // 5))


def _check(
    case: CurveCase | MapCase | VectorRootCase,
    target: Target,
    request: pytest.FixtureRequest,
    names: tuple[str, ...],
    *,
    conformance: bool = False,
) -> None:
    harness.shrink_budget(request.node, names)
    results = harness.run(case, target, conformance=conformance)
    bad = harness.failing(results, names)
    harness.record(request.node, case, results, fails=bool(bad))
    if bad:  # one exception type per diagnosis: shrinking keeps the cause
        raise harness.failure(case, bad)


@harness.stops
@given(case=strategies.curve_cases())
def test_roots(case: CurveCase, target: Target, request: pytest.FixtureRequest) -> None:
    _check(case, target, request, ROOT)


@harness.stops
@given(case=strategies.curve_cases())
def test_gradients(case: CurveCase, target: Target, request: pytest.FixtureRequest) -> None:
    _check(case, target, request, GRADIENT)


@harness.stops
@given(case=strategies.curve_cases())
def test_batch_float32_and_inputs(
    case: CurveCase, target: Target, request: pytest.FixtureRequest
) -> None:
    _check(case, target, request, HYGIENE)


@harness.stops
@given(case=strategies.curve_cases(aim_degenerate=True))
def test_near_degenerate_points(
    case: CurveCase, target: Target, request: pytest.FixtureRequest
) -> None:
    _check(case, target, request, ROOT + GRADIENT)


@harness.stops
@given(case=strategies.degenerate_curve_cases())
def test_exactly_degenerate_points(
    case: CurveCase, target: Target, request: pytest.FixtureRequest
) -> None:
    _check(case, target, request, ("degenerate_behaviour",))


@harness.stops
@given(case=strategies.map_cases())
def test_fixed_points(case: MapCase, target: Target, request: pytest.FixtureRequest) -> None:
    _check(case, target, request, MAP_ROOT)


@harness.stops
@given(case=strategies.map_cases())
def test_fixed_point_gradients(
    case: MapCase, target: Target, request: pytest.FixtureRequest
) -> None:
    _check(case, target, request, MAP_GRADIENT)


@harness.stops
@given(case=strategies.map_cases())
def test_implicit_not_unrolled(
    case: MapCase, target: Target, request: pytest.FixtureRequest
) -> None:
    _check(case, target, request, MAP_IMPLICIT)


@harness.stops
@given(case=strategies.curve_cases())
@FEW
def test_curve_conformance(case: CurveCase, target: Target, request: pytest.FixtureRequest) -> None:
    _check(case, target, request, CONFORMANCE, conformance=True)


@harness.stops
@given(case=strategies.map_cases())
@FEW
def test_map_conformance(case: MapCase, target: Target, request: pytest.FixtureRequest) -> None:
    _check(case, target, request, CONFORMANCE, conformance=True)


@harness.stops
@given(case=strategies.curve_cases())
@FEW
def test_curve_closure_parameter(
    case: CurveCase, target: Target, request: pytest.FixtureRequest
) -> None:
    _check(case, target, request, CLOSURE, conformance=True)


@harness.stops
@given(case=strategies.map_cases())
@FEW
def test_map_closure_parameter(
    case: MapCase, target: Target, request: pytest.FixtureRequest
) -> None:
    _check(case, target, request, CLOSURE, conformance=True)


@harness.stops
@given(case=strategies.vector_root_cases())
@FEW
def test_vector_roots(case: VectorRootCase, target: Target, request: pytest.FixtureRequest) -> None:
    _check(case, target, request, capabilities.PROPERTIES["vector_roots"], conformance=True)


# One test per hazard: a target that hangs on maps that do not contract (the test
# stops at that case) still has its singular maps measured, and the other way round.
@harness.stops
@given(case=strategies.non_contracting_map_cases())
@FEW
def test_maps_that_do_not_contract(
    case: MapCase, target: Target, request: pytest.FixtureRequest
) -> None:
    _check(case, target, request, (NAMES["non-contracting"],))


@harness.stops
@given(case=strategies.singular_map_cases())
@FEW
def test_maps_with_singular_jacobian(
    case: MapCase, target: Target, request: pytest.FixtureRequest
) -> None:
    _check(case, target, request, (NAMES["singular-map"],))
