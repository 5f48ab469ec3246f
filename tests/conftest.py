from __future__ import annotations

from properties import profiles

profiles.load()
