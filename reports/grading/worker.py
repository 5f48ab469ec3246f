"""The worker program: runs ONE submission, case by case, in its own process.

Run by file path (never imported by the worker itself from our packages)::

    python -I -S worker.py --lib DIR --submission submission.py --probe probe.py \
        --assignments assignments.py --assignment fixed_point \
        [--site SITE_PACKAGES ...] [--block implicit ...]

It uses the standard library and torch only, and loads by path, from ``--lib``,
the probe and ``properties/assignments.py`` (which adapts the submission's
function to the probe's calling convention).  The protocol is JSON lines over
the process's original stdin (requests) and stdout (replies), which are moved
onto private file descriptors *before* anything else is imported; file
descriptors 1 and 2 (the submission's ``print``) then go to the parent's
capped output pipe and file descriptor 0 reads ``/dev/null``.

Protocol (one JSON object per line, never a pickle):

- worker -> parent, once: ``{"event": "ready", "error": str | None,
  "error_kind": "syntax" | "import" | "exit" | "missing" | None,
  "defines": [names]}``;
- parent -> worker: ``{"op": "observe", "wire": {...}}``;
- worker -> parent: ``{"ok": true, "observation": {...}, "tampered": [...]}`` or
  ``{"ok": false, "error": str, "error_kind": "exit" | "exception" | "protocol",
  "tampered": [...]}``; ``tampered`` names the watched torch functions and the
  grader's own functions (``probe.*``, ``worker.*``, ``assignments.*``) found replaced.

The parent alone enforces the deadline (it kills the process group) and
judges the observation.  Nothing here can stop a submission that deliberately
attacks this process (it runs in it); the parent validates what comes back.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.abc
import importlib.util
import inspect
import json
import os
import sys
import traceback
import types
from typing import Any

_REQUESTS = -1
_REPLIES = -1
#: Our own files, whose frames a student never sees in a traceback.
_OURS = {os.path.abspath(__file__)}


def _take_protocol() -> tuple[int, int]:
    """Move the protocol pipes onto private fds; send fd 1/2 to the output pipe.

    Returns:
        ``(requests_fd, replies_fd)``; both are non-inheritable, so a process
        the submission starts cannot write to the protocol.
    """
    requests = os.dup(0)
    replies = os.dup(1)
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)
    os.dup2(2, 1)  # print() and the submission's stderr share the capped pipe
    return requests, replies


_dumps = json.dumps
_loads = json.loads

#: torch callables a submission might replace to fool a check; compared by identity.
_WATCHED = (
    ("torch.autograd", "gradcheck"),
    ("torch.autograd", "gradgradcheck"),
    ("torch.autograd", "grad"),
    ("torch.autograd", "backward"),
    ("torch.autograd.function.Function", "apply"),
    ("torch.Tensor", "backward"),
    ("torch", "allclose"),
    ("torch", "isfinite"),
    ("torch.linalg", "solve"),
)

MAX_TRACEBACK = 4000


class _Blocker(importlib.abc.MetaPathFinder):
    """Refuse to import the reference solution and the grader's own packages."""

    def __init__(self, names: set[str]) -> None:
        self.names = names

    def find_spec(self, fullname: str, path: Any = None, target: Any = None) -> None:
        if fullname.split(".")[0] in self.names:
            raise ImportError(
                f"No module named {fullname!r}: the package {fullname.split('.')[0]!r} is not "
                "available to submissions (write the code in your own file)."
            )
        return None


def _send(payload: dict[str, Any]) -> None:
    data = (_dumps(payload, allow_nan=True) + "\n").encode()
    view = memoryview(data)
    while view:
        view = view[os.write(_REPLIES, view) :]


def _read_line(buffer: bytearray) -> bytes | None:
    while b"\n" not in buffer:
        chunk = os.read(_REQUESTS, 1 << 16)
        if not chunk:
            return None
        buffer.extend(chunk)
    line, _, rest = bytes(buffer).partition(b"\n")
    buffer[:] = rest
    return line


def _load_file(name: str, path: str) -> types.ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def _describe(exc: BaseException) -> str:
    """The exception as a student should see it: their frames only, never ours."""
    if isinstance(exc, SystemExit):
        return f"the code called sys.exit({exc.code!r})"
    if isinstance(exc, KeyboardInterrupt):
        return "the code raised KeyboardInterrupt"
    frames = [
        frame
        for frame in traceback.extract_tb(exc.__traceback__)
        if os.path.abspath(frame.filename) not in _OURS and not frame.filename.startswith("<frozen")
    ]
    text = "".join(traceback.format_list(frames)) + "".join(traceback.format_exception_only(exc))
    return ("Traceback (most recent call last):\n" + text if frames else text)[-MAX_TRACEBACK:]


