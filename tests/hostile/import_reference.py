"""Hostile: submits the reference solution instead of writing one."""

from implicit import fixed_point  # noqa: F401
