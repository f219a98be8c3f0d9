"""Parameter sweeps: one papermill run of one notebook per grid point, executed through Dask; and, inside a
notebook, one function mapped over a list of points on Dask workers
(:func:`theory_collection.points.map_points`, also importable from here).

A grid file (YAML)::

    notebook: 03_value_matrix        # a collection notebook (name, stem or NN prefix), or a path
                                     # to an .ipynb, relative to the grid file
    profile: quick                   # optional, default quick
    parameters:                      # swept: every combination of these lists is one point
      weight_decay: [0.01, 0.03]
      seed: [0, 1]
    fixed:                           # optional: the same value at every point
      steps: 300
    retries: 2                       # optional, default 2: reruns of a point whose run raised

Values are checked as ``report`` checks them (:func:`theory_collection.runner.prepare`), point by
point, before any cluster starts; integral floats (``seed: 1.0``) become ints; the time estimate of a
point is printed with the number of points.

The notebook is copied to ``<out>/<name>.ipynb`` when the sweep starts and every point runs that
copy, so a notebook edited mid-sweep cannot mix versions. **Every point runs on a Dask worker in a
temporary folder of the worker's own** (:func:`theory_collection.cluster.run_remote`; the kernel's working
directory is the notebook's folder in the worker's checkout) and its files come back to the client,
which alone writes ``<out>``: ``<out>/<point name>/`` (``seed=0,weight_decay=0.01``) with the executed
notebook, ``claims.json``, figures, data files and, last, ``status.json``. So a cluster needs no shared
disk; before any point runs, every worker must run the client's collection (same version, commit and
sources), else the sweep refuses, naming the worker. The sweep holds ``<out>``'s lock while it runs.

``status.json`` records the point's **fingerprint**: the notebook's name and the hash of its code cells,
the profile, the fixed and swept values, the contents hash (SHA-256) of every file-valued parameter
(``Paper.file_parameters``), and the package version (the git commit is recorded beside it, not
compared); and the SHA-256 of every file the run wrote (:mod:`theory_collection.sweep_results`). A later
sweep skips a point only if its fingerprint matches and its files are whole (resumable); a point run with
other settings (or another dataset file's contents) is run again, and until then reported as ``stale``;
one whose files were deleted or changed is ``damaged`` and run again. Edits to the library do not change
the fingerprint: sweep into a new ``--out`` after changing the library. Ctrl-C stops the sweep: the
running points are cancelled, ``results.csv`` and the figure are written for what finished, and running
the same command again resumes.

A point whose worker dies is rescheduled by the Dask scheduler (up to
``distributed.scheduler.allowed-failures`` deaths) and one whose run raises is retried
(``retries``). ``<out>/results.csv`` (one row per point: parameters, status, each claim's theory,
measured value and verdict) and ``<out>/sweep_summary.png`` describe only points whose ``status.json``
matches this grid and whose files are whole.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import re
import shutil
import signal
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
import pandas as pd
import yaml

from theory_collection import cluster, locks, runner
from theory_collection.claims import write_atomic
from theory_collection.cluster import package_version
from theory_collection.papers import paper_of
from theory_collection.params import PROFILES, check_choice, check_int, format_bytes
from theory_collection.points import (
    check_connect_timeout,
    check_scheduler_address,
    check_workers,
    connect,
    map_points,
    max_workers,
)
from theory_collection.publishing import exchange
from theory_collection.runs import git_commit
from theory_collection.sweep_results import (
    FINISHED,
    STATUS_FILE,
    file_digest,
    manifest,
    point_damage,
    point_status,
    points_table,
    summary_figure,
)

__all__ = [
    "FINISHED",
    "STATUS_FILE",
    "check_connect_timeout",
    "check_scheduler_address",
    "check_workers",
    "connect",
    "map_points",
    "max_workers",
    "point_status",
]

GRID_KEYS = ("notebook", "profile", "parameters", "fixed", "retries")
INCOMING = ".incoming"  # prefix of a point's folder while the client writes it


@dataclass(frozen=True)
class Point:
    """One point of a grid: its folder name and its swept values."""

    name: str  # its directory name, e.g. "seed=0,weight_decay=0.01"
    parameters: dict  # the swept values of this point


@dataclass(frozen=True)
class Grid:
    """A validated grid file: the notebook, the profile, swept and fixed values, retries."""

    notebook: Path
    profile: str = "quick"
    parameters: dict[str, list] = field(default_factory=dict)
    fixed: dict[str, object] = field(default_factory=dict)
    retries: int = 2

    def points(self) -> list[Point]:
        """Every combination of the swept values, in the grid's order (last name varies fastest)."""
        names = list(self.parameters)
        points = [
            Point(point_name(dict(zip(names, values))), dict(zip(names, values)))
            for values in itertools.product(*self.parameters.values())
        ]
        seen = {}
        for p in points:
            if p.name in seen:
                raise ValueError(f"grid points {seen[p.name]} and {p.parameters} share the directory name {p.name!r}")
            seen[p.name] = p.parameters
        return points


