"""Meta-test: the checks catch each deliberately wrong implementation by the right name.

Each file in ``tests/wrong/`` makes one classic mistake.  On the frozen grading
set, and on cases freshly drawn with 5 different seeds, the property meant to
catch it must fail (with its hint), while the correct controls (the reference
and ``tests/wrong/_correct_fixed_point.py``) must fail nothing.
"""

from __future__ import annotations

import functools
from pathlib import Path

import pytest

from properties import checks, frozen, probe, records, strategies
from properties.candidates import Target, load_target
from properties.records import CheckResult, CurveCase, MapCase

WRONG = Path(__file__).parent / "wrong"
#: The notebook's Implicit is a bundled example submission: the meta-test reads that copy.
EXAMPLES = Path(__file__).parents[1] / "examples" / "submissions"
SEEDS = (0, 1, 2, 3, 4)
Case = CurveCase | MapCase

#: file -> (the check that must fail, a phrase its hint must contain, checks that
#: must NOT fail on any non-degenerate case, the strategy that exposes the mistake).
EXPECTED: dict[str, tuple[str, str, tuple[str, ...], object]] = {
    "sign_error": ("dy_dx_formula", "opposite sign", ("root",), strategies.curve_cases),
    "missing_inverse": (
        "dx_da_formula",
        "forgot (I - f_x)^-1",
        ("x_star", "graph_growth"),
        lambda: strategies.map_cases(dtypes="float64", families="curve-map", min_abs_rho=0.2),
    ),
    "transposed": (
        "dx_da_formula",
        "transposed",
        ("x_star", "graph_growth"),
        lambda: strategies.map_cases(dtypes="float64", families="coupled"),
    ),
    "jacobian_at_x0": (
        "dx_da_formula",
        "Jacobian at x0",
        ("x_star", "graph_growth"),
        lambda: strategies.map_cases(dtypes="float64", families="curve-map"),
    ),
    "ignores_grad_output": (
        "upstream",
        "ignores grad_output",
        ("x_star", "graph_growth"),
        lambda: strategies.map_cases(dtypes="float64"),
    ),
    "stopped_early": (
        "x_star",
        "",
        ("dx_da_formula", "graph_growth"),
        lambda: strategies.map_cases(dtypes="float64", families=("curve-map", "coupled")),
    ),
    "unrolled": (
        "graph_growth",
        "unrolled",
        ("x_star",),  # its gradient converges slower than x: dx_da_formula may fail too
        lambda: strategies.map_cases(dtypes="float64", families=("curve-map", "coupled")),
    ),
    "notebook_implicit": (
        "root",
        "",
        ("dy_dx_formula",),
        strategies.curve_cases,
    ),
}


@functools.cache
def _target(name: str) -> Target:
    if name == "reference":
        return load_target(None, None)
    path = WRONG / f"{name}.py"
    return load_target(path if path.exists() else EXAMPLES / f"{name}.py", None)


def _judge(target: Target, case: Case) -> list[CheckResult]:
    return list(_judge_cached(target, records.to_json(case)))


@functools.cache
def _judge_cached(target: Target, case_json: str) -> tuple[CheckResult, ...]:
    # Several tests look at the same (target, frozen case): observe it once.
    case = records.from_json(case_json)
    candidate = target.candidate(case.kind)
    assert candidate is not None
    return tuple(checks.judge(case, probe.observe(checks.wire_for(case), candidate)))


def _frozen_for(target: Target) -> list[Case]:
    kinds = [a for a in frozen.ASSIGNMENTS if target.supports(_KIND[a])]
    return [c for a in kinds for c in frozen.load_cases(a)]


_KIND = {"implicit": "curve", "fixed_point": "map"}


def _assert_caught(name: str, cases: list[Case]) -> None:
    check, hint, never, _ = EXPECTED[name]
    target = _target(name)
    caught, wrongly = [], []
    for case in cases:
        results = _judge(target, case)
        caught += [r for r in results if r.name == check and r.status == "fail"]
        if not case.degenerate:
            wrongly += [r for r in results if r.name in never and r.status == "fail"]
    assert caught, f"{name}: no case failed {check!r}"
    assert any(hint in r.hint for r in caught), f"{name}: {check} never hinted {hint!r}"
    assert not wrongly, f"{name} wrongly failed {[r.name + ': ' + r.message for r in wrongly]}"


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_wrong_implementation_is_caught_on_the_frozen_set(name: str) -> None:
    _assert_caught(name, _frozen_for(_target(name)))


@pytest.mark.slow
@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_wrong_implementation_is_caught_with_every_seed(name: str, seed: int) -> None:
    strategy = EXPECTED[name][3]()  # type: ignore[operator]
    _assert_caught(name, frozen.draw(strategy, 4, seed))


@pytest.mark.parametrize("name", ["reference", "_correct_fixed_point"])
def test_correct_implementations_fail_nothing_on_the_frozen_set(name: str) -> None:
    target = _target(name)
    bad = [
        (frozen.case_id(case), r.name, r.message)
        for case in _frozen_for(target)
        for r in _judge(target, case)
        if r.status in ("fail", "error") and not (case.degenerate and r.name == "call")
    ]
    assert not bad


@pytest.mark.slow
@pytest.mark.parametrize("seed", SEEDS)
def test_reference_fails_nothing_with_every_seed(seed: int) -> None:
    target = _target("reference")
    cases = frozen.draw(strategies.curve_cases(), 4, seed) + frozen.draw(
        strategies.map_cases(), 4, seed
    )
    bad = [
        (case.text(), r.name, r.message)
        for case in cases
        for r in _judge(target, case)
        if r.status in ("fail", "error")
    ]
    assert not bad


def test_notebook_implicit_is_reported_as_root_and_degenerate_failures() -> None:
    target = _target("notebook_implicit")
    by_check: dict[str, list[CheckResult]] = {}
    for case in frozen.load_cases("implicit"):
        for r in _judge(target, case):
            if r.status == "fail":
                by_check.setdefault(r.name, []).append(r)
    assert "root" in by_check
    assert "degenerate_behaviour" in by_check
    assert "dy_dx_formula" not in by_check
    # Near F_y = 0 (x = 0.999 on the unit circle) its gradient is off, and the root is blamed.
    near = [r for r in by_check.get("dy_dx_true", []) if "x = 0.999" in r.case]
    assert near
    assert all("inaccurate root" in r.hint for r in near)
