"""N8: new contexts and sampling (next_token.automaton); N7: shared contexts (evidence.shared_context_frequencies)."""

import numpy as np
import pytest

from next_token import automaton as au
from next_token import evidence as ev
from next_token.data import Dataset, generate_dataset
from next_token.graphs import retrieved_mask, token_priority_graphs
from next_token.svm import solve_graph_svm, solve_w_fin
from next_token.toys import toy_chain, toy_cyclic


@pytest.fixture(scope="module")
def solved():
    ds = generate_dataset(6, 4, 6, 8, "cyclic", seed=1)
    graphs = token_priority_graphs(ds)
    svm = solve_graph_svm(ds, graphs)
    return ds, graphs, svm, solve_w_fin(ds, graphs, svm.basis)


def test_new_contexts_have_the_query_last_and_a_reachable_top(solved):
    ds, graphs, _, _ = solved
    contexts = au.new_contexts(ds, graphs, 100, seed=0)
    assert np.all(np.isin(contexts.tok[:, -1], graphs.queries))
    assert contexts.unique.any()
    for tok, top in zip(contexts.tok[contexts.unique], contexts.top[contexts.unique]):
        R = graphs.reaches(int(tok[-1]))
        source = tok[top][0]
        assert np.all(R[source, tok])  # every token of the context is reachable from C_top
        assert len(set(tok)) == len(tok)  # distinct tokens (repeats=False)


def test_score_gap_is_at_least_one_for_w_svm_and_not_for_a_shrunk_one(solved):
    ds, graphs, svm, _ = solved
    contexts = au.new_contexts(ds, graphs, 200, seed=0)
    gap, spread = au.score_gap(ds.E, svm.W, contexts)
    finite = np.isfinite(gap)
    assert gap[finite].min() >= 1 - 1e-9 and spread.max() < 1e-9
    shrunk, _ = au.score_gap(ds.E, 0.9 * svm.W, contexts)
    assert shrunk[finite].min() < 1 - 1e-3


def test_attention_on_the_ray_tends_to_the_automaton(solved):
    ds, graphs, svm, fin = solved
    contexts = au.new_contexts(ds, graphs, 200, seed=0)
    predicted = au.automaton_prediction(ds.E, fin.W, contexts)
    tok = contexts.tok[contexts.unique]
    tvs = [
        0.5 * np.abs(au.attention(ds.E, R * svm.W / svm.norm + fin.W, tok) - predicted).sum(1).max()
        for R in (10.0, 40.0, 160.0)
    ]
    assert tvs[0] > tvs[1] > tvs[2] and tvs[2] < 1e-6


def test_sampling_null_matches_the_multinomial_scale():
    p = np.tile([0.5, 0.3, 0.2, 0.0], (50, 1))
    null = au.sampling_tv_null(p, 1000, 200, np.random.default_rng(0))
    # mean TV of a 3-category multinomial frequency, n = 1000: of order sqrt(p(1-p)/n) summed over categories / 2
    assert 0.005 < np.median(null) < 0.03
    counts = au.sample_tokens(p, 1000, np.random.default_rng(1))
    assert np.all(counts.sum(1) == 1000) and np.all(counts[:, 3] == 0)


def test_shared_contexts_reproduce_frequencies_in_the_toys():
    for ds in (toy_cyclic(), toy_chain()):
        graphs = token_priority_graphs(ds)
        svm = solve_graph_svm(ds, graphs)
        fin = solve_w_fin(ds, graphs, svm.basis)
        predicted, empirical, decoupled = ev.shared_context_frequencies(ds, fin.W, retrieved_mask(ds, graphs))
        assert decoupled.all() and predicted.shape[0] >= 1
        np.testing.assert_allclose(predicted, empirical, atol=1e-10)


def test_a_coupled_shared_context_is_flagged():
    # two shared contexts with query 2 and the same SCC {0, 1}: (0, 1, 2) with labels 0, 1 and (1, 0, 2) with 0, 0, 1
    E = np.eye(4)
    tok = [[0, 1, 2], [0, 1, 2], [1, 0, 2], [1, 0, 2], [1, 0, 2]]
    ds = Dataset(E, tok, [0, 1, 0, 0, 1])
    graphs = token_priority_graphs(ds)
    svm = solve_graph_svm(ds, graphs)
    fin = solve_w_fin(ds, graphs, svm.basis)
    predicted, empirical, decoupled = ev.shared_context_frequencies(ds, fin.W, retrieved_mask(ds, graphs))
    assert not decoupled.any()
    # one set of SCC scores serves both contexts: the pooled frequency 3:2, not 1:1 and 2:1
    np.testing.assert_allclose(predicted[:, :2], [[0.6, 0.4], [0.6, 0.4]], atol=1e-8)
    assert np.abs(predicted - empirical).max() > 0.05


def test_new_context_study_on_the_ray_agrees_with_the_automaton():
    from next_token import stacked as st

    datasets = [generate_dataset(6, 4, 6, 8, "cyclic", seed=s) for s in (0, 1)]
    exact = st.exact_solutions(st.stack_datasets(datasets))
    far = 64.0 * np.ones(2)
    W = far[:, None, None] * exact.direction + exact.W_fin  # the superposition deep in the regime
    study = au.new_context_study(datasets, exact, W, far, 50, 200, seed=0, repeats=False)
    assert study["gaps"].min() >= 1 - 1e-9 and study["spreads"].max() <= 1e-9
    assert study["tv_trained"].size == sum(study["used_counts"]) == study["tv_ray"].size
    np.testing.assert_allclose(study["tv_trained"], study["tv_ray"], atol=1e-12)  # W is the ray itself
    assert study["tv_trained"].max() < 1e-2
    # a layer that ignores the structure (W = 0: uniform attention) is far from the automaton
    zero = au.new_context_study(datasets, exact, 0 * W, far, 50, 200, seed=0, repeats=False)
    assert zero["tv_trained"].max() > 0.1 and zero["layer_tv"] > study["layer_tv"]
