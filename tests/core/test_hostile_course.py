"""`assignments` and `course init|grade|check` as a hostile or careless user tries them: a release folder (named, or
reached through a link), unknown notebooks and papers, a course folder that is used or a file, an exchange inside the
course, course files that miss an exercise or are malformed, time limits nbgrader cannot load, a folder that is not a
course, a course without submissions, submissions that are not JSON, not notebooks, another notebook, with copied,
foreign or altered exercise cells or with their metadata stripped, a student id that is a path. Each case ends in a
refusal before any work (exit 2, one line naming the bad input, nothing written) or a correct result.

One course is made and graded through nbgrader's own commands (the course fixture, five students); every refusal of
`course grade` is checked on a copy of it and comes before nbgrader runs."""

import csv
import json
import shutil
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook

from theory_collection.cli import main
from theory_collection.course import workflow
from theory_collection.course.exercises import student_version

FIXTURE = Path(__file__).parent / "fixtures" / "course"
NOTEBOOKS = FIXTURE / "notebooks" / "series"
COURSE_FILES = FIXTURE / "course_files"
ASSIGNMENT = "series_01"
NOTEBOOK = "01_series.ipynb"
FLAGS = ["--notebooks", str(NOTEBOOKS), "--course-files", str(COURSE_FILES)]


def refused(capsys, argv, *words) -> str:
    """``argv`` exits 2 with one line on stderr, no traceback, holding every one of ``words``."""
    assert main(argv) == 2
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err
    (line,) = captured.err.strip().splitlines()
    for word in words:
        assert word in line, line
    return line


def grade_id(cell):
    return cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")


def released(course: Path) -> nbformat.NotebookNode:
    return nbformat.read(course / "release" / ASSIGNMENT / NOTEBOOK, as_version=4)


def solved(course: Path) -> nbformat.NotebookNode:
    """The released copy with the instructor's solutions written into its answer cells."""
    source = nbformat.read(course / "source" / ASSIGNMENT / NOTEBOOK, as_version=4)
    answers = {grade_id(c): c.source for c in source.cells if c.metadata.get("nbgrader", {}).get("solution")}
    nb = released(course)
    for cell in nb.cells:
        if grade_id(cell) in answers:
            cell.source = answers[grade_id(cell)]
    return nb


def submit(course: Path, student: str, nb=None, text: str | None = None, name: str = NOTEBOOK) -> Path:
    folder = course / "submitted" / student / ASSIGNMENT
    folder.mkdir(parents=True, exist_ok=True)
    if text is None:
        nbformat.write(nb, folder / name)
    else:
        (folder / name).write_text(text, encoding="utf-8")
    return folder / name


def cell_index(nb, exercise_id: str) -> int:
    return next(i for i, c in enumerate(nb.cells) if grade_id(c) == exercise_id)


def stripped(nb):
    """Every cell's metadata gone, as some editors and strip tools leave a notebook; the cell ids stay."""
    for cell in nb.cells:
        cell.metadata = {}
    return nb


def swapped(nb):
    """Each answer cell claims the other exercise: neither may earn the other's points."""
    first, second = cell_index(nb, "partial_sum"), cell_index(nb, "series_limit")
    nb.cells[first].metadata.nbgrader["grade_id"] = "series_limit"
    nb.cells[second].metadata.nbgrader["grade_id"] = "partial_sum"
    return nb


def points_raised_and_check_deleted(nb):
    nb.cells[cell_index(nb, "partial_sum_check")].metadata.nbgrader["points"] = 100
    del nb.cells[cell_index(nb, "series_limit_check")]
    return nb


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    root = tmp_path_factory.mktemp("hostile_course") / "course"
    assert main(["course", "init", str(root), *FLAGS, "--exercise-time-limit", "30"]) == 0
    submit(root, "solver", solved(root))
    submit(root, "stripper", stripped(solved(root)))
    submit(root, "swapper", swapped(solved(root)))
    submit(root, "inflater", points_raised_and_check_deleted(solved(root)))
    submit(root, "Zoë de la Cruz", solved(root))  # an id with spaces and a non-ASCII letter
    assert main(["course", "grade", str(root)]) == 0
    return root


