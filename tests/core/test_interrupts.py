"""A report killed or interrupted mid-run leaves the earlier report as it was; Ctrl-C stops a sweep
tidily (results.csv for what finished, how to resume). The command runs in a subprocess on the tiny
notebooks of tests/core/fixtures, one of which (slow/01_slow) waits while the test interrupts it."""

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd

from theory_collection import locks, runner

FIXTURES = Path(__file__).parent / "fixtures"
COMMAND = [sys.executable, "-m", "theory_collection.cli"]


def _interruptible() -> None:
    # A shell without job control starts background jobs with SIGINT ignored, and Python then never
    # raises KeyboardInterrupt; a user at a terminal has it delivered, which is what these tests act out.
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def start(argv, **kwargs) -> subprocess.Popen:
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    return subprocess.Popen(
        [*COMMAND, *argv],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        start_new_session=True,
        preexec_fn=_interruptible,
        **kwargs,
    )


def wait_for(path: Path, process: subprocess.Popen, seconds: float = 120) -> None:
    deadline = time.monotonic() + seconds
    while not (path.exists() and path.read_text().strip()):
        if process.poll() is not None:
            raise AssertionError(f"the command ended before {path.name} appeared: {process.communicate()}")
        if time.monotonic() > deadline:
            process.kill()
            raise AssertionError(f"{path.name} did not appear within {seconds} s")
        time.sleep(0.2)


def kill_kernel(marker: Path) -> None:
    try:
        os.kill(int(marker.read_text()), signal.SIGKILL)
    except (ProcessLookupError, ValueError):
        pass


def snapshot(out: Path) -> dict[str, bytes]:
    """Every file of a report but the staging area and the lock record a killed run may leave (hidden, cleared
    or taken over by the next run)."""
    return {
        str(p.relative_to(out)): p.read_bytes()
        for p in sorted(out.rglob("*"))
        if p.is_file()
        and "_static" not in p.relative_to(out).parts
        and not p.relative_to(out).parts[0].startswith((runner.STAGING, locks.LOCK_FILE))
    }


def staged(out: Path) -> list[Path]:
    """The staging folders of runs into ``out`` (each run has its own)."""
    return sorted(out.glob(f"{runner.STAGING}*"))


def test_interrupted_or_killed_report_leaves_the_earlier_report_as_it_was(tmp_path):
    folder = tmp_path / "notebooks"
    folder.mkdir()
    shutil.copy(FIXTURES / "report" / "01_geometric.ipynb", folder / "01_geometric.ipynb")
    shutil.copy(FIXTURES / "slow" / "01_slow.ipynb", folder / "02_slow.ipynb")
    out = tmp_path / "out"
    done = subprocess.run(
        [*COMMAND, "report", "--notebooks", str(folder), "--out", str(out)], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    before = snapshot(out)
    assert "notebooks/01_geometric/claims.json" in before and "notebooks/02_slow/claims.json" in before

    # Ctrl-C while 02 runs (02 alone: the kill below covers a notebook that finished before the stop)
    marker = tmp_path / "started"
    slow = ["-p", "pause", "120", "-p", "started", str(marker)]
    process = start(["report", "--notebooks", str(folder), "--notebook", "02", "--out", str(out), *slow])
    wait_for(marker, process)
    os.kill(process.pid, signal.SIGINT)
    try:
        _, err = process.communicate(timeout=60)
    finally:
        kill_kernel(marker)
    assert process.returncode == 130
    assert "interrupted; the report in" in err and "is unchanged" in err and "Traceback" not in err
    assert snapshot(out) == before, "an interrupted report changed the report it was replacing"
    assert not staged(out)

    # killed (no chance to tidy up) while 02 runs; 01 has run again first, with 5 terms, so its claim now fails
    marker.unlink()
    process = start(["report", "--notebooks", str(folder), "--out", str(out), "-p", "terms", "5", *slow])
    wait_for(marker, process)
    (staging,) = staged(out)  # this run's own
    staged_claims = staging / "notebooks" / "01_geometric" / "claims.json"
    wait_for(staged_claims, process)  # 01 runs beside 02 (--jobs): the kill must come after it has finished
    os.killpg(process.pid, signal.SIGKILL)
    kill_kernel(marker)
    process.wait(30)
    assert snapshot(out) == before, "a killed report changed the report it was replacing"

    claims = json.loads(staged_claims.read_text())
    assert claims[0]["verdict"] == "fails", "01 did not finish in the killed run: the test did not cover it"
    # the staging area holds what the killed run had done; the next run starts by clearing it


def test_ctrl_c_stops_a_sweep_writes_results_and_says_how_to_resume(tmp_path):
    marker = tmp_path / "started"
    grid = tmp_path / "grid.yaml"
    out = tmp_path / "out"
    grid.write_text(
        f"notebook: {FIXTURES / 'slow' / '01_slow.ipynb'}\nparameters:\n  pause: [0, 120]\n  started: [{marker}]\n"
    )
    process = start(["sweep", str(grid), "--workers", "1", "--out", str(out)])
    wait_for(marker, process)  # with one worker, the quick point has finished when the slow one starts
    time.sleep(1.0)  # the quick point's result has reached the client
    os.kill(process.pid, signal.SIGINT)
    try:
        stdout, err = process.communicate(timeout=90)
    finally:
        kill_kernel(marker)
    assert process.returncode == 130, err
    assert "Traceback" not in err and "KeyboardInterrupt" not in err
    assert "interrupted; 1 of 2 points finished and are in results.csv" in err
    assert "Run the same command again to resume" in err
    table = pd.read_csv(out / "results.csv")
    assert list(table["status"]) == ["ok", "not run"]
    assert (out / "sweep_summary.png").is_file()
