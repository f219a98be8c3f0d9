import math

import numpy as np
import pandas as pd
import pytest
import sympy as sp
import torch

from topic_structure.data import Vocabulary
from topic_structure.model import ModelConfig, TopicTransformer
from topic_structure.population import population_loss
from topic_structure.theory import onset as closed_form
from topic_structure.theory import population_descent, two_stage_ode

SETTING = dict(num_topics=4, words_per_topic=3, topics_per_doc=2, keep_prob=0.2, random_prob=0.15)


def _flow(**changes) -> two_stage_ode.ReducedFlow:
    return two_stage_ode.ReducedFlow(**{**SETTING, **changes})


def _random_symmetric_model(vocab: Vocabulary, rng: np.random.Generator, special: bool = True):
    """A float64 model at a random point of the G-fixed subspace, special orbits included."""
    state = rng.normal(size=9)
    model = population_descent.symmetric_model(state, vocab)
    if special:
        masks = population_descent.orbit_masks(vocab)
        with torch.no_grad():
            for W in (model.W_V, model.W_K, model.W_Q):
                for name in population_descent.ORBITS[3:]:
                    W[masks[name]] = float(rng.normal())
    return state, model


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_reduced_gradient_is_the_full_population_gradient_projected(seed):
    flow = _flow()
    vocab = flow.vocab
    state, model = _random_symmetric_model(vocab, np.random.default_rng(seed))
    loss = population_loss(model, flow.topics_per_doc, flow.keep_prob, flow.random_prob)
    loss.backward()
    assert math.isclose(float(loss.detach()), flow.loss(state), rel_tol=1e-12)
    masks = population_descent.orbit_masks(vocab)
    summed = []
    for W in (model.W_V, model.W_K, model.W_Q):
        # invariance: the gradient at a symmetric point is itself symmetric ...
        assert torch.allclose(W.grad, population_descent.symmetrize(W.grad, vocab), rtol=0, atol=1e-13)
        # ... and vanishes on every special orbit
        assert all(
            abs(population_descent.project(W.grad, vocab)[name]) < 1e-13 for name in population_descent.ORBITS[3:]
        )
        summed += [float(W.grad[masks[block]].sum()) for block in two_stage_ode.BLOCKS]
    np.testing.assert_allclose(flow.gradient(state), summed, rtol=0, atol=1e-8)


def test_orbit_masks_partition_the_matrix_and_project_inverts_symmetric_matrices():
    vocab = Vocabulary(3, 2)
    masks = population_descent.orbit_masks(vocab)
    counts = torch.stack([m.long() for m in masks.values()]).sum(0)
    assert torch.equal(counts, torch.ones(vocab.size, vocab.size, dtype=torch.long))
    state = np.arange(1.0, 10.0)
    for i, W in enumerate(population_descent.embed(state, vocab).values()):
        blocks = population_descent.project(W, vocab)
        assert [blocks[b] for b in two_stage_ode.BLOCKS] == list(state[3 * i : 3 * i + 3])
        assert torch.equal(population_descent.symmetrize(W, vocab), W)
    with pytest.raises(ValueError, match="matrix"):
        population_descent.project(torch.zeros(3, 3), vocab)


def test_euler_step_of_the_flow_is_a_population_gradient_descent_step():
    flow = _flow(weight_decay=0.01)
    rng = np.random.default_rng(3)
    state = rng.normal(size=9) * 0.5
    model = population_descent.symmetric_model(state, flow.vocab)
    frame = population_descent.population_gradient_descent(
        model,
        flow.topics_per_doc,
        flow.keep_prob,
        flow.random_prob,
        learning_rate=0.7,
        steps=3,
        weight_decay=0.01,
        track_symmetry=True,
    )
    assert frame["asymmetry"].max() < 1e-14
    for _ in range(3):
        state = state + 0.7 * flow.velocity(state)
    for i, W in enumerate((model.W_V, model.W_K, model.W_Q)):
        torch.testing.assert_close(
            W.detach(), population_descent.embed(state, flow.vocab)[("W_V", "W_K", "W_Q")[i]], rtol=0, atol=1e-12
        )
    assert math.isclose(frame[two_stage_ode.MASS].iloc[-1], flow.same_topic_mass(state), rel_tol=1e-10)
    assert list(frame["time"]) == pytest.approx([0, 0.7, 1.4, 2.1])


