"""One case: what the worker is sent, what it answered, judged here.

The worker only observes (``probe.observe``); this process judges
(``properties.checks.judge``), under ``SYMBOLIC_LOCK`` because mpmath's
precision is process-wide while submissions are graded in threads.  A case the
code did not run to a value (timeout, crash, exit, out of memory, not run,
tampering, a load failure) is never judged: its one "call" check says what
happened (``NOT_RUN_TEXT``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from properties import causes, checks, frozen
from properties.records import CheckResult, CurveCase, MapCase

from .explore import SYMBOLIC_LOCK
from .records import LOAD_STATUSES, CaseResult
from .rubric import TAMPERED

if TYPE_CHECKING:
    from .sandbox import Reply, Worker

Case = CurveCase | MapCase
Judge = Callable[[Case, dict[str, Any]], list[CheckResult]]


def load_cases(assignment: str) -> list[Case]:
    """The frozen cases of ``assignment``, non-degenerate ones first (stable order)."""
    cases = list(frozen.load_cases(assignment))
    return sorted(cases, key=lambda c: c.degenerate)


def wire_of(case: Case) -> dict[str, Any]:
    """What the worker is sent for ``case``: ``properties.checks.wire_for`` (fixed weights)."""
    return checks.wire_for(case)


def default_judge() -> Judge:
    """``properties.checks.judge``."""
    return checks.judge


#: The "call" check of a case the code did not run to a value, per ``CaseResult.note``.
#: ``{call}`` is the call as the judge names it (``checks.call_text``), ``{kind}`` the
#: note and ``{detail}`` what the worker or the grader saw.  An exception the code
#: raised is not here: the probe records it and the judge gives its own advice.
NOT_RUN_TEXT = {
    "timeout": (
        "This case did not finish: {call}, or a derivative the grader takes of its result "
        "(backward, gradcheck), did not return: {detail}. It raised nothing, it never "
        "finished: check the iteration cap (every loop, forward and backward, must stop "
        "after a bounded number "
        "of steps, and raise or warn when the tolerance is not reached) and look for a "
        "loop that never ends (a map that does not contract, a tol below the dtype's "
        "precision)."
    ),
    "crashed": (
        "{call} did not return on this case: {detail}. It raised nothing: the process "
        "running it was killed by a limit or ended. Look for memory that grows at every "
        "iteration (lists or graphs kept across iterations, huge tensors) and for calls "
        "that end the process (os._exit, native code)."
    ),
    "raised": (
        "{call} gave no value on this case: {detail}. It must return its result or raise "
        "an Exception (never call sys.exit() or exit(): they end the process)."
    ),
    "out of memory": (
        "{call} raised MemoryError on this case: {detail}. Look for memory that grows at "
        "every iteration (lists or graphs kept across iterations) or a tensor far larger "
        "than the problem."
    ),
    "not run": "{call} was not run on this case: {detail}.",
    TAMPERED: "{call} was not judged on this case ({kind}): {detail}.",
    **dict.fromkeys(
        LOAD_STATUSES.values(),
        "{call} could not be called ({kind}): {detail}.",
    ),
}


#: The diagnosis code of a case the code did not run to a value, per note.
NOT_RUN_CODE = {
    "timeout": "timeout",
    "not run": "timeout",
    "crashed": "crash",
    "out of memory": "memory",
    "raised": "exception",
    **dict.fromkeys(LOAD_STATUSES.values(), "exception"),
    LOAD_STATUSES.get("missing", "missing function"): "signature",
    LOAD_STATUSES.get("timeout", "timeout at import"): "timeout",
    LOAD_STATUSES.get("crash", "crashed at import"): "crash",
    TAMPERED: "tampering",
}


def not_run_check(case: Case, kind: str, detail: str) -> CheckResult:
    """The "call" error of a case the code did not run to a value (``NOT_RUN_TEXT``)."""
    template = NOT_RUN_TEXT.get(kind, "{call} was not run on this case ({kind}): {detail}.")
    detail = detail.strip().rstrip(".") or "no details"
    return CheckResult(
        "call",
        "error",
        family=case.family,
        case=case.text(),
        message=template.format(call=checks.call_text(case), kind=kind, detail=detail),
        degeneracy=float(case.degeneracy),
        diagnosis=(NOT_RUN_CODE.get(kind, "exception"),),
    )


def judge_safely(judge: Judge, case: Case, observation: dict[str, Any]) -> tuple[CheckResult, ...]:
    """``judge`` that never raises: an observation it cannot read is an error result.

    Holds ``SYMBOLIC_LOCK``: the judge evaluates closed forms in mpmath, whose
    precision is process-wide, while other submissions are graded in threads.
    """
    try:
        with SYMBOLIC_LOCK:
            return tuple(judge(case, observation))
    except Exception as exc:  # noqa: BLE001 - a malformed observation must not stop grading
        return (
            CheckResult(
                name="call",
                status="error",
                family=case.family,
                case=case.text(),
                message=f"the grader could not read what the code returned: {exc}",
            ),
        )


def explain_safely(
    worker: Worker, case: Case, observation: dict[str, Any], results: tuple[CheckResult, ...]
) -> tuple[CheckResult, ...]:
    """``causes.explain`` with counterfactual calls in the same ``worker`` (never raises).

    The closed forms hold ``SYMBOLIC_LOCK``; a call of the worker releases it while
    it waits, so other submissions' judging goes on meanwhile.
    """

    def observe(wire: dict[str, Any]) -> dict[str, Any]:
        SYMBOLIC_LOCK.release()
        try:
            reply = worker.observe(wire)
        finally:
            SYMBOLIC_LOCK.acquire()
        if reply.status != "ok" or reply.observation is None:
            raise RuntimeError(f"the experiment did not run: {reply.status}")
        return reply.observation

    try:
        with SYMBOLIC_LOCK:
            found = causes.explain(
                case, wire_of(case), observation, results, observe, judge=checks.judge
            )
            return tuple(found)
    except Exception:  # noqa: BLE001 - an explanation must never cost the score
        return results


def not_run(case: Case, kind: str, detail: str) -> CaseResult:
    """A case the code did not run to a value: never judged, worded by ``kind``."""
    return CaseResult(case, (not_run_check(case, kind, detail),), ran=False, note=kind)


def run_case(worker: Worker, case: Case, judge: Judge) -> tuple[CaseResult, Reply]:
    """Run one case in ``worker`` and judge it here; returns the result and the reply."""
    reply = worker.observe(wire_of(case))
    if reply.status == "ok" and reply.observation is not None:
        observation = reply.observation
        if _out_of_memory(observation.get("call_error")):
            limit = f"{worker.limits.memory_bytes / (1 << 20):g} MiB"
            return not_run(case, "out of memory", f"the worker's limit is {limit}"), reply
        ran = "call_error" not in observation
        checks = judge_safely(judge, case, observation)
        checks = explain_safely(worker, case, observation, checks)
        return CaseResult(case, checks, ran=ran, note="" if ran else "raised"), reply
    note = {"timeout": "timeout", "crashed": "crashed"}.get(reply.status, "raised")
    return not_run(case, note, reply.message), reply


def _out_of_memory(error: dict[str, Any] | None) -> bool:
    """The call failed to allocate: Python's MemoryError, or torch's allocator
    (a RuntimeError "DefaultCPUAllocator: can't allocate memory ...")."""
    if not error:
        return False
    kind, message = error.get("type"), str(error.get("message", ""))
    return kind == "MemoryError" or (kind == "RuntimeError" and "can't allocate memory" in message)
