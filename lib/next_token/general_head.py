"""N10, beyond the theorem: cross-entropy with the general head, the local SVM, and factorised attention W = K Q^T.

General head (the public code's `cls_choice='gen'`): the logits of sample i are z_i = E X_i^T s_i (K,), i.e.
z_iv = sum_t s_it <x_v, x_{tok_it}>, and the loss is the cross-entropy of y_i. With M = E E^T (B, K, K):
    dL/dz_i = softmax(z_i) - e_{y_i},   dL/ds_it = (M dL/dz_i)[tok_it],   dL/da_i = s_i * (h_i - <s_i, h_i>),
and grad W = (1/n) sum_it dL/da_it phi_it, as for the log-loss. Batched over datasets like next_token.dynamics.

Local SVM (the public code's local notebook): the Graph-SVM rebuilt from the tokens the trained attention selects
(attention > 1e-2): edges o -> v from every selected token o to every unselected token v of the sequence, and the
selected tokens of a sample made one SCC (equal scores), solved by part 1's exact solver.
"""

from __future__ import annotations

import numpy as np

from next_token.data import Dataset
from next_token.dynamics import StackedDatasets
from next_token.graphs import TokenPriorityGraphs, tarjan_scc

SELECT_THRESHOLD = 1e-2  # the public code's: a token holding more than 1% of the final attention is selected


def _attention(stack: StackedDatasets, W: np.ndarray) -> np.ndarray:
    B, n, T, K, d = stack.shape
    a = (stack.features @ W.reshape(B, d * d, 1)).reshape(B, n, T)
    e = np.exp(a - a.max(2, keepdims=True))
    return e / e.sum(2, keepdims=True)


def _token_gram(stack: StackedDatasets) -> np.ndarray:
    """(B, n, T, K) M[v, tok_it] = <x_v, x_{tok_it}>."""
    M = stack.E @ np.swapaxes(stack.E, 1, 2)  # (B, K, K)
    B, n, T = stack.tok.shape
    return np.take_along_axis(M[:, None, None, :, :], stack.tok[:, :, :, None, None], axis=3)[:, :, :, 0, :]


def ce_loss_and_grad(stack: StackedDatasets, W: np.ndarray, gram: np.ndarray | None = None):
    """(B,) cross-entropy of the general head and its gradient (B, d, d) at W (B, d, d)."""
    B, n, T, K, d = stack.shape
    gram = _token_gram(stack) if gram is None else gram
    s = _attention(stack, W)
    z = np.einsum("bnt,bntk->bnk", s, gram)
    z_max = z.max(-1, keepdims=True)
    lse = z_max[..., 0] + np.log(np.exp(z - z_max).sum(-1))
    loss = (lse - np.take_along_axis(z, stack.y[..., None], -1)[..., 0]).mean(-1)
    gz = np.exp(z - lse[..., None])
    np.put_along_axis(gz, stack.y[..., None], np.take_along_axis(gz, stack.y[..., None], -1) - 1.0, -1)
    h = np.einsum("bntk,bnk->bnt", gram, gz)
    da = s * (h - (s * h).sum(-1, keepdims=True))
    grad = (da.reshape(B, 1, n * T) @ stack.features).reshape(B, d, d) / n
    return loss, grad


def train_general_head(stack: StackedDatasets, learning_rate: float, steps: int, W0: np.ndarray) -> np.ndarray:
    """Normalized GD on the general-head cross-entropy, all datasets batched; returns the final W (B, d, d)."""
    gram = _token_gram(stack)
    W = np.array(W0, dtype=np.float64)
    for _ in range(steps):
        _, g = ce_loss_and_grad(stack, W, gram)
        norm = np.sqrt((g * g).sum((1, 2), keepdims=True))
        W = W - learning_rate * g / np.where(norm > 0, norm, 1.0)
    return W


def local_graphs(ds: Dataset, attention: np.ndarray, threshold: float = SELECT_THRESHOLD) -> TokenPriorityGraphs:
    """The local TPGs of a trained attention (n, T): o -> v for selected o, unselected v; selected tokens one SCC."""
    K = ds.K
    adj = np.zeros((K, K, K), dtype=bool)
    for i in range(ds.n):
        k = ds.query[i]
        selected = np.unique(ds.tok[i][attention[i] > threshold])
        others = np.setdiff1d(np.unique(ds.tok[i]), selected)
        adj[k][np.ix_(selected, others)] = True
        adj[k][np.ix_(selected, selected)] = True
    for k in range(K):
        np.fill_diagonal(adj[k], False)
    scc = np.tile(np.arange(K, dtype=np.int64), (K, 1))
    queries = np.unique(ds.query)
    for k in queries:
        if adj[k].any():
            scc[k] = tarjan_scc(adj[k])
    return TokenPriorityGraphs(adjacency=adj, scc=scc, queries=queries)


def ambiguous_selection(attention: np.ndarray, threshold: float = SELECT_THRESHOLD) -> int:
    """Positions whose attention lies in [0.9, 1] x threshold, which the public code treats as ambiguous."""
    return int(np.sum((attention >= 0.9 * threshold) & (attention <= threshold)))


def train_factorised(
    stack: StackedDatasets,
    learning_rate: float,
    steps: int,
    K0: np.ndarray,
    Q0: np.ndarray,
    optimizer: str = "normalized_gd",
):
    """GD or normalized GD on the log-loss with W = K Q^T, K and Q (B, d, d) trained jointly; returns (K, Q).

    grad_K L = G Q and grad_Q L = G^T K with G = grad_W L; normalized GD divides the joint gradient by its norm,
    per dataset.
    """
    from next_token.dynamics import batched_grad

    Kf, Qf = np.array(K0, dtype=np.float64), np.array(Q0, dtype=np.float64)
    for _ in range(steps):
        G = batched_grad(stack, Kf @ np.swapaxes(Qf, 1, 2))
        gK, gQ = G @ Qf, np.swapaxes(G, 1, 2) @ Kf
        norm = np.sqrt((gK * gK).sum((1, 2)) + (gQ * gQ).sum((1, 2)))[:, None, None]
        norm = np.where(norm > 0, norm, 1.0) if optimizer == "normalized_gd" else 1.0
        Kf, Qf = Kf - learning_rate * gK / norm, Qf - learning_rate * gQ / norm
    return Kf, Qf
