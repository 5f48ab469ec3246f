"""The HTML shown under a row when it is expanded: checks, reproduction, statistics.

Everything here goes into pytest-html ``extras.html``, which pytest-html does
NOT escape; so every piece of text is passed through ``html.escape``, and the
text that can come from the code under test (``got``, ``message``, exception
text, printed output) is never trusted.
"""

from __future__ import annotations

import html
import re
import shlex

from properties.records import CurveCase, MapCase, VectorRootCase

from .columns import fmt
from .outcomes import CaseOutcome

#: Lines of Hypothesis's report worth repeating under "how to reproduce"; an example's
#: call continues over the following lines up to its closing parenthesis.
_HYPOTHESIS_LINES = re.compile(
    r"(Falsifying|Failing test case|reproduce_failure|hypothesis-seed|@seed\(|Highest target)"
)
_EXAMPLE_START = re.compile(r"(Falsifying example|Failing test case): \S+\($")
_PYTEST_PREFIX = re.compile(r"^E(?:   |\s*$)")


def checks_table(outcome: CaseOutcome) -> str:
    """A table of every check on the case: property, status, error, tolerance, values, message."""
    rows = []
    for check in sorted(outcome.checks, key=lambda c: (c.status == "pass", c.name)):
        message = html.escape(check.message)
        if check.hint:
            message += f"<br/><i>Likely mistake: {html.escape(check.hint)}</i>"
        rows.append(
            "<tr>"
            f"<td><code>{html.escape(check.name)}</code></td>"
            f'<td class="st-{html.escape(check.status)}">{html.escape(check.status)}</td>'
            f"<td>{html.escape(fmt(check.error))}</td><td>{html.escape(fmt(check.tol))}</td>"
            f"<td><code>{html.escape(check.expected)}</code></td>"
            f"<td><code>{html.escape(check.got)}</code></td>"
            f'<td class="msg">{message}</td>'
            "</tr>"
        )
    return (
        '<table class="iv-checks"><thead><tr><th>property</th><th>status</th><th>error</th>'
        "<th>tolerance</th><th>expected</th><th>got</th><th>message</th></tr></thead>"
        f"<tbody>{''.join(rows)}</tbody></table>"
    )


def reproduce(
    outcome: CaseOutcome,
    target_path: str | None = None,
    assignment: str | None = None,
    hypothesis_text: str = "",
    nodeid: str | None = None,
) -> str:
    """How to run this case again: the pytest command, the case as text, a snippet.

    Args:
        outcome: the case.
        target_path: ``--target`` of the run (None: the reference).
        assignment: ``--assignment`` of the run, if given.
        hypothesis_text: Hypothesis's report section (falsifying example, seed,
            ``@reproduce_failure`` blob), if any; only its relevant lines are kept.
        nodeid: the test as pytest accepts it from where it was run (default:
            ``outcome.nodeid``, relative to pytest's rootdir).
    """
    command = ["pytest", nodeid or outcome.nodeid]
    if target_path:
        command += ["--target", target_path]
    if assignment:
        command += ["--assignment", assignment]
    parts = [f"<pre>{html.escape(shlex.join(command))}</pre>"]
    if outcome.case is not None:
        parts.append(f"<p>The case: <code>{html.escape(outcome.case.text())}</code></p>")
        parts.append(
            "<details><summary>as Python</summary>"
            f"<pre>{html.escape(snippet(outcome.case))}</pre></details>"
        )
    lines = hypothesis_lines(hypothesis_text)
    if lines:
        parts.append(f"<p>Hypothesis:</p><pre>{html.escape(chr(10).join(lines))}</pre>")
    return '<div class="iv-repro"><b>How to reproduce</b>' + "".join(parts) + "</div>"


def hypothesis_lines(text: str) -> list[str]:
    """The failing example (its whole call), seed and ``@reproduce_failure`` lines.

    Args:
        text: Hypothesis's report section and/or pytest's failure text (lines may
            carry pytest's ``E`` prefix); a block said twice is kept once.
    """
    blocks: list[list[str]] = []
    in_call = False
    for raw in text.splitlines():
        line = _PYTEST_PREFIX.sub("", raw)
        if in_call:
            blocks[-1].append(line)
            in_call = line.strip() != ")"
        elif _HYPOTHESIS_LINES.search(line):
            blocks.append([line])
            in_call = bool(_EXAMPLE_START.search(line.strip()))
    unique: list[list[str]] = []
    for block in blocks:
        if block not in unique:
            unique.append(block)
    return [line for block in unique for line in block]


def snippet(case: CurveCase | MapCase) -> str:
    """Python a student can paste into a test to run the case by hand."""
    if isinstance(case, CurveCase):
        return "\n".join(
            [
                "import torch",
                f"F = lambda x, y: {case.curve.torch_source}",
                f"x = torch.tensor({float(case.x)!r}, dtype=torch.float64, requires_grad=True)",
                f"y0 = torch.tensor({case.y0!r}, dtype=torch.float64)",
                "y = Implicit.apply(x, y0, F)  # or implicit(F, x, y0)",
                "(dy_dx,) = torch.autograd.grad(y, x)",
                f"# expected: y = {case.y_true}",
                f"#           dy/dx = {case.dy_dx}",
            ]
        )
    if isinstance(case, VectorRootCase):
        return "\n".join(
            [
                "import torch",
                "F = lambda x, y: torch.stack([" + ", ".join(case.F_source) + "])",
                f"x = torch.tensor({[float(v) for v in case.x]!r}, dtype=torch.float64, "
                "requires_grad=True)",
                f"y0 = torch.tensor({list(case.y0)!r}, dtype=torch.float64)",
                "y = vector_root(F, x, y0)",
                "# dy/dx: torch.autograd.functional.jacobian(lambda x: vector_root(F, x, y0), x)",
                f"# expected: y = {list(case.y_true)}",
                f"#           dy/dx = {list(case.dy_dx)} (row-major {case.m} x {case.n})",
            ]
        )
    if case.scalar:
        body = case.f_source[0]
        a_value = repr(float(case.a[0]))
        x0_value = repr(case.x0[0])
    else:
        body = "torch.stack([" + ", ".join(case.f_source) + "])"
        a_value = repr([float(a) for a in case.a])
        x0_value = repr(list(case.x0))
    return "\n".join(
        [
            "import torch",
            f"f = lambda a: lambda x: {body}",
            f"a = torch.tensor({a_value}, dtype=torch.{case.dtype}, requires_grad=True)",
            f"x0 = torch.tensor({x0_value}, dtype=torch.{case.dtype})",
            "distance = lambda x, x_prev: torch.linalg.norm(x - x_prev)",
            f"x = fixed_point(f, a, x0, distance, {case.tol!r})",
            "# gradient: torch.autograd.grad(x.sum(), a) (one row of dx*/da per output)",
            f"# expected: x* = {list(case.x_star)}",
            f"#           dx*/da = {list(case.dx_da)} (row-major {case.m} x {case.k})",
        ]
    )


def statistics(text: str) -> str:
    """Hypothesis statistics, inline (a text extra would be a data: link Chrome opens blank)."""
    return (
        '<details class="iv-stats" open><summary>Hypothesis statistics</summary>'
        f"<pre>{html.escape(text)}</pre></details>"
    )


def figure(png_base64: str, caption: str) -> str:
    """An inline PNG with a caption (used for the gallery; rows use image extras)."""
    return (
        f'<figure><img alt="{html.escape(caption)}" src="data:image/png;base64,{png_base64}"/>'
        f"<figcaption>{html.escape(caption)}</figcaption></figure>"
    )
