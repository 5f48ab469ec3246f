"""Parametrize the frozen-set tests by the target's assignment, before it is loaded."""

from __future__ import annotations

import pytest

from properties import frozen, profiles
from properties.assignments import ASSIGNMENTS, TargetError, infer_assignment

profiles.load()


def assignments(config: pytest.Config) -> tuple[str, ...]:
    """The assignments whose cases apply: the one asked for, the file's, or both."""
    assignment = config.getoption("implicit_assignment", default=None)
    if assignment:
        return (assignment,)
    path = config.getoption("implicit_target", default=None)
    if path is None:
        return ASSIGNMENTS
    try:
        return (infer_assignment(path),)
    except TargetError:
        return ASSIGNMENTS  # the target fixture raises the clear error


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "frozen_case" not in metafunc.fixturenames:
        return
    cases = [c for a in assignments(metafunc.config) for c in frozen.load_cases(a)]
    metafunc.parametrize("frozen_case", cases, ids=[frozen.case_id(c) for c in cases])
