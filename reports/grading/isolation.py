"""What the platform allows a worker, found once, and the launch that applies it.

``detect_isolation`` runs a trial once: when root and ``unshare`` work, workers
run in new network and mount namespaces (no network; the blocked packages'
folders covered by empty read-only tmpfs; the working folder a size-capped
tmpfs), as user ``nobody`` (``setpriv``); otherwise ``Isolation.notes`` says
what is not isolated.  ``wrap`` prefixes a worker's command with those
launchers; ``preexec`` sets its resource limits (``Limits``): ``RLIMIT_AS``
(2 GB: torch needs ~700 MB), ``RLIMIT_CPU``, ``RLIMIT_FSIZE`` (and ``SIGXFSZ``
ignored, so a big write fails instead of killing) and no core files;
``environment`` is its whole environment.
"""

from __future__ import annotations

import dataclasses
import functools
import importlib.util
import os
import resource
import shutil
import signal
import subprocess
import sys
import sysconfig
import tempfile
from pathlib import Path

#: Packages a submission must not import: the reference solution and the grader.
BLOCKED = ("implicit", "properties", "reports")
NOBODY = 65534
#: The exit status of the mount script when the sandbox cannot be set up.
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


def preexec(limits: Limits) -> None:
    resource.setrlimit(resource.RLIMIT_AS, (limits.memory_bytes, limits.memory_bytes))
    resource.setrlimit(resource.RLIMIT_CPU, (limits.cpu_seconds, limits.cpu_seconds + 5))
    resource.setrlimit(resource.RLIMIT_FSIZE, (limits.file_bytes, limits.file_bytes))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)


def environment(work: Path) -> dict[str, str]:
    return {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "HOME": str(work),
        "TMPDIR": str(work),
        "LANG": "C.UTF-8",
        "OMP_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
        "OPENBLAS_NUM_THREADS": "1",
    }


def wrap(command: list[str], work: Path, isolation: Isolation, limits: Limits) -> list[str]:
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
        command = wrap([sys.executable, "-I", "-S", "-c", code], work, isolation, Limits())
        try:
            return subprocess.run(
                command,
                capture_output=True,
                text=True,
                timeout=30,
                env=environment(work),
                cwd=tmp,
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            return str(exc)
