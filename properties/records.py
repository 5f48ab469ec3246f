"""Plain value records that flow strategies -> oracle -> probe -> checks -> reports.

Every record here is a frozen dataclass of strings, floats, ints and tuples: it
can be written to JSON (``to_json``) and read back (``from_json``), shipped to a
worker process, stored in a frozen grading set and shown in a report.  Numbers
that must be exact (true roots, oracle derivatives) are decimal strings with at
least 30 significant digits; numbers that are measurements are floats.

A case's request to the code under test is built by ``properties.wire.wire_for``
(format: ``properties.probe_wire``): only torch-evaluable Python source and
floats, no sympy, so that a worker that cannot import this package can still
build ``F`` or ``f``.
"""

from __future__ import annotations

import dataclasses
import json
import math
from typing import Any, Literal

Status = Literal["pass", "fail", "degenerate", "error", "not_claimed"]

#: Cases whose degeneracy measure is below this are flagged "degenerate":
#: reported apart, never counted as a pass or a fail of the value checks.
#: For curves the measure is |F_y| / ||grad F|| (the sine of the angle between
#: the tangent and the vertical); for maps, the smallest singular value of I - f_x.
DEGENERACY_THRESHOLD = 1e-2


@dataclasses.dataclass(frozen=True)
class Curve:
    """An implicit curve ``F(x, y) = 0``.

    Attributes:
        family: "circle", "ellipse", "polynomial" or "user".
        source: sympy-parsable text of ``F`` in the symbols ``x`` and ``y``.
        torch_source: the same expression as Python source over ``x``, ``y``
            and the module ``torch`` (e.g. ``"x**2 + y**2 - 1"``,
            ``"torch.sin(x) - y"``), evaluable on tensors of any shape.
        params: display parameters, e.g. ``(("r", "1"), ("cx", "0"))``.
    """

    family: str
    source: str
    torch_source: str
    params: tuple[tuple[str, str], ...] = ()


@dataclasses.dataclass(frozen=True)
class CurveCase:
    """A point on a curve, with the exact answers an implementation must give.

    Invariant: ``F(x, y_true) == 0`` to >= 30 digits, ``y0`` lies in the basin
    of ``y_true`` (closer to it than to any other root at this ``x``).

    Attributes:
        curve: the curve.
        x: the point, as an exact decimal string.
        y_true: the true root near ``y0`` (>= 30 significant digits).
        y0: the start handed to the implementation.
        dy_dx: oracle ``-F_x / F_y`` at ``(x, y_true)`` ("nan" if F_y == 0).
        d2y_dx2: oracle second derivative at ``(x, y_true)`` ("nan" if F_y == 0).
        degeneracy: ``|F_y| / ||grad F||`` at ``(x, y_true)``.
        condition: ``||grad F|| / |F_y|`` clipped to 1e16: scales the
            tolerance of the comparison with the true derivative.
    """

    curve: Curve
    x: str
    y_true: str
    y0: float
    dy_dx: str
    d2y_dx2: str
    degeneracy: float
    condition: float
    kind: Literal["curve"] = "curve"

    @property
    def degenerate(self) -> bool:
        return self.degeneracy < DEGENERACY_THRESHOLD

    @property
    def family(self) -> str:
        return self.curve.family

    def text(self) -> str:
        """One line that identifies the case, paste-able into a test."""
        return f"F(x, y) = {self.curve.source} at x = {self.x}, y0 = {self.y0!r}"


