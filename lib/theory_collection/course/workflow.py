"""``course init`` and ``course grade``: an nbgrader course from the collection's notebooks, and its grades.

``init_course(DIR, notebooks)`` writes the course nbgrader expects (its documented layout)::

    DIR/nbgrader_config.py              course id, exchange, autograde with IsolatedGrading
    DIR/source/<assignment>/NN_x.ipynb  the instructor copies (solutions, nbgrader metadata)
    DIR/hidden/<assignment>/NN_x.py     the hidden cases: the course files, never released
    DIR/release/<assignment>/NN_x.ipynb student copies, written by `nbgrader generate_assignment`
    DIR/gradebook.db                    nbgrader's gradebook, with every assignment and its cells

An assignment is one notebook (``<paper>_<NN>``) or one paper's notebooks (``<paper>``). The course
files come from ``course/<paper>/<notebook>.py`` of the repository (the instructor's side: they are
not part of the installed package, of ``notebooks/`` or of any student copy). After nbgrader has
written ``release/``, every copy there is checked: stubs in every solution cell, nothing but notebooks.

Students' work arrives in ``submitted/<student>/<assignment>/`` (``nbgrader collect`` from the
exchange, ``nbgrader zip_collect``, or copied by hand). ``grade_course(DIR)`` then runs
``nbgrader autograde``, ``generate_feedback`` and ``export`` and writes, from the gradebook (hand
grades included) and the grader's ``*.grading.json``, ``exercises.csv`` and one page per student
``feedback/<student>/grades.html`` with each exercise's points and reason.
"""

from __future__ import annotations

import csv
import html
import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import nbformat

from theory_collection.course.exercises import (
    BEGIN_SOLUTION,
    Exercise,
    find_exercises,
    instructor_version,
)
from theory_collection.course.grader import CourseFileError, load_course_file
from theory_collection.course.nbgrader_grading import GRADING_SUFFIX

GROUPS = ("notebook", "paper")
CONFIG_TEMPLATE = '''"""nbgrader's configuration of this course, written by `theory-collection course init`."""

import os

from theory_collection.course.nbgrader_grading import autograde_preprocessors

c = get_config()  # noqa: F821 (nbgrader provides it)
HERE = os.path.dirname(os.path.abspath(__file__))

c.CourseDirectory.root = HERE
c.CourseDirectory.course_id = {course_id!r}
{exchange}
# Autograde grades each exercise outside the student's kernel, on the hidden cases of hidden/
# (nbgrader's Execute, which would run the whole notebook in the student's kernel, is replaced).
c.Autograde.autograde_preprocessors = autograde_preprocessors()
c.IsolatedGrading.course_root = HERE
c.IsolatedGrading.notebook_time_limit = {notebook_time_limit!r}  # seconds for all exercises of a notebook
c.IsolatedGrading.exercise_time_limit = {exercise_time_limit!r}  # the most one exercise may take
'''


@dataclass(frozen=True)
class CourseNotebook:
    """One notebook of a course: where it comes from, its assignment, its exercises and its course file."""

    path: Path
    assignment: str
    exercises: tuple[Exercise, ...]
    course_file: Path


def nbgrader_command(*args: str) -> list[str]:
    """The nbgrader command line of this environment."""
    return [sys.executable, "-m", "nbgrader", *args]


