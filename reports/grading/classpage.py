"""The class page (``class.html``): what the class got wrong, by cause, and who.

Three views of the graded submissions, rendered here from the records alone:

- the score distribution of each assignment (a histogram, PNG inlined as
  base64: the page is one self-contained file) with its count, mean and median;
- the mistakes across the class: each diagnosis code (``ItemScore.diagnosis``,
  ``docs/diagnosis.md``; an item without codes is listed under its
  likely-mistake hint, one without either is not a diagnosed mistake), how many
  students made it, each linked to that student's ``report.html``, and the items
  it cost; then the submissions that did not run cleanly, by status, and the
  run-level signals (``Graded.signals``), by signal;
- the items most failed: per assignment, how many submissions lost points on
  each item and the points lost on average.

Every name and message a submission controls goes through ``html.escape``.
"""

from __future__ import annotations

import base64
import html
import io
import statistics
from collections.abc import Sequence

from .graded import Graded
from .style import GRID_STYLE

FILE = "class.html"
GRADEBOOK = "gradebook.html"

_STYLE = (
    GRID_STYLE
    + """.iv-grid th{background:#f1f3f4}
td.num{text-align:right;font-variant-numeric:tabular-nums}
.iv-note{color:#5f6368}
figure{display:inline-block;margin:0 1.5em 1em 0}
</style>"""
)


def _e(text: object) -> str:
    return html.escape(str(text))


def _link(g: Graded) -> str:
    return f'<a href="{_e(g.slug)}/report.html">{_e(g.name)}</a>'


def mistakes(g: Graded) -> dict[str, set[str]]:
    """The diagnosed mistakes of one submission: label -> the rubric items it cost.

    A label is a diagnosis code when the item has codes, else the item's hint.
    """
    found: dict[str, set[str]] = {}
    for score in g.items:
        if score.score >= score.item.points:
            continue
        labels = tuple(getattr(score, "diagnosis", ()) or ())
        if not labels and score.hint:
            labels = (score.hint,)
        for label in labels:
            found.setdefault(str(label), set()).add(score.item.name)
    return found


def histogram(scores: Sequence[float], max_score: float, title: str) -> str:
    """A histogram of ``scores`` on ``[0, max_score]`` in ten bins, as base64 PNG text."""
    import matplotlib.pyplot as plt

    from reports import plots  # noqa: F401 - sets the headless backend before pyplot

    from .explore import SYMBOLIC_LOCK

    with SYMBOLIC_LOCK:  # pyplot is not thread-safe
        figure, axes = plt.subplots(figsize=(4.6, 2.6), dpi=80)
        try:
            top = max_score if max_score > 0 else 1.0
            axes.hist(scores, bins=10, range=(0, top), color="#4285f4", edgecolor="white")
            axes.set_xlim(0, top)
            axes.set_xlabel("score")
            axes.set_ylabel("submissions")
            axes.yaxis.get_major_locator().set_params(integer=True)
            axes.set_title(title, fontsize=10)
            figure.tight_layout()
            buffer = io.BytesIO()
            figure.savefig(buffer, format="png", metadata={"Software": None})
        finally:
            plt.close(figure)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def _distribution(by_assignment: dict[str, list[Graded]]) -> str:
    parts = ["<h2>Score distribution</h2>"]
    for assignment, rows in by_assignment.items():
        scores = [g.score for g in rows]
        top = rows[0].max_score
        png = histogram(scores, top, f"{assignment} (out of {top:g})")
        full = sum(s >= top for s in scores)
        parts.append(
            f"<figure><img alt='score histogram of {_e(assignment)}' "
            f"src='data:image/png;base64,{png}'/><figcaption class='iv-note'>"
            f"{_e(assignment)}: {len(scores)} submission(s), mean "
            f"{statistics.fmean(scores):.3g}, median {statistics.median(scores):g}, "
            f"{full} with full marks.</figcaption></figure>"
        )
    return "".join(parts)


