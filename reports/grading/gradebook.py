"""Grades as pages and tables: one report per submission, the class gradebook, its CSV.

Everything is rendered here, in the grading process, from records
(``Graded``, ``ItemScore``, ``CheckResult``); nothing from a submission is run.
Text a submission controls (exception messages, printed output, ``got``
values, its file name) is passed through ``html.escape``.  The per-case part of
a report reuses the verification report's pieces (``summary``, ``columns``,
``details``, ``plots``), so a student reads the same tables as in a local run.

The CSV holds only what the grade depends on (no time, duration or absolute
path), so grading the same files twice gives the same bytes.
"""

from __future__ import annotations

import csv
import html
import io
import math
from collections.abc import Sequence

from properties.diagnosis import SIGNALS
from properties.records import CurveCase, MapCase
from reports import columns, details, summary
from reports.outcomes import CaseOutcome

from . import explore as explore_mod
from . import rubric as rubric_mod
from .graded import Graded
from .rubric import ItemScore
from .style import GRID_STYLE

CSV_COLUMNS = ("submission", "assignment", "score", "max_score", "status", "diagnosis", "signals")
MAX_PASSING_ROWS = 40
MAX_PLOTS = 6
OUTPUT_SHOWN = 8192

_STYLE = (
    GRID_STYLE
    + """.iv-grid th{background:#f1f3f4;cursor:pointer;user-select:none}
.iv-score{font-size:1.3em;font-weight:bold}
.iv-load{background:#fce8e6;padding:.6em;border-radius:4px}
.iv-note{color:#5f6368}
pre.iv-out{background:#f5f5f5;padding:.5em;max-height:20em;overflow:auto;white-space:pre-wrap}
td.num{text-align:right;font-variant-numeric:tabular-nums}
.iv-hint{color:#5f6368}
.iv-explore{border-left:4px solid #f9ab00;padding:.2em .9em;background:#fef7e0}
.iv-explore.none{border-color:#34a853;background:#e6f4ea}
</style>"""
)

_SORT_SCRIPT = """<script>
document.querySelectorAll('table.iv-sortable th').forEach(function (th, col) {
  th.addEventListener('click', function () {
    var body = th.closest('table').tBodies[0];
    var rows = Array.from(body.rows);
    var up = th.dataset.dir !== 'asc';
    th.dataset.dir = up ? 'asc' : 'desc';
    rows.sort(function (a, b) {
      var x = a.cells[col].dataset.key || a.cells[col].textContent;
      var y = b.cells[col].dataset.key || b.cells[col].textContent;
      var nx = parseFloat(x), ny = parseFloat(y);
      var c = (!isNaN(nx) && !isNaN(ny)) ? nx - ny : x.localeCompare(y);
      return up ? c : -c;
    });
    rows.forEach(function (r) { body.appendChild(r); });
  });
});
</script>"""


def _e(text: object) -> str:
    return html.escape(str(text))


def _num(value: float) -> str:
    return f"{value:g}"


# -- CSV -----------------------------------------------------------------------------


def to_csv(graded: Sequence[Graded]) -> str:
    """The class as CSV: ``submission, assignment, score, max_score, status`` and one
    column per rubric item (points earned), in the order graded."""
    items: list[str] = []
    for g in graded:
        for score in g.items:
            if score.item.name not in items:
                items.append(score.item.name)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow([*CSV_COLUMNS, *items])
    for g in graded:
        by_name = {s.item.name: _num(s.score) for s in g.items}
        writer.writerow(
            [g.name, g.assignment, _num(g.score), _num(g.max_score), g.status]
            + [" ".join(g.diagnosis), " ".join(g.signals)]
            + [by_name.get(name, "") for name in items]
        )
    return buffer.getvalue()


# -- the class gradebook -------------------------------------------------------------


