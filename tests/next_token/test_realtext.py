"""Real-text windows, realizability and corpus TPGs on hand-written corpora with known answers."""

import numpy as np
import pytest
from next_token import realtext as nr
from next_token.data import Dataset
from next_token.graphs import token_priority_graphs

# two summaries; vocabulary of the 3 most frequent words: the (5), cat (3), sat (2); "on", "mat", "a" deleted
DOCS = [
    "The cat sat on the mat. The cat sat.".lower().replace(".", "").split(),
    "a cat the the".split(),
]


def stream():
    vocab = nr.top_words(DOCS, 3)
    return nr.restrict(DOCS, vocab)


def test_vocabulary_and_restriction():
    s = stream()
    assert s.vocab == ("the", "cat", "sat")
    # doc 0 restricted: the cat sat the the cat sat -> 0 1 2 0 0 1 2 ; doc 1: cat the the -> 1 0 0
    assert s.ids.tolist() == [0, 1, 2, 0, 0, 1, 2, 1, 0, 0]
    assert s.doc.tolist() == [0] * 7 + [1] * 3
    assert s.pos.tolist() == list(range(7)) + [0, 1, 2]
    assert s.total_words == 13 and s.coverage == pytest.approx(10 / 13)


def test_previous_occurrence_distance_stays_inside_a_summary():
    dist = nr.previous_occurrence_distance(stream())
    big = nr.NO_PREVIOUS
    assert dist.tolist() == [big, big, big, 3, 1, 4, 4, big, big, 1]


def test_windows_and_realizability_known_answers():
    s = stream()
    w = nr.extract_windows(s, 2)
    # labels at positions with >= 2 words before them in their summary
    assert w.tok.tolist() == [[0, 1], [1, 2], [2, 0], [0, 0], [0, 1], [1, 0]]
    assert w.y.tolist() == [2, 0, 0, 1, 2, 0]
    assert w.doc.tolist() == [0, 0, 0, 0, 0, 1]
    assert w.realizable.tolist() == [False, False, True, False, False, True]
    fractions, counts = nr.realizable_fraction(s, [1, 2, 3])
    # T = 1: labels with a word before: 8 windows, realizable when the same word repeats: (0,0) in doc 0, (0,0) doc 1
    assert counts.tolist() == [8, 6, 4]
    assert fractions.tolist() == pytest.approx([2 / 8, 2 / 6, 2 / 4])
    # every fraction equals the brute-force count over the extracted windows
    for T, f in zip([1, 2, 3], fractions):
        assert f == pytest.approx(nr.extract_windows(s, T).realizable.mean())
    function = np.array([True, False, False])  # only "the" labels
    f_the, c_the = nr.realizable_fraction(s, [2], function)
    assert c_the.tolist() == [3] and f_the[0] == pytest.approx(2 / 3)


def test_realizable_fraction_matches_brute_force_on_random_text():
    rng = np.random.default_rng(1)
    docs = [[f"w{j}" for j in rng.integers(0, 12, size=rng.integers(0, 40))] for _ in range(30)]
    s = nr.restrict(docs, nr.top_words(docs, 8))
    for T in (1, 3, 7):
        fractions, counts = nr.realizable_fraction(s, [T])
        w = nr.extract_windows(s, T)
        assert counts[0] == w.n and fractions[0] == pytest.approx(w.realizable.mean())


def test_corpus_tpgs_known_sccs():
    # query 0: labels 1 and 2 point at each other (one SCC {1, 2}) above 3; query 4: a chain 5 -> 6
    tok = np.array([[2, 1, 0], [1, 2, 0], [3, 1, 0], [6, 5, 4]])
    y = np.array([1, 2, 1, 5])
    g = nr.corpus_tpgs(tok, y, 7)
    scc0 = g.scc[0]
    assert scc0[1] == scc0[2] and len({scc0[0], scc0[1], scc0[3]}) == 3
    assert len(set(g.scc[4].tolist())) == 7  # all singletons
    assert nr.priority_depth(g)[[0, 4, 1]].tolist() == [2, 2, 0]
    stats = nr.graph_statistics(g, nr.Windows(tok, y, np.zeros(4, dtype=np.int64)))
    assert stats["queries"].tolist() == [0, 4]
    assert stats["largest_scc"].tolist() == [2, 1]
    assert stats["cyclic_scc_sizes"].tolist() == [2]
    assert stats["label_in_cyclic"] == pytest.approx(3 / 4)


def test_non_realizable_windows_add_no_edges():
    g = nr.corpus_tpgs(np.array([[1, 2, 0]]), np.array([3]), 4)
    assert g.edges.shape == (0, 3) and not g.active.any()