def test_integrate_euler_and_rk45_agree_and_record_the_columns():
    flow = _flow()
    state = two_stage_ode.initial_state(0.05, flow.num_topics, flow.words_per_topic)
    euler = two_stage_ode.integrate(flow, state, 50.0, "euler", learning_rate=0.05, points=10)
    smooth = two_stage_ode.integrate(flow, state, 50.0, "rk45", points=11)
    assert {"time", two_stage_ode.MASS, two_stage_ode.UNIFORM_MASS, "norm.W_V", *two_stage_ode.STATE_NAMES} <= set(
        smooth.columns
    )
    assert euler["step"].iloc[-1] == 1000 and smooth["time"].iloc[-1] == 50.0
    np.testing.assert_allclose(
        euler[list(two_stage_ode.STATE_NAMES)].iloc[-1],
        smooth[list(two_stage_ode.STATE_NAMES)].iloc[-1],
        rtol=2e-3,
        atol=1e-6,
    )
    assert smooth["loss"].is_monotonic_decreasing  # gradient flow without weight decay
    with pytest.raises(ValueError, match="learning_rate"):
        two_stage_ode.integrate(flow, state, 1.0, "euler")
    with pytest.raises(ValueError, match="method"):
        two_stage_ode.integrate(flow, state, 1.0, "rk4")


def test_stage_one_margin_rate_and_score_gradient():
    one = closed_form.stage_one()
    kappa, m = one["kappa"], one["m"]
    assert sp.simplify(one["margin_rate"] - kappa * m / (sp.exp(two_stage_ode.delta) + m)) == 0
    # the score gradient at uniform attention: linear in W_V, proportional to p_c, no p_r
    for gradient in one["score_gradient"].values():
        assert (
            gradient.free_symbols.isdisjoint({two_stage_ode.p_r})
            and sp.simplify(gradient.subs(two_stage_ode.p_c, 0)) == 0
        )
        assert all(sp.diff(gradient, a, 2) == 0 for a in two_stage_ode.value_blocks)
    assert one["eigenvalues"]["all_ones"] == 0
    # numerically: at uniform attention the key topic mode grows at r(delta) times the query's
    flow = _flow()
    values = {
        two_stage_ode.T: flow.num_topics,
        two_stage_ode.v: flow.words_per_topic,
        two_stage_ode.tau: flow.topics_per_doc,
        two_stage_ode.p_c: flow.keep_prob,
    }
    value_blocks = (1.3, 1.3, -0.4)
    margin = float(one["margin"].subs(dict(zip(two_stage_ode.value_blocks, value_blocks))).subs(values))
    tiny = 1e-7
    state = two_stage_ode.symmetric_state(value_blocks, (tiny, 0, 0), (tiny, 0, 0))
    velocity = flow.velocity(state)
    key_rate = velocity[3] + (flow.words_per_topic - 1) * velocity[4] - flow.words_per_topic * velocity[5]
    rate = float(one["growth_rate"].subs(values).subs(two_stage_ode.delta, margin))
    assert math.isclose(key_rate / tiny, rate, rel_tol=1e-5)


def test_onset_theory_closed_forms():
    theory = closed_form.onset_theory()
    kappa, m, delta = closed_form.kappa, closed_form.m, two_stage_ode.delta
    dt_ddelta = (sp.exp(delta) + m) / (kappa * m)
    assert sp.simplify(sp.diff(theory["time_of_margin"], delta) - dt_ddelta) == 0
    assert sp.simplify(sp.diff(theory["area_of_margin"], delta) - delta * dt_ddelta) == 0
    assert theory["time_of_margin"].subs(delta, 0) == 0 and theory["area_of_margin"].subs(delta, 0) == 0
    # the implicit stage-1 solution holds along t(delta)
    solution = theory["margin_solution"].subs({theory["delta0"]: 0, two_stage_ode.t: theory["time_of_margin"]})
    assert sp.simplify(solution) == 0
    # leading order: the kept terms dominate, and t* = Lambda / W(kappa m Lambda / e)
    assert theory["dominant_ratios"] == (1, 1)
    Lambda = theory["Lambda"]
    assert sp.simplify(theory["leading_order"] - Lambda / sp.LambertW(kappa * m * Lambda / sp.E)) == 0
    margin = theory["margin_leading"].subs({kappa: 0.01, m: 2.0, Lambda: 1e4})
    assert math.isclose(float((margin - 1) * sp.exp(margin)), 0.01 * 2.0 * 1e4, rel_tol=1e-12)


