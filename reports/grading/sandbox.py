"""The parent's side of the worker: start it isolated, talk JSON, enforce deadlines.

A submission never runs in the grading process.  ``Worker`` copies the submission,
``reports/grading/worker.py``, the probe and the adapter into a private folder and runs
``python -I -S worker.py`` there: in a new session (its own process group, so
that a timeout kills the worker and everything it started, after which the next
request starts a fresh worker), with the limits, namespaces and user of
``reports.grading.isolation``, and with ``sys.path`` holding the standard
library and site-packages only: not the repository, not the submission's folder
(a class folder named ``implicit/`` would shadow the package), and the
reference packages refused by an import blocker.

The worker's stdout/stderr (whatever the submission prints) are drained by a
thread that keeps the first ``Limits.output_bytes`` and counts the rest.
"""

from __future__ import annotations

import atexit
import contextlib
import dataclasses
import functools
import importlib.util
import json
import os
import selectors
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from properties import assignments

from .isolation import (
    BLOCKED,
    SETUP_FAILED,
    Isolation,
    Limits,
    detect_isolation,
    environment,
    preexec,
    site_dirs,
    wrap,
)

WORKER = Path(__file__).with_name("worker.py")
#: The submission-to-candidate adapter, loaded by path in the worker beside the probe.
ADAPTER = Path(assignments.__file__)
MAX_REPLY = 8 << 20


@dataclasses.dataclass(frozen=True)
class Hello:
    """The worker's report after loading the submission.

    Attributes:
        error: why the submission cannot be called (None when it can).
        error_kind: "syntax", "import", "exit", "missing", "timeout" or "crash".
        defines: public names the file defines.
        tampered: torch functions the import replaced.
    """

    error: str | None
    error_kind: str | None
    defines: tuple[str, ...] = ()
    tampered: tuple[str, ...] = ()


@dataclasses.dataclass(frozen=True)
class Reply:
    """The answer to one request.

    Attributes:
        status: "ok", "error" (the call raised or exited), "timeout", "crashed"
            (the worker died: os._exit, a signal, a limit) or "not_loaded".
        observation: the probe's JSON observation when ``status == "ok"``.
        message: what happened, for a student.
        tampered: torch functions found replaced after the call.
        files: names in the working folder after the call.
    """

    status: str
    observation: dict[str, Any] | None = None
    message: str = ""
    tampered: tuple[str, ...] = ()
    files: tuple[str, ...] = ()


_PYCACHE = shutil.ignore_patterns("__pycache__", "*.pyc")


def _package_dir(name: str) -> Path:
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        raise ImportError(f"cannot find the package {name!r} to copy into the worker.")
    return Path(list(spec.submodule_search_locations)[0])


class _Drain(threading.Thread):
    """Read a pipe to its end, keeping the first ``cap`` bytes."""

    def __init__(self, stream: Any, cap: int) -> None:
        super().__init__(daemon=True)
        self.stream = stream
        self.cap = cap
        self.kept = bytearray()
        self.total = 0

    def run(self) -> None:
        with contextlib.suppress(OSError, ValueError):
            while chunk := self.stream.read1(1 << 16):
                self.total += len(chunk)
                room = self.cap - len(self.kept)
                if room > 0:
                    self.kept.extend(chunk[:room])


_run_root: Path | None = None
_run_root_lock = threading.Lock()


def _root() -> Path:
    global _run_root
    with _run_root_lock:
        if _run_root is None or not _run_root.exists():
            _run_root = Path(tempfile.mkdtemp(prefix="iv-grade-"))
            os.chmod(_run_root, 0o711)
            atexit.register(shutil.rmtree, _run_root, True)
        return _run_root


