"""Run the notebooks of the collection through papermill, before anything checking what they are given.

A report directory holds one folder per paper, and in it one folder per notebook (the executed
notebook, its HTML export, ``claims.json``, ``figures/`` and the folder's own ``run.json``)::

    <out>/<paper>/NN_name/NN_name.ipynb, NN_name.html, claims.json, run.json, figures/*.png|svg

:mod:`theory_collection.report` writes the summaries (``index.html``, ``summary.md``) over them.

**Everything is checked before any kernel starts** (:func:`prepare`). For each notebook the runner
reads, without executing anything (:mod:`theory_collection.notebook_spec`), its ``parameters`` cell and
its profiles (the ``PROFILES`` it assigns, else those its paper registers for it,
``Paper.notebook_profiles``). Each parameter's value is the override, else its non-``None`` default,
else the profile's value. These values are validated by the paper's rules
(:class:`theory_collection.papers.Paper`): the standard names by ``checks``, the notebook's own names
by ``notebook_checks[<stem>]``, or, when no rule is declared, by the type of the profile value (an
integer profile value makes it an integer); then ``cross_check`` and ``notebook_cross_checks[<stem>]``
see them all. Then the estimates: the paper's ``memory_estimate`` must fit in
:func:`theory_collection.params.memory_budget_bytes`, and its ``time_estimate`` (seconds on one core)
must stay under :func:`time_limit_seconds` (24 hours; a backstop for what the paper's own rules, such as
its bound on ``steps``, do not already refuse). Both estimates are printed. Any failure is a
``ValueError`` naming the notebook and the parameter. An exactly integral float given for an integer
(``-p seed 1.0``, YAML ``1e1``) is converted to the int, and the notebook receives the int; the
conversion is reported.

**A report never destroys another.** A run holds ``<out>``'s lock (:mod:`theory_collection.locks`) from
its first write to its last, so a second run into the same folder refuses at once; it refuses to merge
into a report of another profile; it runs its notebooks into a staging folder of its own and publishes
them only when all have run (:mod:`theory_collection.publishing`), so an interrupted or killed run
leaves the earlier report as it was; a notebook that fails does not replace an earlier result that
ran through, but is kept beside it; and the summaries list every notebook of the report, each with
the date and commit of its own run (:func:`write_report`). With ``scheduler`` the notebooks run on a
Dask cluster's workers and their files come back to this process (:mod:`theory_collection.cluster`).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import sys
import tempfile
import threading
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from theory_collection import cluster, locks, papers, publishing
from theory_collection.execution import KERNEL, QUIET_KERNEL, export_page_of, run_notebook, run_side_by_side
from theory_collection.notebook_spec import UNREADABLE as _UNREADABLE
from theory_collection.notebook_spec import (
    NotebookSpec,
    default_of,
    load_yaml,
    parse_value,
    read_notebook_spec,
)
from theory_collection.papers import Paper, paper_of
from theory_collection.params import (
    PROFILES,
    as_given,
    check_choice,
    check_int,
    format_bytes,
    like_profile,
    memory_budget_bytes,
)
from theory_collection.report import write_summaries
from theory_collection.runs import (
    INCOMPLETE,
    RUNS_FILE,
    NotebookRun,
    git_commit,
    now_text,
    report_profile,
    write_run_record,
)

__all__ = ["KERNEL", "QUIET_KERNEL", "RUNS_FILE", "INCOMPLETE", "load_yaml", "parse_value", "run_notebook"]

MAX_JOBS = 64  # notebooks run side by side (--jobs)
TIME_LIMIT_SECONDS = 24 * 3600.0  # the longest one notebook may plan to run on one core

# Set by the runner itself (``--profile``, ``--out``), never by a ``-p`` override.
RUNNER_PARAMETERS = ("profile", "output_dir")


# ---------------------------------------------------------------------------------------------
# Finding notebooks and checking parameters (all before any notebook runs)


def discover_notebooks(directory: str | Path) -> list[Path]:
    """The notebooks of one folder in reading order (``NN_name.ipynb``)."""
    paths = sorted(Path(directory).glob("[0-9][0-9]_*.ipynb"))
    if not paths:
        raise ValueError(f"no notebooks named NN_*.ipynb in {directory}")
    return paths


def notebook_parameters(path: str | Path) -> dict[str, object]:
    """The names and literal default values of a notebook's ``parameters`` cell (read, not run)."""
    return {name: default_of(spec, name) for spec in [read_notebook_spec(path)] for name in spec.defaults}


