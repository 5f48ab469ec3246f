"""implicit.root_find under every torch.func transform and forward AD, against
the unit circle's closed forms: y = sqrt(1 - x^2), dy/dx = -x / y,
d2y/dx2 = -1 / y^3; and closures caught on every path."""

from __future__ import annotations

import pytest
import torch
import torch.autograd.forward_ad as fwAD
from torch.func import grad, hessian, jacfwd, jacrev, jvp, vjp, vmap

from implicit import ImplicitError, root_find

f64 = torch.float64


def circle(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return x**2 + y**2 - 1


def solve(x: torch.Tensor) -> torch.Tensor:
    return root_find(circle, x, torch.full_like(x, 0.5))


X = torch.tensor([0.3, -0.5, 0.9], dtype=f64)
Y = torch.sqrt(1 - X**2)
DY = -X / Y
D2Y = -1 / Y**3


def close(got: torch.Tensor, want: torch.Tensor) -> None:
    torch.testing.assert_close(got, want, rtol=1e-10, atol=1e-12)


def test_vmap_folds_the_mapped_dimension_into_the_batch() -> None:
    close(vmap(solve)(X), Y)
    # y0 mapped too, and a batch of batches (the mapped dimension is not the first).
    close(vmap(lambda x, y0: root_find(circle, x, y0))(X, torch.full_like(X, 0.5)), Y)
    grid = torch.stack([X, -X], dim=1)  # (3, 2), mapped over dimension 1
    close(vmap(solve, in_dims=1, out_dims=1)(grid), torch.sqrt(1 - grid**2))


def test_vmap_with_an_unmapped_x_and_a_vector_problem() -> None:
    # y = (r cos a, r sin a) solves |y|^2 = r^2 and y_1 cos a = y_0 sin a.
    def F(x: tuple[torch.Tensor, torch.Tensor], y: torch.Tensor) -> torch.Tensor:
        r, a = x
        return torch.stack(
            [y[..., 0] ** 2 + y[..., 1] ** 2 - r**2, y[..., 1] * a.cos() - y[..., 0] * a.sin()], -1
        )

    r = torch.tensor(2.0, dtype=f64)
    angles = torch.tensor([0.1, 0.7, 1.2], dtype=f64)

    def one(a: torch.Tensor) -> torch.Tensor:
        return root_find(F, (r, a), torch.tensor([1.0, 1.0], dtype=f64), event_ndim=1)

    close(vmap(one)(angles), torch.stack([2 * angles.cos(), 2 * angles.sin()], -1))
    # d y / d a = (-r sin a, r cos a), by jacfwd of the vmapped solve.
    dy_da = torch.stack([-2 * angles.sin(), 2 * angles.cos()], -1)
    close(jacfwd(one)(angles[0]), dy_da[0])
    close(vmap(jacrev(one))(angles), dy_da)
    close(vmap(jacfwd(one))(angles), dy_da)


def test_grad_vjp_and_jvp_match_the_closed_form() -> None:
    for x, dy in zip(X, DY):
        close(grad(solve)(x), dy)
        value, pullback = vjp(solve, x)
        close(value, torch.sqrt(1 - x**2))
        (g,) = pullback(torch.tensor(2.0, dtype=f64))
        close(g, 2 * dy)
        close(jvp(solve, (x,), (torch.tensor(3.0, dtype=f64),))[1], 3 * dy)


def test_jacrev_and_jacfwd_of_a_batch_are_diagonal() -> None:
    close(jacrev(solve)(X), torch.diag(DY))
    close(jacfwd(solve)(X), torch.diag(DY))


def test_second_derivatives_by_every_composition() -> None:
    for x, d2y in zip(X, D2Y):
        close(hessian(solve)(x), d2y)
        close(grad(grad(solve))(x), d2y)
        close(jacfwd(jacrev(solve))(x), d2y)
        close(jacrev(jacfwd(solve))(x), d2y)
    # jacrev(jacrev(...)) used to see |F_y| = 0 on the wrong tensor and call a
    # regular point singular.
    jj = jacrev(jacrev(solve))(X)
    close(torch.diagonal(torch.diagonal(jj)), D2Y)
    close(jj.abs().sum(), D2Y.abs().sum())  # and nothing off the diagonal


def test_vmap_of_grad_is_the_per_example_gradient() -> None:
    close(vmap(grad(solve))(X), DY)
    close(vmap(hessian(solve))(X), D2Y)


def test_forward_ad_matches_the_closed_form() -> None:
    with fwAD.dual_level():
        dual = fwAD.make_dual(X, torch.ones_like(X))
        tangent = fwAD.unpack_dual(solve(dual)).tangent
    close(tangent, DY)


def test_transforms_compose_with_plain_autograd() -> None:
    x = X.clone().requires_grad_()
    (g,) = torch.autograd.grad(vmap(grad(solve))(x).sum(), x)
    close(g, D2Y)


def _closure(c: torch.Tensor) -> torch.Tensor:
    x = torch.tensor(0.5, dtype=f64)
    return root_find(lambda x, y: y - c * x, x, torch.tensor(0.0, dtype=f64))


@pytest.mark.parametrize(
    ("transform", "kind"),
    [
        (lambda c: grad(_closure)(c), "requires grad"),
        (lambda c: vjp(_closure, c)[1](torch.ones_like(c)), "requires grad"),
        (lambda c: jacrev(_closure)(c), "requires grad"),
        (lambda c: jvp(_closure, (c,), (torch.ones_like(c),)), "tangent"),
        (lambda c: jacfwd(_closure)(c), "tangent"),
        (lambda c: vmap(_closure)(torch.stack([c, c])), "batched by torch.func.vmap"),
    ],
)
def test_closure_tensor_of_a_transform_is_an_error_not_a_silent_zero(transform, kind) -> None:
    # y = c x: dy/dc = 0.5, which a custom Function would silently report as 0.
    with pytest.raises(ImplicitError, match=f"{kind}.*not in x.*closure"):
        transform(torch.tensor(2.0, dtype=f64))


def test_closure_tensor_with_a_forward_ad_tangent_is_an_error() -> None:
    with fwAD.dual_level():
        c = fwAD.make_dual(torch.tensor(2.0, dtype=f64), torch.tensor(1.0, dtype=f64))
        with pytest.raises(ImplicitError, match="tangent.*closure"):
            _closure(c)


def test_closure_of_a_constant_under_a_transform_is_fine() -> None:
    c = torch.tensor(2.0, dtype=f64)  # no gradient wanted: not an error
    x = torch.tensor(0.5, dtype=f64)
    close(grad(lambda x: root_find(lambda x, y: y - c * x, x, torch.zeros_like(x)))(x), c)
