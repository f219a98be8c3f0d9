import math

import numpy as np
import pytest
import torch

from topic_structure.data import Vocabulary
from topic_structure.measurements import (
    attention_by_topic,
    block_averages,
    block_masks,
    block_matrix,
    content_topics,
    ratio_of_sums,
    topic_attention_ratios,
    topic_pair_weights,
    uniform_attention_over,
    weighted_attention_sums,
)

VOCAB = Vocabulary(3, 2)


def test_block_matrix_and_averages_are_inverse():
    M = block_matrix(VOCAB, 2.0, 0.5, -0.25)
    assert M.shape == (6, 6) and M[0, 0] == 2.0 and M[0, 1] == 0.5 and M[0, 2] == -0.25
    assert block_averages(M, VOCAB) == pytest.approx({"diagonal": 2.0, "same_topic": 0.5, "diff_topic": -0.25})


def test_block_averages_use_only_content_words_and_ignore_special_rows():
    M = torch.zeros(8, 8)
    M[:6, :6] = block_matrix(VOCAB, 1.0, 2.0, 3.0)
    M[6:, :] = 100.0
    assert block_averages(M, VOCAB) == pytest.approx({"diagonal": 1.0, "same_topic": 2.0, "diff_topic": 3.0})
    with pytest.raises(ValueError, match="at least"):
        block_averages(torch.zeros(4, 4), VOCAB)


def test_block_masks_partition_the_matrix():
    masks = block_masks(Vocabulary(4, 3))
    total = sum(m.int() for m in masks.values())
    assert (total == 1).all() and masks["diagonal"].sum() == 12 and masks["same_topic"].sum() == 4 * 6


def test_empty_block_is_nan():
    assert math.isnan(block_averages(torch.eye(3), Vocabulary(3, 1))["same_topic"])


def test_attention_by_topic_on_a_hand_made_example():
    vocab = Vocabulary(2, 2)  # words 0,1 in topic 0; 2,3 in topic 1; [MASK] = 4
    inputs = torch.tensor([[0, 1, 2, 0, 4]])
    visible = torch.tensor([[True, True, True, True, False]])
    attention = torch.zeros(1, 5, 5)
    attention[0, 0] = torch.tensor([0.0, 0.5, 0.2, 0.3, 0.0])  # query word 0
    attention[0, 2] = torch.tensor([0.1, 0.1, 0.0, 0.8, 0.0])  # query word 2
    stats = attention_by_topic(attention, inputs, visible, vocab)
    # query 0: identical key 3 (0.3), same-topic key 1 (0.5), other-topic key 2 (0.2)
    # query 2: other-topic keys 0, 1, 3 -> 0.1, 0.1, 0.8, itself 0; queries 1 and 3 attend nothing
    # weights 1/|K_X(q)|: q0 same {1}, diff {2}, copy {3}; q1 same {0, 3}, diff {2}; q2 diff {0, 1, 3};
    # q3 copy {0}, same {1}, diff {2}. Uniform attention gives 1/4 to every visible key.
    same, diff, copy = 0.5 / (3 / 4), (0.2 + (0.1 + 0.1 + 0.8) / 3) / 1.0, 0.3 / (2 / 4)
    assert stats["same_topic_ratio"] == pytest.approx(same / diff)
    assert stats["copy_ratio"] == pytest.approx(copy / diff)
    # own-topic keys, own position included: q0 -> {0, 1, 3}, q1 -> {0, 1, 3}, q2 -> {2}, q3 -> {0, 1, 3}
    assert stats["same_topic_mass"] == pytest.approx((0.0 + 0.5 + 0.3) / 4)
    assert stats["uniform_same_topic_mass"] == pytest.approx((3 + 3 + 1 + 3) / 4 / 4)


def test_uniform_attention_mass_equals_the_share_of_same_topic_keys():
    vocab = Vocabulary(3, 3)
    generator = torch.Generator().manual_seed(0)
    inputs = torch.randint(0, 9, (4, 30), generator=generator)
    visible = torch.rand(4, 30, generator=generator) < 0.8
    attention = (visible.float() / visible.sum(1, keepdim=True))[:, None, :].expand(4, 30, 30)
    stats = attention_by_topic(attention, inputs, visible, vocab)
    assert stats["same_topic_mass"] == pytest.approx(stats["uniform_same_topic_mass"], rel=1e-6)


