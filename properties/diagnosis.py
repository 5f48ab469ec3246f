"""The diagnosis vocabulary: machine-readable causes of a failing check.

A failing check carries codes from ``CODES`` (``CheckResult.diagnosis``), given
only when the evidence confirms the cause: a closed-form alternative that
matches the observed numbers, or a counterfactual call of the same candidate
(``properties.experiments``) whose result only that cause explains.  Where
nothing is confirmed the list is empty and the words say "cause not
identified".  Run-level observations about a whole submission are ``SIGNALS``.

The tables are documented for users in ``docs/diagnosis.md``; a test keeps
the two in step.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, TypeVar

#: Code -> what it means (one sentence a student can act on).
CODES: dict[str, str] = {
    "sign": "the gradient has the opposite sign: dy/dx = -F_x / F_y, dx/da = +(I - f_x)^-1 f_a",
    "missing_inverse": "the gradient is f_a alone: (I - f_x)^-1 is missing",
    "truncated_inverse": "(I - f_x)^-1 is replaced by a truncated Neumann sum I + f_x + ...",
    "inverse_sign": "the sign inside the inverse is wrong: (I + f_x)^-1 f_a instead of "
    "(I - f_x)^-1 f_a (the adjoint solves u = v - f_x^T u, not u = v + f_x^T u)",
    "transposed": "the adjoint solves (I - f_x) u = v instead of (I - f_x)^T u = v",
    "diagonal_only": "only the diagonal of f_x is used",
    "at_start": "the derivatives are taken at the start (x0 or y0), not at the solution",
    "unrolled": "the gradient is taken through the iterations (the graph grows with them)",
    "backward_reiterates": "backward evaluates f away from the solution (it re-runs the iteration)",
    "finite_difference": "backward takes finite differences of f near the solution (a step h): "
    "its derivatives are off by O(h); use autograd's f_x and f_a at x*",
    "ignores_upstream": "backward ignores grad_output (uses ones)",
    "inexact_forward": "the formula is right but the solve stops early: the returned point is "
    "a small step from the solution",
    "other_root": "the solver converged to another root (or fixed point) than the one near "
    "the start",
    "stationary_point": "the solver stopped where F_y = 0 and F != 0, a stationary point of "
    "F**2, not a root (minimising F**2 stops at any such point)",
    "low_precision": "the code computes in float32 (or another lower precision) for float64 "
    "inputs: its answer carries float32's round-off",
    "inexact_backward": "the forward is right but the adjoint solve is inexact: the error shrinks "
    "with tol, not with the residual of the returned point",
    "swapped_partials": "F_x and F_y (or f_x and f_a) are swapped",
    "dtype": "the result has the wrong dtype",
    "shape": "the result has the wrong shape",
    "mutates_input": "an input tensor is modified in place",
    "no_gradient": "no gradient reaches an input that the result depends on",
    "gradient_to_start": "a nonzero gradient reaches the start, which the solution does not "
    "depend on",
    "no_degenerate_signal": "where the derivative does not exist (F_y = 0) there was no "
    "relevant signal: no error or warning that says so, and no non-finite value",
    "signature": "the function cannot be called with the assignment's arguments",
    "exception": "the code raised an exception",
    "timeout": "the code did not return within the deadline",
    "crash": "the process running the code died",
    "memory": "the code ran out of memory",
    "tampering": "the code replaced the grader's own functions: the case was discarded",
    "unknown": "the check failed and no experiment identified why",
}

#: Code -> the evidence that confirms it (the third column of docs/diagnosis.md).
EVIDENCE: dict[str, str] = {
    "sign": "closed form: the gradient equals minus the right one at the returned point",
    "missing_inverse": "closed form: it equals f_a (maps) or -F_x (curves) at the returned point",
    "truncated_inverse": "closed form: it equals a Neumann sum f_a + f_x f_a + ... + f_x^K f_a "
    "(K < 60); beyond K = 1 the tol/100 call tells it from inexact_backward",
    "inverse_sign": "closed form: it equals (I + f_x)^-1 f_a at the returned point; offered "
    "only where f_x != 0",
    "transposed": "closed form: it equals (I - f_x^T)^-1 f_a; offered only for m >= 2 and a "
    "non-symmetric f_x",
    "diagonal_only": "closed form: it equals (I - diag f_x)^-1 f_a; offered only for m >= 2 "
    "with off-diagonal f_x",
    "at_start": "closed form at the start x0/y0 matches, or f is evaluated at x0 in backward",
    "unrolled": "measured: the autograd graph behind the result grows when tol tightens",
    "backward_reiterates": "measured: backward evaluates f away from the returned point",
    "finite_difference": "measured: besides x* itself, backward evaluates f only at points "
    "a small distance h from it (at most 1% of |x*|), a finite-difference stencil; a gradient "
    "error of the order of h is then carried to the gradient checks",
    "ignores_upstream": "measured: the gradient of w * y equals the gradient of y",
    "inexact_forward": "measured: the returned point misses the solution by what one Newton "
    "step from it accounts for; for maps, with tol/100 the error shrinks, or stays (the loop "
    "ignores tol)",
    "other_root": "measured: one Newton step from the returned point is far smaller than its "
    "error, and Newton's method from it converges to another solution, which is named",
    "stationary_point": "measured: F_y vanishes within a Newton step of F_y from the returned "
    "point, far nearer than the root, and F != 0 there",
    "low_precision": "measured: every returned number is exactly a float32 number with many "
    "significant bits (by chance: odds of 2**-29 each), within float32's round-off of the "
    "expected value",
    "inexact_backward": "experiment: with tol/100 the gradient error at the returned point "
    "shrinks (the adjoint solve stops early)",
    "swapped_partials": "closed form: it equals -F_y / F_x (curves) or (I - f_a)^-1 f_x "
    "(maps with m = k)",
    "dtype": "measured: the result's dtype differs from the start's",
    "shape": "measured: the result's shape differs from the start's",
    "mutates_input": "measured: an input tensor changed during the call",
    "no_gradient": "measured: an input the result depends on got no gradient",
    "gradient_to_start": "measured: the gradient with respect to x0/y0 is not zero",
    "no_degenerate_signal": "measured: at F_y = 0, a finite derivative without a relevant "
    "error or warning",
    "signature": "the call raised a TypeError about its arguments",
    "exception": "the call raised: the report shows the exception, its message and the line",
    "timeout": "the call did not return within the deadline",
    "crash": "the worker process died during the call",
    "memory": "MemoryError, or torch's allocator failure under the worker's memory limit",
    "tampering": "measured: a function of the probe, the worker or the adapter was replaced",
    "unknown": "no closed form and no experiment explained the failure; the report shows "
    "the measurements",
}

#: Run-level observation -> what it means (shown even at full marks).
SIGNALS: dict[str, str] = {
    "output_flood": "the code printed more than the grader keeps",
    "wrote_files": "the code left files in its working folder",
    "tampering": "the code replaced functions of torch or of the grader",
    "timeout": "at least one call did not return within the deadline",
    "crash": "the process running the code died at least once",
    "memory": "the code ran out of memory at least once",
}


def check_codes(codes: tuple[str, ...] | list[str]) -> tuple[str, ...]:
    """``codes`` as a tuple, each checked against ``CODES`` (order kept, repeats dropped).

    Raises:
        ValueError: a code that is not in the vocabulary (names it).
    """
    out: list[str] = []
    for code in codes:
        if code not in CODES:
            raise ValueError(f"diagnosis code {code!r} is not in properties.diagnosis.CODES")
        if code not in out:
            out.append(code)
    return tuple(out)


def markdown() -> str:
    """docs/diagnosis.md, generated from the tables above (a test keeps the file in step)."""
    lines = [
        "# The diagnosis vocabulary",
        "",
        "Every failing scored check carries a list of codes: in `results.json` as",
        "`tests[i].extra_data.diagnosis`, in `gradebook.csv` as the `diagnosis` column,",
        "and in the report beside the words. A code is given only when the evidence in",
        "the last column confirms it (`properties/causes.py`); otherwise the list is",
        '`["unknown"]` and the report says that the cause was not identified. A check',
        "that fails only because of a cause already named on the same case (the",
        "true-value check after a wrong formula, say) carries that cause's codes.",
        "",
        "Generated from `properties/diagnosis.py` (`python -m properties.diagnosis`).",
        "",
        "| code | meaning | evidence that confirms it |",
        "|---|---|---|",
    ]
    lines += [f"| `{code}` | {CODES[code]} | {EVIDENCE[code]} |" for code in CODES]
    lines += [
        "",
        "## Run-level signals",
        "",
        "Observations about the whole run, shown in the report and the gradebook even at",
        "full marks, and in `results.json` as the top-level `extra_data.signals`:",
        "",
        "| signal | meaning |",
        "|---|---|",
    ]
    lines += [f"| `{code}` | {text} |" for code, text in SIGNALS.items()]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(markdown(), end="")


#: ``(base, codes) -> class``: the exception classes of ``failure_type``.
_FAILURE_TYPES: dict[tuple[type[Exception], tuple[str, ...]], type[Any]] = {}
E = TypeVar("E", bound=Exception)


def failure_type(base: type[E], codes: Iterable[str]) -> type[E]:
    """A subclass of ``base`` named by the sorted diagnosis ``codes`` (``unknown`` when
    empty), the same class for the same codes.

    Hypothesis tells bugs apart by exception type and line: a search that raises one
    of these from one line shrinks a failure with other codes as another bug, so a
    shrink step that changes the diagnosis is not taken as a smaller example of this
    failure, and the smallest case shown for a cause shows that cause.
    """
    key = tuple(sorted(set(codes))) or ("unknown",)
    kind = _FAILURE_TYPES.get((base, key))
    if kind is None:
        name = f"{base.__name__}[{','.join(key)}]"
        kind = type(name, (base,), {"__module__": base.__module__})
        _FAILURE_TYPES[(base, key)] = kind
    return kind
