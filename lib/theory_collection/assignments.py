"""Classroom assignments: student and instructor versions of the notebooks, made by nbgrader.

The notebook authors mark an exercise with two cells::

    tags: ["solution"]                     tags: ["autograder"]
    def partial_sum(ratio, terms):         assert partial_sum(0.5, 3) == 1.75
        ### BEGIN SOLUTION
        return sum(ratio**k ...)
        ### END SOLUTION

(markdown cells may sit between them). This module turns the tags into nbgrader cell metadata
(a solution cell and a one-point, locked grade cell per exercise) and runs nbgrader's own
preprocessors, in the order of ``nbgrader generate_assignment``, to write

- ``<out>/student/NN_name.ipynb``: solution regions replaced by nbgrader's stub
  (``raise NotImplementedError()``), outputs cleared, autograder cells kept and locked,
  checksums computed so ``nbgrader autograde`` can grade a submission;
- ``<out>/instructor/NN_name.ipynb``: the same metadata with the solutions and outputs kept.

Both copies get an injected parameter cell (papermill's convention) that sends their outputs to
``NN_name_output/`` next to the notebook, so they run wherever they are handed out.
:func:`autograde` executes a copy and scores it the way ``nbgrader autograde`` does, against the
instructor copy: an autograder cell that is missing or changed (checksum) scores 0 and is reported.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from pathlib import Path

import nbformat
from nbgrader import utils as nbgrader_utils
from nbgrader.preprocessors import (
    CheckCellMetadata,
    ClearHiddenTests,
    ClearOutput,
    ClearSolutions,
    ComputeChecksums,
    Execute,
    LockCells,
)

from theory_collection.params import check_int
from theory_collection.runner import QUIET_KERNEL

SOLUTION_TAG = "solution"
AUTOGRADER_TAG = "autograder"
BEGIN_SOLUTION = "### BEGIN SOLUTION"
END_SOLUTION = "### END SOLUTION"
POINTS = 1  # per autograder cell


@dataclass(frozen=True)
class Exercise:
    """One exercise of a notebook: its solution cell and the autograder cell that checks it."""

    solution: int  # cell index of the solution cell
    autograder: int  # cell index of the autograder cell that checks it


@dataclass(frozen=True)
class Grade:
    """The score of one exercise; ``problem`` says why it is 0 without its cell having run as written."""

    grade_id: str
    points: float
    max_points: float
    problem: str = ""


def _tags(cell) -> list[str]:
    return list(cell.get("metadata", {}).get("tags", []))


def find_exercises(nb: nbformat.NotebookNode, name: str = "notebook") -> list[Exercise]:
    """The exercises of ``nb``, checked against the convention; a violation raises ValueError."""
    exercises, pending = [], None
    for index, cell in enumerate(nb.cells):
        tags, source = _tags(cell), cell.source
        where = f"{name}, cell {index}"
        has_markers = BEGIN_SOLUTION in source or END_SOLUTION in source
        if SOLUTION_TAG in tags and AUTOGRADER_TAG in tags:
            raise ValueError(f"{where}: a cell is tagged {SOLUTION_TAG!r} or {AUTOGRADER_TAG!r}, not both")
        if SOLUTION_TAG in tags:
            if cell.cell_type != "code":
                raise ValueError(f"{where}: a cell tagged {SOLUTION_TAG!r} must be a code cell")
            _check_markers(source, where)
            if pending is not None:
                raise ValueError(
                    f"{where}: solution cell {pending} has no {AUTOGRADER_TAG!r} cell before this next solution cell"
                )
            pending = index
        elif has_markers:
            raise ValueError(f"{where}: has {BEGIN_SOLUTION!r} / {END_SOLUTION!r} but is not tagged {SOLUTION_TAG!r}")
        if AUTOGRADER_TAG in tags:
            if cell.cell_type != "code":
                raise ValueError(f"{where}: a cell tagged {AUTOGRADER_TAG!r} must be a code cell")
            if pending is None:
                raise ValueError(f"{where}: autograder cell does not follow a cell tagged {SOLUTION_TAG!r}")
            exercises.append(Exercise(pending, index))
            pending = None
        elif pending is not None and index != pending and cell.cell_type == "code":
            raise ValueError(
                f"{name}, cell {pending}: the code cell after a solution cell must be tagged {AUTOGRADER_TAG!r}"
            )
    if pending is not None:
        raise ValueError(f"{name}, cell {pending}: solution cell has no {AUTOGRADER_TAG!r} cell after it")
    return exercises


def _check_markers(source: str, where: str) -> None:
    depth, regions = 0, 0
    for line in source.splitlines():
        if BEGIN_SOLUTION in line:
            if depth:
                raise ValueError(f"{where}: nested {BEGIN_SOLUTION!r}")
            depth, regions = 1, regions + 1
        elif END_SOLUTION in line:
            if not depth:
                raise ValueError(f"{where}: {END_SOLUTION!r} without {BEGIN_SOLUTION!r}")
            depth = 0
    if depth or not regions:
        raise ValueError(f"{where}: a solution cell needs lines {BEGIN_SOLUTION!r} ... {END_SOLUTION!r}")


def with_nbgrader_metadata(nb: nbformat.NotebookNode, name: str) -> nbformat.NotebookNode:
    """A copy of ``nb`` whose exercises carry nbgrader metadata (ids ``<name>_exercise_<k>[_tests]``)."""
    nb = copy.deepcopy(nb)
    for k, exercise in enumerate(find_exercises(nb, name), start=1):
        nb.cells[exercise.solution].metadata["nbgrader"] = {
            "grade": False,
            "solution": True,
            "locked": False,
            "task": False,
            "grade_id": f"{name}_exercise_{k}",
            "schema_version": 3,
        }
        nb.cells[exercise.autograder].metadata["nbgrader"] = {
            "grade": True,
            "solution": False,
            "locked": True,
            "task": False,
            "points": POINTS,
            "grade_id": f"{name}_exercise_{k}_tests",
            "schema_version": 3,
        }
    return nb


def _apply(nb: nbformat.NotebookNode, *preprocessors) -> nbformat.NotebookNode:
    resources: dict = {}
    for preprocessor in preprocessors:
        nb, resources = preprocessor.preprocess(nb, resources)
    return nb


def _portable(nb: nbformat.NotebookNode, name: str) -> nbformat.NotebookNode:
    """Send the copy's outputs next to it (``<name>_output/``) if it takes an ``output_dir``.

    Like ``papermill -p``: a cell tagged ``injected-parameters`` after the ``parameters`` cell
    (papermill replaces it if the copy is later run through papermill).
    """
    nb = copy.deepcopy(nb)
    nb.cells = [c for c in nb.cells if "injected-parameters" not in _tags(c)]
    index = next((i for i, c in enumerate(nb.cells) if "parameters" in _tags(c) and "output_dir" in c.source), None)
    if index is not None:
        source = f'# Parameters of this copy: its outputs go next to it\noutput_dir = "{name}_output"'
        nb.cells.insert(index + 1, nbformat.v4.new_code_cell(source, metadata={"tags": ["injected-parameters"]}))
    return nb


def student_version(nb: nbformat.NotebookNode, name: str) -> nbformat.NotebookNode:
    """Solutions replaced by stubs, outputs cleared, autograder cells locked, checksums set."""
    nb = with_nbgrader_metadata(nb, name)
    nb = _apply(
        nb, LockCells(), ClearSolutions(), ClearOutput(), ClearHiddenTests(), ComputeChecksums(), CheckCellMetadata()
    )
    for cell in nb.cells:  # run records of the author's execution mean nothing to a student
        for key in ("papermill", "execution"):
            cell.metadata.pop(key, None)
    nb.metadata.pop("papermill", None)
    return _portable(nb, name)


def instructor_version(nb: nbformat.NotebookNode, name: str) -> nbformat.NotebookNode:
    """The notebook with its solutions and outputs, and the same nbgrader metadata as the student's."""
    nb = _apply(with_nbgrader_metadata(nb, name), ComputeChecksums(), CheckCellMetadata())
    return _portable(nb, name)


