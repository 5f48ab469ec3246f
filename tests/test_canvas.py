"""canvas.csv: the columns and rows Canvas's gradebook import reads, by roster or by file."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest
from test_grade_cache import graded_from_text

from reports.grading import canvas
from reports.grading.graded import Graded


def class_of(tmp_path: Path, **files: str) -> list[Graded]:
    graded = []
    for name, text in files.items():
        path = tmp_path / name.replace("_py", ".py")
        path.write_text(text)
        graded.append(graded_from_text(path, path.name))
    return graded


def rows(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text)))


def test_canvas_csv_has_canvas_header_points_possible_and_rows_keyed_by_file(
    tmp_path: Path,
) -> None:
    graded = class_of(tmp_path, a_py="root=pass", b_py="grad=fail")
    table = rows(canvas.to_csv(graded))
    # Canvas's importer: Student, ID, then SIS User ID + SIS Login ID, the fifth column Section.
    assert table[0] == ["Student", "ID", "SIS User ID", "SIS Login ID", "Section", "fixed_point"]
    assert table[1] == ["Points Possible", "", "", "", "", "10"]
    assert table[2:] == [["a.py", "", "", "", "", "10"], ["b.py", "", "", "", "", "5"]]


def test_canvas_csv_takes_students_from_the_roster(tmp_path: Path) -> None:
    roster_file = tmp_path / "roster.csv"
    roster_file.write_text(
        "File,Name,ID,SIS User ID,SIS Login ID,Section\n"
        'a.py,"Lovelace, Ada",101,S1,ada,Mon\n'
        'z.py,"Noether, Emmy",102,S2,emmy,Tue\n'
    )
    roster = canvas.read_roster(roster_file)
    graded = class_of(tmp_path, a_py="root=pass", b_py="grad=fail")
    table = rows(canvas.to_csv(graded, roster))
    assert table[2:] == [
        ["Lovelace, Ada", "101", "S1", "ada", "Mon", "10"],
        ["b.py", "", "", "", "", "5"],  # not in the roster: keyed by file
        ["Noether, Emmy", "102", "S2", "emmy", "Tue", ""],  # no submission: left blank
    ]
    assert canvas.unmatched(graded, roster) == ["b.py"]


def test_canvas_csv_one_student_two_submissions_keeps_the_higher(tmp_path: Path) -> None:
    roster_file = tmp_path / "roster.csv"
    roster_file.write_text("file,id\na.py,7\nb.py,7\n")
    graded = class_of(tmp_path, a_py="grad=fail", b_py="root=pass")
    table = rows(canvas.to_csv(graded, canvas.read_roster(roster_file)))
    assert table[2:] == [["", "7", "", "", "", "10"]]


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("name,id\nAda,1\n", "no 'file' column"),
        ("file,id\na.py,1\na.py,2\n", r"row 3: 'a.py' is already listed at row 2"),
        ("file,id\n,1\n", "row 2: the file cell is empty"),
    ],
)
def test_roster_errors_name_the_file_and_row(tmp_path: Path, text: str, match: str) -> None:
    path = tmp_path / "roster.csv"
    path.write_text(text)
    with pytest.raises(canvas.RosterError, match=match):
        canvas.read_roster(path)
    with pytest.raises(canvas.RosterError, match="cannot read"):
        canvas.read_roster(tmp_path / "missing.csv")