def _watched(torch: Any) -> dict[str, Any]:
    found = {}
    for owner, attr in _WATCHED:
        obj: Any = torch
        try:
            for part in owner.split(".")[1:]:
                obj = getattr(obj, part)
            # getattr_static: a classmethod's bound method is new on every access
            found[f"{owner}.{attr}"] = inspect.getattr_static(obj, attr)
        except AttributeError:
            continue
    return found


def _flush() -> None:
    """Push what the submission printed to the output pipe (it may have replaced sys.stdout)."""
    for stream in (sys.stdout, sys.stderr, sys.__stdout__, sys.__stderr__):
        with contextlib.suppress(Exception):  # a broken stream must not stop the worker
            stream.flush()


def _own(probe: types.ModuleType, adapter: types.ModuleType) -> dict[str, Any]:
    """The grader's own functions and classes in this process: the probe's, this
    worker's and the adapter's, as ``probe.NAME`` / ``worker.NAME`` / ``assignments.NAME``.

    A submission that replaces one could forge its observation; the parent then
    discards everything this worker measured.  Tamper evidence against
    monkeypatching, not a sandbox: code in this process can always do more.
    """
    found = {}
    namespaces = (("probe", vars(probe)), ("worker", globals()), ("assignments", vars(adapter)))
    for prefix, namespace in namespaces:
        for name, obj in namespace.items():
            if inspect.isfunction(obj) or inspect.isclass(obj):
                found[f"{prefix}.{name}"] = obj
    return found


def _snapshot(torch: Any, probe: types.ModuleType, adapter: types.ModuleType) -> dict[str, Any]:
    """Every function whose replacement is reported: torch's watched ones and ours."""
    return {**_watched(torch), **_own(probe, adapter)}


def _tampered(
    torch: Any, before: dict[str, Any], probe: types.ModuleType, adapter: types.ModuleType
) -> list[str]:
    now = _snapshot(torch, probe, adapter)
    return sorted(name for name, fn in before.items() if now.get(name) is not fn)


def _settle() -> None:
    """Give the code a folder of its own to write in, and the tools a home apart from it.

    The worker starts in its private working folder W (``HOME`` = ``TMPDIR`` = W).  It
    makes ``W/home`` the home of every per-user cache and setting (matplotlib's font
    cache, XDG caches) and moves into ``W/run``, whose names ``_files`` reports: what
    the submission writes to its current folder is its own doing, what a library it
    imports caches in ``~`` or in ``TMPDIR`` (torch's compile cache) is not.
    """
    home, run = os.path.abspath("home"), os.path.abspath("run")
    for folder in (home, run):
        os.makedirs(folder, exist_ok=True)
    os.environ.update(
        HOME=home,
        XDG_CACHE_HOME=os.path.join(home, ".cache"),
        XDG_CONFIG_HOME=os.path.join(home, ".config"),
        MPLCONFIGDIR=os.path.join(home, ".config", "matplotlib"),
    )
    os.chdir(run)


def _files() -> list[str]:
    """Names in the working folder (what the submission wrote there), at most 20."""
    try:
        return sorted(os.listdir("."))[:20]
    except OSError:
        return []


#: Tiny cases run once at start-up with a throw-away candidate, so that torch's
#: slow first calls (autograd, linalg, gradcheck) do not eat a case's deadline.
_WARM_UP = (
    {"kind": "map", "f": ["0.5 * x + a"], "a": [1.0], "x0": [0.0], "tol": 1e-8, "scalar": True},
    {
        "kind": "map",
        "f": ["0.5 * x[0] + a[0]", "0.25 * x[1] + a[1]"],
        "a": [1.0, 1.0],
        "x0": [0.0, 0.0],
        "tol": 1e-8,
        "dtype": "float32",
    },
    {"kind": "curve", "F": "x**2 + y**2 - 1", "x": 0.5, "y0": 0.8},
)


def _warm_fixed_point(f: Any, a: Any, x0: Any, distance: Any, tol: float) -> Any:
    x = x0
    for _ in range(60):
        x_prev, x = x, f(a)(x)
        if float(distance(x, x_prev)) <= tol:
            break
    return x