def fresh_copy(course: Path, tmp_path: Path) -> Path:
    """The course as `course init` left it (gradebook included), without submissions or grades."""
    made = ("submitted", "autograded", "feedback", "grades.csv", "exercises.csv")
    copy = tmp_path / "course"
    shutil.copytree(course, copy, ignore=lambda folder, names: [n for n in names if n in made])
    return copy


def rows_of(course: Path) -> dict:
    with (course / "exercises.csv").open(encoding="utf-8") as handle:
        return {(r["student"], r["exercise"]): r for r in csv.DictReader(handle)}


# --- course grade: correct results -------------------------------------------------------------------------------


def test_stripped_metadata_is_graded_by_cell_id_and_every_other_student_keeps_a_correct_grade(course):
    rows = rows_of(course)
    for student in ("solver", "stripper", "Zoë de la Cruz"):
        for exercise, points in (("partial_sum", 2.0), ("series_limit", 1.0)):
            row = rows[student, exercise]
            assert float(row["points"]) == points, (student, exercise, row["reason"])
            assert row["reason"].endswith("hidden cases agree with the reference"), row["reason"]
    assert (course / "feedback" / "Zoë de la Cruz" / "grades.html").is_file()


def test_answers_under_each_others_ids_earn_no_points_for_the_wrong_exercise(course):
    rows = rows_of(course)
    assert float(rows["swapper", "partial_sum"]["points"]) == 0
    assert "does not define a function 'partial_sum'" in rows["swapper", "partial_sum"]["reason"]
    assert float(rows["swapper", "series_limit"]["points"]) == 0
    assert "does not define 'series_limit'" in rows["swapper", "series_limit"]["reason"]


def test_raised_points_and_a_deleted_check_change_neither_the_maximum_nor_the_grade(course):
    rows = rows_of(course)
    assert (rows["inflater", "partial_sum"]["points"], rows["inflater", "partial_sum"]["max_points"]) == ("2.0", "2.0")
    assert float(rows["inflater", "series_limit"]["points"]) == 1.0
    with (course / "grades.csv").open(encoding="utf-8") as handle:
        grades = {r["student_id"]: r for r in csv.DictReader(handle)}
    assert set(grades) == {"solver", "stripper", "swapper", "inflater", "Zoë de la Cruz"}
    assert {float(r["max_score"]) for r in grades.values()} == {4.0}
    assert float(grades["inflater"]["score"]) == 3.0 and float(grades["swapper"]["score"]) == 0.0
    graded = nbformat.read(course / "autograded" / "inflater" / ASSIGNMENT / NOTEBOOK, as_version=4)
    (check,) = [c for c in graded.cells if grade_id(c) == "series_limit_check"]  # put back, with the grade
    assert check.outputs[-1]["data"]["text/plain"] == "1"


# --- course grade: refusals before any work ----------------------------------------------------------------------


def foreign_notebook():
    """The student copy of a notebook of another assignment, saved under this assignment's name."""
    solution = new_code_cell(
        "### BEGIN SOLUTION\nx = 1\n### END SOLUTION",
        metadata={
            "tags": ["solution"],
            "exercise": {"id": "x", "points": 1, "kind": "implementation", "difficulty": "easy", "minutes": 5},
        },
    )
    other = new_notebook(cells=[solution, new_code_cell("assert x == 1", metadata={"tags": ["autograder"]})])
    return student_version(other, "01_other")


def duplicated(nb):
    index = cell_index(nb, "partial_sum")
    copy = nbformat.from_dict(json.loads(json.dumps(nb.cells[index])))
    copy.id = "copied-cell"
    nb.cells.insert(index + 1, copy)
    return nb


def extra_exercise(nb):
    nb = duplicated(nb)
    nb.cells[cell_index(nb, "partial_sum") + 1].metadata.nbgrader["grade_id"] = "bonus"
    return nb


def graded_solution(nb):
    nb.cells[cell_index(nb, "partial_sum")].metadata.nbgrader.update(grade=True, points=50)
    return nb


def ungraded_check(nb):
    nb.cells[cell_index(nb, "partial_sum_check")].metadata.nbgrader.update(grade=False, locked=False)
    return nb


