"""The exercises a notebook marks, and its student and instructor copies, made by nbgrader.

An **autograded exercise** is a code cell tagged ``solution`` whose ``exercise`` metadata names it,
followed (markdown may sit between) by a code cell tagged ``autograder``::

    metadata: {"tags": ["solution"],                       metadata: {"tags": ["autograder"]}
               "exercise": {"id": "partial_sum",           # a cheap check on a visible case;
                            "points": 2,                   # the grade comes from the hidden
                            "kind": "implementation",      # cases of the course file
                            "difficulty": "easy",          assert partial_sum(0.5, 3) == 1.75
                            "minutes": 10}}
    import math
    def partial_sum(ratio, terms):
        ### BEGIN SOLUTION
        return sum(ratio**k for k in range(terms))
        ### END SOLUTION

The solution cell must stand alone: the grader runs it, and nothing else of the notebook, in a fresh
Python process (:mod:`theory_collection.course.grader`). A **written exercise** is a markdown cell
tagged ``written`` with the same metadata (kind ``written``); it holds the model answer and is graded
by hand. The markdown cell before either states the exercise, starting with :func:`exercise_header`.

:func:`with_nbgrader_metadata` turns the tags into nbgrader cell metadata: the solution cell is an
nbgrader solution cell (grade id = the exercise id), the autograder cell a locked grade cell worth
the exercise's points (grade id ``<id>_check``), a written cell a manually graded answer.
:func:`student_version` and :func:`instructor_version` then run nbgrader's own preprocessors, in the
order of ``nbgrader generate_assignment``.
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass
from pathlib import Path

import nbformat
from nbgrader.preprocessors import (
    CheckCellMetadata,
    ClearHiddenTests,
    ClearOutput,
    ClearSolutions,
    ComputeChecksums,
    LockCells,
)

SOLUTION_TAG = "solution"
AUTOGRADER_TAG = "autograder"
WRITTEN_TAG = "written"
BEGIN_SOLUTION = "### BEGIN SOLUTION"
END_SOLUTION = "### END SOLUTION"
KINDS = ("derivation", "implementation", "experiment", "written")
DIFFICULTIES = ("easy", "medium", "hard")
CHECK_SUFFIX = "_check"
EXERCISE_ID = re.compile(r"[a-z][a-z0-9_]*")


@dataclass(frozen=True)
class Exercise:
    """One exercise of a notebook: where its cells are and what its metadata says."""

    id: str
    points: float
    kind: str
    difficulty: str
    minutes: int
    solution: int  # cell index of the solution (or written answer) cell
    autograder: int | None  # cell index of the visible check; None for a written exercise

    @property
    def written(self) -> bool:
        """Graded by hand."""
        return self.autograder is None


def tags(cell) -> list[str]:
    """The cell's tags."""
    return list(cell.get("metadata", {}).get("tags", []))


def exercise_header(number: str, kind: str, points: float, difficulty: str, minutes: int) -> str:
    """The first line of an exercise's statement, e.g. ``**Exercise 3.1** · derivation · 2 points · ...``."""
    unit = "point" if points == 1 else "points"
    return f"**Exercise {number}** · {kind} · {points:g} {unit} · {difficulty} · about {minutes} minutes"


def _metadata(cell, where: str) -> dict:
    meta = cell.get("metadata", {}).get("exercise")
    if not isinstance(meta, dict):
        raise ValueError(f"{where}: an exercise cell needs metadata 'exercise' (id, points, kind, difficulty, minutes)")
    missing = [key for key in ("id", "points", "kind", "difficulty", "minutes") if key not in meta]
    if missing:
        raise ValueError(f"{where}: exercise metadata lacks {', '.join(missing)}")
    if not isinstance(meta["id"], str) or not EXERCISE_ID.fullmatch(meta["id"]):
        raise ValueError(f"{where}: exercise id must be lowercase letters, digits and '_', got {meta['id']!r}")
    points = meta["points"]
    if isinstance(points, bool) or not isinstance(points, (int, float)) or not 0 < points <= 20:
        raise ValueError(f"{where}: exercise points must be a number in (0, 20], got {points!r}")
    if meta["kind"] not in KINDS:
        raise ValueError(f"{where}: exercise kind must be one of {KINDS}, got {meta['kind']!r}")
    if meta["difficulty"] not in DIFFICULTIES:
        raise ValueError(f"{where}: exercise difficulty must be one of {DIFFICULTIES}, got {meta['difficulty']!r}")
    if isinstance(meta["minutes"], bool) or not isinstance(meta["minutes"], int) or not 1 <= meta["minutes"] <= 240:
        raise ValueError(f"{where}: exercise minutes must be an integer in [1, 240], got {meta['minutes']!r}")
    return meta


