"""pytest plugin: choose the implementation under test and shape the HTML report.

Registered through the ``pytest11`` entry point ``implicit_report`` (and loadable
with ``-p reports.plugin``).  It adds, in the option group "implicit
verification":

- ``--target PATH``: the ``.py`` file under test (default: the reference
  implementation, ``implicit``);
- ``--assignment implicit|fixed_point``: which contract the file follows
  (default: inferred from what the file defines);
- ``--target-deadline SECONDS``: the per-case deadline of the isolated worker
  that runs the target (``reports.isolated``); ``--in-process`` runs it in
  pytest's own process instead (no deadline: for a debugger);
- ``--report-json PATH``: machine-readable results (``reports.results``);

and the session-scoped fixture ``target``: the reference in process, or the
``--target`` file in its isolated worker, so that a hang or a crash is a
reported error and the report is still written.  When pytest-html is active
(``--html``), it also titles the report, puts a per-property and per-family
summary on top, adds sortable columns, attaches plots and the checks of every
case, moves Hypothesis statistics where pytest-html 4 shows them, and says how
to reproduce a shrunk failing example.

The hooks stay thin: the work is done by plain functions in ``summary.py``,
``columns.py``, ``details.py`` and ``plots.py``, which are tested without pytest.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

from properties.assignments import ASSIGNMENTS

from ._hooks import ReportHooks

if TYPE_CHECKING:
    from collections.abc import Generator

    from .isolated import IsolatedRun

#: Default for ``--report-max-passing``: passing rows listed in the HTML table.
MAX_PASSING_ROWS = 100
#: Default for ``--report-max-rows``: failing, erroring and degenerate rows listed.
MAX_OTHER_ROWS = 300
#: Default for ``--target-deadline``: seconds one case of a ``--target`` may take.
DEADLINE = 20.0

_ISOLATED: pytest.StashKey[IsolatedRun] = pytest.StashKey()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("implicit verification", "implicit differentiation verification")
    group.addoption(
        "--target",
        action="store",
        dest="implicit_target",
        metavar="PATH",
        default=None,
        help="Python file under test (a student submission). "
        "Default: the reference implementation in the 'implicit' package.",
    )
    group.addoption(
        "--assignment",
        action="store",
        dest="implicit_assignment",
        choices=ASSIGNMENTS,
        default=None,
        help="Contract the target follows: 'implicit' (Implicit.apply / implicit(F, x, y0)) "
        "or 'fixed_point' (HIPS-style fixed_point(f, a, x0, distance, tol)). "
        "Default: inferred from what the target defines.",
    )
    group.addoption(
        "--report-max-passing",
        action="store",
        dest="implicit_max_passing",
        type=int,
        metavar="N",
        default=MAX_PASSING_ROWS,
        help="Passing cases listed as rows of the HTML report (the rest are counted in "
        f"the summary). Default: {MAX_PASSING_ROWS}.",
    )
    group.addoption(
        "--report-max-rows",
        action="store",
        dest="implicit_max_rows",
        type=int,
        metavar="N",
        default=MAX_OTHER_ROWS,
        help="Failing, erroring and degenerate cases listed as rows of the HTML report "
        f"(the rest are counted in the summary). Default: {MAX_OTHER_ROWS}.",
    )
    group.addoption(
        "--target-deadline",
        action="store",
        dest="implicit_deadline",
        type=float,
        metavar="SECONDS",
        default=DEADLINE,
        help="Seconds one case of the --target may take in its isolated worker before it is "
        f"stopped and reported as a timeout. Default: {DEADLINE:g}.",
    )
    group.addoption(
        "--in-process",
        action="store_true",
        dest="implicit_in_process",
        default=False,
        help="Run the --target in pytest's own process (no isolation, no deadline: a hang "
        "hangs the run). Default: off, the target runs in an isolated worker.",
    )
    group.addoption(
        "--report-json",
        action="store",
        dest="implicit_json",
        metavar="PATH",
        default=None,
        help="Also write the results per property as JSON to PATH (see reports.results). "
        "Default: not written.",
    )


def _load_target(path: str | None, assignment: str | None) -> Any:
    try:
        from properties.candidates import load_target
    except ImportError as exc:  # pragma: no cover - only while properties/ is being written
        raise pytest.UsageError(
            "The 'target' fixture needs properties.candidates.load_target, which could not "
            f"be imported ({exc}). Install the project (pip install -e .) or check that "
            "properties/candidates.py exists."
        ) from exc
    return load_target(path, assignment)


@pytest.fixture(scope="session")
def target(request: pytest.FixtureRequest) -> Generator[Any, None, None]:
    """The implementation under test, from ``--target``/``--assignment``.

    Yields:
        A ``properties.candidates.Target``: the reference (in process) when
        ``--target`` is not given; else the file run in an isolated worker
        (``reports.isolated``), or loaded here with ``--in-process``.
    """
    config = request.config
    path = config.getoption("implicit_target")
    assignment = config.getoption("implicit_assignment")
    if path is None or config.getoption("implicit_in_process"):
        yield _load_target(path, assignment)
        return
    from .isolated import IsolatedRun

    run = config.stash[_ISOLATED] = IsolatedRun(
        path, assignment, config.getoption("implicit_deadline")
    )
    try:
        yield run.target()
    finally:
        run.close()


def pytest_runtest_setup(item: pytest.Item) -> None:
    run = item.config.stash.get(_ISOLATED, None)
    if run is not None:
        run.begin(item.nodeid)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, Any, None]:
    """A test that stopped because its target timed out failed (it was skipped to stop)."""
    report = (yield).get_result()
    run = item.config.stash.get(_ISOLATED, None)
    if report.when == "call" and report.skipped and run is not None:
        why = run.timed_out.get(item.nodeid)
        if why is not None:
            report.outcome = "failed"
            report.longrepr = (
                f"The target did not return within the deadline ({why}); the rest of this "
                "test was not run. See the row's case."
            )


def pytest_configure(config: pytest.Config) -> None:
    config.pluginmanager.register(
        ReportHooks(
            target_path=config.getoption("implicit_target"),
            assignment=config.getoption("implicit_assignment"),
            max_passing=config.getoption("implicit_max_passing"),
            max_rows=config.getoption("implicit_max_rows"),
            html_enabled=bool(getattr(config.option, "htmlpath", None)),
            json_path=config.getoption("implicit_json"),
        ),
        ReportHooks.NAME,
    )


def pytest_unconfigure(config: pytest.Config) -> None:
    hooks = config.pluginmanager.get_plugin(ReportHooks.NAME)
    if hooks is not None:
        config.pluginmanager.unregister(hooks)