def collection_notebooks(paper_names: list[str] | None = None) -> list[Path]:
    """The notebooks of the chosen papers (default: every registered paper), papers in reading order."""
    chosen = (
        [papers.get(name) for name in dict.fromkeys(paper_names)] if paper_names else list(papers.registered().values())
    )
    chosen.sort(key=lambda paper: (paper.order, paper.name))
    if paper_names:
        return [path for paper in chosen for path in discover_notebooks(paper.notebook_dir)]
    # every paper: one whose notebooks are not written yet contributes none
    found = [path for paper in chosen for path in sorted(paper.notebook_dir.glob("[0-9][0-9]_*.ipynb"))]
    if not found:
        raise ValueError(f"no notebooks named NN_*.ipynb in the papers' folders under {papers.NOTEBOOK_ROOT}")
    return found


def select_notebooks(
    names: list[str] | None, directory: str | Path | None = None, paper_names: list[str] | None = None
) -> list[Path]:
    """All notebooks, or those named (by file name, stem, NN prefix like ``03``, or ``paper/NN``).

    The notebooks come from ``directory`` when it is given, else from the chosen papers' folders
    (default: every paper); an unqualified ``03`` names the ``03`` notebook of each of them.
    """
    available = discover_notebooks(directory) if directory is not None else collection_notebooks(paper_names)
    if not names:
        return available
    chosen = []
    for name in names:
        folder, _, short = name.rpartition("/")
        matches = [p for p in available if short in (p.name, p.stem, p.stem[:2]) and folder in ("", p.parent.name)]
        if not matches:
            listing = ", ".join(f"{p.parent.name}/{p.stem}" for p in available)
            raise ValueError(f"unknown notebook {name!r}; available: {listing}")
        chosen.extend(m for m in matches if m not in chosen)
    return chosen


def notebook_output_dir(out: str | Path, notebook: Path) -> Path:
    """Where a report run puts one notebook's outputs: ``<out>/<paper>/<stem>/``."""
    return (Path(out) / paper_of(notebook).name / notebook.stem).resolve()


@dataclass
class Prepared:
    """One notebook, checked and ready to run: the parameters it receives and what was converted."""

    path: Path
    parameters: dict  # the overrides this notebook declares, as it receives them (integral floats made ints)
    values: dict  # every parameter's checked value (override, default or profile value), normalised
    notes: list[str] = field(default_factory=list)  # conversions to tell the user about
    memory: int = 0  # the paper's memory estimate in bytes (0: none given)
    seconds: float = 0.0  # the paper's time estimate on one core (0: none given)

    def estimates_text(self) -> str:
        """``estimated 1.2 GB of memory and 40 s on one core`` ("" when the paper gives no estimate)."""
        parts = [f"{format_bytes(self.memory)} of memory"] if self.memory else []
        parts += [f"{seconds_text(self.seconds)} on one core"] if self.seconds else []
        return "estimated " + " and ".join(parts) if parts else ""


def check_overrides(paths: list[Path], overrides: dict[str, object], profile: str = "quick") -> list[Prepared]:
    """Reject an override that no notebook declares, or any value a notebook would refuse; see :func:`prepare`."""
    return prepare(paths, overrides, profile)


def prepare(paths: list[Path], overrides: dict[str, object], profile: str = "quick") -> list[Prepared]:
    """Check every notebook's parameters at ``profile`` with ``overrides``, before any kernel starts.

    Returns one :class:`Prepared` per notebook. Raises ``ValueError`` naming the notebook and the
    parameter for an unknown name, a bad value, a broken rule between parameters (against the
    profile's values), a size whose memory estimate exceeds the machine's budget, or a run whose time
    estimate exceeds :func:`time_limit_seconds`.
    """
    check_choice("profile", profile, PROFILES)
    fixed = sorted(set(overrides) & set(RUNNER_PARAMETERS))
    if fixed:
        raise ValueError(f"parameter(s) {fixed} are set by the runner (--profile, --out), not by an override")
    specs = {path: read_notebook_spec(path) for path in paths}
    known = set().union(*(spec.defaults for spec in specs.values()))
    unknown = sorted(set(overrides) - known)
    if unknown:
        raise ValueError(f"unknown parameter(s) {unknown}; the notebooks take {sorted(known - set(RUNNER_PARAMETERS))}")
    prepared = [_prepare_one(path, spec, overrides, profile) for path, spec in specs.items()]
    for item in prepared:
        item.seconds = _time_estimate(item, profile)
    return prepared


