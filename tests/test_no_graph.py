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


def test_a_zero_gradient_is_not_explained_by_an_alternative_that_is_zero_here(tmp_path) -> None:
    # Newton's square-root map has f_x = 0 at x* = sqrt(a): "swapped partials",
    # (1 - f_a)^-1 f_x, is 0 there too, like any dropped gradient (torchopt's 0-d
    # tensors, a detached result); it must not be named as the cause.
    path = tmp_path / "zero_gradient.py"
    path.write_text(
        "import torch\n\n"
        "def fixed_point(f, a, x0, distance, tol):\n"
        "    with torch.no_grad():\n"
        "        x_prev, x = x0, f(a)(x0)\n"
        "        while distance(x, x_prev) > tol:\n"
        "            x_prev, x = x, f(a)(x)\n"
        "    return x + 0 * a\n"
    )
    case = maps.sqrt_map(["1"], [0.5], scalar=True)
    results = _by_name(path, case)
    assert results["dx_da_formula"].status == "fail"
    assert "swapped_partials" not in results["dx_da_formula"].diagnosis