class Worker:
    """One submission in its own isolated worker process (restarted after a timeout).

    Use as a context manager; ``hello`` loads the submission, ``observe`` runs
    one case.  Nothing the submission does raises here: every outcome is a
    ``Reply``.

    Args:
        submission: the student's ``.py`` file (copied; the original is not touched).
        assignment: "fixed_point" or "implicit".
        probe: the self-contained probe module (``properties/probe.py``; the
            ``probe_*.py`` files beside it, which it loads, are copied too).
        limits: resource limits.
        isolation: what the platform allows (default: ``detect_isolation()``).
        trusted: our own packages to make importable (a copy) in this worker only:
            used to grade the reference solution through the same path.
        paths: folders put on the worker's ``sys.path`` after site-packages (``--target``'s).
    """

    def __init__(
        self,
        submission: Path,
        assignment: str,
        probe: Path,
        limits: Limits | None = None,
        isolation: Isolation | None = None,
        trusted: tuple[str, ...] = (),
        paths: tuple[Path, ...] = (),
    ) -> None:
        self.assignment = assignment
        self.trusted, self.paths = trusted, paths
        self.limits = limits or Limits()
        self.isolation = isolation if isolation is not None else detect_isolation()
        self.box = Path(tempfile.mkdtemp(prefix="box-", dir=_root()))
        os.chmod(self.box, 0o711)
        self.lib = self.box / "lib"
        self.work = self.box / "work"
        self.lib.mkdir(mode=0o755)
        self.work.mkdir(mode=0o700)
        if self.isolation.user is not None:
            os.chown(self.work, self.isolation.user, self.isolation.user)
        self.display = submission.name
        self.name = "submission_" + "".join(c if c.isalnum() else "_" for c in submission.stem)
        for source, target in (
            (WORKER, "worker.py"),
            (probe, "probe.py"),
            *((part, part.name) for part in sorted(probe.parent.glob("probe_*.py"))),
            (ADAPTER, "assignments.py"),
            (submission, self.name + ".py"),
        ):
            shutil.copyfile(source, self.lib / target)
            os.chmod(self.lib / target, 0o644)
        for package in trusted:  # our own reference, graded like a submission
            source = _package_dir(package)
            shutil.copytree(source, self.lib / "trusted" / package, ignore=_PYCACHE)
        os.chmod(self.lib, 0o555)
        self.proc: subprocess.Popen[bytes] | None = None
        self.drains: list[_Drain] = []
        self._buffer = bytearray()
        self._hello: Hello | None = None
        self.restarts = 0

    def __enter__(self) -> Worker:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- output ------------------------------------------------------------------

    @property
    def output(self) -> str:
        """What the submission printed (first ``output_bytes`` of each worker run)."""
        kept = b"".join(bytes(d.kept) for d in self.drains)
        return kept[: self.limits.output_bytes].decode("utf-8", "replace")

    @property
    def output_total(self) -> int:
        """Bytes printed in total, including those not kept."""
        return sum(d.total for d in self.drains)

    # -- process -----------------------------------------------------------------

    def _command(self) -> list[str]:
        command = [
            sys.executable,
            "-I",
            "-S",
            str(self.lib / "worker.py"),
            "--lib",
            str(self.lib),
            "--submission",
            self.name + ".py",
            "--probe",
            "probe.py",
            "--assignments",
            "assignments.py",
            "--assignment",
            self.assignment,
        ]
        if self.trusted:
            command += ["--site", str(self.lib / "trusted")]
        for site in [*site_dirs(), *map(str, self.paths)]:
            command += ["--site", site]
        for name in BLOCKED:
            if name not in self.trusted:
                command += ["--block", name]
        return wrap(command, self.work, self.isolation, self.limits)

    def _spawn(self) -> Hello:
        self._buffer = bytearray()
        self.proc = subprocess.Popen(
            self._command(),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            cwd=self.work,
            env=environment(self.work),
            start_new_session=True,
            preexec_fn=functools.partial(preexec, self.limits),  # noqa: PLW1509
        )
        drain = _Drain(self.proc.stderr, self.limits.output_bytes)
        drain.start()
        self.drains.append(drain)
        message = self._read(self.limits.startup)
        if isinstance(message, str):
            kind = "timeout" if message.startswith("timeout") else "crash"
            text = (
                f"loading the file took longer than {self.limits.startup:g} s (a loop at import?)"
                if kind == "timeout"
                else f"the worker died while loading the file: {message}"
            )
            self._kill()
            return Hello(text, kind)
        return Hello(
            message.get("error"),
            message.get("error_kind"),
            tuple(str(n) for n in message.get("defines", ()))[:200],
            tuple(str(n) for n in message.get("tampered", ())),
        )

    def hello(self) -> Hello:
        """Load the submission (once) and say whether it can be called."""
        if self._hello is None:
            self._hello = self._spawn()
        return self._hello

    def observe(self, wire: dict[str, Any]) -> Reply:
        """Run the probe on one case's wire dict, within ``limits.deadline`` seconds."""
        hello = self.hello()
        if hello.error is not None:
            return Reply("not_loaded", message=hello.error)
        if self.proc is None or self.proc.poll() is not None:
            self.restarts += 1
            again = self._spawn()
            if again.error is not None:
                return Reply("crashed", message=f"could not restart the worker: {again.error}")
        assert self.proc is not None
        assert self.proc.stdin is not None
        try:
            self.proc.stdin.write((json.dumps({"op": "observe", "wire": wire}) + "\n").encode())
            self.proc.stdin.flush()
        except OSError:
            return Reply("crashed", message=self._death())
        message = self._read(self.limits.deadline)
        if isinstance(message, str):
            if message.startswith("timeout"):
                self._kill()
                return Reply(
                    "timeout",
                    message=f"no answer within {self.limits.deadline:g} s, so it was stopped",
                )
            return Reply("crashed", message=message)
        tampered = tuple(str(n) for n in message.get("tampered", ()))
        files = tuple(str(n) for n in message.get("files", ()))
        if message.get("ok") and isinstance(message.get("observation"), dict):
            return Reply("ok", message["observation"], "", tampered, files)
        return Reply("error", None, str(message.get("error", "no observation"))[:4000], tampered)

    def _read(self, timeout: float) -> dict[str, Any] | str:
        """One JSON reply, or a string saying why there is none ("timeout ..." or a death)."""
        assert self.proc is not None
        assert self.proc.stdout is not None
        fd = self.proc.stdout.fileno()
        end = time.monotonic() + timeout
        with selectors.DefaultSelector() as selector:
            selector.register(fd, selectors.EVENT_READ)
            while b"\n" not in self._buffer:
                remaining = end - time.monotonic()
                if remaining <= 0:
                    return "timeout"
                if not selector.select(remaining):
                    continue
                chunk = os.read(fd, 1 << 16)
                if not chunk:
                    return self._death()
                self._buffer.extend(chunk)
                if len(self._buffer) > MAX_REPLY:
                    self._kill()
                    return "the worker sent an oversized reply"
        line, _, rest = bytes(self._buffer).partition(b"\n")
        self._buffer = bytearray(rest)
        # Messages name the private copy; show the student their own file name instead.
        shown = json.dumps(self.display)[1:-1].encode()
        line = line.replace(str(self.lib / self.name).encode() + b".py", shown)
        line = line.replace(str(self.lib).encode(), b"<grader>")
        try:
            message = json.loads(line)
        except ValueError:
            self._kill()
            return "the worker sent a malformed reply"
        return message if isinstance(message, dict) else "the worker sent a malformed reply"

    def _death(self) -> str:
        """Why the worker is gone (waits for it)."""
        assert self.proc is not None
        try:
            code = self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self._kill()
            code = self.proc.returncode
        self._kill()
        if code == SETUP_FAILED:
            return "the sandbox could not be set up (exit 97)"
        if code is not None and code < 0:
            name = signal.Signals(-code).name if -code in signal.valid_signals() else str(-code)
            why = {
                "SIGXCPU": "CPU-time limit exceeded",
                "SIGKILL": "killed (memory or time limit)",
                "SIGSEGV": "segmentation fault",
                "SIGABRT": "aborted",
            }.get(name, "killed by a signal")
            return f"the process died: {name} ({why})"
        return f"the process exited with code {code} (os._exit or a crash in native code)"

    def _kill(self) -> None:
        proc = self.proc
        if proc is None:
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=10)
        for stream in (proc.stdin, proc.stdout):
            if stream is not None:
                with contextlib.suppress(OSError):
                    stream.close()
        for drain in self.drains:
            drain.join(timeout=2)
        if proc.stderr is not None:
            with contextlib.suppress(OSError):
                proc.stderr.close()
        self.proc = None

    def close(self) -> None:
        """Stop the worker and delete its private folder."""
        if self.proc is not None and self.proc.stdin is not None:
            with contextlib.suppress(OSError):
                self.proc.stdin.close()
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(timeout=2)
        self._kill()
        shutil.rmtree(self.box, ignore_errors=True)
