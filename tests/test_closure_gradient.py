"""closure_gradient: a parameter reaching the problem through a closure is never dropped silently.

The probe adds ``theta = 0`` (requiring grad) to ``f`` or ``F`` through a closure.
An ``autograd.Function`` that takes only ``a`` (or ``x``) gives it no gradient: that
fails with ``no_gradient``.  Refusing it (our reference raises ``ImplicitError``),
warning, or computing it (an unrolled iteration: autograd through every step, an
independent value for the closed form ``v^T (I - f_x)^-1 1``) passes.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import sympy

from properties import capabilities, checks, curves, maps, oracle
from properties.candidates import load_target, reference_fixed_point, reference_solve
from properties.wire import weights_for

HERE = Path(__file__).parent
X0, X1, A0 = sympy.symbols("x0 x1 a0")
R = sympy.Rational

WARNS = """
import warnings
import torch


class _FixedPoint(torch.autograd.Function):
    @staticmethod
    def forward(ctx, a, x0, f, distance, tol):
        with torch.no_grad():
            x_prev, x = x0, f(a)(x0)
            while distance(x, x_prev) > tol:
                x_prev, x = x, f(a)(x)
        ctx.f = f
        ctx.save_for_backward(a, x)
        return x

    @staticmethod
    def backward(ctx, g):
        a, x = ctx.saved_tensors
        with torch.enable_grad():
            a, x = a.detach().requires_grad_(), x.detach().requires_grad_()
            fx = ctx.f(a)(x)
            J = torch.autograd.functional.jacobian(lambda x_: ctx.f(a)(x_), x)
            u = torch.linalg.solve(torch.eye(len(x), dtype=x.dtype) - J.T, g)
            (grad_a,) = torch.autograd.grad(fx, a, u)
        return grad_a, None, None, None, None


def fixed_point(f, a, x0, distance, tol):
    with torch.enable_grad():
        probe = f(a.detach())(x0.detach())
    if probe.requires_grad:
        warnings.warn("f uses tensors that require grad outside a: they get no gradient")
    return _FixedPoint.apply(a, x0, f, distance, tol)
"""


@pytest.fixture(scope="module")
def coupled():
    f = [
        R(1, 4) * X0 + R(1, 8) * X1 + A0,
        -R(1, 8) * X0 + R(1, 4) * X1 + sympy.sin(X0) / 8 + 2 * A0,
    ]
    return maps.map_case("coupled", f, [X0, X1], [A0], [R(1, 2)], [0.0, 0.0])


def _closure(case, candidate):
    (result,) = [
        r for r in checks.run(case, candidate, claims=frozenset()) if r.name == "closure_gradient"
    ]
    return result


def test_the_property_is_one_every_target_has() -> None:
    assert "closure_gradient" in capabilities.ALWAYS


def test_our_reference_refuses_a_closure_parameter_and_passes(coupled) -> None:
    for case, candidate in (
        (coupled, reference_fixed_point),
        (oracle.curve_case(curves.circle(), "0.5", 0.8), reference_solve),
    ):
        result = _closure(case, candidate)
        assert result.status == "pass", result
        assert "ImplicitError" in result.message
        assert "refused" in result.message


@pytest.mark.parametrize(
    "path", ["examples/submissions/correct_fixed_point.py", "tests/wrong/missing_inverse.py"]
)
def test_a_function_of_a_alone_drops_theta_and_is_told_no_gradient(coupled, path) -> None:
    result = _closure(coupled, load_target(HERE.parent / path, None).candidate("map"))
    assert result.status == "fail"
    assert result.diagnosis == ("no_gradient",)
    assert "without an error or a warning" in result.message


def test_a_curve_layer_that_drops_theta_is_told_no_gradient() -> None:
    case = oracle.curve_case(curves.circle(), "0.5", 0.8)
    result = _closure(
        case,
        load_target(HERE.parent / "examples/submissions/notebook_implicit.py", None).candidate(
            "curve"
        ),
    )
    assert result.status == "fail"
    assert result.diagnosis == ("no_gradient",)
    # expected w dy/dtheta = -w / F_y, F_y = 2 y* = sqrt(3) on the unit circle at x = 1/2
    assert float(result.expected) == pytest.approx(-weights_for(case)[0] / 3**0.5, rel=1e-9)


def test_autograd_through_the_iterations_computes_theta_and_passes(coupled) -> None:
    result = _closure(coupled, load_target(HERE / "wrong" / "unrolled.py", None).candidate("map"))
    assert result.status == "pass", result
    assert result.error < 1e-9  # the unrolled value agrees with v^T (I - f_x)^-1 1


def test_a_layer_that_warns_about_a_closure_parameter_passes(coupled, tmp_path) -> None:
    path = tmp_path / "warns.py"
    path.write_text(WARNS)
    result = _closure(coupled, load_target(path, None).candidate("map"))
    assert result.status == "pass", result
    assert "warned" in result.message


def test_a_phantom_gradient_layer_is_told_missing_inverse(coupled, tmp_path) -> None:
    path = tmp_path / "phantom.py"
    path.write_text(
        "import torch\n\n"
        "def fixed_point(f, a, x0, distance, tol):\n"
        "    with torch.no_grad():\n"
        "        x_prev, x = x0, f(a)(x0)\n"
        "        while distance(x, x_prev) > tol:\n"
        "            x_prev, x = x, f(a)(x)\n"
        "    return f(a)(x.detach())  # one differentiable step at x*: f_a, f_theta alone\n"
    )
    result = _closure(coupled, load_target(path, None).candidate("map"))
    assert result.status == "fail"
    assert result.diagnosis == ("missing_inverse",)
    assert "one-step gradient" in result.message
