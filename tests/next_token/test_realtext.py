"""Real-text windows, realizability and corpus TPGs on hand-written corpora with known answers."""

import numpy as np
import pytest

from next_token import realtext as nr
from next_token import realtext_graphs as ng
from next_token import realtext_layer as nl
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
    g = ng.corpus_tpgs(tok, y, 7)
    scc0 = g.scc[0]
    assert scc0[1] == scc0[2] and len({scc0[0], scc0[1], scc0[3]}) == 3
    assert len(set(g.scc[4].tolist())) == 7  # all singletons
    assert ng.priority_depth(g)[[0, 4, 1]].tolist() == [2, 2, 0]
    stats = ng.graph_statistics(g, nr.Windows(tok, y, np.zeros(4, dtype=np.int64)))
    assert stats["queries"].tolist() == [0, 4]
    assert stats["largest_scc"].tolist() == [2, 1]
    assert stats["cyclic_scc_sizes"].tolist() == [2]
    assert stats["label_in_cyclic"] == pytest.approx(3 / 4)


def test_non_realizable_windows_add_no_edges():
    g = ng.corpus_tpgs(np.array([[1, 2, 0]]), np.array([3]), 4)
    assert g.edges.shape == (0, 3) and not g.active.any()


@pytest.mark.parametrize("seed", range(5))
def test_corpus_tpgs_equal_the_library_tarjan(seed):
    rng = np.random.default_rng(seed)
    K, T, n = 9, 4, 60
    w = nr.random_windows(n, T, K, seed)
    g = ng.corpus_tpgs(w.tok, w.y, K)
    ref = token_priority_graphs(Dataset(np.eye(K), w.tok, w.y))
    assert np.array_equal(g.dense_adjacency(), ref.adjacency)
    for k in range(K):  # same partition (ids may differ)
        a, b = g.scc[k], ref.scc[k]
        assert np.array_equal(a[:, None] == a[None, :], b[:, None] == b[None, :])
        if ref.adjacency[k].any():
            assert ng.priority_depth(g)[k] == ref.priority_levels(k).max() + 1
    del rng


def test_top_scc_positions_is_the_automaton():
    tok = np.array([[2, 1, 0], [1, 2, 0], [3, 1, 0]])
    y = np.array([1, 2, 1])
    g = ng.corpus_tpgs(tok, y, 5)
    reach = ng.reachability_tensor(g)
    new = np.array([[3, 2, 0], [3, 4, 0], [1, 3, 0]])
    top, unique = ng.top_scc_positions(reach, new)
    assert unique.tolist() == [True, False, True]  # token 4 is not in G^(0): no unique top
    assert top.tolist() == [[False, True, False], [False, False, False], [True, False, False]]


def test_shuffle_keeps_each_window_multiset_and_moves_queries():
    w = nr.random_windows(200, 6, 10, 0)
    s = nr.shuffle_within_windows(w, 1)
    assert np.array_equal(np.sort(s.tok, axis=1), np.sort(w.tok, axis=1)) and np.array_equal(s.y, w.y)
    assert np.mean(s.tok[:, -1] != w.tok[:, -1]) > 0.5


def test_bigram_probabilities():
    p = nl.bigram_probabilities(np.array([0, 0, 1]), np.array([1, 1, 0]), 2, smoothing=0.5)
    assert p[0].tolist() == pytest.approx([0.5 / 3, 2.5 / 3]) and p[1].tolist() == pytest.approx([1.5 / 2, 0.5 / 2])


def test_train_layer_matches_the_library_gradient():
    from next_token.loss import loss_and_grad

    w = nr.random_windows(40, 5, 6, 3)
    rng = np.random.default_rng(0)
    E = rng.standard_normal((6, 8))
    ds = Dataset(E, w.tok, w.y)
    W = nl.train_layer(ds, "gd", 0.5, 2, np.array([0, 1, 2]))
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
    g = ng.corpus_tpgs(w.tok, w.y, K)
    top, unique = ng.top_scc_positions(ng.reachability_tensor(g), w.tok)
    assert unique.all()  # N1: the label's SCC tops its own window
    assert np.array_equal(top, retrieved_mask(ds, token_priority_graphs(ds)))
    svm = solve_graph_svm(ds)
    uniform = (nl.attention(ds.E, np.zeros((K, K)), w.tok) * top).sum(1)
    far = (nl.attention(ds.E, 60 * svm.W / svm.norm, w.tok) * top).sum(1)
    assert np.all(far > 0.99)  # along the SVM direction the attention retrieves the top SCC
    partial = top.sum(1) < w.tok.shape[1]
    assert partial.any() and np.all(uniform[partial] < 1.0)  # an untrained layer does not


# ----------------------------------------------------------------------------------------------------------------
# notebook 06's pipeline


