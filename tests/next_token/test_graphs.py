import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import connected_components

from next_token.data import generate_dataset
from next_token.graphs import (
    label_reaches_sequence,
    reachability,
    retrieved_mask,
    tarjan_scc,
    token_priority_graphs,
    top_scc_is_label_scc,
    transitive_reduction_dag,
)


@st.composite
def digraphs(draw):
    n = draw(st.integers(1, 40))
    density = draw(st.floats(0.0, 0.3))
    seed = draw(st.integers(0, 2**32 - 1))
    return np.random.default_rng(seed).random((n, n)) < density


def _same_partition(a, b):
    pairs_a = a[:, None] == a[None, :]
    pairs_b = b[:, None] == b[None, :]
    return np.array_equal(pairs_a, pairs_b)


@settings(max_examples=200, deadline=None)
@given(digraphs())
def test_tarjan_matches_scipy(adj):
    labels = tarjan_scc(adj)
    count, reference = connected_components(csr_matrix(adj), directed=True, connection="strong")
    assert labels.max() + 1 == count
    assert _same_partition(labels, reference)


@settings(max_examples=100, deadline=None)
@given(digraphs())
def test_tarjan_ids_are_topological(adj):
    labels = tarjan_scc(adj)
    u, v = np.nonzero(adj)
    assert np.all(labels[u] <= labels[v])  # edges never go back to a smaller id


@settings(max_examples=100, deadline=None)
@given(digraphs())
def test_reachability_and_transitive_reduction(adj):
    R = reachability(adj)
    # brute force: breadth-first search from each node
    n = adj.shape[0]
    for s in range(min(n, 8)):
        seen, frontier = {s}, [s]
        while frontier:
            frontier = [v for u in frontier for v in np.flatnonzero(adj[u]) if v not in seen]
            seen.update(frontier)
        assert set(np.flatnonzero(R[s])) == seen
    labels = tarjan_scc(adj)
    c = labels.max() + 1
    cond = np.zeros((c, c), dtype=bool)
    cond[labels[np.nonzero(adj)[0]], labels[np.nonzero(adj)[1]]] = True
    np.fill_diagonal(cond, False)
    reduced = transitive_reduction_dag(cond)
    assert np.array_equal(reachability(reduced), reachability(cond))  # same order
    assert not np.any(reduced & ~cond)


def test_tpg_edges_by_brute_force():
    ds = generate_dataset(12, 5, 7, 8, "cyclic", seed=3)
    graphs = token_priority_graphs(ds)
    expected = {(int(k), int(y), int(v)) for k, y, row in zip(ds.query, ds.y, ds.tok) for v in row if v != y}
    assert {tuple(e) for e in graphs.edges().tolist()} == expected


def test_label_tops_its_sequence_on_random_data():
    for seed in range(5):
        for args in [(6, 4, 6, 8, "cyclic"), (10, 6, 8, 8, "cyclic"), (4, 6, 8, 8, "acyclic")]:
            ds = generate_dataset(*args, seed=seed)
            graphs = token_priority_graphs(ds)
            assert label_reaches_sequence(ds, graphs).all()
            assert top_scc_is_label_scc(ds, graphs).all()
            C = retrieved_mask(ds, graphs)
            assert np.all(C[ds.label_mask])  # the label positions are always retrieved


def test_n1_detects_a_wrong_graph():
    ds = generate_dataset(10, 6, 8, 8, "cyclic", seed=0)
    other = generate_dataset(10, 6, 8, 8, "cyclic", seed=1)
    assert not label_reaches_sequence(ds, token_priority_graphs(other)).all()