def find_exercises(nb: nbformat.NotebookNode, name: str = "notebook") -> list[Exercise]:
    """The exercises of ``nb``, checked against the convention; a violation raises ValueError naming the cell."""
    exercises: list[Exercise] = []
    pending: tuple[int, dict] | None = None
    for index, cell in enumerate(nb.cells):
        cell_tags, source = tags(cell), cell.source
        where = f"{name}, cell {index}"
        marked = [t for t in (SOLUTION_TAG, AUTOGRADER_TAG, WRITTEN_TAG) if t in cell_tags]
        if len(marked) > 1:
            raise ValueError(f"{where}: a cell takes one of the tags {', '.join(map(repr, marked))}, not several")
        has_markers = BEGIN_SOLUTION in source or END_SOLUTION in source
        if has_markers and SOLUTION_TAG not in cell_tags:
            raise ValueError(f"{where}: has {BEGIN_SOLUTION!r} / {END_SOLUTION!r} but is not tagged {SOLUTION_TAG!r}")
        if SOLUTION_TAG in cell_tags:
            if cell.cell_type != "code":
                raise ValueError(f"{where}: a cell tagged {SOLUTION_TAG!r} must be a code cell")
            _check_markers(source, where)
            if pending is not None:
                raise ValueError(
                    f"{where}: solution cell {pending[0]} has no {AUTOGRADER_TAG!r} cell before this next solution cell"
                )
            meta = _metadata(cell, where)
            if meta["kind"] == "written":
                raise ValueError(f"{where}: a solution cell is autograded; kind 'written' belongs to a written cell")
            pending = (index, meta)
        elif AUTOGRADER_TAG in cell_tags:
            if cell.cell_type != "code":
                raise ValueError(f"{where}: a cell tagged {AUTOGRADER_TAG!r} must be a code cell")
            if pending is None:
                raise ValueError(f"{where}: autograder cell does not follow a cell tagged {SOLUTION_TAG!r}")
            exercises.append(_exercise(pending[1], pending[0], index))
            pending = None
        elif WRITTEN_TAG in cell_tags:
            if cell.cell_type != "markdown":
                raise ValueError(f"{where}: a cell tagged {WRITTEN_TAG!r} must be a markdown cell")
            if pending is not None:
                raise ValueError(f"{name}, cell {pending[0]}: solution cell has no {AUTOGRADER_TAG!r} cell after it")
            meta = _metadata(cell, where)
            if meta["kind"] != "written":
                raise ValueError(f"{where}: a written answer has kind 'written', got {meta['kind']!r}")
            exercises.append(_exercise(meta, index, None))
        elif pending is not None and cell.cell_type == "code":
            raise ValueError(
                f"{name}, cell {pending[0]}: the code cell after a solution cell must be tagged {AUTOGRADER_TAG!r}"
            )
    if pending is not None:
        raise ValueError(f"{name}, cell {pending[0]}: solution cell has no {AUTOGRADER_TAG!r} cell after it")
    ids = [e.id for e in exercises]
    repeated = sorted({i for i in ids if ids.count(i) > 1})
    if repeated:
        raise ValueError(f"{name}: exercise ids repeat: {', '.join(repeated)}")
    return exercises


def _exercise(meta: dict, solution: int, autograder: int | None) -> Exercise:
    return Exercise(
        meta["id"], float(meta["points"]), meta["kind"], meta["difficulty"], meta["minutes"], solution, autograder
    )


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


def nbgrader_cell(grade_id: str, *, grade: bool, solution: bool, points: float | None = None) -> dict:
    """nbgrader's cell metadata (schema 3) for a solution, grade or manually graded cell."""
    meta = {
        "grade": grade,
        "solution": solution,
        "locked": grade and not solution,
        "task": False,
        "grade_id": grade_id,
        "schema_version": 3,
    }
    if points is not None:
        meta["points"] = points
    return meta


def with_nbgrader_metadata(nb: nbformat.NotebookNode, name: str) -> nbformat.NotebookNode:
    """A copy of ``nb`` whose exercises carry nbgrader metadata (see the module docstring)."""
    nb = copy.deepcopy(nb)
    for exercise in find_exercises(nb, name):
        if exercise.written:
            nb.cells[exercise.solution].metadata["nbgrader"] = nbgrader_cell(
                exercise.id, grade=True, solution=True, points=exercise.points
            )
            continue
        nb.cells[exercise.solution].metadata["nbgrader"] = nbgrader_cell(exercise.id, grade=False, solution=True)
        nb.cells[exercise.autograder].metadata["nbgrader"] = nbgrader_cell(
            exercise.id + CHECK_SUFFIX, grade=True, solution=False, points=exercise.points
        )
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
    nb.cells = [c for c in nb.cells if "injected-parameters" not in tags(c)]
    index = next((i for i, c in enumerate(nb.cells) if "parameters" in tags(c) and "output_dir" in c.source), None)
    if index is not None:
        source = f'# Parameters of this copy: its outputs go next to it\noutput_dir = "{name}_output"'
        nb.cells.insert(index + 1, nbformat.v4.new_code_cell(source, metadata={"tags": ["injected-parameters"]}))
    return nb


def student_version(nb: nbformat.NotebookNode, name: str) -> nbformat.NotebookNode:
    """Solutions replaced by stubs, written answers by nbgrader's prompt, outputs cleared, checks locked."""
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
    """What was written for one notebook: its exercises and the student and instructor copies."""

    notebook: str
    exercises: int
    student: Path
    instructor: Path


def refuse_release_folder(out: Path) -> None:
    """Instructor copies carry the solutions: they never go into a folder named ``release``."""
    if "release" in Path(out).absolute().parts:
        raise ValueError(
            f"--out {out}: instructor copies hold the solutions and must not land in a release folder; "
            "for a course use `theory-collection course init DIR`, whose release folder holds student copies only"
        )


def write_assignments(paths: list[Path], out: str | Path) -> tuple[list[Assignment], list[str]]:
    """Write student and instructor versions of every notebook with exercises (``out/student``, ``out/instructor``).

    Returns the assignments written and the names of the notebooks without exercises. Every
    notebook is checked before anything is written, so a convention error leaves ``out`` untouched.
    """
    refuse_release_folder(Path(out))
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
