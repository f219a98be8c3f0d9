"""The written-out cross-entropy population gradient that population gradient descent runs on (notebook 05)."""

import pytest
import torch
from transformer_topics.model import ModelConfig, TopicTransformer
from transformer_topics.population import combine_terms, cross_entropy_loss_and_gradient, population_loss_terms
from transformer_topics.theory import dynamics as td


@pytest.mark.parametrize(("num_topics", "words_per_topic", "topics_per_doc"), [(5, 4, 2), (4, 3, 3), (6, 2, 1)])
@pytest.mark.parametrize(("keep_prob", "random_prob"), [(0.1, 0.1), (0.3, 0.0), (0.0, 0.5)])
def test_equals_autograd_through_the_population_loss(
    num_topics, words_per_topic, topics_per_doc, keep_prob, random_prob
):
    model = TopicTransformer(ModelConfig(num_topics, words_per_topic, init_scale=0.7), seed=3).double()
    scores = model.score_matrix().detach().requires_grad_()
    value_output = model.value_output_matrix().detach().requires_grad_()
    terms = population_loss_terms(scores, value_output, model.vocab, topics_per_doc)
    loss = combine_terms(terms, keep_prob, random_prob)
    expected = torch.autograd.grad(loss, [scores, value_output])
    value, grad_scores, grad_values, mass = cross_entropy_loss_and_gradient(
        scores.detach(), value_output.detach(), model.vocab, topics_per_doc, keep_prob, random_prob
    )
    assert value == pytest.approx(float(loss.detach()), rel=1e-13)
    torch.testing.assert_close(grad_scores, expected[0], rtol=1e-12, atol=1e-14)
    torch.testing.assert_close(grad_values, expected[1], rtol=1e-12, atol=1e-14)
    assert mass == pytest.approx(td.population_same_topic_mass(scores, model.vocab, topics_per_doc), rel=1e-13)


def test_population_gradient_descent_follows_autograd_steps():
    eta, steps = 5.0, 6
    model = TopicTransformer(ModelConfig(5, 4, init_scale=0.1), seed=1).double()
    reference = TopicTransformer(ModelConfig(5, 4, init_scale=0.1), seed=1).double()
    frame = td.population_gradient_descent(model, 2, 0.1, 0.1, eta, steps, weight_decay=0.01)
    parameters = [p for p in reference.parameters() if p.requires_grad]
    for step in range(steps + 1):
        terms = population_loss_terms(reference.score_matrix(), reference.value_output_matrix(), reference.vocab, 2)
        loss = combine_terms(terms, 0.1, 0.1)
        assert frame["loss"][step] == pytest.approx(float(loss.detach()), rel=1e-12)
        if step < steps:
            with torch.no_grad():
                for p, g in zip(parameters, torch.autograd.grad(loss, parameters)):
                    p.sub_(eta * (g + 0.01 * p))
    for p, q in zip(model.parameters(), reference.parameters()):
        torch.testing.assert_close(p, q, rtol=1e-12, atol=1e-15)


def test_refuses_matrices_too_small_for_the_vocabulary():
    model = TopicTransformer(ModelConfig(5, 4), seed=0)
    with pytest.raises(ValueError, match="score_matrix must be at least"):
        cross_entropy_loss_and_gradient(torch.zeros(5, 5), model.value_output_matrix(), model.vocab, 2, 0.1, 0.1)