def point_name(parameters: dict) -> str:
    """A readable, file-system-safe directory name: ``seed=0,weight_decay=0.01``."""

    def text(value) -> str:
        if isinstance(value, list | tuple):
            return "-".join(text(v) for v in value)
        return re.sub(r"[^A-Za-z0-9._+-]", "_", str(value))

    return ",".join(f"{name}={text(value)}" for name, value in parameters.items())


def load_grid(path: str | Path, notebook_dir: str | Path | None = None) -> Grid:
    """Read and validate a grid file; every error is a ``ValueError`` that says what to fix."""
    path = Path(path)
    try:
        spec = runner.load_yaml(path.read_text())
    except OSError as error:
        raise ValueError(f"cannot read grid file {path}: {error.strerror}") from error
    except yaml.YAMLError as error:
        raise ValueError(f"grid file {path} is not valid YAML: {error}") from error
    if not isinstance(spec, dict):
        raise ValueError(f"grid file {path} must be a YAML mapping with keys {GRID_KEYS}, got {type(spec).__name__}")
    unknown = sorted(set(spec) - set(GRID_KEYS))
    if unknown:
        raise ValueError(f"grid file {path}: unknown key(s) {unknown}; allowed: {list(GRID_KEYS)}")
    for key in ("notebook", "parameters"):
        if key not in spec:
            raise ValueError(f"grid file {path}: missing key {key!r}")

    notebook = _find_notebook(spec["notebook"], path.parent, notebook_dir)
    profile = check_choice("profile", spec.get("profile", "quick"), PROFILES)
    retries = check_int("retries", spec.get("retries", 2), 0, 10)
    swept, fixed = spec["parameters"], spec.get("fixed") or {}
    if not isinstance(swept, dict) or not swept:
        raise ValueError(f"grid file {path}: 'parameters' must map each swept name to a list of values")
    for name, values in swept.items():
        if not isinstance(values, list) or not values:
            raise ValueError(
                f"grid file {path}: parameters.{name} must be a non-empty list of values, got {values!r} "
                "(put a single value under 'fixed')"
            )
    if not isinstance(fixed, dict):
        raise ValueError(f"grid file {path}: 'fixed' must map names to values")
    both = sorted(set(swept) & set(fixed))
    if both:
        raise ValueError(f"grid file {path}: {both} both swept and fixed")
    return _checked_grid(Grid(notebook, profile, swept, fixed, retries))


def _checked_grid(grid: Grid) -> Grid:
    """Check every point as ``report`` would (names, values, rules, memory) and make integral floats ints."""
    names = list(grid.parameters)
    swept = {name: list(values) for name, values in grid.parameters.items()}
    fixed, notes, memory, seconds = dict(grid.fixed), set(), [], []
    for indices in itertools.product(*(range(len(values)) for values in grid.parameters.values())):
        point = {name: grid.parameters[name][i] for name, i in zip(names, indices)}
        (prepared,) = runner.prepare([grid.notebook], {**grid.fixed, **point}, grid.profile)
        for name, i in zip(names, indices):
            swept[name][i] = prepared.parameters[name]
        fixed = {name: prepared.parameters[name] for name in grid.fixed}
        notes.update(prepared.notes)
        memory.append(prepared.memory)
        seconds.append(prepared.seconds)
    for note in sorted(notes):
        print(f"{grid.notebook.stem}: {note}", file=sys.stderr)
    if any(memory) or any(seconds):
        each = [f"{format_bytes(max(memory))} of memory"] if any(memory) else []
        each += [f"{runner.seconds_text(max(seconds))} on one core"] if any(seconds) else []
        total = f" ({runner.seconds_text(sum(seconds))} in all)" if any(seconds) else ""
        print(
            f"{grid.notebook.stem}: {len(seconds)} points, each estimated at up to {' and '.join(each)}{total}",
            file=sys.stderr,
        )
    checked = Grid(grid.notebook, grid.profile, swept, fixed, grid.retries)
    checked.points()  # distinct directory names (seed: [1, 1.0] is one point twice)
    return checked


