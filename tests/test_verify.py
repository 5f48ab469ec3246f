"""properties.verify: a user curve checked end to end with one call."""

from __future__ import annotations

import pytest
import torch

from properties.candidates import reference_solve
from properties.verify import verify_curve

FOLIUM = "x**3 + y**3 - 3*x*y"


def test_verify_curve_passes_the_reference_on_the_folium() -> None:
    results = verify_curve(FOLIUM, reference_solve, examples=4)
    assert {r.family for r in results} == {"user"}
    assert not [r for r in results if r.status in ("fail", "error")]
    assert {"root", "dy_dx_formula", "d2y_dx2", "gradcheck"} <= {r.name for r in results}


def test_verify_curve_catches_a_sign_error() -> None:
    def wrong(F, x, y0):  # the right root, the gradient with the wrong sign
        y = reference_solve(F, x.detach(), y0).detach()
        return y + (x - x.detach()) * (-1) * _dy_dx(F, x.detach(), y)

    results = verify_curve(FOLIUM, wrong, examples=3)
    assert any(r.name == "dy_dx_formula" and r.status == "fail" for r in results)


def _dy_dx(F, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    x, y = x.requires_grad_(), y.requires_grad_()
    F_x, F_y = torch.autograd.grad(F(x, y).sum(), (x, y))
    return (-F_x / F_y).detach()


def test_verify_curve_rejects_text_that_is_not_a_curve() -> None:
    with pytest.raises(ValueError, match="z"):
        verify_curve("x + z", reference_solve)
