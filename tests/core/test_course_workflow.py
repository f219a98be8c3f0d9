"""`theory-collection course init|grade|check` on the course fixture, through nbgrader's own commands."""

import csv
import json
import shutil
from pathlib import Path

import nbformat
import pytest

from theory_collection.cli import main
from theory_collection.course import workflow

FIXTURE = Path(__file__).parent / "fixtures" / "course"
NOTEBOOKS = FIXTURE / "notebooks" / "series"
COURSE_FILES = FIXTURE / "course_files"
ASSIGNMENT = "series_01"


def grade_id(cell):
    return cell.metadata.get("nbgrader", {}).get("grade_id")


def submit(course: Path, student: str, edit=None) -> None:
    """Put the released copy, edited, where `nbgrader collect` puts a submission."""
    nb = nbformat.read(course / "release" / ASSIGNMENT / "01_series.ipynb", as_version=4)
    if edit is not None:
        edit(nb)
    folder = course / "submitted" / student / ASSIGNMENT
    folder.mkdir(parents=True)
    nbformat.write(nb, folder / "01_series.ipynb")


def solve(course: Path):
    source = nbformat.read(course / "source" / ASSIGNMENT / "01_series.ipynb", as_version=4)
    answers = {grade_id(c): c.source for c in source.cells if c.metadata.get("nbgrader", {}).get("solution")}

    def edit(nb):
        for cell in nb.cells:
            if grade_id(cell) in answers:
                cell.source = answers[grade_id(cell)]

    return edit


def tamper(nb):
    for cell in nb.cells:
        if grade_id(cell) == "partial_sum":
            cell.source = (
                "import math\n\nmath.isclose = lambda *a, **k: True\n\n\ndef partial_sum(r, n):\n    return 1.75\n"
            )
        if grade_id(cell) == "series_limit":
            cell.source = "from theory_collection.course import checks\nimport sympy\nseries_limit = sympy.Integer(2)\n"


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    root = tmp_path_factory.mktemp("courses") / "course"
    exchange = root.parent / "exchange"
    assert main(["course", "init", str(root), "--notebooks", str(NOTEBOOKS), "--course-files", str(COURSE_FILES),
                 "--exchange", str(exchange), "--exercise-time-limit", "30"]) == 0  # fmt: skip
    submit(root, "solver", solve(root))
    submit(root, "untouched")
    submit(root, "tamperer", tamper)
    assert main(["course", "grade", str(root)]) == 0
    return root


def test_init_writes_the_nbgrader_layout_and_releases_student_copies_only(course):
    assert (course / "nbgrader_config.py").is_file() and (course / "gradebook.db").is_file()
    assert sorted(p.name for p in (course / "release" / ASSIGNMENT).iterdir()) == ["01_series.ipynb"]
    released = (course / "release" / ASSIGNMENT / "01_series.ipynb").read_text()
    assert "BEGIN SOLUTION" not in released and "math.fsum" not in released and "do not tend to zero" not in released
    assert "raise NotImplementedError()" in released
    assert (course / "hidden" / ASSIGNMENT / "01_series.py").read_bytes() == (
        COURSE_FILES / "series" / "01_series.py"
    ).read_bytes()
    assert not list((course / "release").rglob("*.py")) and not list((course / "source").rglob("*.py"))
    assert "IsolatedGrading" in (course / "nbgrader_config.py").read_text()


def test_grades_csv_and_exercises_csv_give_each_student_and_exercise(course):
    grades = {row["student_id"]: row for row in csv.DictReader((course / "grades.csv").open())}
    assert {s: float(r["score"]) for s, r in grades.items()} == {"solver": 3.0, "untouched": 0.0, "tamperer": 0.0}
    assert {float(r["max_score"]) for r in grades.values()} == {4.0}  # the written answer waits for a hand grade
    rows = {(r["student"], r["exercise"]): r for r in csv.DictReader((course / "exercises.csv").open())}
    assert rows["solver", "partial_sum"]["reason"] == "3 of 3 hidden cases agree with the reference"
    assert rows["solver", "why_diverge"]["status"] == "needs hand grading"
    assert rows["untouched", "partial_sum"]["reason"] == "no answer: the solution cell is the stub"
    assert "differs from the reference" in rows["tamperer", "partial_sum"]["reason"]
    assert "theory_collection is blocked" in rows["tamperer", "series_limit"]["reason"]


def test_every_student_gets_a_feedback_page_with_points_and_reasons(course):
    for student in ("solver", "untouched", "tamperer"):
        page = (course / "feedback" / student / "grades.html").read_text()
        assert "partial_sum" in page and "series_limit" in page and "why_diverge" in page
        assert (course / "feedback" / student / ASSIGNMENT / "01_series.html").is_file()  # nbgrader's own
    assert "no answer: the solution cell is the stub" in (course / "feedback" / "untouched" / "grades.html").read_text()
    nbgrader_page = (course / "feedback" / "tamperer" / ASSIGNMENT / "01_series.html").read_text()
    assert "0 of 2 points" in nbgrader_page and "differs from the reference" in nbgrader_page