def _find_notebook(value, grid_dir: Path, notebook_dir: str | Path | None) -> Path:
    if isinstance(value, int) and not isinstance(value, bool):  # YAML reads `notebook: 03` as the number 3
        value = f"{value:02d}"
    if not isinstance(value, str) or not value:
        raise ValueError(f"'notebook' must be a notebook name or path, got {value!r}")
    if value.endswith(".ipynb") and ("/" in value or (grid_dir / value).exists()):
        notebook = (grid_dir / value).resolve()
        if not notebook.is_file():
            raise ValueError(f"notebook {value!r} not found (looked for {notebook})")
        return notebook
    found = runner.select_notebooks([value], notebook_dir)
    if len(found) > 1:
        raise ValueError(
            f"notebook {value!r} is ambiguous ({', '.join(f'{p.parent.name}/{p.stem}' for p in found)}); "
            "name it as paper/NN or by its stem"
        )
    return found[0]


# ---------------------------------------------------------------------------------------------
# What a point's result depends on


def code_hash(notebook: str | Path) -> str:
    """SHA-256 of a notebook's code cells (sources and tags): what it runs, not the outputs it last showed."""
    nb = nbformat.read(notebook, as_version=4)
    code = [
        (cell.source, sorted(cell.get("metadata", {}).get("tags", []))) for cell in nb.cells if cell.cell_type == "code"
    ]
    return hashlib.sha256(json.dumps(code).encode()).hexdigest()


def file_values(grid: Grid, point: Point) -> dict[str, str]:
    """The point's file-valued parameters (``Paper.file_parameters``) that are set: name -> path as given."""
    names = paper_of(grid.notebook).file_parameters
    defaults = runner.read_notebook_spec(grid.notebook).defaults
    values = {**{name: defaults.get(name) for name in names}, **grid.fixed, **point.parameters}
    return {name: str(values[name]) for name in names if isinstance(values.get(name), str | Path) and values[name]}


def file_hashes(grid: Grid) -> dict[str, str]:
    """Path -> SHA-256 of the contents of every file a point of ``grid`` reads through a file-valued parameter
    (a relative path is read against the working directory, as the runner resolves it)."""
    hashes = {}
    for point in grid.points():
        for path in file_values(grid, point).values():
            if path not in hashes:
                try:
                    hashes[path] = file_digest(Path(path).expanduser())
                except OSError as error:
                    hashes[path] = f"unreadable: {error.strerror}"
    return hashes


def fingerprint(grid: Grid, point: Point, notebook_code: str | None = None, hashes: dict | None = None) -> dict:
    """What a point's result depends on: notebook and its code, profile, fixed and swept values, the contents
    of its files (when the notebook takes any), version."""
    record = {
        "notebook": grid.notebook.name,
        "notebook_code_sha256": notebook_code or code_hash(grid.notebook),
        "profile": grid.profile,
        "fixed": _canonical(grid.fixed),
        "parameters": _canonical(point.parameters),
        "version": package_version(),
    }
    files = file_values(grid, point)
    if files:
        hashes = hashes if hashes is not None else file_hashes(grid)
        record["files_sha256"] = {name: hashes[path] for name, path in files.items()}
    return record


def _canonical(values: dict) -> dict:
    return json.loads(json.dumps(values, sort_keys=True, default=str))


def fingerprints(grid: Grid, notebook_code: str | None = None) -> dict[str, dict]:
    """Every point's fingerprint, by point name (the notebook and its files hashed once)."""
    notebook_code, hashes = notebook_code or code_hash(grid.notebook), file_hashes(grid)
    return {p.name: fingerprint(grid, p, notebook_code, hashes) for p in grid.points()}


