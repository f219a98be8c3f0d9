"""The isolated grader on the course fixture: right answers score, every way of gaming it scores 0 with its reason,
and a crash, an exit or an endless loop costs only its own exercise."""

import json
import math
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell

from theory_collection.course import checks, grader
from theory_collection.course.exercises import student_version, with_nbgrader_metadata
from theory_collection.course.nbgrader_grading import grade_notebook, write_grading

FIXTURE = Path(__file__).parent / "fixtures" / "course"
NOTEBOOK = FIXTURE / "notebooks" / "series" / "01_series.ipynb"
COURSE_FILE = FIXTURE / "course_files" / "series" / "01_series.py"
STUB = "def partial_sum(ratio, terms):\n    # YOUR CODE HERE\n    raise NotImplementedError()\n"
GOOD = "def partial_sum(ratio, terms):\n    return sum(ratio**k for k in range(terms))\n"
LIMIT = "series_limit = 1 / (1 - r)"


@pytest.fixture(scope="module")
def reference():
    return with_nbgrader_metadata(nbformat.read(NOTEBOOK, as_version=4), "01_series")


@pytest.fixture(scope="module")
def student():
    return student_version(nbformat.read(NOTEBOOK, as_version=4), "01_series")


def cell_of(nb, grade_id):
    return next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == grade_id)


def submission(student, partial_sum=None, series_limit=None, extra_cells=()):
    """The student copy with the given sources written into its solution cells (None: the stub stays)."""
    nb = nbformat.from_dict(json.loads(json.dumps(student)))
    if partial_sum is not None:
        cell_of(nb, "partial_sum").source = partial_sum
    if series_limit is not None:
        cell_of(nb, "series_limit").source = 'import sympy as sp\n\nr = sp.Symbol("r")\n' + series_limit
    for index, source in extra_cells:
        nb.cells.insert(index, new_code_cell(source))
    return nb


def grades_of(reference, nb, tmp_path, limits=None):
    limits = limits or grader.Limits(60, 30)
    graded, grades = grade_notebook(nb, reference, COURSE_FILE, [tmp_path, FIXTURE], limits, "01_series")
    return graded, {g.exercise: g for g in grades}


def test_the_notebooks_own_solutions_score_full_marks(reference, tmp_path):
    graded, grades = grades_of(reference, reference, tmp_path)
    assert {k: (g.points, g.max_points) for k, g in grades.items()} == {
        "partial_sum": (2.0, 2.0),
        "series_limit": (1.0, 1.0),
    }
    assert grades["partial_sum"].reason == "3 of 3 hidden cases agree with the reference"
    check = cell_of(graded, "partial_sum_check")
    assert check.outputs[-1]["data"]["text/plain"] == "2"  # nbgrader's partial credit reads this
    assert "3 of 3 hidden cases agree" in check.outputs[0]["text"]


def test_the_untouched_student_copy_scores_zero_without_running(student, reference, tmp_path):
    _, grades = grades_of(reference, student, tmp_path)
    for grade in grades.values():
        assert grade.points == 0 and grade.reason == "no answer: the solution cell is the stub"
        assert grade.seconds == 0


def test_partial_credit_counts_the_hidden_cases_that_agree(student, reference, tmp_path):
    only_small = (
        "def partial_sum(ratio, terms):\n    return sum(ratio**k for k in range(terms)) if abs(ratio) < 1 else 0\n"
    )
    _, grades = grades_of(reference, submission(student, only_small, LIMIT), tmp_path)
    assert grades["partial_sum"].points == pytest.approx(2 * 2 / 3, abs=0.01)
    assert [c.passed for c in grades["partial_sum"].cases] == [True, True, False]
    assert "case 3 of 3: differs from the reference by" in grades["partial_sum"].reason
    assert grades["series_limit"].points == 1


