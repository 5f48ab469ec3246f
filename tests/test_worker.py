"""The isolated worker: each hostile submission is contained and reported for what it did.

Every test starts a real worker process (torch import, ~2 s); deadlines are
short so that the hanging ones cost a few seconds each.
"""

from __future__ import annotations

import json
import math
import os
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from reports.grading.isolation import Limits, detect_isolation, site_dirs
from reports.grading.sandbox import Worker

HOSTILE = Path(__file__).parent / "hostile"
EXAMPLES = Path(__file__).parents[1] / "examples" / "submissions"
PROBE = Path(__file__).parents[1] / "properties" / "probe.py"
LIMITS = Limits(deadline=3.0, startup=90.0, output_bytes=4096)

#: A contracting scalar map x = a cos(x) / 2: rho ~ -0.1, fixed point ~ 0.196.
WIRE = {
    "kind": "map",
    "f": ["0.5 * a * torch.cos(x)"],
    "a": [0.4],
    "x0": [0.0],
    "tol": 1e-10,
    "dtype": "float64",
    "scalar": True,
    "weights": [0.7],
}

Factory = Callable[..., Worker]


@pytest.fixture
def worker() -> Iterator[Factory]:
    started: list[Worker] = []

    def make(path: Path, limits: Limits = LIMITS, assignment: str = "fixed_point") -> Worker:
        started.append(Worker(path, assignment, PROBE, limits))
        return started[-1]

    yield make
    for w in started:
        w.close()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_worker_observes_a_correct_submission(worker: Factory) -> None:
    w = worker(EXAMPLES / "correct_fixed_point.py")
    assert w.hello().error is None
    reply = w.observe(WIRE)
    assert reply.status == "ok", reply.message
    assert reply.observation is not None
    (vjp,) = reply.observation["vjp"]
    assert math.isfinite(vjp)
    assert "call_error" not in reply.observation


def test_worker_is_isolated_from_the_repository_and_the_network(
    worker: Factory, tmp_path: Path
) -> None:
    # A class folder named implicit/ beside the submission must not shadow anything.
    (tmp_path / "implicit").mkdir()
    (tmp_path / "implicit" / "__init__.py").write_text("SHADOW = True\n")
    spy = tmp_path / "spy.py"
    spy.write_text(
        textwrap.dedent(
            """
            import json, os, socket, sys
            facts = {"path": sys.path, "cwd": os.getcwd(), "uid": os.getuid(),
                     "flags": [sys.flags.isolated, sys.flags.no_site]}
            for name in ("implicit", "properties", "reports"):
                try:
                    __import__(name)
                    facts[name] = "imported"
                except ImportError as exc:
                    facts[name] = "ImportError: " + str(exc)
            try:
                socket.create_connection(("192.0.2.1", 80), timeout=1)
                facts["net"] = "open"
            except OSError as exc:
                facts["net"] = str(exc)
            print("FACTS" + json.dumps(facts))

            def fixed_point(f, a, x0, distance, tol):
                return x0
            """
        )
    )
    w = worker(spy)
    assert w.hello().error is None
    w.close()
    facts = json.loads(w.output.split("FACTS", 1)[1].splitlines()[0])
    repo = str(Path(__file__).parents[1])
    assert facts["flags"] == [1, 1]
    # The environment's own site-packages may live inside the repository (tox's
    # .tox/): that is torch, not our sources.
    inside = [p for p in facts["path"] if p == repo or p.startswith(repo + os.sep)]
    assert not [p for p in inside if p not in site_dirs()]
    assert str(tmp_path) not in facts["path"]
    for name in ("implicit", "properties", "reports"):
        assert facts[name].startswith("ImportError"), facts[name]
    assert facts["cwd"] != str(tmp_path)
    if detect_isolation().namespaces:
        assert facts["net"] != "open"
        assert facts["uid"] == detect_isolation().user


def test_worker_reports_a_syntax_error(worker: Factory) -> None:
    hello = worker(HOSTILE / "syntax_error.py").hello()
    assert hello.error_kind == "syntax"
    assert "syntax_error.py" in (hello.error or "")
    assert "<grader>" not in (hello.error or "")


def test_worker_reports_a_missing_function(worker: Factory) -> None:
    w = worker(HOSTILE / "missing_function.py")
    hello = w.hello()
    assert hello.error_kind == "missing"
    assert "fixed_pt" in hello.defines
    assert w.observe(WIRE).status == "not_loaded"


