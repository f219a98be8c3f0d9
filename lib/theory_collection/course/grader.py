"""Grade a notebook's exercises outside the student's kernel, against hidden cases only the grader sees.

For each autograded exercise the grader takes the student's solution cell (nothing else of the
notebook), runs it in a fresh Python process (:mod:`theory_collection.course.sandbox`, started with
``python -I`` in an empty folder, with a clean environment) where the modules the exercise blocks
cannot be imported, calls the student's function (or evaluates the student's expression) on the
hidden cases of the instructor's course file, gets back plain data, and compares it **in its own
process** with the reference it computes itself. Nothing the solution does in its process (patching
a checker or ``math.isclose``, defining objects, reading files it may read) changes the comparison;
the hidden cases and the references never reach the student's notebook, and the course folder is
closed to the solution's process.

Each exercise gets ``points x (cases that agree) / (cases)``, with a reason that names the problem:
an exception (type, message and line), an answer of the wrong form, a disagreement (how large, never
the expected value), a process that ended early (its exit status or signal: ``os._exit``, a crash), or
a time limit: each exercise has its own (``Check.time_limit``, capped by ``exercise_time_limit``) and
the whole notebook has one (``notebook_time_limit``); when it runs out, the exercises left get 0 with
that reason. Output on stderr costs nothing. An unchanged stub scores 0 without being run.
"""

from __future__ import annotations

import functools
import json
import os
import runpy
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from theory_collection.course.checks import Check

SANDBOX = Path(__file__).with_name("sandbox.py")
NOTEBOOK_TIME_LIMIT = 600.0  # seconds for all exercises of one notebook
EXERCISE_TIME_LIMIT = 120.0  # the most any one exercise may take, whatever its check asks
TEXT_LIMIT = 4000  # characters of the solution's stdout and stderr kept in the grade
RESULTS_LIMIT = 64 * 2**20  # bytes of answers read back


class CourseFileError(ValueError):
    """An instructor's course file is missing, malformed or disagrees with its notebook."""


@dataclass(frozen=True)
class CaseResult:
    """One hidden case: did the answer agree with the reference, and if not, why."""

    label: str
    passed: bool
    reason: str = ""


@dataclass(frozen=True)
class ExerciseGrade:
    """The grade of one exercise, with everything the feedback and the instructor need."""

    exercise: str
    points: float
    max_points: float
    reason: str
    cases: tuple[CaseResult, ...] = ()
    stdout: str = ""
    stderr: str = ""
    seconds: float = 0.0

    def as_dict(self) -> dict:
        """Plain data for ``grading.json``."""
        return asdict(self)


@dataclass
class Run:
    """What the solution's process left: its events, output, exit and time."""

    events: list[dict] = field(default_factory=list)
    stdout: str = ""
    stderr: str = ""
    returncode: int | None = None
    timed_out: bool = False
    seconds: float = 0.0


def load_course_file(path: str | Path) -> dict[str, Check]:
    """The checks of an instructor's course file, by exercise id (read once per version of the file, so that
    every student of one grading run shares the references computed for the first)."""
    path = Path(path)
    if not path.is_file():
        raise CourseFileError(f"no course file {path}")
    stat = path.stat()
    return _load_course_file(path.resolve(), stat.st_mtime_ns, stat.st_size)


@functools.lru_cache(maxsize=64)
def _load_course_file(path: Path, mtime_ns: int, size: int) -> dict[str, Check]:
    try:
        namespace = runpy.run_path(str(path), run_name="course_file")
    except Exception as error:
        raise CourseFileError(f"{path}: {type(error).__name__}: {error}") from error
    checks = namespace.get("CHECKS")
    if not isinstance(checks, (list, tuple)) or not all(isinstance(c, Check) for c in checks):
        raise CourseFileError(f"{path}: CHECKS must be a list of checks (Call, Evaluate, Custom)")
    by_id = {c.exercise: c for c in checks}
    if len(by_id) != len(checks):
        raise CourseFileError(f"{path}: two checks share an exercise id")
    return by_id


_REFERENCES: dict[tuple[int, int], tuple[Check, object]] = {}


