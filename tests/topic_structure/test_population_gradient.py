"""The written-out cross-entropy population gradient that population gradient descent runs on (notebook 05)."""

import pytest
import torch

from topic_structure import population_gradient
from topic_structure.data import Vocabulary
from topic_structure.model import ModelConfig, TopicTransformer
from topic_structure.population import combine_terms, population_loss, population_loss_terms
from topic_structure.population_gradient import cross_entropy_loss_and_gradient
from topic_structure.theory import population_descent


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
    assert mass == pytest.approx(
        population_descent.population_same_topic_mass(scores, model.vocab, topics_per_doc), rel=1e-13
    )


@pytest.mark.parametrize(
    ("num_topics", "words_per_topic", "topics_per_doc", "scale"),
    [(10, 10, 3, 0.5), (7, 3, 1, 2.0), (6, 5, 2, 0.05), (3, 2, 3, 3.0), (10, 10, 3, 100.0)],
)
@pytest.mark.parametrize(("keep_prob", "random_prob"), [(0.1, 0.1), (0.0, 0.0), (0.2, 0.0), (0.0, 0.3)])
def test_equals_autograd_on_random_matrices(num_topics, words_per_topic, topics_per_doc, scale, keep_prob, random_prob):
    """Unstructured random matrices, with extra vocabulary rows and columns; at scale 100 the value entries
    span more than the exponential's range, so the per-row shift of the label softmax is exercised."""
    vocab = Vocabulary(num_topics, words_per_topic)
    generator = torch.Generator().manual_seed(num_topics * 100 + topics_per_doc)
    size, V = vocab.size, vocab.num_words
    scores = (scale * torch.randn(size, size, generator=generator, dtype=torch.float64)).requires_grad_()
    value_output = (scale * torch.randn(V, size, generator=generator, dtype=torch.float64)).requires_grad_()
    spread = float(value_output.detach()[:, :V].max() - value_output.detach()[:, :V].min())
    assert (spread > population_gradient._EXP_RANGE) == (scale == 100.0)
    loss = combine_terms(population_loss_terms(scores, value_output, vocab, topics_per_doc), keep_prob, random_prob)
    expected = torch.autograd.grad(loss, [scores, value_output])
    value, grad_scores, grad_values, mass = cross_entropy_loss_and_gradient(
        scores.detach(), value_output.detach(), vocab, topics_per_doc, keep_prob, random_prob
    )
    assert value == pytest.approx(float(loss.detach()), rel=1e-12)
    for got, want in zip((grad_scores, grad_values), expected):
        assert float((got - want).abs().max()) <= 1e-12 * float(want.abs().max())
    assert mass == pytest.approx(
        population_descent.population_same_topic_mass(scores, vocab, topics_per_doc), rel=1e-12
    )


@pytest.mark.parametrize("weight_decay", [0.0, 0.01])
@pytest.mark.parametrize(("topics_per_doc", "keep_prob", "random_prob"), [(1, 0.1, 0.1), (2, 0.0, 0.0), (3, 0.3, 0.0)])
def test_population_gradient_descent_follows_autograd_steps(weight_decay, topics_per_doc, keep_prob, random_prob):
    """Each step is ``W <- W - eta grad`` of :func:`population_loss` (penalty included) by autograd."""
    eta, steps = 5.0, 6
    model = TopicTransformer(ModelConfig(5, 4, init_scale=0.1), seed=1).double()
    reference = TopicTransformer(ModelConfig(5, 4, init_scale=0.1), seed=1).double()
    frame = population_descent.population_gradient_descent(
        model, topics_per_doc, keep_prob, random_prob, eta, steps, weight_decay=weight_decay
    )
    parameters = [p for p in reference.parameters() if p.requires_grad]
    for step in range(steps + 1):
        terms = population_loss_terms(
            reference.score_matrix(), reference.value_output_matrix(), reference.vocab, topics_per_doc
        )
        expected = float(combine_terms(terms, keep_prob, random_prob).detach())
        assert frame["loss"][step] == pytest.approx(expected, rel=1e-12)
        if step < steps:
            objective = population_loss(reference, topics_per_doc, keep_prob, random_prob, weight_decay)
            with torch.no_grad():
                for p, g in zip(parameters, torch.autograd.grad(objective, parameters)):
                    p.sub_(eta * g)
    for p, q in zip(model.parameters(), reference.parameters()):
        torch.testing.assert_close(p, q, rtol=1e-12, atol=1e-15)


def test_refuses_matrices_too_small_for_the_vocabulary():
    model = TopicTransformer(ModelConfig(5, 4), seed=0)
    with pytest.raises(ValueError, match="score_matrix must be at least"):
        cross_entropy_loss_and_gradient(torch.zeros(5, 5), model.value_output_matrix(), model.vocab, 2, 0.1, 0.1)