def test_worker_refuses_the_reference_solution(worker: Factory) -> None:
    hello = worker(HOSTILE / "import_reference.py").hello()
    assert hello.error_kind == "import"
    assert "not available to submissions" in (hello.error or "")
    assert "worker.py" not in (hello.error or "")  # the student sees their frames only


def test_worker_times_out_a_hang_at_import(worker: Factory) -> None:
    hello = worker(HOSTILE / "hang_at_import.py", Limits(startup=8.0)).hello()
    assert hello.error_kind == "timeout"


def test_worker_kills_a_hanging_call_and_restarts(worker: Factory) -> None:
    w = worker(HOSTILE / "hang_in_call.py", Limits(deadline=1.5, startup=90.0))
    assert w.hello().error is None
    assert w.proc is not None
    pid = w.proc.pid
    first = w.observe(WIRE)
    assert first.status == "timeout"
    assert not _alive(pid)
    assert w.observe(WIRE).status == "timeout"  # a fresh worker, stopped again
    assert w.restarts == 1


@pytest.mark.parametrize(
    ("name", "status", "words"),
    [
        ("os_exit_in_call.py", "crashed", "code 3"),
        ("segfault_in_call.py", "crashed", "SIGSEGV"),
        ("sys_exit_in_call.py", "error", "sys.exit('bye')"),
    ],
)
def test_worker_survives_exits_and_crashes(
    worker: Factory, name: str, status: str, words: str
) -> None:
    w = worker(HOSTILE / name)
    reply = w.observe(WIRE)
    assert reply.status == status
    assert words in reply.message
    assert w.observe(WIRE).status == status  # restarted, same answer


def test_worker_caps_a_flood_of_output(worker: Factory) -> None:
    w = worker(HOSTILE / "flood_output.py", Limits(deadline=30.0, startup=90.0, output_bytes=1000))
    reply = w.observe(WIRE)
    assert reply.status == "ok"
    assert "call_error" not in (reply.observation or {})
    w.close()
    assert w.output_total >= 50 << 20
    assert len(w.output) <= 1000


def test_worker_contains_an_unbounded_allocation(worker: Factory) -> None:
    w = worker(HOSTILE / "unbounded_memory.py", Limits(deadline=20.0, startup=90.0))
    reply = w.observe(WIRE)
    if reply.status == "ok":
        assert reply.observation is not None
        assert reply.observation["call_error"]["type"] == "MemoryError"
    else:
        assert reply.status == "crashed"


def test_worker_keeps_its_own_gradcheck(worker: Factory) -> None:
    w = worker(HOSTILE / "patch_gradcheck.py")
    assert "torch.autograd.gradcheck" in w.hello().tampered
    reply = w.observe(WIRE)
    assert reply.status == "ok"
    assert reply.observation is not None
    assert reply.observation["gradcheck"]["passed"] is False
    assert "torch.autograd.gradcheck" in reply.tampered


def test_worker_keeps_written_files_in_its_private_folder(worker: Factory, tmp_path: Path) -> None:
    submission = tmp_path / "student" / "write_files.py"
    submission.parent.mkdir()
    submission.write_bytes((HOSTILE / "write_files.py").read_bytes())
    w = worker(submission)
    reply = w.observe(WIRE)
    assert reply.status == "ok"
    assert "pwned_cwd.txt" in reply.files
    box = w.box
    w.close()
    assert sorted(p.name for p in submission.parent.iterdir()) == ["write_files.py"]
    assert not list(tmp_path.glob("pwned*"))
    assert not box.exists()


def test_caches_of_imported_tools_are_not_the_codes_files(worker: Factory, tmp_path: Path) -> None:
    # matplotlib writes its font cache under ~ at import, and code may cache under ~
    # too: neither is a file the submission left in its working folder.
    submission = tmp_path / "caches.py"
    submission.write_text(
        "import os\n"
        "import matplotlib\n"
        "matplotlib.use('Agg')\n"
        "import matplotlib.pyplot\n"
        "os.makedirs(os.path.expanduser('~/.cache/mine'), exist_ok=True)\n"
        "open(os.path.expanduser('~/.cache/mine/x'), 'w').write('x')\n"
        + (EXAMPLES / "correct_fixed_point.py").read_text()
    )
    w = worker(submission)
    reply = w.observe(WIRE)
    assert reply.status == "ok"
    assert reply.files == ()