def test_the_executed_copy_and_the_grading_record_are_kept_beside_the_grade(course):
    folder = course / "autograded" / "solver" / ASSIGNMENT
    record = json.loads((folder / "01_series.grading.json").read_text())
    assert [(e["exercise"], e["points"]) for e in record["exercises"]] == [("partial_sum", 2.0), ("series_limit", 1.0)]
    graded = nbformat.read(folder / "01_series.ipynb", as_version=4)
    check = next(c for c in graded.cells if grade_id(c) == "partial_sum_check")
    assert "3 of 3 hidden cases agree" in check.outputs[0]["text"]


def test_a_hand_grade_reaches_grades_csv(course, tmp_path):
    from nbgrader.api import Gradebook

    copy = tmp_path / "course"
    shutil.copytree(course, copy)
    with Gradebook(f"sqlite:///{copy / 'gradebook.db'}") as gradebook:  # what formgrader does
        grade = gradebook.find_grade("why_diverge", "01_series", ASSIGNMENT, "solver")
        grade.manual_score, grade.needs_manual_grade = 1.0, False
        gradebook.db.commit()
    rows = workflow.exercise_rows(copy)
    (row,) = [r for r in rows if (r["student"], r["exercise"]) == ("solver", "why_diverge")]
    assert (row["points"], row["status"]) == (1.0, "graded by hand")
    workflow.run_nbgrader(copy, "export", "--to", str(copy / "grades.csv"))
    grades = {row["student_id"]: float(row["score"]) for row in csv.DictReader((copy / "grades.csv").open())}
    assert grades["solver"] == 4.0


def test_init_refuses_a_used_folder_and_a_course_file_that_misses_an_exercise(tmp_path, capsys):
    used = tmp_path / "used"
    used.mkdir()
    (used / "notes.txt").write_text("mine")
    assert main(["course", "init", str(used), "--notebooks", str(NOTEBOOKS), "--course-files", str(COURSE_FILES)]) == 2
    assert "is not empty" in capsys.readouterr().err
    partial = tmp_path / "files" / "series"
    partial.mkdir(parents=True)
    text = (COURSE_FILES / "series" / "01_series.py").read_text()
    (partial / "01_series.py").write_text(
        text.replace('    Evaluate(\n        "series_limit"', '    Evaluate(\n        "other"')
    )
    assert main(["course", "init", str(tmp_path / "c"), "--notebooks", str(NOTEBOOKS), "--course-files",
                 str(tmp_path / "files")]) == 2  # fmt: skip
    assert "checks for ['other', 'partial_sum'], but 01_series's autograded exercises are" in capsys.readouterr().err
    assert not (tmp_path / "c").exists()


def test_check_passes_the_notebooks_own_solutions_and_fails_a_wrong_reference(tmp_path, capsys):
    assert main(["course", "check", "--notebooks", str(NOTEBOOKS), "--course-files", str(COURSE_FILES)]) == 0
    assert "2 of 2 solutions score full marks" in capsys.readouterr().out
    wrong = tmp_path / "series"
    wrong.mkdir()
    text = (COURSE_FILES / "series" / "01_series.py").read_text()
    (wrong / "01_series.py").write_text(
        text.replace("(1 - ratio**terms) / (1 - ratio)", "(1 - ratio**terms) / (1 - ratio) * 1.001")
    )
    assert main(["course", "check", "--notebooks", str(NOTEBOOKS), "--course-files", str(tmp_path)]) == 1
    assert "1 of 2 solutions score full marks" in capsys.readouterr().out


def test_grade_refuses_a_course_whose_config_nbgrader_cannot_load(course, tmp_path):
    copy = tmp_path / "course"
    shutil.copytree(course, copy, ignore=shutil.ignore_patterns("autograded", "feedback"))
    (copy / "nbgrader_config.py").write_text("c = get_config()\nraise RuntimeError('broken')\n")
    with pytest.raises(ValueError, match="nbgrader could not load"):
        workflow.grade_course(copy)


def test_a_second_grading_of_one_course_refuses_while_the_first_holds_it(course, capsys, lock_held):
    with lock_held(course, "course grade") as holder:
        before = (course / "grades.csv").read_bytes()
        assert main(["course", "grade", str(course)]) == 2
        (line,) = capsys.readouterr().err.strip().splitlines()
        assert f"is in use by another run (process {holder.pid} on" in line
        assert (course / "grades.csv").read_bytes() == before