def _mistakes(graded: Sequence[Graded]) -> str:
    who: dict[str, list[Graded]] = {}
    items: dict[str, set[str]] = {}
    for g in graded:
        for label, cost in mistakes(g).items():
            who.setdefault(label, []).append(g)
            items.setdefault(label, set()).update(cost)
    rows = [
        f"<tr><td><code>{_e(label)}</code></td><td class='num'>{len(who[label])}</td>"
        f"<td>{', '.join(_link(g) for g in who[label])}</td>"
        f"<td>{_e(', '.join(sorted(items[label])))}</td></tr>"
        for label in sorted(who, key=lambda k: (-len(who[k]), k))
    ]
    table = (
        "<table class='iv-grid' id='mistakes'><thead><tr><th>mistake</th><th>students</th>"
        f"<th>who (their reports)</th><th>items it cost</th></tr></thead><tbody>{''.join(rows)}"
        "</tbody></table>"
        if rows
        else "<p>No diagnosed mistake in the class.</p>"
    )
    broken: dict[str, list[Graded]] = {}
    for g in graded:
        if g.status != "graded":
            broken.setdefault(g.status, []).append(g)
        for signal in getattr(g, "signals", ()) or ():  # run-level signals, when graded with them
            broken.setdefault(f"signal: {signal}", []).append(g)
    runs = "".join(
        f"<tr><td>{_e(status)}</td><td class='num'>{len(rows)}</td>"
        f"<td>{', '.join(_link(g) for g in rows)}</td></tr>"
        for status, rows in sorted(broken.items(), key=lambda kv: (-len(kv[1]), kv[0]))
    )
    return (
        "<h2>Mistakes across the class</h2><p class='iv-note'>Each cause as the grader "
        "confirmed it (its diagnosis code, or the likely mistake it named), with the "
        "students who made it. See docs/diagnosis.md for what each code means.</p>"
        + table
        + (
            "<h2>Submissions that did not run cleanly</h2><table class='iv-grid' id='status'>"
            "<thead><tr><th>status or signal</th><th>submissions</th><th>who</th></tr></thead>"
            f"<tbody>{runs}</tbody></table>"
            if runs
            else ""
        )
    )


def _items(by_assignment: dict[str, list[Graded]]) -> str:
    parts = ["<h2>Items most failed</h2>"]
    for assignment, rows in by_assignment.items():
        lost: dict[str, list[float]] = {}
        titles: dict[str, str] = {}
        for g in rows:
            for s in g.items:
                titles[s.item.name] = s.item.title
                lost.setdefault(s.item.name, []).append(s.item.points - s.score)
        ranked = sorted(lost, key=lambda n: (-sum(x > 0 for x in lost[n]), -sum(lost[n]), n))
        body = "".join(
            f"<tr><td><b>{_e(titles[n])}</b> <code class='iv-note'>{_e(n)}</code></td>"
            f"<td class='num'>{sum(x > 0 for x in lost[n])} / {len(lost[n])}</td>"
            f"<td class='num'>{statistics.fmean(lost[n]):.3g}</td></tr>"
            for n in ranked
        )
        parts.append(
            f"<h3>{_e(assignment)}</h3><table class='iv-grid items'><thead><tr><th>item</th>"
            "<th>submissions losing points</th><th>points lost on average</th></tr></thead>"
            f"<tbody>{body}</tbody></table>"
        )
    return "".join(parts)


def to_html(graded: Sequence[Graded]) -> str:
    """The class page: distribution, mistakes by cause with their students, items most failed.

    Args:
        graded: the students' graded submissions (not the reference rows).

    Returns:
        One self-contained HTML page (figures inlined).
    """
    by_assignment: dict[str, list[Graded]] = {}
    for g in graded:
        by_assignment.setdefault(g.assignment, []).append(g)
    body = (
        _distribution(by_assignment) + _mistakes(graded) + _items(by_assignment)
        if graded
        else "<p>No submissions.</p>"
    )
    return (
        "<!DOCTYPE html><html><head><meta charset='utf-8'><title>The class</title>"
        f"{_STYLE}</head><body><h1>The class</h1>"
        f"<p>{len(graded)} submission(s). <a href='{GRADEBOOK}'>Back to the gradebook</a> · "
        f"<a href='canvas.csv'>Canvas import (CSV)</a></p>{body}</body></html>"
    )
