"""Notebook 07's attention sums folded onto token pairs (folded_attention) against the position-level routes:
the same per-document sums for every labeling, for the one-layer model and for the pretrained encoder."""

import warnings

import numpy as np
import pytest
import torch

from topic_structure import folded_attention as fa
from topic_structure import text_models
from topic_structure.data import Vocabulary, sample_lda
from topic_structure.model import ModelConfig, TopicTransformer


def _gap(a: torch.Tensor, b: torch.Tensor) -> float:
    return float(((a - b).abs() / b.abs().clamp(min=1e-12)).max())


@pytest.mark.parametrize("attention", ["trained", "uniform"])
def test_model_topic_attention_equals_the_position_level_sums(attention):
    vocab = Vocabulary(4, 5)
    docs = sample_lda(vocab, 40, 0.3, (2, 25), 0)
    config = ModelConfig(4, 5, embedding="trained", d_model=8, attention=attention, decoder="tied", init_scale=0.8)
    net = TopicTransformer(config, seed=1)
    words = np.arange(vocab.num_words)
    labels = np.where(words % 7 == 3, -1, vocab.topic_of().numpy())  # a few words without a topic
    lookup = text_models.topic_lookup(vocab.size, words[labels >= 0], labels[labels >= 0], 6, np.random.default_rng(0))
    expected, got = (
        text_models.model_topic_attention_by_position(net, docs, lookup),
        fa.model_topic_attention(net, docs, lookup),
    )
    for part in ("attention", "uniform"):
        for kind in fa.KINDS:
            assert got[part][kind].shape == expected[part][kind].shape
            # the position-level route forms float32 attention, the folded one float64
            assert _gap(got[part][kind], expected[part][kind]) < (1e-5 if part == "attention" else 1e-12)
    # the check can fail: another model's attention gives other sums
    other = fa.model_topic_attention(TopicTransformer(config, seed=2), docs, lookup)
    if attention == "trained":
        assert _gap(other["attention"]["same_topic"], expected["attention"]["same_topic"]) > 1e-3


@pytest.fixture(scope="module")
def minilm():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return text_models.load_pretrained()


def test_pretrained_topic_attention_equals_the_position_level_sums(minilm):
    tokenizer, model = minilm
    texts = [
        "The river delta floods every spring, and the river carries silt to the delta and the sea.",
        "A violin concerto in three movements; the violin enters after the orchestra's opening theme.",
        "The election gave the party a majority in parliament; the party leader became prime minister.",
        "Glaciers carved the valley, and the river now runs through the valley towards the sea.",
        "Short text.",
    ]
    vocabulary = tokenizer.get_vocab()
    words = ["river", "delta", "sea", "valley", "violin", "orchestra", "theme", "election", "party", "parliament"]
    ids = np.array([vocabulary[w] for w in words])
    topics = np.array([0, 0, 0, 0, 1, 1, 1, 2, 2, 2])
    lookup = text_models.topic_lookup(len(vocabulary), ids, topics, 5, np.random.default_rng(0))
    expected = text_models.pretrained_topic_attention_by_position(tokenizer, model, texts, lookup, 40, batch_size=2)
    got = fa.pretrained_topic_attention(tokenizer, model, texts, lookup, 40, batch_size=2)
    for part in ("attention", "uniform", "positional"):
        for kind in fa.KINDS:
            assert got[part][kind].shape == expected[part][kind].shape
            assert _gap(got[part][kind], expected[part][kind]) < 1e-10, (part, kind)
    assert torch.equal(got["lengths"], expected["lengths"])
    assert got["mean_distance"] == pytest.approx(expected["mean_distance"], rel=1e-12, nan_ok=True)
