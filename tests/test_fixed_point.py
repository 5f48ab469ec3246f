"""implicit.fixed_point: HIPS semantics, exact IFT derivatives, no unrolling."""

from __future__ import annotations

import math

import pytest
import torch

from implicit import NonConvergenceError, SingularJacobianError, fixed_point

f64 = torch.float64


def sqrt_map(a: torch.Tensor):
    """Newton's map for sqrt(a): x* = sqrt(a), dx*/da = 1/(2 sqrt a)."""
    return lambda x: 0.5 * (x + a / x)


def abs_distance(x: torch.Tensor, x_prev: torch.Tensor) -> torch.Tensor:
    return torch.linalg.vector_norm(x - x_prev)


def coupled(a: torch.Tensor):
    """x -> M x + a with M non-symmetric (spectral radius 0.6): x* = (I - M)^-1 a."""
    M = torch.tensor([[0.3, 0.5], [-0.2, 0.4]], dtype=a.dtype)
    return lambda x: M @ x + torch.sin(a) * torch.tensor([1.0, 2.0], dtype=a.dtype)


def test_fixed_point_sqrt_map_first_and_second_derivative() -> None:
    a = torch.tensor(2.0, dtype=f64, requires_grad=True)
    x = fixed_point(sqrt_map, a, torch.tensor(1.0, dtype=f64), abs_distance, 1e-12)
    (dx_da,) = torch.autograd.grad(x, a, create_graph=True)
    (d2x_da2,) = torch.autograd.grad(dx_da, a)
    assert x.item() == pytest.approx(math.sqrt(2), abs=1e-14)
    assert dx_da.item() == pytest.approx(0.5 / math.sqrt(2), rel=1e-12)
    assert d2x_da2.item() == pytest.approx(-0.25 * 2**-1.5, rel=1e-10)


@pytest.mark.parametrize("method", ["iterate", "anderson"])
def test_fixed_point_passes_gradcheck_and_gradgradcheck(method: str) -> None:
    a = torch.tensor([0.3, -0.7], dtype=f64, requires_grad=True)

    def solve(a: torch.Tensor) -> torch.Tensor:
        return fixed_point(
            coupled, a, torch.zeros(2, dtype=f64), abs_distance, 1e-13, method=method
        )

    assert torch.autograd.gradcheck(solve, (a,))
    assert torch.autograd.gradgradcheck(solve, (a,))


def test_fixed_point_coupled_map_uses_the_transpose_correctly() -> None:
    a = torch.tensor([0.3, -0.7], dtype=f64, requires_grad=True)
    x = fixed_point(coupled, a, torch.zeros(2, dtype=f64), abs_distance, 1e-14)
    M = torch.tensor([[0.3, 0.5], [-0.2, 0.4]], dtype=f64)
    f_a = torch.diag(torch.cos(a.detach()) * torch.tensor([1.0, 2.0], dtype=f64))
    exact = torch.linalg.solve(torch.eye(2, dtype=f64) - M, f_a)
    v = torch.tensor([1.5, -0.5], dtype=f64)
    (g,) = torch.autograd.grad(x, a, v)
    torch.testing.assert_close(g, exact.T @ v, rtol=1e-12, atol=0)


def test_fixed_point_slow_map_raises_after_the_cap() -> None:
    a = torch.tensor(1.0, dtype=f64)
    with pytest.raises(NonConvergenceError, match="after 500 iterations.*cap.*method='anderson'"):
        fixed_point(
            lambda a: lambda x: 0.99 * x + a,
            a,
            torch.tensor(0.0, dtype=f64),
            None,
            1e-10,
            max_iter=500,
        )


def test_fixed_point_never_converging_map_fails_fast_not_at_the_cap() -> None:
    # -x + a cycles (x0, a - x0, x0, ...): its distance never shrinks.
    a = torch.tensor(1.0, dtype=f64)
    with pytest.raises(NonConvergenceError, match="after 51 iterations.*method='anderson'"):
        fixed_point(
            lambda a: lambda x: -x + a, a, torch.tensor(0.0, dtype=f64), None, 1e-10, max_iter=500
        )


