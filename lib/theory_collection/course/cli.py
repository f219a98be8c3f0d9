"""``theory-collection course {init,grade,check}`` and ``theory-collection assignments``: the command lines."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path

from theory_collection.papers import REPO_ROOT

COURSE_FILES = REPO_ROOT / "course"  # the instructor's hidden cases: not installed, never handed out

COURSE_EXAMPLES = """examples:
  theory-collection course init ~/teaching/course                       # every notebook with exercises
  theory-collection course init ~/teaching/course --paper next_token --exchange /srv/nbgrader/exchange
  theory-collection course check --notebook topic_structure/03           # the notebooks' own solutions score full
  theory-collection course grade ~/teaching/course                      # after `nbgrader collect`
"""


def add_parsers(commands, add_selection: Callable[[argparse.ArgumentParser], None]) -> None:
    """Add ``assignments`` and ``course`` to the main parser's subcommands."""
    assign = commands.add_parser(
        "assignments",
        help="write student and instructor versions of the notebooks (nbgrader)",
        description="Write student versions (solutions replaced by stubs, outputs cleared, checks kept) and "
        "instructor versions (with the solutions) of every notebook with exercises, into OUT/student and "
        "OUT/instructor. To teach a course use `course init`, whose release folder holds student copies only.",
    )
    assign.add_argument(
        "--out",
        default=str(REPO_ROOT / "reports" / "assignments"),
        help="output directory, gets student/ and instructor/; never a release folder (default: reports/assignments)",
    )
    add_selection(assign)

    course = commands.add_parser(
        "course",
        help="an nbgrader course: init, grade, check",
        description="Teach from the collection with nbgrader: `init` writes a course (config, source, hidden cases, "
        "gradebook, release); `grade` autogrades what students submitted and writes grades.csv, exercises.csv and "
        "one feedback page per student; `check` grades the notebooks' own solutions on the hidden cases.",
        epilog=COURSE_EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    actions = course.add_subparsers(dest="action", required=True, metavar="{init,grade,check}")
    init = actions.add_parser("init", help="write an nbgrader course into a new or empty folder")
    init.add_argument("directory", metavar="DIR", help="the course folder (new or empty)")
    add_selection(init)
    add_course_files(init)
    init.add_argument("--course-id", default="theory-collection", help="nbgrader's course id (default: %(default)s)")
    init.add_argument(
        "--group",
        choices=("notebook", "paper"),
        default="notebook",
        help="one assignment per notebook (<paper>_<NN>, the default) or per paper (<paper>)",
    )
    init.add_argument("--exchange", metavar="DIR", help="nbgrader's exchange folder, shared with the students")
    init.add_argument(
        "--notebook-time-limit", type=float, default=600.0, metavar="S", help="seconds for a notebook's exercises"
    )
    init.add_argument(
        "--exercise-time-limit", type=float, default=120.0, metavar="S", help="the most seconds of one exercise"
    )
    grade = actions.add_parser("grade", help="autograde the submissions, export grades and feedback")
    grade.add_argument("directory", metavar="DIR", help="the course folder")
    grade.add_argument("--force", action="store_true", help="autograde again what was autograded before")
    check = actions.add_parser("check", help="grade the notebooks' own solutions on the hidden cases")
    add_selection(check)
    add_course_files(check)


def add_course_files(parser: argparse.ArgumentParser) -> None:
    """--course-files: where the hidden cases come from."""
    parser.add_argument(
        "--course-files",
        metavar="DIR",
        default=str(COURSE_FILES),
        help="the instructor's course files, <paper>/<notebook>.py (default: the repository's course/)",
    )


def run_assignments(args, selected: Callable) -> int:
    """`assignments`: write student and instructor copies; return the exit status."""
    from theory_collection import runner
    from theory_collection.course import exercises

    exercises.refuse_release_folder(Path(args.out))
    runner.check_out_dir(args.out)
    written, without = exercises.write_assignments(selected(args), args.out)
    for a in written:
        print(f"{a.notebook}: {a.exercises} exercise(s) -> {a.student}, {a.instructor}")
    if without:
        print(f"no exercises in: {', '.join(without)}")
    return 0


def run_course(args, selected: Callable) -> int:
    """`course init|grade|check`; return the exit status (1 when a solution of `check` misses marks)."""
    from theory_collection.course import workflow

    if args.action == "init":
        for option in ("notebook_time_limit", "exercise_time_limit"):
            if not getattr(args, option) > 0:
                raise ValueError(f"--{option.replace('_', '-')} must be positive, got {getattr(args, option)}")
        planned = workflow.init_course(
            args.directory,
            selected(args),
            args.course_files,
            args.course_id,
            args.group,
            args.exchange,
            (args.notebook_time_limit, args.exercise_time_limit),
        )
        for item in planned:
            counts = (
                f"{sum(not e.written for e in item.exercises)} autograded, {sum(e.written for e in item.exercises)}"
            )
            print(f"{item.assignment}/{item.path.stem}: {counts} written exercise(s)")
        print(f"course: {Path(args.directory).absolute()} (release/ holds the student copies)")
        return 0
    if args.action == "grade":
        written = workflow.grade_course(args.directory, force=args.force)
        for name, path in written.items():
            print(f"{name}: {path}")
        return 0
    results = workflow.check_solutions(selected(args), args.course_files)
    short = [(notebook, g) for notebook, g in results if g.points < g.max_points]
    for notebook, grade in results:
        print(
            f"{notebook} {grade.exercise}: {grade.points:g} / {grade.max_points:g} "
            f"({grade.seconds:.1f} s) {grade.reason}"
        )
    print(f"{len(results) - len(short)} of {len(results)} solutions score full marks")
    return 1 if short else 0
