"""C3 symbolic results against the exact population loss, on settings the notebook does not use."""

import math

import pytest
import sympy as sp
import torch
from scipy.optimize import brentq

from topic_structure.data import Vocabulary
from topic_structure.measurements import block_averages
from topic_structure.population import combine_terms, population_loss_terms
from topic_structure.theory import attention as ta

# (T, v, tau, keep_prob, random_prob, value strength Delta); each has an interior optimum x*.
SETTINGS = [
    (3, 2, 2, 0.2, 0.5, 2.5),
    (4, 3, 2, 0.15, 0.3, 3.7),
    (4, 2, 3, 0.05, 0.25, 1.9),
]


def _value_output(vocab: Vocabulary, delta: float) -> torch.Tensor:
    # Any c works: the cross-entropy only sees Delta = b - c. Rows sum to zero as at the C2 optimum.
    b = delta * (vocab.num_words - vocab.words_per_topic) / vocab.num_words
    return ta.block_value_output(vocab, {"diagonal": b, "same_topic": b, "diff_topic": b - delta})


def _relative(a: float, b: float) -> float:
    return abs(a - b) / abs(b)


@pytest.mark.parametrize("T, v, tau, keep, random, delta", SETTINGS)
def test_score_gradient_matches_autograd_per_query_kind(T, v, tau, keep, random, delta):
    vocab = Vocabulary(T, v)
    scores = torch.zeros(vocab.size, vocab.size, dtype=torch.float64, requires_grad=True)
    terms = population_loss_terms(scores, _value_output(vocab, delta), vocab, tau)
    terms["total"] = combine_terms(terms, keep, random)
    theory = ta.score_gradient_values(T, v, tau, keep, random, delta)
    for kind, term in terms.items():
        grad = torch.autograd.grad(term, scores, retain_graph=True)[0]
        blocks = block_averages(grad, vocab)
        for block in ("diagonal", "same_topic", "diff_topic"):
            expected = theory[kind][block]
            if expected == 0:  # [MASK] and random-word queries: exactly zero at uniform attention
                assert abs(blocks[block]) < 1e-15
            else:
                assert _relative(blocks[block], expected) < 1e-6
        # entry by entry, not just on average; the [MASK] column on word keys too
        same = vocab.same_topic()
        closed = torch.where(
            same,
            torch.tensor(theory[kind]["same_topic"], dtype=torch.float64),
            torch.tensor(theory[kind]["diff_topic"], dtype=torch.float64),
        )
        V = vocab.num_words
        assert torch.allclose(grad[:V, :V], closed, rtol=0, atol=1e-12)
        assert grad[:V, vocab.mask_id].abs().max() < 1e-15


def test_keep_gradient_is_the_hand_formula_and_columns_sum_to_zero():
    gradient = ta.score_gradient()
    V, T, v, tau, p_c, Delta = ta.V, ta.T, ta.v, ta.tau, ta.p_c, ta.Delta
    same = -p_c * (tau - 1) * Delta / (V * tau**2 * v)
    assert sp.simplify(gradient["total"]["same_topic"] - same) == 0
    assert sp.simplify(gradient["total"]["diff_topic"] + same / (T - 1)) == 0
    assert sp.simplify(v * gradient["total"]["same_topic"] + (V - v) * gradient["total"]["diff_topic"]) == 0
    assert gradient["mask"]["mask_column"] == 0
    assert gradient["random"]["same_topic"] == 0 and gradient["random"]["diff_topic"] == 0


@pytest.mark.parametrize("T, v, tau, keep, random, delta", SETTINGS)
def test_family_loss_is_the_population_loss(T, v, tau, keep, random, delta):
    vocab = Vocabulary(T, v)
    objective = ta.mass_objective()
    assert objective["F_is_x_part"]
    values = {ta.T: T, ta.v: v, ta.tau: tau, ta.p_c: keep, ta.p_r: random, ta.Delta: delta}
    for score in (-0.7, 0.0, 1.3, 4.0):
        terms = population_loss_terms(ta.topic_score_matrix(vocab, score), _value_output(vocab, delta), vocab, tau)
        mass = math.exp(score) / (math.exp(score) + tau - 1)
        for kind in ("mask", "keep", "random"):
            expected = float(objective[kind].subs(values).subs(ta.x, mass))
            assert _relative(float(terms[kind]), expected) < 1e-12


@pytest.mark.parametrize("T, v, tau, keep, random, delta", SETTINGS)
def test_x_star_is_the_argmin_of_the_population_loss(T, v, tau, keep, random, delta):
    vocab = Vocabulary(T, v)
    value_output = _value_output(vocab, delta)
    optimum = ta.optimal_mass(T, v, tau, keep, random, delta)
    assert optimum["regime"] == "interior" and 1 / tau < optimum["x_star"] < 1

    def slope(score: float) -> float:
        s = torch.tensor(score, dtype=torch.float64, requires_grad=True)
        loss = combine_terms(
            population_loss_terms(ta.topic_score_matrix(vocab, s), value_output, vocab, tau), keep, random
        )
        return float(torch.autograd.grad(loss, s)[0])

    score = brentq(slope, 0.0, 20.0, xtol=1e-14, rtol=1e-14)
    assert _relative(score, optimum["score"]) < 1e-6
    assert _relative(math.exp(score) / (math.exp(score) + tau - 1), optimum["x_star"]) < 1e-6


