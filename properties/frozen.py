"""The frozen grading set: the same cases for every student, per assignment version.

Generated once from a fixed seed with the Hypothesis strategies and stored as
JSON in ``properties/data/<assignment>-<version>.json``; ``load_cases`` reads it
back.  Regenerate (only when the assignment version changes) with::

    python -m properties.frozen --regenerate

The ``implicit`` set holds curve cases (circles, ellipses, polynomials, a few
near-degenerate and exactly degenerate points); the ``fixed_point`` set holds map
cases (curve-maps with contraction rates of both signs, Newton's square root,
coupled vector maps with non-symmetric ``f_x``; float64 and float32).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from importlib import resources
from pathlib import Path
from typing import Any

from properties import records
from properties.assignments import ASSIGNMENTS
from properties.records import CurveCase, MapCase

VERSION = "v1"
SEED = 20240917

Case = CurveCase | MapCase


def data_path(assignment: str, version: str = VERSION) -> Path:
    """Where the frozen set of ``assignment`` at ``version`` is stored."""
    if assignment not in ASSIGNMENTS:
        raise ValueError(f"assignment={assignment!r} must be one of {ASSIGNMENTS}.")
    return Path(str(resources.files("properties") / "data" / f"{assignment}-{version}.json"))


def load_cases(assignment: str, version: str = VERSION) -> list[Case]:
    """The frozen cases of ``assignment`` ("implicit" or "fixed_point").

    Returns:
        The cases, in their stored order (stable: the same list on every call).

    Raises:
        ValueError: unknown assignment.
        FileNotFoundError: the set for ``version`` was never generated (the message
            says how to generate it).
    """
    path = data_path(assignment, version)
    if not path.is_file():
        raise FileNotFoundError(
            f"No frozen {assignment} cases for version {version} at {path}; generate them "
            "with: python -m properties.frozen --regenerate"
        )
    payload = json.loads(path.read_text(encoding="utf-8"))
    return [records.from_json(json.dumps(item)) for item in payload["cases"]]


def case_id(case: Case) -> str:
    """A short readable test id, e.g. ``circle-x=0.5`` or ``coupled-m=3-float32``."""
    if isinstance(case, CurveCase):
        text = f"{case.family}-x={case.x[:10]}"
        if case.degenerate:
            text += "-degenerate"
        return text
    dims = "scalar" if case.scalar else f"m={case.m}"
    return f"{case.family}-{dims}-rho={case.rho:.2g}-{case.dtype}"


# ---------------------------------------------------------------------- generation


def draw(strategy: Any, n: int, seed: int) -> list[Any]:
    """``n`` distinct examples of ``strategy``, deterministically from ``seed``.

    Runs a Hypothesis test in its generate phase only (no shrinking, no database)
    and keeps what it draws; the same seed and Hypothesis version give the same list,
    whatever was imported before (``profiles.pin_draws``).
    """
    from hypothesis import HealthCheck, Phase, given, settings
    from hypothesis import seed as hypothesis_seed

    from properties.profiles import pin_draws

    pin_draws()

    seen: dict[str, Any] = {}

    @hypothesis_seed(seed)
    @settings(
        max_examples=20 * n,
        phases=[Phase.generate],
        database=None,
        deadline=None,
        derandomize=False,
        suppress_health_check=list(HealthCheck),
    )
    @given(strategy)
    def collect(example: Any) -> None:
        if len(seen) < n:
            seen.setdefault(records.to_json(example), example)

    collect()
    return list(seen.values())[:n]


def _curve_set() -> list[Case]:
    from properties import curves, oracle, strategies

    circle = curves.circle()
    hand = [
        oracle.curve_case(circle, "0.5", 0.8, position=0.3),
        # The notebook's troublesome point: F_y small but above the threshold.
        oracle.curve_case(circle, "0.999", 0.1, position=0.5),
        oracle.curve_case(circle, "-0.999", -0.1, position=0.5),
        # Flagged degenerate (|F_y| / ||grad F|| just below the threshold).
        oracle.curve_case(circle, "0.99995", 0.1, position=0.5),
    ]
    sets: list[tuple[Callable[[], Any], int]] = [
        (lambda: strategies.curve_cases(), 30),
        (lambda: strategies.curve_cases(aim_degenerate=True), 4),
        (lambda: strategies.degenerate_curve_cases(), 4),
    ]
    cases: list[Case] = list(hand)
    for i, (make, n) in enumerate(sets):
        cases += draw(make(), n, SEED + i)
    return cases


def _map_set() -> list[Case]:
    from properties import strategies

    sets = [
        (strategies.map_cases(dtypes="float64", families="curve-map"), 5),
        (strategies.map_cases(dtypes="float64", families="curve-map", min_abs_rho=0.3), 6),
        (strategies.map_cases(dtypes="float64", families="sqrt"), 4),
        (strategies.map_cases(dtypes="float64", families="coupled"), 12),
        (strategies.map_cases(dtypes="float32"), 12),
    ]
    cases: list[Case] = []
    for i, (strategy, n) in enumerate(sets):
        drawn = draw(strategy, 2 * n, SEED + 100 + i)
        # A map that does not depend on a (dx/da = 0) tests nothing and trips
        # correct code that calls autograd.grad without allow_unused.
        cases += [c for c in drawn if any(float(v) != 0 for v in c.dx_da)][:n]
    return cases


def regenerate(version: str = VERSION) -> dict[str, Path]:
    """Generate and write both frozen sets for ``version``; returns their paths."""
    out = {}
    for assignment, make in (("implicit", _curve_set), ("fixed_point", _map_set)):
        cases = make()
        path = data_path(assignment, version)
        path.parent.mkdir(parents=True, exist_ok=True)
        payload = {
            "assignment": assignment,
            "version": version,
            "seed": SEED,
            "cases": [json.loads(records.to_json(c)) for c in cases],
        }
        path.write_text(json.dumps(payload, indent=1, sort_keys=True) + "\n", encoding="utf-8")
        out[assignment] = path
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m properties.frozen", description=__doc__)
    parser.add_argument(
        "--regenerate",
        action="store_true",
        help="generate the frozen sets from the seed and overwrite the stored JSON",
    )
    args = parser.parse_args(argv)
    if args.regenerate:
        for assignment, path in regenerate().items():
            print(f"{assignment}: {len(load_cases(assignment))} cases -> {path}")
        return 0
    for assignment in ASSIGNMENTS:
        cases = load_cases(assignment)
        flagged = sum(c.degenerate for c in cases)
        print(f"{assignment} {VERSION}: {len(cases)} cases, {flagged} degenerate")
    return 0


if __name__ == "__main__":
    sys.exit(main())
