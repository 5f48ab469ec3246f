"""``python -m reports.gradescope``: Gradescope's bundle and driver.

Both live in ``reports.grading.autograder``; this name keeps the command working.
"""

from __future__ import annotations

import sys

from reports.grading.autograder import main

if __name__ == "__main__":
    sys.exit(main())
