"""The parent's side of the worker: start it isolated, talk JSON, enforce deadlines.

A submission never runs in the grading process.  ``Worker`` copies the
submission, ``reports/worker.py`` and the probe into a private folder and runs
``python -I -S worker.py`` there:

- in a new session (its own process group), so that a timeout kills the worker
  and everything it started (``os.killpg``), after which the next request
  starts a fresh worker;
- with ``RLIMIT_AS`` (2 GB: torch needs ~700 MB), ``RLIMIT_CPU``,
  ``RLIMIT_FSIZE`` (and ``SIGXFSZ`` ignored, so a big write fails instead of
  killing) and no core files;
- with ``sys.path`` holding the standard library and site-packages only: not
  the repository, not the submission's folder (a class folder named
  ``implicit/`` would shadow the package), and the reference packages refused
  by an import blocker;
- when root and ``unshare`` works: in new network and mount namespaces (no
  network; the reference packages' folders covered by empty read-only tmpfs;
  the working folder a size-capped tmpfs), as user ``nobody``
  (``setpriv``).  Otherwise it says so (``Isolation.notes``) and goes on.

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
import resource
import selectors
import shutil
import signal
import subprocess
import sys
import sysconfig
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

WORKER = Path(__file__).with_name("worker.py")
#: Packages a submission must not import: the reference solution and the grader.
BLOCKED = ("implicit", "properties", "reports")
NOBODY = 65534
MAX_REPLY = 8 << 20
SETUP_FAILED = 97

_MOUNT_SCRIPT = (
    'work="$1"; shift; '
    'mount -t tmpfs -o size="$1"k,mode=0700,uid="$2",gid="$2" tmpfs "$work" || exit 97; '
    "shift 2; "
    'while [ "$1" != "--" ]; do '
    'mount -t tmpfs -o ro,size=4k,mode=0755 tmpfs "$1" || exit 97; shift; done; '
    'shift; cd "$work" || exit 97; exec "$@"'
)


@dataclasses.dataclass(frozen=True)
class Limits:
    """Resource limits of one worker.

    Attributes:
        deadline: seconds for one request (one case), enforced by the parent.
        startup: seconds to import torch, the probe and the submission.
        memory_bytes: ``RLIMIT_AS`` (torch alone needs ~700 MB).
        cpu_seconds: ``RLIMIT_CPU`` over one worker's life (a backstop).
        file_bytes: ``RLIMIT_FSIZE``: the largest file the worker may write.
        output_bytes: printed output kept for the report (the rest is counted).
        workdir_kib: size of the working folder's tmpfs (with namespaces).
    """

    deadline: float = 10.0
    startup: float = 60.0
    memory_bytes: int = 2 << 30
    cpu_seconds: int = 600
    file_bytes: int = 16 << 20
    output_bytes: int = 64 << 10
    workdir_kib: int = 64 << 10


@dataclasses.dataclass(frozen=True)
class Isolation:
    """What the platform allows, found once by a trial run.

    Attributes:
        namespaces: run under ``unshare --net --mount`` (no network, hidden packages).
        user: the uid to run as (``setpriv``), or None for the grader's own user.
        notes: sentences for the report on what is and is not isolated.
    """

    namespaces: bool
    user: int | None
    notes: tuple[str, ...]


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


def site_dirs() -> list[str]:
    """The interpreter's library folders the worker needs (torch lives there)."""
    paths = sysconfig.get_paths()
    found = []
    for key in ("purelib", "platlib"):
        path = paths.get(key)
        if path and path not in found and os.path.isdir(path):
            found.append(path)
    return found


def hidden_dirs() -> list[str]:
    """Folders of the blocked packages, to cover with an empty tmpfs in the worker."""
    found = []
    for name in BLOCKED:
        try:
            spec = importlib.util.find_spec(name)
        except (ImportError, ValueError):
            continue
        for location in (spec.submodule_search_locations or []) if spec else []:
            if os.path.isdir(location) and location not in found:
                found.append(location)
    return found


_PYCACHE = shutil.ignore_patterns("__pycache__", "*.pyc")


def _package_dir(name: str) -> Path:
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        raise ImportError(f"cannot find the package {name!r} to copy into the worker.")
    return Path(list(spec.submodule_search_locations)[0])


def _preexec(limits: Limits) -> None:
    resource.setrlimit(resource.RLIMIT_AS, (limits.memory_bytes, limits.memory_bytes))
    resource.setrlimit(resource.RLIMIT_CPU, (limits.cpu_seconds, limits.cpu_seconds + 5))
    resource.setrlimit(resource.RLIMIT_FSIZE, (limits.file_bytes, limits.file_bytes))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)


def _environment(work: Path) -> dict[str, str]:
    return {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "HOME": str(work),
        "TMPDIR": str(work),
        "LANG": "C.UTF-8",
        "OMP_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
        "OPENBLAS_NUM_THREADS": "1",
    }


