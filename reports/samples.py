"""Small synthetic cases and check results, for the report's own tests and demos.

These stand in for the property suite where a test needs a report quickly and
deterministically: unit-circle cases with exact answers, and the checks a
correct implementation or one with a sign error in ``dy/dx`` would get.  Only
the reports package's tests, benchmarks and screenshots use them.
"""

from __future__ import annotations

import mpmath

from properties.records import (
    CASE_KEY,
    CHECKS_KEY,
    DEGENERACY_THRESHOLD,
    CheckResult,
    Curve,
    CurveCase,
    MapCase,
    to_json,
)

CIRCLE = Curve("circle", "x**2 + y**2 - 1", "x**2 + y**2 - 1", (("r", "1"),))
mpmath.mp.dps = 40


def _digits(value: mpmath.mpf) -> str:
    return mpmath.nstr(value, 32, min_fixed=-5, max_fixed=5)


def circle_case(x: str, curve: Curve = CIRCLE, radius: str = "1") -> CurveCase:
    """The upper root of ``x**2 + y**2 = r**2`` at ``x``, with its exact answers."""
    xv, r = mpmath.mpf(x), mpmath.mpf(radius)
    y = mpmath.sqrt(r**2 - xv**2)
    grad_norm = 2 * mpmath.sqrt(xv**2 + y**2)
    degeneracy = float(2 * y / grad_norm)
    return CurveCase(
        curve=curve,
        x=x,
        y_true=_digits(y),
        y0=float(y) + 0.05,
        dy_dx=_digits(-xv / y) if y else "nan",
        d2y_dx2=_digits(-(r**2) / y**3) if y else "nan",
        degeneracy=degeneracy,
        condition=min(1 / degeneracy if degeneracy else 1e16, 1e16),
    )


def curve_checks(
    case: CurveCase, sign_error: bool = False, got_text: str = ""
) -> list[CheckResult]:
    """The checks a correct implementation (or one that flips the sign of dy/dx) gets."""
    y = float(case.y_true)
    true = float(case.dy_dx)
    got = -true if sign_error else true
    error = abs(got - true)
    tol = 1e-8 * max(1.0, case.condition)
    degenerate = case.degeneracy < DEGENERACY_THRESHOLD
    value_status = "degenerate" if degenerate else "pass"
    grad_status = "degenerate" if degenerate else ("fail" if error > tol else "pass")
    common = {"family": case.family, "case": case.text(), "degeneracy": case.degeneracy}
    return [
        CheckResult("residual", value_status, 1e-16, 1e-10, details=(("y", y),), **common),
        CheckResult(
            "root", value_status, 2e-16, 1e-10, expected=case.y_true, got=repr(y), **common
        ),
        CheckResult(
            "dy_dx_true",
            grad_status,
            error,
            tol,
            message=(f"dy/dx = {got!r}, expected {true!r}" if grad_status == "fail" else "ok"),
            hint="gradient of the opposite sign" if grad_status == "fail" else "",
            expected=case.dy_dx,
            got=got_text or repr(got),
            details=(("dy_dx", got),),
            **common,
        ),
    ]


def map_case() -> MapCase:
    """A one-dimensional contraction ``x = 0.6 cos(x) + 0.3 a`` at ``a = 0.5``."""
    a = mpmath.mpf("0.5")
    x = mpmath.findroot(lambda t: 0.6 * mpmath.cos(t) + 0.3 * a - t, 0.6)
    rho = -0.6 * mpmath.sin(x)
    return MapCase(
        family="curve-map",
        f_source=("0.6*torch.cos(x) + 0.3*a",),
        source="0.6*cos(x) + 0.3*a",
        a=("0.5",),
        x0=(2.0,),
        x_star=(_digits(x),),
        dx_da=(_digits(0.3 / (1 - rho)),),
        rho=float(rho),
        sigma_min=float(1 - rho),
        tol=1e-10,
        scalar=True,
    )


def user_properties(case: CurveCase | MapCase, checks: list[CheckResult]) -> list[tuple[str, str]]:
    """The ``user_properties`` pairs the property suite records for one case."""
    return [(CHECKS_KEY, to_json(checks)), (CASE_KEY, to_json(case))]


#: A tiny stand-in for the property suite (pytester writes it as a test module):
#: unit-circle cases, a sign-error switch, one degenerate case, one map case.
FAKE_SUITE = """
import os
import pytest
from properties.records import to_json
from reports import samples

SIGN_ERROR = os.environ.get("FAKE_SIGN_ERROR") == "1"
HOSTILE = os.environ.get("FAKE_HOSTILE", "")
POINTS = os.environ.get("FAKE_POINTS", "0.5,-0.25,0.75,0.999999").split(",")


def _record(request, case, checks):
    request.node.user_properties.append(("implicit_checks", to_json(checks)))
    request.node.user_properties.append(("implicit_case", to_json(case)))
    failing = [c for c in checks if c.status in ("fail", "error")]
    assert not failing, "failing checks: " + "; ".join(
        f"{c.name}: {c.message}" for c in failing
    )
    if case.degenerate:
        pytest.skip(f"degenerate: measure {case.degeneracy:.2g}")


@pytest.mark.parametrize("x", POINTS)
def test_circle(request, x):
    case = samples.circle_case(x)
    if HOSTILE:
        print(HOSTILE)
    checks = samples.curve_checks(case, sign_error=SIGN_ERROR, got_text=HOSTILE)
    _record(request, case, checks)


def test_map(request):
    case = samples.map_case()
    from properties.records import CheckResult
    got = 0.3 if SIGN_ERROR else float(case.dx_da[0])
    error = abs(got - float(case.dx_da[0]))
    status = "fail" if error > 1e-8 else "pass"
    checks = [CheckResult("dx_da_true", status, error, 1e-8, family=case.family,
                          case=case.text(), expected=case.dx_da[0], got=HOSTILE or repr(got),
                          hint="forgot (1 - f_x)^-1" if status == "fail" else "",
                          details=(("dx_da", got),))]
    _record(request, case, checks)


def test_plain():
    assert True
"""


#: Warnings are errors in the nested pytest runs of our tests, except one that
#: only nesting causes: the outer process has already imported the plugin's
#: packages, so the inner run cannot mark them for assertion rewriting.
STRICT_WARNINGS = (
    "-W",
    "error",
    "-W",
    "ignore:Module already imported so cannot be rewritten:pytest.PytestAssertRewriteWarning",
)