def to_html(graded: Sequence[Graded], class_page: str | None = None) -> str:
    """The class gradebook: one sortable row per submission, linking its report (and the
    class page, when ``class_page`` names it)."""
    rows = []
    for g in graded:
        failing = [s for s in g.items if s.score < s.item.points]
        worst = ", ".join(s.item.name for s in failing) or "—"
        rows.append(
            "<tr>"
            f'<td><a href="{_e(g.slug)}/report.html">{_e(g.name)}</a></td>'
            f"<td>{_e(g.assignment)}</td>"
            f'<td class="num" data-key="{g.score}">{_num(g.score)}</td>'
            f'<td class="num" data-key="{g.max_score}">{_num(g.max_score)}</td>'
            f"<td>{_e(g.status)}</td>"
            f"<td>{_e(worst)}</td>"
            f"<td>{_e(' '.join(g.diagnosis) or '—')}</td>"
            f"<td>{_e(' '.join(g.signals) or '—')}</td>"
            f"<td>{_e(_explored(g))}</td>"
            "</tr>"
        )
    notes = sorted({n for g in graded for n in g.notes})
    return (
        "<!DOCTYPE html><html><head><meta charset='utf-8'><title>Gradebook</title>"
        f"{_STYLE}</head><body><h1>Gradebook</h1>"
        f"<p>{len(graded)} submissions. Click a column to sort; click a name for its report.</p>"
        + (
            f'<p><a href="{_e(class_page)}">The class: scores, mistakes by cause, '
            "items most failed</a></p>"
            if class_page
            else ""
        )
        + '<table class="iv-grid iv-sortable" id="gradebook"><thead><tr>'
        "<th>submission</th><th>assignment</th><th>score</th><th>max</th><th>status</th>"
        "<th>points lost on</th><th>diagnosis</th><th>run signals</th>"
        "<th>exploration (not scored)</th></tr></thead>"
        f"<tbody>{''.join(rows)}</tbody></table>"
        + "".join(f'<p class="iv-note">{_e(n)}</p>' for n in notes)
        + f"{_SORT_SCRIPT}</body></html>"
    )


def _explored(g: Graded) -> str:
    """The gradebook's exploration cell: what failed on the smallest case, or how much ran."""
    found = g.exploration
    if found is None:
        return "—"
    if found.skipped:
        return "not explored"
    if found.result is None:
        return f"nothing failed in {found.examples} cases"
    names = ", ".join(dict.fromkeys(c.name for c in found.failures))
    return f"fails {names} on {explore_mod.describe_case(found.result.case)}"


# -- one student's report ------------------------------------------------------------


def student_report(g: Graded) -> str:
    """A self-contained HTML report for one submission (its score, why, and every case)."""
    parts = [
        "<!DOCTYPE html><html><head><meta charset='utf-8'>",
        f"<title>{_e(g.name)}: {_num(g.score)}/{_num(g.max_score)}</title>",
        _STYLE,
        summary.STYLE,
        "</head><body>",
        f"<h1>{_e(g.name)} <span class='iv-note'>({_e(g.assignment)})</span></h1>",
        f'<p class="iv-score">Score: {_num(g.score)} / {_num(g.max_score)} '
        f'<span class="iv-note">({_e(g.status)})</span></p>',
    ]
    if g.signals:
        parts.append(
            "<p class='iv-note'><b>Observed while running</b> (reported, whatever the score): "
            + "; ".join(f"<code>{_e(k)}</code>: {_e(SIGNALS[k])}" for k in g.signals)
            + ".</p>"
        )
    if g.load_error is not None:
        parts.append(
            '<div class="iv-load"><b>The file could not be graded: '
            f"{_e(g.status)}.</b><pre>{_e(g.load_error)}</pre></div>"
        )
    parts.append(_items_table(g.items))
    if g.exploration is not None:
        parts.append(_exploration(g))
    parts.append(_conduct(g))
    if g.load_error is None and g.cases:
        parts.append(_cases(g))
    if g.output_total:
        shown = g.output[:OUTPUT_SHOWN]
        parts.append(
            f"<h2>Printed output</h2><p class='iv-note'>{g.output_total} bytes printed; "
            f"the first {len(shown)} characters:</p><pre class='iv-out'>{_e(shown)}</pre>"
        )
    parts.append(f"<p class='iv-note'>Rubric: {_e(g.rubric.source)}.</p>")
    parts.extend(f'<p class="iv-note">{_e(n)}</p>' for n in g.notes)
    parts.append("</body></html>")
    return "\n".join(parts)


