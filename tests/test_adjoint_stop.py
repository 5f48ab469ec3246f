"""The ``adjoint stop`` term: a backward that iterates its adjoint to ``tol`` stays within it.

HIPS autograd's ``fixed_point`` (and ``examples/submissions/correct_fixed_point.py``)
solve ``u = g + f_x^T u`` by iteration, stopped when ``|u - u_prev| <= tol``: the
gradient ``f_a^T u`` is then off by at most ``allowance.adjoint_stop``, on contracting
and on oscillating maps alike.
"""

from __future__ import annotations

import itertools

import sympy
import torch

from properties import formulas, maps
from properties.checks import allowance

X0, X1, A0 = sympy.symbols("x0 x1 a0")
R = sympy.Rational


def _stopped_adjoint_error(case, g: torch.Tensor) -> float:
    """``max |f_a^T (u - u*)|`` for the adjoint iterated from ``g`` until a step <= tol."""
    point = formulas.map_point(case.f_source, case.a, [float(v) for v in case.x_star], False)
    J = torch.tensor(point.f_x, dtype=torch.float64)
    f_a = torch.tensor(point.f_a, dtype=torch.float64)
    exact = torch.linalg.solve(torch.eye(len(g), dtype=torch.float64) - J.T, g)
    u = g
    for _ in range(10_000):
        u_prev, u = u, g + J.T @ u
        if torch.linalg.vector_norm(u - u_prev) <= case.tol:
            break
    return float((f_a.T @ (u - exact)).abs().max())


def test_an_adjoint_iterated_to_tol_is_within_the_adjoint_stop_term() -> None:
    worst = 0.0
    for c, d in itertools.product((R(9, 10), R(-9, 10), R(1, 2)), (R(1, 3), R(-7, 10))):
        f = [c * X0 + R(1, 10) * X1 + A0, R(-1, 5) * X0 + d * X1 + 2 * A0]
        case = maps.map_case("coupled", f, [X0, X1], [A0], [R(1, 2)], [0.0, 0.0])
        at_x = formulas.map_point(case.f_source, case.a, [float(v) for v in case.x_star], False)
        bound = allowance.adjoint_stop(case, at_x)
        for g in ([1.0, 0.0], [0.0, 1.0], [1.5, -0.7]):
            error = _stopped_adjoint_error(case, torch.tensor(g, dtype=torch.float64))
            assert error <= bound, (case.source, g, error, bound)
            worst = max(worst, error / bound)
    assert worst > 0.1  # the bound is not vacuous: some stopped adjoints come near it