def _prepare_one(path: Path, spec: NotebookSpec, overrides: dict[str, object], profile: str) -> Prepared:
    paper, stem = paper_of(path), path.stem
    profiles = spec.profiles if spec.profiles is not None else paper.notebook_profiles.get(stem)
    if profiles is not None and profile not in profiles:
        raise ValueError(f"{stem}: profile {profile!r} is not defined by this notebook; it defines {sorted(profiles)}")
    profile_values = (profiles or {}).get(profile, {})
    given = {name: value for name, value in overrides.items() if name in spec.defaults}
    values: dict[str, object] = {}
    for name, default in spec.defaults.items():
        if name in RUNNER_PARAMETERS:
            continue
        if name in given:
            values[name] = given[name]
        elif default is not None and default is not _UNREADABLE:
            values[name] = default
        elif name in profile_values:
            values[name] = profile_values[name]
    for name, value in profile_values.items():  # a profile value the parameters cell does not expose
        values.setdefault(name, value)
    checks = paper.checks_for(stem)
    normalised, notes = {}, []
    try:
        for name, value in values.items():
            if name in checks:
                normalised[name] = checks[name](value)
            else:
                normalised[name] = like_profile(name, value, profile_values.get(name, default_of(spec, name)))
            if (
                name in given
                and isinstance(value, float)
                and isinstance(normalised[name], int)
                and not isinstance(normalised[name], bool)
            ):
                notes.append(f"{name}: {value!r} taken as the integer {normalised[name]}")
        paper.cross_check_for(stem)(normalised)
    except ValueError as error:
        raise ValueError(f"{stem} ({profile} profile): {error}") from None
    needed = 0
    if paper.memory_estimate is not None:
        needed, budget = paper.memory_estimate(stem, dict(normalised)), memory_budget_bytes()
        if needed > budget:
            sizes = ", ".join(f"{name}={normalised[name]!r}" for name in given) or "its profile values"
            raise ValueError(
                f"{stem} ({profile} profile): at {sizes} it needs about {format_bytes(needed)} of memory, "
                f"more than the {format_bytes(budget)} this machine allows (3/4 of its memory); "
                "choose smaller sizes"
            )
    # a file is resolved once, here against the caller's working directory: the kernel receives the absolute path
    parameters = {
        name: normalised[name] if name in paper.file_parameters else as_given(value, normalised[name])
        for name, value in given.items()
    }
    return Prepared(path, parameters, normalised, notes, int(needed))


def time_limit_seconds() -> float:
    """The longest one notebook may plan to run, in seconds on one core: 24 hours
    (``THEORY_COLLECTION_TIME_LIMIT_SECONDS`` overrides it)."""
    override = os.environ.get("THEORY_COLLECTION_TIME_LIMIT_SECONDS")
    return float(override) if override else TIME_LIMIT_SECONDS


def _time_estimate(item: Prepared, profile: str) -> float:
    """The paper's time estimate of a checked notebook (0 when it gives none); a ValueError past the limit.

    The limit is a backstop: the paper's own rules (its bound on ``steps``, say) have refused what they
    bound before this runs, each with its own message."""
    paper, stem = paper_of(item.path), item.path.stem
    if paper.time_estimate is None:
        return 0.0
    seconds, limit = float(paper.time_estimate(stem, dict(item.values))), time_limit_seconds()
    if not seconds <= limit:
        sizes = ", ".join(f"{name}={item.values[name]!r}" for name in item.parameters) or "its profile values"
        raise ValueError(
            f"{stem} ({profile} profile): at {sizes} it would run about {seconds_text(seconds)} on one core, more "
            f"than the {seconds_text(limit)} one notebook may run (THEORY_COLLECTION_TIME_LIMIT_SECONDS); choose "
            "shorter runs"
        )
    return seconds


def seconds_text(seconds: float) -> str:
    """``40 s``, ``12 min``, ``3.5 h``, ``2.1e+03 days``."""
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    if seconds < 48 * 3600:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.3g} days"


