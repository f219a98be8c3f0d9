"""`theory-collection sweep`: grid validation, and a real sweep on a 2-worker LocalCluster in which
one point kills its own worker on its first attempt (tests/core/fixtures/geometric_point.ipynb)."""

import json
import shutil
import socket
import time
from pathlib import Path

import nbformat
import pandas as pd
import pytest

from theory_collection import sweep
from theory_collection.cli import main

FIXTURES = Path(__file__).parent / "fixtures"
POINT_NOTEBOOK = FIXTURES / "geometric_point.ipynb"


def write_grid(directory: Path, text: str) -> Path:
    path = directory / "grid.yaml"
    path.write_text(text)
    return path


GRID = f"""
notebook: {POINT_NOTEBOOK}
parameters:
  ratio: [0.5, 0.9]
  terms: [5, 40]
"""


@pytest.fixture(scope="module")
def killed_worker_sweep(tmp_path_factory):
    """4 points on 2 workers; the first point to start kills its worker process, once."""
    directory = tmp_path_factory.mktemp("sweep")
    marker = directory / "worker-killed"
    grid = write_grid(directory, GRID + f"fixed:\n  kill_worker_once: {marker}\n")
    out = directory / "out"
    code = main(["sweep", str(grid), "--workers", "2", "--out", str(out)])
    return code, out, marker, grid


def test_killed_worker_point_is_retried_and_nothing_is_lost(killed_worker_sweep):
    code, out, marker, _ = killed_worker_sweep
    assert marker.exists(), "no point killed its worker: the test did not exercise a worker death"
    assert code == 0
    table = pd.read_csv(out / "results.csv")
    assert len(table) == 4
    assert set(table["status"]) <= set(sweep.FINISHED)
    for point in table["point"]:
        assert (out / point / "claims.json").is_file() and (out / point / "geometric_point.ipynb").is_file()


def test_results_table_has_parameters_values_and_verdicts(killed_worker_sweep):
    _, out, _, _ = killed_worker_sweep
    table = pd.read_csv(out / "results.csv").set_index(["ratio", "terms"])
    assert list(table.index) == [(0.5, 5), (0.5, 40), (0.9, 5), (0.9, 40)]
    for (ratio, terms), row in table.iterrows():
        partial = sum(ratio**k for k in range(terms))
        assert row["G1.measured"] == pytest.approx(partial)
        assert row["G1.theory"] == pytest.approx(1 / (1 - ratio))
        close = abs(partial - 1 / (1 - ratio)) <= 1e-4 / (1 - ratio)
        assert row["G1.verdict"] == ("holds" if close else "FAILS")
        assert row["G2.verdict"] == "holds"
        assert row["status"] == ("ok" if close else "claims fail")
    assert table.loc[(0.5, 40), "G1.verdict"] == "holds"  # the grid does reach both verdicts
    assert (out / "sweep_summary.png").stat().st_size > 10_000 and (out / "sweep_summary.svg").is_file()


def test_rerun_skips_finished_points_without_a_cluster(killed_worker_sweep, monkeypatch):
    code, out, _, grid_path = killed_worker_sweep
    before = {p: p.stat().st_mtime_ns for p in out.glob("*/status.json")}
    assert len(before) == 4

    def no_cluster(*args, **kwargs):
        raise AssertionError("a finished sweep started a cluster")

    monkeypatch.setattr(sweep, "connect", no_cluster)
    assert main(["sweep", str(grid_path), "--out", str(out)]) == 0
    assert {p: p.stat().st_mtime_ns for p in out.glob("*/status.json")} == before


