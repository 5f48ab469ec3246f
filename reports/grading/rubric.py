"""The rubric: points per property, read from TOML, and the score it gives.

A rubric item names the checks (``CheckResult.name``) it is about and, if it
wants, the cases it looks at (family, dtype, scalar or vector).  On every
selected case that is not flagged degenerate, the item *passes* when each of
its checks recorded on that case passed; a case where the submission could not
be run at all (timeout, crash, exception) counts as a failure of every item
that selects it, and that case only.  The item's score is its points times the
fraction of passing cases (``scoring = "fraction"``, the default), all or
nothing (``scoring = "all"``), or all when at least ``threshold`` of its cases
pass and the fraction otherwise (``scoring = "threshold"``); an item may set its
own ``scoring`` (and ``threshold``).  An item with no case to look at is "not
measured", never failed.

Format (``reports/grading/rubric_fixed_point.toml`` is the default of its assignment)::

    [rubric]
    assignment = "fixed_point"
    scoring = "fraction"          # or "all"
    deadline = 10.0               # seconds per case
    max_timeouts = 3              # then the remaining cases are not run

    [items.gradient]
    title = "dx*/da by the implicit function theorem"
    points = 30
    checks = ["dx_da_true", "dx_da_formula"]
    visibility = "visible"        # Gradescope: visible, hidden, after_due_date, after_published
    dtype = "float64"             # optional selectors: dtype, shape, families, degenerate
    scoring = "threshold"         # optional: this item's own scoring
    threshold = 0.9               # with "threshold": full points from 90 % of the cases
"""

from __future__ import annotations

import collections
import dataclasses
import math
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

try:
    import tomllib
except ModuleNotFoundError:  # pragma: no cover - Python 3.10
    import tomli as tomllib  # type: ignore[no-redef]

from properties import simplicity
from properties.assignments import ASSIGNMENTS
from properties.records import CheckResult, CurveCase, MapCase

from .records import CaseResult

VISIBILITIES = ("visible", "hidden", "after_due_date", "after_published")
SCORINGS = ("fraction", "all", "threshold")
HERE = Path(__file__).parent


class RubricError(ValueError):
    """A rubric file that cannot be used; the message names the item and the fix."""


@dataclasses.dataclass(frozen=True)
class Item:
    """One line of the rubric.

    Attributes:
        name: the item's key (also its Gradescope test name, with ``title``).
        title: what a student reads.
        points: its weight (0: reported, not counted).
        checks: the ``CheckResult.name`` values it is about.
        visibility: Gradescope visibility.
        dtype: only cases of this dtype ("float64"/"float32"), or None for all.
        shape: only "scalar" or "vector" cases, or None for all.
        families: only cases of these families, or () for all.
        degenerate: also look at degenerate cases (for behaviour-at-degenerate checks).
        scoring: this item's own scoring (None: the rubric's).
        threshold: with ``scoring = "threshold"``, the fraction of cases that earns
            full points.
    """

    name: str
    title: str
    points: float
    checks: tuple[str, ...]
    visibility: str = "visible"
    dtype: str | None = None
    shape: str | None = None
    families: tuple[str, ...] = ()
    degenerate: bool = False
    scoring: str | None = None
    threshold: float = 1.0

    def selects(self, case: CurveCase | MapCase) -> bool:
        """Whether this item looks at ``case``."""
        if self.families and case.family not in self.families:
            return False
        if self.dtype is not None and _dtype(case) != self.dtype:
            return False
        return self.shape is None or _shape(case) == self.shape


@dataclasses.dataclass(frozen=True)
class Rubric:
    """A whole rubric (see the module docstring for the file format)."""

    assignment: str
    items: tuple[Item, ...]
    scoring: str = "fraction"
    deadline: float = 10.0
    max_timeouts: int = 3
    source: str = ""

    @property
    def max_score(self) -> float:
        return sum(item.points for item in self.items)

    def item_for(self, check_name: str) -> Item | None:
        """The first item that counts ``check_name``."""
        return next((i for i in self.items if check_name in i.checks), None)


@dataclasses.dataclass(frozen=True)
class ItemScore:
    """The score of one item, with the evidence a student needs.

    Attributes:
        item: the rubric item.
        score: points earned.
        passed: cases on which the item passed.
        counted: cases it was measured on (degenerate ones excluded).
        degenerate: selected cases flagged degenerate (reported, not counted).
        failures: the failing checks, smallest case first (cases not tried last).
        hint: the most common hint among the failures ("" when none).
        diagnosis: the failures' diagnosis codes, most common first.
        same_as: the name of an earlier failing item whose causes explain every
            cause of this one ("" when none): its failure is a knock-on.
    """

    item: Item
    score: float
    passed: int
    counted: int
    degenerate: int
    failures: tuple[CheckResult, ...]
    hint: str
    diagnosis: tuple[str, ...] = ()
    same_as: str = ""

    @property
    def status(self) -> str:
        if self.counted == 0:
            return "not measured"
        return "pass" if self.passed == self.counted else "fail"


