import math

import pytest
import torch

from topic_structure.data import Vocabulary, sample_equal_mixture, sample_lda
from topic_structure.masking import MaskingConfig
from topic_structure.model import ModelConfig, TopicTransformer
from topic_structure.training import (
    TrainConfig,
    corpus_batches,
    fresh_documents,
    make_optimizer,
    train,
    uniform_attention,
)

VOCAB = Vocabulary(4, 3)


def _source():
    return fresh_documents(sample_equal_mixture, vocab=VOCAB, topics_per_doc=2, doc_length=(40, 60))


def test_training_learns_block_structured_value_matrix():
    model = TopicTransformer(ModelConfig(4, 3, attention="uniform", init_scale=0.01), seed=0)
    history = train(
        model,
        _source(),
        MaskingConfig(),
        TrainConfig(optimizer="adam", learning_rate=0.05, steps=150, batch_size=32, log_every=50, progress=False),
    )
    frame = history.frame()
    assert list(frame["step"]) == [0, 50, 100, 150]
    assert frame["loss"].iloc[-1] < math.log(VOCAB.num_words)  # better than uniform prediction
    last = frame.iloc[-1]
    assert last["value.same_topic"] > last["value.diff_topic"] + 0.5
    assert frame["norm.W_V"].iloc[-1] > frame["norm.W_V"].iloc[0]
    # uniform attention: the probe's same-topic mass equals the share of same-topic keys
    assert last["attention.same_topic_mass"] == pytest.approx(last["attention.uniform_same_topic_mass"], rel=1e-5)


def test_training_is_deterministic_and_snapshots():
    config = TrainConfig(
        optimizer="sgd", learning_rate=0.5, steps=6, batch_size=8, log_every=3, snapshot_every=2, progress=False
    )
    runs = []
    for _ in range(2):
        model = TopicTransformer(ModelConfig(4, 3, init_scale=0.1), seed=1)
        runs.append((train(model, _source(), MaskingConfig(), config), model))
    (h1, m1), (h2, m2) = runs
    assert h1.frame().equals(h2.frame()) and torch.equal(m1.W_V, m2.W_V)
    assert sorted(h1.snapshots) == [2, 4, 6] and set(h1.snapshots[2]) == {"W_K", "W_Q", "W_V"}
    assert not torch.equal(h1.snapshots[2]["W_V"], h1.snapshots[6]["W_V"])


def test_weight_decay_shrinks_a_frozen_signal_free_matrix():
    # With keep_prob = random_prob = 0 every query is [MASK]; its query row gets no data gradient
    # under uniform-init attention only through scores, so decay dominates W_Q's [MASK]-unrelated rows.
    model = TopicTransformer(ModelConfig(4, 3, attention="uniform", init_scale=1.0), seed=0)
    before = float(model.W_V.detach().norm())
    train(
        model,
        _source(),
        MaskingConfig(keep_prob=0.0, random_prob=0.0),
        TrainConfig(optimizer="sgd", learning_rate=0.1, weight_decay=1.0, steps=20, batch_size=8, progress=False),
    )
    assert float(model.W_V.detach().norm()) < before


def test_corpus_batches_draw_from_the_corpus():
    corpus = sample_lda(VOCAB, 30, 0.5, (10, 20), seed=0)
    source = corpus_batches(corpus)
    import numpy as np

    batch = source(8, np.random.default_rng(0))
    assert len(batch) == 8
    rows = {tuple(r[r != VOCAB.pad_id].tolist()) for r in corpus.tokens}
    assert all(tuple(r[r != VOCAB.pad_id].tolist()) in rows for r in batch.tokens)


def test_optimizers_and_validation():
    params = [torch.nn.Parameter(torch.zeros(2))]
    assert isinstance(make_optimizer("adamw", params, 0.1, 0.01), torch.optim.AdamW)
    with pytest.raises(ValueError, match="optimizer"):
        make_optimizer("lion", params, 0.1, 0.0)
    for kwargs, message in [
        (dict(learning_rate=0.0), "learning_rate"),
        (dict(steps=0), "steps"),
        (dict(weight_decay=-1.0), "weight_decay"),
        (dict(batch_size=0), "batch_size"),
        (dict(optimizer="rmsprop"), "optimizer"),
        (dict(snapshot_every=0), "snapshot_every"),
    ]:
        with pytest.raises(ValueError, match=message):
            TrainConfig(**kwargs)
    frozen = TopicTransformer(ModelConfig(4, 3, attention="uniform", value="identity"), seed=0)
    with pytest.raises(ValueError, match="no trained matrices"):
        train(frozen, _source(), MaskingConfig(), TrainConfig(steps=1, progress=False))


def test_uniform_attention_rows():
    visible = torch.tensor([[True, False, True, True]])
    attention = uniform_attention(visible)
    assert attention.shape == (1, 4, 4) and torch.allclose(attention[0, 1], torch.tensor([1 / 3, 0, 1 / 3, 1 / 3]))