def test_a_correct_solution_that_writes_to_stderr_gets_its_marks(student, reference, tmp_path):
    noisy = "import sys\n\n\n" + GOOD.replace(":\n", ":\n    print('working', file=sys.stderr)\n", 1)
    graded, grades = grades_of(reference, submission(student, noisy), tmp_path)
    assert grades["partial_sum"].points == 2 and "working" in grades["partial_sum"].stderr
    solution = cell_of(graded, "partial_sum")
    assert [o["name"] for o in solution.outputs] == ["stderr"]  # kept in the executed copy, not in the grade cell


# Every way of gaming the old autograder, each on a wrong or missing answer: 0, with the reason.
TAMPERING = {
    "patches the checker in the solution cell": (
        "from topic_structure import exercises\nexercises.check_partial_sum = lambda f: None\n" + STUB,
        (),
        "ModuleNotFoundError: topic_structure is blocked",
    ),
    "patches the checker in a new cell": (
        None,
        ((5, "import types\nexercises = types.SimpleNamespace(check_partial_sum=lambda f: None)"),),
        "no answer: the solution cell is the stub",
    ),
    "defines its own exercises object": (
        "class exercises:\n    check_partial_sum = staticmethod(lambda f: None)\n\n\n"
        "def partial_sum(ratio, terms):\n    return 1.75\n",
        (),
        "differs from the reference",
    ),
    "patches math.isclose": (
        "import math\n\nmath.isclose = lambda *a, **k: True\n\n\ndef partial_sum(ratio, terms):\n    return 0.0\n",
        (),
        "differs from the reference",
    ),
    "reads the hidden cases": (
        "import runpy\n\n\ndef partial_sum(ratio, terms):\n"
        f"    course = runpy.run_path({str(COURSE_FILE)!r})\n"
        "    return course['partial_sum_reference'](ratio, terms)\n",
        (),
        "is not allowed while an exercise is graded",
    ),
    "returns the library's answer": (
        "from theory_collection.course import checks\n\n\ndef partial_sum(ratio, terms):\n    return checks\n",
        (),
        "theory_collection is blocked",
    ),
    "uses a name the notebook defined": (
        "def partial_sum(ratio, terms):\n    return math.fsum(ratio**k for k in range(terms))\n",
        (),
        "NameError: name 'math' is not defined",
    ),
    "forges answers in the grader's results file": (
        "import sys\n\nwith open(sys.argv[1], 'a') as results:\n"
        "    results.write('[' * 100000 + '\\n' + '{\"event\": \"ready\"}\\n')\n"
        '    results.write(\'{"event": "case", "index": 0, "value": 1.75}\\n\')\n\n\n'
        "def partial_sum(ratio, terms):\n    return 1.75\n",
        (),
        "differs from the reference",
    ),
    "copies the visible test's numbers": (
        "def partial_sum(ratio, terms):\n    return 1.75  # the visible case's value\n",
        (),
        "differs from the reference",
    ),
}


@pytest.mark.parametrize("how", TAMPERING)
def test_gaming_the_grader_scores_zero_with_the_reason(student, reference, tmp_path, how):
    source, extra, reason = TAMPERING[how]
    _, grades = grades_of(reference, submission(student, source, LIMIT, extra), tmp_path)
    assert grades["partial_sum"].points == 0, grades["partial_sum"]
    assert reason in grades["partial_sum"].reason
    assert grades["series_limit"].points == 1  # the other exercise is graded as usual