def _dtype(case: CurveCase | MapCase) -> str:
    return case.dtype if isinstance(case, MapCase) else "float64"


def _shape(case: CurveCase | MapCase) -> str:
    if isinstance(case, MapCase):
        return "scalar" if case.scalar or case.m == 1 else "vector"
    return "scalar"


def default_path(assignment: str) -> Path:
    """The rubric file shipped for ``assignment``."""
    if assignment not in ASSIGNMENTS:
        raise RubricError(f"assignment={assignment!r} must be one of {ASSIGNMENTS}.")
    return HERE / f"rubric_{assignment}.toml"


def load(path: str | Path | None = None, assignment: str = "fixed_point") -> Rubric:
    """Read a rubric file (default: the one shipped for ``assignment``).

    Raises:
        RubricError: a missing field, an unknown key or value, or negative points.
    """
    path = Path(path) if path is not None else default_path(assignment)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise RubricError(f"cannot read the rubric {path}: {exc}") from exc
    return parse(data, source=path.name)


def parse(data: dict[str, Any], source: str = "") -> Rubric:
    """Build a rubric from parsed TOML (see ``load``)."""
    head = dict(data.get("rubric", {}))
    assignment = head.pop("assignment", None)
    if assignment not in ASSIGNMENTS:
        raise RubricError(f"[rubric] assignment={assignment!r} must be one of {ASSIGNMENTS}.")
    scoring = head.pop("scoring", "fraction")
    if scoring not in SCORINGS:
        raise RubricError(f"[rubric] scoring={scoring!r} must be one of {SCORINGS}.")
    deadline = float(head.pop("deadline", 10.0))
    max_timeouts = int(head.pop("max_timeouts", 3))
    head.pop("version", None)
    if head:
        raise RubricError(f"[rubric] has unknown keys {sorted(head)}.")
    items_data = data.get("items", {})
    if not items_data:
        raise RubricError("the rubric has no [items.NAME] tables: add at least one.")
    items = tuple(_item(name, spec) for name, spec in items_data.items())
    return Rubric(assignment, items, scoring, deadline, max_timeouts, source)


_ITEM_KEYS = {
    "title",
    "points",
    "checks",
    "visibility",
    "dtype",
    "shape",
    "families",
    "degenerate",
    "scoring",
    "threshold",
}


def _item(name: str, spec: dict[str, Any]) -> Item:
    unknown = set(spec) - _ITEM_KEYS
    if unknown:
        raise RubricError(
            f"[items.{name}] has unknown keys {sorted(unknown)}; known: {sorted(_ITEM_KEYS)}."
        )
    points = float(spec.get("points", 0))
    if not math.isfinite(points) or points < 0:
        raise RubricError(f"[items.{name}] points={points} must be a number >= 0.")
    checks = tuple(spec.get("checks", [name]))
    visibility = spec.get("visibility", "visible")
    if visibility not in VISIBILITIES:
        raise RubricError(
            f"[items.{name}] visibility={visibility!r} must be one of {VISIBILITIES}."
        )
    shape = spec.get("shape")
    if shape not in (None, "scalar", "vector"):
        raise RubricError(f"[items.{name}] shape={shape!r} must be 'scalar' or 'vector'.")
    dtype = spec.get("dtype")
    if dtype not in (None, "float64", "float32"):
        raise RubricError(f"[items.{name}] dtype={dtype!r} must be 'float64' or 'float32'.")
    scoring = spec.get("scoring")
    if scoring not in (None, *SCORINGS):
        raise RubricError(f"[items.{name}] scoring={scoring!r} must be one of {SCORINGS}.")
    threshold = float(spec.get("threshold", 1.0))
    if not 0 < threshold <= 1:
        raise RubricError(f"[items.{name}] threshold={threshold} must be in (0, 1].")
    return Item(
        name=name,
        title=str(spec.get("title", name)),
        points=points,
        checks=checks,
        visibility=visibility,
        dtype=dtype,
        shape=shape,
        families=tuple(spec.get("families", ())),
        degenerate=bool(spec.get("degenerate", False)),
        scoring=scoring,
        threshold=threshold,
    )


