"""Every tensor implicit/ makes is made on its input's device: an AST check of
the library's source, and the library on CUDA when one is present."""

from __future__ import annotations

import ast
import math
from pathlib import Path

import pytest
import torch

from implicit import fixed_point, root_find

LIBRARY = Path(__file__).resolve().parent.parent / "implicit"
#: torch's constructors that take no tensor to copy the device from.
CONSTRUCTORS = {"eye", "zeros", "ones", "full", "tensor", "empty", "arange", "linspace"}


def constructors_without_device(source: str) -> list[tuple[int, str]]:
    """``(line, name)`` of each ``torch.<constructor>(...)`` call without ``device=``
    (``torch.zeros_like`` and ``tensor.new_zeros`` take the device of a tensor)."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Attribute):
            continue
        owner, name = node.func.value, node.func.attr
        if isinstance(owner, ast.Name) and owner.id == "torch" and name in CONSTRUCTORS:
            keywords = {k.arg for k in node.keywords}
            if "device" not in keywords and None not in keywords:  # (**kwargs may carry it)
                found.append((node.lineno, name))
    return found


def test_the_checker_catches_a_constructor_without_device() -> None:
    source = (
        "import torch\na = torch.eye(3)\nb = torch.zeros(2, device=x.device)\nc = x.new_ones(2)\n"
    )
    assert constructors_without_device(source) == [(2, "eye")]


@pytest.mark.parametrize("path", sorted(LIBRARY.glob("*.py")), ids=lambda p: p.name)
def test_library_makes_every_tensor_on_a_device(path: Path) -> None:
    assert constructors_without_device(path.read_text()) == []


cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")


@cuda
@pytest.mark.parametrize("method", ["newton", "lbfgs"])
def test_root_find_on_cuda(method: str) -> None:
    x = torch.tensor([0.5, -0.3], dtype=torch.float64, device="cuda", requires_grad=True)
    y, info = root_find(
        lambda x, y: x**2 + y**2 - 1, x, torch.full_like(x, 0.5), method=method, return_info=True
    )
    assert y.device == x.device
    assert all(v.device == x.device for v in vars(info).values())
    (g,) = torch.autograd.grad(y.sum(), x)
    torch.testing.assert_close(g, -x.detach() / y.detach(), rtol=1e-4, atol=0)


@cuda
def test_root_find_vector_problem_and_transforms_on_cuda() -> None:
    x = torch.tensor(0.5, dtype=torch.float64, device="cuda")

    def F(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return torch.stack([y[..., 0] - x, y[..., 1] ** 2 - y[..., 0]], -1)

    def solve(x: torch.Tensor) -> torch.Tensor:
        y0 = torch.ones(2, dtype=torch.float64, device="cuda")
        return root_find(F, x, y0, event_ndim=1)

    jac = torch.func.jacfwd(solve)(x)
    assert jac.device == x.device
    torch.testing.assert_close(
        jac.cpu(), torch.tensor([1.0, 0.5 / math.sqrt(0.5)], dtype=torch.float64)
    )


@cuda
def test_fixed_point_on_cuda() -> None:
    a = torch.tensor(2.0, dtype=torch.float64, device="cuda", requires_grad=True)
    x = fixed_point(
        lambda a: lambda x: (x + a / x) / 2,
        a,
        torch.tensor(1.0, dtype=torch.float64, device="cuda"),
        lambda x, x_prev: (x - x_prev).abs(),
        1e-12,
    )
    assert x.device == a.device
    (g,) = torch.autograd.grad(x, a)
    assert abs(g.item() - 0.5 / math.sqrt(2)) <= 1e-10
