"""Hard points of a user's curve: found, aimed at, and turned into cases, not errors.

Closed forms: the unit circle's vertical tangents (+-1, 0); the folium
x^3 + y^3 = 3xy's node (0, 0) and its vertical tangent (2^(2/3), 2^(1/3)); the
transcendental sin(y) = x with vertical tangents (+-1, +-pi/2), and
exp(y) - 2y = x with one at (2 - 2 ln 2, ln 2).
"""

from __future__ import annotations

import collections
import math

import mpmath
import pytest
from hypothesis import HealthCheck, given, settings

from properties import curves, oracle, strategies
from properties.candidates import load_target, reference_solve
from properties.hard_points import hard_points
from properties.verify import verify_curve

BOX = ((-2.0, 2.0), (-4.0, 4.0))
LN2 = math.log(2)


def _found(text: str) -> list[tuple[str, int, float, float]]:
    return [
        (p.kind, p.side, float(p.x), float(p.y)) for p in hard_points(curves.user_curve(text), *BOX)
    ]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "x**2 + y**2 - 1",
            [("vertical_tangent", 1, -1.0, 0.0), ("vertical_tangent", -1, 1.0, 0.0)],
        ),
        (
            "x**3 + y**3 - 3*x*y",
            [("singular", 0, 0.0, 0.0), ("vertical_tangent", -1, 2 ** (2 / 3), 2 ** (1 / 3))],
        ),
        (
            "sin(y) - x",
            [
                ("vertical_tangent", 1, -1.0, -math.pi / 2),
                ("vertical_tangent", -1, 1.0, math.pi / 2),
            ],
        ),
        ("exp(y) - 2*y - x", [("vertical_tangent", 1, 2 - 2 * LN2, LN2)]),
    ],
)
def test_hard_points_match_their_closed_forms(text, expected) -> None:
    found = _found(text)
    assert [(k, s) for k, s, _, _ in found] == [(k, s) for k, s, _, _ in expected]
    for (_, _, x, y), (_, _, x_e, y_e) in zip(found, expected):
        assert x == pytest.approx(x_e, abs=1e-14)
        assert y == pytest.approx(y_e, abs=1e-14)


def test_hard_points_are_polished_to_many_digits() -> None:
    (point,) = hard_points(curves.user_curve("exp(y) - 2*y - x"), *BOX)
    with mpmath.workdps(50):
        assert abs(mpmath.mpf(point.y) - mpmath.log(2)) < mpmath.mpf(10) ** -40
        assert abs(mpmath.mpf(point.x) - (2 - 2 * mpmath.log(2))) < mpmath.mpf(10) ** -40


def test_the_oracle_makes_cases_at_and_beside_hard_points() -> None:
    # The folium's node: a triple root at x = 0 is an exactly degenerate case.
    node = oracle.curve_case(curves.user_curve("x**3 + y**3 - 3*x*y"), 0, 2**-20, position=0.3)
    assert node.dy_dx == "nan"
    assert node.degeneracy == 0.0
    # 2**-40 inside a transcendental fold: two roots 2**-20 apart, told apart by the
    # oracle (Newton from the fold's vertex would jump away), flagged degenerate.
    x_inside = round((2 - 2 * LN2) * 2**44) / 2**44 + 2.0**-40
    case = oracle.curve_case(
        curves.user_curve("exp(y) - 2*y - x"), x_inside, LN2 + 1e-9, position=0.3
    )
    assert abs(float(case.y_true) - LN2) < 1e-5
    assert case.degenerate
    # Beyond the fold there is no root: an error that says so.
    x_outside = round((2 - 2 * LN2) * 2**44) / 2**44 - 2.0**-40
    with pytest.raises(ValueError, match="vertical tangent"):
        oracle.curve_case(curves.user_curve("exp(y) - 2*y - x"), x_outside, LN2, position=0.3)


@pytest.mark.parametrize("text", ["x**3 + y**3 - 3*x*y", "sin(y) - x"])
def test_user_curve_draws_aim_at_and_near_hard_points(text) -> None:
    kinds: collections.Counter[str] = collections.Counter()

    @settings(
        max_examples=30,
        database=None,
        derandomize=True,
        deadline=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(strategies.user_curve_cases(text))
    def draw(case) -> None:
        kinds["degenerate" if case.degenerate else "near" if case.degeneracy < 0.2 else "far"] += 1

    draw()
    assert kinds["degenerate"] >= 3  # at float distance (or exactly at) a hard point
    assert kinds["near"] >= 1  # close enough to break a solver, still counted


def test_verify_curve_checks_points_of_the_users_choosing() -> None:
    # x = 0.999 on the unit circle: |F_y| / |grad F| = 0.045, counted.  The notebook's
    # LBFGS solver is off there; the reference is right.
    notebook = load_target("examples/submissions/notebook_implicit.py", None).candidate("curve")
    mine = verify_curve("x**2 + y**2 - 1", notebook, examples=0, points=[(0.999, 0.05)])
    assert len({r.case for r in mine}) == 1  # one case: the point given
    assert "at x = 0.998999999999999999" in mine[0].case  # the float 0.999, exactly
    assert {r.name for r in mine if r.status == "fail"} >= {"root", "dy_dx_true"}
    ours = verify_curve("x**2 + y**2 - 1", reference_solve, examples=0, points=[(0.999, 0.05)])
    assert not [r for r in ours if r.status in ("fail", "error")]
    with pytest.raises(ValueError, match="no case at"):
        verify_curve("x**2 + y**2 - 1", reference_solve, examples=0, points=[(1.5, 0.0)])


def test_the_reference_passes_a_users_curve_with_its_hard_points() -> None:
    results = verify_curve("x**3 + y**3 - 3*x*y", reference_solve, examples=12)
    assert not [r for r in results if r.status in ("fail", "error")]
    assert any(r.name == "degenerate_behaviour" and r.status == "pass" for r in results)
