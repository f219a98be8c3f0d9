"""Topic-model documents: the vocabulary, the equal-mixture and LDA samplers, co-occurrence.

Vocabulary layout (notebooks/topic_structure/THEORY.md §1): ``V = T * v`` content words, word ``w`` in topic ``w // v``,
then the special tokens ``[MASK] = V`` and ``[PAD] = V + 1``. Samplers are vectorised over
documents and seeded through a :class:`numpy.random.Generator`, so the same seed gives the same
corpus on every machine.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from topic_structure.params import check_alpha, check_doc_length, check_int, check_seed, check_topic_counts

Seed = int | np.random.Generator


def as_generator(seed: Seed) -> np.random.Generator:
    """A numpy Generator from an int seed (validated) or an existing Generator (shared state)."""
    if isinstance(seed, np.random.Generator):
        return seed
    return np.random.default_rng(check_seed(seed))


@dataclass(frozen=True)
class Vocabulary:
    """``num_topics`` disjoint topics of ``words_per_topic`` words each, plus [MASK] and [PAD]."""

    num_topics: int
    words_per_topic: int

    def __post_init__(self) -> None:
        check_topic_counts(self.num_topics, self.words_per_topic)

    @property
    def num_words(self) -> int:
        """V, the number of content words."""
        return self.num_topics * self.words_per_topic

    @property
    def mask_id(self) -> int:
        """The id of [MASK], right after the content words."""
        return self.num_words

    @property
    def pad_id(self) -> int:
        """The id of [PAD], after [MASK]."""
        return self.num_words + 1

    @property
    def size(self) -> int:
        """Content words plus the two special tokens."""
        return self.num_words + 2

    def topic_of(self) -> torch.Tensor:
        """(V,) long: the topic of each content word."""
        return torch.arange(self.num_words) // self.words_per_topic

    def same_topic(self) -> torch.Tensor:
        """(V, V) bool: the same-topic indicator ``B`` of notebooks/topic_structure/THEORY.md §4 (diagonal included)."""
        topic = self.topic_of()
        return topic[:, None] == topic[None, :]


@dataclass(frozen=True)
class Documents:
    """A padded batch of documents.

    tokens: (num_docs, max_len) long, ``pad_id`` after each document's length.
    lengths: (num_docs,) long.
    topic_weights: (num_docs, T) float, each document's topic proportions
        (``1/tau`` on its topic set for equal-mixture documents, ``theta`` for LDA).
    """

    tokens: torch.Tensor
    lengths: torch.Tensor
    topic_weights: torch.Tensor
    vocab: Vocabulary

    def __len__(self) -> int:
        return self.tokens.shape[0]

    def __getitem__(self, index) -> Documents:
        """Documents by index array, list or slice, trimmed to the longest one selected."""
        index = torch.arange(len(self))[index] if isinstance(index, slice) else torch.as_tensor(index)
        lengths = self.lengths[index]
        max_len = int(lengths.max()) if len(lengths) else 0
        return Documents(self.tokens[index, :max_len], lengths, self.topic_weights[index], self.vocab)

    def is_word(self) -> torch.Tensor:
        """(num_docs, max_len) bool: True on real words, False on padding."""
        return torch.arange(self.tokens.shape[1])[None, :] < self.lengths[:, None]

    def word_counts(self) -> torch.Tensor:
        """(num_docs, V) float: how often each content word occurs in each document."""
        counts = torch.zeros(len(self), self.vocab.size)
        counts.scatter_add_(1, self.tokens, self.is_word().float())
        return counts[:, : self.vocab.num_words]


def _lengths(doc_length, num_docs: int, rng: np.random.Generator) -> np.ndarray:
    low, high = check_doc_length(doc_length)
    return rng.integers(low, high + 1, size=num_docs)


def _assemble(vocab: Vocabulary, topics: np.ndarray, lengths: np.ndarray, weights: np.ndarray, rng) -> Documents:
    """Draw a word uniformly within each token's topic and pad past each document's length."""
    words = topics * vocab.words_per_topic + rng.integers(0, vocab.words_per_topic, size=topics.shape)
    is_word = np.arange(topics.shape[1])[None, :] < lengths[:, None]
    tokens = np.where(is_word, words, vocab.pad_id)
    return Documents(
        tokens=torch.from_numpy(tokens).long(),
        lengths=torch.from_numpy(lengths).long(),
        topic_weights=torch.from_numpy(weights).float(),
        vocab=vocab,
    )


def sample_equal_mixture(vocab: Vocabulary, num_docs: int, topics_per_doc: int, doc_length, seed: Seed) -> Documents:
    """Equal-mixture documents: a uniform ``tau``-subset ``S`` of topics, words i.i.d. uniform over S's words.

    doc_length: an int N or a range ``(low, high)`` drawn uniformly per document.
    """
    check_int("num_docs", num_docs, 1)
    check_topic_counts(vocab.num_topics, vocab.words_per_topic, topics_per_doc)
    rng = as_generator(seed)
    lengths = _lengths(doc_length, num_docs, rng)
    # The first tau entries of a random permutation are a uniform tau-subset.
    topic_sets = np.argsort(rng.random((num_docs, vocab.num_topics)), axis=1)[:, :topics_per_doc]
    slot = rng.integers(0, topics_per_doc, size=(num_docs, lengths.max()))
    topics = np.take_along_axis(topic_sets, slot, axis=1)
    weights = np.zeros((num_docs, vocab.num_topics))
    np.put_along_axis(weights, topic_sets, 1.0 / topics_per_doc, axis=1)
    return _assemble(vocab, topics, lengths, weights, rng)


def sample_lda(vocab: Vocabulary, num_docs: int, alpha: float, doc_length, seed: Seed) -> Documents:
    """LDA documents: ``theta ~ Dirichlet(alpha 1_T)``, each word's topic drawn from ``theta``."""
    check_int("num_docs", num_docs, 1)
    check_alpha(alpha)
    rng = as_generator(seed)
    lengths = _lengths(doc_length, num_docs, rng)
    theta = rng.dirichlet(np.full(vocab.num_topics, alpha), size=num_docs)
    # Inverse-CDF sampling of each token's topic: count the cumulative weights below a uniform draw.
    cumulative = np.cumsum(theta, axis=1)
    uniform = rng.random((num_docs, lengths.max())) * cumulative[:, -1:]
    topics = (uniform[:, :, None] >= cumulative[:, None, :]).sum(axis=2)
    topics = np.minimum(topics, vocab.num_topics - 1)
    return _assemble(vocab, topics, lengths, theta, rng)


def cooccurrence(docs: Documents) -> torch.Tensor:
    """(V, V) empirical joint distribution of the words at two distinct positions of one document."""
    counts = docs.word_counts()
    pairs = counts.T @ counts - torch.diag(counts.sum(0))  # i != j: remove each word paired with itself
    return pairs / pairs.sum()


def pointwise_mutual_information(joint: torch.Tensor) -> torch.Tensor:
    """(V, V) PMI ``log p(w, w') / (p(w) p(w'))``; pairs never seen together get ``-inf``."""
    marginal = joint.sum(1)
    return torch.log(joint) - torch.log(marginal[:, None] * marginal[None, :])