@dataclasses.dataclass(frozen=True)
class MapCase:
    """A fixed-point problem ``x* = f(a)(x*)`` with its exact answers.

    ``x`` has ``m`` components and ``a`` has ``k``; when ``scalar`` is true,
    ``m == k == 1`` and the implementation is given 0-d tensors.

    Attributes:
        family: "curve-map" (``g(y) = y - alpha F(x, y)`` from a curve),
            "sqrt" (Newton's square-root map) or "coupled" (vector map with a
            non-symmetric ``f_x``).
        f_source: one torch-evaluable Python expression per component of
            ``f(a)(x)``, over ``a``, ``x`` (tensors of shape ``(k,)``/``(m,)``,
            indexed ``a[0]``, ``x[1]``; 0-d when ``scalar``) and ``torch``.
        source: the same map as sympy-parsable text, for people.
        a: parameter values (exact decimal strings).
        x0: the start.
        x_star: the fixed point (>= 30 significant digits).
        dx_da: oracle ``(I - f_x)^-1 f_a`` at ``x*``, row-major ``m x k``.
        rho: spectral radius of ``f_x`` at ``x*`` (contraction rate; its sign
            is kept when ``m == 1``).
        sigma_min: smallest singular value of ``I - f_x`` at ``x*``.
        tol: the ``tol`` handed to the implementation (distance is the
            Euclidean norm of ``x - x_prev``).
        dtype: "float64" or "float32".
    """

    family: str
    f_source: tuple[str, ...]
    source: str
    a: tuple[str, ...]
    x0: tuple[float, ...]
    x_star: tuple[str, ...]
    dx_da: tuple[str, ...]
    rho: float
    sigma_min: float
    tol: float
    dtype: str = "float64"
    scalar: bool = False
    kind: Literal["map"] = "map"

    @property
    def m(self) -> int:
        return len(self.x_star)

    @property
    def k(self) -> int:
        return len(self.a)

    @property
    def degeneracy(self) -> float:
        return self.sigma_min

    @property
    def degenerate(self) -> bool:
        return self.sigma_min < DEGENERACY_THRESHOLD

    def text(self) -> str:
        return f"f(a)(x) = {self.source} with a = {list(self.a)}, x0 = {list(self.x0)}"


@dataclasses.dataclass(frozen=True)
class VectorRootCase:
    """A vector root problem ``F(x, y) = 0``, ``y`` in R^m, ``x`` in R^n, with its exact answers.

    Invariant: ``F(x, y_true) == 0`` to >= 30 digits; ``F_y`` (``m x m``) is
    invertible there and ``y0`` lies in the basin of ``y_true``.  Built by
    ``properties.vector_roots`` (its oracle and families).

    Attributes:
        family: e.g. "linear" (``A y + B x - c``) or "coupled" (cubic, non-symmetric ``F_y``).
        components: sympy-parsable text of each ``F_i`` in ``x0..``, ``y0..``.
        F_source: the same components as torch source over ``x[k]``, ``y[i]``, ``torch``.
        x: the point, exact decimal strings (``n`` of them).
        y0: the start (``m`` floats).
        y_true: the root (>= 30 significant digits).
        dy_dx: oracle ``-F_y^-1 F_x`` at the root, row-major ``m x n``.
        weights: ``w`` (``m`` floats) of the second-order property.
        d2y: oracle ``d2(w^T y)/dx2`` at the root, row-major ``n x n``.
        sigma_min: smallest singular value of ``F_y`` at the root.
        condition: ``(1 + ||[F_x F_y]||_2) / sigma_min``: scales the tolerances.
        symmetric: whether ``F_y`` is symmetric at the root (a transposed Jacobian
            is then invisible).
        dtype: "float64".
    """

    family: str
    components: tuple[str, ...]
    F_source: tuple[str, ...]
    x: tuple[str, ...]
    y0: tuple[float, ...]
    y_true: tuple[str, ...]
    dy_dx: tuple[str, ...]
    weights: tuple[float, ...]
    d2y: tuple[str, ...]
    sigma_min: float
    condition: float
    symmetric: bool
    dtype: str = "float64"
    kind: Literal["vector"] = "vector"

    @property
    def m(self) -> int:
        return len(self.y_true)

    @property
    def n(self) -> int:
        return len(self.x)

    @property
    def source(self) -> str:
        return "(" + ", ".join(self.components) + ")"

    @property
    def degeneracy(self) -> float:
        """``1 / condition``: the analogue of a curve's ``|F_y| / ||grad F||``."""
        return 1.0 / self.condition

    @property
    def degenerate(self) -> bool:
        return self.degeneracy < DEGENERACY_THRESHOLD

    def text(self) -> str:
        return f"F(x, y) = {self.source} at x = {list(self.x)}, y0 = {list(self.y0)}"