def _warm_solve(F: Any, x: Any, y0: Any) -> Any:
    return (1 - x * x).sqrt() + 0 * y0  # the warm-up curve is the unit circle


def _warm_up(probe: Any) -> None:
    for wire in _WARM_UP:
        candidate = _warm_fixed_point if wire["kind"] == "map" else _warm_solve
        with contextlib.suppress(Exception):
            probe.observe(wire, candidate)


def _candidate(
    module: types.ModuleType, probe: Any, adapter: types.ModuleType, assignment: str
) -> Any:
    """The callable ``probe.observe`` is given (``assignments.candidate``), or None
    when the file lacks it."""
    maker = getattr(probe, "make_candidate", None)
    if callable(maker):
        return maker(module, assignment)
    return adapter.candidate(module, assignment)


def serve(argv: list[str] | None = None) -> int:
    """Load torch, the probe and the submission; answer requests until EOF.

    Only ever run as a program: it takes over file descriptors 0, 1 and 2.
    """
    global _REQUESTS, _REPLIES
    _REQUESTS, _REPLIES = _take_protocol()
    parser = argparse.ArgumentParser(prog="worker.py")
    parser.add_argument("--lib", required=True)
    parser.add_argument("--submission", required=True)
    parser.add_argument("--probe", required=True)
    parser.add_argument("--assignments", required=True)
    parser.add_argument("--assignment", required=True)
    parser.add_argument("--site", action="append", default=[])
    parser.add_argument("--block", action="append", default=[])
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)

    for site in args.site:
        if site not in sys.path:
            sys.path.append(site)
    sys.meta_path.insert(0, _Blocker(set(args.block)))
    _settle()

    import torch

    torch.set_num_threads(args.threads)
    probe = _load_file("_iv_probe", os.path.join(args.lib, args.probe))
    adapter = _load_file("_iv_assignments", os.path.join(args.lib, args.assignments))
    _OURS.add(os.path.abspath(adapter.__file__))
    if args.assignment not in adapter.ASSIGNMENTS:
        parser.error(f"--assignment {args.assignment!r} must be one of {adapter.ASSIGNMENTS}")
    _warm_up(probe)
    before = _snapshot(torch, probe, adapter)

    hello: dict[str, Any] = {"event": "ready", "error": None, "error_kind": None, "defines": []}
    module = None
    try:
        module = _load_file("submission", os.path.join(args.lib, args.submission))
    except SyntaxError as exc:
        hello.update(error="".join(traceback.format_exception_only(exc)), error_kind="syntax")
    except BaseException as exc:  # noqa: BLE001 - whatever the import did, report it
        kind = "exit" if isinstance(exc, SystemExit) else "import"
        hello.update(error=_describe(exc), error_kind=kind)
    candidate = None
    if module is not None:
        hello["defines"] = sorted(n for n in vars(module) if not n.startswith("_"))[:200]
        candidate = _candidate(module, probe, adapter, args.assignment)
        if candidate is None:
            hello.update(
                error=f"the file does not define {adapter.expected(args.assignment)}.",
                error_kind="missing",
            )
    hello["tampered"] = _tampered(torch, before, probe, adapter)
    _flush()
    _send(hello)

    buffer = bytearray()
    while True:
        line = _read_line(buffer)
        if line is None:
            return 0
        try:
            request = _loads(line)
            wire = request["wire"]
        except (ValueError, KeyError, TypeError) as exc:
            _send({"ok": False, "error": f"bad request: {exc}", "error_kind": "protocol"})
            continue
        if candidate is None:
            _send({"ok": False, "error": hello["error"], "error_kind": "missing"})
            continue
        torch.manual_seed(0)
        reply: dict[str, Any]
        try:
            observation = probe.observe(wire, candidate)
            reply = {"ok": True, "observation": observation}
            _dumps(reply, allow_nan=True)
        except BaseException as exc:  # noqa: BLE001 - sys.exit, KeyboardInterrupt, anything
            kind = "exit" if isinstance(exc, SystemExit) else "exception"
            reply = {"ok": False, "error": _describe(exc), "error_kind": kind}
        reply["tampered"] = _tampered(torch, before, probe, adapter)
        reply["files"] = _files()
        _flush()
        try:
            _send(reply)
        except (TypeError, ValueError) as exc:
            _send({"ok": False, "error": f"unusable observation: {exc}", "error_kind": "protocol"})


if __name__ == "__main__":
    sys.exit(serve())