def _reference(check: Check, index: int):
    """The reference answer, computed once per check and case in this process (every student shares it)."""
    key = (id(check), index)
    if key not in _REFERENCES or _REFERENCES[key][0] is not check:
        _REFERENCES[key] = (check, check.reference_answer(index))
    return _REFERENCES[key][1]


def clean_environment(work: str) -> dict[str, str]:
    """The solution's environment: none of the grader's variables, one compute thread, no display."""
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": work,
        "TMPDIR": work,
        "LANG": "C.UTF-8",
        "OMP_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
        "OPENBLAS_NUM_THREADS": "1",
        "MPLBACKEND": "Agg",
    }


def run_solution(check: Check, solution: str, time_limit: float, forbidden: list[str], context: str = "") -> Run:
    """Run ``solution`` (after ``context``) on ``check``'s cases in a fresh process; kill it after ``time_limit`` s."""
    job = {
        "setup": check.setup,
        "context": context,
        "solution": solution,
        "answer": check.answer(),
        "cases": check.job_cases(),
        "blocked": list(check.blocked),
        "forbidden": [str(Path(f).resolve()) for f in forbidden],
    }
    run = Run()
    with tempfile.TemporaryDirectory(prefix="grading-") as work:
        results, out, err = (Path(work) / name for name in ("results.jsonl", "stdout.txt", "stderr.txt"))
        results.touch()
        start = time.monotonic()
        with out.open("wb") as stdout, err.open("wb") as stderr:
            process = subprocess.Popen(
                [sys.executable, "-I", str(SANDBOX), str(results)],
                stdin=subprocess.PIPE,
                stdout=stdout,
                stderr=stderr,
                cwd=work,
                env=clean_environment(work),
                start_new_session=True,  # its own process group: killed whole on a time limit
            )
            try:
                process.communicate(json.dumps(job).encode(), timeout=time_limit)
            except subprocess.TimeoutExpired:
                run.timed_out = True
            except BrokenPipeError:  # it ended before reading its job
                process.wait(timeout=time_limit)
            finally:
                _kill_group(process)
        run.seconds = time.monotonic() - start
        run.returncode = process.returncode
        run.stdout, run.stderr = _text(out), _text(err)
        run.events = _events(results)
    return run


def _kill_group(process: subprocess.Popen) -> None:
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    process.wait()


def _text(path: Path) -> str:
    with path.open("rb") as handle:
        data = handle.read(TEXT_LIMIT + 1)
    text = data[:TEXT_LIMIT].decode("utf-8", errors="replace")
    return text + ("\n[... cut]" if len(data) > TEXT_LIMIT else "")


def _events(path: Path) -> list[dict]:
    events = []
    with path.open("rb") as handle:
        for line in handle.read(RESULTS_LIMIT).splitlines():
            try:
                event = json.loads(line)
            except (ValueError, RecursionError):  # a line the solution wrote itself, or one nested too deep
                continue
            if isinstance(event, dict):
                events.append(event)
    return events


def _ended(run: Run, time_limit: float) -> str:
    if run.timed_out:
        return f"the time limit of {time_limit:g} s ran out"
    code = run.returncode
    if code is not None and code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        return f"the solution's process was killed by {name}"
    return f"the solution's process ended (exit status {code}) before answering"