@dataclass(frozen=True)
class Assignment:
    """What was written for one notebook: its number of exercises and the student and instructor copies."""

    notebook: str
    exercises: int
    student: Path
    instructor: Path


def write_assignments(paths: list[Path], out: str | Path) -> tuple[list[Assignment], list[str]]:
    """Write student and instructor versions of every notebook with exercises.

    Returns the assignments written and the names of the notebooks without exercises. Every
    notebook is checked before anything is written, so a convention error leaves ``out`` untouched.
    """
    notebooks = {Path(p).stem: nbformat.read(p, as_version=4) for p in paths}
    counts = {name: len(find_exercises(nb, name)) for name, nb in notebooks.items()}
    with_exercises = [name for name, count in counts.items() if count]
    if not with_exercises:
        raise ValueError(
            f"none of the notebooks {sorted(notebooks)} marks an exercise (a cell tagged {SOLUTION_TAG!r})"
        )
    out = Path(out)
    written = []
    for name in with_exercises:
        files = {}
        for role, make in (("student", student_version), ("instructor", instructor_version)):
            target = out / role / f"{name}.ipynb"
            target.parent.mkdir(parents=True, exist_ok=True)
            nbformat.write(make(notebooks[name], name), target)
            files[role] = target
        written.append(Assignment(name, counts[name], files["student"], files["instructor"]))
    return written, [name for name, count in counts.items() if not count]