def test_fixed_point_anderson_solves_the_non_contracting_map() -> None:
    a = torch.tensor(1.0, dtype=f64, requires_grad=True)
    x = fixed_point(
        lambda a: lambda x: -x + a, a, torch.tensor(0.0, dtype=f64), None, 1e-12, method="anderson"
    )
    (g,) = torch.autograd.grad(x, a)
    assert x.item() == pytest.approx(0.5)
    assert g.item() == pytest.approx(0.5)


def test_fixed_point_singular_I_minus_f_x_is_an_error() -> None:
    # f(a)(x) = x - (x - a)^3 has a triple fixed point at x = a: f_x = 1 there.
    a = torch.tensor(0.5, dtype=f64)
    with pytest.raises((SingularJacobianError, NonConvergenceError)):
        fixed_point(
            lambda a: lambda x: x - (x - a) ** 3,
            a,
            torch.tensor(0.6, dtype=f64),
            None,
            1e-12,
            max_iter=200,
        )
    with pytest.raises(SingularJacobianError, match="sigma_min"):
        fixed_point(lambda a: lambda x: x - (x - a) ** 3, a, a.clone(), None, 1e-12)


def test_fixed_point_graph_does_not_grow_and_f_is_evaluated_only_at_x_star() -> None:
    seen: list[float] = []

    def recording(a: torch.Tensor):
        def step(x: torch.Tensor) -> torch.Tensor:
            if torch.is_grad_enabled():
                seen.append(x.item())
            return 0.5 * (x + a / x)

        return step

    a = torch.tensor(3.0, dtype=f64, requires_grad=True)
    sizes = []
    for tol in (1e-2, 1e-14):
        x = fixed_point(recording, a, torch.tensor(10.0, dtype=f64), None, tol)
        sizes.append(_graph_size(x.grad_fn))
    assert sizes[0] == sizes[1]
    seen.clear()
    x.backward()
    assert seen
    assert all(value == x.item() for value in seen)


def _graph_size(node) -> int:
    seen, stack = set(), [node]
    while stack:
        node = stack.pop()
        if node is not None and node not in seen:
            seen.add(node)
            stack.extend(n for n, _ in node.next_functions)
    return len(seen)


def test_fixed_point_gradient_wrt_x0_is_zero_and_float32_stays_float32() -> None:
    a = torch.tensor(2.0, requires_grad=True)
    x0 = torch.tensor(1.0, requires_grad=True)
    x = fixed_point(sqrt_map, a, x0, abs_distance, 1e-6)
    g_a, g_x0 = torch.autograd.grad(x, (a, x0))
    assert x.dtype == torch.float32
    assert g_a.dtype == torch.float32
    assert g_x0.item() == 0.0
    assert g_a.item() == pytest.approx(0.5 / math.sqrt(2), rel=1e-6)


def test_fixed_point_accepts_python_scalars_like_hips() -> None:
    x = fixed_point(sqrt_map, 2.0, 1.0, abs_distance, 1e-12)
    assert x.item() == pytest.approx(math.sqrt(2))


@pytest.mark.parametrize("method", ["iterate", "anderson"])
def test_fixed_point_batch_of_independent_problems(method: str) -> None:
    a = torch.tensor([0.5, 2.0, 9.0, 30.0], dtype=f64, requires_grad=True)
    x = fixed_point(sqrt_map, a, torch.ones(4, dtype=f64), None, 1e-13, method=method, event_ndim=0)
    (dx_da,) = torch.autograd.grad(x.sum(), a)
    torch.testing.assert_close(x.detach(), a.detach().sqrt(), rtol=1e-13, atol=0)
    torch.testing.assert_close(dx_da, 0.5 / a.detach().sqrt(), rtol=1e-12, atol=0)
