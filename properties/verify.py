"""One call to check an implementation on a curve of your own.

    >>> from properties.verify import verify_curve
    >>> results = verify_curve("x**3 + y**3 - 3*x*y", my_solve)   # doctest: +SKIP
    >>> [r for r in results if r.status in ("fail", "error")]      # doctest: +SKIP
    []

The same path as everything else: strategy -> oracle -> probe -> checks.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from . import checks, curves, frozen, oracle, strategies
from .records import CheckResult


def verify_curve(
    text: str,
    solve: Callable[..., Any],
    *,
    examples: int = 10,
    seed: int = 0,
    x_range: tuple[float, float] = (-2.0, 2.0),
    y_range: tuple[float, float] = (-4.0, 4.0),
    points: Sequence[tuple[float, float]] = (),
    aim_hard: bool = True,
) -> list[CheckResult]:
    """Run every curve check of ``solve`` on points of the curve ``text``.

    Args:
        text: ``F(x, y)`` as text, e.g. ``"x**3 + y**3 - 3*x*y"`` (validated by
            ``curves.user_curve``: a clear ``ValueError`` for anything else).
        solve: the implementation, called as ``solve(F, x, y0) -> y``.
        examples: how many drawn points (deterministically from ``seed``); 0 with
            ``points`` checks only those.
        seed: the draw's seed: the same seed gives the same points.
        x_range, y_range: where points and roots are looked for.
        points: points of your own, ``(x, y)`` with ``y`` near the root you mean (the
            root of ``F(x, .)`` nearest it is the case; the start lies in its basin).
            ``x`` is taken exactly as the float it is.
        aim_hard: draw about half the points at and near the curve's vertical
            tangents and singular points in the box (``properties.hard_points``).

    Returns:
        The ``CheckResult`` of every check on every point (yours first), in order.

    Raises:
        ValueError: for bad text, ``examples < 0``, no ``points`` and ``examples``
            0, or a point of yours where ``F(x, .)`` has no real root near ``y``.
    """
    if examples < 0 or (examples == 0 and not points):
        raise ValueError(f"examples={examples} must be >= 1 (or >= 0 with points=).")
    curve = curves.user_curve(text)
    cases = []
    for x, y in points:
        try:
            cases.append(oracle.curve_case(curve, float(x), float(y), position=0.3))
        except ValueError as exc:
            raise ValueError(f"points: no case at (x, y) = ({x!r}, {y!r}): {exc}") from exc
    if examples:
        strategy = strategies.user_curve_cases(
            text, x_range=x_range, y_range=y_range, aim_hard=aim_hard
        )
        cases += frozen.draw(strategy, examples, seed)
    results: list[CheckResult] = []
    for case in cases:
        results += checks.run(case, solve)
    return results
