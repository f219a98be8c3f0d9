"""Batched trainers, the regularization path and the evidence for N4-N11 (next_token.stacked, training,
measurements, path, experiments, evidence)."""

import dataclasses

import numpy as np
import pytest

from next_token import evidence as ev
from next_token import experiments as ex
from next_token import measurements as ms
from next_token import path as pa
from next_token import stacked as st
from next_token import training as tr
from next_token.data import generate_dataset
from next_token.loss import log_loss, loss_and_grad


@pytest.fixture(scope="module")
def e1():
    """Four datasets of the public code's E1 size (n=6, T=4, K=6, d=8, cyclic) and their exact solutions."""
    datasets = [generate_dataset(6, 4, 6, 8, "cyclic", seed=s) for s in range(4)]
    stack = st.stack_datasets(datasets)
    return datasets, stack, st.exact_solutions(stack)


@pytest.mark.parametrize("optimizer,lr", [("normalized_gd", 0.01), ("gd", 1.0)])
def test_batched_trainer_equals_per_dataset_loop_exactly(e1, optimizer, lr):
    datasets, stack, _ = e1
    W0 = tr.initial_weights(stack, "uniform", seed=3)
    batched = tr.train(stack, optimizer, lr, 300, W0=W0)
    looped = tr.train_each(datasets, optimizer=optimizer, learning_rate=lr, steps=300, W0=W0)
    for b, run in enumerate(looped):
        assert np.array_equal(batched.W[:, b], run.W[:, 0])
        assert np.array_equal(batched.steps, run.steps)


def test_gradient_and_loss_match_part_one(e1):
    datasets, stack, _ = e1
    W = np.random.default_rng(0).normal(size=(len(datasets), 8, 8))
    grads, losses = st.batched_grad(stack, W), st.batched_loss(stack, W)
    for b, ds in enumerate(datasets):
        loss, grad = loss_and_grad(ds, W[b])
        np.testing.assert_allclose(grads[b], grad, atol=1e-14)
        assert abs(losses[b] - loss) < 1e-13


@pytest.mark.parametrize("optimizer,lr,steps", [("normalized_gd", 0.05, 60), ("gd", 1.0, 300)])
def test_trainer_matches_an_independent_loop_on_part_one_gradient(e1, optimizer, lr, steps):
    # normalized GD is compared before it reaches the N11 bounce around W^fin: there a fixed-length step's
    # direction is decided by round-off, and any two float routes part ways
    datasets, stack, _ = e1
    run = tr.train(stack, optimizer, lr, steps, checkpoints=np.array([steps]))
    for b, ds in enumerate(datasets):
        W = np.zeros((8, 8))
        for _ in range(steps):
            g = loss_and_grad(ds, W)[1]
            W = W - lr * (g / np.linalg.norm(g) if optimizer == "normalized_gd" else g)
        np.testing.assert_allclose(run.final[b], W, atol=1e-12)


def test_stack_refuses_datasets_of_different_shapes():
    a = generate_dataset(6, 4, 6, 8, "cyclic", seed=0)
    b = generate_dataset(7, 4, 6, 8, "cyclic", seed=0)
    with pytest.raises(ValueError, match="dataset 1"):
        st.stack_datasets([a, b])


def test_train_refuses_bad_optimizer_and_rate(e1):
    _, stack, _ = e1
    with pytest.raises(ValueError, match="optimizer"):
        tr.train(stack, "adam", 0.01, 10)
    with pytest.raises(ValueError, match="learning_rate"):
        tr.train(stack, "gd", 0.0, 10)


