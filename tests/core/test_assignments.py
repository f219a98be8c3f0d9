"""The exercise convention of the notebooks and `theory-collection assignments` (student and instructor copies)."""

import copy
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from theory_collection.cli import main
from theory_collection.course import exercises

FIXTURE = Path(__file__).parent / "fixtures" / "course" / "notebooks"
SOLUTION_LINE = "return math.fsum(ratio**k for k in range(terms))"


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    out = tmp_path_factory.mktemp("assignments")
    assert main(["assignments", "--notebooks", str(FIXTURE / "series"), "--out", str(out)]) == 0
    return out


def cells_tagged(nb, tag):
    return [c for c in nb.cells if tag in c.metadata.get("tags", [])]


def test_student_version_has_stubs_prompts_no_outputs_and_locked_checks(written):
    student = nbformat.read(written / "student" / "01_series.ipynb", as_version=4)
    first, second = cells_tagged(student, "solution")
    assert SOLUTION_LINE not in first.source and "BEGIN SOLUTION" not in first.source
    assert "    # YOUR CODE HERE\n    raise NotImplementedError()" in first.source
    assert first.source.startswith("import math\n\n\ndef partial_sum(ratio, terms):")  # only the region is replaced
    assert "1 / (1 - r)" not in second.source
    (written_answer,) = cells_tagged(student, "written")
    assert written_answer.source == "YOUR ANSWER HERE" and written_answer.metadata.nbgrader["points"] == 1
    assert all(not c.get("outputs") for c in student.cells if c.cell_type == "code")
    check, _ = cells_tagged(student, "autograder")
    assert check.metadata.nbgrader["grade_id"] == "partial_sum_check" and check.metadata.nbgrader["points"] == 2
    assert check.metadata.editable is False and check.metadata.deletable is False
    assert first.metadata.nbgrader["grade_id"] == "partial_sum" and "checksum" in first.metadata.nbgrader


def test_instructor_version_keeps_solutions_and_answers(written):
    instructor = nbformat.read(written / "instructor" / "01_series.ipynb", as_version=4)
    assert SOLUTION_LINE in cells_tagged(instructor, "solution")[0].source
    assert "do not tend to zero" in cells_tagged(instructor, "written")[0].source


def test_copies_send_their_outputs_next_to_themselves_when_they_take_an_output_dir():
    nb = exercise_notebook(new_code_cell('output_dir = "x"', metadata={"tags": ["parameters"]}), solution(), check())
    for make in (exercises.student_version, exercises.instructor_version):
        copy_ = make(nb, "01_a")
        (injected,) = cells_tagged(copy_, "injected-parameters")
        assert 'output_dir = "01_a_output"' in injected.source


@pytest.mark.parametrize("out", ["course/release", "course/release/week1"])
def test_assignments_refuse_a_release_folder(tmp_path, capsys, out):
    assert main(["assignments", "--notebooks", str(FIXTURE / "series"), "--out", str(tmp_path / out)]) == 2
    assert "must not land in a release folder" in capsys.readouterr().err
    assert not (tmp_path / "course").exists()


