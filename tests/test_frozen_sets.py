"""The frozen grading set: stored, stable, covering what grading needs."""

from __future__ import annotations

import math

import pytest

from properties import frozen, records


@pytest.mark.parametrize("assignment", frozen.ASSIGNMENTS)
def test_frozen_cases_load_the_same_every_time(assignment: str) -> None:
    cases = frozen.load_cases(assignment)
    assert 30 <= len(cases) <= 60
    assert records.to_json(cases) == records.to_json(frozen.load_cases(assignment))


def test_the_curve_set_holds_every_family_and_degenerate_points() -> None:
    cases = frozen.load_cases("implicit")
    assert {c.family for c in cases} >= {"circle", "ellipse", "polynomial"}
    assert sum(c.degenerate and not math.isnan(float(c.dy_dx)) for c in cases) >= 2
    assert sum(math.isnan(float(c.dy_dx)) for c in cases) >= 3


def test_the_map_set_holds_every_family_both_dtypes_and_both_signs_of_rho() -> None:
    cases = frozen.load_cases("fixed_point")
    assert {c.family for c in cases} == {"curve-map", "sqrt", "coupled"}
    assert {c.dtype for c in cases} == {"float64", "float32"}
    assert min(c.rho for c in cases) < -0.3
    assert max(c.rho for c in cases) > 0.3


def test_an_unknown_assignment_is_rejected() -> None:
    with pytest.raises(ValueError, match="assignment"):
        frozen.load_cases("homework")
