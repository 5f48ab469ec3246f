"""One call to check an implementation on a curve of your own.

    >>> from properties.verify import verify_curve
    >>> results = verify_curve("x**3 + y**3 - 3*x*y", my_solve)   # doctest: +SKIP
    >>> [r for r in results if r.status in ("fail", "error")]      # doctest: +SKIP
    []

The same path as everything else: strategy -> oracle -> probe -> checks.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from . import checks, frozen, strategies
from .records import CheckResult


def verify_curve(
    text: str,
    solve: Callable[..., Any],
    *,
    examples: int = 10,
    seed: int = 0,
    x_range: tuple[float, float] = (-2.0, 2.0),
    y_range: tuple[float, float] = (-4.0, 4.0),
) -> list[CheckResult]:
    """Run every curve check of ``solve`` on points of the curve ``text``.

    Args:
        text: ``F(x, y)`` as text, e.g. ``"x**3 + y**3 - 3*x*y"`` (validated by
            ``curves.user_curve``: a clear ``ValueError`` for anything else).
        solve: the implementation, called as ``solve(F, x, y0) -> y``.
        examples: how many points (drawn deterministically from ``seed``).
        seed: the draw's seed: the same seed gives the same points.
        x_range, y_range: where points and roots are looked for.

    Returns:
        The ``CheckResult`` of every check on every point, in order.
    """
    if examples < 1:
        raise ValueError(f"examples={examples} must be >= 1.")
    strategy = strategies.user_curve_cases(text, x_range=x_range, y_range=y_range)
    results: list[CheckResult] = []
    for case in frozen.draw(strategy, examples, seed):
        results += checks.run(case, solve)
    return results