def test_onset_depends_on_init_scale_and_keep_prob_through_one_area():
    """Lambda = R*(epsilon) / (c p_c): doubling p_c and doubling R* give the same onset."""
    base = closed_form.predicted_onset(5, 4, 2, 0.1, 1e-2)
    threshold = float(
        closed_form.onset_theory()["threshold"].subs(
            {two_stage_ode.v: 4, two_stage_ode.tau: 2, two_stage_ode.excess: 0.05}
        )
    )
    # R*(eps') = 2 R*(eps)  <=>  eps'^2 = eps^4 / (sqrt(d) D_A*)
    smaller = (1e-2) ** 2 / math.sqrt(math.sqrt(22) * threshold)
    same = closed_form.predicted_onset(5, 4, 2, 0.2, smaller)
    assert math.isclose(same.area, base.area, rel_tol=1e-12)
    assert math.isclose(same.time, base.time, rel_tol=1e-9)
    assert same.margin > 0


def test_onset_slope_and_learning_rate():
    onset = closed_form.predicted_onset(5, 4, 2, 0.1, 1e-3, learning_rate=4.0)
    h = 1e-4
    up = closed_form.predicted_onset(5, 4, 2, 0.1, 1e-3 * math.exp(-h), learning_rate=4.0)
    down = closed_form.predicted_onset(5, 4, 2, 0.1, 1e-3 * math.exp(h), learning_rate=4.0)
    assert math.isclose((up.steps - down.steps) / (2 * h), onset.slope, rel_tol=1e-5)
    assert math.isclose(onset.steps * 4.0, onset.time, rel_tol=1e-12)
    assert math.isclose(closed_form.predicted_onset(5, 4, 2, 0.1, 1e-3).time, onset.time, rel_tol=1e-12)


def test_leading_order_onset_is_the_asymptote_of_the_closed_form():
    """t* ~ Lambda / W(kappa m Lambda / e) ~ Lambda / log(kappa m Lambda) as init_scale -> 0."""
    kappa = float(closed_form.stage_one()["kappa"].subs({two_stage_ode.T: 5, two_stage_ode.v: 4, two_stage_ode.tau: 2}))
    m = float(closed_form.stage_one()["m"].subs({two_stage_ode.T: 5, two_stage_ode.v: 4, two_stage_ode.tau: 2}))
    gaps, log_gaps = [], []
    for scale in (1e-2, 1e-20, 1e-200):
        onset = closed_form.predicted_onset(5, 4, 2, 0.1, scale)
        gaps.append(abs(onset.leading_order_time / onset.time - 1))
        log_gaps.append(abs(onset.area / math.log(kappa * m * onset.area) / onset.time - 1))
        assert onset.time < onset.area  # delta > 1 at the onset: the margin has grown
    assert gaps[0] > gaps[1] > gaps[2] and gaps[2] < 0.01
    assert log_gaps[0] > log_gaps[1] > log_gaps[2]  # log log corrections: it converges, but slowly


def test_predicted_onset_weight_decay_and_no_signal():
    free = closed_form.predicted_onset(5, 4, 2, 0.1, 1e-2)
    tiny = closed_form.predicted_onset(5, 4, 2, 0.1, 1e-2, weight_decay=1e-12)
    assert math.isclose(tiny.time, free.time, rel_tol=1e-5)
    slowed = closed_form.predicted_onset(5, 4, 2, 0.1, 1e-2, weight_decay=1e-5)
    assert slowed.time > free.time
    assert math.isinf(closed_form.predicted_onset(5, 4, 2, 0.1, 1e-2, weight_decay=0.1).time)  # decay beats growth
    assert math.isinf(closed_form.predicted_onset(5, 4, 2, 0.0, 1e-2).time)  # no kept words: no signal


def test_predicted_onset_matches_the_reduced_ode():
    flow = _flow(num_topics=5, words_per_topic=4, keep_prob=0.1, random_prob=0.1)
    for init in two_stage_ode.INITS:
        onset = closed_form.predicted_onset(5, 4, 2, 0.1, 1e-2, init)
        trajectory = two_stage_ode.integrate(
            flow, two_stage_ode.initial_state(1e-2, 5, 4, init), 1.5 * onset.time, points=600
        )
        assert abs(onset.time / two_stage_ode.onset_time(trajectory) - 1) < 0.1


