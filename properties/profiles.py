"""Hypothesis settings profiles, registered and loaded explicitly.

Hypothesis loads its own ``ci`` profile whenever the ``CI`` environment variable
is set (tox and CI set it), so we always load ours by name: the environment
variable ``IMPLICIT_PROFILE`` picks one of

- ``dev``: quick local runs (25 examples per property);
- ``ci``: the default for ``pytest``/``tox`` (60 examples, derandomized);
- ``thorough``: nightly, 10x ``ci``'s examples;
- ``grade``: derandomized, no database, no deadline: two runs give the same result.

torch's first calls are slow, so no profile has a deadline.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

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
    return name
