"""Committed notebooks re-executed in place: clean outputs, nothing else changed, the same bytes twice
(theory_collection.refresh), on the report fixtures."""

import shutil
from pathlib import Path

import nbformat

from theory_collection import refresh, runner
from theory_collection.notebook_outputs import leftovers

FIXTURES = Path(__file__).parent / "fixtures" / "report"


def copy_fixture(tmp_path: Path, name: str) -> Path:
    """The fixture three folders deep, so that its default output_dir (../../../reports/latest/...) stays in tmp."""
    folder = tmp_path / "a" / "b" / "report"
    folder.mkdir(parents=True, exist_ok=True)
    (tmp_path / "reports" / "latest").mkdir(parents=True, exist_ok=True)
    return Path(shutil.copy(FIXTURES / name, folder / name))


def test_a_notebook_is_refreshed_in_place_with_clean_outputs_and_the_same_bytes_twice(tmp_path):
    path = copy_fixture(tmp_path, "01_geometric.ipynb")
    before = nbformat.read(path, as_version=4)
    (result,) = refresh.refresh([path])
    assert not result.error and result.remaining == []
    assert any("progress" in line for line in result.dropped), "the fixture's tqdm bar was left out"
    after = nbformat.read(path, as_version=4)
    assert [(c.id, c.cell_type, c.source, c.metadata) for c in after.cells] == [
        (c.id, c.cell_type, c.source, c.metadata) for c in before.cells
    ], "only outputs and execution counts change"
    code = [c for c in after.cells if c.cell_type == "code"]
    assert [c.execution_count for c in code] == list(range(1, len(code) + 1))
    assert leftovers(after) == [] and "papermill" not in after.metadata
    text = path.read_text()
    assert str(tmp_path) not in text and str(Path.home()) not in text, "no build-machine path is left"
    assert "partial_sums" in text and "G1" in text, "the outputs are there"
    first = path.read_bytes()
    refresh.refresh([path])
    assert path.read_bytes() == first, "a second refresh writes the same bytes"


def test_a_notebook_that_fails_is_left_as_it_was(tmp_path, capsys):
    path = copy_fixture(tmp_path, "02_broken.ipynb")
    committed = path.read_bytes()
    assert refresh.main(["--notebook", str(path)]) == 2, "a path is not a notebook name"
    (result,) = refresh.refresh([path])
    assert "ZeroDivisionError" in result.error and path.read_bytes() == committed
    assert "not written, left as it was" in capsys.readouterr().err


def test_the_run_time_is_recorded_and_rewritten_only_when_it_really_changed():
    notebook = nbformat.v4.new_notebook()
    refresh.record_seconds(notebook, 41.6)
    assert notebook.metadata[runner.TIMING_METADATA] == {"default_profile_seconds": 42}
    refresh.record_seconds(notebook, 47.0)  # within a quarter: the jitter of one run to the next
    assert notebook.metadata[runner.TIMING_METADATA] == {"default_profile_seconds": 42}
    refresh.record_seconds(notebook, 80.2)
    assert notebook.metadata[runner.TIMING_METADATA] == {"default_profile_seconds": 80}
