"""Parameter sweeps: one papermill run of one notebook per grid point, executed through Dask; and, inside a
notebook, one function mapped over a list of points on Dask workers (:func:`map_points`).

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

The notebook is copied to ``<out>/<name>.ipynb`` when the sweep starts and every point runs that
copy (in the notebook's own folder), so a notebook edited mid-sweep cannot mix versions.
Each point runs into ``<out>/<point name>/`` (``seed=0,weight_decay=0.01``) and, once it has run
to the end or to its failing claims, leaves ``status.json`` there (written atomically) with the
point's **fingerprint**: the notebook's name and the hash of its code cells, the profile, the fixed
and swept values, and the package version (the git commit is recorded beside it, not compared). A
later sweep skips a point only if its fingerprint matches (resumable); a point run with other
settings is run again, and until then it is reported as ``stale`` without its claims. Edits to the
library do not change the fingerprint: sweep into a new ``--out`` after changing the library.
Values are checked as ``report`` checks them (:func:`theory_collection.runner.prepare`), point by
point, before any cluster starts; integral floats (``seed: 1.0``) become ints. Ctrl-C stops the
sweep: the running points are cancelled, ``results.csv`` and the figure are written for what
finished, and running the same command again resumes.

A point whose worker dies is rescheduled by the Dask scheduler (up to
``distributed.scheduler.allowed-failures`` deaths) and one whose run raises is retried
(``retries``). The results are read back from disk into ``<out>/results.csv`` (one row per point:
parameters, status, each claim's theory, measured value and verdict) and ``<out>/sweep_summary.png``;
both describe only points whose ``status.json`` matches this grid.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import logging
import os
import re
import signal
import subprocess
import sys
import warnings
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
import pandas as pd
import yaml

from theory_collection import runner
from theory_collection.claims import load_claims, write_atomic
from theory_collection.papers import REPO_ROOT
from theory_collection.params import PROFILES, check_choice, check_float, check_int

GRID_KEYS = ("notebook", "profile", "parameters", "fixed", "retries")
STATUS_FILE = "status.json"
FINISHED = ("ok", "claims fail")  # a point with one of these statuses (and a matching fingerprint) is not run again
MAX_CONNECT_TIMEOUT = 3600.0  # seconds


def max_workers() -> int:
    """The most LocalCluster workers: one per CPU core (at least 2); more only queue for the cores."""
    return max(os.cpu_count() or 1, 2)


def check_workers(workers) -> int:
    """``--workers``: an integer in ``[1, max_workers()]``."""
    return check_int("--workers", workers, 1, max_workers())


def check_connect_timeout(seconds) -> float:
    """``--connect-timeout``: seconds in ``(0, 3600]``."""
    return check_float("--connect-timeout", seconds, 0.0, MAX_CONNECT_TIMEOUT, low_open=True)


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
    fixed, notes = dict(grid.fixed), set()
    for indices in itertools.product(*(range(len(values)) for values in grid.parameters.values())):
        point = {name: grid.parameters[name][i] for name, i in zip(names, indices)}
        (prepared,) = runner.prepare([grid.notebook], {**grid.fixed, **point}, grid.profile)
        for name, i in zip(names, indices):
            swept[name][i] = prepared.parameters[name]
        fixed = {name: prepared.parameters[name] for name in grid.fixed}
        notes.update(prepared.notes)
    for note in sorted(notes):
        print(f"{grid.notebook.stem}: {note}", file=sys.stderr)
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
# One point (runs on a Dask worker)


def point_status(point_dir: str | Path) -> dict | None:
    """The recorded outcome of a point, or None if it never completed a run."""
    try:
        status = json.loads((Path(point_dir) / STATUS_FILE).read_text())
    except (OSError, json.JSONDecodeError):
        return None
    return status if isinstance(status, dict) else None


def code_hash(notebook: str | Path) -> str:
    """SHA-256 of a notebook's code cells (sources and tags): what it runs, not the outputs it last showed."""
    nb = nbformat.read(notebook, as_version=4)
    code = [
        (cell.source, sorted(cell.get("metadata", {}).get("tags", []))) for cell in nb.cells if cell.cell_type == "code"
    ]
    return hashlib.sha256(json.dumps(code).encode()).hexdigest()