def is_finished(point_dir: str | Path, expected: dict | None = None) -> bool:
    """Whether a point ran to the end (or its failing claims), with fingerprint ``expected`` when given, and
    its files are as it left them (:func:`theory_collection.sweep_results.point_damage`)."""
    status = point_status(point_dir)
    if status is None or status.get("status") not in FINISHED:
        return False
    return (expected is None or status.get("fingerprint") == expected) and not point_damage(point_dir, status)


def pending_points(grid: Grid, out: str | Path, expected: dict[str, dict] | None = None) -> list[Point]:
    """The points of ``grid`` not finished in ``out`` with this grid's settings (never run, errored, stale or
    damaged). ``expected``: their fingerprints, by name (default: computed)."""
    expected = expected or fingerprints(grid)
    return [p for p in grid.points() if not is_finished(Path(out) / p.name, expected[p.name])]


def results_table(grid: Grid, out: str | Path, notebook_code: str | None = None) -> pd.DataFrame:
    """One row per point of ``grid`` from what the runs left in ``out``
    (:func:`theory_collection.sweep_results.points_table`); ``notebook_code``: the hash of the notebook the
    points ran (default: the grid's notebook as it is now)."""
    return points_table(grid.points(), out, fingerprints(grid, notebook_code))


# ---------------------------------------------------------------------------------------------
# A point's files come back


def receive_point(result: dict, point_dir: Path, notebook: Path, parameters: dict, expected: dict) -> dict:
    """Write a worker's result (:func:`theory_collection.cluster.run_remote`) as ``point_dir``: its files, then
    ``status.json`` with the outcome, the fingerprint ``expected`` and the files' hashes; the earlier folder
    is replaced in one step where the system can. Returns the status record."""
    incoming = Path(tempfile.mkdtemp(dir=point_dir.parent, prefix=f"{INCOMING}-"))
    try:
        run = cluster.receive(result, incoming, notebook)
        record = {
            "status": run.status,
            "error": run.error,
            "seconds": round(run.seconds, 2),
            "parameters": parameters,
            "fingerprint": expected,
            "git_commit": git_commit(),
            "ran_on": result.get("where", ""),
            "files": manifest(incoming),
        }
        write_atomic(incoming / STATUS_FILE, json.dumps(record, indent=2) + "\n")  # never a half-written marker
        if point_dir.exists() and exchange(incoming, point_dir):
            shutil.rmtree(incoming)
        else:
            shutil.rmtree(point_dir, ignore_errors=True)
            incoming.rename(point_dir)
    finally:
        shutil.rmtree(incoming, ignore_errors=True)
    return record


def _record_failure(point_dir: Path, point: Point, future, expected: dict) -> None:
    try:
        error = future.exception()
        message = f"{type(error).__name__}: {error}"
    except Exception as cancelled:  # a cancelled future has no exception to give
        message = f"{future.status}: {type(cancelled).__name__}"
    point_dir.mkdir(exist_ok=True)
    (point_dir / STATUS_FILE).unlink(missing_ok=True)
    record = {"status": "error", "error": message, "parameters": point.parameters, "fingerprint": expected}
    write_atomic(point_dir / STATUS_FILE, json.dumps(record, indent=2) + "\n")


def _snapshot(notebook: Path, out: Path) -> tuple[Path, str]:
    """Copy the notebook into ``out`` once, so every point runs the same version of it (and the sweep
    records which), even if the notebook is edited or re-executed while the sweep runs. Returns the copy
    and its text without outputs (what the workers receive)."""
    try:
        nb = nbformat.read(notebook, as_version=4)
    except Exception as error:
        raise ValueError(f"cannot read notebook {notebook}: {type(error).__name__}: {error}") from error
    out.mkdir(parents=True, exist_ok=True)
    snapshot = out / notebook.name
    nbformat.write(nb, snapshot)
    return snapshot, cluster.without_outputs(nb)


# ---------------------------------------------------------------------------------------------
# The sweep