def _items_table(items: Sequence[ItemScore]) -> str:
    rows = []
    for s in items:
        status = s.status
        feedback = ""
        if s.failures:
            first = s.failures[0]
            measured = ""
            if not math.isnan(first.error):
                measured = (
                    f"; error {columns.fmt(first.error)} (tolerance {columns.fmt(first.tol)})"
                )
            feedback = (
                f"{_e(first.message)}<br/><span class='iv-note'>smallest failing case: "
                f"<code>{_e(first.case)}</code>{_e(measured)}</span>"
            )
        if s.same_as:
            feedback += (
                f"<br/><span class='iv-hint'><b>Same cause as</b> <code>{_e(s.same_as)}</code> "
                "(fix that one first)</span>"
            )
        elif s.hint:
            feedback += f"<br/><span class='iv-hint'><b>Likely mistake:</b> {_e(s.hint)}</span>"
        elif s.diagnosis == ("unknown",):
            feedback += (
                "<br/><span class='iv-hint'><b>Cause not identified</b>: see the "
                "measurements.</span>"
            )
        if s.diagnosis:
            codes = " ".join(f"<code>{_e(c)}</code>" for c in s.diagnosis)
            feedback += f"<br/><span class='iv-note'>diagnosis: {codes}</span>"
        if s.degenerate:
            feedback += (
                f"<br/><span class='iv-note'>{s.degenerate} degenerate case(s) reported "
                "apart, not counted.</span>"
            )
        rows.append(
            "<tr>"
            f"<td><b>{_e(s.item.title)}</b><br/><code class='iv-note'>{_e(s.item.name)}</code></td>"
            f'<td class="num">{_num(s.score)} / {_num(s.item.points)}</td>'
            f'<td class="num">{s.passed} / {s.counted}</td>'
            f'<td class="st-{_e(status.split()[0])}">{_e(status)}</td>'
            f"<td>{feedback}</td><td class='iv-note'>{_e(s.item.visibility)}</td>"
            "</tr>"
        )
    return (
        "<h2>Rubric</h2>"
        '<table class="iv-grid" id="rubric"><thead><tr><th>property</th><th>points</th>'
        "<th>cases passed</th><th>status</th><th>feedback</th><th>visibility</th></tr></thead>"
        f"<tbody>{''.join(rows)}</tbody></table>"
    )


def _exploration(g: Graded) -> str:
    """The exploration section: the smallest failing case it found, or how much it explored."""
    found = g.exploration
    assert found is not None
    head = (
        "<h2>Exploration: beyond the frozen cases (feedback, not scored)</h2>"
        f"<p class='iv-note'>{_e(explore_mod.FAIRNESS)} Exploration draws more cases like "
        "the property suite's, runs each in the same isolated worker, and shrinks a failure "
        "to the smallest case on which a scored property fails.</p>"
    )
    stopped = (
        f"<p class='iv-note'>Exploration stopped early: {_e(found.stopped)}.</p>"
        if found.stopped
        else ""
    )
    if found.skipped:
        return f"{head}<div class='iv-explore'><p>Not explored: {_e(found.skipped)}.</p></div>"
    if found.result is None:
        return (
            f"{head}<div class='iv-explore none'><p>Exploration found no failing case in "
            f"{found.examples} explored case(s).</p>{stopped}</div>"
        )
    case = found.result.case
    rows = []
    for check in found.failures:
        message = _e(check.message)
        if check.hint:
            message += f"<br/><span class='iv-hint'><b>Likely mistake:</b> {_e(check.hint)}</span>"
        rows.append(
            f"<tr><td><code>{_e(check.name)}</code></td>"
            f'<td class="st-{_e(check.status)}">{_e(check.status)}</td>'
            f'<td class="num">{_e(columns.fmt(check.error))}</td>'
            f'<td class="num">{_e(columns.fmt(check.tol))}</td><td>{message}</td></tr>'
        )
    try:
        from reports import plots  # lazy for speed: matplotlib, only when a figure is drawn

        with explore_mod.SYMBOLIC_LOCK:  # pyplot and the curve's sympy are not thread-safe
            png = plots.case_plot(case, found.result.checks, "exploration: smallest failing case")
    except Exception:  # noqa: BLE001 - a figure is a bonus, never a reason to fail
        png = None
    figure = details.figure(png, case.text()) if png else ""
    command = explore_mod.reproduce_command(g.path.name)
    return (
        f"{head}<div class='iv-explore' id='exploration'>"
        "<p><b>Smallest failing case found by exploration:</b><br/>"
        f"<code>{_e(case.text())}</code> "
        f"<span class='iv-note'>({_e(explore_mod.describe_case(case))})</span></p>"
        f"{_also_frozen(g, case)}"
        '<table class="iv-grid"><thead><tr><th>property</th><th>status</th>'
        "<th>measured error</th><th>tolerance</th><th>what it means</th></tr></thead>"
        f"<tbody>{''.join(rows)}</tbody></table>"
        "<p><b>Reproduce it locally:</b> paste this after your own function,</p>"
        f"<pre class='iv-out'>{_e(details.snippet(case))}</pre>"
        f"<p>or run the property suite (with its own exploration) on your file: "
        f"<code>{_e(command)}</code></p>"
        f"<p class='iv-note'>{found.examples} case(s) explored.</p>{stopped}{figure}</div>"
    )


