"""implicit.root_find's dtype and shape rules: float16/bfloat16 are solved in
float32 and returned in their own dtype; y has y0's dtype whatever x's; a
mismatched x shape is a clear error naming the shapes."""

from __future__ import annotations

import math

import pytest
import torch

from implicit import ImplicitWarning, SingularJacobianError, root_find


def circle(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return x**2 + y**2 - 1


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_half_precision_is_solved_in_float32_and_rounded(dtype: torch.dtype) -> None:
    x = torch.tensor([0.5, 0.25, -0.8], dtype=dtype, requires_grad=True)
    y, info = root_find(circle, x, torch.full_like(x, 0.5), return_info=True)
    assert y.dtype == dtype
    exact = torch.sqrt(1 - x.detach().double() ** 2)
    eps = torch.finfo(dtype).eps
    # Correctly rounded to the dtype: within half an ulp (plus float32's error).
    assert bool(((y.double() - exact).abs() <= eps * exact).all())
    assert bool(info.converged.all())
    (g,) = torch.autograd.grad(y.sum(), x)
    assert g.dtype == dtype
    assert bool(((g.double() + x.detach().double() / exact).abs() <= 4 * eps).all())


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_half_precision_singular_point_is_flagged(dtype: torch.dtype) -> None:
    # x = 1: F_y = 0 at the root y = 0.  float16 used to return 0.1875, "converged".
    with pytest.raises(SingularJacobianError, match=r"\|F_y\| = "):
        root_find(circle, torch.tensor(1.0, dtype=dtype), torch.tensor(0.5, dtype=dtype))
    with pytest.warns(ImplicitWarning, match="singular"):
        y = root_find(
            circle, torch.tensor(1.0, dtype=dtype), torch.tensor(0.5, dtype=dtype), on_failure="nan"
        )
    assert y.dtype == dtype
    assert y.isnan()


def test_y_has_y0s_dtype_whatever_xs() -> None:
    x = torch.tensor(0.5, dtype=torch.float64, requires_grad=True)
    y = root_find(circle, x, torch.tensor(0.5, dtype=torch.float32))
    assert y.dtype == torch.float32
    assert y.item() == torch.tensor(math.sqrt(0.75), dtype=torch.float32).item()
    (g,) = torch.autograd.grad(y, x)
    assert g.dtype == torch.float64
    assert abs(g.item() + 0.5 / math.sqrt(0.75)) <= 1e-6
    y64 = root_find(circle, torch.tensor(0.5), torch.tensor(0.5, dtype=torch.float64))
    assert y64.dtype == torch.float64
    assert abs(y64.item() - math.sqrt(0.75)) <= 1e-15


def test_mismatched_x_shape_names_both_shapes() -> None:
    x = torch.tensor([0.5, 0.2, 0.1], dtype=torch.float64)
    y0 = torch.tensor([0.5, 0.5], dtype=torch.float64)
    with pytest.raises(
        ValueError, match=r"x of shape \(3,\) does not broadcast with y0 of shape \(2,\)"
    ):
        root_find(circle, x, y0)


def test_x_that_broadcasts_y_up_names_xs_shape() -> None:
    x = torch.tensor([[0.5], [0.2]], dtype=torch.float64)
    with pytest.raises(ValueError, match=r"y's shape \(2,\); got .*\(x has shape \(2, 1\)\)"):
        root_find(circle, x, torch.tensor([0.5, 0.5], dtype=torch.float64))


def test_x_of_another_shape_that_F_reads_whole_is_fine() -> None:
    # x need not have y0's shape: F may reduce or index it.
    coefficients = torch.tensor([1.0, 0.0, -0.25], dtype=torch.float64)  # y^2 - 1/4
    y = root_find(
        lambda c, y: c[0] * y**2 + c[1] * y + c[2],
        coefficients,
        torch.tensor([1.0, 2.0], dtype=torch.float64),
    )
    torch.testing.assert_close(y, torch.full((2,), 0.5, dtype=torch.float64))
