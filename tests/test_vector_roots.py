"""Vector roots F(x, y) = 0, y in R^m: an exact oracle, and judgement with measured causes.

The oracle (``properties.vector_roots``) is exact rational arithmetic; it is
checked against the reference (``root_find(..., event_ndim=1)``) and against a
central difference of the exact root.  A backward that solves with ``F_y``
instead of ``F_y^T`` is told ``transposed`` where ``F_y`` is not symmetric; an
unclaimed capability is "not claimed", never run.
"""

from __future__ import annotations

from fractions import Fraction as Q
from pathlib import Path

import sympy
from hypothesis import HealthCheck, given, settings

from properties import capabilities, checks, strategies, vector_roots
from properties.candidates import load_target, reference_solve

HERE = Path(__file__).parent
A = [[3, Q(1, 2)], [0, -4]]  # not symmetric


def _case(weights=(1.5, -0.75)):
    return vector_roots.coupled_case(
        A,
        [Q(1, 4), Q(-1, 2)],
        [[1], [-2]],
        [[Q(1, 4)], [0]],
        [Q(1, 2)],
        [Q(1, 4), Q(-1, 2)],
        [0.3, -0.4],
        list(weights),
    )


def test_the_oracle_matches_a_difference_of_the_exact_root() -> None:
    case = _case()
    (x0,), ys = vector_roots.symbols(2, 1)
    F = [sympy.sympify(c, locals={"x0": x0, "y0": ys[0], "y1": ys[1]}) for c in case.components]
    h = sympy.Rational(1, 10**12)

    def root(x):
        return sympy.nsolve([f.subs(x0, x) for f in F], ys, [0.25, -0.5], prec=60)

    diff = (root(sympy.Rational(1, 2) + h) - root(sympy.Rational(1, 2) - h)) / (2 * h)
    assert abs(float(diff[0]) - float(case.dy_dx[0])) < 1e-9
    assert abs(float(diff[1]) - float(case.dy_dx[1])) < 1e-9
    assert not case.symmetric


@settings(
    max_examples=15,
    database=None,
    derandomize=True,
    deadline=None,
    suppress_health_check=list(HealthCheck),
)
@given(strategies.vector_root_cases())
def test_the_reference_passes_on_drawn_systems(case) -> None:
    results = checks.run(case, reference_solve, claims=capabilities.REFERENCE)
    assert [(r.name, r.status) for r in results] == [
        (n, "pass") for n in capabilities.PROPERTIES["vector_roots"]
    ]


def test_a_transposed_backward_is_told_transposed_and_nothing_else() -> None:
    target = load_target(HERE / "wrong_targets" / "vector_transposed.py", None)
    claims = capabilities.declared_in_file(target.path)
    results = {r.name: r for r in checks.run(_case(), target.candidate("vector"), claims=claims)}
    assert results["vector_root"].status == "pass"
    assert results["vector_dy_dx"].status == "fail"
    assert results["vector_dy_dx"].diagnosis == ("transposed",)
    assert "the vjp needs F_y^T" in results["vector_dy_dx"].message


def test_without_the_claim_nothing_is_called() -> None:
    def explode(F, x, y0):
        raise AssertionError("called")

    explode.vector_root = explode  # type: ignore[attr-defined]
    results = checks.run(_case(), explode, claims=frozenset())
    assert {r.status for r in results} == {capabilities.NOT_CLAIMED}


def test_claiming_without_defining_vector_root_says_so() -> None:
    results = checks.run(_case(), lambda F, x, y0: y0, claims=frozenset({"vector_roots"}))
    assert {r.status for r in results} == {"error"}
    assert "defines no vector_root(F, x, y0)" in results[0].message
