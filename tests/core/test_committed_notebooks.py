"""The committed notebooks hold clean outputs: no stderr block, no progress bar, no widget state, no path of
the machine that executed them. `make notebooks-refresh` (python -m theory_collection.refresh) re-executes
them in place so; a warning on stderr is fixed where it is raised."""

import re
from pathlib import Path

import nbformat
import pytest

from theory_collection.notebook_outputs import leftovers
from theory_collection.papers import REPO_ROOT
from theory_collection.runner import collection_notebooks

NOTEBOOKS = collection_notebooks()
# An absolute path of a build machine: the repository, a home or temporary folder.
MACHINE_PATH = re.compile("|".join(re.escape(p) for p in (str(REPO_ROOT), str(Path.home()))) + r"|/tmp/[\w.-]+/")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_committed_outputs_hold_no_stderr_no_progress_bar_and_no_widget_state(path):
    found = leftovers(nbformat.read(path, as_version=4))
    assert not found, f"re-execute it with `make notebooks-refresh` (after fixing any warning): {found[:5]}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_committed_outputs_show_no_path_of_the_build_machine(path):
    notebook = nbformat.read(path, as_version=4)
    found = [
        match.group(0)
        for cell in notebook.cells
        if cell.cell_type == "code"
        for output in cell.outputs
        for text in [output.get("text", ""), *map(str, output.get("data", {}).values())]
        for match in [MACHINE_PATH.search(str(text))]
        if match
    ]
    assert not found, f"absolute paths in the outputs: {found[:3]}"
