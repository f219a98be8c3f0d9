"""`sweep` as a hostile user tries it: a dataset file replaced (and made invalid) under a finished sweep, a point's
claims.json deleted or corrupted or its notebook edited, boolean claims (every sweep of next-token 01 or 02 used to
end in a traceback after all its compute), a folder another run holds. A sweep must never call a stale or damaged
point finished, and must always end with its summary."""

import json
import math
from pathlib import Path

import pandas as pd
import pytest

from theory_collection import papers, sweep
from theory_collection.cli import main
from theory_collection.papers import Paper
from theory_collection.sweep_results import number, summary_figure

FIXTURES = Path(__file__).parent / "fixtures"
RATIO_FILE = FIXTURES / "files" / "ratio_file.ipynb"


@pytest.fixture(scope="module")
def scheduler():
    """One in-process cluster for the module (the sweeps under test start none of their own)."""
    from distributed import LocalCluster

    with LocalCluster(
        n_workers=1, threads_per_worker=2, processes=False, protocol="tcp://", dashboard_address=None
    ) as cluster:
        yield cluster.scheduler_address


@pytest.fixture
def files_paper(monkeypatch):
    """The fixture folder registered as a paper whose ``ratio_file`` is a file-valued parameter."""
    registered = papers.registered()
    paper = Paper(name="files", title="files", citation="", url="", file_parameters=("ratio_file",))
    monkeypatch.setattr(papers, "registered", lambda: {**registered, "files": paper})
    return paper


def sweep_into(out: Path, grid: Path, scheduler: str) -> int:
    return main(["sweep", str(grid), "--scheduler", scheduler, "--out", str(out)])


def test_a_replaced_or_broken_dataset_file_reruns_its_point(tmp_path, scheduler, files_paper, capsys):
    data = tmp_path / "ratio.json"
    data.write_text(json.dumps({"ratio": 0.5}))
    grid = tmp_path / "grid.yaml"
    grid.write_text(f"notebook: {RATIO_FILE}\nparameters: {{terms: [40]}}\nfixed: {{ratio_file: {data}}}\n")
    out = tmp_path / "out"
    assert sweep_into(out, grid, scheduler) == 0
    (status,) = [json.loads(p.read_text()) for p in out.glob("*/status.json")]
    assert set(status["fingerprint"]["files_sha256"]) == {"ratio_file"}
    assert pd.read_csv(out / "results.csv")["F1.measured"].tolist() == pytest.approx([2.0], rel=1e-9)

    data.write_text(json.dumps({"ratio": 0.9}))  # the same path, other contents
    stale = sweep.results_table(sweep.load_grid(grid), out)
    assert list(stale["status"]) == ["stale"] and "files_sha256 differ" in stale["error"][0]
    capsys.readouterr()
    assert sweep_into(out, grid, scheduler) == 0
    assert "already finished" not in capsys.readouterr().out, "a point of other file contents counted as finished"
    measured = pd.read_csv(out / "results.csv")["F1.measured"].tolist()
    assert measured == pytest.approx([sum(0.9**k for k in range(40))])

    data.write_text("{not json")  # broken: the point runs again and fails, it is not 'already finished'
    assert sweep_into(out, grid, scheduler) == 1
    table = pd.read_csv(out / "results.csv")
    assert list(table["status"]) == ["error"] and "JSONDecodeError" in table["error"][0]


