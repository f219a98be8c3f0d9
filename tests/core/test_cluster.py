"""Sweeps and reports on a real Dask cluster whose workers share no disk with the client: a ``dask scheduler`` and
two ``dask worker`` processes on 127.0.0.1, each started in a temporary folder of its own (its working directory,
home and TMPDIR), while the client's ``--out`` is elsewhere. Each executed notebook in ``<out>`` shows that it ran
in a worker's folder (the ``output_dir`` papermill gave it), so its files reached ``<out>`` through Dask. The
processes are always stopped."""

import html
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
import pandas as pd
import pytest

from theory_collection import pages
from theory_collection.cli import main

FIXTURES = Path(__file__).parent / "fixtures"
DASK = Path(sys.executable).parent / "dask"


@dataclass
class Cluster:
    address: str
    root: Path  # the workers' folders are under it
    processes: list[subprocess.Popen] = field(default_factory=list)
    worker_dirs: list[Path] = field(default_factory=list)

    def environment(self, folder: Path) -> dict[str, str]:
        """A worker's environment: its own home and temporary folder."""
        return dict(os.environ, HOME=str(folder), TMPDIR=str(folder / "tmp"), MPLCONFIGDIR=str(folder / "mpl"))

    def start_worker(self, name: str, *extra: str) -> subprocess.Popen:
        folder = self.root / name
        (folder / "tmp").mkdir(parents=True)
        command = [str(DASK), "worker", self.address, "--name", name, "--nthreads", "1", "--nworkers", "1"]
        command += ["--no-dashboard", "--host", "127.0.0.1", "--death-timeout", "60", *extra]
        command += ["--local-directory", str(folder / "dask")]
        process = subprocess.Popen(
            command,
            cwd=folder,
            env=self.environment(folder),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        self.processes.append(process)
        self.worker_dirs.append(folder)
        return process

    def wait_for_workers(self, count: int, seconds: float = 120) -> None:
        from distributed import Client

        with Client(self.address, timeout="30s") as client:
            deadline = time.monotonic() + seconds
            while len(client.scheduler_info(n_workers=-1)["workers"]) != count:
                assert time.monotonic() < deadline, f"the cluster did not reach {count} workers"
                assert all(p.poll() is None for p in self.processes), "a cluster process ended"
                time.sleep(0.2)

    def stop(self, process: subprocess.Popen | None = None) -> None:
        for p in [process] if process else self.processes:
            try:
                os.killpg(p.pid, signal.SIGTERM)
                p.wait(20)
            except (ProcessLookupError, subprocess.TimeoutExpired):
                try:
                    os.killpg(p.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                p.wait(10)


@pytest.fixture(scope="module")
def cluster():
    root = Path(tempfile.mkdtemp(prefix="theory-collection-cluster-"))  # apart from the client's tmp_path
    (root / "scheduler").mkdir()
    running = Cluster("", root)
    try:
        scheduler_file = root / "scheduler" / "scheduler.json"
        running.processes.append(
            subprocess.Popen(
                [str(DASK), "scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard"]
                + ["--scheduler-file", str(scheduler_file)],
                cwd=root / "scheduler",
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                start_new_session=True,
            )
        )
        deadline = time.monotonic() + 60
        while not (scheduler_file.exists() and scheduler_file.read_text().strip()):
            assert time.monotonic() < deadline and running.processes[0].poll() is None, "the scheduler did not start"
            time.sleep(0.1)
        running.address = json.loads(scheduler_file.read_text())["address"]
        for number in (1, 2):
            running.start_worker(f"worker{number}")
        running.wait_for_workers(2)
        yield running
    finally:
        running.stop()
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def out(tmp_path):
    """The client's --out."""
    return tmp_path / "client" / "out"


def injected_output_dir(executed: Path) -> str:
    return pages.injected_output_dir(nbformat.read(executed, as_version=4))


def ran_in_a_worker_folder(executed: Path, cluster: Cluster, out: Path) -> bool:
    where = injected_output_dir(executed)
    return any(where.startswith(str(folder)) for folder in cluster.worker_dirs) and str(out) not in where


def test_a_sweep_runs_on_the_workers_and_its_files_come_back_resume_included(cluster, out, tmp_path, capsys):
    grid = tmp_path / "grid.yaml"
    grid.write_text(f"notebook: {FIXTURES / 'geometric_point.ipynb'}\nparameters: {{ratio: [0.5, 0.9], terms: [40]}}\n")
    assert main(["sweep", str(grid), "--scheduler", cluster.address, "--out", str(out)]) == 0
    table = pd.read_csv(out / "results.csv")
    assert list(table["status"]) == ["ok", "claims fail"]  # 0.9**40 is still far from its limit
    assert table["G1.measured"].tolist() == pytest.approx([sum(r**k for k in range(40)) for r in (0.5, 0.9)])
    for point in table["point"]:
        folder = out / point
        executed, status = folder / "geometric_point.ipynb", json.loads((folder / "status.json").read_text())
        assert (folder / "claims.json").is_file() and executed.is_file()
        assert set(status["files"]) == {"claims.json", "geometric_point.ipynb"}
        assert ran_in_a_worker_folder(executed, cluster, out), "the point did not run in a worker's own folder"
        assert re.match(r".+:.*worker[12]", status["ran_on"])
    assert (out / "sweep_summary.png").is_file()

    # resume: a deleted claims.json makes its point run again; the other point is left alone
    damaged, whole = out / table["point"][0], out / table["point"][1]
    before = (whole / "status.json").stat().st_mtime_ns
    (damaged / "claims.json").unlink()
    capsys.readouterr()
    assert main(["sweep", str(grid), "--scheduler", cluster.address, "--out", str(out)]) == 0
    captured = capsys.readouterr()
    assert "1 of 2 points already finished" in captured.out
    assert f"{damaged.name}: claims.json is missing; running it again" in captured.err
    assert (damaged / "claims.json").is_file() and (whole / "status.json").stat().st_mtime_ns == before
    assert list(pd.read_csv(out / "results.csv")["status"]) == ["ok", "claims fail"]


def test_a_report_runs_on_the_workers_and_its_folders_come_back(cluster, out, capsys):
    code = main(["report", "--notebooks", str(FIXTURES / "report"), "--out", str(out), "--scheduler", cluster.address])
    assert code == 1  # 02_broken raises in its fifth cell
    capsys.readouterr()
    folder = out / "report" / "01_geometric"
    for name in ("01_geometric.ipynb", "01_geometric.html", "claims.json", "run.json", "partial_sums.csv"):
        assert (folder / name).is_file(), f"{name} did not come back"
    assert (folder / "figures" / "01_geometric_partial_sums.png").is_file()
    assert ran_in_a_worker_folder(folder / "01_geometric.ipynb", cluster, out)
    page = (folder / "01_geometric.html").read_text()
    text = html.unescape(re.sub(r"<[^>]+>", "", page))
    assert 'output_dir = "report/01_geometric"' in text, "the worker's folder is not shown relative to the report"
    assert "worker1" not in page and "worker2" not in page, "a worker's folder shows in the page"
    assert 'href="../THEORY.html' in page, "the page does not find the theory notes beside its notebook"
    summary = (out / "summary.md").read_text()
    assert "**02_broken failed**: cell In [5] `ratio = 1 / 0" in summary
    assert json.loads((folder / "claims.json").read_text())[0]["verdict"] == "holds"


def test_a_worker_of_another_collection_is_refused_by_name_before_any_point_runs(cluster, out, tmp_path, capsys):
    preload = cluster.root / "another_commit.py"
    preload.write_text(
        "import theory_collection.cluster as c\n"
        "real = getattr(c.identity, 'real', c.identity)  # the worker may load this file more than once\n"
        "c.identity = lambda: {**real(), 'commit': '0123456789ab (another checkout)'}\n"
        "c.identity.real = real\n"
    )
    other = cluster.start_worker("stranger", "--preload", str(preload))
    try:
        cluster.wait_for_workers(3)
        grid = tmp_path / "grid.yaml"
        grid.write_text(f"notebook: {FIXTURES / 'geometric_point.ipynb'}\nparameters:\n  terms: [5]\n")
        assert main(["sweep", str(grid), "--scheduler", cluster.address, "--out", str(out)]) == 2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and "0123456789ab (another checkout)" in err
        assert re.search(r"worker tcp://127\.0\.0\.1:\d+ runs theory-collection", err) and "commit differ" in err
        assert not out.exists(), "work started despite the mismatch"
    finally:
        cluster.stop(other)
