"""Every notebook of the collection follows the conventions the report and the tests rely on."""

import re

import nbformat
import papermill
import pytest

from theory_collection.papers import paper_of
from theory_collection.runner import collection_notebooks

NOTEBOOKS = collection_notebooks()


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_parameters_cell_is_unique_and_fully_visible_to_papermill(path):
    notebook = nbformat.read(path, as_version=4)
    cells = [c for c in notebook.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(cells) == 1, "exactly one cell tagged 'parameters'"
    assigned = [
        line.split("=")[0].strip()
        for line in cells[0].source.splitlines()
        if "=" in line and not line.lstrip().startswith("#")
    ]
    inferred = papermill.inspect_notebook(str(path))
    # papermill silently drops a line it cannot parse (e.g. '=' inside a comment): -p would then be refused
    assert sorted(inferred) == sorted(assigned)
    assert inferred["profile"]["default"] == '"quick"'
    paper = paper_of(path)
    assert inferred["output_dir"]["default"] == f'"../../reports/latest/{paper.name}/{path.stem}"'
    assert {"profile", "seed", "output_dir"} <= set(inferred) <= set(inferred) | set(paper.standard_names)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_notebook_is_committed_executed_and_ends_with_its_claims(path):
    notebook = nbformat.read(path, as_version=4)
    code = [c for c in notebook.cells if c.cell_type == "code"]
    assert all(c.get("execution_count") for c in code), "committed with the outputs of the default profile"
    assert "raise_if_any_fails()" in code[-1].source
    assert any("ClaimsTable(" in c.source for c in code) and any(".write(P.output_dir)" in c.source for c in code)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_notebook_names_the_kernel_the_environment_registers(path):
    """JupyterLab marks a notebook modified on opening when its kernelspec differs from the installed one."""
    makefile = (path.parents[2] / "Makefile").read_text()
    registered = re.search(r'ipykernel install .*--name (\S+) --display-name "([^"]+)"', makefile)
    kernelspec = nbformat.read(path, as_version=4).metadata.kernelspec
    assert (kernelspec.name, kernelspec.display_name) == registered.groups()