def garbled(nb):
    nb.cells[cell_index(nb, "partial_sum")].metadata.nbgrader = "partial_sum"
    return nb


SUBMISSIONS = {
    "not JSON": (dict(text="{not json"), ["not a readable notebook (NotJSONError"]),
    "JSON, not a notebook": (dict(text='{"hello": 1}'), ["not a readable notebook"]),
    "a JSON list": (dict(text="[1, 2]"), ["not a readable notebook"]),
    "an empty file": (dict(text=""), ["not a readable notebook"]),
    "under another name": (dict(nb=None, name="01_series (1).ipynb"), ["holds none of the assignment's notebooks"]),
    "another assignment's notebook": (dict(nb=foreign_notebook()), ["exercise cell 'x' is not one of this notebook's"]),
    "a copied exercise cell": (dict(edit=duplicated), ["are both 'partial_sum'; keep one"]),
    "an extra exercise cell": (dict(edit=extra_exercise), ["exercise cell 'bonus' is not one of this notebook's"]),
    "a solution made a grade cell": (dict(edit=graded_solution), ["nbgrader flags of 'partial_sum'"]),
    "a check made ungraded": (dict(edit=ungraded_check), ["nbgrader flags of 'partial_sum_check'"]),
    "garbled nbgrader metadata": (dict(edit=garbled), ["nbgrader metadata nbgrader cannot read"]),
}


@pytest.mark.parametrize("case", list(SUBMISSIONS))
def test_a_submission_nbgrader_cannot_grade_is_refused_by_name_before_any_work(course, tmp_path, capsys, case):
    copy = fresh_copy(course, tmp_path)
    submit(copy, "solver", solved(copy))  # a good submission beside it is not graded either: nothing half-done
    how, words = SUBMISSIONS[case]
    how = dict(how)
    if "edit" in how:
        how = {"nb": how.pop("edit")(solved(copy))}
    if how.get("nb", 0) is None:
        how["nb"] = solved(copy)
    path = submit(copy, "mallory", **how)
    line = refused(capsys, ["course", "grade", str(copy)], "problem(s), nothing graded", *words)
    assert str(path.parent.relative_to(copy)) in line and "solver" not in line
    assert not (copy / "autograded").exists() and not (copy / "grades.csv").exists()
    assert not (copy / "feedback").exists()


def test_every_problem_is_named_at_once(course, tmp_path, capsys):
    copy = fresh_copy(course, tmp_path)
    submit(copy, "anna", text="{not json")
    submit(copy, "bert", duplicated(solved(copy)))
    submit(copy, ".carl", solved(copy))  # nbgrader would skip this one without a word
    line = refused(capsys, ["course", "grade", str(copy)], "3 problem(s), nothing graded")
    assert "submitted/anna/" in line and "submitted/bert/" in line
    assert "submitted/.carl/series_01: nbgrader skips a student folder whose name starts with '.'" in line


@pytest.mark.parametrize("damage", ["deleted", "malformed"])
def test_a_course_whose_hidden_cases_are_missing_or_broken_is_refused_before_nbgrader_runs(
    course, tmp_path, capsys, damage
):
    copy = fresh_copy(course, tmp_path)
    submit(copy, "solver", solved(copy))
    hidden = copy / "hidden" / ASSIGNMENT / "01_series.py"
    if damage == "deleted":
        shutil.rmtree(copy / "hidden")  # an nbgrader course not made by `course init` has none either
        refused(capsys, ["course", "grade", str(copy)], f"no course file {hidden}", "course init")
    else:
        hidden.write_text("CHECKS = [\n")
        refused(capsys, ["course", "grade", str(copy)], str(hidden), "SyntaxError")
    assert not (copy / "autograded").exists()