def package_version() -> str:
    """The installed collection's version (part of a point's fingerprint)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("theory-collection")
    except PackageNotFoundError:
        return "unknown"


def git_commit() -> str:
    """The collection's git commit (recorded with each point; not part of its fingerprint)."""
    try:
        result = subprocess.run(
            ["git", "-C", str(REPO_ROOT), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10
        )
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    return result.stdout.strip() if result.returncode == 0 else "unknown"


def fingerprint(grid: Grid, point: Point, notebook_code: str | None = None) -> dict:
    """What a point's result depends on: notebook and its code, profile, fixed and swept values, version."""
    return {
        "notebook": grid.notebook.name,
        "notebook_code_sha256": notebook_code or code_hash(grid.notebook),
        "profile": grid.profile,
        "fixed": _canonical(grid.fixed),
        "parameters": _canonical(point.parameters),
        "version": package_version(),
    }


def _canonical(values: dict) -> dict:
    return json.loads(json.dumps(values, sort_keys=True, default=str))


def is_finished(point_dir: str | Path, expected: dict | None = None) -> bool:
    """Whether a point ran to the end (or its failing claims), with fingerprint ``expected`` when given."""
    status = point_status(point_dir)
    if status is None or status.get("status") not in FINISHED:
        return False
    return expected is None or status.get("fingerprint") == expected


def pending_points(grid: Grid, out: str | Path) -> list[Point]:
    """The points of ``grid`` not finished in ``out`` with this grid's settings (never run, errored, or stale)."""
    notebook_code = code_hash(grid.notebook)
    return [p for p in grid.points() if not is_finished(Path(out) / p.name, fingerprint(grid, p, notebook_code))]


def run_point(
    notebook: str,
    profile: str,
    parameters: dict,
    point_dir: str,
    cwd: str | None = None,
    fingerprint: dict | None = None,
) -> dict:
    """Execute one point and record its outcome in ``point_dir/status.json``; return that record.

    The earlier ``status.json`` is removed first, so a point stopped mid-run is never taken as
    finished with the old record. A kernel that dies raises (so Dask's ``retries`` runs the point
    again); a notebook error is a recorded outcome, since running it again would give the same error.
    """
    point_dir = Path(point_dir)
    point_dir.mkdir(parents=True, exist_ok=True)
    (point_dir / STATUS_FILE).unlink(missing_ok=True)
    run = runner.run_notebook(
        notebook, point_dir, {"profile": profile, **parameters, "output_dir": str(point_dir.resolve())}, cwd=cwd
    )
    if run.error.startswith(("DeadKernelError", "RuntimeError: Kernel died")):
        raise RuntimeError(f"{point_dir.name}: {run.error}")
    record = {
        "status": run.status,
        "error": run.error,
        "seconds": round(run.seconds, 2),
        "parameters": parameters,
        "fingerprint": fingerprint,
        "git_commit": git_commit(),
    }
    write_atomic(point_dir / STATUS_FILE, json.dumps(record, indent=2) + "\n")  # never a half-written marker
    return record


# ---------------------------------------------------------------------------------------------
# The sweep


@contextmanager
def connect(scheduler: str | None, workers: int, timeout: float = 10.0):
    """A Dask client: to ``scheduler`` (``tcp://host:port``), or to a new ``LocalCluster`` of
    ``workers`` single-threaded worker processes that is shut down afterwards.

    An address that is malformed or does not answer within ``timeout`` seconds is a ValueError.
    """
    from distributed import Client, LocalCluster

    if scheduler is None:
        with (
            LocalCluster(
                n_workers=check_workers(workers),
                threads_per_worker=1,
                processes=True,
                # a free port chosen by the system: None still starts the dashboard on 8787, and warns when it is taken
                dashboard_address=":0",
                silence_logs=logging.ERROR,
            ) as cluster,
            Client(cluster) as client,
        ):
            yield client
        return
    check_scheduler_address(scheduler)
    try:
        client = Client(scheduler, timeout=f"{timeout}s")
    except (OSError, TimeoutError) as error:
        raise ValueError(f"cannot reach the Dask scheduler at {scheduler} within {timeout:g} s: {error}") from error
    with client:
        yield client


def check_scheduler_address(scheduler: str) -> str:
    """A Dask scheduler address such as ``tcp://host:8786``; else ValueError."""
    if not isinstance(scheduler, str) or not re.fullmatch(r"(tcp|tls|ws|wss)://[^\s/:]+(:\d+)?/?", scheduler):
        raise ValueError(f"scheduler must be an address like tcp://host:8786, got {scheduler!r}")
    return scheduler


def run_sweep(
    grid: Grid,
    out: str | Path,
    scheduler: str | None = None,
    workers: int | None = None,
    progress: bool = True,
    timeout: float = 10.0,
) -> pd.DataFrame:
    """Run every unfinished point of ``grid`` through Dask, then write and return the results table."""
    from distributed import as_completed
    from tqdm.auto import tqdm

    out = runner.check_out_dir(out, "--out").resolve()
    if workers is not None:
        workers = check_workers(workers)
    timeout = check_connect_timeout(timeout)
    notebook_code = code_hash(grid.notebook)
    points, todo = grid.points(), pending_points(grid, out)
    if progress and len(todo) < len(points):
        print(
            f"{len(points) - len(todo)} of {len(points)} points already finished in {out} with these settings; "
            "skipping them"
        )
    interrupted = False
    if todo:
        workers = workers or min(len(todo), max_workers(), os.cpu_count() or 1)
        try:
            with connect(scheduler, workers, timeout) as client:  # an unreachable scheduler fails before any write
                snapshot = _snapshot(grid.notebook, out)
                notebook_code = code_hash(snapshot)  # what the points run, even if the notebook is edited meanwhile
                futures = {
                    client.submit(
                        run_point,
                        str(snapshot),
                        grid.profile,
                        {**grid.fixed, **p.parameters},
                        str(out / p.name),
                        str(grid.notebook.parent),
                        fingerprint(grid, p, notebook_code),
                        retries=grid.retries,
                        pure=False,
                    ): p
                    for p in todo
                }
                try:
                    for future in tqdm(
                        as_completed(futures),
                        total=len(futures),
                        desc="sweep points",
                        unit="point",
                        disable=not progress,
                    ):
                        if future.status != "finished":  # retries and reschedules exhausted: record it, keep the rest
                            _record_failure(
                                out / futures[future].name,
                                futures[future],
                                future,
                                fingerprint(grid, futures[future], notebook_code),
                            )
                except KeyboardInterrupt:
                    interrupted = True
                    signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not cut the tidy stop short
                    print("\ninterrupted: cancelling the running points ...", file=sys.stderr)
                    client.cancel(list(futures))
        except KeyboardInterrupt:  # while the cluster started or stopped
            interrupted = True
            signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:  # after Ctrl-C, SIGINT stays ignored until results.csv and the figure are written
        out.mkdir(parents=True, exist_ok=True)
        table = results_table(grid, out)
        write_atomic(out / "results.csv", table.to_csv(index=False))
        summary_figure(table, grid, out)
    finally:
        if interrupted:
            signal.signal(signal.SIGINT, signal.default_int_handler)
    table.attrs["interrupted"] = interrupted
    return table


# ---------------------------------------------------------------------------------------------
# A function over a grid (inside a notebook)


def map_points(
    function,
    points: list[dict],
    workers: int | None = None,
    scheduler: str | None = None,
    progress: bool = True,
    description: str = "points",
    timeout: float = 10.0,
) -> list:
    """``[function(**point) for point in points]``, the points run side by side on Dask workers.

    The finer grain of :func:`run_sweep`: a notebook sweeps one experiment function (a training run)
    over a list of points, and gets the results back in the points' order, whatever order they finish in.
    Deterministic as far as ``function`` is: each call sees only its point (seed it from the point), and
    the workers run one thread each (Dask sets ``OMP_NUM_THREADS=1`` in them), as a notebook does.
    ``workers``: a new ``LocalCluster`` of that many single-threaded processes (default: one per point, at
    most :func:`max_workers`); ``1`` or a single point runs in this process without a cluster, giving the
    same results. ``scheduler``: an existing cluster (``tcp://host:port``) instead. ``function`` is
    pickled to the workers: a library function, or one defined in the notebook (sent by value). A point
    that raises stops the map: the others are cancelled and the error is re-raised, naming the point.
    A progress bar counts finished points.
    """
    from tqdm.std import tqdm

    points = list(points)
    if not all(isinstance(point, dict) for point in points):
        raise ValueError("map_points needs a list of dicts: the keyword arguments of each call")
    workers = check_workers(workers) if workers is not None else min(max(len(points), 1), max_workers())
    timeout = check_connect_timeout(timeout)
    results: list = [None] * len(points)
    bar = tqdm(total=len(points), desc=description, unit="point", disable=not progress)
    try:
        if scheduler is None and (workers == 1 or len(points) <= 1):
            for index, point in enumerate(points):
                results[index] = _call_point(function, point)
                bar.update()
            return results
        from distributed import as_completed

        with connect(scheduler, workers, timeout) as client:
            futures = {client.submit(function, **point, pure=False): index for index, point in enumerate(points)}
            for future in as_completed(futures):
                index = futures[future]
                if future.status != "finished":
                    error = future.exception()  # before cancelling, which drops it
                    client.cancel(list(futures))
                    raise RuntimeError(f"point {points[index]} raised {type(error).__name__}: {error}") from error
                results[index] = future.result()
                bar.update()
        return results
    finally:
        bar.close()


def _call_point(function, point: dict):
    try:
        return function(**point)
    except Exception as error:
        raise RuntimeError(f"point {point} raised {type(error).__name__}: {error}") from error


def _snapshot(notebook: Path, out: Path) -> Path:
    """Copy the notebook into ``out`` once, so every point runs the same version of it (and the
    sweep records which), even if the notebook is edited or re-executed while the sweep runs."""
    try:
        nb = nbformat.read(notebook, as_version=4)
    except Exception as error:
        raise ValueError(f"cannot read notebook {notebook}: {type(error).__name__}: {error}") from error
    out.mkdir(parents=True, exist_ok=True)
    snapshot = out / notebook.name
    nbformat.write(nb, snapshot)
    return snapshot


def _record_failure(point_dir: Path, point: Point, future, expected: dict) -> None:
    try:
        error = future.exception()
        message = f"{type(error).__name__}: {error}"
    except Exception as cancelled:  # a cancelled future has no exception to give
        message = f"{future.status}: {type(cancelled).__name__}"
    point_dir.mkdir(exist_ok=True)
    record = {"status": "error", "error": message, "parameters": point.parameters, "fingerprint": expected}
    write_atomic(point_dir / STATUS_FILE, json.dumps(record, indent=2) + "\n")


def results_table(grid: Grid, out: str | Path) -> pd.DataFrame:
    """One row per point, from what the runs left on disk: parameters, status, then per claim
    ``<id>.theory``, ``<id>.measured`` and ``<id>.verdict`` (holds / FAILS).

    Only a point whose ``status.json`` has this grid's fingerprint contributes claims; one run with
    other settings is ``stale`` and one never run is ``not run``, both without values."""
    rows = []
    notebook_code = code_hash(grid.notebook)
    for point in grid.points():
        point_dir = Path(out) / point.name
        status = point_status(point_dir) or {"status": "not run"}
        row = {
            **point.parameters,
            "point": point.name,
            "status": status.get("status", "not run"),
            "seconds": status.get("seconds"),
            "error": status.get("error", ""),
        }
        expected = fingerprint(grid, point, notebook_code)
        if row["status"] != "not run" and status.get("fingerprint") != expected:  # a record of another run
            differs = sorted(k for k in expected if (status.get("fingerprint") or {}).get(k) != expected[k])
            row.update(
                status="stale",
                seconds=None,
                error=f"ran with other settings ({', '.join(differs)} differ); will run again",
            )
            rows.append(row)
            continue
        claims_path = point_dir / "claims.json"
        try:
            claims = load_claims(claims_path) if claims_path.exists() and row["status"] != "not run" else []
        except ValueError as error:  # the point's own output is broken: report it in its row
            claims, row["status"], row["error"] = [], "error", str(error)
        for claim in claims:
            row[f"{claim['id']}.theory"] = claim["theory"]
            row[f"{claim['id']}.measured"] = claim["measured"]
            row[f"{claim['id']}.verdict"] = claim["verdict"] if claim["verdict"] != "fails" else "FAILS"
        rows.append(row)
    return pd.DataFrame(rows)


def claim_ids(table: pd.DataFrame) -> list[str]:
    """The claim ids of a results table (from its ``<id>.verdict`` columns)."""
    return [column.removesuffix(".verdict") for column in table.columns if column.endswith(".verdict")]


def summary_figure(table: pd.DataFrame, grid: Grid, out: str | Path) -> list[Path]:
    """Save ``sweep_summary.png|svg``, two panels readable for any number of claims and points:

    - a verdict map, claims x points, green holds / red fails / grey no value (the point did not
      reach its claims); measured values written in when the map is small;
    - measured / theory of each numeric claim (1 means agreement) against the first swept
      parameter, averaged over the others (bars: their standard deviation).
    """
    import matplotlib.pyplot as plt
    import seaborn as sns

    claims = claim_ids(table)
    x = next(iter(grid.parameters))
    points = list(table["point"])
    fig, (ax_map, ax_ratio) = plt.subplots(
        1,
        2,
        figsize=(min(4 + 0.6 * len(points), 14) + 7, max(3.8, 0.32 * len(claims) + 2.2)),
        gridspec_kw={"width_ratios": [max(1.0, 0.15 * len(points)), 1.4]},
    )
    if claims:
        verdicts = pd.DataFrame(
            [table[f"{c}.verdict"].map({"holds": 1.0, "FAILS": 0.0}).to_numpy() for c in claims],
            index=claims,
            columns=points,
        )
        annotate = len(claims) * len(points) <= 48
        labels = (
            pd.DataFrame(
                [table[f"{c}.measured"].map(_fmt).fillna("").to_numpy() for c in claims], index=claims, columns=points
            )
            if annotate
            else False
        )
        ax_map.set_facecolor("#d9d9d9")  # no value
        sns.heatmap(
            verdicts,
            ax=ax_map,
            annot=labels,
            fmt="",
            annot_kws={"fontsize": 8},
            cmap=sns.color_palette(["#d73027", "#1a9850"]),
            vmin=0,
            vmax=1,
            cbar=False,
            linewidths=0.5,
            linecolor="white",
        )
        ax_map.set(title="verdicts", xlabel="point (green holds, red fails, grey: no value)", ylabel="claim")
        ax_map.tick_params(axis="x", labelrotation=90)
    else:
        ax_map.text(0.5, 0.5, "no point wrote claims", ha="center", va="center")
        ax_map.set_axis_off()

    ratios = []
    for c in claims:
        theory = pd.to_numeric(table[f"{c}.theory"], errors="coerce")
        measured = pd.to_numeric(table[f"{c}.measured"], errors="coerce")
        ratio = (measured / theory).where(theory.abs() > 0)
        ratios.append(pd.DataFrame({x: table[x].map(_fmt), "claim": c, "measured / theory": ratio}).dropna())
    ratios = pd.concat(ratios) if ratios else pd.DataFrame()
    if len(ratios):
        sns.pointplot(
            data=ratios,
            x=x,
            y="measured / theory",
            hue="claim",
            ax=ax_ratio,
            errorbar="sd",
            dodge=0.3 if ratios["claim"].nunique() > 1 else False,  # seaborn divides by (levels - 1)
            markersize=4,
            linewidth=1.2,
            order=list(dict.fromkeys(table[x].map(_fmt))),
        )
        ax_ratio.axhline(1.0, color="k", lw=0.8, ls="--")
        ax_ratio.set(title="measured / theory per numeric claim (1 = agreement)", xlabel=x)
        sns.move_legend(ax_ratio, "upper left", bbox_to_anchor=(1.02, 1), fontsize=8, title="claim")
    else:
        ax_ratio.text(0.5, 0.5, "no numeric claim with a nonzero theory value", ha="center", va="center")
        ax_ratio.set_axis_off()
    fig.suptitle(f"Sweep of {grid.notebook.stem} ({grid.profile} profile, {len(table)} points)")
    with warnings.catch_warnings():  # a tall verdict map cannot always get its margins; the figure is still whole
        warnings.simplefilter("ignore", UserWarning)
        fig.tight_layout()
    # As plots.save_figure, without importing torch into the client for one figure.
    paths = [Path(out) / "sweep_summary.png", Path(out) / "sweep_summary.svg"]
    fig.savefig(paths[0], dpi=130, bbox_inches="tight", metadata={"Software": None})
    fig.savefig(paths[1], bbox_inches="tight", metadata={"Date": None, "Creator": None})
    plt.close(fig)
    return paths


def _fmt(value) -> str:
    return f"{value:.6g}" if isinstance(value, float) else str(value)