def _fallbacks(monkeypatch) -> list:
    """Record every call of the per-set route (the fallback) made through cross_entropy_loss_and_gradient."""
    calls, by_set = [], population_gradient._by_set_route
    monkeypatch.setattr(population_gradient, "_by_set_route", lambda *a: calls.append(a) or by_set(*a))
    return calls


@pytest.mark.parametrize(("num_topics", "words_per_topic", "topics_per_doc"), [(10, 10, 3), (5, 4, 2), (4, 3, 1)])
def test_all_sets_at_once_equal_the_per_set_route(num_topics, words_per_topic, topics_per_doc, monkeypatch):
    vocab = Vocabulary(num_topics, words_per_topic)
    generator = torch.Generator().manual_seed(7)
    scores = 3 * torch.randn(vocab.size, vocab.size, generator=generator, dtype=torch.float64)
    value_output = 3 * torch.randn(vocab.num_words, vocab.size, generator=generator, dtype=torch.float64)
    calls = _fallbacks(monkeypatch)
    got = cross_entropy_loss_and_gradient(scores, value_output, vocab, topics_per_doc, 0.1, 0.2)
    assert not calls  # the all-sets route ran
    want = cross_entropy_loss_and_gradient(scores, value_output, vocab, topics_per_doc, 0.1, 0.2, route="by_set")
    assert len(calls) == 1
    for a, b in zip(got, want):
        scale = float(b.abs().max()) if isinstance(b, torch.Tensor) else abs(b)
        assert float((torch.as_tensor(a) - torch.as_tensor(b)).abs().max()) <= 1e-13 * scale
    # the check can fail: another random-token weight is another loss and gradient
    other = cross_entropy_loss_and_gradient(scores, value_output, vocab, topics_per_doc, 0.1, 0.3)
    assert abs(other[0] - want[0]) > 1e-6


def test_a_set_far_below_its_query_best_topic_takes_the_per_set_route(monkeypatch):
    """Topics 0-2 score 1,000 below the others for every query: the set {0, 1, 2}'s weight would underflow
    ``exp(-1000)``, so the per-set route runs, and still equals autograd."""
    vocab = Vocabulary(5, 3)
    generator = torch.Generator().manual_seed(1)
    scores = torch.randn(vocab.size, vocab.size, generator=generator, dtype=torch.float64)
    scores[: 3 * 3] -= 1000.0
    value_output = torch.randn(vocab.num_words, vocab.size, generator=generator, dtype=torch.float64)
    calls = _fallbacks(monkeypatch)
    value, grad_scores, grad_values, _ = cross_entropy_loss_and_gradient(scores, value_output, vocab, 3, 0.1, 0.1)
    assert len(calls) == 1
    scores.requires_grad_(), value_output.requires_grad_()
    loss = combine_terms(population_loss_terms(scores, value_output, vocab, 3), 0.1, 0.1)
    expected = torch.autograd.grad(loss, [scores, value_output])
    assert value == pytest.approx(float(loss.detach()), rel=1e-12)
    for got, want in zip((grad_scores, grad_values), expected):
        assert float((got - want).abs().max()) <= 1e-12 * float(want.abs().max())


@pytest.mark.parametrize(("num_topics", "words_per_topic", "topics_per_doc"), [(4, 3, 2), (5, 4, 3)])
def test_the_differentiable_loss_has_autograds_value_and_gradient(num_topics, words_per_topic, topics_per_doc):
    """``CrossEntropyPopulationLoss`` (what population_loss and the L-BFGS fits use for the cross-entropy loss)
    against autograd through population_loss_terms, gradients reaching the model's parameters included."""
    model = TopicTransformer(ModelConfig(num_topics, words_per_topic, init_scale=0.6), seed=2).double()
    parameters = [p for p in model.parameters() if p.requires_grad]
    written = population_gradient.CrossEntropyPopulationLoss.apply(
        model.score_matrix(), model.value_output_matrix(), model.vocab, topics_per_doc, 0.1, 0.2
    )
    want = combine_terms(
        population_loss_terms(model.score_matrix(), model.value_output_matrix(), model.vocab, topics_per_doc),
        0.1,
        0.2,
    )
    assert float(written.detach()) == pytest.approx(float(want.detach()), rel=1e-13)
    for got, expected in zip(
        torch.autograd.grad(3.0 * written, parameters), torch.autograd.grad(3.0 * want, parameters)
    ):
        torch.testing.assert_close(got, expected, rtol=1e-11, atol=1e-14)
    # the check can fail: another keep weight is another loss
    other = population_gradient.CrossEntropyPopulationLoss.apply(
        model.score_matrix(), model.value_output_matrix(), model.vocab, topics_per_doc, 0.2, 0.2
    )
    assert abs(float(other.detach()) - float(want.detach())) > 1e-6