def check_values(overrides: dict[str, object], paper: Paper, profile: str = "quick") -> None:
    """Validate the values of ``paper``'s standard parameters among ``overrides`` as its notebooks would."""
    checks = paper.all_checks
    standard = {name: value for name, value in overrides.items() if name in checks and name not in RUNNER_PARAMETERS}
    values = {name: checks[name](value) for name, value in standard.items()}
    if paper.cross_check is not None:
        paper.cross_check(values)


# ---------------------------------------------------------------------------------------------
# Running


STAGING = publishing.STAGING  # each run stages into a folder of its own, <out>/.staging-XXXX


def check_out_dir(out: str | Path, option: str = "--out") -> Path:
    """An output folder that exists, or can be created, and is writable; else a one-line ValueError."""
    path = Path(out).expanduser().absolute()
    if path.exists() and not path.is_dir():
        raise ValueError(f"{option} {out}: exists and is not a directory")
    existing = path
    while not existing.exists():
        if existing.parent == existing:
            break
        existing = existing.parent
    if not existing.is_dir():
        raise ValueError(f"{option} {out}: {existing} is not a directory")
    try:  # the real test (also for root, read-only file systems, /proc): make and remove a folder there
        os.rmdir(tempfile.mkdtemp(dir=existing, prefix=".write-test-"))
    except OSError as error:
        raise ValueError(f"{option} {out}: {existing} is not writable ({error.strerror})") from None
    return path


def default_jobs() -> int:
    """How many notebooks a report runs side by side by default: one per CPU core this process may use."""
    try:
        return max(len(os.sched_getaffinity(0)), 1)
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def check_jobs(jobs) -> int:
    """``--jobs``: an integer in ``[1, MAX_JOBS]``."""
    return check_int("--jobs", jobs, 1, MAX_JOBS)


def run_notebooks(
    paths: list[Path],
    out: str | Path,
    profile: str = "quick",
    overrides: dict[str, object] | None = None,
    progress: bool = True,
    html: bool = True,
    jobs: int | None = None,
    scheduler: str | None = None,
    timeout: float = 10.0,
    summarise: bool = False,
) -> list[NotebookRun]:
    """Execute each notebook with ``profile`` and ``overrides`` into ``out/<paper>/<stem>/``; runs in ``paths`` order.

    Everything is checked first (:func:`prepare`, and that ``out`` holds no report of another profile). ``jobs``
    notebooks run side by side (default: one per CPU core, :func:`default_jobs`), each kernel on one compute thread
    (:mod:`theory_collection.jupyter_kernels`), so the numbers are the same for any ``jobs``; with ``scheduler``
    (``tcp://host:port``) they run on that Dask cluster's workers instead (:mod:`theory_collection.cluster`;
    ``jobs`` is then the workers'). Those that took longest in this report's previous run of the same profile start
    first (without one, those whose committed copy took longest: :func:`committed_seconds`); here, a notebook waits
    while its memory estimate does not fit beside those running
    (:func:`theory_collection.params.memory_budget_bytes`). The run holds ``out``'s lock, runs into a staging folder
    of its own, and publishes when all have run (:func:`theory_collection.publishing.publish`), so a run stopped
    before then (Ctrl-C, a kill) leaves the earlier report as it was. A failing notebook is recorded with its error
    and the rest still run. Each notebook gets the overrides it declares (so ``-p steps 100`` reaches only notebooks
    with a ``steps`` parameter). Returns what the report now holds for each notebook: its new run, or the earlier
    result it did not replace, with the failed new run as its ``attempt``. With ``summarise`` the summaries of the
    whole report are written under the same lock (:func:`write_report`); else write them next. Nothing is written
    before a ``scheduler`` answers and its workers are found to run this collection.
    """
    prepared = prepare(paths, dict(overrides or {}), profile)
    jobs = default_jobs() if jobs is None else check_jobs(jobs)
    out = check_out_dir(out)
    for item in prepared:
        for line in [*item.notes, item.estimates_text()]:
            if line:
                print(f"{item.path.stem}: {line}", file=sys.stderr)
    locks.check_free(out, "report")  # before a cluster is asked; locks.hold below is what excludes
    with cluster.session(scheduler, timeout) as (client, identity), locks.hold(out, "report"):
        check_report_profile(out, profile)
        publishing.clear_leftovers(out, notify=_tell)
        previous = previous_seconds(out, profile)
        if not all(_key(item.path) in previous for item in prepared):
            previous = committed_seconds([item.path for item in prepared])
        order = sorted(range(len(prepared)), key=lambda i: -previous.get(_key(prepared[i].path), 0.0))
        staging = publishing.new_staging(out)
        try:
            if client is None:
                runs = run_side_by_side(prepared, staging, profile, order, jobs, progress, html)
            else:
                runs = cluster.run_report_notebooks(client, identity, prepared, staging, profile, order, progress)
                for run in runs:
                    export_page_of(run, html)
            commit = git_commit()
            for item, run in zip(prepared, runs):
                run.paper, run.profile, run.overrides = paper_of(item.path).name, profile, item.parameters
                run.commit, run.date = commit, now_text(run.started)
                write_run_record(run)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        with uninterruptible():
            published = publishing.publish(runs, out, staging)
            if summarise:
                write_report(published, out, profile)
            return published


