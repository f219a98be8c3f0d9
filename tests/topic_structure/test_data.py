import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from topic_structure.data import (
    Vocabulary,
    cooccurrence,
    pointwise_mutual_information,
    sample_equal_mixture,
    sample_lda,
)


def test_vocabulary_layout():
    vocab = Vocabulary(3, 4)
    assert (vocab.num_words, vocab.mask_id, vocab.pad_id, vocab.size) == (12, 12, 13, 14)
    assert vocab.topic_of().tolist() == [0] * 4 + [1] * 4 + [2] * 4
    same = vocab.same_topic()
    assert same.sum() == 3 * 16 and same[0, 3] and not same[3, 4]


@pytest.mark.parametrize("bad", [dict(num_topics=0, words_per_topic=3), dict(num_topics=2, words_per_topic=0)])
def test_vocabulary_rejects_empty_topics(bad):
    with pytest.raises(ValueError, match="num_topics|words_per_topic"):
        Vocabulary(**bad)


@settings(max_examples=25, deadline=None)
@given(
    T=st.integers(1, 6),
    v=st.integers(1, 5),
    data=st.data(),
    n=st.integers(1, 20),
    low=st.integers(1, 30),
    extra=st.integers(0, 10),
    seed=st.integers(0, 2**16),
)
def test_equal_mixture_documents_use_only_their_topic_set(T, v, data, n, low, extra, seed):
    tau = data.draw(st.integers(1, T))
    vocab = Vocabulary(T, v)
    docs = sample_equal_mixture(vocab, n, tau, (low, low + extra), seed)
    assert docs.tokens.shape[0] == n and ((docs.lengths >= low) & (docs.lengths <= low + extra)).all()
    is_word = docs.is_word()
    assert (docs.tokens[~is_word] == vocab.pad_id).all()
    assert ((docs.tokens[is_word] >= 0) & (docs.tokens[is_word] < vocab.num_words)).all()
    in_set = docs.topic_weights > 0
    assert (in_set.sum(1) == tau).all() and torch.allclose(docs.topic_weights.sum(1), torch.ones(n))
    topics = torch.where(is_word, docs.tokens // v, 0)
    assert torch.gather(in_set, 1, topics)[is_word].all(), "a word outside its document's topic set"


def test_equal_mixture_marginals_are_uniform():
    vocab = Vocabulary(5, 4)
    docs = sample_equal_mixture(vocab, 4000, 2, 50, seed=0)
    counts = docs.word_counts().sum(0)
    # Given the topic sets, a word of topic t is drawn with probability 1/(tau v) per token of a
    # document containing t: compare with that conditional expectation, 5 binomial deviations.
    per_word_rate = docs.topic_weights.repeat_interleave(4, dim=1) / 4  # (n, V)
    expected = (per_word_rate * docs.lengths[:, None]).sum(0)
    assert ((counts - expected).abs() < 5 * expected.sqrt()).all()
    assert torch.allclose(counts / counts.sum(), torch.full((20,), 1 / 20), atol=0.01)
    topic_sets = (docs.topic_weights > 0).float()
    pair_freq = (topic_sets.T @ topic_sets)[~torch.eye(5, dtype=torch.bool)] / len(docs)
    assert torch.allclose(pair_freq, torch.full_like(pair_freq, 1 / 10), atol=0.02)  # each of C(5,2) pairs


def test_equal_mixture_words_are_uniform_within_the_document():
    vocab = Vocabulary(4, 3)
    docs = sample_equal_mixture(vocab, 1, 2, 60000, seed=3)
    counts = docs.word_counts()[0]
    support = counts > 0
    assert support.sum() == 6
    assert torch.allclose(counts[support] / 60000, torch.full((6,), 1 / 6), atol=0.01)


def test_lda_topic_proportions_follow_theta():
    vocab = Vocabulary(4, 5)
    docs = sample_lda(vocab, 50, alpha=1.0, doc_length=20000, seed=1)
    per_topic = docs.word_counts().reshape(50, 4, 5).sum(2) / 20000
    assert torch.allclose(per_topic, docs.topic_weights, atol=0.02)


def test_lda_small_alpha_gives_few_topics_per_document():
    vocab = Vocabulary(10, 10)
    sparse = sample_lda(vocab, 2000, alpha=0.1, doc_length=(100, 150), seed=2).topic_weights
    dense = sample_lda(vocab, 2000, alpha=10.0, doc_length=(100, 150), seed=2).topic_weights
    assert (sparse.max(1).values.mean() > 0.5) and (dense.max(1).values.mean() < 0.3)
    # Dirichlet(alpha 1_T) has E[theta_t] = 1/T
    assert torch.allclose(sparse.mean(0), torch.full((10,), 0.1), atol=0.03)


def test_samplers_are_deterministic_per_seed():
    vocab = Vocabulary(3, 3)
    a = sample_lda(vocab, 10, 0.5, (5, 9), seed=7)
    b = sample_lda(vocab, 10, 0.5, (5, 9), seed=7)
    c = sample_lda(vocab, 10, 0.5, (5, 9), seed=8)
    assert torch.equal(a.tokens, b.tokens) and not torch.equal(a.tokens, c.tokens)


def test_shared_generator_advances():
    rng = np.random.default_rng(0)
    vocab = Vocabulary(3, 3)
    first, second = sample_equal_mixture(vocab, 5, 2, 10, rng), sample_equal_mixture(vocab, 5, 2, 10, rng)
    assert not torch.equal(first.tokens, second.tokens)


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda v: sample_equal_mixture(v, 5, 4, 10, 0), "topics_per_doc"),
        (lambda v: sample_equal_mixture(v, 0, 1, 10, 0), "num_docs"),
        (lambda v: sample_lda(v, 5, 0.0, 10, 0), "alpha"),
        (lambda v: sample_lda(v, 5, -1.0, 10, 0), "alpha"),
        (lambda v: sample_lda(v, 5, 0.1, 0, 0), "doc_length"),
        (lambda v: sample_lda(v, 5, 0.1, (3, 2), 0), "doc_length"),
        (lambda v: sample_lda(v, 5, 0.1, 10, -1), "seed"),
    ],
)
def test_sampler_validation(call, message):
    with pytest.raises(ValueError, match=message):
        call(Vocabulary(3, 2))


