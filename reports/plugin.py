"""pytest plugin: choose the implementation under test and shape the HTML report.

Registered through the ``pytest11`` entry point ``implicit_report`` (and loadable
with ``-p reports.plugin``).  It adds, in the option group "implicit
verification":

- ``--target PATH``: the ``.py`` file under test (default: the reference
  implementation, ``implicit``);
- ``--assignment implicit|fixed_point``: which contract the file follows
  (default: inferred from what the file defines);

and the session-scoped fixture ``target``.  When pytest-html is active
(``--html``), it also titles the report, puts a per-property and per-family
summary on top, adds sortable columns, attaches plots and the checks of every
case, moves Hypothesis statistics where pytest-html 4 shows them, and says how
to reproduce a shrunk failing example.

The hooks stay thin: the work is done by plain functions in ``summary.py``,
``columns.py``, ``details.py`` and ``plots.py``, which are tested without pytest.
"""

from __future__ import annotations

from typing import Any

import pytest

from properties.assignments import ASSIGNMENTS

from ._hooks import ReportHooks

#: Default for ``--report-max-passing``: passing rows listed in the HTML table.
MAX_PASSING_ROWS = 100
#: Default for ``--report-max-rows``: failing, erroring and degenerate rows listed.
MAX_OTHER_ROWS = 300


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
def target(request: pytest.FixtureRequest) -> Any:
    """The implementation under test, from ``--target``/``--assignment``.

    Returns:
        ``properties.candidates.load_target(path, assignment)``: an object with
        ``.name`` and ``.assignment``; the reference when ``--target`` is not given.
    """
    config = request.config
    return _load_target(
        config.getoption("implicit_target"), config.getoption("implicit_assignment")
    )


def pytest_configure(config: pytest.Config) -> None:
    config.pluginmanager.register(
        ReportHooks(
            target_path=config.getoption("implicit_target"),
            assignment=config.getoption("implicit_assignment"),
            max_passing=config.getoption("implicit_max_passing"),
            max_rows=config.getoption("implicit_max_rows"),
            html_enabled=bool(getattr(config.option, "htmlpath", None)),
        ),
        ReportHooks.NAME,
    )


def pytest_unconfigure(config: pytest.Config) -> None:
    hooks = config.pluginmanager.get_plugin(ReportHooks.NAME)
    if hooks is not None:
        config.pluginmanager.unregister(hooks)