def grade_exercise(
    check: Check, solution: str | None, max_points: float, time_limit: float, forbidden: list[str], context: str = ""
) -> ExerciseGrade:
    """Run one exercise's solution in isolation and grade it on the hidden cases."""
    n = len(check.cases)
    if solution is None:
        return ExerciseGrade(check.exercise, 0.0, max_points, "no solution cell with this exercise's id")
    if time_limit <= 0:
        return ExerciseGrade(check.exercise, 0.0, max_points, "not run: the notebook's time limit was used up")
    run = run_solution(check, solution, time_limit, forbidden, context)
    failed = next((e for e in run.events if e.get("event") == "failed"), None)
    ready = any(e.get("event") == "ready" for e in run.events)
    answers: dict[int, dict] = {}
    for event in run.events:
        if event.get("event") == "case" and isinstance(event.get("index"), int):
            answers.setdefault(event["index"], event)
    if failed is not None and not ready:
        reason = f"the solution cell raised {failed.get('error', '?')} (it runs alone, in a fresh Python process)"
        return _grade(check, max_points, reason, (), run)
    if not ready:
        return _grade(check, max_points, f"not graded: {_ended(run, time_limit)}", (), run)
    cases = []
    for index in range(n):
        label = check.label(index)
        event = answers.get(index)
        if event is None:
            cases.append(CaseResult(label, False, f"no answer: {_ended(run, time_limit)}"))
        elif "error" in event:
            cases.append(CaseResult(label, False, f"raised {event['error']}"))
        else:
            cases.append(CaseResult(label, *_compare(check, index, event.get("value"))))
    passed = sum(c.passed for c in cases)
    first = next((c for c in cases if not c.passed), None)
    reason = f"{passed} of {n} hidden cases agree with the reference"
    if first is not None:
        reason += f"; {first.label}: {first.reason}"
    return _grade(check, max_points, reason, tuple(cases), run, passed)


def _compare(check: Check, index: int, value) -> tuple[bool, str]:
    try:
        expected = _reference(check, index)
    except Exception as error:  # the instructor's reference: grading cannot go on without it
        raise CourseFileError(f"the reference of {check.exercise!r}, {check.label(index)}, raised {error!r}") from error
    try:
        problem = check.compare(expected, value)
    except Exception as error:  # an answer of a form the comparison cannot read
        problem = f"the answer has a form the grader cannot compare ({type(error).__name__})"
    return (problem is None, problem or "")


def _grade(check: Check, max_points: float, reason: str, cases: tuple, run: Run, passed: int = 0) -> ExerciseGrade:
    points = round(max_points * passed / len(check.cases), 2)
    return ExerciseGrade(check.exercise, points, max_points, reason, cases, run.stdout, run.stderr, run.seconds)


@dataclass(frozen=True)
class Limits:
    """Time limits of one notebook's grading, in seconds."""

    notebook: float = NOTEBOOK_TIME_LIMIT
    exercise: float = EXERCISE_TIME_LIMIT


DEFAULT_LIMITS = Limits()


def grade_solutions(
    solutions: dict[str, str | None],
    unchanged: set[str],
    points: dict[str, float],
    checks: dict[str, Check],
    forbidden: list[str],
    limits: Limits = DEFAULT_LIMITS,
    contexts: dict[str, str] | None = None,
) -> list[ExerciseGrade]:
    """Grade every autograded exercise (``points`` gives them and their order) of one notebook.

    ``solutions`` maps exercise id to the student's solution cell source (None: cell missing);
    ``unchanged`` holds the ids whose cell is still the stub; ``contexts`` the instructor's code each
    exercise builds on (``Check.uses``). The notebook's time limit runs over
    all exercises: when it is spent, the rest score 0 without running.
    """
    missing = [e for e in points if e not in checks]
    if missing:
        raise CourseFileError(f"the course file has no check for exercise(s) {', '.join(missing)}")
    grades, start = [], time.monotonic()
    for exercise, max_points in points.items():
        check = checks[exercise]
        if exercise in unchanged:
            grades.append(ExerciseGrade(exercise, 0.0, max_points, "no answer: the solution cell is the stub"))
            continue
        left = limits.notebook - (time.monotonic() - start)
        limit = min(check.time_limit, limits.exercise, left)
        if left <= 0:
            reason = f"not run: the notebook's time limit of {limits.notebook:g} s was used up by the exercises before"
            grades.append(ExerciseGrade(exercise, 0.0, max_points, reason))
            continue
        context = (contexts or {}).get(exercise, "")
        grades.append(grade_exercise(check, solutions.get(exercise), max_points, limit, forbidden, context))
    return grades


def report_text(grade: ExerciseGrade) -> str:
    """The feedback of one exercise, for the student: points, reason and every case's verdict."""
    lines = [f"{grade.points:g} of {grade.max_points:g} points: {grade.reason}"]
    lines += [f"  {c.label}: {'agrees' if c.passed else c.reason}" for c in grade.cases]
    lines.append("(graded outside your notebook, on hidden cases, by running your solution cell alone)")
    return "\n".join(lines)