def run_nbgrader(course: Path, *args: str) -> str:
    """Run one nbgrader command in the course folder; its failure is a ValueError with nbgrader's last lines."""
    # nbgrader starts alembic from the PATH to set up the gradebook: this environment's comes first
    env = {**os.environ, "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])}
    result = subprocess.run(nbgrader_command(*args), cwd=course, capture_output=True, text=True, env=env)
    output = result.stdout + result.stderr
    if "Exception while loading config file" in output:  # nbgrader logs it and goes on with its defaults
        raise ValueError(f"nbgrader could not load {course / 'nbgrader_config.py'}:\n{output[-2000:]}")
    if result.returncode != 0:
        tail = "\n".join((result.stdout + result.stderr).strip().splitlines()[-12:])
        raise ValueError(f"nbgrader {' '.join(args)} failed in {course}:\n{tail}")
    return output


def plan_course(paths: list[Path], course_files: Path, group: str = "notebook") -> list[CourseNotebook]:
    """The notebooks with exercises, each checked against its course file (every exercise, no extra check)."""
    if group not in GROUPS:
        raise ValueError(f"--group must be one of {GROUPS}, got {group!r}")
    planned, problems = [], []
    for path in paths:
        exercises = tuple(find_exercises(nbformat.read(path, as_version=4), path.stem))
        if not exercises:
            continue
        paper = path.parent.name
        course_file = Path(course_files) / paper / f"{path.stem}.py"
        try:
            checks = load_course_file(course_file)
        except CourseFileError as error:
            problems.append(str(error))
            continue
        autograded = {e.id for e in exercises if not e.written}
        if set(checks) != autograded:
            problems.append(
                f"{course_file}: checks for {sorted(checks)}, but {path.stem}'s autograded exercises are "
                f"{sorted(autograded)}"
            )
        assignment = paper if group == "paper" else f"{paper}_{path.stem[:2]}"
        planned.append(CourseNotebook(path, assignment, exercises, course_file))
    if problems:
        raise ValueError("; ".join(problems))
    if not planned:
        raise ValueError("none of the chosen notebooks has exercises")
    names = [(p.assignment, p.path.stem) for p in planned]
    if len(set(names)) != len(names):
        raise ValueError("two chosen notebooks would land in one assignment under one name")
    return planned


def write_config(course: Path, course_id: str, exchange: Path | None, limits: tuple[float, float]) -> Path:
    """``nbgrader_config.py`` of the course."""
    exchange_line = (
        f"c.Exchange.root = {str(Path(exchange).absolute())!r}  # shared with the students' nbgrader\n"
        if exchange is not None
        else "# c.Exchange.root = '/srv/nbgrader/exchange'  # nbgrader's default; set where students fetch from\n"
    )
    text = CONFIG_TEMPLATE.format(
        course_id=course_id,
        exchange=exchange_line,
        notebook_time_limit=float(limits[0]),
        exercise_time_limit=float(limits[1]),
    )
    target = course / "nbgrader_config.py"
    target.write_text(text, encoding="utf-8")
    return target


def init_course(
    course: str | Path,
    paths: list[Path],
    course_files: str | Path,
    course_id: str = "theory-collection",
    group: str = "notebook",
    exchange: str | Path | None = None,
    limits: tuple[float, float] = (600.0, 120.0),
) -> list[CourseNotebook]:
    """Write an nbgrader course into the empty or new folder ``course`` (see the module docstring)."""
    course = Path(course).absolute()
    if course.exists() and any(course.iterdir()):
        raise ValueError(f"{course} is not empty: a course is written into a new or empty folder")
    if not course_id or any(ch in course_id for ch in "/+ ") or course_id.strip() != course_id:
        raise ValueError(f"--course-id must be a name without '/', '+' or spaces, got {course_id!r}")
    planned = plan_course(paths, Path(course_files), group)
    course.mkdir(parents=True, exist_ok=True)
    write_config(course, course_id, None if exchange is None else Path(exchange), limits)
    for item in planned:
        source = course / "source" / item.assignment / f"{item.path.stem}.ipynb"
        source.parent.mkdir(parents=True, exist_ok=True)
        nbformat.write(instructor_version(nbformat.read(item.path, as_version=4), item.path.stem), source)
        hidden = course / "hidden" / item.assignment / f"{item.path.stem}.py"
        hidden.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(item.course_file, hidden)
    for assignment in dict.fromkeys(p.assignment for p in planned):
        run_nbgrader(course, "generate_assignment", assignment, "--force")
    check_release(course, planned)
    return planned


def check_release(course: Path, planned: list[CourseNotebook]) -> None:
    """Every released copy: student stubs only, and nothing but the planned notebooks. Raises otherwise."""
    for item in planned:
        folder = course / "release" / item.assignment
        extra = sorted(
            p.name for p in folder.iterdir() if p.suffix != ".ipynb" or p.stem not in {q.path.stem for q in planned}
        )
        if extra:
            raise ValueError(f"release/{item.assignment} holds files that are not student notebooks: {extra}")
        released = nbformat.read(folder / f"{item.path.stem}.ipynb", as_version=4)
        answers = [c for c in released.cells if c.get("metadata", {}).get("nbgrader", {}).get("solution")]
        for cell in released.cells:
            if BEGIN_SOLUTION in cell.source:
                raise ValueError(f"release/{item.assignment}/{item.path.stem}.ipynb still holds a solution")
        for cell in answers:
            stub = "raise NotImplementedError()" if cell.cell_type == "code" else "YOUR ANSWER HERE"
            if stub not in cell.source:
                grade_id = cell.metadata.nbgrader.get("grade_id")
                raise ValueError(f"release/{item.assignment}/{item.path.stem}.ipynb: {grade_id} is not a stub")
        if len(answers) != len(item.exercises):
            raise ValueError(
                f"release/{item.assignment}/{item.path.stem}.ipynb has {len(answers)} answer cells for "
                f"{len(item.exercises)} exercises"
            )


def assignments_of(course: Path) -> list[str]:
    """The assignments of a course, from its ``source/`` folder."""
    return sorted(p.name for p in (course / "source").iterdir() if p.is_dir()) if (course / "source").is_dir() else []


def grade_course(course: str | Path, force: bool = False) -> dict[str, Path]:
    """Autograde every submitted assignment, write feedback, ``grades.csv``, ``exercises.csv`` and student pages."""
    course = Path(course).absolute()
    if not (course / "nbgrader_config.py").is_file():
        raise ValueError(f"{course} is not a course (no nbgrader_config.py; make one with `course init`)")
    submitted = sorted({p.name for p in (course / "submitted").glob("*/*") if p.is_dir()})
    known = set(assignments_of(course))
    unknown = [a for a in submitted if a not in known]
    if unknown:
        raise ValueError(f"submitted/ holds assignments the course does not have: {', '.join(unknown)}")
    extra = ["--force"] if force else []
    for assignment in submitted:
        run_nbgrader(course, "autograde", assignment, *extra)
        check_isolated(course, assignment)
        run_nbgrader(course, "generate_feedback", assignment, "--force")
    run_nbgrader(course, "export", "--to", str(course / "grades.csv"))
    rows = exercise_rows(course)
    write_exercises_csv(course / "exercises.csv", rows)
    pages = write_student_pages(course, rows)
    return {"grades": course / "grades.csv", "exercises": course / "exercises.csv", **pages}


def check_isolated(course: Path, assignment: str) -> None:
    """Each autograded notebook of ``assignment`` has the grader's record: nbgrader ran IsolatedGrading, not Execute."""
    for notebook in (course / "autograded").glob(f"*/{assignment}/*.ipynb"):
        if not notebook.with_name(notebook.stem + GRADING_SUFFIX).is_file():
            raise ValueError(
                f"{notebook} was autograded without the isolated grader (no {notebook.stem}{GRADING_SUFFIX}): "
                "nbgrader_config.py must set c.Autograde.autograde_preprocessors = autograde_preprocessors()"
            )


EXERCISE_COLUMNS = (
    "student",
    "assignment",
    "notebook",
    "exercise",
    "kind",
    "points",
    "max_points",
    "status",
    "reason",
)


def exercise_rows(course: Path) -> list[dict]:
    """One row per student and exercise: the gradebook's score (hand grades included) and the grader's reason."""
    from nbgrader.api import Gradebook, MissingEntry

    rows = []
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gradebook:
        for assignment in assignments_of(course):
            for source in sorted((course / "source" / assignment).glob("*.ipynb")):
                exercises = find_exercises(nbformat.read(source, as_version=4), source.stem)
                for student in sorted(s.id for s in gradebook.students):
                    try:
                        notebook = gradebook.find_submission_notebook(source.stem, assignment, student)
                    except MissingEntry:
                        continue
                    grades = {g.name: g for g in notebook.grades}
                    reasons = _reasons(course / "autograded" / student / assignment / f"{source.stem}{GRADING_SUFFIX}")
                    for exercise in exercises:
                        grade_id = exercise.id if exercise.written else exercise.id + "_check"
                        grade = grades.get(grade_id)
                        rows.append(_row(student, assignment, source.stem, exercise, grade, reasons))
    return rows


def _reasons(path: Path) -> dict[str, str]:
    if not path.is_file():
        return {}
    data = json.loads(path.read_text(encoding="utf-8"))
    return {e["exercise"]: e["reason"] for e in data.get("exercises", [])}


def _row(student: str, assignment: str, notebook: str, exercise: Exercise, grade, reasons: dict) -> dict:
    if grade is None:
        points, status, reason = 0.0, "not submitted", "no grade in the gradebook"
    elif grade.needs_manual_grade:
        points, status, reason = grade.score, "needs hand grading", "a written answer, graded by hand in formgrader"
    elif exercise.written:
        points, status = grade.score, "graded by hand" if grade.manual_score is not None else "no answer"
        reason = "graded by hand" if grade.manual_score is not None else "no answer (the cell is the prompt)"
    else:
        points, status = grade.score, "autograded" if grade.manual_score is None else "grade set by hand"
        reason = reasons.get(exercise.id, "")
    return {
        "student": student,
        "assignment": assignment,
        "notebook": notebook,
        "exercise": exercise.id,
        "kind": exercise.kind,
        "points": float(points or 0.0),
        "max_points": exercise.points,
        "status": status,
        "reason": reason,
    }


def write_exercises_csv(path: Path, rows: list[dict]) -> Path:
    """``exercises.csv``: every student's every exercise, points and reason."""
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=EXERCISE_COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
    return path


def write_student_pages(course: Path, rows: list[dict]) -> dict[str, Path]:
    """``feedback/<student>/grades.html``: each exercise's points and reason, by assignment and notebook."""
    pages = {}
    for student in sorted({r["student"] for r in rows}):
        mine = [r for r in rows if r["student"] == student]
        total, best = sum(r["points"] for r in mine), sum(r["max_points"] for r in mine)
        body = [f"<h1>Grades of {html.escape(student)}</h1>", f"<p>{total:g} of {best:g} points.</p>"]
        for notebook in dict.fromkeys((r["assignment"], r["notebook"]) for r in mine):
            shown = [r for r in mine if (r["assignment"], r["notebook"]) == notebook]
            body.append(f"<h2>{html.escape(notebook[0])} / {html.escape(notebook[1])}</h2>")
            body.append("<table><tr><th>exercise</th><th>kind</th><th>points</th><th>status</th><th>reason</th></tr>")
            body += [
                f"<tr><td>{html.escape(r['exercise'])}</td><td>{r['kind']}</td>"
                f"<td>{r['points']:g} / {r['max_points']:g}</td><td>{html.escape(r['status'])}</td>"
                f"<td>{html.escape(r['reason'])}</td></tr>"
                for r in shown
            ]
            body.append("</table>")
        page = course / "feedback" / student / "grades.html"
        page.parent.mkdir(parents=True, exist_ok=True)
        page.write_text(
            "<!DOCTYPE html><html><head><meta charset='utf-8'><title>Grades</title>"
            "<style>td,th{border:1px solid #ccc;padding:4px;text-align:left}</style></head><body>"
            + "\n".join(body)
            + "</body></html>\n",
            encoding="utf-8",
        )
        pages[student] = page
    return pages


def check_solutions(paths: list[Path], course_files: str | Path) -> list[tuple[str, object]]:
    """Grade each notebook's own solutions on its course file: ``(notebook, ExerciseGrade)`` for every exercise.

    The instructor's test of a course file: every solution of ``notebooks/`` must score full marks.
    """
    from theory_collection.course.exercises import with_nbgrader_metadata
    from theory_collection.course.nbgrader_grading import grade_notebook

    results = []
    for item in plan_course(paths, Path(course_files)):
        nb = with_nbgrader_metadata(nbformat.read(item.path, as_version=4), item.path.stem)
        _, grades = grade_notebook(nb, nb, item.course_file, [Path(course_files)], name=item.path.stem)
        results += [(item.path.stem, grade) for grade in grades]
    return results
