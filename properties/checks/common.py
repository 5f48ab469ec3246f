"""What the curve and map checks share: tolerances, hints, plain helpers, ``Judge``.

``Judge`` accumulates the ``CheckResult``s of one case (carrying its family,
text and degeneracy, and marking every value check of a degenerate case
"degenerate"); the checks asked of both kinds (shape and dtype, gradcheck, no
mutation, zero gradient w.r.t. the start) are here too.

Tolerances (``error <= tol``), with ``eps`` the machine epsilon of the dtype
(``RTOL`` below): root ``RTOL["root"] * condition * (1 + |y*|)``; formula
``RTOL["formula"] * condition_at_returned * (1 + |dy/dx|)``; true
``RTOL["true"] * condition * (1 + |dy/dx|)``; maps replace ``condition`` by
``1 / sigma_min`` and add the stopping tolerance ``tol / sigma_min`` to the root's.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from typing import Any

from properties.records import CheckResult, CurveCase, MapCase, Status

Case = CurveCase | MapCase
#: What ``probe.observe`` returned (keys: ``properties.probe_wire.OBSERVATION``).
Observation = dict[str, Any]

#: Relative tolerances per dtype (see the module docstring).
RTOL: dict[str, dict[str, float]] = {
    "float64": {"root": 1e-8, "formula": 1e-8, "true": 1e-6, "d2": 1e-6, "upstream": 1e-9},
    "float32": {"root": 1e-4, "formula": 1e-4, "true": 1e-3, "d2": 1e-3, "upstream": 1e-5},
}
#: Finite-difference agreement required besides torch's gradcheck.
FD_RTOL = 1e-3
#: Graph nodes a result may gain when the tolerance tightens (0: must not grow).
GRAPH_SLACK = 0
#: How far from the returned x* the backward may evaluate f (relative).
BACKWARD_POINT_RTOL = {"float64": 1e-8, "float32": 1e-4}

VALUE_CHECKS_EXEMPT = ("no_mutation", "degenerate_behaviour")

HINTS = {
    "sign": "opposite sign: the implicit function theorem gives dy/dx = -F_x / F_y "
    "(for maps, dx/da = +(I - f_x)^-1 f_a); check the minus sign",
    "y0": "evaluated at the start y0: evaluate F_x and F_y at the returned root y",
    "inverted": "inverted ratio: you return -F_y / F_x; dy/dx = -F_x / F_y",
    "missing_inverse": "forgot (I - f_x)^-1: your gradient equals f_a alone; solve "
    "(I - f_x)^T u = v, then return u^T f_a",
    "inverse_sign": "sign inside the inverse: your gradient is (I + f_x)^-1 f_a; the adjoint is "
    "u = v + f_x^T u, i.e. solve (I - f_x)^T u = v",
    "transposed": "transposed Jacobian: you solve (I - f_x) u = v; the vector-Jacobian "
    "product needs (I - f_x)^T u = v (right only for symmetric f_x)",
    "x0": "Jacobian at x0: evaluate f_x and f_a at the fixed point x*, not at the start x0",
    "grad_output": "ignores grad_output: multiply by the incoming gradient (vjp) instead of "
    "using ones",
    "finite_difference": "finite differences: backward evaluates f a small step from x*; "
    "take f_x and f_a at x* by autograd (their error is then round-off, not O(h))",
    "unrolled": "unrolled: the gradient is taken through the iterations; iterate under "
    "torch.no_grad() and attach the implicit gradient with a custom autograd.Function",
    "root": "inaccurate root: the gradient formula is right at your y, but y is not the root; "
    "tighten the solver's tolerance",
    "x_star": "inaccurate fixed point: the formula is right at your x, but x is not x*; "
    "iterate until distance(x, x_prev) <= tol",
}


# ------------------------------------------------------------------------ helpers


def as_float(value: Any) -> float:
    """A float from an observation or case field ("nan", None -> NaN)."""
    if value is None:
        return math.nan
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


def close(got: float, want: float, tol: float) -> bool:
    return math.isfinite(got) and math.isfinite(want) and abs(got - want) <= tol


def max_abs_diff(got: Sequence[Sequence[float]], want: Sequence[Sequence[float]]) -> float:
    if len(got) != len(want) or any(len(g) != len(w) for g, w in zip(got, want)):
        return math.inf
    diffs = [abs(g - w) for gr, wr in zip(got, want) for g, w in zip(gr, wr)]
    return max(diffs, default=0.0) if all(math.isfinite(d) for d in diffs) else math.inf


def max_abs(rows: Sequence[Sequence[float]]) -> float:
    return max((abs(v) for row in rows for v in row), default=0.0)


def fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.10g}"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(fmt(v) for v in value) + "]"
    return str(value)


def call_text(case: Case) -> str:
    """How messages name the candidate's call: ``fixed_point(...)`` (maps) or ``solve(...)``."""
    if isinstance(case, MapCase):
        return "fixed_point(f, a, x0, distance, tol)"
    return "solve(F, x, y0)"


