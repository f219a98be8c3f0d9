import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from topic_structure.data import Vocabulary, sample_lda
from topic_structure.masking import IGNORE_LABEL, MaskingConfig, QueryKind, mask_documents

VOCAB = Vocabulary(5, 4)


def _within_binomial(count, trials, p, sds=5.0):
    return abs(count - trials * p) <= sds * math.sqrt(trials * p * (1 - p)) + 1


def test_masking_rates_are_within_binomial_bounds():
    docs = sample_lda(VOCAB, 400, 0.5, (100, 150), seed=0)
    config = MaskingConfig(mask_prob=0.15, keep_prob=0.1, random_prob=0.2)
    batch = mask_documents(docs, config, seed=1)
    words = int(docs.lengths.sum())
    chosen = int(batch.chosen.sum())
    assert _within_binomial(chosen, words, 0.15)
    kinds = batch.query_kind[batch.chosen]
    assert _within_binomial(int((kinds == QueryKind.KEEP).sum()), chosen, 0.1)
    assert _within_binomial(int((kinds == QueryKind.RANDOM).sum()), chosen, 0.2)
    assert _within_binomial(int((kinds == QueryKind.MASK).sum()), chosen, 0.7)
    random_words = batch.inputs[batch.query_kind == QueryKind.RANDOM]
    # random words are uniform over the V content words (chi-square style bound per word)
    counts = torch.bincount(random_words, minlength=VOCAB.num_words).float()
    assert len(counts) == VOCAB.num_words
    assert all(_within_binomial(int(c), len(random_words), 1 / VOCAB.num_words) for c in counts)


@settings(max_examples=30, deadline=None)
@given(
    mask_prob=st.floats(0.01, 1.0),
    keep=st.floats(0, 1),
    random_share=st.floats(0, 1),
    attend=st.booleans(),
    seed=st.integers(0, 2**16),
)
def test_masking_invariants(mask_prob, keep, random_share, attend, seed):
    random_prob = (1 - keep) * random_share
    docs = sample_lda(VOCAB, 8, 0.3, (1, 30), seed=seed)
    batch = mask_documents(docs, MaskingConfig(mask_prob, keep, random_prob, attend), seed=seed)
    is_word = docs.is_word()
    assert not (batch.chosen & ~is_word).any(), "padding was chosen"
    assert torch.equal(batch.labels[batch.chosen], docs.tokens[batch.chosen])
    assert (batch.labels[~batch.chosen] == IGNORE_LABEL).all()
    assert torch.equal(batch.inputs[~batch.chosen], docs.tokens[~batch.chosen])
    kept = batch.query_kind == QueryKind.KEEP
    assert torch.equal(batch.inputs[kept], docs.tokens[kept])
    assert (batch.inputs[batch.query_kind == QueryKind.MASK] == VOCAB.mask_id).all()
    assert ((batch.query_kind != QueryKind.NOT_CHOSEN) == batch.chosen).all()
    expected_keys = is_word if attend else is_word & ~batch.chosen
    assert torch.equal(batch.key_visible, expected_keys)


def test_chosen_positions_are_not_attended_to_by_default():
    docs = sample_lda(VOCAB, 20, 0.3, 50, seed=0)
    batch = mask_documents(docs, MaskingConfig(), seed=0)
    assert not (batch.key_visible & batch.chosen).any()
    batch = mask_documents(docs, MaskingConfig(attend_to_chosen=True), seed=0)
    assert (batch.key_visible & batch.chosen).any()


def test_masking_is_deterministic():
    docs = sample_lda(VOCAB, 10, 0.3, 40, seed=0)
    a, b = mask_documents(docs, MaskingConfig(), 5), mask_documents(docs, MaskingConfig(), 5)
    assert torch.equal(a.inputs, b.inputs) and torch.equal(a.chosen, b.chosen)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(keep_prob=0.6, random_prob=0.5), "keep_prob \\+ random_prob"),
        (dict(mask_prob=0.0), "mask_prob"),
        (dict(mask_prob=1.5), "mask_prob"),
        (dict(keep_prob=-0.1), "keep_prob"),
        (dict(random_prob=1.1), "random_prob"),
    ],
)
def test_masking_config_validation(kwargs, message):
    with pytest.raises(ValueError, match=message):
        MaskingConfig(**kwargs)
