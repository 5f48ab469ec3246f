"""The plugin's hooks that shape the HTML report (registered by ``plugin.pytest_configure``).

One object per session holds the state (cases seen, rows listed, plots made).
Each hook is a few lines that call ``outcomes``, ``columns``, ``details``,
``summary`` and ``plots``; those modules do the work and are tested without
pytest.  Heavy imports (torch, matplotlib) happen only when a report is made.
"""

from __future__ import annotations

import base64
import binascii
import collections
import contextlib
import html
import os
import re
from typing import TYPE_CHECKING, Any

import pytest

from properties.assignments import TargetError, infer_assignment

if TYPE_CHECKING:
    from collections.abc import Generator

    from .outcomes import CaseOutcome
    from .summary import Summary

#: Passing cases per family shown in the gallery.
GALLERY_PER_FAMILY = 3
#: Properties whose smallest failing case is plotted beside the verdict.
TOP_FIGURES = 2
#: Our columns go right after pytest-html's "Result" column (header and rows alike).
COLUMN_POSITION = 1

_TEST_ID = re.compile(r'^<td class="col-testId">(.*)</td>$', re.DOTALL)


def target_label(path: str | None) -> str:
    """How the report names the implementation under test."""
    return os.path.basename(path) if path else "implicit (reference)"


def assignment_label(path: str | None, assignment: str | None) -> str:
    """The assignment shown beside the target's name: given, inferred (never run), or ""."""
    if assignment or not path:
        return assignment or ""
    try:
        return infer_assignment(path)
    except TargetError:  # the fixture will say why
        return ""


def runnable_nodeid(item: pytest.Item) -> str:
    """``item``'s node id with a path that works from the folder pytest ran in:
    relative when the test file lies under it, else absolute (the suite of an
    installed package, run with ``--pyargs`` from anywhere)."""
    path = item.path
    with contextlib.suppress(ValueError):  # not under it: stays absolute
        path = path.relative_to(item.config.invocation_params.dir)
    _, sep, rest = item.nodeid.partition("::")
    return f"{path.as_posix()}{sep}{rest}"


def _is_row(report: Any) -> bool:
    """The report that pytest-html shows as a test's row: the call, or a skip at setup."""
    return report.when == "call" or (report.when == "setup" and report.skipped)


