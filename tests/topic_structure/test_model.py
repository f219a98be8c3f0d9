import dataclasses
import math

import pytest
import torch
import torch.nn.functional as F

from topic_structure.data import Vocabulary, sample_equal_mixture
from topic_structure.masking import MaskingConfig, mask_documents
from topic_structure.model import ModelConfig, TopicTransformer, prediction_loss

T, v = 3, 4
VOCAB = Vocabulary(T, v)


def _batch(seed=0, n=6, length=20):
    docs = sample_equal_mixture(VOCAB, n, 2, length, seed)
    return mask_documents(docs, MaskingConfig(mask_prob=0.3), seed)


def _model(**kwargs):
    kwargs = {"num_topics": T, "words_per_topic": v, "init_scale": 0.5, **kwargs}
    return TopicTransformer(ModelConfig(**kwargs), seed=0)


def test_shapes_at_all_positions_and_at_queries():
    model, batch = _model(), _batch()
    out = model(batch.inputs, batch.key_visible)
    B, N = batch.inputs.shape
    assert out.logits.shape == (B, N, VOCAB.num_words) and out.attention.shape == (B, N, N)
    queried = model(batch.inputs, batch.key_visible, batch.chosen)
    M = int(batch.chosen.sum())
    assert queried.logits.shape == (M, VOCAB.num_words) and queried.attention.shape == (M, N)
    assert torch.allclose(queried.logits, out.logits[batch.chosen], atol=1e-6)


def test_attention_is_a_distribution_over_visible_keys_only():
    model, batch = _model(), _batch()
    attention = model(batch.inputs, batch.key_visible).attention
    assert (attention[~batch.key_visible[:, None, :].expand_as(attention)] == 0).all()
    assert torch.allclose(attention.sum(-1), torch.ones(attention.shape[:2]))


def test_attention_follows_the_score_matrix():
    model, batch = _model(), _batch()
    attention = model(batch.inputs, batch.key_visible).attention
    scores = model.score_matrix()  # [key, query]
    b, q = 0, 0
    keys = batch.key_visible[b].nonzero()[:, 0]
    expected = torch.softmax(scores[batch.inputs[b, keys], batch.inputs[b, q]], dim=0)
    assert torch.allclose(attention[b, q, keys], expected, atol=1e-6)


def test_score_matrix_is_the_bilinear_form():
    model = _model(embedding="trained", d_model=8, decoder="trained")
    E = model.embedding
    k, q = 2, VOCAB.mask_id
    direct = (model.W_K @ E[k]) @ (model.W_Q @ E[q]) / math.sqrt(8)
    assert torch.isclose(model.score_matrix()[k, q], direct, atol=1e-6)


def test_uniform_attention_averages_visible_values():
    uniform, trained = _model(attention="uniform"), _model()
    with torch.no_grad():
        trained.W_V.copy_(uniform.W_V)
        trained.W_K.zero_()
    batch = _batch()
    out = uniform(batch.inputs, batch.key_visible)
    assert out.attention is None and uniform.W_K is None
    assert torch.allclose(out.logits, trained(batch.inputs, batch.key_visible).logits, atol=1e-5)
    b = 1
    visible = batch.inputs[b][batch.key_visible[b]]
    expected = uniform.W_V[: VOCAB.num_words, visible].mean(1)  # one-hot E and W_pred = I
    assert torch.allclose(out.logits[b, 0], expected, atol=1e-6)
    assert torch.equal(uniform.score_matrix(), torch.zeros(VOCAB.size, VOCAB.size))


def test_frozen_and_trained_switches():
    onehot = _model(value="identity", attention="uniform", decoder="identity")
    assert list(onehot.parameters()) == []
    assert torch.equal(onehot.embedding, torch.eye(VOCAB.size)) and torch.equal(onehot.W_V, torch.eye(VOCAB.size))
    assert torch.equal(onehot.decoder_weight(), torch.eye(VOCAB.num_words, VOCAB.size))
    trained = _model(embedding="trained", d_model=5, decoder="trained")
    names = {name for name, _ in trained.named_parameters()}
    assert names == {"embedding", "W_K", "W_Q", "W_V", "W_pred"}
    assert trained.embedding.shape == (VOCAB.size, 5) and trained.W_pred.shape == (VOCAB.num_words, 5)


def test_tied_decoder_shares_the_embedding():
    model = _model(embedding="trained", d_model=6, decoder="tied", attention="uniform", value="identity")
    assert {name for name, _ in model.named_parameters()} == {"embedding"}
    assert torch.equal(model.decoder_weight(), model.embedding[: VOCAB.num_words])
    model.loss(_batch()).backward()
    assert model.embedding.grad[: VOCAB.num_words].abs().sum() > 0
    assert torch.allclose(model.value_output_matrix()[:, : VOCAB.num_words], model.gram(), atol=1e-6)


