import warnings

import numpy as np
import pytest

from next_token.data import EmbeddingRankWarning, generate_dataset
from next_token.graphs import retrieved_mask, token_priority_graphs
from next_token.loss import hessian, log_loss, loss_and_grad, next_token_probs, per_sample_loss


def _data():
    with warnings.catch_warnings():  # K > d on purpose: the loss needs no independence
        warnings.simplefilter("ignore", EmbeddingRankWarning)
        return generate_dataset(8, 5, 6, 4, "cyclic", repeats=True, seed=2)


def test_gradient_matches_finite_differences():
    ds = _data()
    rng = np.random.default_rng(0)
    W = rng.standard_normal((ds.d, ds.d))
    for restrict in (None, retrieved_mask(ds, token_priority_graphs(ds))):
        _, grad = loss_and_grad(ds, W, restrict)
        h = 1e-6
        numeric = np.zeros_like(W)
        for a in range(ds.d):
            for b in range(ds.d):
                E = np.zeros_like(W)
                E[a, b] = h
                numeric[a, b] = (log_loss(ds, W + E, restrict) - log_loss(ds, W - E, restrict)) / (2 * h)
        assert np.allclose(grad, numeric, atol=1e-8)


def test_hessian_matches_gradient_differences_and_is_psd():
    ds = _data()
    W = np.random.default_rng(1).standard_normal((ds.d, ds.d))
    H = hessian(ds, W)
    h = 1e-6
    numeric = np.zeros_like(H)
    for j in range(ds.d**2):
        E = np.zeros(ds.d**2)
        E[j] = h
        gp = loss_and_grad(ds, W + E.reshape(ds.d, ds.d))[1].ravel()
        gm = loss_and_grad(ds, W - E.reshape(ds.d, ds.d))[1].ravel()
        numeric[:, j] = (gp - gm) / (2 * h)
    assert np.allclose(H, numeric, atol=1e-7)
    assert np.linalg.eigvalsh(H).min() > -1e-12


def test_probabilities_and_loss_agree():
    ds = _data()
    W = np.random.default_rng(2).standard_normal((ds.d, ds.d))
    p = next_token_probs(ds, W)
    assert np.allclose(p.sum(axis=1), 1.0)
    assert np.allclose(-np.log(p[np.arange(ds.n), ds.y]), per_sample_loss(ds, W))


def test_hessian_vector_product_and_lanczos_match_the_dense_hessian():
    from next_token.verify import _lanczos_extremes, hessian_vector_product

    ds = generate_dataset(10, 6, 8, 8, "cyclic", seed=2)
    rng = np.random.default_rng(0)
    W, V = rng.standard_normal((8, 8)), rng.standard_normal((8, 8))
    H = hessian(ds, W)
    assert np.allclose(H @ V.ravel(), hessian_vector_product(ds, W, V).ravel(), atol=1e-14)
    assert hessian(ds, W, basis=V[None])[0, 0] == pytest.approx(V.ravel() @ H @ V.ravel(), rel=1e-12)
    low, high = _lanczos_extremes(ds, W)
    eig = np.linalg.eigvalsh(H)
    assert high == pytest.approx(eig[-1], rel=1e-8)
    assert eig[0] - 1e-12 <= low <= 1e-4 * high  # a Ritz value inside the spectrum, in the cluster at zero
