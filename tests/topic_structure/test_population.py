import itertools
import math

import numpy as np
import pytest
import torch

from topic_structure.data import Vocabulary, sample_equal_mixture
from topic_structure.masking import MaskingConfig, mask_documents
from topic_structure.measurements import block_averages
from topic_structure.model import ModelConfig, TopicTransformer
from topic_structure.population import (
    combine_terms,
    fit_population,
    population_loss,
    population_loss_terms,
    topic_sets,
)


def _brute_force(scores, value_output, vocab, tau, keep_prob, random_prob, loss="cross_entropy"):
    """The population loss written as plain loops over topic sets, labels and query tokens."""
    V, v = vocab.num_words, vocab.words_per_topic

    def loss_of(query, words, label):
        attention = torch.softmax(torch.stack([scores[k, query] for k in words]), 0)
        logits = sum(a * value_output[:, k] for a, k in zip(attention, words))
        if loss == "cross_entropy":
            return -torch.log_softmax(logits, 0)[label]
        target = torch.zeros(V, dtype=logits.dtype)
        target[label] = 1
        return 0.5 * ((logits - target) ** 2).sum()

    total, count = 0.0, 0
    for topic_set in itertools.combinations(range(vocab.num_topics), tau):
        words = [t * v + i for t in topic_set for i in range(v)]
        for label in words:
            mask = loss_of(vocab.mask_id, words, label)
            keep = loss_of(label, words, label)
            random = sum(loss_of(r, words, label) for r in range(V)) / V
            total = total + (1 - keep_prob - random_prob) * mask + keep_prob * keep + random_prob * random
            count += 1
    return total / count


def test_topic_sets():
    sets = topic_sets(5, 2)
    assert sets.shape == (10, 2) and len({tuple(s.tolist()) for s in sets}) == 10
    with pytest.raises(ValueError, match="topic sets"):
        topic_sets(60, 30)
    with pytest.raises(ValueError, match="topics_per_doc"):
        topic_sets(3, 4)


@pytest.mark.parametrize("loss", ["cross_entropy", "squared"])
def test_population_loss_equals_the_brute_force_average(loss):
    vocab = Vocabulary(3, 2)
    generator = torch.Generator().manual_seed(0)
    scores = torch.randn(vocab.size, vocab.size, generator=generator, dtype=torch.float64)
    value_output = torch.randn(vocab.num_words, vocab.size, generator=generator, dtype=torch.float64)
    terms = population_loss_terms(scores, value_output, vocab, 2, loss, chunk_size=2)  # chunking exercised
    exact = combine_terms(terms, 0.2, 0.3)
    assert torch.isclose(exact, _brute_force(scores, value_output, vocab, 2, 0.2, 0.3, loss), rtol=1e-12)


def test_population_loss_matches_long_sampled_documents():
    config = ModelConfig(4, 3, attention="trained", value="trained", init_scale=0.5)
    model = TopicTransformer(config, seed=1)
    masking = MaskingConfig(0.15, 0.2, 0.2)
    with torch.no_grad():
        exact = float(population_loss(model, 2, 0.2, 0.2))
        sampled = [
            float(model.loss(mask_documents(sample_equal_mixture(config.vocab, 25, 2, 1000, s), masking, s)))
            for s in range(12)
        ]
    error = np.std(sampled) / math.sqrt(len(sampled))
    # Finite documents differ from the population by O(1/N) besides the Monte-Carlo error.
    assert abs(np.mean(sampled) - exact) < 4 * error + 3e-3


def test_query_kind_does_not_matter_under_uniform_attention():
    model = TopicTransformer(ModelConfig(4, 2, attention="uniform", init_scale=0.3), seed=0)
    terms = population_loss_terms(model.score_matrix(), model.value_output_matrix(), model.vocab, 2)
    assert torch.isclose(terms["mask"], terms["keep"]) and torch.isclose(terms["mask"], terms["random"])


def test_population_loss_is_differentiable_and_penalised():
    model = TopicTransformer(ModelConfig(3, 2, init_scale=0.3), seed=0)
    plain = population_loss(model, 2, 0.1, 0.1)
    penalised = population_loss(model, 2, 0.1, 0.1, weight_decay=0.5)
    assert torch.isclose(penalised - plain, 0.5 * model.l2_penalty())
    penalised.backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in model.parameters())


def test_fit_population_finds_a_symmetric_value_matrix_from_a_random_start():
    model = TopicTransformer(ModelConfig(4, 3, attention="uniform", init_scale=0.5), seed=2).double()
    losses = fit_population(model, 2, 0.1, 0.1, weight_decay=0.02, steps=50)
    assert losses[-1] < losses[0]
    W = model.value_output_matrix()[:, :12]
    blocks = block_averages(W, model.vocab)
    # symmetric optimum: diagonal = same topic > 0 > different topic, rows sum to zero
    assert blocks["diagonal"] == pytest.approx(blocks["same_topic"], rel=1e-6)
    assert blocks["same_topic"] > 0 > blocks["diff_topic"]
    assert torch.allclose(W.sum(1), torch.zeros(12, dtype=torch.float64), atol=1e-6)


def test_gradient_descent_steps_reduce_the_loss():
    model = TopicTransformer(ModelConfig(3, 2, attention="uniform", init_scale=0.1), seed=0).double()
    losses = fit_population(model, 2, 0.1, 0.1, weight_decay=0.01, steps=5, method="gd", learning_rate=0.5)
    assert len(losses) == 5 and all(b < a for a, b in zip(losses, losses[1:]))


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda m: population_loss(m, 4, 0.1, 0.1), "topics_per_doc"),
        (lambda m: population_loss(m, 2, 0.7, 0.7), "keep_prob \\+ random_prob"),
        (lambda m: population_loss(m, 2, 0.1, 0.1, weight_decay=-1.0), "weight_decay"),
        (lambda m: fit_population(m, 2, 0.1, 0.1, 0.0, method="newton"), "method"),
        (lambda m: fit_population(m, 2, 0.1, 0.1, 0.0, steps=0), "steps"),
        (lambda m: population_loss_terms(torch.zeros(3, 3), torch.zeros(6, 8), m.vocab, 2), "score_matrix"),
        (lambda m: population_loss_terms(torch.zeros(8, 8), torch.zeros(5, 8), m.vocab, 2), "value_output"),
    ],
)
def test_validation(call, message):
    model = TopicTransformer(ModelConfig(3, 2), seed=0)
    with pytest.raises(ValueError, match=message):
        call(model)


def test_fit_population_needs_trained_matrices():
    frozen = TopicTransformer(ModelConfig(3, 2, attention="uniform", value="identity"), seed=0)
    with pytest.raises(ValueError, match="no trained matrices"):
        fit_population(frozen, 2, 0.1, 0.1, 0.0)
