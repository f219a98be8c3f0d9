"""The log-loss of one self-attention layer with the head aligned to the embeddings, its gradient and Hessian.

With W (d, d) the combined key-query matrix and the last token as query, the score of position t of sample i is
    a_it = x_{tok_it}^T W x_{k_i},
the attention is s_i = softmax_t(a_i), and the probability of the next token v is the attention mass on the
positions holding v. The log-loss is
    L(W) = (1/n) sum_i [ LSE_t a_it - LSE_{t: tok_it = y_i} a_it ].
Passing `restrict` (an (n, T) bool mask, e.g. the retrieved sets C_i) restricts the first log-sum-exp to the
masked positions: that is the finite-component loss L_fin.

All scores go through the (K, K) score table A = E W E^T, a_it = A[tok_it, k_i], so evaluating L costs O(K d^2).
"""

from __future__ import annotations

import numpy as np
from scipy.special import logsumexp, softmax

from next_token.data import Dataset


def score_table(E: np.ndarray, W: np.ndarray) -> np.ndarray:
    """(K, K) table A[u, k] = x_u^T W x_k for E (K, d) and W (d, d)."""
    return E @ W @ E.T


def scores(ds: Dataset, W: np.ndarray) -> np.ndarray:
    """(n, T) attention scores a_it = x_{tok_it}^T W x_{k_i}."""
    return score_table(ds.E, W)[ds.tok, ds.query[:, None]]


def lse(a: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
    """Log-sum-exp of a (..., T) along the last axis, over the positions of mask (..., T) when given."""
    am = a if mask is None else np.where(mask, a, -np.inf)
    top = am.max(axis=-1, keepdims=True)
    return top[..., 0] + np.log(np.exp(am - top).sum(axis=-1))


def masked_softmax(a: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
    """Softmax of a (..., T) along the last axis, over the positions of mask (..., T) when given (0 outside)."""
    am = a if mask is None else np.where(mask, a, -np.inf)
    e = np.exp(am - am.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def _masked(a: np.ndarray, mask: np.ndarray | None) -> np.ndarray:
    return a if mask is None else np.where(mask, a, -np.inf)


def attention(ds: Dataset, W: np.ndarray, restrict: np.ndarray | None = None) -> np.ndarray:
    """(n, T) attention s_i = softmax_t(a_i) (over the positions of `restrict` only, when given)."""
    return softmax(_masked(scores(ds, W), restrict), axis=1)


def next_token_probs(ds: Dataset, W: np.ndarray) -> np.ndarray:
    """(n, K) model output p_i(v) = sum_t 1[tok_it = v] s_it: the attention mass on the positions holding v."""
    s = attention(ds, W)
    p = np.zeros((ds.n, ds.K))
    np.add.at(p, (np.repeat(np.arange(ds.n), ds.T), ds.tok.ravel()), s.ravel())
    return p


def per_sample_loss(ds: Dataset, W: np.ndarray, restrict: np.ndarray | None = None) -> np.ndarray:
    """(n,) -log p_i(y_i), with the normalisation over `restrict` when given."""
    a = scores(ds, W)
    return logsumexp(_masked(a, restrict), axis=1) - logsumexp(_masked(a, ds.label_mask), axis=1)


def log_loss(ds: Dataset, W: np.ndarray, restrict: np.ndarray | None = None) -> float:
    """L(W) (or L_fin(W) with restrict = the retrieved sets)."""
    return float(per_sample_loss(ds, W, restrict).mean())


def _attention_minus_label(ds: Dataset, W: np.ndarray, restrict: np.ndarray | None):
    a = scores(ds, W)
    s = softmax(_masked(a, restrict), axis=1)
    q = softmax(_masked(a, ds.label_mask), axis=1)
    return s, q


def loss_and_grad(ds: Dataset, W: np.ndarray, restrict: np.ndarray | None = None) -> tuple[float, np.ndarray]:
    """L(W) and its gradient (d, d): (1/n) sum_it (s_it - q_it) x_{tok_it} x_{k_i}^T, q = softmax on label positions."""
    s, q = _attention_minus_label(ds, W, restrict)
    K = ds.K
    flat = (ds.tok * K + ds.query[:, None]).ravel()
    table = np.bincount(flat, weights=(s - q).ravel(), minlength=K * K).reshape(K, K) / ds.n
    return log_loss(ds, W, restrict), ds.E.T @ table @ ds.E


def basis_features(ds: Dataset, basis: np.ndarray | None = None) -> np.ndarray:
    """(n, T, m) derivatives J[i, t, j] = d a_it / d theta_j for W = sum_j theta_j B_j.

    basis: (m, d, d) matrices B_j; None means the standard basis of R^{d x d} (m = d^2, row-major vec(W)).
    """
    if basis is None:
        X = ds.E[ds.tok]  # (n, T, d)
        xq = ds.E[ds.query]  # (n, d)
        return (X[:, :, :, None] * xq[:, None, None, :]).reshape(ds.n, ds.T, -1)
    tables = np.einsum("ka,jab,lb->jkl", ds.E, basis, ds.E, optimize=True)  # (m, K, K)
    return np.moveaxis(tables[:, ds.tok, ds.query[:, None]], 0, -1)


def hessian(
    ds: Dataset,
    W: np.ndarray,
    basis: np.ndarray | None = None,
    restrict: np.ndarray | None = None,
    features: np.ndarray | None = None,
) -> np.ndarray:
    """(m, m) Hessian of L (or L_fin) in the coordinates of `basis` (see basis_features).

    H = (1/n) sum_i J_i^T [(diag s_i - s_i s_i^T) - (diag q_i - q_i q_i^T)] J_i. Pass precomputed `features`
    (n, T, m) to avoid rebuilding J.
    """
    J = basis_features(ds, basis) if features is None else features
    s, q = _attention_minus_label(ds, W, restrict)
    m = J.shape[-1]
    Jf = J.reshape(-1, m)
    first = (Jf * (s - q).reshape(-1, 1)).T @ Jf
    ms = np.einsum("itj,it->ij", J, s)
    mq = np.einsum("itj,it->ij", J, q)
    return (first - ms.T @ ms + mq.T @ mq) / ds.n
