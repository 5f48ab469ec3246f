"""Figures for the report: small PNGs (72 dpi, a few kB) as base64 text.

- ``curve_plot``: the curve ``F = 0`` near the point, the true point and the
  returned one, the true tangent (slope ``dy/dx``) and the implementation's.
- ``cobweb_plot``: for a one-dimensional map, the iteration from ``x0`` on the
  graph of ``f(a)``, the fixed point, the slope of ``f`` there (``rho``) and the
  slope the implementation's gradient implies (``1 - f_a / (dx*/da)``): a
  forgotten ``(1 - f_x)^-1`` shows as a flat line.

``F`` and ``f`` are evaluated from the case's own torch source (our text, not
the submission's); what the implementation returned is read from the checks'
``details`` (or, failing that, the first number in ``got``) and used only as a
number.
"""

from __future__ import annotations

import base64
import io
import math
import re
from collections.abc import Sequence
from typing import Any

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from PIL import Image  # noqa: E402

from properties.records import CheckResult, CurveCase, MapCase  # noqa: E402

DPI = 72
SIZE = (4.6, 2.9)  # inches: 331 x 209 pixels at 72 dpi (plot left, legend right)
COLOURS = 48  # a palette PNG: a third of the bytes of an RGBA one
GRID = 161
TRUE = "#1a73e8"
RETURNED = "#d93025"

#: Where the implementation's answers are found: ``details`` keys, then check names
#: whose ``got`` holds the number.
ROOT_KEYS = ("y", "y_returned", "x_star", "x")
ROOT_CHECKS = ("root", "residual", "fixed_point", "x_star")
GRAD_KEYS = ("dy_dx", "dy_dx_returned", "dx_da", "grad", "gradient")
GRAD_CHECKS = ("dy_dx_true", "dy_dx_formula", "dy_dx", "dx_da_true", "dx_da", "gradient")

