"""The isolated grading as nbgrader sees it: a preprocessor that takes the place of ``Execute`` in autograde.

``nbgrader autograde`` sanitises a submission (outputs cleared, locked cells restored from the
gradebook) and then runs its autograde preprocessors; the course's ``nbgrader_config.py`` replaces
nbgrader's ``Execute`` (which would run the student's whole notebook in the student's kernel) by
:class:`IsolatedGrading`. It never starts a kernel: for each autograded exercise of the instructor's
copy (``source/<assignment>/<notebook>.ipynb``) it grades the student's solution cell on the hidden
cases of ``hidden/<assignment>/<notebook>.py`` (:mod:`theory_collection.course.grader`) and writes

- into the grade cell (the exercise's visible check): the feedback text on stdout and the points as
  the cell's result, which nbgrader's ``SaveAutoGrades`` reads as partial credit;
- into the solution cell: what the solution printed on stdout and stderr while it was graded;
- beside the autograded notebook: ``<notebook>.grading.json``, every exercise's points, reason,
  cases, output and time.

The autograded notebook is the executed copy kept beside the grade. :func:`grade_notebook` does the
same without nbgrader, for a notebook file and an instructor copy.
"""

from __future__ import annotations

import copy
import json
import os
from pathlib import Path

import nbformat
from nbformat.v4 import new_output
from nbgrader import utils as nbgrader_utils
from nbgrader.preprocessors import NbGraderPreprocessor
from traitlets import Float, Unicode

from theory_collection.course.exercises import CHECK_SUFFIX, find_exercises
from theory_collection.course.grader import (
    DEFAULT_LIMITS,
    EXERCISE_TIME_LIMIT,
    NOTEBOOK_TIME_LIMIT,
    CourseFileError,
    ExerciseGrade,
    Limits,
    grade_solutions,
    load_course_file,
    report_text,
)

GRADING_SUFFIX = ".grading.json"


def _grade_id(cell) -> str | None:
    return cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")


def grade_notebook(
    submission: nbformat.NotebookNode,
    reference: nbformat.NotebookNode,
    course_file: str | Path,
    forbidden: list[str | Path],
    limits: Limits = DEFAULT_LIMITS,
    name: str = "notebook",
) -> tuple[nbformat.NotebookNode, list[ExerciseGrade]]:
    """Grade ``submission`` against the exercises of ``reference`` (the instructor copy) and the course file.

    Returns the graded copy (outputs written as the module docstring says; a grade cell the
    submission lost is put back after its solution cell) and the grades, in the reference's order.
    The exercises, their points and ids come from ``reference``, never from the submission.
    """
    autograded = [e for e in find_exercises(reference, name) if not e.written]
    checks = load_course_file(course_file)
    graded = copy.deepcopy(submission)
    solutions: dict[str, str | None] = {}
    unchanged: set[str] = set()
    for exercise in autograded:
        cell = _solution_cell(graded, exercise.id)
        solutions[exercise.id] = None if cell is None else cell.source
        if cell is not None and cell.metadata.get("nbgrader", {}).get("checksum") == _checksum(cell):
            unchanged.add(exercise.id)
    instructor = {e.id: reference.cells[e.solution].source for e in autograded}
    unknown = [(c.exercise, u) for c in checks.values() for u in c.uses if u not in instructor]
    if unknown:
        raise CourseFileError(f"{course_file}: checks use exercises the notebook does not have: {unknown}")
    contexts = {c.exercise: "\n\n".join(instructor[u] for u in c.uses) for c in checks.values()}
    grades = grade_solutions(
        solutions,
        unchanged,
        {e.id: e.points for e in autograded},
        checks,
        [str(Path(f)) for f in forbidden],
        limits,
        contexts,
    )
    for exercise, grade in zip(autograded, grades):
        _write_outputs(graded, reference.cells[exercise.autograder], exercise.id, grade)
    return graded, grades


def _solution_cell(nb, exercise_id: str):
    return next(
        (
            c
            for c in nb.cells
            if _grade_id(c) == exercise_id and c.cell_type == "code" and nbgrader_utils.is_solution(c)
        ),
        None,
    )