def test_attention_by_topic_checks_shapes():
    inputs = torch.zeros(2, 5, dtype=torch.long)
    with pytest.raises(ValueError, match="attention must be"):
        attention_by_topic(torch.zeros(2, 5, 4), inputs, torch.ones(2, 5, dtype=torch.bool), VOCAB)


def test_ratios_are_one_for_uniform_attention_whatever_the_lengths():
    vocab = Vocabulary(3, 3)
    generator = torch.Generator().manual_seed(1)
    inputs = torch.randint(0, 9, (5, 20), generator=generator)
    visible = torch.rand(5, 20, generator=generator) < torch.linspace(0.2, 0.9, 5)[:, None]  # unequal lengths
    attention = uniform_attention_over(visible)
    stats = attention_by_topic(attention, inputs, visible, vocab)
    assert stats["same_topic_ratio"] == pytest.approx(1.0) and stats["copy_ratio"] == pytest.approx(1.0)


def test_topic_attention_ratio_sees_topic_attention_and_can_fall_below_one():
    vocab = Vocabulary(2, 3)
    inputs = torch.tensor([[0, 1, 3, 4, 2, 5]])
    visible = torch.ones(1, 6, dtype=torch.bool)
    topic = content_topics(inputs, vocab)
    same_topic = (topic[0, :, None] == topic[0, None, :]).double()
    toward_topic = (same_topic + 0.1) / (same_topic + 0.1).sum(-1, keepdim=True)
    away = (1.1 - same_topic) / (1.1 - same_topic).sum(-1, keepdim=True)
    assert topic_attention_ratios(toward_topic[None], topic, inputs, visible)["same_topic"] > 5
    assert topic_attention_ratios(away[None], topic, inputs, visible)["same_topic"] < 0.2


def test_weighted_sums_keep_heads_and_labelings_and_bootstrap_brackets_the_ratio():
    generator = torch.Generator().manual_seed(2)
    tokens = torch.randint(0, 6, (4, 7), generator=generator)
    labels = torch.stack([tokens // 3, torch.randint(0, 2, (4, 7), generator=generator)])  # (P=2, B, N)
    weights = topic_pair_weights(labels, tokens, torch.ones(4, 7, dtype=torch.bool))
    attention = torch.softmax(torch.randn(4, 2, 3, 7, 7, generator=generator), -1)  # (B, L, H, N, N)
    sums = weighted_attention_sums(attention, weights["same_topic"])
    assert sums.shape == (2, 4, 2, 3)
    direct = (attention[1, 0, 2] * weights["same_topic"][0, 1]).sum()
    assert float(sums[0, 1, 0, 2]) == pytest.approx(float(direct))
    ones = torch.ones(4)
    result = ratio_of_sums((sums[0, :, 0, 0], ones), (sums[0, :, 1, 1], ones), 200, np.random.default_rng(0))
    assert result["low"] <= result["ratio"] <= result["high"]
    with pytest.raises(ValueError, match="weights must be"):
        weighted_attention_sums(attention, weights["same_topic"][0])


def test_attention_by_topic_keeps_a_probes_weights_only_while_the_probe_is_unchanged():
    """A training run measures one probe at every logged step, so its pair weights are kept; the same tensors
    changed in place, or another batch, give the numbers of a fresh computation."""
    vocab = Vocabulary(3, 3)
    generator = torch.Generator().manual_seed(5)
    inputs = torch.randint(0, vocab.size, (4, 12), generator=generator)
    key_visible = torch.rand(4, 12, generator=generator) < 0.8
    attention = torch.softmax(torch.randn(4, 12, 12, generator=generator), -1)
    first = attention_by_topic(attention, inputs, key_visible, vocab)
    assert attention_by_topic(attention, inputs, key_visible, vocab) == first
    key_visible[:, :4] = ~key_visible[:, :4]  # in place: the kept weights no longer apply
    changed = attention_by_topic(attention, inputs, key_visible, vocab)
    assert changed == attention_by_topic(attention, inputs.clone(), key_visible.clone(), vocab)
    assert changed != first
