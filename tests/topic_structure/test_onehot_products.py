"""The token-space views of a one-hot model skip the products with the identity embedding: the same numbers, bit
for bit, as the products themselves (score_matrix, value_output_matrix, gram), gradients included."""

import math

import pytest
import torch

from topic_structure.model import ModelConfig, TopicTransformer


def _products(model):
    E = model.embedding
    keys, queries = E @ model.W_K.T, E @ model.W_Q.T
    return {
        "score": keys @ queries.T / math.sqrt(model.config.width),
        "value": model.decoder_weight() @ model.W_V @ E.T,
        "gram": E[: model.vocab.num_words] @ E[: model.vocab.num_words].T,
    }


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("switches", [{}, {"decoder": "trained"}, {"value": "identity"}, {"decoder": "tied"}])
def test_one_hot_views_equal_the_products_bit_for_bit(switches, dtype):
    model = TopicTransformer(ModelConfig(6, 5, init_scale=0.3, **switches), seed=1).to(dtype)
    expected = _products(model)
    got = {"score": model.score_matrix(), "value": model.value_output_matrix(), "gram": model.gram()}
    for name in expected:
        assert torch.equal(got[name], expected[name]), name
    trained = [p for p in model.parameters() if p.requires_grad]
    weights = torch.randn(expected["score"].shape, generator=torch.Generator().manual_seed(0), dtype=dtype)
    via_products = torch.autograd.grad((expected["score"] * weights).sum(), trained, allow_unused=True)
    via_views = torch.autograd.grad((got["score"] * weights).sum(), trained, allow_unused=True)
    for a, b in zip(via_products, via_views):
        assert (a is None and b is None) or torch.equal(a, b)
    # the comparison can fail: another start gives other products
    assert not torch.equal(_products(TopicTransformer(model.config, seed=2).to(dtype))["score"], got["score"])
