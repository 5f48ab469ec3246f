"""The summary on top of the report: what failed, where, and by how much.

``summarize`` counts statuses per property (``CheckResult.name``) and per
family; ``headline`` names, for each failing property, its smallest failing
case with the measured error against its tolerance; ``render`` turns all of it
into HTML.  Every piece of text that can come from the code under test
(``got``, ``message``) is escaped here.
"""

from __future__ import annotations

import collections
import dataclasses
import html
import math
from collections.abc import Iterable, Sequence
from typing import Any

from properties import simplicity
from properties.records import CheckResult

from .columns import fmt
from .details import figure
from .outcomes import CaseOutcome

_GOT_WIDTH = 60


@dataclasses.dataclass
class Summary:
    """Counts over every case of a run (listed as a row or not).

    Attributes:
        properties: property name -> status -> number of checks.
        families: family -> row status -> number of cases.
        smallest_failure: property name -> (its smallest failing check, the case's row).
        cases: number of cases, every example of a Hypothesis test included.
        hidden: cases not listed as rows, by status.
        earlier: examples Hypothesis tests ran before their row's (counted, not listed).
    """

    properties: dict[str, collections.Counter[str]] = dataclasses.field(default_factory=dict)
    families: dict[str, collections.Counter[str]] = dataclasses.field(default_factory=dict)
    smallest_failure: dict[str, tuple[CheckResult, CaseOutcome]] = dataclasses.field(
        default_factory=dict
    )
    cases: int = 0
    hidden: collections.Counter[str] = dataclasses.field(default_factory=collections.Counter)
    earlier: int = 0

    def add(self, outcome: CaseOutcome) -> None:
        """Count one row's case and its checks, and the examples its test ran before it."""
        for earlier in outcome.earlier:
            self._count(earlier.family, earlier.status, earlier.statuses)
        self.earlier += len(outcome.earlier)
        statuses = [(check.name, check.status) for check in outcome.checks]
        self._count(outcome.family, outcome.status, statuses)
        for check in outcome.checks:
            if check.status not in ("fail", "error"):
                continue
            best = self.smallest_failure.get(check.name)
            if best is None or _size(outcome) < _size(best[1]):
                self.smallest_failure[check.name] = (check, outcome)

    def _count(self, family: str, status: str, statuses: Iterable[tuple[str, str]]) -> None:
        self.cases += 1
        self.families.setdefault(family or "(none)", collections.Counter())[status] += 1
        for name, check_status in statuses:
            self.properties.setdefault(name, collections.Counter())[check_status] += 1

    @property
    def failing_properties(self) -> list[str]:
        """Properties with at least one failure or error, most failures first."""
        bad = [n for n, c in self.properties.items() if c["fail"] or c["error"]]
        return sorted(
            bad, key=lambda n: (-(self.properties[n]["fail"] + self.properties[n]["error"]), n)
        )

    @property
    def degenerate_cases(self) -> int:
        return sum(c["degenerate"] for c in self.families.values())


def summarize(
    outcomes: Iterable[CaseOutcome], hidden: collections.Counter[str] | int | None = None
) -> Summary:
    """Count ``outcomes``.

    Args:
        outcomes: every case of the run.
        hidden: those not listed as rows, counted by status (an int: passing ones).
    """
    if isinstance(hidden, int):
        hidden = collections.Counter({"pass": hidden} if hidden else {})
    summary = Summary(hidden=hidden or collections.Counter())
    for outcome in outcomes:
        summary.add(outcome)
    return summary


def _size(outcome: CaseOutcome) -> tuple[Any, ...]:
    """How simple a case is for a person (``simplicity.case_key``), simplest first."""
    case = outcome.case
    if case is None:
        return (10**9, outcome.nodeid)
    return (*simplicity.case_key(case), case.text())


def headline(summary: Summary, target: str) -> str:
    """The first thing a person reads: the verdict, then one line per failing property."""
    name = html.escape(target)
    failing = summary.failing_properties
    degenerate = summary.degenerate_cases
    flagged = (
        f" {degenerate} degenerate case{'s' if degenerate != 1 else ''} flagged apart "
        "(status <b>degenerate</b>: neither pass nor fail)."
        if degenerate
        else ""
    )
    if not summary.cases:
        return f'<div class="iv-verdict iv-empty">No property checks ran for <b>{name}</b>.</div>'
    if not failing:
        return (
            f'<div class="iv-verdict iv-ok">&#10004; <b>{name}</b> passes all '
            f"{len(summary.properties)} properties on {summary.cases} cases.{flagged}</div>"
        )
    lines = [
        f'<div class="iv-verdict iv-bad">&#10008; <b>{name}</b> fails {len(failing)} of '
        f"{len(summary.properties)} properties ({summary.cases} cases).{flagged}</div>",
        '<ul class="iv-failures">',
    ]
    for prop in failing:
        if prop not in summary.smallest_failure:
            lines.append(f"<li>{earlier_failure_line(prop, summary.properties[prop])}</li>")
            continue
        check, outcome = summary.smallest_failure[prop]
        lines.append(f"<li>{failure_line(prop, summary.properties[prop], check, outcome)}</li>")
    lines.append("</ul>")
    return "\n".join(lines)