def _wrap(command: list[str], work: Path, isolation: Isolation, limits: Limits) -> list[str]:
    """Prefix ``command`` with the namespace and privilege-dropping launchers."""
    if isolation.user is not None:
        user = str(isolation.user)
        command = [
            "setpriv",
            f"--reuid={user}",
            f"--regid={user}",
            "--clear-groups",
            "--inh-caps=-all",
            *command,
        ]
    if isolation.namespaces:
        uid = str(isolation.user if isolation.user is not None else os.geteuid())
        command = [
            "unshare",
            "--net",
            "--mount",
            "--",
            "/bin/sh",
            "-c",
            _MOUNT_SCRIPT,
            "sh",
            str(work),
            str(limits.workdir_kib),
            uid,
            *hidden_dirs(),
            "--",
            *command,
        ]
    return command


_TRIAL = (
    "import os, socket\n"
    "s = socket.socket(); s.settimeout(1)\n"
    "try:\n    s.connect(('192.0.2.1', 80)); net = 'open'\n"
    "except OSError as e:\n    net = 'cut' if e.errno in (101, 99) else 'open'\n"
    "hidden = all(not os.listdir(d) for d in {dirs!r})\n"
    "def readable(d):\n"
    "    try:\n        return bool(os.listdir(d))\n"
    "    except OSError:\n        return False\n"
    "print(net, hidden, os.getuid(), os.getcwd() == {work!r}, all(map(readable, {sites!r})))\n"
)


@functools.lru_cache(maxsize=1)
def detect_isolation() -> Isolation:
    """Find out once whether namespaces and a separate user work here."""
    if os.geteuid() != 0:
        return Isolation(
            False,
            None,
            (
                "Not running as root: the network is NOT cut and submissions run as the "
                "grader's user (imports of the reference are still refused).",
            ),
        )
    if not (shutil.which("unshare") and shutil.which("setpriv")):
        return Isolation(
            False,
            None,
            ("unshare/setpriv not found: the network is NOT cut and submissions run as root.",),
        )
    done = _trial(Isolation(True, NOBODY, ()))
    if isinstance(done, str):
        return Isolation(False, None, (f"Namespaces unavailable ({done}): network NOT cut.",))
    if done.returncode == 0 and done.stdout.strip() == f"cut True {NOBODY} True True":
        return Isolation(
            True,
            NOBODY,
            (
                "Workers run without network (unshare --net), as user nobody, with the "
                "reference packages hidden and a private size-capped working folder.",
            ),
        )
    if done.returncode == 0 and done.stdout.strip() == f"cut True {NOBODY} True False":
        # The Python environment (torch) is not readable by nobody, e.g. a venv
        # under /root or tox's private .tox folder: keep the namespaces, stay root.
        return Isolation(
            True,
            None,
            (
                "Workers run without network (unshare --net), with the reference packages "
                "hidden and a private size-capped working folder, but as root: this Python "
                "environment is not readable by user nobody (install it in a world-readable "
                "folder to drop privileges).",
            ),
        )
    why = (done.stderr.strip() or done.stdout.strip())[-300:]
    return Isolation(
        False,
        None,
        (f"unshare --net failed here ({why!r}): the network is NOT cut; running as root.",),
    )


def _trial(isolation: Isolation) -> subprocess.CompletedProcess[str] | str:
    """Run the isolation trial in a throwaway folder; a string says why it could not run."""
    with tempfile.TemporaryDirectory(prefix="iv-trial-") as tmp:
        os.chmod(tmp, 0o711)
        work = Path(tmp, "work")
        work.mkdir()
        code = _TRIAL.format(dirs=hidden_dirs(), work=str(work), sites=site_dirs())
        command = _wrap([sys.executable, "-I", "-S", "-c", code], work, isolation, Limits())
        try:
            return subprocess.run(
                command,
                capture_output=True,
                text=True,
                timeout=30,
                env=_environment(work),
                cwd=tmp,
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            return str(exc)


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
    """

    def __init__(
        self,
        submission: Path,
        assignment: str,
        probe: Path,
        limits: Limits | None = None,
        isolation: Isolation | None = None,
        trusted: tuple[str, ...] = (),
    ) -> None:
        self.assignment = assignment
        self.trusted = trusted
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
            "--assignment",
            self.assignment,
        ]
        if self.trusted:
            command += ["--site", str(self.lib / "trusted")]
        for site in site_dirs():
            command += ["--site", site]
        for name in BLOCKED:
            if name not in self.trusted:
                command += ["--block", name]
        return _wrap(command, self.work, self.isolation, self.limits)

    def _spawn(self) -> Hello:
        self._buffer = bytearray()
        self.proc = subprocess.Popen(
            self._command(),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            cwd=self.work,
            env=_environment(self.work),
            start_new_session=True,
            preexec_fn=functools.partial(_preexec, self.limits),  # noqa: PLW1509
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
