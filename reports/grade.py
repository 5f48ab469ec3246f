"""``python -m reports.grade``: the grader's command line (``reports.grading.cli``)."""

from __future__ import annotations

import sys

from reports.grading.cli import main

if __name__ == "__main__":
    sys.exit(main())