def test_a_student_id_that_is_a_path_is_refused_and_no_page_lands_outside_feedback(course, tmp_path, capsys):
    from nbgrader.api import Gradebook

    copy = fresh_copy(course, tmp_path)
    submit(copy, "solver", solved(copy))
    with Gradebook(f"sqlite:///{copy / 'gradebook.db'}") as gradebook:  # `nbgrader db student add ../x` does this
        gradebook.add_student("../x")
    refused(capsys, ["course", "grade", str(copy)], "gradebook student id '../x': not a folder name")
    assert not (copy / "autograded").exists()
    row = dict.fromkeys(workflow.EXERCISE_COLUMNS, "") | {"student": "../x", "points": 1.0, "max_points": 1.0}
    with pytest.raises(ValueError, match="student id '../x'"):
        workflow.write_student_pages(copy, [row])
    assert not (copy / "x").exists() and not (copy / "feedback").exists()


def test_a_course_without_submissions_or_with_an_unknown_assignment_is_refused(course, tmp_path, capsys):
    copy = fresh_copy(course, tmp_path)
    refused(capsys, ["course", "grade", str(copy)], "nothing to grade", "nbgrader collect")
    (copy / "submitted" / "solver").mkdir(parents=True)
    refused(capsys, ["course", "grade", str(copy)], "nothing to grade")
    (copy / "submitted" / "solver" / "week9").mkdir()
    refused(capsys, ["course", "grade", str(copy)], "submitted/ holds assignments the course does not have: week9")
    assert not (copy / "grades.csv").exists() and not (copy / "exercises.csv").exists()