def test_pending_points_are_the_unfinished_the_errored_and_the_stale(tmp_path):
    grid = sweep.Grid(POINT_NOTEBOOK, parameters={"ratio": [0.5, 0.9], "terms": [5]})
    points = grid.points()
    assert [p.name for p in points] == ["ratio=0.5,terms=5", "ratio=0.9,terms=5"]
    for point, status in zip(points, ["ok", "error"]):
        (tmp_path / point.name).mkdir()
        (tmp_path / point.name / "claims.json").write_text("[]")
        record = {"status": status, "fingerprint": sweep.fingerprint(grid, point)}
        (tmp_path / point.name / sweep.STATUS_FILE).write_text(json.dumps(record))
    assert [p.name for p in sweep.pending_points(grid, tmp_path)] == ["ratio=0.9,terms=5"]
    for changed in (
        sweep.Grid(POINT_NOTEBOOK, "paper", grid.parameters),
        sweep.Grid(POINT_NOTEBOOK, "quick", grid.parameters, {"seed": 1}),
    ):
        assert len(sweep.pending_points(changed, tmp_path)) == 2, (
            f"a point run with other settings counted as finished: {changed}"
        )
    (tmp_path / points[0].name / sweep.STATUS_FILE).write_text(
        json.dumps({"status": "ok"})
    )  # no fingerprint: unknown settings
    assert len(sweep.pending_points(grid, tmp_path)) == 2
    (tmp_path / points[0].name / sweep.STATUS_FILE).write_text('{"status": "ok"')  # half-written marker
    assert len(sweep.pending_points(grid, tmp_path)) == 2


def test_changed_profile_fixed_value_or_notebook_reruns_the_points(tmp_path, capsys):
    """Profile quick -> paper, a fixed value, an edit of the notebook's code: each reruns every point, and
    results.csv and the figure describe only what matches the grid."""
    from distributed import LocalCluster

    notebook = tmp_path / "point.ipynb"
    shutil.copy(POINT_NOTEBOOK, notebook)
    out = tmp_path / "out"

    def sweep_with(profile, ratio):
        grid = write_grid(
            tmp_path,
            f"notebook: {notebook}\nprofile: {profile}\nparameters: {{terms: [40]}}\nfixed: {{ratio: {ratio}}}\n",
        )
        assert main(["sweep", str(grid), "--scheduler", cluster.scheduler_address, "--out", str(out)]) in (0, 1)
        return pd.read_csv(out / "results.csv"), {
            p.parent.name: json.loads(p.read_text()) for p in out.glob("*/status.json")
        }

    with LocalCluster(
        n_workers=1, threads_per_worker=2, processes=False, protocol="tcp://", dashboard_address=None
    ) as cluster:
        table, status = sweep_with("quick", 0.5)
        assert list(table["status"]) == ["ok"] and all(s["fingerprint"]["profile"] == "quick" for s in status.values())
        capsys.readouterr()

        stale = sweep.results_table(
            sweep.load_grid(
                write_grid(
                    tmp_path,
                    f"notebook: {notebook}\nprofile: paper\nparameters: {{terms: [40]}}\nfixed: {{ratio: 0.5}}\n",
                )
            ),
            out,
        )
        assert list(stale["status"]) == ["stale"] and "profile differ" in stale["error"][0]
        assert not any(column.endswith(".measured") for column in stale.columns), "a stale point's claims were reported"

        table, status = sweep_with("paper", 0.5)
        assert "already finished" not in capsys.readouterr().out
        assert all(s["fingerprint"]["profile"] == "paper" for s in status.values())

        table, status = sweep_with("paper", 0.9)
        assert all(s["fingerprint"]["fixed"] == {"ratio": 0.9} for s in status.values())
        assert table["G1.measured"].tolist() == pytest.approx([sum(0.9**k for k in range(40))])
        capsys.readouterr()

        sweep_with("paper", 0.9)  # nothing changed: nothing runs
        assert "1 of 1 points already finished" in capsys.readouterr().out

        nb = nbformat.read(notebook, as_version=4)
        nb.cells[-2].source += "\n# an edit"
        nbformat.write(nb, notebook)
        sweep_with("paper", 0.9)
        assert "already finished" not in capsys.readouterr().out