def _random_docs(seed=0, num_docs=40, words=15):
    rng = np.random.default_rng(seed)
    # a skewed word distribution, as in text: low ids are frequent
    return [[f"w{j}" for j in rng.zipf(1.6, size=rng.integers(5, 60)) % words] for _ in range(num_docs)]


def test_stage_timer_records_each_stage():
    timer = nr.StageTimer()
    with timer("a"):
        sum(range(1000))
    with pytest.raises(ZeroDivisionError):
        with timer("b"):
            raise ZeroDivisionError
    assert set(timer.seconds) == {"a", "b"} and all(v >= 0 for v in timer.seconds.values())


def test_top_words_none_is_every_word_and_prefixes_agree():
    docs = _random_docs()
    ranked = nr.top_words(docs, None)
    assert len(ranked) == len({w for d in docs for w in d})
    for k in (1, 5, 10):
        assert nr.top_words(docs, k) == ranked[:k]


def test_build_corpus_splits_by_summary_and_samples_in_proportion():
    docs = _random_docs()
    corpus = nr.build_corpus(docs, 6, 3, 200, 0.25, seed=2)
    full = nr.restrict(docs, nr.top_words(docs, None))
    same = nr.build_corpus(docs, 6, 3, 200, 0.25, seed=2, full=full)
    assert np.array_equal(corpus.train.tok, same.train.tok) and np.array_equal(corpus.held.y, same.held.y)
    assert corpus.vocab == same.vocab and np.array_equal(corpus.stream.pos, same.stream.pos)
    assert corpus.vocab == nr.top_words(docs, 6) and corpus.windows.n == corpus.train_all.n + corpus.held_all.n
    assert not set(corpus.train_all.doc) & set(corpus.held_all.doc)  # held out whole
    assert corpus.held.n == min(50, corpus.held_all.n) and corpus.train.n == min(150, corpus.train_all.n)
    assert set(corpus.held.doc) <= set(corpus.held_all.doc)
    summary = corpus.summary()
    assert summary["summaries"] == 40 and summary["training sample"] == corpus.train.n


def test_realizability_study_matches_realizable_fraction():
    docs = _random_docs(1)
    corpus = nr.build_corpus(docs, 5, 2, 100, 0.2, seed=0)
    study = nr.realizability_study(docs, corpus, [1, 2, 4], larger_vocabularies=(8,))
    assert list(study.curves) == ["top 5 words", "top 8 words", f"all {study.all_vocab_size} words"]
    f, _ = nr.realizable_fraction(nr.restrict(docs, nr.top_words(docs, 8)), [1, 2, 4])
    assert study.curves["top 8 words"][0].tolist() == pytest.approx(f.tolist())
    at = study.at(2)
    assert at["top 5 words"] == pytest.approx(corpus.windows.realizable.mean())
    assert study.frame().shape == (3, 3 + 4)


def test_restriction_effect_counts():
    w = nr.Windows(np.array([[0, 1], [1, 1], [2, 0]]), np.array([1, 0, 0]), np.zeros(3, dtype=np.int64))
    overall, per_word = nr.restriction_effect(w, ["a", "b", "c"], np.array([True, False, False]))
    assert overall["windows kept"] == pytest.approx(2 / 3)  # windows 0 and 2 hold their label
    assert overall["function-word labels, all windows"] == pytest.approx(2 / 3)
    assert overall["function-word labels, kept windows"] == pytest.approx(1 / 2)
    assert per_word["kept as label"].tolist() == [1, 1, 0] and per_word["label count"].tolist() == [2, 1, 0]


def test_training_datasets_keep_the_realizable_windows():
    w = nr.random_windows(30, 4, 6, 0)
    w = nr.Windows(w.tok, np.where(np.arange(30) % 5 == 0, (w.y + 1) % 6, w.y), w.doc)  # some not realizable
    one_hot, random = nr.training_datasets(w, 6, 3, seed=0)
    assert one_hot.n == random.n == int(w.realizable.sum()) and np.array_equal(one_hot.E, np.eye(6))
    assert random.E.shape == (6, 3) and not random.embeddings_independent()


def test_graph_sources_scales_and_baselines():
    corpus = nr.random_windows(80, 4, 7, 1)
    sample = corpus.take(np.arange(30))
    timer = nr.StageTimer()
    sources = ng.graph_sources(corpus, sample, 4, 7, seed=3, timer=timer)
    assert list(sources) == [
        ("real", "corpus"),
        ("random", "corpus"),
        ("shuffled", "corpus"),
        ("real", "sample"),
        ("random", "sample"),
        ("shuffled", "sample"),
    ]
    assert "corpus TPGs (real, all training windows)" in timer.seconds
    assert sources["random", "sample"][0].n == sources["shuffled", "sample"][0].n == 30
    stats = {key: ng.graph_statistics(g, w) for key, (w, g) in sources.items()}
    summary = ng.graph_summary(sources, stats)
    assert summary.loc["real, sample", "windows"] == 30
    assert 0 < ng.largest_scc_share(stats["real", "corpus"]) <= 1


