"""The collection's exercises: every notebook has 2-4, each states its points, kind, difficulty, time, hint and what
the student may use; each paper mixes derivations, implementations, experiments and a written answer; the hidden
cases live only in the repository's course/ folder, which matches the notebooks exercise for exercise."""

import re
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from theory_collection.course import workflow
from theory_collection.course.cli import COURSE_FILES
from theory_collection.course.exercises import find_exercises, student_version
from theory_collection.papers import REPO_ROOT, paper_of
from theory_collection.runner import collection_notebooks

NOTEBOOKS = collection_notebooks()
HEADER = re.compile(
    r"\*\*Exercise (?P<number>[\d.]+)\*\* · (?P<kind>\w+) · (?P<points>[\d.]+) points? · (?P<difficulty>\w+) · "
    r"about (?P<minutes>\d+) minutes"
)


def exercises_of(path):
    nb = nbformat.read(path, as_version=4)
    return nb, find_exercises(nb, path.stem)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_every_notebook_has_two_to_four_exercises_each_stated_in_full(path):
    nb, found = exercises_of(path)
    assert 2 <= len(found) <= 4, f"{path.stem}: {len(found)} exercises"
    for exercise in found:
        statement = nb.cells[exercise.solution - 1]
        assert statement.cell_type == "markdown", f"{exercise.id}: the statement comes right before the answer cell"
        header = HEADER.search(statement.source)
        assert header, f"{exercise.id}: no header '**Exercise N** · kind · points · difficulty · about M minutes'"
        stated = (header["kind"], float(header["points"]), header["difficulty"], int(header["minutes"]))
        assert stated == (exercise.kind, exercise.points, exercise.difficulty, exercise.minutes), exercise.id
        assert "*Hint:*" in statement.source, f"{exercise.id}: no hint"
        if not exercise.written:
            assert "*You may use:*" in statement.source, f"{exercise.id}: does not say what the student may use"


@pytest.mark.parametrize("paper", sorted({paper_of(p).name for p in NOTEBOOKS}))
def test_each_paper_mixes_derivations_implementations_experiments_and_a_written_answer(paper):
    kinds = [e.kind for p in NOTEBOOKS if paper_of(p).name == paper for e in exercises_of(p)[1]]
    assert {"derivation", "implementation", "experiment", "written"} <= set(kinds), kinds


def test_the_course_files_match_the_notebooks_exercise_for_exercise():
    planned = workflow.plan_course(NOTEBOOKS, COURSE_FILES)  # raises on a missing or an extra check
    assert len(planned) == len(NOTEBOOKS)
    on_disk = {(p.parent.name, p.stem) for p in COURSE_FILES.glob("*/*.py")}
    assert on_disk == {(p.path.parent.name, p.path.stem) for p in planned}, "a course file without its notebook"


def test_hidden_cases_are_neither_installed_nor_in_the_notebooks(tmp_path):
    probe = "import importlib.util as u; print(u.find_spec('course'), u.find_spec('topic_structure.exercises'))"
    installed = subprocess.run([sys.executable, "-I", "-c", probe], cwd=tmp_path, capture_output=True, text=True)
    assert installed.stdout.split() == ["None", "None"], "the hidden cases must not be importable once installed"
    assert COURSE_FILES.parent == REPO_ROOT and not (COURSE_FILES / "__init__.py").exists()
    for path in NOTEBOOKS:
        text = path.read_text(encoding="utf-8")
        assert "HIDDEN" not in text and "exercises.check" not in text, path.stem
        assert "course_files" not in text and "/hidden/" not in text, path.stem


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_the_student_copy_holds_stubs_and_prompts_only(path):
    nb, found = exercises_of(path)
    student = student_version(nb, path.stem)
    for exercise in found:
        cell = student.cells[exercise.solution + 1]  # the copy has one injected parameters cell before it
        assert cell.metadata.nbgrader["grade_id"] == exercise.id
        stub = "YOUR ANSWER HERE" if exercise.written else "raise NotImplementedError()"
        assert stub in cell.source and "BEGIN SOLUTION" not in cell.source
        assert not cell.get("outputs")


def test_every_solution_cell_stands_alone():
    """The grader runs a solution cell alone: what it uses must be imported or defined in it (or by `uses`)."""
    import builtins

    known = set(dir(builtins))
    for path in NOTEBOOKS:
        nb, found = exercises_of(path)
        checks = workflow.load_course_file(COURSE_FILES / path.parent.name / f"{path.stem}.py")
        for exercise in found:
            if exercise.written:
                continue
            given = {u for used in checks[exercise.id].uses for u in _defined(nb.cells[_solution(found, used)].source)}
            source = nb.cells[exercise.solution].source
            missing = _free_names(source) - _defined(source) - given - known
            assert not missing, f"{path.stem} {exercise.id}: uses {sorted(missing)} from the notebook"


def _solution(found, exercise_id):
    return next(e.solution for e in found if e.id == exercise_id)


def _defined(source: str) -> set[str]:
    import ast

    names = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.add(node.id)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names |= {(a.asname or a.name).split(".")[0] for a in node.names}
        elif isinstance(node, ast.arg):
            names.add(node.arg)
    return names


def _free_names(source: str) -> set[str]:
    import ast

    return {n.id for n in ast.walk(ast.parse(source)) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}


def test_the_course_files_import_no_notebook_and_the_core_course_no_paper():
    core = Path(workflow.__file__).parent
    for module in core.glob("*.py"):
        text = module.read_text(encoding="utf-8")
        assert not re.search(r"^\s*(from|import) (topic_structure|next_token)\b", text, flags=re.M), module.name