class ReportHooks:
    """pytest-html hooks and the state behind them, for one session."""

    NAME = "implicit_report_hooks"

    def __init__(
        self,
        target_path: str | None,
        assignment: str | None,
        max_passing: int,
        html_enabled: bool,
        max_rows: int = 300,
        json_path: str | None = None,
    ) -> None:
        self.target_path = target_path
        self.target_name = target_label(target_path)
        self.assignment = assignment
        self.max_passing = max_passing
        self.html_enabled = html_enabled
        self.outcomes: dict[str, CaseOutcome] = {}
        self.max_rows = max_rows
        self.listed: collections.Counter[bool] = collections.Counter()  # by "is passing"
        self.hidden: dict[str, str] = {}  # node id -> status of the rows left out
        self.plots = 0  # plots attached to rows by this process
        self.json_path = json_path
        self.load_error: str | None = None  # why the target fixture failed, if it did

    # -- collecting ------------------------------------------------------------

    @pytest.hookimpl(hookwrapper=True, tryfirst=True)
    def pytest_runtest_makereport(
        self, item: pytest.Item, call: pytest.CallInfo[None]
    ) -> Generator[None, Any, None]:
        """Attach checks, plots, reproduction and Hypothesis statistics to the report.

        Runs outside Hypothesis's own wrapper (``tryfirst``), so its statistics and
        report section are already there; the extras travel with the report to an
        xdist controller.
        """
        report = (yield).get_result()
        if not self.html_enabled:
            return
        if report.when == "teardown":
            self._move_hypothesis_statistics(item, report)
        elif _is_row(report):
            outcome = self._read(item.nodeid, item.user_properties, report.outcome)
            if outcome is not None:
                report.extras = [
                    *getattr(report, "extras", []),
                    *self._extras(item, report, outcome),
                ]

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        """Remember every case (on an xdist controller too) for the rows and the summary."""
        if self.load_error is None and report.when == "setup" and report.failed:
            self.load_error = _target_error(report.longreprtext or "")
        if _is_row(report):
            outcome = self._read(report.nodeid, report.user_properties, report.outcome)
            if outcome is not None:
                self.outcomes[report.nodeid] = outcome

    @staticmethod
    def _read(nodeid: str, user_properties: Any, pytest_outcome: str) -> CaseOutcome | None:
        from .outcomes import from_user_properties

        return from_user_properties(nodeid, user_properties, pytest_outcome)

    def _extras(self, item: pytest.Item, report: Any, outcome: CaseOutcome) -> list[dict]:
        from pytest_html import extras

        from . import details, plots

        found: list[dict] = [extras.html(details.checks_table(outcome))]
        if outcome.status == "pass":
            return found
        # Every failing, erroring and degenerate row gets its plot; beyond the row
        # limit rows are left out of the table, so their plots would be too.
        if self.plots < self.max_rows:
            png = plots.case_plot(outcome.case, outcome.checks, _plot_title(outcome))
            if png is not None:
                self.plots += 1
                found.append(extras.png(png, name=f"{outcome.status}: {outcome.family}"))
        hypothesis_text = getattr(item, "hypothesis_report_information", "") or ""
        longrepr = report.longreprtext or ""
        found.append(
            extras.html(
                details.reproduce(
                    outcome,
                    self.target_path,
                    self.assignment,
                    f"{hypothesis_text}\n{longrepr}",
                    nodeid=runnable_nodeid(item),
                )
            )
        )
        return found

    @staticmethod
    def _move_hypothesis_statistics(item: pytest.Item, report: Any) -> None:
        """pytest-html 4 ignores the deprecated ``report.extra`` Hypothesis fills: move it."""
        from pytest_html import extras

        from . import details

        stale = report.__dict__.pop("extra", None) or []
        stats = getattr(item, "hypothesis_statistics", None)
        if not stats:
            stats = "\n".join(
                _decoded(e) for e in stale if str(e.get("name", "")).startswith("Hypothesis")
            )
        if stats:
            report.extras = [*getattr(report, "extras", []), extras.html(details.statistics(stats))]

    # -- pytest-html -----------------------------------------------------------

    @pytest.hookimpl(optionalhook=True)
    def pytest_html_report_title(self, report: Any) -> None:
        report.title = f"Verification report: {self.target_name}"

    @pytest.hookimpl(optionalhook=True)
    def pytest_html_results_table_header(self, cells: list[str]) -> None:
        from .columns import header_cells

        cells[COLUMN_POSITION:COLUMN_POSITION] = header_cells()

    @pytest.hookimpl(optionalhook=True)
    def pytest_html_results_table_row(self, report: Any, cells: list[str]) -> None:
        """Fill our columns; leave out passing rows beyond ``--report-max-passing``."""
        from .columns import empty_row_cells, row_cells

        # pytest-html does not escape the test id, and ids carry parameter text.
        cells[:] = [_escape_test_id(cell) for cell in cells]
        outcome = self.outcomes.get(report.nodeid)
        if outcome is None or not _is_row(report):
            cells[COLUMN_POSITION:COLUMN_POSITION] = empty_row_cells()
            return
        if self._hide(report.nodeid, outcome.status):
            cells.clear()  # pytest-html then leaves the row out
            return
        cells[COLUMN_POSITION:COLUMN_POSITION] = row_cells(outcome)

    def _hide(self, nodeid: str, status: str) -> bool:
        """Whether a row is left out: beyond the passing-row or the other-row limit."""
        if nodeid in self.hidden:
            return True
        passing = status == "pass"
        if self.listed[passing] >= (self.max_passing if passing else self.max_rows):
            self.hidden[nodeid] = status
            return True
        self.listed[passing] += 1
        return False

    @pytest.hookimpl(optionalhook=True)
    def pytest_html_results_summary(
        self, prefix: list[str], summary: list[str], postfix: list[str], session: pytest.Session
    ) -> None:
        """Put the verdict, the per-property and per-family counts and the gallery on top."""
        from . import summary as summary_module

        outcomes = list(self.outcomes.values())
        counts = summary_module.summarize(
            outcomes, hidden=collections.Counter(self.hidden.values())
        )
        if self.load_error:
            prefix.append(
                '<div class="iv-verdict iv-bad">The target could not be loaded: '
                f"<code>{html.escape(self.load_error)}</code></div>"
            )
        blocks = summary_module.render(
            counts,
            self.target_name,
            assignment_label(self.target_path, self.assignment),
            gallery=_gallery(outcomes),
            max_passing=self.max_passing,
            max_rows=self.max_rows,
            figures=_smallest_failures(counts),
        )
        prefix.extend(blocks["prefix"])
        summary.extend(blocks["summary"])
        postfix.extend(blocks["postfix"])

    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        """Write ``--report-json`` (on the xdist controller, or the only process)."""
        if self.json_path is None or hasattr(session.config, "workerinput"):
            return
        from . import results
        from . import summary as summary_module

        counts = summary_module.summarize(
            self.outcomes.values(), hidden=collections.Counter(self.hidden.values())
        )
        document = results.results(
            counts,
            self.target_name,
            assignment_label(self.target_path, self.assignment),
            self.load_error,
        )
        results.write(self.json_path, document)


