"""N10: the general-head cross-entropy, its local SVM and the factorised run (next_token.general_head)."""

import numpy as np
import pytest

from next_token import general_head as gh
from next_token import stacked as st
from next_token import training as tr
from next_token.data import generate_dataset
from next_token.svm import solve_graph_svm


@pytest.fixture(scope="module")
def stack():
    return st.stack_datasets([generate_dataset(6, 4, 6, 8, "cyclic", seed=s) for s in range(3)])


def test_ce_gradient_matches_finite_differences(stack):
    rng = np.random.default_rng(0)
    W, D = 0.5 * rng.normal(size=(3, 8, 8)), rng.normal(size=(3, 8, 8))
    _, grad = gh.ce_loss_and_grad(stack, W)
    eps = 1e-6
    plus, _ = gh.ce_loss_and_grad(stack, W + eps * D)
    minus, _ = gh.ce_loss_and_grad(stack, W - eps * D)
    np.testing.assert_allclose((plus - minus) / (2 * eps), (grad * D).sum((1, 2)), atol=1e-8)


def test_ce_loss_matches_a_direct_computation(stack):
    W = np.random.default_rng(1).normal(size=(3, 8, 8))
    loss, _ = gh.ce_loss_and_grad(stack, W)
    for b in range(3):
        ds = stack.dataset(b)
        a = (ds.E[ds.tok] @ W[b] @ ds.E[ds.query].T)[np.arange(ds.n), :, np.arange(ds.n)]
        s = np.exp(a - a.max(1, keepdims=True))
        s /= s.sum(1, keepdims=True)
        z = np.einsum("it,itd,kd->ik", s, ds.E[ds.tok], ds.E)
        direct = np.mean(np.log(np.exp(z).sum(1)) - z[np.arange(ds.n), ds.y])
        assert abs(direct - loss[b]) < 1e-12


def test_local_graphs_select_the_attended_tokens():
    ds = generate_dataset(6, 4, 6, 8, "cyclic", seed=0)
    attention = np.zeros((ds.n, ds.T))
    attention[:, 0] = 1.0  # every sample attends to its first position only
    graphs = gh.local_graphs(ds, attention)
    for i in range(ds.n):
        k, first = ds.query[i], ds.tok[i, 0]
        for v in set(ds.tok[i]) - {first}:
            assert graphs.adjacency[k, first, v]
    svm = solve_graph_svm(ds, graphs)  # the local SVM puts the first token on top of its sequence
    scores = ds.E @ svm.W @ ds.E.T
    gaps = [
        scores[ds.tok[i, 0], ds.query[i]] - scores[v, ds.query[i]]
        for i in range(ds.n)
        for v in set(ds.tok[i]) - {ds.tok[i, 0]}
    ]
    assert min(gaps) >= 1 - 1e-9


def test_factorised_run_keeps_the_product_form(stack):
    K0 = 0.1 * tr.initial_weights(stack, "uniform", seed=1)
    Q0 = 0.1 * tr.initial_weights(stack, "uniform", seed=2)
    Kf, Qf, run = gh.train_factorised(stack, 0.01, 50, K0, Q0)
    np.testing.assert_allclose(run.final, Kf @ np.swapaxes(Qf, 1, 2))
    loss0 = st.batched_loss(stack, K0 @ np.swapaxes(Q0, 1, 2))
    loss1 = st.batched_loss(stack, Kf @ np.swapaxes(Qf, 1, 2))
    assert np.all(loss1 < loss0)
    step = np.sqrt(((Kf - K0) ** 2).sum((1, 2)) + ((Qf - Q0) ** 2).sum((1, 2)))
    assert np.all(step <= 50 * 0.01 + 1e-12)  # normalized steps of length 0.01


def test_squared_loss_gradient_matches_finite_differences(stack):
    rng = np.random.default_rng(2)
    W, D = 0.5 * rng.normal(size=(3, 8, 8)), rng.normal(size=(3, 8, 8))
    _, grad = gh.ce_loss_and_grad(stack, W, loss="squared")
    eps = 1e-6
    plus, _ = gh.ce_loss_and_grad(stack, W + eps * D, loss="squared")
    minus, _ = gh.ce_loss_and_grad(stack, W - eps * D, loss="squared")
    np.testing.assert_allclose((plus - minus) / (2 * eps), (grad * D).sum((1, 2)), atol=1e-8)


def test_squared_loss_matches_a_direct_computation(stack):
    W = np.random.default_rng(3).normal(size=(3, 8, 8))
    loss, _ = gh.ce_loss_and_grad(stack, W, loss="squared")
    for b in range(3):
        ds = stack.dataset(b)
        a = (ds.E[ds.tok] @ W[b] @ ds.E[ds.query].T)[np.arange(ds.n), :, np.arange(ds.n)]
        s = np.exp(a - a.max(1, keepdims=True))
        s /= s.sum(1, keepdims=True)
        z = np.einsum("it,itd,kd->ik", s, ds.E[ds.tok], ds.E)
        p = np.exp(z) / np.exp(z).sum(1, keepdims=True)
        assert abs(np.mean((1 - p[np.arange(ds.n), ds.y]) ** 2) - loss[b]) < 1e-12
