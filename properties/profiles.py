"""Hypothesis settings profiles, registered and loaded explicitly.

Hypothesis loads its own ``ci`` profile whenever the ``CI`` environment variable
is set (tox and CI set it), so we always load ours by name: the environment
variable ``IMPLICIT_PROFILE`` picks one of

- ``dev``: quick local runs (25 examples per property);
- ``ci``: the default for ``pytest``/``tox`` (60 examples, derandomized);
- ``thorough``: nightly, 10x ``ci``'s examples;
- ``grade``: derandomized, no database, no deadline: two runs give the same result.

torch's first calls are slow, so no profile has a deadline.

Every profile also stops Hypothesis from mixing "local constants" into its draws
(``pin_draws``): since 6.131 Hypothesis harvests the literals of every
non-library module in ``sys.modules`` and draws them now and then (about one
integer in 20), so the same seed gave different cases depending on which of our
modules happened to be imported before (``tests/test_meta.py`` imports
``checks``, ``probe``, ...) and on their source text.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

__all__ = ["CI_EXAMPLES", "PROFILES", "load", "pin_draws"]

CI_EXAMPLES = 60

_COMMON = {
    "deadline": None,
    "suppress_health_check": [HealthCheck.too_slow, HealthCheck.data_too_large],
}

settings.register_profile("dev", max_examples=25, **_COMMON)
settings.register_profile(
    "ci", max_examples=CI_EXAMPLES, derandomize=True, database=None, print_blob=True, **_COMMON
)
settings.register_profile(
    "thorough", max_examples=10 * CI_EXAMPLES, print_blob=True, database=None, **_COMMON
)
settings.register_profile(
    "grade", max_examples=CI_EXAMPLES, derandomize=True, database=None, **_COMMON
)

PROFILES = ("dev", "ci", "thorough", "grade")


def load(name: str | None = None) -> str:
    """Load the profile ``name`` (default: ``$IMPLICIT_PROFILE`` or ``"ci"``).

    Returns:
        The name of the loaded profile.

    Raises:
        ValueError: for an unknown profile name.
    """
    name = name or os.environ.get("IMPLICIT_PROFILE", "ci")
    if name not in PROFILES:
        raise ValueError(f"IMPLICIT_PROFILE={name!r} is not one of {PROFILES}; pick one of those.")
    settings.load_profile(name)
    pin_draws()
    return name


def pin_draws() -> None:
    """Make a seed's draws independent of which local modules are imported.

    Hypothesis (>= 6.131) draws, with a small probability, constants found in
    the source of every *local* module in ``sys.modules`` (``properties``,
    ``reports``, a submission loaded for grading ...).  That pool is process-wide,
    grows with each import and is not reset by ``derandomize`` or ``@seed``, so a
    derandomized test or ``frozen.draw`` drew other cases after another test
    had imported more modules.  This empties the local pool (its global,
    per-version constants stay), so the draws depend only on the seed, the
    strategy and the Hypothesis version.  Idempotent; a no-op on a Hypothesis
    without the mechanism.
    """
    try:
        from hypothesis.internal.conjecture import providers
        from hypothesis.internal.constants_ast import Constants
    except ImportError:  # pragma: no cover - older or newer Hypothesis
        return
    current = getattr(providers, "_get_local_constants", None)
    if current is None or getattr(current, "_pinned", False):
        return
    empty = Constants()

    def no_local_constants() -> Constants:
        return empty

    no_local_constants._pinned = True  # type: ignore[attr-defined]
    providers._get_local_constants = no_local_constants
    # Forget allowed-constant lists already computed from the local pool.
    cache = getattr(providers, "CONSTANTS_CACHE", None)
    if cache is not None:
        cache.cache.clear()