def _checksum(cell) -> str | None:
    try:
        return nbgrader_utils.compute_checksum(cell)
    except (KeyError, TypeError, ValueError, AttributeError):  # metadata a student broke
        return None


def _write_outputs(nb, reference_check, exercise_id: str, grade: ExerciseGrade) -> None:
    solution = _solution_cell(nb, exercise_id)
    check = next((c for c in nb.cells if _grade_id(c) == exercise_id + CHECK_SUFFIX), None)
    if check is None:  # deleted from the submission: the instructor's cell carries the grade
        check = copy.deepcopy(reference_check)
        position = nb.cells.index(solution) + 1 if solution is not None else len(nb.cells)
        nb.cells.insert(position, check)
    if solution is not None:
        solution.outputs = [
            new_output("stream", name=stream, text=text)
            for stream, text in (("stdout", grade.stdout), ("stderr", grade.stderr))
            if text
        ]
    check.outputs = [
        new_output("stream", name="stdout", text=report_text(grade) + "\n"),
        new_output("execute_result", data={"text/plain": f"{grade.points:g}"}, execution_count=None),
    ]


def write_grading(path: str | Path, notebook: str, grades: list[ExerciseGrade]) -> Path:
    """``<notebook>.grading.json`` in ``path``: every exercise's grade, reason, cases, output and time."""
    target = Path(path) / f"{notebook}{GRADING_SUFFIX}"
    target.write_text(
        json.dumps({"notebook": notebook, "exercises": [g.as_dict() for g in grades]}, indent=1), encoding="utf-8"
    )
    return target


class IsolatedGrading(NbGraderPreprocessor):
    """nbgrader autograde's grading step, outside the student's kernel (see the module docstring)."""

    course_root = Unicode("", help="the course folder (default: the current directory)").tag(config=True)
    hidden_directory = Unicode("hidden", help="hidden cases, relative to the course folder").tag(config=True)
    source_directory = Unicode("source", help="instructor copies, relative to the course folder").tag(config=True)
    autograded_directory = Unicode("autograded", help="nbgrader's autograded folder").tag(config=True)
    notebook_time_limit = Float(NOTEBOOK_TIME_LIMIT, help="seconds for all exercises of a notebook").tag(config=True)
    exercise_time_limit = Float(EXERCISE_TIME_LIMIT, help="the most seconds one exercise may take").tag(config=True)

    def preprocess(self, nb, resources):
        """Grade the sanitised submission ``nb``; nbgrader's later preprocessors save the grades."""
        info = resources["nbgrader"]
        assignment, notebook, student = info["assignment"], info["notebook"], info["student"]
        root = Path(self.course_root or os.getcwd()).resolve()
        reference = nbformat.read(root / self.source_directory / assignment / f"{notebook}.ipynb", as_version=4)
        course_file = root / self.hidden_directory / assignment / f"{notebook}.py"
        limits = Limits(self.notebook_time_limit, self.exercise_time_limit)
        graded, grades = grade_notebook(nb, reference, course_file, [root], limits, notebook)
        folder = root / self.autograded_directory / student / assignment
        folder.mkdir(parents=True, exist_ok=True)
        write_grading(folder, notebook, grades)
        for grade in grades:
            self.log.info("%s / %s / %s: %s", student, notebook, grade.exercise, report_text(grade).splitlines()[0])
        return graded, resources


def autograde_preprocessors() -> list:
    """nbgrader's own autograde preprocessors, in its order, with ``Execute`` replaced by :class:`IsolatedGrading`."""
    from nbgrader.converters import Autograde
    from nbgrader.preprocessors import Execute

    defaults = Autograde.class_traits()["autograde_preprocessors"].default()
    if Execute not in defaults:
        raise RuntimeError(f"nbgrader's autograde no longer runs Execute ({defaults}): check IsolatedGrading's place")
    return [IsolatedGrading if p is Execute else p for p in defaults]