def failure_line(
    prop: str, counts: collections.Counter[str], check: CheckResult, outcome: CaseOutcome
) -> str:
    """``dy_dx_true failed on 12 of 40 cases; smallest: <case>: got .., expected .., error ..``."""
    bad = counts["fail"] + counts["error"]
    total = sum(counts.values())
    verb = "failed" if counts["fail"] else "raised an error"
    case_text = outcome.case.text() if outcome.case is not None else check.case or outcome.nodeid
    where = (
        f'<span class="iv-prop">{html.escape(prop)}</span> {verb} on <b>{bad}</b> of {total} '
        f'cases; smallest: <a href="#{html.escape(outcome.nodeid, quote=True)}">'
        f"<code>{html.escape(case_text)}</code></a>"
    )
    if not math.isnan(check.error):
        tol = f" (tolerance {html.escape(fmt(check.tol))})" if not math.isnan(check.tol) else ""
        where += f": error <b>{html.escape(fmt(check.error))}</b>{tol}"
    parts = [where]
    values = [
        f"{label} <code>{html.escape(_clip(text))}</code>"
        for label, text in (("expected", check.expected), ("got", check.got))
        if text
    ]
    if values:
        parts.append(", ".join(values))
    line = "; ".join(parts) + "."
    if check.hint:
        line += f' <span class="iv-hint">Likely mistake: {html.escape(check.hint)}</span>'
    elif check.message:
        line += f' <span class="iv-hint">{html.escape(_clip(check.message, 160))}</span>'
    return line


def earlier_failure_line(prop: str, counts: collections.Counter[str]) -> str:
    """A property that failed only in examples not listed as rows (a Hypothesis test's
    earlier examples, kept in short form): counted, with no case to show."""
    bad = counts["fail"] + counts["error"]
    return (
        f'<span class="iv-prop">{html.escape(prop)}</span> failed on <b>{bad}</b> of '
        f"{sum(counts.values())} cases, all of them earlier examples of a Hypothesis test "
        "(counted, not listed: the test's row is its last example, on which it passed)."
    )


def _clip(text: str, width: int = _GOT_WIDTH) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def counts_table(title: str, label: str, rows: dict[str, collections.Counter[str]]) -> str:
    """A small HTML table: one line per key with its pass/fail/degenerate/error counts."""
    order = ("pass", "fail", "degenerate", "error")
    heads = "".join(f'<th class="st-{s}">{s}</th>' for s in order)
    body = []
    for key in sorted(rows, key=lambda k: (-(rows[k]["fail"] + rows[k]["error"]), k)):
        counts = rows[key]
        cells = "".join(
            f'<td class="{"st-" + s if counts[s] else "iv-zero"}">{counts[s]}</td>' for s in order
        )
        body.append(f"<tr><th>{html.escape(key)}</th>{cells}</tr>")
    return (
        f'<table class="iv-counts" data-summary="{html.escape(label)}">'
        f"<caption>{html.escape(title)}</caption>"
        f"<thead><tr><th>{html.escape(label)}</th>{heads}</tr></thead>"
        f"<tbody>{''.join(body)}</tbody></table>"
    )


def render(
    summary: Summary,
    target: str,
    assignment: str = "",
    gallery: Sequence[tuple[str, str]] = (),
    max_passing: int | None = None,
    figures: Sequence[tuple[str, str]] = (),
    max_rows: int | None = None,
) -> dict[str, list[str]]:
    """HTML for pytest-html's ``prefix``, ``summary`` and ``postfix`` lists.

    Args:
        summary: the counts.
        target: the name of the implementation under test (escaped here).
        assignment: "implicit" or "fixed_point", shown beside the name.
        gallery: (caption, base64 PNG) pairs of passing cases to show.
        max_passing: the passing-row limit, to explain rows left out.
        max_rows: the limit on other rows, likewise.
        figures: (caption, base64 PNG) pairs shown beside the verdict: the
            smallest failing case of the first failing properties.

    Returns:
        ``{"prefix": [...], "summary": [...], "postfix": [...]}``.
    """
    who = f"{target} ({assignment})" if assignment else target
    top = headline(summary, who)
    if figures:
        thumbs = "".join(figure(png, caption) for caption, png in figures)
        top = f'<div class="iv-top"><div>{top}</div><div class="iv-thumbs">{thumbs}</div></div>'
    prefix = [STYLE, top]
    tables = [
        counts_table("Checks per property", "property", summary.properties),
        counts_table("Cases per family", "family", summary.families),
    ]
    block = [f'<div class="iv-tables">{"".join(tables)}</div>']
    note = _limits_note(summary, max_passing, max_rows)
    if note:
        block.append(note)
    postfix = [gallery_html(gallery)] if gallery else []
    return {"prefix": prefix, "summary": block, "postfix": postfix}