@pytest.mark.parametrize(
    "source, reason",
    [
        ("import os\nos._exit(0)\n", "the solution's process ended (exit status 0) before answering"),
        ("import faulthandler\nfaulthandler._sigsegv()\n", "killed by SIGSEGV"),
        ("def partial_sum(ratio, terms):\n    while True:\n        pass\n", "the time limit of 3 s ran out"),
        ("raise SystemExit(3)\n", "the solution cell raised SystemExit: 3 (solution cell, line 1)"),
        ("import subprocess\nsubprocess.run(['true'])\n", "subprocess.Popen is not allowed"),
    ],
    ids=["os._exit", "segfault", "endless loop", "sys.exit", "subprocess"],
)
def test_a_crash_exit_or_loop_costs_only_its_exercise(student, reference, tmp_path, source, reason):
    quick = tmp_path / "01_series.py"  # the course file with 3 s for partial_sum, the other exercise as it is
    quick.write_text(COURSE_FILE.read_text().replace("time_limit=20", "time_limit=3", 1))
    _, grades = grade_notebook(submission(student, source, LIMIT), reference, quick, [FIXTURE], name="01_series")
    grades = {g.exercise: g for g in grades}
    assert grades["partial_sum"].points == 0 and reason in grades["partial_sum"].reason
    assert grades["series_limit"].points == 1


def test_the_notebook_time_limit_stops_the_exercises_left(student, reference, tmp_path):
    loop = "def partial_sum(ratio, terms):\n    while True:\n        pass\n"
    _, grades = grades_of(reference, submission(student, loop, LIMIT), tmp_path, grader.Limits(2, 30))
    assert "the time limit of 2 s ran out" in grades["partial_sum"].reason
    assert grades["series_limit"].points == 0
    assert grades["series_limit"].reason.startswith("not run: the notebook's time limit of 2 s was used up")


def test_a_lost_check_cell_is_put_back_and_a_lost_solution_scores_zero(student, reference, tmp_path):
    nb = submission(student, GOOD, LIMIT)
    nb.cells = [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") != "partial_sum_check"]
    nb.cells = [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") != "series_limit"]
    graded, grades = grades_of(reference, nb, tmp_path)
    assert grades["partial_sum"].points == 2 and cell_of(graded, "partial_sum_check").outputs
    assert grades["series_limit"].points == 0 and "no solution cell" in grades["series_limit"].reason


def test_a_wrong_expression_and_a_wrong_symbol_score_zero(student, reference, tmp_path):
    _, grades = grades_of(reference, submission(student, GOOD, "series_limit = 1 / (1 + r)"), tmp_path)
    assert grades["series_limit"].points == 0 and "differs" in grades["series_limit"].reason
    other = 'q = sp.Symbol("q")\nseries_limit = 1 / (1 - q)'
    _, grades = grades_of(reference, submission(student, GOOD, other), tmp_path)
    assert "uses symbols ['q']; it may use only ['r']" in grades["series_limit"].reason


def test_the_grading_record_keeps_every_case_and_the_output(student, reference, tmp_path):
    _, grades = grade_notebook(submission(student, GOOD, LIMIT), reference, COURSE_FILE, [FIXTURE], name="01_series")
    record = json.loads(write_grading(tmp_path, "01_series", grades).read_text())
    assert [e["exercise"] for e in record["exercises"]] == ["partial_sum", "series_limit"]
    assert len(record["exercises"][0]["cases"]) == 3 and record["exercises"][0]["points"] == 2


def test_comparisons_fail_on_a_wrong_value_or_form_and_never_show_the_expected_value():
    compare = checks.close(rel=1e-9)
    assert compare([1.0, 2.0], [1.0, 2.0]) is None
    assert "differs from the reference" in compare(0.123456, 0.2) and "0.123456" not in compare(0.123456, 0.2)
    assert "expected form" in compare([1.0, 2.0], [1.0])
    assert "finite number" in compare(1.0, math.nan)
    assert checks.equal()([[1, 2], [3]], [[1, 2], [3]]) is None and checks.equal()([1], [2]) is not None


def test_a_broken_course_file_is_named(tmp_path):
    broken = tmp_path / "01_series.py"
    broken.write_text("CHECKS = [1]\n")
    with pytest.raises(grader.CourseFileError, match="CHECKS must be a list of checks"):
        grader.load_course_file(broken)
    with pytest.raises(grader.CourseFileError, match="no course file"):
        grader.load_course_file(tmp_path / "missing.py")
