"""implicit.fixed_point under every torch.func transform, against closed forms.

Newton's map for sqrt(a), ``f(a)(x) = a / (2x) + x / 2``, has ``x* = sqrt(a)``,
``dx*/da = 1 / (2 sqrt a)`` and ``d2x*/da2 = -1 / (4 a^(3/2))``; the affine map
``x -> M x + a`` (M not symmetric) has ``x* = (I - M)^-1 a`` and Jacobian
``(I - M)^-1``, so a transposed backward shows.
"""

from __future__ import annotations

import pytest
import torch
from torch.func import grad, hessian, jacfwd, jacrev, jvp, vjp, vmap

from implicit import ImplicitError, fixed_point

f64 = torch.float64
A = torch.tensor([1.0, 4.0, 9.0, 2.5], dtype=f64)
M = torch.tensor([[0.3, 0.5], [-0.2, 0.4]], dtype=f64)
INV = torch.linalg.inv(torch.eye(2, dtype=f64) - M)


def newton(a: torch.Tensor):
    return lambda x: a / (2 * x) + x / 2


def sqrt_of(a: torch.Tensor) -> torch.Tensor:
    return fixed_point(newton, a, torch.ones_like(a), tol=1e-13)


def affine(a: torch.Tensor) -> torch.Tensor:
    return fixed_point(lambda a_: lambda x: M @ x + a_, a, torch.zeros_like(a), tol=1e-13)


def close(got: torch.Tensor, want: torch.Tensor) -> None:
    torch.testing.assert_close(got, want, rtol=1e-9, atol=1e-11)


def test_vmap_grad_and_hessian_of_a_scalar_fixed_point() -> None:
    close(vmap(sqrt_of)(A), A.sqrt())
    close(vmap(grad(sqrt_of))(A), 1 / (2 * A.sqrt()))
    close(vmap(grad(grad(sqrt_of)))(A), -1 / (4 * A**1.5))
    close(vmap(hessian(sqrt_of))(A), -1 / (4 * A**1.5))


def test_jacrev_jacfwd_vjp_jvp_of_a_batch_are_the_closed_forms() -> None:
    diag = torch.diag(1 / (2 * A.sqrt()))
    close(jacrev(sqrt_of)(A), diag)
    close(jacfwd(sqrt_of)(A), diag)
    v = torch.tensor([1.0, -2.0, 0.5, 3.0], dtype=f64)
    _, pullback = vjp(sqrt_of, A)
    close(pullback(v)[0], v / (2 * A.sqrt()))
    close(jvp(sqrt_of, (A,), (v,))[1], v / (2 * A.sqrt()))


def test_a_non_symmetric_map_is_not_transposed_under_any_transform() -> None:
    a = torch.tensor([0.7, -1.1], dtype=f64)
    close(jacrev(affine)(a), INV)
    close(jacfwd(affine)(a), INV)
    stack = torch.stack([a, 2 * a, -a])
    close(vmap(affine)(stack), stack @ INV.T)
    close(vmap(jacrev(affine))(stack), INV.expand(3, 2, 2))


def test_vmap_gives_each_mapped_problem_its_own_stopping() -> None:
    """A slow problem beside fast ones: each mapped problem stops on its own distance,
    so the fast ones are not iterated on (their iteration counts differ)."""
    a = torch.tensor([1.0, 1e6], dtype=f64)

    def with_info(a_: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x, info = fixed_point(newton, a_, torch.ones_like(a_), tol=1e-12, return_info=True)
        return x, info.iterations

    x, iterations = vmap(with_info)(a)
    close(x, a.sqrt())
    assert iterations[0] < iterations[1], iterations


def test_an_unmapped_a_and_a_mapped_start() -> None:
    x0 = torch.tensor([0.5, 1.0, 3.0], dtype=f64)
    a = torch.tensor(4.0, dtype=f64)
    out = vmap(lambda s: fixed_point(newton, a, s, tol=1e-13))(x0)
    close(out, torch.full_like(x0, 2.0))


def test_a_mapped_tensor_reaching_f_through_a_closure_is_an_error() -> None:
    def hidden(c: torch.Tensor) -> torch.Tensor:
        a = torch.tensor(4.0, dtype=f64)
        return fixed_point(lambda a_: lambda x: (a_ + c) / (2 * x) + x / 2, a, c * 0 + 1.0)

    with pytest.raises(ImplicitError, match="closure"):
        vmap(hidden)(torch.tensor([0.0, 1.0], dtype=f64))


def test_the_matrix_free_path_refuses_transforms_clearly() -> None:
    a = torch.full((300,), 2.0, dtype=f64)
    with pytest.raises(ImplicitError, match="linear_solver='dense'"):
        grad(lambda a_: fixed_point(newton, a_, torch.ones_like(a_), event_ndim=1).sum())(a)