def test_random_initialisation_amplitude():
    """E sum_h ((K_h + Q_h) . u)^2 / 4 = d init_scale^2 / 2 for a unit topic direction u."""
    vocab = Vocabulary(3, 2)
    generator = torch.Generator().manual_seed(0)
    u = torch.zeros(vocab.size, dtype=torch.float64)
    u[:2], u[2:4] = 1, -1
    u /= u.norm()
    draws = [
        (
            (
                torch.randn(vocab.size, vocab.size, generator=generator, dtype=torch.float64) * 0.1
                + torch.randn(vocab.size, vocab.size, generator=generator, dtype=torch.float64) * 0.1
            )
            @ u
        )
        .pow(2)
        .sum()
        / 4
        for _ in range(4000)
    ]
    amplitude = two_stage_ode.initial_state(0.1, 3, 2, "random")[3]
    assert math.isclose(float(torch.stack(draws).mean()), amplitude**2, rel_tol=0.05)
    assert two_stage_ode.initial_state(0.1, 3, 2, "symmetric")[[0, 3, 6]].tolist() == [0.1, 0.1, 0.1]


def test_onset_time_interpolates():
    frame = pd.DataFrame(
        {"time": [0.0, 1.0, 2.0, 3.0], two_stage_ode.MASS: [0.5, 0.52, 0.58, 0.7], two_stage_ode.UNIFORM_MASS: 0.5}
    )
    assert two_stage_ode.onset_time(frame, 0.05) == pytest.approx(1.5)
    assert math.isnan(two_stage_ode.onset_time(frame, 0.3))
    with pytest.raises(ValueError, match="excess"):
        two_stage_ode.onset_time(frame, 0.0)
    with pytest.raises(ValueError, match="step"):
        two_stage_ode.onset_time(frame, x="step")


def test_population_gradient_descent_stops_after_the_onset():
    model = TopicTransformer(ModelConfig(num_topics=3, words_per_topic=2, init_scale=0.3), seed=0).double()
    frame = population_descent.population_gradient_descent(
        model, 2, 0.3, 0.1, learning_rate=20.0, steps=400, stop_excess=0.05
    )
    assert len(frame) < 401 and frame[two_stage_ode.MASS].iloc[-1] >= 0.55
    assert frame["change.W_V"].iloc[0] == 0 and frame["change.W_V"].iloc[-1] > 1
    assert "asymmetry" not in frame
    fresh = TopicTransformer(ModelConfig(num_topics=3, words_per_topic=2, init_scale=0.3), seed=1).double()
    random_start = population_descent.population_gradient_descent(
        fresh, 2, 0.3, 0.1, learning_rate=1.0, steps=1, track_symmetry=True
    )
    assert random_start["asymmetry"].min() > 0.1  # a random matrix is far from the symmetric subspace


def test_validation():
    with pytest.raises(ValueError, match="num_topics"):
        _flow(num_topics=1)
    with pytest.raises(ValueError, match="keep_prob"):
        _flow(keep_prob=0.9, random_prob=0.2)
    with pytest.raises(ValueError, match="weight_decay"):
        _flow(weight_decay=-1)
    with pytest.raises(ValueError, match="state"):
        _flow().velocity(np.zeros(8))
    with pytest.raises(ValueError, match="init"):
        two_stage_ode.initial_state(0.1, 3, 2, "orthogonal")
    with pytest.raises(ValueError, match="init_scale"):
        two_stage_ode.initial_state(-0.1, 3, 2)
    with pytest.raises(ValueError, match="value"):
        two_stage_ode.symmetric_state(value=(1, 2))
    with pytest.raises(ValueError, match="topics_per_doc"):
        closed_form.predicted_onset(5, 4, 1, 0.1, 1e-2)
    with pytest.raises(ValueError, match="excess"):
        closed_form.predicted_onset(5, 4, 2, 0.1, 1e-2, excess=0.5)
    with pytest.raises(ValueError, match="learning_rate"):
        closed_form.predicted_onset(5, 4, 2, 0.1, 1e-2, learning_rate=0)
    model = TopicTransformer(ModelConfig(num_topics=3, words_per_topic=2, attention="uniform")).double()
    with pytest.raises(ValueError, match="trained attention"):
        population_descent.population_gradient_descent(model, 2, 0.1, 0.1, 1.0, 1)
    with pytest.raises(ValueError, match="learning_rate"):
        population_descent.population_gradient_descent(model, 2, 0.1, 0.1, 0.0, 1)