@pytest.mark.parametrize("seed", range(5))
def test_corpus_tpgs_equal_the_library_tarjan(seed):
    rng = np.random.default_rng(seed)
    K, T, n = 9, 4, 60
    w = nr.random_windows(n, T, K, seed)
    g = nr.corpus_tpgs(w.tok, w.y, K)
    ref = token_priority_graphs(Dataset(np.eye(K), w.tok, w.y))
    assert np.array_equal(g.dense_adjacency(), ref.adjacency)
    for k in range(K):  # same partition (ids may differ)
        a, b = g.scc[k], ref.scc[k]
        assert np.array_equal(a[:, None] == a[None, :], b[:, None] == b[None, :])
        if ref.adjacency[k].any():
            assert nr.priority_depth(g)[k] == ref.priority_levels(k).max() + 1
    del rng


def test_top_scc_positions_is_the_automaton():
    tok = np.array([[2, 1, 0], [1, 2, 0], [3, 1, 0]])
    y = np.array([1, 2, 1])
    g = nr.corpus_tpgs(tok, y, 5)
    reach = nr.reachability_tensor(g)
    new = np.array([[3, 2, 0], [3, 4, 0], [1, 3, 0]])
    top, unique = nr.top_scc_positions(reach, new)
    assert unique.tolist() == [True, False, True]  # token 4 is not in G^(0): no unique top
    assert top.tolist() == [[False, True, False], [False, False, False], [True, False, False]]


def test_shuffle_keeps_each_window_multiset_and_moves_queries():
    w = nr.random_windows(200, 6, 10, 0)
    s = nr.shuffle_within_windows(w, 1)
    assert np.array_equal(np.sort(s.tok, axis=1), np.sort(w.tok, axis=1)) and np.array_equal(s.y, w.y)
    assert np.mean(s.tok[:, -1] != w.tok[:, -1]) > 0.5


def test_bigram_probabilities():
    p = nr.bigram_probabilities(np.array([0, 0, 1]), np.array([1, 1, 0]), 2, smoothing=0.5)
    assert p[0].tolist() == pytest.approx([0.5 / 3, 2.5 / 3]) and p[1].tolist() == pytest.approx([1.5 / 2, 0.5 / 2])


def test_train_layer_matches_the_library_gradient():
    from next_token.loss import loss_and_grad

    w = nr.random_windows(40, 5, 6, 3)
    rng = np.random.default_rng(0)
    E = rng.standard_normal((6, 8))
    ds = Dataset(E, w.tok, w.y)
    W = nr.train_layer(ds, "gd", 0.5, 2, np.array([0, 1, 2]))
    _, g0 = loss_and_grad(ds, np.zeros((8, 8)))
    assert np.allclose(W[1], -0.5 * g0, atol=1e-13)
    _, g1 = loss_and_grad(ds, W[1])
    assert np.allclose(W[2], W[1] - 0.5 * g1, atol=1e-13)


def test_realizability_can_be_complete():
    # a text that repeats one two-word phrase: every window of length >= 2 holds its next word
    docs = [["to", "be"] * 10]
    s = nr.restrict(docs, nr.top_words(docs, 2))
    fractions, counts = nr.realizable_fraction(s, [1, 2, 5])
    assert fractions.tolist() == [0.0, 1.0, 1.0] and counts.tolist() == [19, 18, 15]


@pytest.mark.parametrize("seed", range(3))
def test_top_scc_of_training_windows_is_the_retrieved_set_and_retrieval_can_fail(seed):
    from next_token.graphs import retrieved_mask
    from next_token.svm import solve_graph_svm

    K = 7
    w = nr.random_windows(25, 4, K, seed)
    ds = Dataset(np.eye(K), w.tok, w.y)
    g = nr.corpus_tpgs(w.tok, w.y, K)
    top, unique = nr.top_scc_positions(nr.reachability_tensor(g), w.tok)
    assert unique.all()  # N1: the label's SCC tops its own window
    assert np.array_equal(top, retrieved_mask(ds, token_priority_graphs(ds)))
    svm = solve_graph_svm(ds)
    uniform = (nr.attention(ds.E, np.zeros((K, K)), w.tok) * top).sum(1)
    far = (nr.attention(ds.E, 60 * svm.W / svm.norm, w.tok) * top).sum(1)
    assert np.all(far > 0.99)  # along the SVM direction the attention retrieves the top SCC
    partial = top.sum(1) < w.tok.shape[1]
    assert partial.any() and np.all(uniform[partial] < 1.0)  # an untrained layer does not