@pytest.mark.parametrize("what", ["a plain folder", "a file", "nothing"])
def test_grade_refuses_what_is_not_a_course(tmp_path, capsys, what):
    target = tmp_path / "target"
    if what == "a plain folder":
        target.mkdir()
        (target / "notes.txt").write_text("mine")
    elif what == "a file":
        target.write_text("mine")
    refused(capsys, ["course", "grade", str(target)], f"{target} is not a course (no nbgrader_config.py")
    left = {p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*")}
    assert left == {"nothing": set(), "a file": {"target"}, "a plain folder": {"target", "target/notes.txt"}}[what]


# --- course init -------------------------------------------------------------------------------------------------


def test_init_refuses_a_used_folder_and_a_file_leaving_both_as_they_were(tmp_path, capsys):
    used = tmp_path / "used"
    used.mkdir()
    (used / "notes.txt").write_text("mine")
    refused(capsys, ["course", "init", str(used), *FLAGS], f"{used} is not empty")
    afile = tmp_path / "afile"
    afile.write_text("mine")
    refused(capsys, ["course", "init", str(afile), *FLAGS], f"{afile} is not a folder")
    assert [p.name for p in used.iterdir()] == ["notes.txt"] and afile.read_text() == "mine"


@pytest.mark.parametrize("where", ["inside the course", "the course itself", "around the course", "a file"])
def test_init_refuses_an_exchange_that_holds_or_sits_in_the_course(tmp_path, capsys, where):
    course = tmp_path / "teaching" / "course"
    exchange = {
        "inside the course": course / "exchange",
        "the course itself": course,
        "around the course": tmp_path / "teaching",
        "a file": tmp_path / "exchange.txt",
    }[where]
    if where == "a file":
        exchange.write_text("x")
        words = ["exists and is not a folder"]
    else:
        words = ["the exchange is shared with the students", "neither may hold the other"]
    refused(
        capsys, ["course", "init", str(course), *FLAGS, "--exchange", str(exchange)], f"--exchange {exchange}", *words
    )
    assert not course.exists()


def test_init_refuses_a_course_folder_inside_a_release_folder(tmp_path, capsys):
    course = tmp_path / "old_course" / "release" / "new"
    refused(capsys, ["course", "init", str(course), *FLAGS], f"DIR {course}", "must not land in a release folder")
    assert not (tmp_path / "old_course").exists()


def course_files_with(tmp_path: Path, text: str | None) -> Path:
    folder = tmp_path / "files"
    (folder / "series").mkdir(parents=True)
    if text is not None:
        (folder / "series" / "01_series.py").write_text(text)
    return folder


ORIGINAL = (COURSE_FILES / "series" / "01_series.py").read_text()
COURSE_FILE_CASES = {
    "missing": (None, "no course file"),
    "an exercise short": (
        ORIGINAL.replace('    Evaluate(\n        "series_limit"', '    Evaluate(\n        "other"'),
        "checks for ['other', 'partial_sum'], but 01_series's autograded exercises are",
    ),
    "a syntax error": ("CHECKS = [\n", "SyntaxError"),
    "raising on import": ("raise RuntimeError('not ready')\n", "RuntimeError: not ready"),
    "without CHECKS": ("checks = []\n", "CHECKS must be a list of checks"),
    "CHECKS of strings": ("CHECKS = ['partial_sum']\n", "CHECKS must be a list of checks"),
    "two checks for one exercise": (
        ORIGINAL.replace('    Evaluate(\n        "series_limit"', '    Evaluate(\n        "partial_sum"'),
        "two checks share an exercise id",
    ),
    "a check without cases": (
        ORIGINAL.replace("cases=[(0.25, 7), (-0.6, 12), (1.5, 5)]", "cases=[]"),
        "no hidden cases",
    ),
}


@pytest.mark.parametrize("case", list(COURSE_FILE_CASES))
def test_init_and_check_refuse_a_course_file_that_is_missing_short_or_malformed(tmp_path, capsys, case):
    text, words = COURSE_FILE_CASES[case]
    files = course_files_with(tmp_path, text)
    course = tmp_path / "course"
    flags = ["--notebooks", str(NOTEBOOKS), "--course-files", str(files)]
    refused(capsys, ["course", "init", str(course), *flags], str(files / "series" / "01_series.py"), words)
    assert not course.exists()
    refused(capsys, ["course", "check", *flags], str(files / "series" / "01_series.py"), words)


def test_check_names_the_course_file_whose_reference_raises(tmp_path, capsys):
    wrong = "return float(terms) if ratio == 1 else (1 - ratio**terms) / (1 - ratio)"
    assert wrong in ORIGINAL
    files = course_files_with(tmp_path, ORIGINAL.replace(wrong, "return 1 / 0"))
    refused(
        capsys,
        ["course", "check", "--notebooks", str(NOTEBOOKS), "--course-files", str(files)],
        str(files / "series" / "01_series.py"),
        "the reference of 'partial_sum'",
        "ZeroDivisionError",
    )


@pytest.mark.parametrize("command", ["init", "check"])
def test_a_course_files_folder_that_does_not_exist_is_refused(tmp_path, capsys, command):
    missing = tmp_path / "nowhere"
    target = [str(tmp_path / "course")] if command == "init" else []
    refused(capsys, ["course", command, *target, "--notebooks", str(NOTEBOOKS), "--course-files", str(missing)],
            f"no course file {missing / 'series' / '01_series.py'}")  # fmt: skip
    assert not (tmp_path / "course").exists()


@pytest.mark.parametrize(
    "option, value",
    [("--notebook-time-limit", "inf"), ("--notebook-time-limit", "nan"), ("--exercise-time-limit", "1e400"),
     ("--exercise-time-limit", "0"), ("--notebook-time-limit", "-5")],
)  # fmt: skip
def test_init_refuses_a_time_limit_the_course_config_cannot_state(tmp_path, capsys, option, value):
    course = tmp_path / "course"
    refused(capsys, ["course", "init", str(course), *FLAGS, option, value], f"{option} must be positive and finite")
    assert not course.exists()


@pytest.mark.parametrize("course_id", ["a b", "..", "x/y", "tab\there", "a+b", ""])
def test_init_refuses_a_course_id_nbgrader_cannot_use(tmp_path, capsys, course_id):
    refused(capsys, ["course", "init", str(tmp_path / "c"), *FLAGS, "--course-id", course_id], "--course-id must be")
    assert not (tmp_path / "c").exists()


@pytest.mark.parametrize("existed", [False, True])
def test_init_that_fails_after_it_started_leaves_no_half_made_course(tmp_path, capsys, monkeypatch, existed):
    def failing(course, *args):
        raise ValueError(f"nbgrader {' '.join(args)} failed in {course}")

    monkeypatch.setattr(workflow, "run_nbgrader", failing)
    course = tmp_path / "course"
    if existed:
        course.mkdir()
    refused(capsys, ["course", "init", str(course), *FLAGS], "nbgrader generate_assignment series_01 --force failed")
    assert (list(course.iterdir()) == []) if existed else not course.exists()


def test_init_and_check_refuse_unknown_notebooks_and_folders_without_exercises(tmp_path, capsys):
    refused(
        capsys, ["course", "init", str(tmp_path / "c"), "--notebook", "99_nothing"], "unknown notebook '99_nothing'"
    )
    refused(capsys, ["course", "check", "--paper", "no_such_paper"], "unknown paper 'no_such_paper'")
    plain = tmp_path / "plain"
    plain.mkdir()
    nbformat.write(new_notebook(cells=[new_code_cell("a = 1")]), plain / "01_plain.ipynb")
    refused(capsys, ["course", "check", "--notebooks", str(plain), "--course-files", str(COURSE_FILES)],
            "none of the chosen notebooks has exercises")  # fmt: skip
    assert not (tmp_path / "c").exists()


# --- assignments -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("out", ["course/release", "course/release/week1", "link/week1"])
def test_assignments_refuse_a_release_folder_named_or_reached_through_a_link(tmp_path, capsys, out):
    (tmp_path / "course" / "release").mkdir(parents=True)
    (tmp_path / "link").symlink_to(tmp_path / "course" / "release")
    refused(capsys, ["assignments", "--notebooks", str(NOTEBOOKS), "--out", str(tmp_path / out)],
            "must not land in a release folder")  # fmt: skip
    assert list((tmp_path / "course" / "release").iterdir()) == []


def test_assignments_name_a_notebook_that_is_not_json_and_write_nothing(tmp_path, capsys):
    notebooks = tmp_path / "notebooks"
    notebooks.mkdir()
    shutil.copy(NOTEBOOKS / NOTEBOOK, notebooks / "01_series.ipynb")
    (notebooks / "02_broken.ipynb").write_text("{not json")
    out = tmp_path / "out"
    refused(capsys, ["assignments", "--notebooks", str(notebooks), "--out", str(out)],
            f"{notebooks / '02_broken.ipynb'}: not a readable notebook")  # fmt: skip
    assert not out.exists()


@pytest.mark.parametrize(
    "argv, words",
    [
        (["--paper", "nope"], "unknown paper 'nope'"),
        (["--notebook", "zz"], "unknown notebook 'zz'"),
        (["--notebooks", "EMPTY"], "no notebooks named NN_*.ipynb"),
        (["--notebooks", "EMPTY", "--paper", "next_token"], "--notebooks and --paper exclude each other"),
        (["--notebooks", str(NOTEBOOKS), "--out", "FILE"], "exists and is not a directory"),
    ],
)
def test_assignments_refuse_unknown_notebooks_papers_and_an_unusable_out(tmp_path, capsys, argv, words):
    (tmp_path / "empty").mkdir()
    (tmp_path / "file").write_text("mine")
    argv = [{"EMPTY": str(tmp_path / "empty"), "FILE": str(tmp_path / "file")}.get(a, a) for a in argv]
    if "--out" not in argv:
        argv += ["--out", str(tmp_path / "out")]
    refused(capsys, ["assignments", *argv], words)
    assert not (tmp_path / "out").exists() and (tmp_path / "file").read_text() == "mine"


def test_a_stripped_stub_runs_and_scores_zero_rather_than_passing_as_unchanged(tmp_path):
    from theory_collection.course.exercises import with_nbgrader_metadata
    from theory_collection.course.grader import Limits
    from theory_collection.course.nbgrader_grading import grade_notebook

    notebook = nbformat.read(NOTEBOOKS / NOTEBOOK, as_version=4)
    reference = with_nbgrader_metadata(notebook, "01_series")
    submission = stripped(student_version(notebook, "01_series"))
    _, grades = grade_notebook(submission, reference, COURSE_FILES / "series" / "01_series.py", [tmp_path],
                               Limits(60, 30), "01_series")  # fmt: skip
    assert [(g.exercise, g.points) for g in grades] == [("partial_sum", 0.0), ("series_limit", 0.0)]
    assert all("NotImplementedError" in g.reason for g in grades), [g.reason for g in grades]
