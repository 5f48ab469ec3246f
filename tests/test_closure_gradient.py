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


#: A fixed_point that finds the tensors f reaches through closures (the leaves of
#: f's graph) and differentiates with respect to them too; KEEP picks which.
PARAMS = """
import torch

KEEP = {keep}


def _leaves(out):
    seen, found, stack = set(), [], [out.grad_fn]
    while stack:
        fn = stack.pop()
        if fn is None or fn in seen:
            continue
        seen.add(fn)
        if hasattr(fn, "variable"):
            found.append(fn.variable)
        stack.extend(n for n, _ in fn.next_functions)
    return found


class _FixedPoint(torch.autograd.Function):
    @staticmethod
    def forward(ctx, a, x, f, *params):
        ctx.f, ctx.params = f, params
        ctx.save_for_backward(a, x)
        return x.clone()

    @staticmethod
    def backward(ctx, g):
        a, x = ctx.saved_tensors
        with torch.enable_grad():
            a, x = a.detach().requires_grad_(), x.detach().requires_grad_()
            fx = ctx.f(a)(x)
            J = torch.autograd.functional.jacobian(lambda x_: ctx.f(a)(x_), x).reshape(
                x.numel(), x.numel()
            )
            u = torch.linalg.solve(torch.eye(x.numel(), dtype=x.dtype) - J.T, g.reshape(-1))
            params = [p for p in _leaves(fx) if p is not a and p is not x]
            grads = torch.autograd.grad(fx, [a, *params], u.reshape(fx.shape), allow_unused=True)
        by_id = {{id(p): d for p, d in zip(params, grads[1:])}}
        return (grads[0], None, None, *[by_id.get(id(p)) if KEEP(p) else None for p in ctx.params])


def fixed_point(f, a, x0, distance, tol):
    with torch.no_grad():
        x_prev, x = x0, f(a)(x0)
        while distance(x, x_prev) > tol:
            x_prev, x = x, f(a)(x)
    with torch.enable_grad():
        probe = f(a.detach())(x.detach())
    params = _leaves(probe) if probe.grad_fn is not None else []
    return _FixedPoint.apply(a, x, f, *params)
"""


def _params_layer(tmp_path, keep: str):
    path = tmp_path / "params.py"
    path.write_text(PARAMS.format(keep=keep))
    return load_target(path, None).candidate("map")


def test_a_layer_that_differentiates_every_closure_parameter_passes(coupled, tmp_path) -> None:
    # An independent value for both closed forms: sum(u) for theta, u * x* for phi.
    result = _closure(coupled, _params_layer(tmp_path, "lambda p: True"))
    assert result.status == "pass", result
    assert "theta" in result.message
    assert "phi" in result.message
    assert result.error < 1e-9


def test_a_layer_that_drops_the_vector_parameter_is_told_which(coupled, tmp_path) -> None:
    # Only 0-d parameters kept: theta gets its gradient, phi (shape (2,)) None.
    result = _closure(coupled, _params_layer(tmp_path, "lambda p: p.dim() == 0"))
    assert result.status == "fail"
    assert result.diagnosis == ("no_gradient",)
    assert result.message.startswith("phi's gradient came back None")
    assert "while theta's gradient did not" in result.message


def test_a_curve_solver_differentiated_through_newton_passes(tmp_path) -> None:
    # Autograd through every Newton step: an independent value for -w / F_y and -w y / F_y.
    path = tmp_path / "unrolled_newton.py"
    path.write_text(
        "import torch\n\n"
        "def implicit(F, x, y0):\n"
        "    y = y0.clone()\n"
        "    for _ in range(60):\n"
        "        with torch.enable_grad():\n"
        "            yv = y if y.requires_grad else y.detach().requires_grad_()\n"
        "            Fv = F(x, yv)\n"
        "            (F_y,) = torch.autograd.grad(Fv.sum(), yv, create_graph=True)\n"
        "        y = yv - Fv / F_y\n"
        "    return y\n"
    )
    case = oracle.curve_case(curves.circle(), "0.5", 0.8)
    result = _closure(case, load_target(path, None).candidate("curve"))
    assert result.status == "pass", result
    assert result.error < 1e-9
