"""Cases generated per second, per family, and the share of time spent in sympy.

Run: ``python bench/bench_oracle.py [--examples N]``.  Each family's strategy is
drawn ``N`` times inside a Hypothesis test (generation phase only, no database,
no shrinking), under ``cProfile``; the sympy and mpmath shares are the sums of
the self time of their functions over the total.  The curve and map caches start
empty for each family, so per-curve compilation is included.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import time
from collections.abc import Callable

from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from properties import exact, strategies

FAMILIES: dict[str, Callable[[], st.SearchStrategy]] = {
    "circle": lambda: strategies.curve_cases(curves=strategies.circles()),
    "ellipse": lambda: strategies.curve_cases(curves=strategies.ellipses()),
    "polynomial": lambda: strategies.curve_cases(curves=strategies.polynomials()),
    "user (folium)": lambda: strategies.user_curve_cases("x**3 + y**3 - 3*x*y"),
    "user (transcendental)": lambda: strategies.user_curve_cases(
        "sin(x) + exp(y) - 2", x_range=(-1, 1)
    ),
    "near-degenerate (target)": lambda: strategies.curve_cases(aim_degenerate=True),
    "degenerate": strategies.degenerate_curve_cases,
    "curve-map": lambda: strategies.map_cases(families="curve-map"),
    "sqrt": lambda: strategies.map_cases(families="sqrt"),
    "coupled": lambda: strategies.map_cases(families="coupled"),
}


def _share(stats: pstats.Stats, package: str) -> float:
    """Self time spent in functions whose file lies in ``package``."""
    total = 0.0
    for (filename, _, _), (_, _, tottime, _, _) in stats.stats.items():  # type: ignore[attr-defined]
        if f"/{package}/" in filename:
            total += tottime
    return total


def bench(name: str, make: Callable[[], st.SearchStrategy], examples: int) -> tuple[float, ...]:
    exact.compile_curve.cache_clear()
    drawn: list[object] = []

    @settings(
        max_examples=examples,
        database=None,
        deadline=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(make())
    def draw(case: object) -> None:
        drawn.append(case)

    profiler = cProfile.Profile()
    start = time.perf_counter()
    profiler.runcall(draw)
    elapsed = time.perf_counter() - start
    stats = pstats.Stats(profiler)
    profiled = sum(v[2] for v in stats.stats.values())  # type: ignore[attr-defined]
    sympy_share = _share(stats, "sympy") / profiled
    mpmath_share = _share(stats, "mpmath") / profiled
    return len(drawn), elapsed, sympy_share, mpmath_share


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=200, help="cases per family (200)")
    args = parser.parse_args()
    print(f"{'family':26} {'cases':>6} {'seconds':>8} {'cases/s':>8} {'sympy':>6} {'mpmath':>7}")
    for name, make in FAMILIES.items():
        n, elapsed, sympy_share, mpmath_share = bench(name, make, args.examples)
        print(
            f"{name:26} {n:6d} {elapsed:8.2f} {n / elapsed:8.1f} "
            f"{sympy_share:6.0%} {mpmath_share:7.0%}"
        )
    print("(times under cProfile, which slows pure-Python code by roughly 1.5-2x)")


if __name__ == "__main__":
    main()
