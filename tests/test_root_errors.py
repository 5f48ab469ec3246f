"""implicit.root_find's failures name the real cause: a regular root is not
called singular because the start was far, no real root is non-convergence
(with the residual), and F returning NaN/inf says so, at which iterate."""

from __future__ import annotations

import math

import pytest
import torch

from implicit import ImplicitWarning, NonConvergenceError, SingularJacobianError, root_find

f64 = torch.float64


def t(value: float | list[float], requires_grad: bool = False) -> torch.Tensor:
    return torch.tensor(value, dtype=f64, requires_grad=requires_grad)


@pytest.mark.parametrize("y0", [20.0, 5.0, -3.0])
def test_regular_root_from_a_far_start_is_regular(y0: float) -> None:
    # exp(y) = x: y = log x, dy/dx = 1/x.  From y0 = 20, F_y was e^20 on the way:
    # the singularity test must be relative to the solution, not the start.
    x = t(2.0, requires_grad=True)
    y, info = root_find(lambda x, y: torch.exp(y) - x, x, t(y0), return_info=True)
    assert abs(y.item() - math.log(2)) <= 1e-14
    assert bool(info.converged)
    assert not bool(info.singular)
    (dy_dx,) = torch.autograd.grad(y, x)
    assert dy_dx.item() == pytest.approx(0.5, rel=1e-12)


def test_ninth_power_from_a_far_start_is_regular() -> None:
    # y^9 = x: y = x^(1/9), dy/dx = 1 / (9 y^8); F_y(5) = 9 * 5^8 = 3.5e6 at the start.
    x = t([2.0, 0.5], requires_grad=True)
    y, info = root_find(lambda x, y: y**9 - x, x, t([5.0, 5.0]), return_info=True)
    exact = x.detach() ** (1 / 9)
    torch.testing.assert_close(y.detach(), exact, rtol=1e-14, atol=0)
    assert bool(info.converged.all())
    assert not bool(info.singular.any())
    (g,) = torch.autograd.grad(y.sum(), x)
    torch.testing.assert_close(g, 1 / (9 * exact**8), rtol=1e-12, atol=0)


@pytest.mark.parametrize("y0", [0.0, 0.5, 2.0, -7.0])
def test_no_real_root_is_non_convergence_with_the_residual(y0: float) -> None:
    # x^2 + y^2 + 1 >= 1: no real root.  Not "F_y is singular at the solution".
    with pytest.raises(NonConvergenceError, match=r"residual max\|F\|.* = [0-9.e+-]+") as caught:
        root_find(lambda x, y: x**2 + y**2 + 1, t(0.5), t(y0))
    assert not isinstance(caught.value, SingularJacobianError)
    assert "singular at the solution" not in str(caught.value)


def test_F_nan_at_y0_says_so() -> None:
    with pytest.raises(NonConvergenceError, match=r"NaN or inf \(0 = y0\) = 0\. ") as caught:
        root_find(lambda x, y: torch.log(y) - x, t(0.5), t(-1.0))
    assert not isinstance(caught.value, SingularJacobianError)


def test_F_nan_at_an_iterate_names_the_iterate() -> None:
    # F is NaN beyond y = 0.6, and its only root y = 2 lies there: the line search
    # backs off from NaN until it cannot, and an iterate k >= 1 is NaN.
    def F(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return torch.where(y > 0.6, math.nan, y - x)

    with pytest.raises(NonConvergenceError, match=r"returned NaN or inf \(0 = y0\) = [1-9]"):
        root_find(F, t(2.0), t(0.5))


def test_F_inf_in_a_batch_fails_only_that_problem() -> None:
    x = t([2.0, 1.0], requires_grad=True)
    with pytest.warns(ImplicitWarning, match=r"1 of 2 .*NaN or inf.*batch index \(1,\)"):
        y = root_find(lambda x, y: 1 / y - x, x, t([0.3, 0.0]), on_failure="nan")
    assert y[0].item() == pytest.approx(0.5, rel=1e-14)
    assert y[1].isnan()
    (g,) = torch.autograd.grad(y.nansum(), x)
    assert g[0].item() == pytest.approx(-0.25, rel=1e-12)


def test_double_root_is_still_singular_relative_to_the_solution() -> None:
    # (y - x)^2: F_x = F_y = 0 at the root; F_y vanishes next to y (F_yy = 2).
    with pytest.raises(SingularJacobianError, match=r"\|F_y\| = "):
        root_find(lambda x, y: (y - x) ** 2, t(1.0), t(1.5))


@pytest.mark.parametrize(
    ("F", "x", "y0"),
    [
        (lambda x, y: x**3 + y**3 - 3 * x * y, 0.0, 0.15),  # the folium's node: a triple root
        (lambda x, y: y**3 - x, 0.0, 0.5),  # a cusp of y = x**(1/3)
    ],
)
def test_a_multiple_root_is_singular_not_non_convergence(F, x, y0) -> None:
    # Newton converges only linearly at a root where F_y vanishes: max_iter runs out
    # with |F| ~ 1e-29; the cause is F_y = 0 there, not too few iterations.
    with pytest.raises(SingularJacobianError, match="multiple root or a singular point"):
        root_find(F, t(x, requires_grad=True), t(y0))
    with pytest.warns(ImplicitWarning, match="singular"):
        y, info = root_find(F, t(x), t(y0), on_failure="nan", return_info=True)
    assert math.isnan(y.item())
    assert bool(info.singular)
    assert not bool(info.converged)


def test_a_slow_regular_root_is_still_not_singular() -> None:
    # A long way to a simple root is not evidence: F_y = e^y stays away from 0 there.
    y, info = root_find(lambda x, y: torch.exp(y) - x, t(2.0), t(20.0), return_info=True)
    assert not bool(info.singular)
