"""implicit.fixed_point at scale: the matrix-free path, per-problem batches,
closures, half precision and devices."""

from __future__ import annotations

import ast
import math
import pathlib
import subprocess
import sys
import textwrap
import warnings

import pytest
import torch
import torch.autograd.forward_ad as fwAD

from implicit import (
    ImplicitError,
    ImplicitWarning,
    NonConvergenceError,
    SingularJacobianError,
    fixed_point,
)

f64 = torch.float64
ROOT = pathlib.Path(__file__).resolve().parents[1]


def coupled_map(W: torch.Tensor, event_ndim: int = 1):
    """x -> tanh(W x + a), per problem over the last dimension."""
    return lambda a: lambda x: torch.tanh(x @ W.T + a)


def small_W(m: int, seed: int = 0, gain: float = 0.4) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return gain * torch.randn(m, m, generator=g, dtype=f64) / math.sqrt(m)


@pytest.mark.parametrize("event_ndim", [None, 1])
def test_matrix_free_path_passes_gradcheck_gradgradcheck_and_forward_ad(event_ndim) -> None:
    m = 6
    W = small_W(m)
    shape = (m,) if event_ndim is None else (3, m)
    a = torch.randn(shape, dtype=f64, generator=torch.Generator().manual_seed(1))
    a.requires_grad_()

    def solve(a: torch.Tensor) -> torch.Tensor:
        return fixed_point(
            coupled_map(W),
            a,
            torch.zeros(shape, dtype=f64),
            None,
            1e-13,
            linear_solver="gmres",
            event_ndim=event_ndim,
        )

    assert torch.autograd.gradcheck(solve, (a,), check_forward_ad=True)
    assert torch.autograd.gradgradcheck(solve, (a,))


def test_matrix_free_gradient_equals_the_dense_one_and_is_scale_free() -> None:
    m = 40
    W = small_W(m, gain=0.9)
    a = torch.linspace(-1, 1, m, dtype=f64, requires_grad=True)
    v = torch.cos(torch.arange(m, dtype=f64))
    grads = {}
    for solver in ("dense", "gmres"):
        x = fixed_point(
            coupled_map(W), a, torch.zeros(m, dtype=f64), None, 1e-14, linear_solver=solver
        )
        (grads[solver],) = torch.autograd.grad(x, a, v)
    torch.testing.assert_close(grads["gmres"], grads["dense"], rtol=1e-10, atol=0)
    x = fixed_point(
        coupled_map(W), a, torch.zeros(m, dtype=f64), None, 1e-14, linear_solver="gmres"
    )
    for c in (1e-8, 1e-3, 1e3, 1e8):
        (g,) = torch.autograd.grad(x, a, c * v, retain_graph=True)
        torch.testing.assert_close(g / c, grads["gmres"], rtol=1e-12, atol=0)


def test_cg_and_a_callable_linear_solver() -> None:
    # A gradient step on E(x) = |x|^2/2 + sum(cosh(x)) - a.x: I - f_x = eta (I + diag cosh) (SPD).
    eta, m = 0.3, 30
    a = torch.linspace(-2, 2, m, dtype=f64, requires_grad=True)

    def step(a):
        return lambda x: x - eta * (x + torch.sinh(x) - a)

    x_ref = fixed_point(step, a, torch.zeros(m, dtype=f64), None, 1e-14, linear_solver="dense")
    (g_ref,) = torch.autograd.grad(x_ref.sum(), a)

    def neumann(matvec, b):  # z = sum_k (I - A)^k b, enough terms for |I - A| <= 0.7
        z, term = b.clone(), b.clone()
        for _ in range(200):
            term = term - matvec(term)
            z = z + term
        return z

    for solver in ("cg", neumann):
        x = fixed_point(step, a, torch.zeros(m, dtype=f64), None, 1e-14, linear_solver=solver)
        (g,) = torch.autograd.grad(x.sum(), a)
        torch.testing.assert_close(g, g_ref, rtol=1e-9, atol=0)
    with pytest.raises(ValueError, match="linear_solver='qr'"):
        fixed_point(step, a, torch.zeros(m, dtype=f64), None, 1e-14, linear_solver="qr")


def test_matrix_free_singular_I_minus_f_x_is_an_error_in_the_derivative() -> None:
    # f(a)(x) = x - (x - a)^3 is solved from x0 = a at once; f_x = I there: A = 0.
    m = 300
    a = torch.linspace(0, 1, m, dtype=f64, requires_grad=True)
    x = fixed_point(lambda a: lambda x: x - (x - a) ** 3, a, a.detach().clone(), None, 1e-12)
    with pytest.raises(SingularJacobianError, match="sigma_min.*Krylov"):
        x.sum().backward()