def test_float_integers_in_a_grid_become_ints(tmp_path, capsys):
    grid = sweep.load_grid(
        write_grid(tmp_path, f"notebook: {POINT_NOTEBOOK}\nparameters: {{terms: [5.0, 1e1]}}\nfixed: {{seed: 1.0}}\n")
    )
    assert grid.parameters == {"terms": [5, 10]} and grid.fixed == {"seed": 1}
    assert all(type(v) is int for v in [*grid.parameters["terms"], grid.fixed["seed"]])
    assert [p.name for p in grid.points()] == ["terms=5", "terms=10"]
    assert "seed: 1.0 taken as the integer 1" in capsys.readouterr().err
    with pytest.raises(ValueError, match="share the directory name"):
        sweep.load_grid(write_grid(tmp_path, f"notebook: {POINT_NOTEBOOK}\nparameters: {{terms: [5, 5.0]}}\n"))


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--workers", "0"], "--workers must be an integer in [1, "),
        (["--workers", "100000"], "--workers must be an integer in [1, "),
        (["--connect-timeout", "-5"], "--connect-timeout must be in (0.0, 3600.0], got -5.0"),
        (["--connect-timeout", "nan"], "--connect-timeout must be a finite number"),
    ],
)
def test_bad_sweep_options_exit_2_in_one_line(tmp_path, capsys, argv, message):
    out = tmp_path / "out"
    assert main(["sweep", str(write_grid(tmp_path, GRID)), "--out", str(out), *argv]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1
    assert not out.exists()


def test_bad_sweep_out_exits_2_before_a_cluster_starts(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(sweep, "connect", lambda *a, **k: pytest.fail("a cluster started for a bad --out"))
    afile = tmp_path / "afile"
    afile.write_text("x")
    for out, message in ((afile, "exists and is not a directory"), (afile / "sub", "is not a directory")):
        assert main(["sweep", str(write_grid(tmp_path, GRID)), "--out", str(out)]) == 2
        err = capsys.readouterr().err
        assert message in err and len(err.strip().splitlines()) == 1


def test_a_point_whose_kernel_died_raises_so_dask_retries_it(tmp_path, monkeypatch):
    from theory_collection import cluster, execution

    identity = cluster.identity()
    text = POINT_NOTEBOOK.read_text()
    dead = execution.NotebookRun("geometric_point", tmp_path, error="DeadKernelError: Kernel died")
    monkeypatch.setattr(execution, "run_notebook", lambda *args, **kwargs: dead)
    with pytest.raises(RuntimeError, match="Kernel died"):
        cluster.run_remote(POINT_NOTEBOOK.name, text, None, {"profile": "quick", "terms": 3}, identity)

    broken = execution.NotebookRun("geometric_point", tmp_path, error="cell In [3] `x`: NameError: x")
    monkeypatch.setattr(execution, "run_notebook", lambda *args, **kwargs: broken)
    result = cluster.run_remote(POINT_NOTEBOOK.name, text, None, {"profile": "quick", "terms": 3}, identity)
    point_dir = tmp_path / "point"
    record = sweep.receive_point(result, point_dir, POINT_NOTEBOOK, {"terms": 3}, {"any": "fingerprint"})
    assert record["status"] == "error" and sweep.point_status(point_dir)["error"] == broken.error
    assert not sweep.is_finished(point_dir), "a notebook error must not mark the point finished"


def test_point_names_are_safe_and_distinct():
    assert (
        sweep.point_name({"doc_length": [100, 150], "optimizer": "adam", "lr": 1e-3})
        == "doc_length=100-150,optimizer=adam,lr=0.001"
    )
    assert sweep.point_name({"path": "a/b c"}) == "path=a_b_c"
    with pytest.raises(ValueError, match="share the directory name"):
        sweep.Grid(POINT_NOTEBOOK, parameters={"tag": ["a/b", "a b"]}).points()


def test_existing_scheduler_runs_the_points(tmp_path):
    from distributed import LocalCluster

    grid = write_grid(tmp_path, f"notebook: {POINT_NOTEBOOK}\nparameters: {{terms: [40]}}\n")
    with LocalCluster(n_workers=1, processes=False, protocol="tcp://", dashboard_address=None) as cluster:
        assert main(["sweep", str(grid), "--scheduler", cluster.scheduler_address, "--out", str(tmp_path / "out")]) == 0
    table = pd.read_csv(tmp_path / "out" / "results.csv")
    assert list(table["status"]) == ["ok"] and list(table["G1.verdict"]) == ["holds"]


def test_load_grid_reads_scientific_notation_and_defaults(tmp_path):
    grid = sweep.load_grid(write_grid(tmp_path, f"notebook: {POINT_NOTEBOOK}\nparameters:\n  ratio: [1e-1, 5e-1]\n"))
    assert grid.parameters == {"ratio": [0.1, 0.5]} and grid.profile == "quick" and grid.retries == 2
    beside = tmp_path / "beside"
    beside.mkdir()
    shutil.copy(POINT_NOTEBOOK, beside / POINT_NOTEBOOK.name)
    relative = sweep.load_grid(write_grid(beside, "notebook: geometric_point.ipynb\nparameters: {terms: [3]}\n"))
    assert relative.notebook == beside / POINT_NOTEBOOK.name
    by_number = sweep.load_grid(write_grid(tmp_path, "notebook: 02\nparameters: {seed: [0]}\n"), FIXTURES / "report")
    assert by_number.notebook.name == "02_broken.ipynb"


@pytest.mark.parametrize(
    "text, message",
    [
        ("notebook: [unclosed\n", "is not valid YAML"),
        ("- just\n- a list\n", "must be a YAML mapping"),
        (f"notebook: {POINT_NOTEBOOK}\nparameters: {{terms: [3]}}\nworkers: 4\n", "unknown key(s) ['workers']"),
        ("parameters: {terms: [3]}\n", "missing key 'notebook'"),
        ("notebook: 99_nothing\nparameters: {terms: [3]}\n", "unknown notebook '99_nothing'"),
        ("notebook: missing/point.ipynb\nparameters: {terms: [3]}\n", "not found"),
        (f"notebook: {POINT_NOTEBOOK}\nparameters: {{tems: [3]}}\n", "unknown parameter(s) ['tems']"),
        (f"notebook: {POINT_NOTEBOOK}\nprofile: huge\nparameters: {{terms: [3]}}\n", "profile must be one of"),
        (f"notebook: {POINT_NOTEBOOK}\nparameters: {{terms: 3}}\n", "parameters.terms must be a non-empty list"),
        (f"notebook: {POINT_NOTEBOOK}\nparameters: {{terms: [3]}}\nfixed: {{terms: 4}}\n", "both swept and fixed"),
        (
            f"notebook: {POINT_NOTEBOOK}\nparameters: {{seed: [0, -1]}}\n",
            "seed must be an integer in [0, 4294967295], got -1",
        ),
        (f"notebook: {POINT_NOTEBOOK}\nparameters: {{output_dir: [a]}}\n", "set by the runner"),
    ],
)
def test_bad_grid_exits_2_before_any_work(tmp_path, capsys, text, message):
    out = tmp_path / "out"
    assert main(["sweep", str(write_grid(tmp_path, text)), "--out", str(out)]) == 2
    assert message in capsys.readouterr().err
    assert not out.exists()


def test_missing_grid_file_exits_2(tmp_path, capsys):
    assert main(["sweep", str(tmp_path / "nope.yaml")]) == 2
    assert "cannot read grid file" in capsys.readouterr().err


@pytest.mark.parametrize("address", ["localhost:8786", "tcp://", "http://host:1"])
def test_malformed_scheduler_address_exits_2(tmp_path, capsys, address):
    out = tmp_path / "out"
    assert main(["sweep", str(write_grid(tmp_path, GRID)), "--scheduler", address, "--out", str(out)]) == 2
    assert "scheduler must be an address like tcp://host:8786" in capsys.readouterr().err
    assert not out.exists()


def test_unreachable_scheduler_exits_2_before_any_work(tmp_path, capsys):
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    out = tmp_path / "out"
    start = time.perf_counter()
    code = main(
        [
            "sweep",
            str(write_grid(tmp_path, GRID)),
            "--scheduler",
            f"tcp://127.0.0.1:{port}",
            "--connect-timeout",
            "2",
            "--out",
            str(out),
        ]
    )
    assert code == 2
    assert f"cannot reach the Dask scheduler at tcp://127.0.0.1:{port}" in capsys.readouterr().err
    assert not out.exists()
    assert time.perf_counter() - start < 30


# ----- map_points: one function over a list of points, inside a notebook -------------------------------------
# The functions are nested: cloudpickle sends them to the workers by value (a test module is not importable there).


def test_map_points_returns_results_in_order_and_the_same_with_one_or_two_workers():
    def draw(seed, scale):
        import time

        import numpy as np

        time.sleep(1.5 if seed == 0 else 0.0)  # the first point finishes last on two workers
        return float(np.random.default_rng(seed).normal() * scale)

    points = [{"seed": s, "scale": 1.0 + s} for s in range(5)]
    expected = [draw(**p) for p in points]
    assert len(set(expected)) == 5
    assert sweep.map_points(draw, points, workers=1, progress=False) == expected
    assert sweep.map_points(draw, points, workers=2, progress=False) == expected


def test_map_points_names_the_point_that_raised():
    def failing(seed):
        return 1 / (seed - 2)

    for workers in (1, 2):
        with pytest.raises(RuntimeError, match=r"point \{'seed': 2\} raised ZeroDivisionError"):
            sweep.map_points(failing, [{"seed": s} for s in range(4)], workers=workers, progress=False)
    with pytest.raises(ValueError, match="list of dicts"):
        sweep.map_points(failing, [2], workers=1, progress=False)


def test_map_points_stays_in_the_notebooks_process_where_the_runner_gives_it_one_worker(monkeypatch):
    """A report runs one notebook per core and tells its kernels so (points.NOTEBOOK_WORKERS): their points then
    run in the kernel's own process, with no cluster; without the variable, one worker per core as before."""
    from theory_collection import points as dask_points

    def started(*args, **kwargs):
        raise AssertionError("a Dask cluster started")

    monkeypatch.setattr(dask_points, "connect", started)
    monkeypatch.setenv(dask_points.NOTEBOOK_WORKERS, "1")
    assert dask_points.notebook_workers() == 1
    assert dask_points.map_points(lambda seed: seed * 2, [{"seed": s} for s in range(3)], progress=False) == [0, 2, 4]
    monkeypatch.delenv(dask_points.NOTEBOOK_WORKERS)
    assert dask_points.notebook_workers() == dask_points.max_workers()
    with pytest.raises(AssertionError, match="cluster started"):  # the check can fail: two workers start one
        dask_points.map_points(lambda seed: seed, [{"seed": s} for s in range(3)], progress=False)
    for unusable in ("0", "two", ""):
        monkeypatch.setenv(dask_points.NOTEBOOK_WORKERS, unusable)
        assert dask_points.notebook_workers() == dask_points.max_workers()


def test_unattended_kernels_get_one_worker_unless_the_runner_gives_them_more(monkeypatch):
    import asyncio

    from jupyter_client.manager import AsyncKernelManager

    from theory_collection import jupyter_kernels
    from theory_collection.points import NOTEBOOK_WORKERS

    seen = []

    async def record(self, **kw):
        seen.append(kw["env"])

    monkeypatch.setattr(AsyncKernelManager, "start_kernel", record)
    monkeypatch.delenv(NOTEBOOK_WORKERS, raising=False)
    asyncio.run(jupyter_kernels.OneThreadKernelManager().start_kernel())
    asyncio.run(jupyter_kernels.OneThreadKernelManager().start_kernel(env={NOTEBOOK_WORKERS: "2", "PATH": "/bin"}))
    assert seen[0][NOTEBOOK_WORKERS] == "1" and seen[0]["OMP_NUM_THREADS"] == "1"
    assert seen[1][NOTEBOOK_WORKERS] == "2" and seen[1]["OMP_NUM_THREADS"] == "1"
