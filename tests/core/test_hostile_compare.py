"""`compare` as a hostile user tries it: a failed notebook, a missing claims.json or folder, an .incomplete.json, a
failed newer attempt beside a kept result, runs.json with missing keys or names that leave the report, folders
that are not reports, an unusable --out, two reports of the same profile. Each report is written by the core's
own writers (no kernel runs here)."""

import json
from pathlib import Path

import pytest

from theory_collection import compare, publishing
from theory_collection.cli import main
from theory_collection.runs import BuildInfo, NotebookRun, write_run_record, write_runs


def claim(claim_id: str, verdict: str = "holds") -> dict:
    return {
        "id": claim_id,
        "kind": "prediction",
        "statement": f"statement of {claim_id}",
        "theory": 1.0,
        "measured": 1.0,
        "tolerance": "rel 0",
        "verdict": verdict,
        "holds": verdict == "holds",
        "data": "synthetic",
    }


def write_report(out: Path, profile: str = "quick", date: str = "2026-12-01 10:00 UTC", commit: str = "aaaa") -> Path:
    """Two notebooks that ran through, with their claims, folders and records."""
    runs = [
        NotebookRun(
            stem,
            out / "topic_structure" / stem,
            paper="topic_structure",
            seconds=10.0,
            started=1.0e9,
            date=date,
            commit=commit,
            profile=profile,
            claims=[claim(f"C2.{stem[:2]}")],
        )
        for stem in ("02_embeddings", "03_value_matrix")
    ]
    for run in runs:
        run.output_dir.mkdir(parents=True)
        (run.output_dir / "claims.json").write_text(json.dumps(run.claims))
        write_run_record(run)
    write_runs(runs, BuildInfo(date, commit, profile), out)
    return out


def runs_json(out: Path) -> dict:
    return json.loads((out / "runs.json").read_text())


def test_two_clean_reports_compare_with_exit_0(tmp_path, capsys):
    quick, paper = write_report(tmp_path / "quick"), write_report(tmp_path / "paper", "paper")
    assert main(["compare", str(quick), str(paper)]) == 0
    text = capsys.readouterr().out
    assert "# quick profile and paper profile side by side" in text and "without a clean result" not in text


@pytest.mark.parametrize("damage", ["failed", "claims.json missing", "folder missing", "incomplete", "attempt failed"])
def test_a_notebook_without_a_clean_result_is_shown_as_such_and_exits_1(tmp_path, capsys, damage):
    quick, paper = write_report(tmp_path / "quick"), write_report(tmp_path / "paper", "paper")
    folder = paper / "topic_structure" / "03_value_matrix"
    record = runs_json(paper)
    if damage == "failed":
        record["runs"][1]["error"] = "cell In [4] `x = 1 / 0`: ZeroDivisionError: division by zero"
        (folder / "claims.json").unlink()
        (paper / "runs.json").write_text(json.dumps(record))
        shown = "failed: cell In [4] `x = 1 / 0`: ZeroDivisionError"
    elif damage == "claims.json missing":
        (folder / "claims.json").unlink()
        shown = "missing: it ran through, but its claims.json is not in its folder"
    elif damage == "folder missing":
        for path in sorted(folder.rglob("*"), reverse=True):
            path.unlink()
        folder.rmdir()
        shown = "missing: its folder 03_value_matrix/ is not in the report"
    elif damage == "incomplete":
        publishing.mark_incomplete(paper, ["topic_structure/03_value_matrix"])
        shown = "incomplete: a run was stopped while it replaced this folder"
    else:
        record["runs"][1]["failed_attempt"] = {
            **record["runs"][1],
            "date": "2026-12-02 09:00 UTC",
            "error": "cell In [2] `load()`: OSError: gone",
        }
        (paper / "runs.json").write_text(json.dumps(record))
        shown = "a newer attempt (2026-12-02 09:00 UTC, commit aaaa) failed: cell In [2] `load()`: OSError: gone"
    assert main(["compare", str(quick), str(paper)]) == 1
    captured = capsys.readouterr()
    section = captured.out[captured.out.index("## Notebooks without a clean result") :]
    assert f"| paper profile | topic_structure/03_value_matrix | {shown}" in section
    assert "quick profile |" not in section.split("\n\n")[2], "the clean report was listed"
    (line,) = captured.err.strip().splitlines()
    assert f"{paper}: topic_structure/03_value_matrix" in line
    times = captured.out[captured.out.index("## Time per notebook") :]
    assert "| topic_structure/03_value_matrix | 10 s |" in times and "10 s (" in times