def test_hips_style_fixed_point_at_100_000_unknowns_in_bounded_memory() -> None:
    """One problem of 1e5 unknowns (no event_ndim): the dense path needs an 80 GB
    Jacobian; the matrix-free one fits a 2.5 GB address space."""
    code = textwrap.dedent(
        """
        import resource
        resource.setrlimit(resource.RLIMIT_AS, (2_500_000_000, 2_500_000_000))
        import torch
        from implicit import fixed_point
        N = 100_000
        a = torch.linspace(-1, 1, N, dtype=torch.float64, requires_grad=True)
        x = fixed_point(lambda a: lambda x: torch.tanh(x + a) / 2, a,
                        torch.zeros(N, dtype=torch.float64), None, 1e-12)
        (g,) = torch.autograd.grad(x.sum(), a)
        s = 0.5 / torch.cosh(x.detach() + a.detach()) ** 2  # f_a = f_x = s
        print(float((g - s / (1 - s)).abs().max()))
        """
    )
    env = {"PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1", "PATH": "/usr/bin:/bin"}
    run = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=env
    )
    assert run.returncode == 0, run.stderr[-2000:]
    assert float(run.stdout.strip()) < 1e-10


def _events(shape=(3,)):
    return torch.zeros(shape, dtype=f64)


def test_one_singular_problem_in_a_batch_is_the_only_nan() -> None:
    # x - (x - a)^3 from x0 = a: singular; the others are contractions.
    a = torch.tensor([0.5, 2.0, 3.0], dtype=f64, requires_grad=True)

    def f(a):
        return lambda x: torch.where(a < 1, x - (x - a) ** 3, 0.5 * x + a)

    x0 = torch.tensor([0.5, 0.0, 0.0], dtype=f64)
    with pytest.warns(ImplicitWarning, match="1 of 3"):
        x = fixed_point(f, a, x0, None, 1e-12, event_ndim=0, on_failure="nan")
    assert math.isnan(x[0].item())
    torch.testing.assert_close(x[1:].detach(), 2 * a[1:].detach())


def test_one_diverging_problem_does_not_fail_the_others() -> None:
    a = torch.tensor([1.0, 2.0, 3.0], dtype=f64, requires_grad=True)
    slope = torch.tensor([0.5, 3.0, 0.25], dtype=f64)  # problem 1 diverges
    with pytest.warns(ImplicitWarning, match="1 of 3.*index \\(1,\\)"):
        x, info = fixed_point(
            lambda a: lambda x: slope * x + a,
            a,
            _events(),
            None,
            1e-12,
            event_ndim=0,
            on_failure="nan",
            return_info=True,
        )
    torch.testing.assert_close(x[[0, 2]].detach(), a[[0, 2]].detach() / (1 - slope[[0, 2]]))
    assert math.isnan(x[1].item())
    assert info.converged.tolist() == [True, False, True]
    (g,) = torch.autograd.grad(x[[0, 2]].sum(), a)
    torch.testing.assert_close(g, torch.tensor([2.0, 0.0, 4 / 3], dtype=f64))


def test_per_problem_distance_stops_each_problem_on_its_own() -> None:
    a = torch.tensor([0.1, 0.9], dtype=f64)  # contraction rates 0.1 and 0.9
    x, info = fixed_point(
        lambda a: lambda x: a * x + 1,
        a,
        torch.zeros(2, dtype=f64),
        lambda x, xp: (x - xp).abs(),
        1e-10,
        event_ndim=0,
        return_info=True,
    )
    assert info.iterations[0] < 15 < info.iterations[1]
    torch.testing.assert_close(x, 1 / (1 - a), rtol=1e-8, atol=0)


def test_a_failing_batch_fails_fast() -> None:
    """-x + a cycles for every one of 1e5 problems: stopped after PATIENCE
    iterations, not max_iter (today: 10,000 iterations, 85 s at this size)."""
    a = torch.linspace(1, 2, 100_000, dtype=f64)
    with pytest.warns(ImplicitWarning, match="100000 of 100000"):
        x, info = fixed_point(
            lambda a: lambda x: -x + a,
            a,
            torch.zeros_like(a),
            None,
            1e-10,
            event_ndim=0,
            on_failure="nan",
            return_info=True,
        )
    assert int(info.iterations.max()) <= 60
    assert bool(x.isnan().all())
    with pytest.raises(NonConvergenceError, match="100000 of 100000.*stopped early"):
        fixed_point(lambda a: lambda x: -x + a, a, torch.zeros_like(a), None, 1e-10, event_ndim=0)