def _target_error(longrepr: str) -> str | None:
    """The message of a ``TargetError`` in a setup failure's text, if it is one."""
    for line in reversed(longrepr.splitlines()):
        _, found, message = line.partition("TargetError: ")
        if found:
            return message.strip()
    return None


def _escape_test_id(cell: str) -> str:
    match = _TEST_ID.match(cell)
    return f'<td class="col-testId">{html.escape(match.group(1))}</td>' if match else cell


def _plot_title(outcome: CaseOutcome) -> str:
    failing = outcome.failing()
    if failing:
        return f"{failing[0].name}: {failing[0].status} ({outcome.family})"
    return f"{outcome.status} ({outcome.family})"


def _decoded(extra: dict) -> str:
    content = str(extra.get("content", ""))
    try:
        return base64.b64decode(content, validate=True).decode("utf-8")
    except (binascii.Error, ValueError):
        return content


def _smallest_failures(counts: Summary) -> list[tuple[str, str]]:
    """Plots of the smallest failing case of the first failing properties."""
    from . import plots

    items: list[tuple[str, str]] = []
    shown: set[str] = set()
    for name in counts.failing_properties:
        if len(items) == TOP_FIGURES:
            break
        if name not in counts.smallest_failure:  # it failed only in earlier examples
            continue
        check, outcome = counts.smallest_failure[name]
        if outcome.nodeid in shown:  # one plot per case, captioned with its first property
            continue
        shown.add(outcome.nodeid)
        png = plots.case_plot(outcome.case, outcome.checks, f"{name}: {check.status}")
        if png is not None and outcome.case is not None:
            items.append((f"{name}: {outcome.case.text()}", png))
    return items


def _gallery(outcomes: list[CaseOutcome]) -> list[tuple[str, str]]:
    """Plots of the first few passing cases of each family: (caption, base64 PNG)."""
    from . import plots

    chosen: dict[str, list[CaseOutcome]] = {}
    for outcome in outcomes:
        picked = chosen.setdefault(outcome.family, [])
        if (
            outcome.status == "pass"
            and outcome.case is not None
            and len(picked) < GALLERY_PER_FAMILY
        ):
            picked.append(outcome)
    items = []
    for family in sorted(chosen):
        for outcome in chosen[family]:
            png = plots.case_plot(outcome.case, outcome.checks, f"pass ({family})")
            if png is not None and outcome.case is not None:
                items.append((outcome.case.text(), png))
    return items
