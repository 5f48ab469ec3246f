"""A result with no autograd graph to its input: autograd's None is the zero gradient.

Right where the true derivative is zero (a map that ignores ``a``: dx*/da = 0), and
the measured cause ``no_gradient`` where it is not (a detached result).
"""

from __future__ import annotations

from pathlib import Path

import sympy

from properties import checks, maps
from properties.candidates import load_target, reference_fixed_point
from properties.records import MapCase

WRONG = Path(__file__).parent / "wrong"
CORRECT = WRONG / "_correct_fixed_point.py"
DETACHED = WRONG / "detached_result.py"
X0, X1, A0 = sympy.symbols("x0 x1 a0")


def _case(f: list[sympy.Expr]) -> MapCase:
    return maps.map_case("coupled", f, [X0, X1], [A0], [0], [0.0, 0.0])


def _by_name(path: Path | None, case: MapCase) -> dict[str, checks.CheckResult]:
    candidate = reference_fixed_point if path is None else load_target(path, None).candidate("map")
    return {r.name: r for r in checks.run(case, candidate)}


def test_a_map_that_ignores_a_has_the_zero_gradient_with_or_without_a_graph() -> None:
    # x* = (0, 0) for every a: dx*/da = 0, so a result with no graph to a is right.
    case = _case([X1 / 10, sympy.Integer(0)])
    for path in (None, DETACHED):  # our reference keeps a graph, the detached one has none
        results = _by_name(path, case)
        assert results["x_star"].status == "pass"
        for name in ("dx_da_formula", "dx_da_true", "upstream", "x0_grad", "gradcheck"):
            assert results[name].status == "pass", (path.name, results[name])


def test_a_detached_result_is_told_no_gradient_and_nothing_else() -> None:
    # x* = (a/2 + x1/10, x0/3) depends on a: the detached result's zero is no derivative.
    case = _case([A0 / 2 + X1 / 10, X0 / 3])
    results = _by_name(DETACHED, case)
    failing = {n: r for n, r in results.items() if r.status in ("fail", "error")}
    for name in ("dx_da_formula", "dx_da_true"):
        assert failing[name].diagnosis == ("no_gradient",), failing[name]
    assert "no autograd graph to a" in failing["dx_da_formula"].message
    assert results["x_star"].status == "pass"
    assert failing["gradcheck"].diagnosis == ("no_gradient",)
    assert set(failing) == {"dx_da_formula", "dx_da_true", "gradcheck"}
    assert all(r.status == "pass" for r in _by_name(CORRECT, case).values() if r.name in failing)
