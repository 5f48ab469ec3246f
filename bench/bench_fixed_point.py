"""fixed_point at scale, as ratios to baselines measured in the same run.

1. HIPS-style: one problem of N unknowns (no event_ndim), an elementwise map
   (``sqrt``: x <- (x + a/x)/2; ``tanh``: x <- tanh(x + a)/2), solve + gradient
   of sum(w * x) w.r.t. a, against HIPS autograd's
   ``autograd.misc.fixed_points.fixed_point`` on the same map (numpy), with the
   same distance (max |x - x_prev|) and tol.  Ours goes matrix-free (GMRES with
   vjps) because N > MATRIX_FREE_ABOVE; ``anderson`` is method="anderson";
   ``floor`` is the same forward iteration alone in torch, without a graph or
   derivatives: no solver of this iteration can take less.
2. Coupled: x <- tanh(W x + a) with a dense W (m x m, spectral radius 0.5),
   solve + gradient against the plain forward iteration alone (same tol, no
   graph, no gradient): the ratio is what the derivatives and checks cost.

Every contender runs once per round, rounds interleaved; each uses its fastest
round.  Times are this process's CPU time (one thread) unless --clock wall.

Usage: python bench/bench_fixed_point.py [--n 1000000] [--m 10000] [--repeat 3]
       [--clock cpu|wall]
"""

from __future__ import annotations

import argparse
import importlib.util
import math
import time
from collections.abc import Callable

import bench_implicit  # beside this script: python bench/bench_fixed_point.py
import torch

from implicit import fixed_point

CLOCKS = {"cpu": time.process_time, "wall": time.perf_counter}
TOL = 1e-12


def rounds(contenders: dict, repeat: int, clock) -> dict[str, float]:
    """The best time of every contender over ``bench_implicit.rounds``."""
    return {name: min(t) for name, t in bench_implicit.rounds(contenders, repeat, clock).items()}


def max_abs(x, x_prev):
    return (x - x_prev).abs().max()


MAPS = {
    "sqrt": (lambda a: lambda x: (x + a / x) / 2, 1.0),
    "tanh": (lambda a: lambda x: torch.tanh(x + a) / 2, 0.0),
}


def ours(name: str, a: torch.Tensor, w: torch.Tensor, method: str):
    f, start = MAPS[name]

    def run() -> None:
        a_ = a.clone().requires_grad_()
        x = fixed_point(f, a_, torch.full_like(a, start), max_abs, TOL, method=method)
        torch.autograd.grad((w * x).sum(), a_)

    return run


def floor(name: str, a: torch.Tensor) -> Callable[[], None]:
    """The forward iteration alone (same map, start, distance and tol; no graph, no
    gradient): what any HIPS-style solver pays before its derivatives."""
    f, start = MAPS[name]

    def run() -> None:
        step, x_prev = f(a), torch.full_like(a, start)
        x = step(x_prev)
        while float(max_abs(x, x_prev)) > TOL:
            x_prev, x = x, step(x)

    return run


def hips(name: str, a: torch.Tensor, w: torch.Tensor):
    from autograd import grad
    from autograd import numpy as anp
    from autograd.misc.fixed_points import fixed_point as hips_fixed_point

    an, wn = a.numpy(), w.numpy()
    start = MAPS[name][1]
    if name == "sqrt":

        def f(a):
            return lambda x: (x + a / x) / 2
    else:

        def f(a):
            return lambda x: anp.tanh(x + a) / 2

    def loss(a):
        x = hips_fixed_point(
            f, a, anp.full(a.shape, start), lambda x, y: anp.max(anp.abs(x - y)), TOL
        )
        return anp.sum(wn * x)

    return lambda: grad(loss)(an)


def coupled(m: int, repeat: int, clock) -> tuple[float, float, int]:
    g = torch.Generator().manual_seed(0)
    W = 0.5 * torch.randn(m, m, generator=g, dtype=torch.float64) / math.sqrt(m)
    a = torch.randn(m, generator=g, dtype=torch.float64)
    w = torch.randn(m, generator=g, dtype=torch.float64)

    def f(a):
        return lambda x: torch.tanh(W @ x + a)

    steps = []

    def plain() -> None:
        x = torch.zeros(m, dtype=torch.float64)
        n = 0
        while n < 10_000:
            n += 1
            x, x_prev = f(a)(x), x
            if float(max_abs(x, x_prev)) <= TOL:
                break
        steps.append(n)

    def solve_and_grad() -> None:
        a_ = a.clone().requires_grad_()
        x = fixed_point(f, a_, torch.zeros(m, dtype=torch.float64), max_abs, TOL)
        torch.autograd.grad((w * x).sum(), a_)

    times = rounds({"plain": plain, "ours": solve_and_grad}, repeat, clock)
    return times["plain"], times["ours"], steps[-1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--m", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--clock", choices=sorted(CLOCKS), default="cpu")
    args = parser.parse_args()
    torch.set_num_threads(1)
    clock = CLOCKS[args.clock]
    have_hips = importlib.util.find_spec("autograd") is not None
    g = torch.Generator().manual_seed(0)
    print(f"torch {torch.__version__}, one thread, {args.clock} clock, best of {args.repeat}")
    print()
    print(f"HIPS-style fixed_point, one problem of N = {args.n:,} unknowns, solve + gradient")
    print(
        f"{'map':>5} | {'floor s':>7} | {'ours s':>7} | {'anderson s':>10} | {'HIPS s':>7} | "
        f"{'× HIPS':>6} | {'anderson × HIPS':>15} | {'ours ÷ floor':>12} | {'HIPS ÷ floor':>12}"
    )
    print("-" * 114)
    for name in MAPS:
        a = torch.rand(args.n, generator=g, dtype=torch.float64) * 2 + (
            0.5 if name == "sqrt" else -1
        )
        w = torch.randn(args.n, generator=g, dtype=torch.float64)
        contenders = {
            "floor": floor(name, a),
            "ours": ours(name, a, w, "iterate"),
            "anderson": ours(name, a, w, "anderson"),
        }
        if have_hips:
            contenders["hips"] = hips(name, a, w)
        t = rounds(contenders, args.repeat, clock)
        t_hips = t.get("hips", math.nan)
        print(
            f"{name:>5} | {t['floor']:>7.3f} | {t['ours']:>7.3f} | {t['anderson']:>10.3f} | "
            f"{t_hips:>7.3f} | {t_hips / t['ours']:>6.2f} | {t_hips / t['anderson']:>15.2f} | "
            f"{t['ours'] / t['floor']:>12.2f} | {t_hips / t['floor']:>12.2f}"
        )
    print()
    plain, ours_t, steps = coupled(args.m, args.repeat, clock)
    print(
        f"coupled tanh(W x + a), dense W, m = {args.m:,}: plain forward iteration "
        f"{plain:.3f} s ({steps} steps), fixed_point solve + gradient {ours_t:.3f} s, "
        f"ratio {ours_t / plain:.2f} (target <= 3)"
    )
    print("× HIPS: HIPS time over ours (higher is better; target >= 2).")
    print(
        "floor: the plain forward iteration alone in torch (no graph, no derivatives): "
        "2x HIPS at the same iteration needs HIPS ÷ floor >= 2."
    )


if __name__ == "__main__":
    main()