def score(rubric: Rubric, results: Sequence[CaseResult]) -> list[ItemScore]:
    """Score every item of ``rubric`` on the graded cases (knock-ons marked ``same_as``)."""
    scores = [score_item(item, item.scoring or rubric.scoring, results) for item in rubric.items]
    out: list[ItemScore] = []
    for s in scores:
        # A failure whose cause was not identified is never "the same cause" as anything.
        causes = set(s.diagnosis) if "unknown" not in s.diagnosis else set()
        earlier = next(
            (
                e
                for e in out
                if e.status == "fail" and e.item.points > 0 and causes <= set(e.diagnosis)
            ),
            None,
        )
        if s.status == "fail" and causes and earlier is not None:
            s = dataclasses.replace(s, same_as=earlier.item.name)
        out.append(s)
    return out


def score_item(item: Item, scoring: str, results: Iterable[CaseResult]) -> ItemScore:
    """Score one item (see the module docstring for the rule).

    A degenerate case is reported apart (never counted) unless the item is about
    degenerate behaviour (``degenerate = true``), which looks at those alone.  A
    case where the code timed out or crashed counts as a failure; one where it
    raised counts as a failure when the judge gave the item no result of its own.
    """
    passed = counted = degenerate = 0
    # (skipped, check): a case the grader did not even try (after too many
    # timeouts) says less than one it ran, so it comes after them all.
    failures: list[tuple[bool, CheckResult]] = []
    for result in results:
        if not item.selects(result.case):
            continue
        if result.case.degenerate != item.degenerate:
            degenerate += result.case.degenerate
            continue
        verdict, bad = case_verdict(item, result)
        if verdict is None:
            continue
        counted += 1
        passed += verdict
        key = simplicity.case_key(result.case)
        failures.extend(
            ((result.note == "not run", *key, check.case, check.name), check) for check in bad
        )
    if counted == 0:
        earned = 0.0
    elif scoring == "all":
        earned = item.points if passed == counted else 0.0
    elif scoring == "threshold" and passed >= item.threshold * counted:
        earned = item.points
    else:
        earned = round(item.points * passed / counted, 2)
    # Cases that ran first, then the simplest (``simplicity.case_key``): the first
    # failure is the one the report shows.
    failures.sort(key=lambda pair: pair[0])
    checks = tuple(check for _, check in failures)
    return ItemScore(
        item, earned, passed, counted, degenerate, checks, _hint(checks), _diagnosis(checks)
    )


def case_verdict(item: Item, result: CaseResult) -> tuple[bool | None, list[CheckResult]]:
    """How ``item`` judges one case it selects (degeneracy already matched).

    Returns:
        ``(None, [])`` when the case does not count for the item, else whether it
        passed and the checks it failed on (a timeout or crash fails with the
        item's checks or the first check; a raise with no check of the item's
        own fails with the call error).
    """
    mine = [c for c in result.checks if c.name in item.checks]
    if not result.ran and result.note != "raised":
        return False, mine or list(result.checks[:1])
    measured = [c for c in mine if c.status != "degenerate"]
    if not measured:
        call_errors = [c for c in result.checks if c.name == "call" and c.status == "error"]
        return (False, call_errors[:1]) if call_errors else (None, [])
    bad = [c for c in measured if c.status in ("fail", "error")]
    return not bad, bad


def _diagnosis(failures: Sequence[CheckResult]) -> tuple[str, ...]:
    """Every code of ``failures``, most common first (ties: first seen)."""
    counts = collections.Counter(code for c in failures for code in c.diagnosis)
    order = list(dict.fromkeys(code for c in failures for code in c.diagnosis))
    return tuple(sorted(order, key=lambda code: (-counts[code], order.index(code))))


def _hint(failures: Sequence[CheckResult]) -> str:
    """The most common hint among ``failures`` (ties: the one on the smallest case)."""
    counts = collections.Counter(c.hint for c in failures if c.hint)
    if not counts:
        return ""
    first_seen = {}
    for index, check in enumerate(failures):
        first_seen.setdefault(check.hint, index)
    return min(counts, key=lambda h: (-counts[h], first_seen[h]))


#: Gradebook status of a submission that replaced the grader's own functions.
TAMPERED = "tampered with the grader"
#: How the worker names the grader's own functions (``reports.grading.worker``).
GRADER_PREFIXES = ("probe.", "worker.", "assignments.")


def grader_tampering(tampered: Sequence[str]) -> list[str]:
    """The names in ``tampered`` that belong to the grader (the probe, the worker or
    its adapter), not to torch: replacing one can forge an observation, so no case counts."""
    return [name for name in tampered if name.startswith(GRADER_PREFIXES)]


def tampering_text(tampered: Sequence[str]) -> list[str]:
    """What to tell a reader about replaced functions (one line per kind), or []."""
    ours = grader_tampering(tampered)
    torch = [name for name in tampered if name not in ours]
    lines = []
    if ours:
        lines.append(
            "replaced the grader's own functions (every case discarded, score 0): "
            + ", ".join(ours)
        )
    if torch:
        lines.append("replaced torch functions (the checks keep their own): " + ", ".join(torch))
    return lines
