"""implicit.root_find inside a user's torch.compile: right values and
gradients (reverse, torch.func.grad, torch.func.jvp) at one graph break, and a
clear error under fullgraph=True.  Few tests: each compile costs seconds, so
they use the ``aot_eager`` backend (Dynamo and AOTAutograd, where a custom
derivative could be dropped, without inductor's code generation)."""

from __future__ import annotations

import pytest
import torch
from torch.func import grad, jvp, vmap

from implicit import root_find

# Warnings torch's own compile machinery raises while tracing (importing
# inductor; Dynamo reading .grad of the caller's non-leaf tensors; Dynamo
# instantiating torch.autograd.Function for torch.func): not ours to fix.
pytestmark = [
    pytest.mark.filterwarnings("ignore:`torch.jit.script:DeprecationWarning"),
    pytest.mark.filterwarnings("ignore:The .grad attribute of a Tensor that is not a leaf"),
    pytest.mark.filterwarnings("ignore:<class 'torch.autograd.function.Function'> should not"),
]

BACKEND = "aot_eager"
f64 = torch.float64
X = torch.tensor([0.3, -0.5, 0.9], dtype=f64)
Y = torch.sqrt(1 - X**2)


def solve(x: torch.Tensor) -> torch.Tensor:
    return root_find(lambda x, y: x**2 + y**2 - 1, x, torch.full_like(x, 0.5))


def test_compiled_caller_gets_the_exact_gradient() -> None:
    x = X.clone().requires_grad_()

    @torch.compile(backend=BACKEND)
    def loss(x: torch.Tensor) -> torch.Tensor:
        return (3 * solve(2 * x / 2)).sum()

    value = loss(x)
    value.backward()
    torch.testing.assert_close(value.detach(), 3 * Y.sum(), rtol=1e-14, atol=0)
    torch.testing.assert_close(x.grad, -3 * X / Y, rtol=1e-12, atol=0)


@pytest.mark.slow  # Dynamo traces torch.func's transforms: about 40 s here
def test_compile_of_torch_func_grad_and_jvp_keeps_the_custom_derivatives() -> None:
    # PyTorch has open reports of compile dropping a custom backward under
    # torch.func.grad: the derivative here must still be -x / y, not 0 or 2x.
    per_example = torch.compile(vmap(grad(solve)), backend=BACKEND)(X)
    torch.testing.assert_close(per_example, -X / Y, rtol=1e-12, atol=0)
    tangent = torch.compile(lambda x: jvp(solve, (x,), (torch.ones_like(x),))[1], backend=BACKEND)(
        X
    )
    torch.testing.assert_close(tangent, -X / Y, rtol=1e-12, atol=0)


def test_fullgraph_names_the_graph_break() -> None:
    def inner(x: torch.Tensor) -> torch.Tensor:
        return root_find(lambda x, y: x**2 + y**2 - 1, x, torch.full_like(x, 0.5))

    with pytest.raises(Exception, match="root_find runs a data-dependent solver loop"):
        torch.compile(inner, fullgraph=True, backend=BACKEND)(X)
