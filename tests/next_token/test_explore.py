"""The next-token explorer (next_token.explore): the dataset it draws, its SCCs, W^svm and W^fin are those of the
library's exact routes; sizes with no dataset are said; a change is answered in under a second of CPU time."""

import matplotlib.pyplot as plt
import numpy as np
import pytest

from next_token import explore
from next_token.data import generate_dataset
from next_token.graphs import token_priority_graphs
from next_token.svm import solve_graph_svm, solve_w_fin
from next_token.toys import toy_chain


def test_the_components_read_in_priority_order():
    assert explore.components_text(token_priority_graphs(toy_chain()), 0) == "{1, 2} ⇒ {3} ⇒ {0}"


def test_the_view_shows_the_dataset_its_graphs_and_its_exact_solutions():
    view = explore.structure_view(6, 4, 6, 0, "cyclic")
    dataset = generate_dataset(6, 4, 6, 8, "cyclic", "gaussian", False, 0)
    graphs = token_priority_graphs(dataset)
    svm = solve_graph_svm(dataset, graphs)
    fin = solve_w_fin(dataset, graphs, svm.basis)
    assert np.array_equal(view.table.drop(columns="label").to_numpy(), dataset.tok)
    assert view.table["label"].tolist() == dataset.y.tolist()
    for k in graphs.queries:
        if graphs.adjacency[k].any():
            assert f"G^({k}): {explore.components_text(graphs, k)}" in view.lines
    assert any(f"‖W^svm‖_F = {svm.norm:.6g}" in line for line in view.lines)
    assert any(f"L* = {fin.loss_star:.6g}" in line and f"dimension {svm.basis.dim}" in line for line in view.lines)
    acyclic = explore.structure_view(6, 4, 6, 0, "acyclic")
    assert any("S_fin of dimension 0" in line for line in acyclic.lines), "acyclic data: no cyclic subspace"


def test_sizes_with_no_dataset_are_said():
    (line,) = explore.structure_view(3, 5, 3, 0, "cyclic").lines
    assert line.startswith("No dataset") and "seq_len <= vocab_size" in line
    (line,) = explore.structure_view(12, 2, 2, 0, "acyclic").lines
    assert f"in {explore.MAX_DRAWS} draws" in line


def test_the_explorer_redraws_on_a_change_of_each_control():
    """How long a change takes is measured by benchmarks/explorer_speed.py, not here."""
    shown = explore.structure_explorer(6, 4, 6, 0, "cyclic")
    for name, value in (("seed", 1), ("data_class", "acyclic"), ("num_samples", 8), ("vocab_size", 7)):
        before = shown.shown
        shown.controls[name].value = value
        assert shown.shown != before, f"moving {name} changed nothing"


@pytest.fixture(autouse=True)
def close_figures():
    """The views made here are not rendered (an explorer renders and closes its own)."""
    yield
    plt.close("all")