def run_sweep(
    grid: Grid,
    out: str | Path,
    scheduler: str | None = None,
    workers: int | None = None,
    progress: bool = True,
    timeout: float = 10.0,
) -> pd.DataFrame:
    """Run every unfinished point of ``grid`` through Dask, then write and return the results table.

    Nothing is written before the cluster answers and its workers are found to run this collection; from
    then on the sweep holds ``out``'s lock."""
    out = runner.check_out_dir(out, "--out").resolve()
    if workers is not None:
        workers = check_workers(workers)
    timeout = check_connect_timeout(timeout)
    locks.check_free(out, "sweep")  # before a cluster starts; locks.hold below is what excludes
    points, todo = grid.points(), pending_points(grid, out)
    if progress and len(todo) < len(points):
        print(
            f"{len(points) - len(todo)} of {len(points)} points already finished in {out} with these settings; "
            "skipping them"
        )
    interrupted = False
    if not todo:
        with locks.hold(out, "sweep"):
            return _write_results(grid, out, None, interrupted)
    workers = workers or min(len(todo), max_workers(), os.cpu_count() or 1)
    try:
        with connect(scheduler, workers, timeout) as client:  # an unreachable scheduler fails before any write
            identity = cluster.check_worker_versions(client, timeout)
            with locks.hold(out, "sweep"):
                for leftover in out.glob(f"{INCOMING}-*"):  # a point a stopped sweep was writing
                    shutil.rmtree(leftover, ignore_errors=True)
                snapshot, text = _snapshot(grid.notebook, out)
                notebook_code = code_hash(snapshot)  # what the points run, even if the notebook is edited meanwhile
                expected = fingerprints(grid, notebook_code)
                todo = pending_points(grid, out, expected)  # now that no other sweep writes here
                _say_damaged(out, todo, expected)
                interrupted = _run_points(client, grid, out, todo, (snapshot.name, text), identity, expected, progress)
                return _write_results(grid, out, notebook_code, interrupted)
    except KeyboardInterrupt:  # while the cluster started or stopped
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        with locks.hold(out, "sweep"):
            return _write_results(grid, out, None, True)


def _write_results(grid: Grid, out: Path, notebook_code: str | None, interrupted: bool) -> pd.DataFrame:
    """``results.csv`` and the summary figure; after Ctrl-C, SIGINT stays ignored until both are written."""
    try:
        table = results_table(grid, out, notebook_code)
        write_atomic(out / "results.csv", table.to_csv(index=False))
        title = f"Sweep of {grid.notebook.stem} ({grid.profile} profile, {len(table)} points)"
        summary_figure(table, title, next(iter(grid.parameters)), out)
    finally:
        if interrupted:
            signal.signal(signal.SIGINT, signal.default_int_handler)
    table.attrs["interrupted"] = interrupted
    return table


def _say_damaged(out: Path, todo: list[Point], expected: dict[str, dict]) -> None:
    for point in todo:
        status = point_status(out / point.name) or {}
        damage = point_damage(out / point.name, status) if status.get("status") in FINISHED else ""
        if damage and status.get("fingerprint") == expected[point.name]:
            print(f"{point.name}: {damage}; running it again", file=sys.stderr)


def _run_points(
    client,
    grid: Grid,
    out: Path,
    todo: list[Point],
    notebook: tuple[str, str],
    identity: dict,
    expected: dict,
    progress: bool,
) -> bool:
    """Run ``todo`` on the cluster (``notebook``: its file name and text) and write each point as it comes back;
    True when Ctrl-C stopped it."""
    from distributed import as_completed
    from tqdm.auto import tqdm

    home, futures = cluster.home_of(grid.notebook), {}
    for p in todo:
        parameters = {"profile": grid.profile, **grid.fixed, **p.parameters}
        arguments = (*notebook, home, parameters, identity)  # the text has no outputs: small
        futures[client.submit(cluster.run_remote, *arguments, retries=grid.retries, pure=False)] = p
    try:
        for future in tqdm(
            as_completed(futures), total=len(futures), desc="sweep points", unit="point", disable=not progress
        ):
            point = futures[future]
            if future.status == "finished":
                parameters = {**grid.fixed, **point.parameters}
                receive_point(future.result(), out / point.name, out / notebook[0], parameters, expected[point.name])
            else:  # retries and reschedules exhausted: record it, keep the rest
                _record_failure(out / point.name, point, future, expected[point.name])
    except KeyboardInterrupt:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not cut the tidy stop short
        print("\ninterrupted: cancelling the running points ...", file=sys.stderr)
        client.cancel(list(futures))
        return True
    return False