def error_text(error: dict[str, Any] | None) -> str:
    """``Type: message (at line N of FILE: source)`` of a recorded exception."""
    if not error:
        return ""
    text = f"{error.get('type', 'Exception')}: {error.get('message', '')}"
    where = error.get("where")
    return f"{text} (at {where})" if where else text


#: Exception type -> what it usually means in this assignment (said as "usually").
_EXCEPTION_ADVICE = {
    "NameError": "a name is used before it is defined (a typo, or a missing import)",
    "AttributeError": "an attribute or method that does not exist on that object",
    "TypeError": "a function called with arguments of the wrong number or type",
    "IndexError": "an index out of range (check the shapes: x may be 0-d or a vector)",
    "RuntimeError": "torch refused an operation; its message names it (shapes, dtypes, "
    "in-place changes of a tensor that requires grad)",
    "ValueError": "a value torch or Python could not use; its message names it",
    "ZeroDivisionError": "a division by zero",
}


def exception_advice(error: dict[str, Any] | None, stopped: bool = True) -> str:
    """What to do about an exception the code raised: about *that* exception only
    (``stopped``: the call itself raised, so nothing else of the case was checked)."""
    kind = (error or {}).get("type", "")
    where = (error or {}).get("where")
    place = f" at {where}" if where else " (the traceback does not reach your file)"
    usual = _EXCEPTION_ADVICE.get(kind)
    meaning = f" {kind} usually means {usual}." if usual else ""
    rest = " Fix that error first: nothing else was checked." if stopped else ""
    return f"The error was raised{place}.{meaning}{rest}"


def call_failed(j: Judge, case: Case, obs: Observation) -> bool:
    """Whether the call itself raised; if so ``j`` has the "call" error, with advice."""
    if "call_error" not in obs:
        return False
    j.add(
        "call",
        "error",
        f"{call_text(case)} raised {error_text(obs['call_error'])}. "
        + exception_advice(obs["call_error"]),
    )
    return True


def fmt_pair(got: Any, want: Any) -> tuple[str, str]:
    """``got`` and ``want`` printed with enough digits (6 to 17) to see where they differ."""
    for digits in range(6, 18):
        a, b = _fmt_digits(got, digits), _fmt_digits(want, digits)
        if a != b:
            return a, b
    return _fmt_digits(got, 17), _fmt_digits(want, 17)


def _fmt_digits(value: Any, digits: int) -> str:
    if isinstance(value, float):
        return f"{value:.{digits}g}"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_fmt_digits(v, digits) for v in value) + "]"
    return str(value)


class Judge:
    """Builds ``CheckResult``s that carry the case's family, text and degeneracy."""

    def __init__(self, case: Case) -> None:
        self.case = case
        self.results: list[CheckResult] = []

    def add(
        self,
        name: str,
        status: Status,
        message: str,
        *,
        error: float = math.nan,
        tol: float = math.nan,
        hint: str = "",
        expected: Any = "",
        got: Any = "",
        details: tuple[tuple[str, Any], ...] = (),
    ) -> CheckResult:
        if self.case.degenerate and name not in VALUE_CHECKS_EXEMPT and status != "pass":
            message = (
                f"(degenerate case, degeneracy {self.case.degeneracy:.2g}: not counted) {message}"
            )
        if self.case.degenerate and name not in VALUE_CHECKS_EXEMPT:
            status = "degenerate"
        result = CheckResult(
            name=name,
            status=status,
            error=float(error),
            tol=float(tol),
            family=self.case.family,
            case=self.case.text(),
            message=message,
            hint=hint,
            expected=fmt(expected),
            got=fmt(got),
            degeneracy=float(self.case.degeneracy),
            details=details,
        )
        self.results.append(result)
        return result

    def compare(
        self,
        name: str,
        what: str,
        got: float,
        want: float,
        tol: float,
        fix: str,
        *,
        tol_text: str = "",
        **kwargs: Any,
    ) -> CheckResult:
        """``|got - want| <= tol``; ``tol_text`` words the tolerance (its terms)."""
        error = abs(got - want) if math.isfinite(got) and math.isfinite(want) else math.inf
        allowed = tol_text or f"{tol:.2g}"
        shown_got, shown_want = fmt_pair(got, want)
        if error <= tol:
            message = (
                f"{what} = {shown_got} matches {shown_want} (error {error:.2g} <= allowance "
                f"{allowed})."
            )
            return self.add(name, "pass", message, error=error, tol=tol, expected=want, got=got)
        message = (
            f"{what} = {shown_got}, expected {shown_want}: error {error:.2g} > allowance "
            f"{allowed}. {fix}"
        )
        return self.add(
            name, "fail", message, error=error, tol=tol, expected=want, got=got, **kwargs
        )

    def failed(self, name: str) -> bool:
        return any(r.name == name and r.status == "fail" for r in self.results)

    def passed(self, name: str) -> bool:
        return any(r.name == name and r.status == "pass" for r in self.results)


