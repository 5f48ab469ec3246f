"""The report's extra, sortable columns: header and row cells as HTML strings.

pytest-html 4 matches ``<th class="sortable" data-column-type="NAME">`` with
``<td class="col-NAME">`` by position, and sorts on the cell's inner HTML *as
text*.  So that numbers sort as numbers, every numeric cell starts with a
hidden, order-preserving key (``sort_key``).  Every cell is escaped: a case's
text is ours, but nothing here should rely on that.
"""

from __future__ import annotations

import html
import math

from properties.records import CheckResult, CurveCase, MapCase, VectorRootCase

from .outcomes import STATUSES, CaseOutcome, numeric_detail

#: (column name, header label, tooltip).  Names are ``\\w+`` (pytest-html's regex)
#: and avoid the keys pytest-html already uses in a row ("result", "duration", ...).
COLUMNS: tuple[tuple[str, str, str], ...] = (
    ("family", "Family", "curve or map family"),
    ("curve", "Curve", "F(x, y) = 0, or the map f(a)(x)"),
    ("point", "Point", "x for curves, a for maps"),
    ("residual", "|F|", "residual |F(x, y)| at the returned y (or |f(x) - x|)"),
    ("root_error", "Root error", "|y - y_true| (or |x - x*|)"),
    ("grad_error", "Gradient error", "worst gradient check: error (tolerance in the tooltip)"),
    ("degeneracy", "Degeneracy", "|F_y| / |grad F| (maps: smallest singular value of I - f_x)"),
    ("status", "Status", "fail / error / degenerate / pass (degenerate is its own status)"),
)

RESIDUAL_CHECKS = ("residual",)
ROOT_CHECKS = ("root", "fixed_point", "x_star")
GRADIENT_PREFIXES = ("dy_dx", "dx_da", "d2y", "grad", "upstream", "weighted", "jvp", "vjp")

_CURVE_WIDTH = 40
_DIGITS = str.maketrans("0123456789", "9876543210")


def sort_key(value: float) -> str:
    """A string whose text order is the numeric order of ``value`` (NaN last).

    Examples:
        ``sort_key(-2) < sort_key(-1e-3) < sort_key(0) < sort_key(1e-9) < sort_key(5)``.
    """
    if math.isnan(value):
        return "9"
    if value == 0:
        return "2"
    if math.isinf(value):
        return "4" if value > 0 else "0"
    key = _positive_key(abs(value))
    return "3" + key if value > 0 else "1" + key.translate(_DIGITS)


def _positive_key(value: float) -> str:
    exponent = math.floor(math.log10(value))
    mantissa = value / 10.0**exponent
    if mantissa >= 10.0:  # log10 rounding
        exponent, mantissa = exponent + 1, mantissa / 10.0
    mantissa = min(max(mantissa, 1.0), 9.999999999)
    return f"{exponent + 400:03d}{mantissa:.9f}".replace(".", "")


def fmt(value: float) -> str:
    """Short text for a measured number: ``1.2e-05``, ``0``, ``nan``."""
    if math.isnan(value):
        return "–"
    if value == 0:
        return "0"
    return f"{value:.2g}" if 1e-3 <= abs(value) < 1e4 else f"{value:.1e}"


def header_cells() -> list[str]:
    """The ``<th>`` cells to append to pytest-html's header, in ``COLUMNS`` order."""
    return [
        f'<th class="sortable" data-column-type="{name}" title="{html.escape(tip)}">'
        f"{html.escape(label)}</th>"
        for name, label, tip in COLUMNS
    ]


def empty_row_cells() -> list[str]:
    """Cells for a row that is not a property test: same count as the header."""
    return [f'<td class="col-{name}"></td>' for name, _, _ in COLUMNS]


def row_cells(outcome: CaseOutcome) -> list[str]:
    """The ``<td>`` cells of one case, in ``COLUMNS`` order (all text escaped)."""
    case = outcome.case
    cells = {
        "family": _text_cell("family", outcome.family),
        "curve": _curve_cell(case),
        "point": _point_cell(case),
        "residual": _check_cell("residual", _first(outcome, RESIDUAL_CHECKS), outcome, "residual"),
        "root_error": _check_cell(
            "root_error", _first(outcome, ROOT_CHECKS), outcome, "root_error"
        ),
        "grad_error": _check_cell("grad_error", _worst_gradient(outcome.checks), outcome, ""),
        "degeneracy": _degeneracy_cell(outcome),
        "status": _status_cell(outcome),
    }
    return [cells[name] for name, _, _ in COLUMNS]