def autograde(path: str | Path, reference: str | Path | None = None, timeout: int | None = 600) -> list[Grade]:
    """Execute a notebook copy in its folder and score every exercise as strictly as ``nbgrader autograde``.

    The exercises, their points and the checksums of their locked autograder cells come from
    ``reference``, the instructor copy (default: ``../instructor/<name>.ipynb`` beside a
    ``student/`` copy), never from the copy being graded. Each exercise of the reference gets one
    :class:`Grade`: 0 with a ``problem`` when its autograder cell is missing, duplicated or changed
    (nbgrader's checksum differs from the reference's), else the points nbgrader's
    ``determine_grade`` gives the executed cell (0 if it raised or wrote to stderr).
    """
    if timeout is not None:
        check_int("timeout", timeout, 1)
    path = Path(path)
    expected = expected_grades(_reference_for(path, reference))
    nb = nbformat.read(path, as_version=4)
    executor = Execute(
        timeout=timeout,
        allow_errors=True,
        extra_arguments=QUIET_KERNEL,
        kernel_name=nb.metadata.get("kernelspec", {}).get("name", "python3"),
    )
    nb, _ = executor.preprocess(nb, {"metadata": {"path": str(path.parent.resolve())}})
    cells: dict[str, list] = {}
    for cell in nb.cells:
        grade_id = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
        if grade_id in expected:
            cells.setdefault(grade_id, []).append(cell)
    grades = []
    for grade_id, (checksum, max_points) in expected.items():
        found = cells.get(grade_id, [])
        if not found:
            grades.append(Grade(grade_id, 0.0, max_points, "autograder cell missing"))
        elif len(found) > 1:
            grades.append(Grade(grade_id, 0.0, max_points, f"autograder cell appears {len(found)} times"))
        elif _checksum(found[0]) != checksum:
            grades.append(
                Grade(
                    grade_id,
                    0.0,
                    max_points,
                    "autograder cell changed (its checksum differs from the instructor copy's)",
                )
            )
        else:
            points, _ = nbgrader_utils.determine_grade(found[0])
            grades.append(Grade(grade_id, float(points or 0.0), max_points))
    return grades


def expected_grades(reference: str | Path) -> dict[str, tuple[str, float]]:
    """``grade_id -> (checksum, points)`` of every autograder cell of an instructor copy."""
    nb = nbformat.read(reference, as_version=4)
    expected = {
        cell.metadata.nbgrader["grade_id"]: (_checksum(cell), float(cell.metadata.nbgrader["points"]))
        for cell in nb.cells
        if nbgrader_utils.is_grade(cell)
    }
    if not expected:
        raise ValueError(f"{reference} has no autograder cells: it is not an instructor copy written by `assignments`")
    return expected


def _reference_for(path: Path, reference: str | Path | None) -> Path:
    if reference is None:
        reference = path.resolve().parent.parent / "instructor" / path.name
        if not reference.is_file():
            raise ValueError(f"no instructor copy at {reference} to grade {path} against; pass reference=")
    return Path(reference)


def _checksum(cell) -> str | None:
    try:
        return nbgrader_utils.compute_checksum(cell)
    except (KeyError, TypeError, ValueError, AttributeError):  # metadata a student broke
        return None