def test_regularization_path_limits_are_part_one_exact_solutions(e1):
    datasets, stack, exact = e1
    mus = np.geomspace(1.0, 1e-10, 31)
    path = pa.regularization_path(stack, mus)
    assert path.grad_norm.max() < 1e-10
    m = ms.measure(stack, exact, path.W)
    assert np.all(m.fin_dist[-1] < 1e-6)  # Pi_Sfin W_mu -> W^fin
    assert np.all(m.cos_svm[-1] > 0.99)  # W_mu / ||W_mu|| -> W^svm / ||W^svm||
    assert np.all(np.diff(m.cos_svm[len(mus) // 2 :], axis=0) > -1e-9)  # and monotonically so, late on the path
    assert np.all(np.diff(m.norm, axis=0) > 0)
    assert np.all(m.loss_gap[-1] < 1e-6) and np.all(m.loss_gap[-1] > -1e-12)  # L(W_mu) -> L*, never below
    for b, ds in enumerate(datasets):  # one implementation: a dataset alone gives the same points as in the stack
        alone = pa.regularization_path(st.stack_datasets([ds]), mus[:10])
        np.testing.assert_array_equal(alone.W[:, 0], path.W[:10, b])
        for j in range(10):
            assert abs(log_loss(ds, path.W[j, b]) - path.loss[j, b]) < 1e-12


def test_direction_evidence_holds_for_w_svm_and_flips_for_a_perturbed_direction(e1):
    _, stack, exact = e1
    run = tr.train(stack, "normalized_gd", 0.01, 3000)
    good = ev.direction(ms.measure(stack, exact, run.W), exact)
    assert good.unmet == "" and good.measured > good.criterion
    noise = np.random.default_rng(1).normal(size=exact.W_svm.shape)
    for scale, verdicts in [(0.3, ("fails", "inconclusive")), (1.0, ("fails",))]:
        W_bad = exact.W_svm + scale * exact.svm_norm[:, None, None] * noise / 8
        norms = np.linalg.norm(W_bad.reshape(len(W_bad), -1), axis=1)
        wrong = dataclasses.replace(exact, W_svm=W_bad, svm_norm=norms)
        bad = ev.direction(ms.measure(stack, wrong, run.W), wrong)
        assert bad.measured < bad.criterion  # never "holds" for a wrong direction
        assert ("inconclusive" if bad.unmet else "fails") in verdicts


def test_fin_evidence_flips_for_a_wrong_finite_component(e1):
    _, stack, exact = e1
    run = tr.train(stack, "normalized_gd", 0.01, 3000)
    good = ev.fin_component(ms.measure(stack, exact, run.W), exact, "normalized_gd", 0.01)
    assert good.measured <= good.criterion
    used = np.any(exact.fin_basis != 0, axis=(1, 2))
    shift = np.einsum(
        "bm,bmj->bj", np.where(used[:, None], 0.5, 0.0) * np.ones(exact.fin_basis.shape[:2]), exact.fin_basis
    ).reshape(exact.W_fin.shape)
    wrong = dataclasses.replace(exact, W_fin=exact.W_fin + shift)
    bad = ev.fin_component(ms.measure(stack, wrong, run.W), wrong, "normalized_gd", 0.01)
    assert bad.measured > bad.criterion and bad.unmet == ""  # stalled far away: a failure, not "still moving"


def test_normalized_gd_plateau_is_half_the_step(e1):
    _, stack, exact = e1
    used = np.any(exact.fin_basis != 0, axis=(1, 2))
    by_rate = {}
    for eta in (0.05, 0.1):
        run = tr.train(stack, "normalized_gd", eta, 3000, checkpoints=np.arange(0, 3001, 10))
        by_rate[eta] = ms.measure(stack, exact, run.W).fin_dist
    evidence = ev.plateau(by_rate, used)
    assert abs(evidence.measured - 0.5) < 0.1


def test_ray_gap_bound_holds_and_breaks_with_a_too_large_margin(e1):
    _, stack, exact = e1
    radii = np.array([4.0, 8.0, 16.0, 32.0])
    actual = st.batched_loss(stack, ms.superposition_ray(exact, radii)) - exact.loss_star
    bound = ev.ray_gap_bound(stack, exact, radii)
    assert np.all(actual <= bound + 1e-15)
    # a bound that assumed margins twice too large (||W^svm|| halved) is violated on the same ray
    tight = ev.ray_gap_bound(stack, dataclasses.replace(exact, svm_norm=exact.svm_norm / 2), radii)
    assert np.any(actual > tight)


def test_metrics_of_the_superposition_itself(e1):
    _, stack, exact = e1
    m = ms.measure(stack, exact, ms.superposition_ray(exact, np.array([200.0])))
    np.testing.assert_allclose(m.fin_dist, 0, atol=1e-12)
    np.testing.assert_allclose(m.residual, 0, atol=1e-12)
    assert np.all(m.min_mass > 1 - 1e-12) and np.all(m.tv < 1e-12) and np.all(m.support == 1)


def test_reproduce_experiments_is_the_batched_protocol_run():
    spec = {"EX": dict(size=(4, 3, 5, 6), data_class="cyclic", code="quoted")}
    table, tracks = ex.reproduce_experiments(7, spec)
    assert list(table.index) == ["EX"]
    metrics, exact = tracks["EX"].metrics, tracks["EX"].exact
    sets = [generate_dataset(4, 3, 5, 6, "cyclic", "gaussian", False, seed=7 + j) for j in range(10)]
    stack = st.stack_datasets(sets)
    run = tr.train(stack, "normalized_gd", 0.01, 4000, W0=tr.initial_weights(stack, "uniform", seed=7))
    np.testing.assert_allclose(metrics.cos_svm[-1], ms.measure(stack, exact, run.W).cos_svm[-1])
    cos = metrics.cos_svm[-1]
    assert table.loc["EX", "cos(W, W^svm) at 4000: mean ± sd"] == f"{np.mean(cos):.4f} ± {np.std(cos):.4f}"


def test_a_short_run_is_out_of_the_regime_not_a_wrong_direction():
    """300 steps from 0 on acyclic data: the residual still grows with ||W|| as a wrong direction's would; with the
    stack given, the superposition at the reached norm does not yet retrieve C_i, so the verdict waits."""
    datasets = [generate_dataset(6, 4, 6, 8, "acyclic", seed=s) for s in range(2)]
    stack = st.stack_datasets(datasets)
    exact = st.exact_solutions(stack)
    metrics = ms.measure(stack, exact, tr.train(stack, "normalized_gd", 0.01, 300).W)
    without = ev.direction(metrics, exact)
    assert without.measured < without.criterion and without.unmet == ""  # would be judged a wrong direction
    with_stack = ev.direction(metrics, exact, stack)
    assert "not yet in the regime" in with_stack.unmet
    long_run = ms.measure(stack, exact, tr.train(stack, "normalized_gd", 0.01, 4000).W)
    assert ev.direction(long_run, exact, stack).unmet == ""  # in the regime: judged
