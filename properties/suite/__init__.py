"""The property suite, run by pytest against the ``target`` fixture.

Run it with ``pytest --pyargs properties.suite`` (add ``--target FILE`` for a
submission).  ``test_frozen.py`` checks every case of the frozen grading set;
``test_explore.py`` explores with Hypothesis, one test per family of properties,
and shows the shrunk failing case.
"""
