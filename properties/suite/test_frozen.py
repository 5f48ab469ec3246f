"""Every case of the frozen grading set: observe, judge, record, decide."""

from __future__ import annotations

import pytest

from properties.candidates import Target
from properties.records import CurveCase, MapCase
from properties.suite import harness


def test_frozen_case(
    frozen_case: CurveCase | MapCase, target: Target, request: pytest.FixtureRequest
) -> None:
    results = harness.run(frozen_case, target)
    harness.decide(request.node, frozen_case, results)
