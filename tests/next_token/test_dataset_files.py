"""Dataset files are checked before any kernel starts: every bad file is refused with exit 2 and one line naming the
file and its fault, a file obeys the size bounds of generated data, and a relative path reaches the kernel absolute."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import papermill
import pytest

from next_token.data import generate_dataset, save_dataset
from next_token.paper import PAPER
from next_token.params import MAX_SAMPLES
from theory_collection import cli, runner

NOTEBOOK = PAPER.notebook_dir / "01_token_priority_graphs.ipynb"
GOOD = json.loads(json.dumps({"E": np.eye(4).tolist(), "tok": [[0, 1, 2, 3], [3, 2, 1, 3]], "y": [1, 2]}))


def _bad_files():
    """Each bad variant: (name, file text, the fault the message must name)."""
    nan_row = json.dumps({**GOOD, "E": [[float("nan"), 0, 0, 0]] + GOOD["E"][1:]})
    inf_row = json.dumps({**GOOD, "E": [[float("inf"), 0, 0, 0]] + GOOD["E"][1:]})
    big = generate_dataset(MAX_SAMPLES, 4, 6, 8, "cyclic", seed=0)
    rows = {"E": big.E.tolist(), "tok": big.tok.tolist() * 5, "y": big.y.tolist() * 5}  # n = 1,000
    return [
        ("not JSON", "{E: [1]", "not JSON"),
        ("a JSON list", json.dumps([GOOD]), "a JSON list where an object"),
        ("ragged rows", json.dumps({**GOOD, "tok": [[0, 1, 2, 3], [1, 2]]}), "tok has ragged rows"),
        ("wrong shapes", json.dumps({**GOOD, "y": [1]}), "y has 1 labels but tok has 2 samples"),
        ("NaN", nan_row, "NaN is not a finite number"),
        ("inf", inf_row, "Infinity is not a finite number"),
        ("label out of range", json.dumps({**GOOD, "y": [1, 9]}), "label 9 is outside [0, K)"),
        ("unrealizable label", json.dumps({**GOOD, "y": [1, 0]}), "label 0 does not occur in its sequence"),
        ("float token", json.dumps({**GOOD, "tok": [[0, 1, 2, 3.0], [3, 2, 1, 3]]}), "3.0 is not an integer token"),
        ("string E", json.dumps({**GOOD, "E": "eye(4)"}), "E must be a non-empty list"),
        ("a missing key", json.dumps({"E": GOOD["E"], "tok": GOOD["tok"]}), "missing key(s) ['y']"),
        ("too many samples", json.dumps(rows), f"n = 1000, outside [1, {MAX_SAMPLES}]"),
        ("too short", json.dumps({**GOOD, "tok": [[1], [2]], "y": [1, 2]}), "T = 1, outside [2, 16]"),
        ("too large a vocabulary", json.dumps({**GOOD, "E": np.eye(65).tolist()}), "K = 65, outside [2, 64]"),
    ]


@pytest.fixture
def no_kernel(monkeypatch):
    """Fail the test if a kernel starts."""

    def refuse(*args, **kwargs):
        raise AssertionError("a kernel was started")

    monkeypatch.setattr(papermill, "execute_notebook", refuse)


@pytest.mark.parametrize("name, text, fault", _bad_files(), ids=[case[0] for case in _bad_files()])
def test_bad_file_is_refused_before_any_kernel(tmp_path, capsys, no_kernel, name, text, fault):
    path = tmp_path / "bad.json"
    path.write_text(text)
    status = cli.main(
        ["report", "--notebook", "next_token/01", "-p", "dataset_file", str(path), "--out", str(tmp_path)]
    )
    err = capsys.readouterr().err
    assert status == 2
    assert err.count("\n") == 1, err  # one line
    assert str(path) in err and fault in err, err
    assert not (tmp_path / "next_token").exists()


def test_a_missing_file_is_named(tmp_path, capsys, no_kernel):
    status = cli.main(
        ["report", "--notebook", "next_token/02", "-p", "dataset_file", "nowhere.json", "--out", str(tmp_path)]
    )
    err = capsys.readouterr().err
    assert status == 2 and "dataset_file 'nowhere.json' does not exist" in err


def test_the_command_itself_exits_2(tmp_path):
    path = tmp_path / "bad.json"
    path.write_text("[]")
    args = ["report", "--notebook", "next_token/01", "-p", "dataset_file", str(path), "--out", str(tmp_path / "out")]
    done = subprocess.run(
        [sys.executable, "-m", "theory_collection.cli", *args], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 2 and str(path) in done.stderr and "Traceback" not in done.stderr


def test_a_relative_path_reaches_the_kernel_absolute(tmp_path, monkeypatch):
    """Resolved once, against the caller's working directory: the notebook receives the absolute file."""
    folder = tmp_path / "elsewhere"
    folder.mkdir()
    save_dataset(generate_dataset(6, 4, 6, 8, "cyclic", seed=0), folder / "data.json")
    monkeypatch.chdir(folder)
    (prepared,) = runner.prepare([NOTEBOOK], {"dataset_file": "data.json"}, "quick")
    assert prepared.parameters["dataset_file"] == str(folder / "data.json")
    assert Path(prepared.parameters["dataset_file"]).is_absolute()
    monkeypatch.chdir(tmp_path)  # from another folder the same relative name is another (missing) file
    with pytest.raises(ValueError, match="dataset_file 'data.json' does not exist"):
        runner.prepare([NOTEBOOK], {"dataset_file": "data.json"}, "quick")


def test_a_good_file_passes_and_its_sizes_reach_the_estimates(tmp_path):
    path = save_dataset(generate_dataset(6, 4, 6, 8, "cyclic", seed=0), tmp_path / "d.json")
    (prepared,) = runner.prepare([NOTEBOOK], {"dataset_file": str(path)}, "quick")
    assert prepared.values["dataset_file"] == str(path)
    assert PAPER.memory_estimate("01_token_priority_graphs", prepared.values) > 0
