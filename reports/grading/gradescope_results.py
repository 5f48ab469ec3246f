"""Gradescope's ``results.json`` for one graded submission.

The format: top-level ``score``, ``output``, ``visibility`` and ``tests[]``, one
test per rubric item with ``score``, ``max_score``, ``status``, ``name``,
``output``, ``output_format`` and the item's ``visibility``, plus one
unscored test for exploration when it ran.  Keys are sorted: the same grade
gives the same bytes.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from . import explore as explore_mod
from . import rubric as rubric_mod
from .graded import Graded


def results(graded: Graded) -> dict[str, Any]:
    """Gradescope's ``results.json`` content for one graded submission."""
    tests = []
    for s in graded.items:
        lines = [f"Passed on {s.passed} of {s.counted} cases."]
        if s.degenerate:
            lines.append(f"{s.degenerate} degenerate case(s) reported apart, not counted.")
        if s.failures:
            first = s.failures[0]
            lines.append(f"Smallest failing case: {first.case}")
            lines.append(first.message)
        if s.status == "not measured":
            lines = ["Not measured: no case of the set looks at this item."]
        if s.same_as:
            lines.append(f"Same cause as {s.same_as}: {', '.join(s.diagnosis)}.")
        elif s.hint:
            lines.append(f"Likely mistake: {s.hint}")
        elif s.diagnosis == ("unknown",):
            lines.append("Cause not identified: see the measurements above.")
        test: dict[str, Any] = {
            "name": f"{s.item.title} ({s.item.name})",
            "score": s.score,
            "max_score": s.item.points,
            "output": "\n".join(lines),
            "output_format": "text",
            "visibility": s.item.visibility,
            "extra_data": {"diagnosis": list(s.diagnosis), "same_as": s.same_as},
        }
        if s.status != "not measured":
            test["status"] = "passed" if s.status == "pass" else "failed"
        tests.append(test)
    if graded.exploration is not None:
        found = graded.exploration.result is not None
        tests.append(
            {
                "name": "Exploration: smallest failing case beyond the frozen cases "
                "(feedback, not scored)",
                "score": 0,
                "max_score": 0,
                "status": "failed" if found else "passed",
                "output": explore_mod.text(graded.exploration, graded.path.name),
                "output_format": "text",
                "visibility": "visible",
            }
        )
    output = [f"{graded.name}: {graded.score:g} / {graded.max_score:g} ({graded.status})."]
    if graded.load_error:
        output.append("The file could not be graded:\n" + graded.load_error)
    if graded.exploration is not None:
        output.append(explore_mod.FAIRNESS)
    output.extend(
        line[0].upper() + line[1:] + "." for line in rubric_mod.tampering_text(graded.tampered)
    )
    if graded.signals:
        output.append("Observed while running: " + ", ".join(graded.signals) + ".")
    return {
        "score": graded.score,
        "extra_data": {"signals": list(graded.signals), "diagnosis": list(graded.diagnosis)},
        "output": "\n\n".join(output),
        "output_format": "text",
        "visibility": "visible",
        "stdout_visibility": "hidden",
        "tests": tests,
    }


def write_results(graded: Graded, path: Path) -> None:
    """Write ``results.json`` (sorted keys: the same grade gives the same bytes)."""
    path.write_text(json.dumps(results(graded), indent=1, sort_keys=True) + "\n", encoding="utf-8")
