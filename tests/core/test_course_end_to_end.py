"""The course end to end on the collection's real notebooks, through nbgrader's own commands.

`course init` (both papers, one assignment per paper), `nbgrader release_assignment`, three students who
`fetch_assignment` and `submit` through the exchange, `nbgrader collect`, `course grade` (autograde with the isolated
grader, feedback, export), a hand grade of the written answers as formgrader would give it, and `nbgrader export`:

- the solver hands in the instructor's solutions and answers: full marks on every exercise;
- the untouched student hands in the released copy: 0 everywhere;
- the tamperer games every autograded exercise in one of the ways the earlier autograder let through: 0 on each,
  with the reason.
"""

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell

from theory_collection.cli import main
from theory_collection.course import checks, workflow
from theory_collection.course.grader import load_course_file
from theory_collection.runner import collection_notebooks

COURSE_ID = "theory-course"
PAPERS = ("topic_structure", "next_token")
STUDENTS = ("solver", "untouched", "tamperer")


def nbgrader(cwd: Path, *args: str) -> None:
    env = {**os.environ, "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ["PATH"]])}
    result = subprocess.run(workflow.nbgrader_command(*args), cwd=cwd, capture_output=True, text=True, env=env)
    assert result.returncode == 0, result.stdout + result.stderr


def grade_id(cell):
    return cell.metadata.get("nbgrader", {}).get("grade_id")


def is_answer(cell):
    return cell.metadata.get("nbgrader", {}).get("solution", False)


def wrong(check, body="return 0.0"):
    """A wrong answer of the exercise's form: a function, or an expression for Evaluate."""
    if isinstance(check, checks.Evaluate):
        return f"{check.name or check.exercise} = {body.removeprefix('return ')}\n"
    name = getattr(check, "function", "") if isinstance(check, checks.Call) else ""
    name = name or check.exercise
    return f"def {name}(*args, **kwargs):\n    {body}\n"


def tampering(kind, check, paper, course):
    """(solution cell source, source of a cell inserted after the visible check or None, words in the reason)."""
    hidden = course / "hidden" / paper / "*.py"
    return {
        "patches the checker in the solution cell": (
            f"from {paper} import exercises\n\nexercises.check = lambda *args: None\n" + wrong(check),
            None,
            f"{paper} is blocked",
        ),
        "patches the checker in a new cell": (
            wrong(check, "return 1.0"),
            'exercises = type("exercises", (), {"check": staticmethod(lambda *args: None)})',
            "",
        ),
        "defines its own exercises object": (
            "class exercises:\n    check = staticmethod(lambda *args: None)\n\n\n" + wrong(check),
            None,
            "",
        ),
        "patches math.isclose and np.allclose": (
            "import math\n\nimport numpy as np\n\nmath.isclose = lambda *a, **k: True\n"
            "np.allclose = lambda *a, **k: True\n" + wrong(check),
            None,
            "",
        ),
        "reads the hidden cases": (
            "import glob\nimport runpy\n\nHIDDEN = [runpy.run_path(p) for p in glob.glob("
            f"{str(hidden)!r})]\n" + wrong(check),
            None,
            "is not allowed while an exercise is graded",
        ),
        "returns the library's answer": (
            f"import {paper}.paper as library\n\n" + wrong(check, "return library.PAPER"),
            None,
            f"{paper} is blocked",
        ),
        "uses a name the notebook defined": (wrong(check, "return P.seed"), None, "NameError"),
        "copies the visible check's numbers": (wrong(check, "return 1.75"), None, ""),
    }[kind]


KINDS = (
    "patches the checker in the solution cell",
    "patches the checker in a new cell",
    "defines its own exercises object",
    "patches math.isclose and np.allclose",
    "reads the hidden cases",
    "returns the library's answer",
    "uses a name the notebook defined",
    "copies the visible check's numbers",
)


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    root = tmp_path_factory.mktemp("end_to_end")
    course, exchange = root / "course", root / "exchange"
    exchange.mkdir()
    assert (
        main(["course", "init", str(course), "--group", "paper", "--exchange", str(exchange), "--course-id", COURSE_ID])
        == 0
    )
    for paper in PAPERS:
        nbgrader(course, "release_assignment", paper)
    tampered = {}
    for student in STUDENTS:
        home = root / student
        home.mkdir()
        exchange_flags = ("--course", COURSE_ID, f"--Exchange.root={exchange}")
        nbgrader(home, "fetch_assignment", *PAPERS, *exchange_flags)
        for paper in PAPERS:
            for path in sorted((home / paper).glob("*.ipynb")):
                if student == "solver":
                    solve(path, course / "source" / paper / path.name)
                elif student == "tamperer":
                    tampered.update(tamper(path, paper, course, len(tampered)))
            nbgrader(home, "submit", paper, *exchange_flags, "--student", student)
    for paper in PAPERS:
        nbgrader(course, "collect", paper)
    assert main(["course", "grade", str(course)]) == 0
    return course, tampered


def solve(path: Path, source: Path) -> None:
    nb, reference = nbformat.read(path, as_version=4), nbformat.read(source, as_version=4)
    answers = {grade_id(c): c.source for c in reference.cells if is_answer(c)}
    for cell in nb.cells:
        if is_answer(cell):
            cell.source = answers[grade_id(cell)]
    nbformat.write(nb, path)


def tamper(path: Path, paper: str, course: Path, start: int) -> dict:
    nb = nbformat.read(path, as_version=4)
    course_checks = load_course_file(course / "hidden" / paper / f"{path.stem}.py")
    done = {}
    for cell in list(nb.cells):
        if not is_answer(cell) or cell.cell_type != "code":
            continue
        kind = KINDS[(start + len(done)) % len(KINDS)]
        source, extra, reason = tampering(kind, course_checks[grade_id(cell)], paper, course)
        cell.source = source
        if extra is not None:
            check = next(c for c in nb.cells if grade_id(c) == grade_id(cell) + "_check")
            nb.cells.insert(nb.cells.index(check) + 1, new_code_cell(extra))
        done[(path.stem, grade_id(cell))] = (kind, reason)
    nbformat.write(nb, path)
    return done


def rows_of(course):
    return list(csv.DictReader((course / "exercises.csv").open(encoding="utf-8")))


def test_every_notebook_is_in_the_course_and_released_without_solutions(course):
    course, _ = course
    stems = {p.stem for p in collection_notebooks()}
    released = {p.stem for paper in PAPERS for p in (course / "release" / paper).glob("*.ipynb")}
    assert released == stems
    for path in (course / "release").rglob("*.ipynb"):
        assert "BEGIN SOLUTION" not in path.read_text(encoding="utf-8")
    assert not list((course / "release").rglob("*.py")) and (course / "hidden" / "next_token").is_dir()


def test_the_solver_scores_every_autograded_exercise_in_full(course):
    course, tampered = course
    rows = [r for r in rows_of(course) if r["student"] == "solver" and r["kind"] != "written"]
    assert {(r["notebook"], r["exercise"]) for r in rows} == set(tampered)  # every autograded exercise
    short = [(r["notebook"], r["exercise"], r["reason"]) for r in rows if float(r["points"]) != float(r["max_points"])]
    assert not short
    assert all(r["reason"].endswith("hidden cases agree with the reference") for r in rows)


def test_the_untouched_copy_scores_zero(course):
    course, _ = course
    rows = [r for r in rows_of(course) if r["student"] == "untouched"]
    assert rows and all(float(r["points"]) == 0 for r in rows)
    assert {r["reason"] for r in rows if r["kind"] != "written"} == {"no answer: the solution cell is the stub"}


def test_every_tampered_exercise_scores_zero_with_its_reason(course):
    course, tampered = course
    rows = {(r["notebook"], r["exercise"]): r for r in rows_of(course) if r["student"] == "tamperer"}
    assert set(tampered) <= set(rows) and {kind for kind, _ in tampered.values()} == set(KINDS)
    for key, (kind, reason) in tampered.items():
        assert float(rows[key]["points"]) == 0, (key, kind, rows[key]["reason"])
        assert reason in rows[key]["reason"], (key, kind, rows[key]["reason"])


def test_grades_csv_and_the_feedback_pages_after_hand_grading(course):
    from nbgrader.api import Gradebook

    course, _ = course
    written = [r for r in rows_of(course) if r["student"] == "solver" and r["kind"] == "written"]
    assert {r["status"] for r in written} == {"needs hand grading"} and len(written) >= 2
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gradebook:  # what an instructor does in formgrader
        for row in written:
            grade = gradebook.find_grade(row["exercise"], row["notebook"], row["assignment"], "solver")
            grade.manual_score, grade.needs_manual_grade = float(row["max_points"]), False
        gradebook.db.commit()
    workflow.run_nbgrader(course, "export", "--to", str(course / "grades.csv"))
    totals = {}
    for row in csv.DictReader((course / "grades.csv").open(encoding="utf-8")):
        score, best = totals.get(row["student_id"], (0.0, 0.0))
        totals[row["student_id"]] = (score + float(row["score"]), best + float(row["max_score"]))
    assert totals["solver"][0] == pytest.approx(totals["solver"][1]) and totals["solver"][1] > 50
    assert totals["untouched"][0] == 0 and totals["tamperer"][0] == 0
    for student in STUDENTS:
        page = (course / "feedback" / student / "grades.html").read_text(encoding="utf-8")
        assert "pmi_theory" in page and "priority_sccs" in page
        assert list((course / "feedback" / student).glob("*/*.html"))  # nbgrader's own, per notebook
    record = json.loads(next((course / "autograded" / "tamperer").rglob("*.grading.json")).read_text())
    assert all(e["points"] == 0 for e in record["exercises"])