def exercise_notebook(*cells):
    nb = new_notebook(metadata={"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}})
    nb.cells = list(cells)
    return nb


def meta(exercise_id="x", kind="implementation", **changes):
    data = {"id": exercise_id, "points": 1, "kind": kind, "difficulty": "easy", "minutes": 5, **changes}
    return {"exercise": data}


def solution(body="x = 1", tags=("solution",), exercise_id="x", **changes):
    return new_code_cell(
        f"### BEGIN SOLUTION\n{body}\n### END SOLUTION", metadata={"tags": list(tags), **meta(exercise_id, **changes)}
    )


def check(tags=("autograder",)):
    return new_code_cell("assert x == 1", metadata={"tags": list(tags)})


def written_answer(exercise_id="w", tags=("written",), kind="written"):
    return new_markdown_cell("An answer.", metadata={"tags": list(tags), **meta(exercise_id, kind=kind)})


def test_find_exercises_pairs_solution_and_check_across_markdown_and_reads_the_metadata():
    nb = exercise_notebook(
        new_code_cell("a = 1"),
        solution(),
        new_markdown_cell("Check:"),
        check(),
        written_answer(),
        solution(exercise_id="y"),
        check(),
    )
    found = exercises.find_exercises(nb)
    assert [(e.id, e.solution, e.autograder, e.written) for e in found] == [
        ("x", 1, 3, False),
        ("w", 4, None, True),
        ("y", 5, 6, False),
    ]
    assert found[0].points == 1.0 and found[0].kind == "implementation" and found[0].minutes == 5
    assert exercises.find_exercises(exercise_notebook(new_code_cell("a = 1"))) == []


@pytest.mark.parametrize(
    "cells, message",
    [
        (
            [new_code_cell("x = 1", metadata={"tags": ["solution"], **meta()}), check()],
            "needs lines '### BEGIN SOLUTION'",
        ),
        ([solution(tags=()), check()], "is not tagged 'solution'"),
        ([solution()], "has no 'autograder' cell after it"),
        ([solution(), new_code_cell("y = 2"), check()], "must be tagged 'autograder'"),
        ([check()], "does not follow a cell tagged 'solution'"),
        ([solution(), solution(), check()], "before this next solution cell"),
        ([solution("### BEGIN SOLUTION\nx = 1"), check()], "nested"),
        ([solution(), check(tags=("autograder", "solution"))], "not several"),
        ([solution(), new_markdown_cell("assert x", metadata={"tags": ["autograder"]})], "must be a code cell"),
        (
            [new_code_cell("### BEGIN SOLUTION\n### END SOLUTION", metadata={"tags": ["solution"]}), check()],
            "needs metadata 'exercise'",
        ),
        ([solution(points=0), check()], "points must be a number in (0, 20]"),
        ([solution(kind="essay"), check()], "kind must be one of"),
        ([solution(difficulty="tough"), check()], "difficulty must be one of"),
        ([solution(minutes=1.5), check()], "minutes must be an integer"),
        ([solution(exercise_id="Bad id"), check()], "exercise id must be lowercase"),
        ([solution(), check(), solution(), check()], "exercise ids repeat: x"),
        ([written_answer(kind="derivation")], "a written answer has kind 'written'"),
        ([new_code_cell("x", metadata={"tags": ["written"], **meta(kind="written")})], "must be a markdown cell"),
        ([solution(kind="written"), check()], "kind 'written' belongs to a written cell"),
    ],
)
def test_convention_errors_name_the_cell(cells, message):
    with pytest.raises(ValueError, match=message.replace("(", "\\(").replace(")", "\\)").replace("[", "\\[")) as error:
        exercises.find_exercises(exercise_notebook(*cells), "03_value_matrix")
    assert "03_value_matrix" in str(error.value)


def test_convention_error_exits_2_before_writing(tmp_path, capsys):
    notebooks = tmp_path / "notebooks"
    notebooks.mkdir()
    nbformat.write(exercise_notebook(solution(), check()), notebooks / "01_good.ipynb")
    nbformat.write(exercise_notebook(solution()), notebooks / "02_bad.ipynb")
    out = tmp_path / "out"
    assert main(["assignments", "--notebooks", str(notebooks), "--out", str(out)]) == 2
    assert "02_bad, cell 0: solution cell has no 'autograder' cell after it" in capsys.readouterr().err
    assert not out.exists()


def test_no_exercises_anywhere_exits_2(tmp_path, capsys):
    notebooks = tmp_path / "notebooks"
    notebooks.mkdir()
    nbformat.write(exercise_notebook(new_code_cell("a = 1")), notebooks / "01_plain.ipynb")
    assert main(["assignments", "--notebooks", str(notebooks), "--out", str(tmp_path / "out")]) == 2
    assert "marks an exercise" in capsys.readouterr().err


def test_the_header_states_points_difficulty_and_time():
    header = exercises.exercise_header("3.1", "derivation", 2, "medium", 15)
    assert header == "**Exercise 3.1** · derivation · 2 points · medium · about 15 minutes"
    assert "1 point ·" in exercises.exercise_header("1", "written", 1, "easy", 5)


def test_nbgrader_metadata_is_a_copy(tmp_path):
    nb = exercise_notebook(solution(), check(), written_answer())
    before = copy.deepcopy(nb)
    marked = exercises.with_nbgrader_metadata(nb, "01_a")
    assert nb == before
    assert [c.metadata.get("nbgrader", {}).get("grade_id") for c in marked.cells] == ["x", "x_check", "w"]
    assert marked.cells[2].metadata.nbgrader["grade"] and marked.cells[2].metadata.nbgrader["solution"]