def _also_frozen(g: Graded, case: CurveCase | MapCase) -> str:
    """A note when shrinking arrived at a case that is also one of the frozen ones."""
    same = [i for i, r in enumerate(g.cases) if r.case.text() == case.text()]
    if not same:
        return ""
    return (
        f"<p class='iv-note'>Shrinking arrived at a case that is also a frozen one "
        f"(case-{same[0]} below): the simplest case of this failure is one the score already "
        "counts.</p>"
    )


def _conduct(g: Graded) -> str:
    """What the code did besides computing: timeouts, crashes, tampering, files."""
    lines = []
    notes: dict[str, int] = {}
    for result in g.cases:
        if not result.ran:
            notes[result.note] = notes.get(result.note, 0) + 1
    for note, count in sorted(notes.items()):
        lines.append(f"{count} case(s): {note}")
    lines.extend(rubric_mod.tampering_text(g.tampered))
    if g.files:
        lines.append("left files in its working folder (deleted): " + ", ".join(g.files))
    if not lines:
        return ""
    return "<h2>What the code did</h2><ul>" + "".join(f"<li>{_e(x)}</li>" for x in lines) + "</ul>"


def _cases(g: Graded) -> str:
    outcomes = [
        CaseOutcome(f"case-{i}", r.case, tuple(r.checks), "passed") for i, r in enumerate(g.cases)
    ]
    listed = [o for o in outcomes if o.status != "pass"]
    passing = [o for o in outcomes if o.status == "pass"]
    listed += passing[:MAX_PASSING_ROWS]
    counts = summary.summarize(outcomes, hidden=len(outcomes) - len(listed))
    block = summary.render(counts, g.name, g.assignment, max_passing=MAX_PASSING_ROWS)
    parts = ["<h2>Cases</h2>", *block["prefix"][1:], *block["summary"]]
    parts.append(_plots(g))
    head = "".join(columns.header_cells())
    rows = []
    for outcome in sorted(listed, key=lambda o: int(o.nodeid.split("-")[1])):
        cells = "".join(columns.row_cells(outcome))
        rows.append(
            f'<tr id="{_e(outcome.nodeid)}"><td>{_e(outcome.nodeid)}</td>{cells}</tr>'
            f'<tr><td colspan="{len(columns.COLUMNS) + 1}"><details><summary>checks</summary>'
            f"{details.checks_table(outcome)}"
            f"<pre>{_e(details.snippet(outcome.case))}</pre></details></td></tr>"
            if outcome.case is not None
            else ""
        )
    parts.append(
        f'<table class="iv-grid" id="cases"><thead><tr><th>case</th>{head}</tr></thead>'
        f"<tbody>{''.join(rows)}</tbody></table>"
    )
    return "\n".join(parts)


def _plots(g: Graded) -> str:
    """Figures of the smallest failing case of each failing item (a few at most)."""
    from reports import plots  # lazy for speed: matplotlib, only when a figure is drawn

    shown: set[str] = set()
    figures = []
    by_text = {r.case.text(): r for r in g.cases}
    for s in g.items:
        if not s.failures or len(figures) >= MAX_PLOTS:
            continue
        result = by_text.get(s.failures[0].case)
        if result is None or result.case.text() in shown or not result.ran:
            continue
        shown.add(result.case.text())
        try:
            with explore_mod.SYMBOLIC_LOCK:  # pyplot and sympy are not thread-safe
                png = plots.case_plot(
                    result.case, result.checks, f"{s.item.name}: smallest failure"
                )
        except Exception:  # noqa: BLE001 - a figure is a bonus, never a reason to fail
            png = None
        if png:
            figures.append(details.figure(png, f"{s.item.title}: {result.case.text()}"))
    return "".join(figures)