def check_report_profile(out: Path, profile: str) -> None:
    """Refuse (ValueError) to run into a report of another profile: a report holds one profile."""
    existing = report_profile(out)
    if existing is not None and existing != profile:
        raise ValueError(
            f"{out} holds a report of the {existing} profile and this run is of the {profile} profile; a report "
            f"holds one profile, so it would mix them: choose another --out for the {profile} profile"
        )


def _tell(line: str) -> None:
    print(line, file=sys.stderr)


def _key(path: Path) -> str:
    """``paper/notebook``, as a report's ``runs.json`` names a run."""
    return f"{paper_of(path).name}/{path.stem}"


def previous_seconds(out: Path, profile: str) -> dict[str, float]:
    """``paper/notebook -> seconds`` from the report in ``out`` if it was written with ``profile``; else empty.

    Reads only ``runs.json`` (not the claims, as :func:`theory_collection.runs.load_report` does)."""
    try:
        record = json.loads((Path(out) / RUNS_FILE).read_text(encoding="utf-8"))
        if record.get("profile") != profile:
            return {}
        return {f"{r['paper']}/{r['notebook']}": float(r["seconds"]) for r in record["runs"]}
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return {}


# Where a committed notebook records how long its default-profile run took (written by theory_collection.refresh)
TIMING_METADATA = "theory_collection"


def committed_seconds(paths: list[Path]) -> dict[str, float]:
    """``paper/notebook -> seconds`` that each committed notebook's default-profile run took when its outputs were
    last refreshed (its metadata's :data:`TIMING_METADATA`); a notebook without the record is left out.

    The order to start a report in where no earlier report says better: on 2 cores the quick profile's longest
    notebook, started last in reading order, ran alone for a minute at the end."""
    seconds = {}
    for path in paths:
        try:
            record = json.loads(Path(path).read_text(encoding="utf-8"))["metadata"][TIMING_METADATA]
            seconds[_key(path)] = float(record["default_profile_seconds"])
        except (OSError, ValueError, KeyError, TypeError):
            continue
    return seconds


@contextmanager
def uninterruptible():
    """Ctrl-C is ignored inside (a few renames and writes that must not stop half-way); main thread only."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def write_report(runs: list[NotebookRun], out: str | Path, profile: str) -> tuple[Path, Path]:
    """Write the summaries (``summary.md``, ``index.html``, ``runs.json``) of the whole report in ``out``, of
    which ``runs`` (published by :func:`run_notebooks`) are the newest part, then clear the incomplete marker.

    The summaries list every notebook of the report (:func:`theory_collection.publishing.report_runs`),
    each with the date and commit of its own run."""
    out = Path(out).absolute()
    with locks.hold(out, "report"), uninterruptible():
        everything = publishing.report_runs(out, runs)
        summary, index = write_summaries(everything, profile, out)
        (out / INCOMPLETE).unlink(missing_ok=True)
    return summary, index


def refresh_figures(runs: list[NotebookRun], destination: str | Path = papers.FIGURE_ROOT) -> int:
    """Copy each run's figures (PNG and SVG) into ``<destination>/<paper>/``; return how many."""
    copied = 0
    for run in runs:
        folder = Path(destination) / run.paper
        folder.mkdir(parents=True, exist_ok=True)
        for figure in sorted((run.output_dir / "figures").glob("*.*")):
            shutil.copy2(figure, folder / figure.name)
            copied += 1
    return copied
