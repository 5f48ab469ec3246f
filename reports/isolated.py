"""The suite's ``--target`` run in the grader's isolated worker, with a per-call deadline.

``IsolatedRun`` starts one ``reports.grading.sandbox.Worker`` for the target
file (limits of ``reports.grading.isolation.Limits``, the deadline of
``--target-deadline``) and offers ``observe(request) -> observation``, which the
suite calls through ``Target.observe``.  A call that does not come back raises
``properties.not_run.NotObserved``, so a hanging or crashing target becomes a
reported error, not a hung or lost report.  The reference (no ``--target``)
stays in process.

Two budgets keep a hanging target from costing the deadline on every case:

- in one test, after a call timed out, the next call skips the rest of that
  test (Hypothesis would otherwise shrink through more hanging examples); the
  plugin reports that test as failed, on the case that timed out;
- after ``MAX_CONSECUTIVE`` timeouts or crashes in a row with no answer in
  between, later calls are not run (status "not_run"), until the session ends.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from properties import probe
from properties.assignments import infer_assignment
from properties.candidates import Target, TargetError
from properties.not_run import NotObserved

#: Timeouts or crashes in a row after which the session stops calling the target.
MAX_CONSECUTIVE = 3


class IsolatedRun:
    """One target file in one isolated worker, for the length of a pytest session.

    Args:
        path: the target file.
        assignment: "implicit" or "fixed_point" (None: inferred from the file).
        deadline: seconds one case may take (``Limits.deadline``).
        startup: seconds to import torch and the target (``Limits.startup``).
        max_consecutive: timeouts or crashes in a row after which it is not called again.
    """

    def __init__(
        self,
        path: str | Path,
        assignment: str | None,
        deadline: float,
        startup: float = 120.0,
        max_consecutive: int = MAX_CONSECUTIVE,
    ) -> None:
        self.path = Path(path).resolve()
        self.assignment = assignment or infer_assignment(self.path)
        self.deadline = deadline
        self.startup = startup
        self.test = ""  # node id of the test running now
        self.timed_out: dict[str, str] = {}  # node id -> what timed out there
        self.consecutive = 0
        self.max_consecutive = max_consecutive
        self.last_failure = ""
        self._worker: Any = None

    def begin(self, nodeid: str) -> None:
        """Say which test the next calls belong to."""
        self.test = nodeid

    def worker(self) -> Any:
        """The worker (started on first use); raises ``TargetError`` if the file does not load."""
        if self._worker is None:
            from .grading.isolation import Limits
            from .grading.sandbox import Worker

            limits = Limits(deadline=self.deadline, startup=self.startup)
            self._worker = Worker(
                self.path,
                self.assignment,
                Path(probe.__file__),
                limits,
                trusted=("implicit",),  # an adapter may wrap our library too
                paths=(self.path.parent,),
            )
        hello = self._worker.hello()
        if hello.error is not None:
            last = hello.error.strip().splitlines()[-1:] or [""]
            raise TargetError(
                f"{self.path} could not be loaded in the isolated worker ({hello.error_kind}): "
                f"{last[0]}\n{hello.error}"
            )
        return self._worker

    def target(self) -> Target:
        """The target whose cases run in the worker (loads the file there first)."""
        self.worker()
        return Target(
            name=self.path.name,
            assignment=self.assignment,
            path=str(self.path),
            observe=self.observe,
        )

    def observe(self, wire: dict[str, Any]) -> dict[str, Any]:
        """Run one request in the worker and return its observation.

        Raises:
            NotObserved: the call timed out, the worker died, or the target is
                not called any more (see the module's budgets).
            pytest.skip.Exception: a call of this test already timed out.
        """
        if self.test in self.timed_out:
            pytest.skip(f"an earlier case of this test did not return: {self.timed_out[self.test]}")
        if self.consecutive >= self.max_consecutive:
            raise NotObserved(
                "not_run",
                f"the target did not answer the last {self.consecutive} calls "
                f"(the last: {self.last_failure}); it is not called again in this run",
            )
        reply = self.worker().observe(wire)
        if reply.status == "ok" and reply.observation is not None:
            self.consecutive = 0
            return dict(reply.observation)
        kind = "timeout" if reply.status == "timeout" else "crashed"
        if reply.status == "not_loaded":
            kind = "not_loaded"
        self.consecutive += 1
        self.last_failure = f"{kind}: {reply.message}"
        if kind == "timeout":
            self.timed_out[self.test] = reply.message
        raise NotObserved(kind, reply.message or reply.status)

    def close(self) -> None:
        """Stop the worker and delete its folder."""
        if self._worker is not None:
            self._worker.close()
            self._worker = None
