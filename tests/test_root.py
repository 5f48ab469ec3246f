"""implicit.root_find: roots, exact IFT derivatives, batching, failures."""

from __future__ import annotations

import math

import pytest
import torch
import torch.autograd.forward_ad as fwAD

from implicit import (
    ImplicitError,
    ImplicitWarning,
    NonConvergenceError,
    SingularJacobianError,
    root_find,
)

f64 = torch.float64


def circle(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return x**2 + y**2 - 1


def ellipse(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """x^2/4 + y^2/(1/4) = 1: y = sqrt(1 - x^2/4)/2."""
    return x**2 / 4 + 4 * y**2 - 1


def t(value: float | list[float], requires_grad: bool = False) -> torch.Tensor:
    return torch.tensor(value, dtype=f64, requires_grad=requires_grad)


def test_root_find_unit_circle_matches_closed_forms() -> None:
    x = t(0.5, requires_grad=True)
    y = root_find(circle, x, t(0.5))
    (dy_dx,) = torch.autograd.grad(y, x, create_graph=True)
    (d2y_dx2,) = torch.autograd.grad(dy_dx, x)
    assert abs(y.item() - math.sqrt(3) / 2) <= 1e-12
    assert abs(dy_dx.item() + 1 / math.sqrt(3)) <= 1e-10
    exact = -1 / y.item() ** 3
    assert abs(d2y_dx2.item() - exact) <= 1e-8 * abs(exact)


def test_root_find_ellipse_matches_closed_forms() -> None:
    x = t([-1.5, 0.3, 1.9], requires_grad=True)
    y = root_find(ellipse, x, torch.full_like(x, 0.3))
    exact = torch.sqrt(1 - x.detach() ** 2 / 4) / 2
    torch.testing.assert_close(y.detach(), exact, rtol=1e-13, atol=0)
    (dy_dx,) = torch.autograd.grad(y.sum(), x)
    torch.testing.assert_close(dy_dx, -x.detach() / (16 * exact), rtol=1e-10, atol=0)


@pytest.mark.parametrize("method", ["newton"])
def test_root_find_passes_gradcheck_and_gradgradcheck(method: str) -> None:
    x = t([0.3, -0.2, 0.7], requires_grad=True)

    def solve(x: torch.Tensor) -> torch.Tensor:
        return root_find(circle, x, torch.full_like(x, 0.5), method=method)

    assert torch.autograd.gradcheck(solve, (x,))
    assert torch.autograd.gradgradcheck(solve, (x,))


def test_root_find_near_degenerate_point_is_accurate() -> None:
    x = t(0.999, requires_grad=True)
    y = root_find(circle, x, t(0.5))
    y.backward()
    y_true = math.sqrt(1 - 0.999**2)
    assert abs(y.item() / y_true - 1) <= 1e-8
    assert abs(x.grad.item() / (-0.999 / y_true) - 1) <= 1e-8


def test_root_find_raises_at_exactly_degenerate_point() -> None:
    with pytest.raises(SingularJacobianError, match=r"\|F_y\| = .* move x away"):
        root_find(circle, t(1.0, requires_grad=True), t(0.5))


def test_root_find_nan_policy_warns_and_never_gives_a_finite_gradient() -> None:
    x = t([0.5, 1.0], requires_grad=True)
    with pytest.warns(ImplicitWarning, match=r"1 of 2 problem.*batch index \(1,\)"):
        y = root_find(circle, x, t([0.5, 0.5]), on_failure="nan")
    assert math.isfinite(y[0].item())
    assert math.isnan(y[1].item())
    y.sum().backward()  # the forward already warned; the NaN carries through
    assert not math.isfinite(x.grad[1].item())


def test_root_find_backward_detects_singular_jacobian() -> None:
    # The forward solved at x = 0.5; the backward is asked at a y where F_y = 0
    # because F changed meaning after the solve (a stateful F): still no silent number.
    state = {"shift": 0.0}

    def F(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return x**2 + (y - state["shift"]) ** 2 - 1

    x = t(0.5, requires_grad=True)
    y = root_find(F, x, t(0.5))
    state["shift"] = y.item()
    with pytest.raises(SingularJacobianError):
        torch.autograd.grad(y, x, create_graph=True)


def test_root_find_batch_equals_one_by_one() -> None:
    xs = t([-0.9, -0.3, 0.0, 0.4, 0.8], requires_grad=True)
    y = root_find(circle, xs, torch.full_like(xs, 0.5))
    weights = t([1.0, -2.0, 0.5, 3.0, -1.0])
    (batched,) = torch.autograd.grad((weights * y).sum(), xs)
    for i, x_value in enumerate(xs.tolist()):
        x = t(x_value, requires_grad=True)
        y_i = root_find(circle, x, t(0.5))
        (g,) = torch.autograd.grad(weights[i] * y_i, x)
        assert y_i.item() == pytest.approx(y[i].item(), abs=1e-15)
        assert g.item() == pytest.approx(batched[i].item(), rel=1e-14)


def test_root_find_gradient_is_scale_free_and_zero_for_y0() -> None:
    x = t([0.2, 0.6], requires_grad=True)
    y0 = t([0.5, 0.5], requires_grad=True)
    y = root_find(circle, x, y0)
    g1, g0 = torch.autograd.grad(y.sum(), (x, y0))
    y = root_find(circle, x, y0)
    (g7,) = torch.autograd.grad(7.0 * y.sum(), x)
    torch.testing.assert_close(g7, 7.0 * g1, rtol=1e-14, atol=0)
    assert torch.equal(g0, torch.zeros_like(y0))


def _vector_F(x: tuple[torch.Tensor, torch.Tensor], y: torch.Tensor) -> torch.Tensor:
    """A coupled 2-unknown system per problem: A(p) y + 0.1 sin(y) = b, A non-symmetric."""
    p, b = x
    A = torch.stack(
        [torch.stack([2 + p, 0.5 * p], -1), torch.stack([-0.3 * torch.ones_like(p), 3 - p], -1)],
        -2,
    )
    return (A @ y.unsqueeze(-1)).squeeze(-1) + 0.1 * torch.sin(y) - b


def test_root_find_vector_problems_with_tuple_x_pass_gradcheck() -> None:
    p = t([0.1, 0.4, -0.2], requires_grad=True)
    b = t([[1.0, 2.0], [0.5, -1.0], [0.0, 0.3]], requires_grad=True)

    def solve(p: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return root_find(_vector_F, (p, b), torch.zeros(3, 2, dtype=f64), event_ndim=1)

    y = solve(p, b)
    assert _vector_F((p, b), y).abs().max() <= 1e-13
    assert torch.autograd.gradcheck(solve, (p, b))
    assert torch.autograd.gradgradcheck(solve, (p, b))


def test_root_find_forward_mode_matches_reverse() -> None:
    x = t([0.5, -0.1, 0.7])
    tangent = t([1.0, 2.0, -1.0])
    expected = tangent * (-x / torch.sqrt(1 - x**2))
    with fwAD.dual_level():
        y = root_find(circle, fwAD.make_dual(x, tangent), torch.full_like(x, 0.5))
        torch.testing.assert_close(fwAD.unpack_dual(y).tangent, expected)
    _, y_dot = torch.func.jvp(
        lambda x: root_find(circle, x, torch.full_like(x, 0.5)), (x,), (tangent,)
    )
    torch.testing.assert_close(y_dot, expected)


def test_root_find_float32_stays_float32() -> None:
    x = torch.tensor([0.5, -0.6], requires_grad=True)
    y = root_find(circle, x, torch.full_like(x, 0.5))
    y.sum().backward()
    assert y.dtype == torch.float32
    assert x.grad.dtype == torch.float32
    torch.testing.assert_close(y.detach(), torch.sqrt(1 - x.detach() ** 2))


def test_root_find_closure_tensor_that_requires_grad_is_an_error() -> None:
    r = t(2.0, requires_grad=True)
    with pytest.raises(ImplicitError, match="closure"):
        root_find(lambda x, y: x**2 + y**2 - r**2, t(0.5), t(0.5))


def test_root_find_nonconvergence_names_the_problem() -> None:
    # y**2 + 1 = 0 has no real root.
    with pytest.raises(NonConvergenceError, match=r"residual max\|F\| after 5 iterations"):
        root_find(lambda x, y: y**2 + x, t([1.0]), t([0.3]), max_iter=5)


def test_root_find_lbfgs_is_the_notebook_solver_with_its_limits() -> None:
    x = t(0.5, requires_grad=True)
    y, info = root_find(circle, x, t(0.5), method="lbfgs", return_info=True)
    assert abs(y.item() - math.sqrt(3) / 2) < 1e-4
    assert bool(info.converged)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"method": "bisect"}, "method='bisect'"),
        ({"on_failure": "ignore"}, "on_failure='ignore'"),
        ({"max_iter": 0}, "max_iter=0"),
        ({"tol": -1.0}, "tol=-1.0"),
        ({"event_ndim": 3}, "event_ndim=3"),
    ],
)
def test_root_find_rejects_bad_arguments_naming_them(kwargs: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        root_find(circle, t(0.5), t(0.5), **kwargs)


def test_root_find_rejects_F_of_the_wrong_shape() -> None:
    with pytest.raises(ValueError, match=r"y's shape \(2,\)"):
        root_find(lambda x, y: (x**2 + y**2 - 1).sum(), t([0.1, 0.2]), t([0.5, 0.5]))


def test_root_find_double_root_of_a_polynomial_is_singular_not_a_huge_gradient() -> None:
    # (y - 5/4)^2 + (x - 15/8) has a double root y = 5/4 at x = 15/8: Newton
    # converges linearly and stops about sqrt(eps) away, where F_y ~ 1e-8.
    def F(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return (y - 1.25) ** 2 + (x - 1.875)

    with pytest.raises(SingularJacobianError):
        root_find(F, t(1.875, requires_grad=True), t(1.3))
    with pytest.raises(SingularJacobianError):  # the shifted circle Hypothesis found
        root_find(lambda x, y: x**2 + y**2 - y / 2 - 15 / 16, t(1.0), t(0.3125))


def test_root_find_line_search_rescues_newton_where_full_steps_diverge() -> None:
    # Plain Newton on atan(y) = x from |y0| > 1.39 overshoots further each step.
    x = t([0.5, -0.2, 1.0], requires_grad=True)
    y, info = root_find(lambda x, y: torch.atan(y) - x, x, t([5.0, -8.0, 0.0]), return_info=True)
    torch.testing.assert_close(y.detach(), torch.tan(x.detach()), rtol=1e-14, atol=0)
    assert bool(info.converged.all())


def test_root_find_float32_gradient_is_evaluated_at_the_returned_y() -> None:
    # Found by the thorough profile: F_yy / F_y ~ 100 here, so an F_y taken at the
    # solver's previous iterate (O(tol) away) was off by 3e-4 in float32.
    def F(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return 4 * y**4 + x - 121 / 4 * y + 1795 / 64

    x = torch.tensor(0.0, requires_grad=True)
    y = root_find(F, x, torch.tensor(1.3125))
    (dy_dx,) = torch.autograd.grad(y, x)
    y64 = y.detach().double()
    exact = -1 / (16 * y64**3 - 121 / 4)
    assert abs(dy_dx.double() / exact - 1) <= 1e-5


def test_root_find_second_derivative_when_F_does_not_depend_on_x() -> None:
    x = t(0.0, requires_grad=True)
    y = root_find(lambda x, y: y**2 + y / 2, x, t(0.05))
    (dy_dx,) = torch.autograd.grad(y, x, create_graph=True)
    (d2y_dx2,) = torch.autograd.grad(dy_dx, x)
    assert dy_dx.item() == 0.0
    assert d2y_dx2.item() == 0.0


def _tangent_quartic(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """At x = 11/8, F(x, .) = -(8y + 5)^2 (48y^2 - 16y - 29) / 1024: a double root
    y = -5/8 (F_y = 0, F_x = 1.1 there) whose curvature F_yy = 1/32 is small."""
    return x**2 * y**2 - 2 * x * y**3 - 3 * y**4 + 85 / 32 * y + 725 / 1024


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("offset", [1e-1, 1e-2, 1e-3, 1e-5, 1e-8, -1e-6, -1e-3])
def test_root_find_vertical_tangent_is_singular_wherever_y0_starts(
    dtype: torch.dtype, offset: float
) -> None:
    # Found by the thorough profile: from y0 near the double root, |F_y| along the
    # path is as small as at the solution, so a path-relative test let dy/dx = 5e8 out.
    x = torch.tensor(11 / 8, dtype=dtype, requires_grad=True)
    y0 = torch.tensor(-5 / 8 + offset, dtype=dtype)
    with pytest.raises(SingularJacobianError, match=r"\|F_y\| = "):
        root_find(_tangent_quartic, x, y0)


def test_root_find_vertical_tangent_in_a_batch_names_the_problem() -> None:
    x = t([11 / 8, 0.5, 11 / 8], requires_grad=True)
    y0 = t([-5 / 8 + 1e-3, 0.7, -5 / 8 + 1e-8])
    with pytest.warns(ImplicitWarning, match=r"2 of 3 problem.*\(0,\).*\(2,\)"):
        y = root_find(_tangent_quartic, x, y0, on_failure="nan")
    assert math.isfinite(y[1].item())
    assert y[0].isnan()
    assert y[2].isnan()
    (g,) = torch.autograd.grad(y.sum(), x)
    assert math.isfinite(g[1].item())
    assert not math.isfinite(g[0].item())
    assert not math.isfinite(g[2].item())


def test_root_find_vertical_tangent_of_a_vector_problem_is_singular() -> None:
    # Two copies of the quartic, coupled by a rotation: F_y is singular at the root.
    def F(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        c, s = 0.6, 0.8
        z = torch.stack([c * y[..., 0] - s * y[..., 1], s * y[..., 0] + c * y[..., 1]], -1)
        return torch.stack([_tangent_quartic(x, z[..., 0]), z[..., 1] - 0.25], -1)

    x = t(11 / 8, requires_grad=True)
    z0 = torch.tensor([-5 / 8 + 1e-4, 0.25], dtype=f64)
    y0 = torch.stack([0.6 * z0[0] + 0.8 * z0[1], -0.8 * z0[0] + 0.6 * z0[1]])
    with pytest.raises(SingularJacobianError, match="smallest singular value"):
        root_find(F, x, y0, event_ndim=1)


def test_root_find_simple_root_beside_a_double_root_is_regular() -> None:
    # y = -0.62828... is a simple root 3e-3 from the double root: F_y = 5e-5 and
    # |F_y| / |grad F| = 3e-5, well conditioned enough in float64.
    x = t(11 / 8, requires_grad=True)
    y = root_find(_tangent_quartic, x, t(-0.7))
    (dy_dx,) = torch.autograd.grad(y, x)
    yd = y.detach()
    F_x = 2 * x.detach() * yd**2 - 2 * yd**3
    F_y = 2 * x.detach() ** 2 * yd - 6 * x.detach() * yd**2 - 12 * yd**3 + 85 / 32
    # The root's condition is 1 / 3e-5, so round-off moves it by ~1e-12.
    assert abs(yd.item() - (16 - math.sqrt(5824)) / 96) <= 1e-10
    assert dy_dx.item() == pytest.approx((-F_x / F_y).item(), rel=1e-6)


def test_root_find_nan_policy_backward_through_failed_vector_problems() -> None:
    # Problem 1 has no real root (y^2 = -1): NaN under on_failure="nan"; the
    # backward must give it a NaN gradient, not fail in LAPACK on its NaN F_y.
    x = t([[-0.25, -1.0], [1.0, 1.0]], requires_grad=True)
    with pytest.warns(ImplicitWarning, match=r"1 of 2 problem.*batch index \(1,\)"):
        y = root_find(
            lambda x, y: y**2 + x, x, t([[1.0, 0.5], [0.3, 0.3]]), event_ndim=1, on_failure="nan"
        )
    assert y[1].isnan().all()
    (g,) = torch.autograd.grad(y.nansum(), x)
    torch.testing.assert_close(g[0], -0.5 / y[0].detach(), rtol=1e-12, atol=0)
    assert g[1].isnan().all()


@pytest.mark.parametrize(("dtype", "slope"), [(torch.float32, 1e3), (torch.float64, 1e7)])
def test_root_find_steep_straight_curve_is_regular(dtype: torch.dtype, slope: float) -> None:
    # |F_y| / |F_x| = 1 / slope is below singular_tol, but F_y = 1 never vanishes:
    # no vertical tangent, and the gradient is exact.
    x = torch.tensor([0.3, -0.2], dtype=dtype, requires_grad=True)
    y = root_find(lambda x, y: y - slope * x, x, torch.zeros(2, dtype=dtype))
    (g,) = torch.autograd.grad(y.sum(), x)
    torch.testing.assert_close(g, torch.full_like(g, slope), rtol=1e-6, atol=0)


# compile=True: the same numbers from compiled F, F_y, steps and backward.  Every
# distinct F costs a compilation (seconds): these tests share a few small F's.


def _solve_and_grad(
    F, x: torch.Tensor, y0: torch.Tensor, compile: bool, **kwargs
) -> tuple[torch.Tensor, torch.Tensor, object]:
    x = x.detach().clone().requires_grad_()
    y, info = root_find(F, x, y0, return_info=True, compile=compile, **kwargs)
    weights = torch.linspace(-1, 2, y.numel(), dtype=y.dtype).reshape(y.shape)
    (g,) = torch.autograd.grad((weights * y).nansum(), x)
    return y.detach(), g, info


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("F", [circle, ellipse])
def test_root_find_compiled_matches_eager(F, dtype: torch.dtype) -> None:
    # Starts from near and far: problems converge in different iterations.
    x = torch.linspace(-0.95, 0.95, 41, dtype=dtype)
    y0 = torch.linspace(0.05, 3.0, 41, dtype=dtype)
    y_eager, g_eager, info_eager = _solve_and_grad(F, x, y0, compile=False)
    y, g, info = _solve_and_grad(F, x, y0, compile=True)
    tight = {"rtol": 4 * torch.finfo(dtype).eps, "atol": 0}
    torch.testing.assert_close(y, y_eager, **tight)
    torch.testing.assert_close(g, g_eager, rtol=64 * torch.finfo(dtype).eps, atol=0)
    assert torch.equal(info.converged, info_eager.converged)
    assert torch.equal(info.iterations, info_eager.iterations)
    assert torch.equal(info.singular, info_eager.singular)
    torch.testing.assert_close(info.sigma_min, info_eager.sigma_min, **tight)
    torch.testing.assert_close(info.residual, info_eager.residual, rtol=0, atol=1e-15)


def test_root_find_compiled_detects_singular_points() -> None:
    x = t([0.5, 1.0, -0.3])
    with pytest.raises(SingularJacobianError, match=r"\|F_y\| = .* batch index \(1,\)"):
        root_find(circle, x.clone().requires_grad_(), t([0.5, 0.5, 0.5]), compile=True)
    with pytest.warns(ImplicitWarning, match=r"1 of 3 problem.*batch index \(1,\)"):
        y, g, _ = _solve_and_grad(circle, x, t([0.5, 0.5, 0.5]), compile=True, on_failure="nan")
    assert y[1].isnan()
    assert not math.isfinite(g[1].item())
    torch.testing.assert_close(y[[0, 2]], torch.sqrt(1 - x[[0, 2]] ** 2), rtol=1e-15, atol=0)


def test_root_find_compiled_backward_detects_singular_jacobian() -> None:
    # As test_root_find_backward_detects_singular_jacobian, first order only (the
    # compiled backward; create_graph takes the eager one).
    state = {"shift": 0.0}

    def F(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return x**2 + (y - state["shift"]) ** 2 - 1

    x = t([0.5, 0.6], requires_grad=True)
    y = root_find(F, x, t([0.5, 0.5]), compile=True)
    state["shift"] = y[1].item()
    with pytest.raises(SingularJacobianError, match=r"batch index \(1,\)"):
        torch.autograd.grad(y.sum(), x)


def test_root_find_compiled_second_call_does_not_recompile() -> None:
    from torch._dynamo.utils import counters

    x, y0 = torch.linspace(-0.9, 0.9, 16, dtype=f64), torch.full((16,), 0.5, dtype=f64)
    _solve_and_grad(ellipse, x, y0, compile=True)
    graphs = counters["stats"]["unique_graphs"]
    assert graphs > 0  # it did compile (a fallback to eager would also warn)
    y, g, _ = _solve_and_grad(ellipse, x / 2, y0, compile=True)
    assert counters["stats"]["unique_graphs"] == graphs
    torch.testing.assert_close(y, torch.sqrt(1 - x**2 / 16) / 2, rtol=1e-15, atol=0)


def test_root_find_compiled_keeps_double_backward_and_forward_mode() -> None:
    x = t([0.3, -0.2, 0.7], requires_grad=True)
    y = root_find(circle, x, torch.full_like(x, 0.5), compile=True)
    (dy_dx,) = torch.autograd.grad(y.sum(), x, create_graph=True)
    (d2y_dx2,) = torch.autograd.grad(dy_dx.sum(), x)
    yd = y.detach()
    torch.testing.assert_close(dy_dx.detach(), -x.detach() / yd, rtol=1e-13, atol=0)
    torch.testing.assert_close(d2y_dx2, -1 / yd**3, rtol=1e-10, atol=0)
    tangent = t([1.0, 2.0, -1.0])
    _, y_dot = torch.func.jvp(
        lambda x: root_find(circle, x, torch.full_like(x, 0.5), compile=True),
        (x.detach(),),
        (tangent,),
    )
    torch.testing.assert_close(y_dot, -tangent * x.detach() / yd)


def test_root_find_compiled_F_that_reads_a_number_is_right() -> None:
    # .item() is traced (as a symbolic number), not frozen at its first value.
    def F(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return y**2 - x * x.abs().max().item()

    for top in (1.0, 2.0):
        x = t([top, top / 2])
        y, g, _ = _solve_and_grad(F, x, t([1.0, 1.0]), compile=True)
        torch.testing.assert_close(y, torch.sqrt(x * top), rtol=1e-15, atol=0)


def test_root_find_compiled_untraceable_F_falls_back_to_eager() -> None:
    def F(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        print("F called")  # torch.compile (fullgraph) cannot trace print
        return x**2 + y**2 - 1

    x = t([0.3, -0.6])
    with pytest.warns(UserWarning, match=r"cannot compile F .*evaluated eagerly"):
        y, g, _ = _solve_and_grad(F, x, t([0.5, 0.5]), compile=True)
    y_eager, g_eager, _ = _solve_and_grad(F, x, t([0.5, 0.5]), compile=False)
    assert torch.equal(y, y_eager)
    assert torch.equal(g, g_eager)


def test_root_find_compiled_leaves_vector_problems_eager() -> None:
    p = t([0.1, 0.4, -0.2])
    b = t([[1.0, 2.0], [0.5, -1.0], [0.0, 0.3]])
    y = root_find(_vector_F, (p, b), torch.zeros(3, 2, dtype=f64), event_ndim=1, compile=True)
    assert _vector_F((p, b), y).abs().max() <= 1e-13


def test_root_find_compiled_closure_tensor_that_requires_grad_is_an_error() -> None:
    r = t(2.0, requires_grad=True)
    with pytest.raises(ImplicitError, match="closure"):
        root_find(lambda x, y: x**2 + y**2 - r**2, t([0.5]), t([0.5]), compile=True)