def test_non_finite_iterates_stop_a_problem() -> None:
    a = torch.tensor([1.0, 2.0], dtype=f64)
    with warnings.catch_warnings(record=True):
        warnings.simplefilter("always")
        x, info = fixed_point(
            lambda a: lambda x: torch.where(a > 1.5, x * x + 10, 0.5 * x + a),
            a,
            torch.zeros(2, dtype=f64),
            None,
            1e-12,
            event_ndim=0,
            on_failure="nan",
            return_info=True,
        )
    assert info.converged.tolist() == [True, False]
    assert info.iterations[1] < 20


def test_a_tensor_with_grad_in_a_closure_is_an_error() -> None:
    W = torch.tensor(0.5, dtype=f64, requires_grad=True)
    a = torch.tensor(1.0, dtype=f64, requires_grad=True)
    with pytest.raises(ImplicitError, match="closure.*Pass it in a"):
        fixed_point(lambda a: lambda x: W * x + a, a, torch.tensor(0.0, dtype=f64), None, 1e-12)
    x = fixed_point(
        lambda p: lambda x: p[1] * x + p[0], (a, W), torch.tensor(0.0, dtype=f64), None, 1e-12
    )
    g_a, g_W = torch.autograd.grad(x, (a, W))
    assert g_a.item() == pytest.approx(2.0)
    assert g_W.item() == pytest.approx(4.0)


def test_a_forward_ad_tangent_in_a_closure_is_an_error() -> None:
    a = torch.tensor(1.0, dtype=f64)
    with fwAD.dual_level():
        W = fwAD.make_dual(torch.tensor(0.5, dtype=f64), torch.tensor(1.0, dtype=f64))
        with pytest.raises(ImplicitError, match="forward-AD tangent"):
            fixed_point(lambda a: lambda x: W * x + a, a, torch.tensor(0.0, dtype=f64), None, 1e-12)


def wavy(a):
    """Contracting near its fixed points for a in [-1, 1]; its bfloat16 iterates
    cycle one ulp apart forever (the old code never converged): float32 inside."""
    return lambda x: torch.tanh(x + a) / 2 + 0.3 * torch.sin(3 * x)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_half_precision_is_iterated_in_float32_and_returned_in_its_dtype(dtype) -> None:
    a = torch.linspace(-1, 1, 7, dtype=dtype, requires_grad=True)
    x = fixed_point(wavy, a, torch.zeros(7, dtype=dtype), None, 1e-10, event_ndim=0, max_iter=300)
    (g,) = torch.autograd.grad(x.sum(), a)
    assert x.dtype == dtype
    assert g.dtype == dtype
    a64 = a.detach().double().requires_grad_()
    x64 = fixed_point(wavy, a64, torch.zeros(7, dtype=f64), None, 1e-14, event_ndim=0)
    (g64,) = torch.autograd.grad(x64.sum(), a64)
    eps = torch.finfo(dtype).eps
    torch.testing.assert_close(x.double(), x64.detach(), rtol=eps, atol=eps)
    torch.testing.assert_close(g.double(), g64, rtol=2 * eps, atol=2 * eps)


def test_half_precision_singular_fixed_point_is_flagged() -> None:
    a = torch.tensor(1.0, dtype=torch.float16)
    with pytest.raises((SingularJacobianError, NonConvergenceError)):
        fixed_point(lambda a: lambda x: x - (x - a) ** 3, a, a.clone(), None, 1e-4)


_MINE = ("_fixed_point.py", "_iteration.py", "_krylov.py", "_matrix_free.py", "_linear.py")
_CONSTRUCTORS = {
    "zeros",
    "ones",
    "full",
    "empty",
    "eye",
    "arange",
    "tensor",
    "as_tensor",
    "linspace",
    "rand",
    "randn",
}


@pytest.mark.parametrize("name", _MINE)
def test_every_tensor_constructor_names_a_device(name: str) -> None:
    """A tensor made without ``device=`` lands on the CPU beside CUDA inputs."""
    tree = ast.parse((ROOT / "implicit" / name).read_text(encoding="utf-8"))
    missing = [
        node.lineno
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr in _CONSTRUCTORS
        and isinstance(node.func.value, ast.Name)
        and node.func.value.id == "torch"
        and not any(k.arg == "device" for k in node.keywords)
    ]
    assert not missing, f"implicit/{name}: torch constructors without device= at lines {missing}"


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
@pytest.mark.parametrize("solver", ["dense", "gmres"])
def test_fixed_point_on_cuda(solver: str) -> None:
    W = small_W(8).cuda()
    a = torch.randn(8, dtype=f64, device="cuda", requires_grad=True)
    x = fixed_point(
        coupled_map(W),
        a,
        torch.zeros(8, dtype=f64, device="cuda"),
        None,
        1e-12,
        linear_solver=solver,
        method="anderson",
    )
    (g,) = torch.autograd.grad(x.sum(), a)
    assert x.device.type == "cuda"
    assert g.device.type == "cuda"