def test_indexing_trims_padding():
    vocab = Vocabulary(2, 2)
    docs = sample_lda(vocab, 6, 0.5, (2, 8), seed=0)
    subset = docs[[int(docs.lengths.argmin())]]
    assert subset.tokens.shape == (1, int(docs.lengths.min()))
    first_two = docs[:2]
    assert torch.equal(first_two.lengths, docs.lengths[:2]) and first_two.tokens.shape[1] == int(docs.lengths[:2].max())


def test_cooccurrence_is_block_structured_for_equal_mixture():
    vocab = Vocabulary(4, 3)
    joint = cooccurrence(sample_equal_mixture(vocab, 3000, 2, 40, seed=0))
    assert torch.isclose(joint.sum(), torch.tensor(1.0)) and torch.allclose(joint, joint.T)
    same, diagonal = vocab.same_topic(), torch.eye(12, dtype=torch.bool)
    # a same-topic pair is in every document that has the topic, a cross-topic pair in 1/3 of them
    ratio = joint[same & ~diagonal].mean() / joint[~same].mean()
    assert 2.7 < ratio < 3.3
    pmi = pointwise_mutual_information(joint)
    assert pmi[same & ~diagonal].mean() > 0 > pmi[~same].mean()


def test_cooccurrence_excludes_a_word_paired_with_itself():
    vocab = Vocabulary(1, 2)
    docs = sample_equal_mixture(vocab, 1, 1, 1, seed=0)  # one word: no pair at all
    assert torch.isnan(cooccurrence(docs)).all()
