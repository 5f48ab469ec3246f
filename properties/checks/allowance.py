"""The error model: what a correct implementation may differ by, on this case.

Every value check compares ``error <= allowance``, and the allowance is a sum of
named terms (shown in the report, documented in docs/tolerances.md):

- ``round-off``: the dtype's relative tolerance (``RTOL``) times the case's
  conditioning (``||grad F|| / |F_y|`` for curves, ``1 / sigma_min(I - f_x)``
  for maps) times the size of the checked quantity;
- ``returned point``: what the returned point's own error explains.  A correct
  fixed-point code stops when ``distance(x, x_prev) <= tol`` and may take its
  derivatives at the previous iterate, at x* itself, or return one more map
  step: anywhere within ``r = tol + residual / sigma_min`` of the returned x.
  The term is the largest change of the closed form over that ball
  (``point_shift``), e.g. 1.9e-7 for ``tol`` = 1.3e-9 where the closed form
  moves by 146 per unit of x;
- ``Newton step``: the implicit assignment hands no tolerance, so the contract
  is a Newton iteration stopped when its step is below ``NEWTON_STEP``: its
  error is about ``|F_yy / (2 F_y)| step**2`` (quadratic convergence), which a
  correct root may keep;
- ``adjoint stop``: the backward may solve its adjoint ``u = g + f_x^T u`` by the
  same iteration, stopped when ``distance(u, u_prev) <= tol`` (HIPS autograd's
  ``fixed_point`` does): the stopped ``u`` is then within
  ``||f_x|| / sigma_min(I - f_x) * tol`` of the exact one, and each gradient row
  within ``||f_a||`` times that (``adjoint_stop``; Frobenius norms, an upper bound);
- ``root shift``: for a true-value check, how far the closed form at the
  returned (accepted) point is from the true value.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Sequence

from properties import formulas
from properties.checks.common import max_abs, max_abs_diff
from properties.records import CurveCase, MapCase

#: The step below which the contract's Newton iteration stops, per dtype.
NEWTON_STEP = {"float64": 1e-4, "float32": 3e-3}
#: Safety factor on the Newton term (higher-order terms of the expansion).
NEWTON_SAFETY = 2.0


@dataclasses.dataclass(frozen=True)
class Allowance:
    """A tolerance as a sum of named, non-negative terms."""

    terms: tuple[tuple[str, float], ...]

    @property
    def total(self) -> float:
        return sum(v for _, v in self.terms if math.isfinite(v))

    def text(self) -> str:
        """E.g. ``2.2e-08 (round-off) + 1.9e-07 (returned point)``; one term: its value."""
        shown = [(name, v) for name, v in self.terms if v > 0 and math.isfinite(v)]
        if len(shown) <= 1:
            return f"{self.total:.2g}"
        return f"{self.total:.2g} = " + " + ".join(f"{v:.2g} ({name})" for name, v in shown)

    def plus(self, name: str, value: float) -> Allowance:
        """This allowance with one more term (a non-finite or negative one counts as 0)."""
        value = value if math.isfinite(value) and value > 0 else 0.0
        return Allowance((*self.terms, (name, value)))


def point_radius(case: MapCase, residual: float, sigma: float) -> float:
    """``tol + residual / sigma``: how far from the returned x a correct code may have
    taken its derivatives (``tol`` alone when the residual is not finite)."""
    r = case.tol
    if math.isfinite(residual) and sigma > 0:
        r += residual / sigma
    return r


def largest_change(
    closed_form: Callable[[list[float]], list[list[float]]], x: Sequence[float], radius: float
) -> float:
    """The largest change of ``closed_form(x)`` when x moves by ``radius`` along an axis
    (0 for a non-positive radius or a non-finite x)."""
    if radius <= 0 or not all(math.isfinite(v) for v in x):
        return 0.0
    here = closed_form(list(x))
    worst = 0.0
    for i in range(len(x)):
        for sign in (1.0, -1.0):
            moved = list(x)
            moved[i] += sign * radius
            shift = max_abs_diff(closed_form(moved), here)
            worst = max(worst, shift if math.isfinite(shift) else 0.0)
    return worst


def point_shift(case: MapCase, x: Sequence[float], radius: float) -> float:
    """The largest change of ``(I - f_x)^-1 f_a`` when x moves by ``radius`` along an axis."""
    return largest_change(
        lambda p: formulas.map_point(case.f_source, case.a, p, case.scalar).dx_da, x, radius
    )


def _frobenius(M: Sequence[Sequence[float]]) -> float:
    return math.sqrt(sum(v * v for row in M for v in row))


def adjoint_stop(case: MapCase, at_x: formulas.MapPoint | None) -> float:
    """``tol * ||f_a|| * ||f_x|| / sigma_min(I - f_x)`` at the returned x: how far one
    gradient row of a correct backward that iterates its adjoint to ``distance <= tol``
    may be from the exact one (0 where the returned x is not finite)."""
    if at_x is None or not at_x.sigma_min > 0:
        return 0.0
    return case.tol * _frobenius(at_x.f_a) * _frobenius(at_x.f_x) / at_x.sigma_min


def map_formula(
    want: list[list[float]], sigma: float, rtol: float, shift: float, adjoint: float
) -> Allowance:
    """dx/da against the closed form at the returned x."""
    return (
        Allowance((("round-off", rtol * (1 + max_abs(want)) / sigma),))
        .plus("returned point", shift)
        .plus("adjoint stop", adjoint)
    )


def map_true(
    want: list[list[float]],
    sigma: float,
    rtol: float,
    root_shift: float,
    shift: float,
    adjoint: float,
) -> Allowance:
    """dx/da against the true value at x*."""
    return (
        Allowance((("round-off", rtol * (1 + max_abs(want)) / sigma),))
        .plus("root shift", root_shift)
        .plus("returned point", shift)
        .plus("adjoint stop", adjoint)
    )


def map_upstream(
    want: list[float], v: Sequence[float], sigma: float, rtol: float, shift: float, adjoint: float
) -> Allowance:
    """``grad(x, a, v)`` against ``v^T`` times the rows of another call: each of the
    ``1 + sum |v_i|`` solves involved may sit anywhere the returned point allows and
    stop its adjoint at ``tol``."""
    weight = sum(abs(t) for t in v)
    return (
        Allowance((("round-off", 10 * rtol * (1 + max(map(abs, want), default=0.0)) / sigma),))
        .plus("returned point", 2 * weight * shift)
        .plus("adjoint stop", (1 + weight) * adjoint)
    )


def curve_root(case: CurveCase, dtype: str, rtol: float, point: formulas.CurvePoint) -> Allowance:
    """y against the true root: round-off plus the contract's Newton step."""
    y_true = float(case.y_true)
    base = Allowance((("round-off", rtol * case.condition * (1 + abs(y_true))),))
    if point.F_y == 0 or not math.isfinite(point.F_yy):
        return base
    K = abs(point.F_yy / (2 * point.F_y))
    step = NEWTON_STEP.get(dtype, NEWTON_STEP["float64"])
    return base.plus(f"Newton step {step:g}", NEWTON_SAFETY * K * step**2)
