"""Machine-readable results of one run: counts per property, as JSON beside the HTML.

``results(summary, target)`` is the document ``--report-json PATH`` (and
``python -m reports --json PATH``) writes::

    {"target": "solution.py", "assignment": "implicit", "cases": 120,
     "load_error": null,
     "properties": {"root": {"pass": 80, "fail": 2, "error": 0, "degenerate": 6,
                             "not_claimed": false, "diagnosis": ["inaccurate_root"],
                             "smallest_failure": {"case": "...", "status": "fail",
                                                  "message": "...", "error": 1e-3,
                                                  "tol": 1e-8}}}}

Counts are over every case the run judged (a Hypothesis test's earlier
examples included, as in the report's summary).  ``not_claimed`` is true when
the target declared it does not offer the property's capability (every check
of it has status "not_claimed"); ``diagnosis`` lists the codes of the failing
checks' ``CheckResult.diagnosis`` (empty until the checks carry one).
``smallest_failure`` (only for failing properties listed as a row) is the
smallest failing case, as in the report's headline.  ``docs/conformance.md``
is generated from these files (``examples/peers/table.py``).
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from .summary import Summary

#: The counts every property carries, in this order.
COUNTED = ("pass", "fail", "error", "degenerate")


def _number(value: float) -> float | None:
    return value if math.isfinite(value) else None


def _diagnosis(summary: Summary, name: str) -> list[str]:
    """The diagnosis codes of the property's failing checks in the listed rows."""
    codes: set[str] = set()
    for check, _ in [summary.smallest_failure[name]] if name in summary.smallest_failure else []:
        found = getattr(check, "diagnosis", ()) or ()
        codes.update([found] if isinstance(found, str) else [str(c) for c in found])
    return sorted(codes)


def results(
    summary: Summary, target: str, assignment: str = "", load_error: str | None = None
) -> dict[str, Any]:
    """The JSON document of one run.

    Args:
        summary: the run's counts (``reports.summary.summarize``).
        target: the name of the implementation under test.
        assignment: "implicit", "fixed_point" or "" (both, or unknown).
        load_error: why the target could not be loaded, if it could not.

    Returns:
        A JSON-able dict (see the module's docstring).
    """
    properties: dict[str, Any] = {}
    for name in sorted(summary.properties):
        counts = summary.properties[name]
        entry: dict[str, Any] = {status: int(counts[status]) for status in COUNTED}
        judged = sum(entry.values())
        entry["not_claimed"] = bool(counts["not_claimed"]) and judged == 0
        entry["diagnosis"] = _diagnosis(summary, name)
        if name in summary.smallest_failure and (counts["fail"] or counts["error"]):
            check, outcome = summary.smallest_failure[name]
            entry["smallest_failure"] = {
                "case": outcome.case.text() if outcome.case is not None else check.case,
                "status": check.status,
                "message": check.message,
                "hint": check.hint,
                "error": _number(check.error),
                "tol": _number(check.tol),
            }
        properties[name] = entry
    return {
        "target": target,
        "assignment": assignment,
        "cases": summary.cases,
        "load_error": load_error,
        "properties": properties,
    }


def write(path: str | Path, document: dict[str, Any]) -> Path:
    """Write ``document`` as indented JSON (creating the folder); returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document, indent=2, sort_keys=False) + "\n", encoding="utf-8")
    return path