def _first(outcome: CaseOutcome, names: tuple[str, ...]) -> CheckResult | None:
    return outcome.check(*names)


def _worst_gradient(checks: tuple[CheckResult, ...]) -> CheckResult | None:
    grads = [c for c in checks if c.name.startswith(GRADIENT_PREFIXES)]
    if not grads:
        return None
    rank = {s: i for i, s in enumerate(STATUSES)}

    def badness(c: CheckResult) -> tuple[int, bool, float]:
        # Worst status first; among equals, a measured error beats none (NaN), larger first.
        excess = c.error / c.tol if c.tol and math.isfinite(c.tol) else c.error
        return (rank.get(c.status, len(rank)), math.isnan(excess), -abs(excess))

    return min(grads, key=badness)


def _text_cell(name: str, text: str, title: str = "") -> str:
    title_attr = f' title="{html.escape(title)}"' if title else ""
    return f'<td class="col-{name}"{title_attr}>{html.escape(text)}</td>'


def _curve_cell(case: CurveCase | MapCase | None) -> str:
    if case is None:
        return _text_cell("curve", "")
    source = case.curve.source if isinstance(case, CurveCase) else case.source
    short = source if len(source) <= _CURVE_WIDTH else source[: _CURVE_WIDTH - 1] + "…"
    # Sort by length first: the simplest curve comes first.
    key = f"{len(source):05d}"
    return (
        f'<td class="col-curve" title="{html.escape(source)}">'
        f"<span hidden>{key}</span><code>{html.escape(short)}</code></td>"
    )


def _point_cell(case: CurveCase | MapCase | None) -> str:
    if case is None:
        return _text_cell("point", "")
    if isinstance(case, CurveCase):
        value, text = _float(case.x), f"x = {_short_decimal(case.x)}"
    elif isinstance(case, VectorRootCase):
        value = _float(case.x[0]) if case.x else math.nan
        text = "x = " + ", ".join(_short_decimal(v) for v in case.x)
    else:
        value = _float(case.a[0]) if case.a else math.nan
        text = "a = " + ", ".join(_short_decimal(a) for a in case.a)
    return (
        f'<td class="col-point" title="{html.escape(case.text())}">'
        f"<span hidden>{sort_key(value)}</span>{html.escape(text)}</td>"
    )


def _check_cell(name: str, check: CheckResult | None, outcome: CaseOutcome, detail: str) -> str:
    if check is None:
        value = numeric_detail(outcome.checks, detail) if detail else None
        if value is None:
            return f'<td class="col-{name}"><span hidden>9</span></td>'
        return f'<td class="col-{name}"><span hidden>{sort_key(value)}</span>{fmt(value)}</td>'
    title = f"{check.name}: {check.status}, error {fmt(check.error)}, tolerance {fmt(check.tol)}"
    return (
        f'<td class="col-{name}" title="{html.escape(title)}">'
        f'<span hidden>{sort_key(check.error)}</span><span class="st-{html.escape(check.status)}">'
        f"{html.escape(fmt(check.error))}</span></td>"
    )


def _degeneracy_cell(outcome: CaseOutcome) -> str:
    value = outcome.case.degeneracy if outcome.case is not None else math.nan
    if math.isnan(value):
        value = next((c.degeneracy for c in outcome.checks if not math.isnan(c.degeneracy)), value)
    return (
        f'<td class="col-degeneracy"><span hidden>{sort_key(value)}</span>'
        f"{html.escape(fmt(value))}</td>"
    )


def _status_cell(outcome: CaseOutcome) -> str:
    status = outcome.status
    order = STATUSES.index(status)
    failing = ", ".join(c.name for c in outcome.failing())
    title = f"failed: {failing}" if failing else status
    return (
        f'<td class="col-status" title="{html.escape(title)}"><span hidden>{order}</span>'
        f'<span class="status st-{status}">{status}</span></td>'
    )


def _float(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        return math.nan


def _short_decimal(text: str) -> str:
    """``"0.500000000000000000000000000000"`` -> ``"0.5"``; long decimals to 6 digits."""
    value = _float(text)
    if math.isnan(value):
        return text[:12]
    return f"{value:.6g}"