def test_small_graph_prefers_a_cyclic_graph_within_the_size_limit():
    w = nr.random_windows(120, 4, 9, 2)
    score, k, g, used = ng.small_graph(w, 9, 4, max_windows=40)
    words = int(np.sum(g.adjacency[k].any(0) | g.adjacency[k].any(1)))
    assert 1 <= used <= 40 and words <= 12 and score[2] == words
    if score[0]:
        assert words >= 5 and g.scc_sizes(k).max() >= 2


def _trained(seed=0, steps=60):
    from next_token import training as tr
    from next_token.graphs import retrieved_mask
    from next_token.svm import solve_graph_svm, solve_w_fin

    K = 7
    w = nr.random_windows(40, 4, K, seed)
    ds = Dataset(np.eye(K), w.tok, w.y)
    graphs = token_priority_graphs(ds)
    svm = solve_graph_svm(ds, graphs)
    fin = solve_w_fin(ds, graphs, svm.basis)
    C = retrieved_mask(ds, graphs)
    checkpoints = tr.checkpoint_steps(steps, 10)
    return ds, svm, fin, C, checkpoints, nl.train_layer(ds, "gd", 2.0, steps, checkpoints)


def test_metrics_along_equal_the_batched_measure():
    from next_token import measurements as ms
    from next_token import stacked as st

    ds, svm, fin, C, checkpoints, W_path = _trained()
    m = nl.metrics_along(ds, W_path, svm, fin, C)
    exact = nl.exact_solutions_of(ds, svm, fin, C)
    reference = ms.measure(st.stack_datasets([ds]), exact, W_path[:, None])
    for name in ("norm", "svm_coef", "cos_svm", "fin_dist", "residual", "min_mass", "loss", "loss_gap"):
        # at W = 0 (step 0) the cosine is undefined: nan here, 0 in the batched route
        assert np.allclose(getattr(m, name)[1:], getattr(reference, name)[1:], atol=1e-10), name
    assert np.isnan(m.cos_svm[0, 0])
    assert np.isnan(m.support).all() and np.isnan(m.tv).all()
    table = nl.run_table(checkpoints, m, rows=4)
    assert len(table) == 4 and table["step"].iloc[-1] == checkpoints[-1]


def test_heldout_retrieval_and_prediction():
    ds, svm, fin, C, checkpoints, W_path = _trained(steps=200)
    K = ds.K
    train = nr.Windows(ds.tok, ds.y, np.zeros(ds.n, dtype=np.int64))
    graphs = ng.corpus_tpgs(ds.tok, ds.y, K)
    direction = svm.W / svm.norm
    far = 60 * direction + fin.W  # far along the superposition: every training window is retrieved
    r = nl.heldout_retrieval(graphs, train, ds.E, far, svm, fin, svm_coef=60.0)
    assert r.unique.all() and r.retrieved_share == 1.0 and r.share_sup == 1.0
    assert r.null_share < 1.0 and r.interval[0] < 1.0 <= r.interval[1] + 1e-12
    zero = nl.heldout_retrieval(graphs, train, ds.E, np.zeros((K, K)), svm, fin, svm_coef=0.0)
    assert zero.retrieved_share == zero.null_share  # W = 0 is the uniform null
    p = nl.next_word_prediction(train, train, r, ds.E, fin.W, K)
    assert list(p.table.index) == ["all held-out", "unique top SCC", "realizable", "realizable, unique top"]
    assert p.agree > 0.9  # far along the ray the layer acts as the automaton
    assert np.isfinite(p.table.loc["realizable", "log-loss: layer"])
    assert p.table.loc["all held-out", "accuracy: bigram"] == pytest.approx(
        np.mean(nl.bigram_probabilities(ds.query, ds.y, K)[ds.query].argmax(1) == ds.y)
    )


@pytest.mark.parametrize("seed", range(3))
def test_truncate_equals_restricting_the_text_again(seed):
    docs = _random_docs(seed) + [[], ["zz"]]  # an empty summary and one of a rare word only
    full = nr.restrict(docs, nr.top_words(docs, None))
    for size in (1, 3, 8, 10**6):
        short, again = nr.truncate(full, size), nr.restrict(docs, nr.top_words(docs, size))
        assert short.vocab == again.vocab and short.total_words == again.total_words
        for name in ("ids", "doc", "pos"):
            assert np.array_equal(getattr(short, name), getattr(again, name)) and getattr(short, name).dtype == np.int64
