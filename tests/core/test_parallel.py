"""A report runs notebooks side by side (``--jobs``), each kernel on one compute thread, and lists the runs
in the notebooks' order. The fixture notebook (fixtures/meet) leaves a mark and waits for the others' marks:
the notebooks meet only if they run at the same time, so the test needs no clock."""

import dataclasses
import json
import shutil
from pathlib import Path

import pytest

from theory_collection import runner, verdicts
from theory_collection.cli import main

MEET = Path(__file__).parent / "fixtures" / "meet" / "meet.ipynb"


def meeting(tmp_path: Path, count: int) -> list[Path]:
    folder = tmp_path / "notebooks"
    folder.mkdir()
    for number in range(1, count + 1):
        shutil.copy(MEET, folder / f"{number:02d}_meet.ipynb")
    return runner.select_notebooks(None, folder)


def claim_verdicts(run: runner.NotebookRun) -> dict[str, str]:
    return {claim["id"]: claim["verdict"] for claim in run.claims}


def test_jobs_run_notebooks_side_by_side_on_one_thread_each(tmp_path):
    paths = meeting(tmp_path, 3)
    runs = runner.run_notebooks(paths, tmp_path / "out", overrides={"party": 3}, progress=False, html=False, jobs=3)
    assert [run.notebook for run in runs] == ["01_meet", "02_meet", "03_meet"]
    assert [run.error for run in runs] == ["", "", ""]
    assert all(claim_verdicts(run) == {"M1": "holds", "M2": "holds"} for run in runs)


def test_one_job_runs_them_one_after_another(tmp_path):
    """The same meeting with one job: the first notebook waits alone, so the check can fail."""
    paths = meeting(tmp_path, 2)
    overrides = {"party": 2, "patience": 1.0}
    runs = runner.run_notebooks(paths, tmp_path / "out", overrides=overrides, progress=False, html=False, jobs=1)
    assert claim_verdicts(runs[0])["M1"] == "fails"  # alone
    assert claim_verdicts(runs[1])["M1"] == "holds"  # the first one's mark is there
    assert claim_verdicts(runs[0])["M2"] == "holds"


def test_the_longest_notebooks_of_the_previous_run_start_first(tmp_path):
    paths = meeting(tmp_path, 3)
    out = tmp_path / "out"
    out.mkdir()
    previous = [
        {"paper": "notebooks", "notebook": f"0{n}_meet", "seconds": s, "error": ""}
        for n, s in ((1, 1.0), (2, 9.0), (3, 5.0))
    ]
    (out / runner.RUNS_FILE).write_text(json.dumps({"profile": "quick", "runs": previous}))
    assert runner.previous_seconds(out, "quick") == {
        "notebooks/01_meet": 1.0,
        "notebooks/02_meet": 9.0,
        "notebooks/03_meet": 5.0,
    }
    assert runner.previous_seconds(out, "paper") == {}, "another profile's times say nothing"
    # one job, party of 2: only the notebook that starts first finds no one; here that is 02
    runs = runner.run_notebooks(paths, out, overrides={"party": 2, "patience": 1.0}, progress=False, html=False, jobs=1)
    assert [run.notebook for run in runs] == ["01_meet", "02_meet", "03_meet"]
    assert {run.notebook: claim_verdicts(run)["M1"] for run in runs} == {
        "01_meet": "holds",
        "02_meet": "fails",
        "03_meet": "holds",
    }