_NUMBER = re.compile(r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?|[-+]?inf|nan", re.IGNORECASE)


def first_number(value: Any) -> float | None:
    """The first number in ``value`` (a number, a sequence of numbers, or text), else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, (list, tuple)):
        return first_number(value[0]) if value else None
    if isinstance(value, str):
        match = _NUMBER.search(value[:200])
        return float(match.group()) if match else None
    return None


def returned(checks: Sequence[CheckResult], keys: Sequence[str], names: Sequence[str]) -> float:
    """What the implementation returned, as a number (NaN when unknown)."""
    for key in keys:
        for check in checks:
            for name, value in check.details:
                if name == key and (number := first_number(value)) is not None:
                    return number
    by_name = {c.name: c for c in checks}
    for name in names:
        check = by_name.get(name)
        if check is not None and check.got and (number := first_number(check.got)) is not None:
            return number
    return math.nan


def to_base64_png(fig: Figure) -> str:
    """Render ``fig`` as a PNG at ``DPI`` and close it."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=DPI)
    plt.close(fig)
    buffer.seek(0)
    image = Image.open(buffer).convert("RGB").quantize(colors=COLOURS)
    out = io.BytesIO()
    image.save(out, format="PNG", optimize=True)
    return base64.b64encode(out.getvalue()).decode("ascii")


def _evaluate_curve(case: CurveCase, xs: np.ndarray, ys: np.ndarray) -> np.ndarray:
    # The case's own source (ours, not the submission's), evaluated on a grid.
    namespace = {"torch": torch, "x": torch.from_numpy(xs), "y": torch.from_numpy(ys)}
    with torch.no_grad():
        value = eval(case.curve.torch_source, {"__builtins__": {}}, namespace)
    if not isinstance(value, torch.Tensor):
        value = torch.full(xs.shape, float(value), dtype=torch.float64)
    return value.broadcast_to(xs.shape).numpy()


def curve_plot(case: CurveCase, checks: Sequence[CheckResult], title: str = "") -> str:
    """The curve near the point with the true and returned points and tangents.

    Args:
        case: the curve case.
        checks: its checks (the returned ``y`` and ``dy/dx`` are read from them).
        title: a short title (escaped by matplotlib's text renderer: it is not HTML).

    Returns:
        A base64 PNG.
    """
    x = float(case.x)
    y_true = float(case.y_true)
    slope_true = _float(case.dy_dx)
    y_got = returned(checks, ROOT_KEYS, ROOT_CHECKS)
    slope_got = returned(checks, GRAD_KEYS, GRAD_CHECKS)
    half = 1.0
    if math.isfinite(y_got):
        half = min(max(half, 1.3 * abs(y_got - y_true)), 50.0)
    xs, ys = np.meshgrid(
        np.linspace(x - half, x + half, GRID), np.linspace(y_true - half, y_true + half, GRID)
    )
    fig, ax = plt.subplots(figsize=SIZE)
    try:
        values = _evaluate_curve(case, xs, ys)
        ax.contour(xs, ys, values, levels=[0.0], colors="0.35", linewidths=1.2)
        ax.plot([], [], color="0.35", lw=1.2, label="F(x, y) = 0")
    except Exception as exc:  # a plot must never break the report
        ax.text(0.5, 0.95, f"F not plotted: {type(exc).__name__}", transform=ax.transAxes)
    arm = 0.55 * half
    _tangent(ax, x, y_true, slope_true, arm, TRUE, "-", f"true dy/dx = {_num(slope_true)}")
    ax.plot([x], [y_true], "o", color=TRUE, ms=6, label=f"true y = {_num(y_true)}")
    if math.isfinite(y_got):
        if math.isfinite(slope_got):
            _tangent(ax, x, y_got, slope_got, arm, RETURNED, "--", f"got dy/dx = {_num(slope_got)}")
        ax.plot([x], [y_got], "x", color=RETURNED, ms=8, mew=2, label=f"got y = {_num(y_got)}")
    ax.set_xlim(x - half, x + half)
    ax.set_ylim(y_true - half, y_true + half)
    ax.set_aspect("equal")
    _finish(ax, title or f"{case.family}: x = {_num(x)}")
    return to_base64_png(fig)


def _tangent(
    ax: Any, x: float, y: float, slope: float, arm: float, color: str, style: str, label: str
) -> None:
    if math.isnan(slope):
        return
    if math.isinf(slope) or abs(slope) > 1e6:
        ax.plot([x, x], [y - arm, y + arm], style, color=color, lw=1.5, label=label)
        return
    dx = arm / math.hypot(1.0, slope)
    ax.plot(
        [x - dx, x + dx], [y - slope * dx, y + slope * dx], style, color=color, lw=1.5, label=label
    )


def _map_callable(case: MapCase) -> Any:
    """``f(a)`` at the case's ``a`` as a function of a 1-D numpy array of ``x`` values."""
    a_values = [float(v) for v in case.a]
    a = torch.tensor(a_values[0] if case.scalar else a_values, dtype=torch.float64)
    source = case.f_source[0]

    def f(xs: np.ndarray) -> np.ndarray:
        x = torch.from_numpy(np.asarray(xs, dtype=np.float64))
        if not case.scalar:
            x = x.reshape(1, -1)  # x[0] is then the whole grid
        with torch.no_grad():
            value = eval(source, {"__builtins__": {}}, {"torch": torch, "a": a, "x": x})
        value = torch.as_tensor(value, dtype=torch.float64)
        return value.broadcast_to(torch.Size([x.numel()])).numpy().copy()

    return f


def _f_a(case: MapCase, x_star: float) -> float:
    """``∂f/∂a[0]`` at the fixed point, by autograd on the case's own map."""
    a_values = [float(v) for v in case.a]
    a = torch.tensor(
        a_values[0] if case.scalar else a_values, dtype=torch.float64, requires_grad=True
    )
    x = torch.tensor(x_star if case.scalar else [x_star], dtype=torch.float64)
    value = eval(case.f_source[0], {"__builtins__": {}}, {"torch": torch, "a": a, "x": x})
    (grad,) = torch.autograd.grad(torch.as_tensor(value).sum(), a)
    return float(grad.reshape(-1)[0])


def cobweb_plot(
    case: MapCase, checks: Sequence[CheckResult], title: str = "", steps: int = 25
) -> str:
    """Cobweb diagram of a one-dimensional map ``x -> f(a)(x)``.

    Shows the graph of ``f(a)``, the diagonal, the iteration from ``x0``, the
    fixed point ``x*`` with the slope ``rho = f_x(x*)``, the returned point, and
    the slope ``1 - f_a / g`` implied by the returned gradient ``g``: it equals
    ``rho`` exactly when ``g = f_a / (1 - rho)`` is right.

    Raises:
        ValueError: if the map is not one-dimensional.
    """
    if case.m != 1:
        raise ValueError(f"cobweb_plot needs a one-dimensional map, got m={case.m}")
    f = _map_callable(case)
    x_star = float(case.x_star[0])
    x0 = float(case.x0[0])
    x_got = returned(checks, ("x_star", "x", "y"), ("fixed_point", "x_star", "root"))
    grad_got = returned(checks, ("dx_da", "grad", "gradient"), ("dx_da_true", "dx_da", "gradient"))
    path = [x0]
    for _ in range(steps):
        nxt = float(f(np.array([path[-1]]))[0])
        if not math.isfinite(nxt) or abs(nxt - x_star) > 1e6:
            break
        path.append(nxt)
    points = [x_star, x0] + ([x_got] if math.isfinite(x_got) else [])
    lo, hi = min(points), max(points)
    pad = max(0.25 * (hi - lo), 0.5)
    lo, hi = lo - pad, hi + pad
    grid = np.linspace(lo, hi, 200)
    fig, ax = plt.subplots(figsize=SIZE)
    ax.plot(grid, grid, color="0.6", lw=1, label="x")
    ax.plot(grid, f(grid), color="0.2", lw=1.4, label="f(a)(x)")
    web_x, web_y = [path[0]], [path[0]]
    for cur, nxt in zip(path[:-1], path[1:], strict=True):
        web_x += [cur, nxt]
        web_y += [nxt, nxt]
    ax.plot(web_x, web_y, color="#9aa0a6", lw=0.8)
    arm = 0.3 * (hi - lo)
    true_grad = _float(case.dx_da[0]) if case.dx_da else math.nan
    _tangent(
        ax,
        x_star,
        x_star,
        case.rho,
        arm,
        TRUE,
        "-",
        f"true dx*/da = {_num(true_grad)}\n(slope f_x = {_num(case.rho)})",
    )
    ax.plot([x_star], [x_star], "o", color=TRUE, ms=6, label=f"x* = {_num(x_star)}")
    if math.isfinite(grad_got) and grad_got != 0:
        try:
            implied = 1.0 - _f_a(case, x_star) / grad_got
        except Exception:  # a plot must never break the report
            implied = math.nan
        _tangent(
            ax,
            x_star,
            x_star,
            implied,
            arm,
            RETURNED,
            "--",
            f"got dx*/da = {_num(grad_got)}\n(implies slope {_num(implied)})",
        )
    if math.isfinite(x_got):
        ax.plot([x_got], [x_got], "x", color=RETURNED, ms=8, mew=2, label=f"got x = {_num(x_got)}")
    ax.set_xlim(lo, hi)
    ax.set_ylim(lo, hi)
    ax.set_aspect("equal")
    _finish(ax, title or f"{case.family}: a = {', '.join(_num(float(v)) for v in case.a)}")
    return to_base64_png(fig)


def case_plot(
    case: CurveCase | MapCase | None, checks: Sequence[CheckResult], title: str = ""
) -> str | None:
    """The right figure for a case (curve plot or cobweb), or None when there is none."""
    if isinstance(case, CurveCase):
        return curve_plot(case, checks, title)
    if isinstance(case, MapCase) and case.m == 1:
        return cobweb_plot(case, checks, title)
    return None


def _finish(ax: Any, title: str) -> None:
    ax.set_title(title[:60], fontsize=8, loc="left")
    ax.tick_params(labelsize=7)
    ax.legend(
        fontsize=7,
        loc="upper left",
        bbox_to_anchor=(1.02, 1.0),
        frameon=False,
        borderaxespad=0.0,
        handlelength=1.6,
    )
    ax.figure.subplots_adjust(left=0.09, right=0.58, bottom=0.09, top=0.9)


def _num(value: float) -> str:
    if math.isnan(value):
        return "nan"
    return f"{value:.4g}"


def _float(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        return math.nan
