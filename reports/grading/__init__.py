"""The grader: every submission on the same frozen cases, each in its own isolated worker.

Modules, each importing only those above it:

- ``records``: what happened on a case, and the load statuses;
- ``rubric``: points per property, read from TOML (``rubric_*.toml``), and the score;
- ``explore``: the search beyond the frozen cases (feedback, never score);
- ``graded``: a graded submission (``Graded``);
- ``gradebook``: the class's CSV and HTML, and each student's report;
- ``gradescope_results``: Gradescope's ``results.json``;
- ``isolation``, ``sandbox``: the worker's launch and limits, and the parent's side of it;
- ``worker``: the program run in the worker (by file path, stdlib and torch only);
- ``judging``: one case sent to the worker and judged here;
- ``run``: ``grade_file`` and ``grade_class``;
- ``cli`` (``python -m reports.grade``) and ``autograder`` (Gradescope's bundle and driver).
"""
