"""`report` as a hostile user tries it: two reports into one folder at once, a partial run into a full report (the
README's `report --notebook next_token/01` into the default --out), a failing run over a good result, a stale lock,
a report of another profile, a publish stopped between two renames, unusable output folders. Nothing may be lost,
and nothing the report says may be false. On the tiny notebooks of tests/core/fixtures (and, once, next_token/01)."""

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from theory_collection import cli, locks, papers, publishing, runner
from theory_collection.cli import main
from theory_collection.papers import Paper
from theory_collection.runs import BuildInfo, NotebookRun, load_report, write_run_record, write_runs

FIXTURES = Path(__file__).parent / "fixtures"
COMMAND = [sys.executable, "-m", "theory_collection.cli"]


def files_of(out: Path) -> dict[str, bytes]:
    """Every file of a report but the shared assets."""
    return {
        str(p.relative_to(out)): p.read_bytes()
        for p in sorted(out.rglob("*"))
        if p.is_file() and "_static" not in p.relative_to(out).parts
    }


def notebooks(tmp_path: Path) -> Path:
    """01_geometric and 02_slow (the slow fixture, which waits `pause` seconds) in one folder."""
    folder = tmp_path / "notebooks"
    folder.mkdir()
    shutil.copy(FIXTURES / "report" / "01_geometric.ipynb", folder / "01_geometric.ipynb")
    shutil.copy(FIXTURES / "slow" / "01_slow.ipynb", folder / "02_slow.ipynb")
    return folder


@pytest.fixture(scope="module")
def baseline(tmp_path_factory):
    """A complete report of 01_geometric and 02_slow, made once; tests work on copies."""
    root = tmp_path_factory.mktemp("baseline")
    folder = notebooks(root)
    out = root / "out"
    assert main(["report", "--notebooks", str(folder), "--out", str(out)]) == 0
    return folder, out


def copy_of(baseline, tmp_path: Path) -> Path:
    out = tmp_path / "out"
    shutil.copytree(baseline[1], out)
    return out


