"""The token-pair route of the attention measurements equals the dense (B, N, N) route (measuring
every snapshot of a long run at the paper's scale)."""

import numpy as np
import pytest
import torch

from topic_structure import attention_over_training as at
from topic_structure import lda_runs
from topic_structure.data import Vocabulary, sample_lda
from topic_structure.masking import MaskingConfig, mask_documents
from topic_structure.measurements import (
    TokenPairProbe,
    content_topics,
    relative_attention_masses,
    topic_pair_weights,
    weighted_attention_sums,
)
from topic_structure.model import ModelConfig, TopicTransformer
from topic_structure.training import TrainConfig, corpus_batches, train

VOCAB = Vocabulary(4, 3)
MASKING = MaskingConfig(0.3, 0.2, 0.2)


def batch_with_a_keyless_document(seed: int = 0):
    docs = sample_lda(VOCAB, 7, 0.3, (3, 12), np.random.default_rng(seed))
    batch = mask_documents(docs, MASKING, np.random.default_rng(seed + 1))
    batch.key_visible[0] = False  # a document whose queries see no key
    return batch


def models():
    yield lda_runs.lda_model(VOCAB, "tied", 3.0, 0).double()
    yield lda_runs.lda_model(VOCAB, "trained", 2.0, 1).double()
    yield TopicTransformer(ModelConfig(4, 3, init_scale=2.0), seed=2).double()  # one-hot embeddings
    yield TopicTransformer(ModelConfig(4, 3, attention="uniform"), seed=3).double()


@pytest.mark.parametrize("net", list(models()), ids=["tied", "untied", "one-hot", "uniform"])
def test_token_attention_is_the_attention_map_grouped_by_token(net):
    batch = batch_with_a_keyless_document()
    with torch.no_grad():
        dense = net.attention_map(batch.inputs, batch.key_visible)  # (B, N, N)
        tokens = net.token_attention(batch.inputs, batch.key_visible)  # (B, vocab, vocab)
    B, N = batch.inputs.shape
    gathered = tokens[torch.arange(B)[:, None, None], batch.inputs[:, :, None], batch.inputs[:, None, :]]
    visible = batch.key_visible[:, None, :].expand(B, N, N)
    assert torch.allclose(gathered[visible], dense[visible].double(), rtol=1e-12, atol=0)
    assert (tokens[0] == 0).all() and torch.isfinite(tokens).all()


@pytest.mark.parametrize("net", list(models()), ids=["tied", "untied", "one-hot", "uniform"])
def test_token_pair_probe_gives_the_dense_estimator(net):
    batch = batch_with_a_keyless_document(3)
    labels = content_topics(batch.inputs, VOCAB)
    probe = TokenPairProbe(batch.inputs, batch.key_visible, labels, VOCAB.size)
    with torch.no_grad():
        dense = net.attention_map(batch.inputs, batch.key_visible).double()
        token_attention = net.token_attention(batch.inputs, batch.key_visible)
    weights = topic_pair_weights(labels[None], batch.inputs, batch.key_visible)
    for kind, sums in probe.sums(token_attention).items():
        assert torch.allclose(sums, weighted_attention_sums(dense, weights[kind])[0], rtol=1e-12, atol=1e-15)
    expected = relative_attention_masses(dense, labels, batch.inputs, batch.key_visible)
    assert probe.relative_masses(token_attention) == pytest.approx(expected, rel=1e-12)
    assert lda_runs.structure(net, batch) == pytest.approx(
        lda_runs.structure(net, lda_runs.attention_probe(batch, VOCAB)), rel=1e-14
    )


def test_the_estimator_tells_topic_attention_from_uniform():
    """Not a tautology of the folding: a model that attends within topics reads R_A > 1, a uniform one 1."""
    batch = mask_documents(sample_lda(VOCAB, 20, 1.0, (10, 15), np.random.default_rng(5)), MASKING, 5)
    net = TopicTransformer(ModelConfig(4, 3, init_scale=0.0)).double()
    with torch.no_grad():
        net.W_Q[: VOCAB.num_words, : VOCAB.num_words] = 4 * VOCAB.size**0.5 * VOCAB.same_topic().double()
        net.W_K.copy_(torch.eye(VOCAB.size, dtype=torch.float64))
    assert lda_runs.structure(net, batch)["R_A"] > 5
    uniform = TopicTransformer(ModelConfig(4, 3, attention="uniform")).double()
    assert lda_runs.structure(uniform, batch)["R_A"] == pytest.approx(1.0, rel=1e-12)


def test_paper_pairs_give_the_dense_paper_metric():
    docs = sample_lda(VOCAB, 9, 0.3, (2, 14), np.random.default_rng(7))
    for net in models():
        with torch.no_grad():
            dense = at.pair_averages(net.attention_map(docs.tokens, docs.is_word()), at.paper_pair_masks(docs))
        assert at.paper_attention_averages(net, docs) == pytest.approx(dense, rel=1e-12)
        assert at.PaperPairs(docs).averages(net) == pytest.approx(dense, rel=1e-12)


def test_train_hands_snapshots_to_the_callback_and_can_skip_the_probe():
    corpus = sample_lda(VOCAB, 30, 0.3, (5, 10), np.random.default_rng(0))
    config = TrainConfig(steps=6, batch_size=5, log_every=3, snapshot_every=2, progress=False)
    seen = []
    net = lda_runs.lda_model(VOCAB, "tied", 1.0, 0)
    history = train(
        net, corpus_batches(corpus), MASKING, config, on_snapshot=lambda s, m: seen.append((s, m)), measure_probe=False
    )
    assert [s for s, _ in seen] == [2, 4, 6] and all(m is net for _, m in seen)
    assert history.snapshots == {} and list(history.frame().columns) == ["step", "loss"]
    stored = train(lda_runs.lda_model(VOCAB, "tied", 1.0, 0), corpus_batches(corpus), MASKING, config)
    assert sorted(stored.snapshots) == [2, 4, 6]
    for name, p in net.named_parameters():  # the same run either way: the callback does not disturb training
        assert torch.equal(p.detach(), stored.snapshots[6][name])