@pytest.mark.parametrize(
    "runs_text, message",
    [
        ("{oops", "is not a report written by `report` (no readable runs.json"),
        ("[]", "not a JSON object"),
        ('{"runs": []}', "'profile' is missing or not a str"),
        ('{"profile": "quick"}', "'runs' is missing or not a list"),
        ('{"profile": "quick", "runs": [{"paper": "p", "notebook": "n", "error": ""}]}', "run 1 has no 'seconds'"),
        (
            '{"profile": "quick", "runs": [{"paper": "..", "notebook": "n", "seconds": 1, "error": ""}]}',
            "'paper' '..' is not a folder name",
        ),
        (
            '{"profile": "quick", "runs": [{"paper": "p", "notebook": "n", "seconds": "1", "error": ""}]}',
            "'seconds' is '1'",
        ),
    ],
)
def test_a_runs_json_that_is_not_a_reports_exits_2_in_one_line(tmp_path, capsys, runs_text, message):
    good, bad = write_report(tmp_path / "good"), tmp_path / "bad"
    bad.mkdir()
    (bad / "runs.json").write_text(runs_text)
    assert main(["compare", str(good), str(bad)]) == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert message in line and "Traceback" not in line


@pytest.mark.parametrize("which", ["missing folder", "a file", "an empty folder"])
def test_a_folder_that_is_not_a_report_exits_2(tmp_path, capsys, which):
    good, other = write_report(tmp_path / "good"), tmp_path / "other"
    if which == "a file":
        other.write_text("x")
    elif which == "an empty folder":
        other.mkdir()
    assert main(["compare", str(good), str(other)]) == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert str(other) in line and "not a report" in line


@pytest.mark.parametrize(
    "target, message",
    [("folder", "is a directory, not a file"), ("nowhere/compare.md", "does not exist")],
)
def test_an_unusable_out_exits_2_before_anything_is_written(tmp_path, capsys, target, message):
    quick, paper = write_report(tmp_path / "quick"), write_report(tmp_path / "paper", "paper")
    (tmp_path / "folder").mkdir()
    assert main(["compare", str(quick), str(paper), "--out", str(tmp_path / target)]) == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert message in line
    assert list((tmp_path / "folder").iterdir()) == [] and not (tmp_path / "nowhere").exists()


def test_two_reports_of_one_profile_get_different_column_names_from_their_date_and_commit(tmp_path, capsys):
    first = write_report(tmp_path / "a", date="2026-12-01 10:00 UTC", commit="aaaa")
    second = write_report(tmp_path / "b", date="2026-12-03 11:00 UTC", commit="bbbb")
    assert main(["compare", str(first), str(second)]) == 0
    text = capsys.readouterr().out
    name_a, name_b = "quick profile of 2026-12-01 10:00 UTC, aaaa", "quick profile of 2026-12-03 11:00 UTC, bbbb"
    assert f"# {name_a} and {name_b} side by side" in text
    assert f"| notebook | {name_a} | {name_b} |" in text
    # the same report twice: the folders tell them apart, then first and second
    assert compare.report_names(BuildInfo("d", "c", "quick"), BuildInfo("d", "c", "quick"), ("x", "y")) == (
        "quick profile of d, c in x",
        "quick profile of d, c in y",
    )
    names = compare.report_names(BuildInfo("d", "c", "quick"), BuildInfo("d", "c", "quick"), ("x", "x"))
    assert names[0] != names[1]


def test_notebooks_in_one_report_only_are_listed_in_both_columns(tmp_path, capsys):
    quick, paper = write_report(tmp_path / "quick"), write_report(tmp_path / "paper", "paper")
    record = runs_json(quick)
    record["runs"] = record["runs"][:1]
    (quick / "runs.json").write_text(json.dumps(record))
    assert main(["compare", str(quick), str(paper)]) == 0
    assert "| topic_structure/03_value_matrix | not run | 10 s |" in capsys.readouterr().out


def test_a_notebook_that_writes_no_claims_table_is_not_called_missing(tmp_path, capsys):
    quick, paper = write_report(tmp_path / "quick"), write_report(tmp_path / "paper", "paper")
    (paper / "topic_structure" / "03_value_matrix" / "claims.json").unlink()
    record = runs_json(paper)
    assert record["runs"][1]["claims"] == 1, "runs.json does not record that the notebook wrote its claims"
    record["runs"][1]["claims"] = None  # as recorded for a notebook that writes no claims table
    (paper / "runs.json").write_text(json.dumps(record))
    assert main(["compare", str(quick), str(paper)]) == 0
    assert "without a clean result" not in capsys.readouterr().out