def test_deleted_corrupted_or_edited_files_make_their_points_run_again(tmp_path, scheduler, capsys):
    from jupyter_core.utils import ensure_event_loop

    # What an earlier notebook run in this thread leaves behind: its event loop, in a context variable that Dask
    # copies into the tasks this thread submits. Two points side by side must not both be handed that loop.
    ensure_event_loop()
    grid = tmp_path / "grid.yaml"
    grid.write_text(f"notebook: {FIXTURES / 'geometric_point.ipynb'}\nparameters: {{terms: [30, 40, 50]}}\n")
    out = tmp_path / "out"
    assert sweep_into(out, grid, scheduler) == 0
    deleted, corrupted, edited = (out / f"terms={n}" for n in (30, 40, 50))
    (deleted / "claims.json").unlink()
    (corrupted / "claims.json").write_text('[{"id": "G1", ')
    executed = edited / "geometric_point.ipynb"
    executed.write_text(executed.read_text().replace("partial", "partiel"))
    table = sweep.results_table(sweep.load_grid(grid), out)
    assert list(table["status"]) == ["damaged"] * 3
    assert not any(column.endswith(".measured") for column in table.columns), "a damaged point's values were reported"
    assert "claims.json is missing" in table["error"][0] and "claims.json was changed" in table["error"][1]
    assert "geometric_point.ipynb was changed" in table["error"][2]

    capsys.readouterr()
    assert sweep_into(out, grid, scheduler) == 0
    err = capsys.readouterr().err
    assert f"{deleted.name}: claims.json is missing; running it again" in err
    assert f"{corrupted.name}: claims.json was changed after the run; running it again" in err
    assert f"{edited.name}: geometric_point.ipynb was changed after the run; running it again" in err
    table = pd.read_csv(out / "results.csv")
    assert list(table["status"]) == ["ok"] * 3 and table["G1.verdict"].tolist() == ["holds"] * 3
    assert "partiel" not in executed.read_text()


def test_boolean_inconclusive_and_text_claims_are_shown_as_verdicts(tmp_path):
    table = pd.DataFrame(
        {
            "seed": [0, 1, 2],
            "point": ["seed=0", "seed=1", "seed=2"],
            "B.theory": [True, True, True],  # a column of booleans only: pandas refuses to divide it
            "B.measured": [True, False, True],
            "B.verdict": ["holds", "FAILS", "holds"],
            "N.theory": [2.0, 2.0, 2.0],
            "N.measured": [2.0, 1.9, float("nan")],
            "N.verdict": ["holds", "inconclusive", None],
            "T.theory": [None, None, None],
            "T.measured": ["scc {0, 1}", "scc {2}", None],
            "T.verdict": ["observed", "observed", None],
        }
    )
    paths = summary_figure(table, "booleans", "seed", tmp_path)
    assert all(path.stat().st_size > 1000 for path in paths)
    assert [number(v) for v in (2, 1.5)] == [2.0, 1.5]
    assert all(math.isnan(number(v)) for v in (True, False, None, "x", [1.0], float("inf")))


def test_a_sweep_of_a_notebook_with_boolean_claims_ends_with_its_summary(tmp_path, scheduler, capsys):
    """next_token/01: its claims include booleans (a label on top of its sequence, say)."""
    grid = tmp_path / "grid.yaml"
    grid.write_text("notebook: next_token/01\nparameters: {seed: [0]}\n")
    out = tmp_path / "out"
    assert sweep_into(out, grid, scheduler) == 0, capsys.readouterr().err
    table = pd.read_csv(out / "results.csv")
    assert list(table["status"]) == ["ok"] and (out / "sweep_summary.png").stat().st_size > 10_000
    assert any(column.endswith(".verdict") for column in table.columns)


def test_a_sweep_into_a_folder_another_run_holds_refuses_before_a_cluster_starts(
    tmp_path, capsys, monkeypatch, lock_held
):
    out = tmp_path / "out"
    grid = tmp_path / "grid.yaml"
    grid.write_text(f"notebook: {FIXTURES / 'geometric_point.ipynb'}\nparameters: {{terms: [5]}}\n")
    monkeypatch.setattr(sweep, "connect", lambda *a, **k: pytest.fail("a cluster started for a folder in use"))
    with lock_held(out) as holder:
        assert main(["sweep", str(grid), "--out", str(out)]) == 2
        (line,) = capsys.readouterr().err.strip().splitlines()
        assert f"is in use by another run (process {holder.pid} on" in line and "before this sweep" in line
    assert [p.name for p in out.iterdir()] == [".lock"], "the sweep wrote into a folder another run holds"
