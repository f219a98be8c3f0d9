"""What ``course grade`` checks before nbgrader runs: every submission, the gradebook's student ids, the hidden cases.

nbgrader stops a whole autograde run (or fails one student, and then the run) on a submitted file that is not
a notebook, on an exercise cell that was copied or taken from another notebook, and on changed nbgrader
metadata; it skips a student folder whose name starts with '.' without a word. So ``course grade`` refuses
such a course before any work, naming every problem at once (exit status 2), and the instructor decides
what to do with each submission. A cell whose metadata a tool stripped is no problem: the grader finds a
solution cell by its cell id when its grade id is gone.
"""

from __future__ import annotations

from pathlib import Path

import nbformat

from theory_collection.course.exercises import read_notebook
from theory_collection.course.grader import CourseFileError, load_course_file


def assignments_of(course: Path) -> list[str]:
    """The assignments of a course, from its ``source/`` folder."""
    return sorted(p.name for p in (course / "source").iterdir() if p.is_dir()) if (course / "source").is_dir() else []


def check_submissions(course: Path) -> list[str]:
    """The assignments students submitted, after checking every submission, the gradebook's student ids and the
    hidden cases the grading needs; every problem found is named in one ValueError (see the module docstring)."""
    folder = course / "submitted"
    found = sorted(p for p in folder.glob("*/*") if p.is_dir()) if folder.is_dir() else []
    skipped = sorted(p for p in folder.glob(".*/*") if p.is_dir()) if folder.is_dir() else []
    if not found and not skipped:
        raise ValueError(
            f"nothing to grade: {folder} holds no submission (submitted/<student>/<assignment>/, where "
            "`nbgrader collect <assignment>` puts them)"
        )
    known = set(assignments_of(course))
    unknown = sorted({p.name for p in found} - known)
    if unknown:
        raise ValueError(f"submitted/ holds assignments the course does not have: {', '.join(unknown)}")
    problems = [f"{p.relative_to(course)}: nbgrader skips a student folder whose name starts with '.'" for p in skipped]
    flags: dict[Path, dict[str, tuple[bool, bool]]] = {}  # each instructor copy read once, not once a student
    problems += [problem for submission in found for problem in _submission_problems(course, submission, flags)]
    assignments = sorted({p.name for p in found})
    for assignment in assignments:
        for source in sorted((course / "source" / assignment).glob("*.ipynb")):
            try:
                load_course_file(course / "hidden" / assignment / f"{source.stem}.py")
            except CourseFileError as error:
                problems.append(f"{error} (`course init` puts the hidden cases there)")
    problems += [
        f"gradebook student id {s!r}: {p}" for s in _gradebook_students(course) if (p := student_id_problem(s))
    ]
    if problems:
        raise ValueError(f"{len(problems)} problem(s), nothing graded: " + "; ".join(problems))
    return assignments


def _submission_problems(course: Path, submission: Path, flags: dict) -> list[str]:
    """What stops nbgrader from grading ``submitted/<student>/<assignment>``: see :func:`check_submissions`.
    ``flags`` caches each instructor copy's exercise cells (:func:`_exercise_flags`)."""
    sources = {p.stem: p for p in (course / "source" / submission.name).glob("*.ipynb")}
    where = submission.relative_to(course)
    notebooks = [p for p in sorted(submission.glob("*.ipynb")) if p.stem in sources]
    if not notebooks:
        held = sorted(p.name for p in submission.iterdir() if not p.name.startswith("."))
        expected = ", ".join(f"{stem}.ipynb" for stem in sorted(sources))
        return [f"{where} holds none of the assignment's notebooks ({expected}), but {held or 'nothing'}"]
    problems = []
    for path in notebooks:
        try:
            nb = read_notebook(path)
        except ValueError as error:
            problems.append(str(error).replace(str(path), str(path.relative_to(course)), 1))
            continue
        source = sources[path.stem]
        if source not in flags:
            flags[source] = _exercise_flags(read_notebook(source))
        problems += _cell_problems(nb, flags[source], path.relative_to(course))
    return problems


def _flags(meta) -> tuple[bool, bool]:
    return bool(meta.get("grade")), bool(meta.get("solution"))


def _exercise_flags(source: nbformat.NotebookNode) -> dict[str, tuple[bool, bool]]:
    """The instructor copy's nbgrader cells: grade id -> (grade, solution)."""
    return {c.metadata.nbgrader["grade_id"]: _flags(c.metadata.nbgrader) for c in source.cells if _graded(c)}


def _cell_problems(nb: nbformat.NotebookNode, expected: dict[str, tuple[bool, bool]], where: Path) -> list[str]:
    """The submission's exercise cells against the instructor copy's: known, once each, with their grading flags."""
    from nbgrader.nbgraderformat import MetadataValidator

    validator, seen, problems = MetadataValidator(), {}, []
    for index, cell in enumerate(nb.cells):
        if "nbgrader" not in cell.get("metadata", {}):
            continue  # a cell of the student's, or one whose metadata a tool stripped (found by its cell id)
        try:
            validator.validate_cell(cell)
            meta = cell.metadata.nbgrader
            grade_id = meta.get("grade_id")
        except Exception as error:  # jsonschema's, nbgrader's schema errors and metadata that is no mapping
            problems.append(f"{where}, cell {index}: nbgrader metadata nbgrader cannot read ({type(error).__name__})")
            continue
        if grade_id is None and not any(_flags(meta)):
            continue
        if grade_id not in expected:
            problems.append(
                f"{where}, cell {index}: exercise cell {grade_id!r} is not one of this notebook's "
                f"({', '.join(sorted(expected))}); a cell of another notebook?"
            )
        elif grade_id in seen:
            problems.append(f"{where}, cells {seen[grade_id]} and {index} are both {grade_id!r}; keep one")
        elif _flags(meta) != expected[grade_id]:
            problems.append(f"{where}, cell {index}: the nbgrader flags of {grade_id!r} (grade, solution) were changed")
        seen.setdefault(grade_id, index)
    return problems


def _graded(cell) -> bool:
    return bool(cell.get("metadata", {}).get("nbgrader", {}).get("grade_id"))


def _gradebook_students(course: Path) -> list[str]:
    from nbgrader.api import Gradebook

    if not (course / "gradebook.db").is_file():
        return []
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gradebook:
        return [s.id for s in gradebook.students]


def student_id_problem(student: str) -> str:
    """Why a student id cannot name a folder of feedback/ ("" when it can)."""
    if student in ("", ".", "..") or "/" in student or "\\" in student or "\0" in student:
        return "not a folder name (feedback/<student>/ must stay inside feedback/)"
    return ""