Case = CurveCase | MapCase


@dataclasses.dataclass(frozen=True)
class CheckResult:
    """The outcome of one check on one case: what the reports and grades read.

    Attributes:
        name: the property, e.g. "root", "dy_dx_formula", "dy_dx_true".
        status: "pass", "fail", "degenerate" (flagged, counted as neither) or
            "error" (the implementation raised or returned something unusable).
        error: the measured error (absolute or relative, as ``message`` says),
            NaN when not measured.
        tol: the tolerance it was compared with, NaN when none.
        family: the case's family.
        case: ``case.text()``: paste-able.
        message: a sentence a student can act on.
        hint: the likely mistake, when the evidence points to one, else "".
        expected: the oracle value, as text.
        got: what the implementation returned, as text (untrusted: escape it).
        degeneracy: the case's degeneracy measure.
        details: extra (name, value) pairs for report columns and plots.
        diagnosis: codes of ``properties.diagnosis.CODES`` naming the confirmed
            cause of a failure (``("unknown",)`` when none was confirmed); empty for
            a check that did not fail, or that was never explained.
    """

    name: str
    status: Status
    error: float = math.nan
    tol: float = math.nan
    family: str = ""
    case: str = ""
    message: str = ""
    hint: str = ""
    expected: str = ""
    got: str = ""
    degeneracy: float = math.nan
    details: tuple[tuple[str, Any], ...] = ()
    diagnosis: tuple[str, ...] = ()

    @property
    def passed(self) -> bool:
        return self.status == "pass"


#: The ``user_properties`` keys under which a suite test records its case for
#: the report (``properties.suite.harness.record`` writes them, ``reports.outcomes``
#: reads them): the row's checks and case (JSON), and the examples a Hypothesis
#: test ran before it, in short form.
CHECKS_KEY = "implicit_checks"
CASE_KEY = "implicit_case"
EARLIER_KEY = "implicit_earlier"


def to_json(record: Any) -> str:
    """Serialise a record (or a list of records) to JSON text."""
    return json.dumps(_to_plain(record), sort_keys=True)


def _to_plain(obj: Any) -> Any:
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        plain = {f.name: _to_plain(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
        plain["__type__"] = type(obj).__name__
        return plain
    if isinstance(obj, (list, tuple)):
        return [_to_plain(v) for v in obj]
    if isinstance(obj, float) and not math.isfinite(obj):
        return repr(obj)  # "nan", "inf", "-inf": JSON has no such numbers
    return obj


_TYPES = {t.__name__: t for t in (Curve, CurveCase, MapCase, VectorRootCase, CheckResult)}
_FLOAT_FIELDS = {"y0", "degeneracy", "condition", "rho", "sigma_min", "tol", "error"}


def from_json(text: str) -> Any:
    """Inverse of ``to_json``."""
    return _from_plain(json.loads(text))


def _from_plain(obj: Any) -> Any:
    if isinstance(obj, dict) and "__type__" in obj:
        cls = _TYPES[obj["__type__"]]
        kwargs = {}
        for f in dataclasses.fields(cls):
            if f.name not in obj:
                continue
            value = _from_plain(obj[f.name])
            if f.name in _FLOAT_FIELDS and isinstance(value, str):
                value = float(value)
            elif isinstance(value, list):
                value = tuple(tuple(v) if isinstance(v, list) else v for v in value)
            kwargs[f.name] = value
        return cls(**kwargs)
    if isinstance(obj, list):
        return [_from_plain(v) for v in obj]
    return obj
