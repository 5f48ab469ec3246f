"""candidates.load_target: the reference, submission files, and clear errors."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from properties import candidates
from properties.candidates import TargetError, load_target

TESTS = Path(__file__).parent
WRONG = TESTS / "wrong"
EXAMPLES = TESTS.parent / "examples" / "submissions"


def test_the_reference_offers_both_assignments() -> None:
    target = load_target(None)
    assert target.assignment == candidates.BOTH
    assert target.supports("curve")
    assert target.supports("map")
    assert not load_target(None, "fixed_point").supports("curve")


@pytest.mark.parametrize(
    ("file", "assignment"),
    [(EXAMPLES / "notebook_implicit.py", "implicit"), (WRONG / "unrolled.py", "fixed_point")],
)
def test_the_assignment_is_inferred_and_the_folder_only_appended_to_sys_path(
    file: Path, assignment: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys, "path", [p for p in sys.path if p != str(file.parent)])
    before = list(sys.path)
    target = load_target(file)
    assert target.assignment == assignment
    assert target.name == file.name
    # the target's helpers are importable; nothing before it on the path moves
    assert sys.path == [*before, str(file.parent.resolve())]


def test_an_implicit_function_is_adapted(tmp_path: Path) -> None:
    path = tmp_path / "implicit.py"  # named like the reference package on purpose
    path.write_text("def implicit(F, x, y0):\n    return ('called', x, y0)\n")
    target = load_target(path)
    assert target.solve("F", 1, 2) == ("called", 1, 2)
    import implicit

    assert hasattr(implicit, "root_find")  # the reference is not shadowed


@pytest.mark.parametrize(
    ("text", "phrase"),
    [
        ("def solve(F, x, y0):\n    pass\n", "defines neither"),
        ("def fixed_point(f, a\n", "syntax error"),
        ("raise RuntimeError('boom')\ndef fixed_point(*a):\n    pass\n", "boom"),
    ],
)
def test_a_broken_file_gives_an_error_naming_it(tmp_path: Path, text: str, phrase: str) -> None:
    path = tmp_path / "student.py"
    path.write_text(text)
    with pytest.raises(TargetError, match=phrase) as info:
        load_target(path)
    assert "student.py" in str(info.value)


def test_a_missing_function_for_the_asked_assignment_is_named(tmp_path: Path) -> None:
    path = tmp_path / "student.py"
    path.write_text("def fixed_point(f, a, x0, distance, tol):\n    return x0\n")
    with pytest.raises(TargetError, match="Implicit"):
        load_target(path, "implicit")
