"""Throughput of root_find and fixed_point on ellipses, as ratios to baselines
measured in the same run (machines here are noisy; ratios are what we claim).

One scalar problem per point: F(x, y) = (x/a)^2 + (y/b)^2 - 1 with per-point
semi-axes, y0 = b/2, solved for y > 0, followed by the gradient of sum(w * y)
with respect to (x, a, b).  Baselines:
  unit   one evaluation of F plus one vjp on the same batch (what Newton repeats);
         root_find is timed eager (the default) and with compile=True (compiled
         before the clock starts; the compile times are printed);
  floor  a bare Newton without any check: as many steps as root_find took F_y's
         on that batch, no convergence or singularity test, and a backward of
         one F with graph, one vjp for F_y and one vjp in x (what is left when
         every safeguard is dropped);
  nb     the notebook's LBFGS ``Implicit``, one point at a time (small N);
  hips   HIPS autograd's fixed_point (numpy) on the same batched map
         g(y) = y - alpha F(x, y), where our fixed_point runs on it too.

Every contender runs once per round, rounds interleaved (so that load from
other processes falls on all of them alike); each column uses the fastest of
the rounds, and "spread" shows the slowest and fastest per-round ratio of
root_find to the unit.  Times are this process's CPU time by default (every
contender runs on one thread; time taken by other jobs on a shared machine does
not count, though their use of the memory bus still does); ``--clock wall``
for wall time.

Usage: python bench/bench_implicit.py [--sizes 10000 100000 1000000] [--repeat 5]
       [--clock cpu|wall]
"""

from __future__ import annotations

import argparse
import functools
import importlib.util
import math
import pathlib
import time

import torch

from implicit import fixed_point, root_find

ROOT = pathlib.Path(__file__).resolve().parents[1]


def F(x: tuple[torch.Tensor, ...], y: torch.Tensor) -> torch.Tensor:
    u, a, b = x
    return (u / a) ** 2 + (y / b) ** 2 - 1


def problems(n: int, seed: int = 0) -> tuple[torch.Tensor, ...]:
    g = torch.Generator().manual_seed(seed)
    a = 1 + 2 * torch.rand(n, generator=g, dtype=torch.float64)
    b = 0.5 + torch.rand(n, generator=g, dtype=torch.float64)
    u = a * (1.8 * torch.rand(n, generator=g, dtype=torch.float64) - 0.9)
    w = torch.randn(n, generator=g, dtype=torch.float64)
    return u, a, b, w


CLOCKS = {"cpu": time.process_time, "wall": time.perf_counter}


def best(fn, repeat: int, clock=time.perf_counter) -> float:
    return min(rounds({"fn": fn}, repeat, clock)["fn"])


def rounds(contenders: dict, repeat: int, clock=time.perf_counter) -> dict[str, list[float]]:
    """Times of every contender by ``clock``, ``repeat`` interleaved rounds."""
    times: dict[str, list[float]] = {name: [] for name in contenders}
    for _ in range(repeat):
        for name, fn in contenders.items():
            start = clock()
            fn()
            times[name].append(clock() - start)
    return times


def unit(u, a, b, w) -> None:
    y = (b * 0.9).requires_grad_()
    value = F((u, a, b), y)
    torch.autograd.grad(value, y, w)


def ours_root(u, a, b, w, compile: bool = False) -> None:
    x = tuple(t.clone().requires_grad_() for t in (u, a, b))
    y = root_find(F, x, b / 2, compile=compile)
    torch.autograd.grad((w * y).sum(), x)


class BareNewton(torch.autograd.Function):
    """Newton for a fixed number of steps, unguarded, with the minimal IFT backward."""

    @staticmethod
    def forward(ctx, steps: int, y: torch.Tensor, *x: torch.Tensor) -> torch.Tensor:
        for _ in range(steps):
            with torch.enable_grad():
                y_in = y.detach().requires_grad_()
                value = F(x, y_in)
                (F_y,) = torch.autograd.grad(value, y_in, torch.ones_like(value))
            y = y - value.detach() / F_y
        ctx.save_for_backward(y, *x)
        return y

    @staticmethod
    def backward(ctx, grad_y: torch.Tensor) -> tuple[torch.Tensor | None, ...]:
        y, *x = ctx.saved_tensors
        with torch.enable_grad():
            x_in = [t.detach().requires_grad_() for t in x]
            y_in = y.detach().requires_grad_()
            value = F(tuple(x_in), y_in)
            (F_y,) = torch.autograd.grad(value, y_in, torch.ones_like(value), retain_graph=True)
            grad_x = torch.autograd.grad(value, x_in, -grad_y / F_y)
        return (None, None, *grad_x)


def jacobians_taken(u, a, b) -> int:
    """How many times root_find took F_y (a vjp through F's output) on this batch."""
    count = 0

    def counted(x, y):
        nonlocal count
        value = F(x, y)
        if value.requires_grad:

            def tally(grad):
                nonlocal count
                count += 1

            value.register_hook(tally)
        return value

    root_find(counted, (u, a, b), b / 2)
    return count


def bare_root(u, a, b, w, steps: int) -> None:
    x = tuple(t.clone().requires_grad_() for t in (u, a, b))
    y = BareNewton.apply(steps, b / 2, *x)
    torch.autograd.grad((w * y).sum(), x)


def alpha_of(u, a, b):
    """Step size making g contract with rate 0.5 at the root: 1 - alpha F_y = 0.5."""
    y = b * torch.sqrt(1 - (u / a) ** 2)
    return 0.5 / (2 * y / b**2)