def test_without_an_earlier_report_the_notebooks_that_took_longest_when_committed_start_first(tmp_path):
    paths = meeting(tmp_path, 3)
    for path, seconds in zip(paths, (1, 9, 5)):
        notebook = json.loads(path.read_text())
        notebook["metadata"][runner.TIMING_METADATA] = {"default_profile_seconds": seconds}
        path.write_text(json.dumps(notebook))
    assert runner.committed_seconds(paths) == {
        "notebooks/01_meet": 1.0,
        "notebooks/02_meet": 9.0,
        "notebooks/03_meet": 5.0,
    }
    # one job, party of 2: only the notebook that starts first finds no one; here that is 02
    overrides = {"party": 2, "patience": 1.0}
    runs = runner.run_notebooks(paths, tmp_path / "out", overrides=overrides, progress=False, html=False, jobs=1)
    assert {run.notebook: claim_verdicts(run)["M1"] for run in runs} == {
        "01_meet": "holds",
        "02_meet": "fails",
        "03_meet": "holds",
    }


@pytest.mark.parametrize("jobs", [0, 65])
def test_bad_jobs_exit_2_before_any_work(tmp_path, capsys, jobs):
    out = tmp_path / "out"
    meeting(tmp_path, 1)
    assert main(["report", "--notebooks", str(tmp_path / "notebooks"), "--out", str(out), "--jobs", str(jobs)]) == 2
    assert "--jobs must be an integer in [1, 64]" in capsys.readouterr().err
    assert not out.exists(), "work started despite bad input"


def test_the_report_gives_notebook_time_and_wall_time():
    def run(name, started, seconds):
        return runner.NotebookRun(name, Path(name), paper="p", seconds=seconds, started=started)

    side_by_side = [run("01", 1000.0, 300.0), run("02", 1000.5, 100.0), run("03", 1100.5, 250.0)]
    assert verdicts.time_text(side_by_side) == (
        "650 s for 3 notebooks, 350 s (5.8 min) of wall time with up to 2 side by side"
    )
    one_after_another = [run("01", 1000.0, 300.0), run("02", 1300.0, 100.0)]
    assert verdicts.time_text(one_after_another).endswith("400 s (6.7 min) of wall time with up to 1 side by side")
    unrecorded = [run("01", 0.0, 300.0), run("02", 1300.0, 100.0)]
    assert verdicts.time_text(unrecorded) == "400 s for 2 notebooks", "a report from before start times were kept"


def test_a_notebook_waits_while_its_memory_estimate_does_not_fit_beside_those_running(tmp_path, monkeypatch):
    """Two jobs, but each notebook plans 600 bytes of a 1,000-byte budget: they run one after the other."""
    prepare = runner.prepare

    def with_estimates(*args, **kwargs):
        return [dataclasses.replace(item, memory=600) for item in prepare(*args, **kwargs)]

    monkeypatch.setattr(runner, "prepare", with_estimates)
    monkeypatch.setenv("THEORY_COLLECTION_MEMORY_BYTES", "1000")
    paths = meeting(tmp_path, 2)
    overrides = {"party": 2, "patience": 1.0}
    runs = runner.run_notebooks(paths, tmp_path / "out", overrides=overrides, progress=False, html=False, jobs=2)
    assert [claim_verdicts(run)["M1"] for run in runs] == ["fails", "holds"]


def test_one_process_runs_a_sides_notebooks_in_turn_and_a_new_one_follows_one_that_died(tmp_path):
    from theory_collection.execution import NotebookProcess

    paths = meeting(tmp_path, 2)
    process = NotebookProcess()
    try:
        first = process.run(paths[0], tmp_path / "one", {"party": 1, "output_dir": str(tmp_path / "one")})
        child = process._child
        second = process.run(paths[1], tmp_path / "two", {"party": 1, "output_dir": str(tmp_path / "two")})
        assert first.error == second.error == "" and first.claims and second.claims
        assert process._child is child, "the second notebook ran in the first one's process"
        child.kill()
        child.wait()
        lost = process.run(paths[0], tmp_path / "three", {"party": 1, "output_dir": str(tmp_path / "three")})
        assert lost.error.startswith("the notebook's process ended with exit code -9")
        again = process.run(paths[0], tmp_path / "four", {"party": 1, "output_dir": str(tmp_path / "four")})
        assert again.error == "" and process._child is not child
    finally:
        process.close()
    assert process._child is None