# ------------------------------------------------------------------------ shared checks


#: Words that make an exception or a warning a relevant signal at F_y = 0.
SINGULAR_WORDS = re.compile(
    r"singular|invertib|degenera|ill[- ]?condition|rank[- ]?deficien|division by zero|"
    r"divide by zero|zerodivision|vertical|F_y|dF/dy|jacobian",
    re.IGNORECASE,
)


def relevant_signal(text: str) -> bool:
    """Whether an exception or warning text says the Jacobian is singular or degenerate."""
    return bool(SINGULAR_WORDS.search(text or ""))


def eps(dtype: str) -> float:
    return 1.1920929e-07 if dtype == "float32" else 2.220446049250313e-16


def shape_dtype(j: Judge, obs: Observation, *, expected_shape: list[int], dtype: str) -> None:
    key = "x" if "x_shape" in obs else "y"
    shape, got_dtype = obs.get(f"{key}_shape"), obs.get(f"{key}_dtype")
    if shape == expected_shape and got_dtype == dtype:
        j.add("shape_dtype", "pass", f"Returned shape {shape} and dtype {dtype}.")
        return
    j.add(
        "shape_dtype",
        "fail",
        f"Returned shape {shape} and dtype {got_dtype}; expected shape {expected_shape} "
        f"and dtype {dtype} (those of the start). Keep the start's shape and dtype.",
        expected=f"{expected_shape} {dtype}",
        got=f"{shape} {got_dtype}",
    )


def gradcheck(j: Judge, obs: Observation, grad: float | None, *, root_failed: bool) -> None:
    gc = obs.get("gradcheck")
    if gc is None:
        if "gradcheck_error" in obs:
            j.add("gradcheck", "error", f"gradcheck raised {error_text(obs['gradcheck_error'])}.")
        return
    fd = as_float(gc.get("fd_dy_dx"))
    fd_ok = grad is None or not math.isfinite(fd) or close(grad, fd, FD_RTOL * (1 + abs(fd)))
    if gc.get("passed") and fd_ok:
        j.add("gradcheck", "pass", "torch.autograd.gradcheck (float64) passed.")
        return
    reason = error_text(gc.get("error")) or (
        f"the gradient {grad:.10g} differs from the central difference {fd:.10g}"
    )
    message = f"torch.autograd.gradcheck in float64 failed: {reason[:200]}."
    if root_failed:
        message += (
            " Your root is inaccurate, so finite differences of it are noise: fix the root first."
        )
    j.add("gradcheck", "fail", message, hint=HINTS["root"] if root_failed else "")


def no_mutation(j: Judge, obs: Observation, names: tuple[str, ...]) -> None:
    mutated = obs.get("mutated") or []
    if mutated:
        j.add(
            "no_mutation",
            "fail",
            f"Your code modified its input(s) {', '.join(mutated)} in place; work on a "
            "copy (x.clone()) instead.",
            got=", ".join(mutated),
        )
    else:
        j.add("no_mutation", "pass", f"Inputs {', '.join(names)} left unchanged.")


def zero_start_grad(j: Judge, obs: Observation, key: str, start: str) -> None:
    name = f"{start}_grad"
    if f"{key}_error" in obs:
        j.add(
            name,
            "error",
            f"Calling with {start}.requires_grad=True failed: "
            f"{error_text(obs[f'{key}_error'])}. "
            + (
                f"Do not modify {start} in place."
                if re.search(r"in-place|inplace|leaf", str(obs[f"{key}_error"].get("message")))
                else exception_advice(obs[f"{key}_error"], stopped=False)
            ),
        )
        return
    value = obs.get(key)
    values = value if isinstance(value, list) else [value]
    floats = [as_float(v) for v in values]
    size = max((abs(v) if math.isfinite(v) else math.inf for v in floats), default=0.0)
    if size == 0.0:
        j.add(name, "pass", f"The gradient w.r.t. the start {start} is zero.")
        return
    unrolled = math.isfinite(size) and size < 1e-3
    j.add(
        name,
        "fail",
        f"The gradient w.r.t. the start {start} is {fmt(floats)}, not zero: the solution "
        f"does not depend on where the iteration starts; return None (or zeros) for {start}.",
        error=size,
        tol=0.0,
        got=floats,
        hint=HINTS["unrolled"] if unrolled else "",
    )