def _limits_note(summary: Summary, max_passing: int | None, max_rows: int | None) -> str:
    notes = []
    if summary.earlier:
        notes.append(
            "A Hypothesis test is one row: its last example, or the shrunk one it failed on; "
            f"the {summary.earlier} examples those tests ran before (until a first failure) "
            "are counted above, not listed."
        )
    if summary.hidden:
        words = {"pass": "passing", "fail": "failing", "error": "erroring"}
        left = ", ".join(f"{n} {words.get(s, s)}" for s, n in sorted(summary.hidden.items()))
        limits = [f"{max_passing} passing"] if max_passing is not None else []
        limits += [f"{max_rows} other"] if max_rows is not None else []
        limit = f" (at most {' and '.join(limits)} rows are listed)" if limits else ""
        notes.append(f"Not listed below but counted above: {left} cases{limit}.")
    return f'<p class="iv-hidden">{" ".join(notes)}</p>' if notes else ""


def gallery_html(items: Sequence[tuple[str, str]]) -> str:
    """Thumbnails of passing cases, a few per family."""
    figures = "".join(figure(png, caption) for caption, png in items)
    return (
        '<details class="iv-gallery"><summary>Gallery: passing cases, a few per family</summary>'
        f"{figures}</details>"
    )


#: Our styles, put into the page with the summary (pytest-html's --css is the user's).
STYLE = """<style>
body{display:flex;flex-direction:column}
body>*{order:0}#title{order:-3}body>p:first-of-type{order:-2}.summary{order:-1}
#environment-header,#environment{order:1}#environment{align-self:flex-start}footer{order:2}
.iv-verdict{font-size:1.25em;margin:.4em 0;padding:.35em .6em;border-radius:4px}
.iv-ok{background:#e6f4ea;color:#137333}.iv-bad{background:#fce8e6;color:#a50e0e}
.iv-empty{background:#fef7e0}
.iv-failures{margin:.3em 0 .6em;padding-left:1.4em;line-height:1.5}
.iv-failures li{margin-bottom:.3em}
.iv-prop{font-weight:bold;font-family:monospace;color:#a50e0e}
.iv-hint{display:block;color:#5f6368}
.iv-tables{display:flex;gap:2em;flex-wrap:wrap;align-items:flex-start}
.iv-counts{border-collapse:collapse;font-size:.9em;margin:.3em 0}
.iv-counts caption{text-align:left;font-weight:bold;padding-bottom:.2em}
.iv-counts th,.iv-counts td{padding:.1em .6em;border-bottom:1px solid #ddd;text-align:right}
.iv-counts tbody th{text-align:left;font-family:monospace;font-weight:normal}
.iv-zero{color:#bbb}
td.st-fail,th.st-fail,span.st-fail{color:#a50e0e;font-weight:bold}
td.st-error,th.st-error,span.st-error{color:#b06000;font-weight:bold}
td.st-degenerate,th.st-degenerate,span.st-degenerate{color:#7b1fa2;font-weight:bold}
td.st-pass,th.st-pass,span.st-pass{color:#137333}
span.status{padding:0 .3em;border-radius:3px}
span.status.st-degenerate{background:#f3e5f5}span.status.st-fail{background:#fce8e6}
.iv-top{display:flex;gap:1em;align-items:flex-start}.iv-top>div:first-child{flex:1}
.iv-thumbs{display:flex;gap:.5em}.iv-thumbs figure{margin:0;font-size:.75em;text-align:center}
.iv-thumbs figcaption{max-width:330px}
.iv-gallery figure{display:inline-block;margin:.3em;text-align:center;font-size:.8em}
.iv-gallery figcaption{max-width:240px;word-break:break-all}
.iv-checks{border-collapse:collapse;font-size:.9em;margin:.4em 0}
.iv-checks th,.iv-checks td{border:1px solid #ddd;padding:.15em .4em;text-align:left;
vertical-align:top}
.iv-checks td.msg{max-width:40em}
.iv-repro pre,.iv-stats pre{background:#f5f5f5;padding:.4em;white-space:pre-wrap;
font-size:.85em;max-height:24em;overflow:auto}
#results-table td.col-curve code{font-size:.9em}
</style>"""