def test_value_output_matrix_is_w_v_for_one_hot_identity_decoder():
    model = _model()
    assert torch.equal(model.value_output_matrix(), model.W_V[: VOCAB.num_words])


def test_per_matrix_init_scales():
    config = ModelConfig(10, 10, init_scale=0.01, value_init=1.0, key_init=0.0)
    model = TopicTransformer(config, seed=3)
    assert abs(float(model.W_V.detach().std()) - 1.0) < 0.05
    assert abs(float(model.W_Q.detach().std()) - 0.01) < 0.0005
    assert float(model.W_K.detach().abs().max()) == 0.0
    again = TopicTransformer(config, seed=3)
    assert torch.equal(model.W_V, again.W_V)


def test_losses_match_their_definitions():
    logits, labels = torch.randn(7, 5), torch.tensor([0, 1, 4, -100, 2, 3, 3])
    keep = labels != -100
    assert torch.isclose(prediction_loss(logits, labels), F.cross_entropy(logits[keep], labels[keep]))
    squared = 0.5 * ((logits[keep] - F.one_hot(labels[keep], 5)) ** 2).sum(1).mean()
    assert torch.isclose(prediction_loss(logits, labels, "squared"), squared)
    empty = prediction_loss(logits[:0], labels[:0])
    assert float(empty) == 0.0


def test_model_loss_and_penalty():
    model, batch = _model(), _batch()
    logits = model(batch.inputs, batch.key_visible).logits
    assert torch.isclose(
        model.loss(batch), F.cross_entropy(logits[batch.chosen], batch.labels[batch.chosen]), atol=1e-6
    )
    expected = 0.5 * sum((p**2).sum() for p in (model.W_K, model.W_Q, model.W_V))
    assert torch.isclose(model.l2_penalty(), expected)
    assert set(model.matrix_norms()) == {"E", "W_K", "W_Q", "W_V"}


def test_query_without_visible_keys_gets_zero_context():
    model = _model()
    inputs = torch.tensor([[0, 1, 2]])
    visible = torch.zeros(1, 3, dtype=torch.bool)
    out = model(inputs, visible)
    assert torch.equal(out.logits, torch.zeros_like(out.logits))
    uniform = _model(attention="uniform")
    assert torch.equal(uniform(inputs, visible).logits, torch.zeros(1, 3, VOCAB.num_words))


def test_float64_models_run():
    model, batch = _model(attention="uniform").double(), _batch()
    assert model.loss(batch).dtype == torch.float64


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(embedding="random"), "embedding"),
        (dict(embedding="trained"), "d_model"),
        (dict(embedding="trained", d_model=4), "decoder='identity' needs d_model"),
        (dict(d_model=7), "d_model"),
        (dict(attention="none"), "attention"),
        (dict(value="zero"), "value"),
        (dict(decoder="untied"), "decoder"),
        (dict(loss="hinge"), "loss"),
        (dict(init_scale=-1.0), "init_scale"),
        (dict(value_init=float("nan")), "value_init"),
        (dict(num_topics=0), "num_topics"),
    ],
)
def test_config_validation(kwargs, message):
    with pytest.raises(ValueError, match=message):
        ModelConfig(**{"num_topics": T, "words_per_topic": v, **kwargs})


def test_seed_is_validated():
    with pytest.raises(ValueError, match="seed"):
        TopicTransformer(ModelConfig(T, v), seed=-2)


@pytest.mark.parametrize("loss", ["cross_entropy", "squared"])
@pytest.mark.parametrize("embedding", ["onehot", "trained"])
def test_uniform_loss_per_document_equals_the_loss_over_chosen_positions(loss, embedding):
    """Under uniform attention the loss is summed per (document, label); the same value and gradients as the mean
    over the chosen positions' logits (``dense=True``), in float64 to rounding."""
    width = {"d_model": 8, "decoder": "tied"} if embedding == "trained" else {"decoder": "identity"}
    model = _model(attention="uniform", loss=loss, embedding=embedding, **width).double()
    batch = _batch(seed=3, n=5, length=30)
    parameters = [p for p in model.parameters() if p.requires_grad]
    fast, dense = model.loss(batch), model.loss(batch, dense=True)
    assert float(fast.detach()) == pytest.approx(float(dense.detach()), rel=1e-12)
    for got, want in zip(torch.autograd.grad(fast, parameters), torch.autograd.grad(dense, parameters)):
        torch.testing.assert_close(got, want, rtol=1e-10, atol=1e-13)
    # the check can fail: other labels give another loss
    shifted = batch.labels.clone()
    shifted[batch.chosen] = (shifted[batch.chosen] + 1) % VOCAB.num_words
    assert abs(float(model.loss(dataclasses.replace(batch, labels=shifted)).detach()) - float(dense.detach())) > 1e-6