def test_two_reports_into_one_folder_at_once_lose_nothing_and_misreport_nothing(baseline, tmp_path):
    folder, out = baseline[0], copy_of(baseline, tmp_path)
    earlier = {run.key: run for run in load_report(out)[1]}
    geometric = files_of(out / "notebooks" / "01_geometric")
    marker = tmp_path / "started"
    first = subprocess.Popen(
        [*COMMAND, "report", "--notebooks", str(folder), "--notebook", "02", "--out", str(out)]
        + ["-p", "pause", "6", "-p", "started", str(marker)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 120
        while not marker.exists():  # the first report's kernel is running: it holds the folder
            assert first.poll() is None and time.monotonic() < deadline, first.communicate()
            time.sleep(0.1)
        asked = time.monotonic()
        second = subprocess.run(
            [*COMMAND, "report", "--notebooks", str(folder), "--out", str(out)], capture_output=True, text=True
        )
        refused_in = time.monotonic() - asked
        _, first_err = first.communicate(timeout=180)
    finally:
        if first.poll() is None:
            os.killpg(first.pid, signal.SIGKILL)
    assert second.returncode == 2, second.stderr
    (line,) = second.stderr.strip().splitlines()
    assert f"process {first.pid} on {socket.gethostname()}, started " in line and "report --notebooks" in line
    assert refused_in < 30, "the second report did not refuse at once"
    assert first.returncode == 0, first_err

    info, runs = load_report(out)
    assert [run.key for run in runs] == ["notebooks/01_geometric", "notebooks/02_slow"], "a notebook was lost"
    assert all(run.status == "ok" and run.claims and run.output_dir.is_dir() for run in runs)
    geometric_run, slow_run = runs
    assert files_of(out / "notebooks" / "01_geometric") == geometric, "the notebook the run did not touch changed"
    assert (geometric_run.started, geometric_run.date) == (
        earlier[geometric_run.key].started,
        earlier[geometric_run.key].date,
    )
    assert slow_run.started > earlier[slow_run.key].started and slow_run.overrides["pause"] == 6
    index, summary = (out / "index.html").read_text(), (out / "summary.md").read_text()
    for run in runs:
        assert f'id="{run.key}"' in index and f"| [{run.notebook}](" in summary
        assert run.date in summary, "a notebook's own date is not shown"
    assert not [p.name for p in out.iterdir() if p.name.startswith((".staging", ".retired", ".incomplete", ".lock"))]


def test_the_readme_example_reruns_one_notebook_into_the_default_report_and_keeps_the_others(
    tmp_path, monkeypatch, capsys
):
    """`theory-collection report --notebook next_token/01`, into the default --out that holds a full report."""
    monkeypatch.setattr(cli, "REPO_ROOT", tmp_path)  # the default --out: <repository>/reports/latest
    out = tmp_path / "reports" / "latest"
    others = [
        NotebookRun(
            stem,
            out / paper / stem,
            paper=paper,
            seconds=12.0,
            started=1.0e9,
            date="2001-09-09 01:46 UTC",
            commit="0123456789ab",
            profile="quick",
            claims=[
                {
                    "id": f"X.{stem}",
                    "statement": "s",
                    "theory": 1.0,
                    "measured": 1.0,
                    "tolerance": "rel 0",
                    "holds": True,
                    "kind": "check",
                }
            ],
        )
        for paper, stem in (("topic_structure", "03_value_matrix"), ("next_token", "02_graph_svm"))
    ]
    for run in others:
        run.output_dir.mkdir(parents=True)
        (run.output_dir / "claims.json").write_text(json.dumps(run.claims))
        write_run_record(run)
    write_runs(others, BuildInfo("2001-09-09 01:46 UTC", "0123456789ab", "quick"), out)

    assert main(["report", "--notebook", "next_token/01", "--no-figures"]) == 0
    capsys.readouterr()
    info, runs = load_report(out)
    assert [run.key for run in runs] == [
        "topic_structure/03_value_matrix",
        "next_token/01_token_priority_graphs",
        "next_token/02_graph_svm",
    ], "the partial run did not merge into the report"
    kept = {run.key: run for run in runs}
    for run in others:
        assert (kept[run.key].date, kept[run.key].commit) == ("2001-09-09 01:46 UTC", "0123456789ab")
    new = kept["next_token/01_token_priority_graphs"]
    assert new.claims and new.status == "ok" and new.date != "2001-09-09 01:46 UTC"
    summary = (out / "summary.md").read_text()
    for run in runs:
        assert run.notebook in summary and run.date in summary
    assert "X.02_graph_svm" in (out / "index.html").read_text()


def test_a_failing_run_is_kept_beside_the_good_result_it_does_not_replace(baseline, tmp_path, capsys):
    folder, out = baseline[0], copy_of(baseline, tmp_path)
    good = files_of(out / "notebooks" / "01_geometric")
    argv = ["report", "--notebooks", str(folder), "--notebook", "01", "--out", str(out), "--no-figures"]
    assert main([*argv, "-p", "terms", "0"]) == 1  # the notebook refuses 0 terms in its kernel
    capsys.readouterr()
    kept = out / "notebooks" / "01_geometric"
    assert {k: v for k, v in files_of(kept).items() if not k.startswith("failed_attempt/")} == good, (
        "the failed run replaced the good result"
    )
    attempt = json.loads((kept / "failed_attempt" / "run.json").read_text())
    assert (
        "terms must be an integer >= 1" in attempt["error"]
        and (kept / "failed_attempt" / "01_geometric.ipynb").is_file()
    )

    info, runs = load_report(out)
    run = runs[0]
    assert run.status == "ok" and run.claims and run.attempt is not None and run.attempt.error == attempt["error"]
    summary, index = (out / "summary.md").read_text(), (out / "index.html").read_text()
    assert "**01_geometric: a newer attempt failed**" in summary and attempt["date"] in summary
    assert "terms must be an integer &gt;= 1" in index and "failed_attempt/01_geometric.ipynb" in index
    entry = json.loads((out / "runs.json").read_text())["runs"][0]
    assert entry["error"] == "" and entry["failed_attempt"]["error"] == attempt["error"]

    assert main(argv) == 0  # a good run replaces the result, and the failed attempt goes with it
    assert not (kept / "failed_attempt").exists() and load_report(out)[1][0].attempt is None


def test_a_stale_lock_is_taken_over_and_said_so(baseline, tmp_path, capsys):
    folder, out = baseline[0], copy_of(baseline, tmp_path)
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    record = {"pid": gone.pid, "host": socket.gethostname(), "started": "2026-01-01 00:00 UTC", "command": "killed"}
    (out / locks.LOCK_FILE).write_text(json.dumps(record))
    (out / ".staging-left" / "notebooks" / "02_slow").mkdir(parents=True)  # what the killed run left
    assert main(["report", "--notebooks", str(folder), "--notebook", "01", "--out", str(out)]) == 0
    err = capsys.readouterr().err
    assert f"took over a stale lock of {out} (process {gone.pid} on" in err and "its process is gone" in err
    assert not (out / ".staging-left").exists() and not (out / locks.LOCK_FILE).exists()


def test_a_report_into_a_folder_another_process_holds_refuses_at_once(baseline, tmp_path, capsys, lock_held):
    folder, out = baseline[0], copy_of(baseline, tmp_path)
    before = files_of(out)
    with lock_held(out) as holder:
        assert main(["report", "--notebooks", str(folder), "--out", str(out)]) == 2
        (line,) = capsys.readouterr().err.strip().splitlines()
        assert f"is in use by another run (process {holder.pid} on" in line
    assert files_of(out) == {**before, locks.LOCK_FILE: (out / locks.LOCK_FILE).read_bytes()}


def test_a_run_of_another_profile_is_refused_naming_both(baseline, tmp_path, capsys):
    folder, out = baseline[0], copy_of(baseline, tmp_path)
    before = files_of(out)
    assert (
        main(["report", "--notebooks", str(folder), "--notebook", "01", "--profile", "paper", "--out", str(out)]) == 2
    )
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert "holds a report of the quick profile and this run is of the paper profile" in line
    assert "choose another --out" in line and files_of(out) == before


def test_a_publish_stopped_between_two_renames_is_repaired_by_the_next_run(baseline, tmp_path, capsys, monkeypatch):
    """Where the folders cannot be exchanged in one step, a kill between the two renames leaves the notebook's
    folder retired; the report then says it is missing, and the next run puts it back."""
    folder, out = baseline[0], copy_of(baseline, tmp_path)
    geometric = files_of(out / "notebooks" / "01_geometric")
    retired = out / ".retired-stopped"
    (retired / "notebooks").mkdir(parents=True)
    (out / "notebooks" / "01_geometric").rename(retired / "notebooks" / "01_geometric")
    publishing.mark_incomplete(out, ["notebooks/01_geometric"], retired)
    run = load_report(out)[1][0]
    assert run.status == "missing" and "not in the report" in run.error, "a folder that is not there was listed as ok"

    monkeypatch.setattr(publishing, "exchange", lambda first, second: False)  # the two-rename route
    assert main(["report", "--notebooks", str(folder), "--notebook", "02", "--out", str(out)]) == 0
    assert "restored notebooks/01_geometric" in capsys.readouterr().err
    assert files_of(out / "notebooks" / "01_geometric") == geometric
    assert [run.status for run in load_report(out)[1]] == ["ok", "ok"]
    assert not (out / runner.INCOMPLETE).exists() and not retired.exists()


@pytest.mark.parametrize(
    "damage, message",
    [
        ("a file", "exists and is not a directory"),
        ("inside a file", "is not a directory"),
        ("runs.json without runs", "'runs' is missing or not a list; cannot merge into it"),
        ("runs.json not JSON", "no readable runs.json"),
    ],
)
def test_an_unusable_out_exits_2_in_one_line_before_any_work(tmp_path, capsys, damage, message):
    out = tmp_path / "out"
    if damage == "a file":
        out.write_text("x")
    elif damage == "inside a file":
        (tmp_path / "file").write_text("x")
        out = tmp_path / "file" / "out"
    else:
        out.mkdir()
        (out / "runs.json").write_text('{"profile": "quick"}' if damage == "runs.json without runs" else "{oops")
    before = files_of(tmp_path)
    assert main(["report", "--notebooks", str(FIXTURES / "report"), "--out", str(out)]) == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert message in line and files_of(tmp_path) == before


def test_estimates_are_printed_and_a_run_past_the_time_limit_is_refused_before_any_work(tmp_path, monkeypatch, capsys):
    registered = papers.registered()
    paper = Paper(
        name="report",
        title="report",
        citation="",
        url="",
        memory_estimate=lambda stem, values: 1000 * values["terms"],
        time_estimate=lambda stem, values: 0.5 * values["terms"],
    )
    monkeypatch.setattr(papers, "registered", lambda: {**registered, "report": paper})
    argv = ["report", "--notebooks", str(FIXTURES / "report"), "--notebook", "01", "-p", "terms", "40", "--no-figures"]
    assert main([*argv, "--out", str(tmp_path / "within")]) == 0
    assert "01_geometric: estimated 40 kB of memory and 20 s on one core" in capsys.readouterr().err

    monkeypatch.setenv("THEORY_COLLECTION_TIME_LIMIT_SECONDS", "10")
    assert main([*argv, "--out", str(tmp_path / "past")]) == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert "01_geometric (quick profile): at terms=40 it would run about 20 s on one core, more than the 10 s" in line
    assert not (tmp_path / "past").exists()
    assert runner.time_limit_seconds() == 10.0 and runner.seconds_text(3 * 86400) == "3 days"


@pytest.mark.parametrize(
    "address, message", [("localhost:8786", "scheduler must be an address like"), (None, "cannot reach")]
)
def test_a_scheduler_that_is_malformed_or_does_not_answer_exits_2_before_anything_is_written(
    tmp_path, capsys, address, message
):
    if address is None:
        with socket.socket() as probe:  # a port nobody listens on
            probe.bind(("127.0.0.1", 0))
            address = f"tcp://127.0.0.1:{probe.getsockname()[1]}"
    out = tmp_path / "out"
    argv = ["report", "--notebooks", str(FIXTURES / "report"), "--out", str(out), "--scheduler", address]
    assert main([*argv, "--connect-timeout", "2"]) == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert message in line and not out.exists()