@pytest.mark.parametrize("T, v, tau, keep, random, delta", SETTINGS[:2])
def test_full_matrix_optimum_has_the_symbolic_mass_for_every_query(T, v, tau, keep, random, delta):
    vocab = Vocabulary(T, v)
    scores, losses = ta.fit_score_matrix(_value_output(vocab, delta), vocab, tau, keep, random, seed=3)
    assert losses[-1] < losses[0]
    mass = ta.same_topic_mass(scores, vocab, tau)
    x_star = ta.optimal_mass(T, v, tau, keep, random, delta)["x_star"]
    assert _relative(float(mass.mean()), x_star) < 1e-6
    assert float((mass - x_star).abs().max()) < 1e-4


def test_phase_boundary_separates_interior_from_divergence():
    T, v, tau, keep, delta = 4, 3, 2, 0.2, 3.0
    ratio = ta.optimal_mass(T, v, tau, keep, 0.5, delta)["boundary_ratio"]
    assert math.isclose(ratio, T**2 / (tau * (math.exp(delta) - 1)), rel_tol=1e-12)
    below = ta.optimal_mass(T, v, tau, keep, 0.99 * ratio * keep, delta)
    above = ta.optimal_mass(T, v, tau, keep, 1.01 * ratio * keep, delta)
    assert below["regime"] == "diverges" and below["x_star"] == 1 and below["score"] == math.inf
    assert above["regime"] == "interior" and 0.9 < above["x_star"] < 1
    # raising random_prob lowers x*; keep_prob = 0 removes the topic signal altogether
    masses = [ta.optimal_mass(T, v, tau, keep, r, delta)["x_star"] for r in (0.3, 0.5, 0.7)]
    assert masses[0] > masses[1] > masses[2] > 1 / tau
    uniform = ta.optimal_mass(T, v, tau, 0.0, 0.3, delta)
    assert uniform["regime"] == "uniform" and uniform["x_star"] == pytest.approx(1 / tau) and uniform["score"] == 0


def test_iso_mass_rays_invert_x_star():
    T, v, tau, keep, random, delta = 4, 3, 2, 0.15, 0.3, 3.7
    x_star = ta.optimal_mass(T, v, tau, keep, random, delta)["x_star"]
    ratio = ta.phase_boundary()["ratio_of_mass"].subs({ta.T: T, ta.tau: tau, ta.Delta: delta, ta.x: x_star})
    assert _relative(float(ratio), random / keep) < 1e-9


def test_same_topic_mass_of_simple_score_matrices():
    vocab, tau = Vocabulary(4, 3), 2
    uniform = ta.same_topic_mass(torch.zeros(vocab.size, vocab.size), vocab, tau)
    assert uniform.shape == (vocab.num_words, math.comb(3, 1))
    assert torch.allclose(uniform, torch.full_like(uniform, 1 / tau))
    concentrated = ta.same_topic_mass(ta.topic_score_matrix(vocab, 2.0), vocab, tau)
    assert torch.allclose(concentrated, torch.full_like(concentrated, math.exp(2) / (math.exp(2) + 1)))


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: ta.optimal_mass(4, 3, 1, 0.1, 0.1, 1.0), "topics_per_doc"),
        (lambda: ta.optimal_mass(4, 3, 5, 0.1, 0.1, 1.0), "topics_per_doc"),
        (lambda: ta.optimal_mass(1, 3, 1, 0.1, 0.1, 1.0), "num_topics"),
        (lambda: ta.optimal_mass(4, 3, 2, 0.6, 0.5, 1.0), "keep_prob \\+ random_prob"),
        (lambda: ta.optimal_mass(4, 3, 2, -0.1, 0.1, 1.0), "keep_prob"),
        (lambda: ta.optimal_mass(4, 3, 2, 0.0, 0.0, 1.0), "keep_prob and random_prob are both 0"),
        (lambda: ta.optimal_mass(4, 3, 2, 0.1, 0.1, 0.0), "value_strength"),
        (lambda: ta.score_gradient_values(4, 3, 2, 0.1, 0.1, float("nan")), "value_strength"),
        (lambda: ta.value_strength(4, 3, 2, 0.0), "weight_decay"),
        (lambda: ta.block_value_output(Vocabulary(4, 3), {"diagonal": 1.0, "same_topic": 1.0}), "diff_topic"),
        (lambda: ta.topic_score_matrix(Vocabulary(4, 3), torch.ones(2)), "score"),
        (lambda: ta.same_topic_mass(torch.zeros(5, 5), Vocabulary(4, 3), 2), "score_matrix"),
        (lambda: ta.same_topic_mass(torch.zeros(14, 14), Vocabulary(4, 3), 5), "topics_per_doc"),
        (
            lambda: ta.fit_score_matrix(torch.zeros(12, 14), Vocabulary(4, 3), 2, 0.1, 0.1, init_scale=-1.0),
            "init_scale",
        ),
        (lambda: ta.query_loss([(1, ta.x)], "first"), "label"),
        (lambda: ta.perturbed_groups("diagonal"), "case"),
    ],
)
def test_invalid_arguments_name_the_parameter(call, message):
    with pytest.raises(ValueError, match=message):
        call()