def ours_fixed(u, a, b, w, method: str = "iterate"):
    """Like ``hips_fixed``: the map's step size is set up before the clock starts.
    (We still differentiate with respect to u, a and b; HIPS only a.)"""
    alpha = alpha_of(u, a, b)

    def g(params):
        return lambda y: y - alpha * F(params, y)

    def run() -> None:
        x = tuple(t.clone().requires_grad_() for t in (u, a, b))
        y = fixed_point(
            g, x, b / 2, lambda y, yp: (y - yp).abs().max(), 1e-12, method=method, event_ndim=0
        )
        torch.autograd.grad((w * y).sum(), x)

    return run


def hips_fixed(u, a, b, w):
    from autograd import grad
    from autograd import numpy as anp
    from autograd.misc.fixed_points import fixed_point as hips_fixed_point

    un, bn, wn = u.numpy(), b.numpy(), w.numpy()
    alpha = alpha_of(u, a, b).numpy()

    def g(an):
        return lambda y: y - alpha * ((un / an) ** 2 + (y / bn) ** 2 - 1)

    def loss(an):
        y = hips_fixed_point(g, an, bn / 2, lambda y, yp: anp.max(anp.abs(y - yp)), 1e-12)
        return anp.sum(wn * y)

    return lambda: grad(loss)(a.numpy())


def notebook_rate(n: int, clock=time.perf_counter) -> float:
    spec = importlib.util.spec_from_file_location(
        "notebook_implicit", ROOT / "examples" / "submissions" / "notebook_implicit.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    u, a, b, w = problems(n, seed=1)

    def run() -> None:
        for i in range(n):
            x = u[i].clone().requires_grad_()
            y = module.Implicit.apply(
                x, b[i] / 2, lambda x, y, i=i: (x / a[i]) ** 2 + (y / b[i]) ** 2 - 1
            )
            y.backward()

    return n / best(run, 1, clock)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--repeat", type=int, default=5, help="interleaved rounds (default 5)")
    parser.add_argument("--notebook-n", type=int, default=200)
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    parser.add_argument(
        "--clock",
        choices=sorted(CLOCKS),
        default="cpu",
        help="cpu: this process's CPU time, fair with one thread (default); wall: wall time",
    )
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    have_hips = importlib.util.find_spec("autograd") is not None
    clock = CLOCKS[args.clock]
    nb = notebook_rate(args.notebook_n, clock)
    print(f"notebook Implicit, one point at a time: {nb:,.0f} solves+gradients/s", end="")
    print(f" (N={args.notebook_n})")
    print()
    columns = (
        "N",
        "root_find /s",
        "÷ unit",
        "compiled ÷ unit",
        "floor ÷ unit",
        "× notebook",
        "fixed_point /s",
        "× HIPS",
        "anderson /s",
        "× HIPS",
        "spread",
    )
    widths = (9, 13, 7, 15, 12, 10, 14, 7, 12, 7, 11)
    header = " | ".join(f"{c:>{w}}" for c, w in zip(columns, widths))
    compile_times = []
    rows = []
    for n in args.sizes:
        data = problems(n)
        ours_root(*problems(100))  # warm-up
        start = time.perf_counter()  # wall: compilation runs in worker processes too
        ours_root(*data, compile=True)
        compile_times.append(time.perf_counter() - start)
        steps = jacobians_taken(*data[:3])
        contenders = {
            "unit": functools.partial(unit, *data),
            "root": functools.partial(ours_root, *data),
            "compiled": functools.partial(ours_root, *data, compile=True),
            "floor": functools.partial(bare_root, *data, steps=steps),
            "fixed": ours_fixed(*data),
            "anderson": ours_fixed(*data, method="anderson"),
        }
        if have_hips:
            contenders["hips"] = hips_fixed(*data)
        times = rounds(contenders, args.repeat, clock)
        t_unit, t_root, t_compiled, t_floor, t_fixed, t_anderson = (
            min(times[k]) for k in ("unit", "root", "compiled", "floor", "fixed", "anderson")
        )
        t_hips = min(times["hips"]) if have_hips else math.nan
        ratios = [r / u for r, u in zip(times["root"], times["unit"])]
        spread = f"{min(ratios):.0f}-{max(ratios):.0f}"
        rows.append(
            f"{n:>9,} | {n / t_root:>13,.0f} | {t_root / t_unit:>7.1f}"
            f" | {t_compiled / t_unit:>15.1f}"
            f" | {f'{t_floor / t_unit:.1f} ({steps})':>12} | {n / t_root / nb:>10,.0f}"
            f" | {n / t_fixed:>14,.0f} | {t_hips / t_fixed:>7.1f}"
            f" | {n / t_anderson:>12,.0f} | {t_hips / t_anderson:>7.1f} | {spread:>11}"
        )
    times_text = ", ".join(f"{t:.1f} s (N={n:,})" for n, t in zip(args.sizes, compile_times))
    print(f"root_find(compile=True), first call at each N (wall, compiles): {times_text}")
    print()
    print(header)
    print("-" * len(header))
    print("\n".join(rows))
    print()
    print("÷ unit: root_find + gradient time over one F evaluation + one vjp on the same batch.")
    print("compiled ÷ unit: the same with root_find(..., compile=True), compiled beforehand.")
    print("floor ÷ unit: a bare Newton with no checks at all, as many steps (in brackets) as")
    print("root_find took F_y's, and a backward of one F, one vjp for F_y and one in x.")
    print("× notebook / × HIPS: our throughput over theirs (higher is better);")
    print("anderson: our fixed_point with method='anderson' on the same map (on scalar")
    print("problems the elementwise secant method); HIPS has no accelerated method.")
    print("spread: slowest-fastest per-round ratio root_find / unit (machine noise).")
    print(f"clock: {args.clock} (--clock cpu: this process's CPU time; wall: wall time).")


if __name__ == "__main__":
    main()
