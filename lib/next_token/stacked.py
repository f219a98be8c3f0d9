"""B datasets of one shape stacked along a leading axis, their exact solutions, and the batched log-loss.

The datasets of one experiment share (n, T, K, d), so they are stacked and handled together: every computation is a
handful of batched numpy operations on arrays with a leading dataset axis B, never a Python loop over datasets.
Scores are linear in W, a_it = <phi_it, vec W> with phi_it = vec(x_{tok_it} x_{k_i}^T), so the stacked feature
tensor Phi (B, n T, d^2) gives the scores as one batched matrix product and the gradient as its transpose:

    grad L(W) = (1/n) sum_it (s_it - q_it) phi_it,     q_i = softmax of a_i over the label positions.

The exact solutions of each dataset (W^svm, W^fin, L*, S_fin, the retrieved sets C_i) come from the certified
solvers of ``next_token.svm``.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

from next_token.data import Dataset, EmbeddingRankWarning
from next_token.graphs import retrieved_mask, token_priority_graphs
from next_token.loss import lse, masked_softmax
from next_token.svm import solve_graph_svm, solve_w_fin


@dataclass(frozen=True)
class StackedDatasets:
    """B datasets of equal shape (n, T, K, d), stacked along a leading axis.

    Attributes:
        E: (B, K, d) embeddings.   tok: (B, n, T) token ids.   query: (B, n).   y: (B, n).
        label_mask: (B, n, T) bool, positions holding the label.
        features: (B, n T, d^2) rows phi_it = vec(x_{tok_it} x_{k_i}^T) (row-major vec, as W.reshape(-1)).
    """

    E: np.ndarray
    tok: np.ndarray
    query: np.ndarray
    y: np.ndarray
    label_mask: np.ndarray
    features: np.ndarray

    @property
    def shape(self) -> tuple[int, int, int, int, int]:
        """(B, n, T, K, d)."""
        B, n, T = self.tok.shape
        return B, n, T, self.E.shape[1], self.E.shape[2]

    def dataset(self, b: int) -> Dataset:
        """Dataset b as part 1's Dataset."""
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", EmbeddingRankWarning)
            return Dataset(self.E[b], self.tok[b], self.y[b])


def stack_datasets(datasets: list[Dataset]) -> StackedDatasets:
    """Stack datasets that share (n, T, K, d); raises ValueError naming the first one that differs."""
    if not datasets:
        raise ValueError("stack_datasets needs at least one dataset")
    shape0 = (datasets[0].n, datasets[0].T, datasets[0].K, datasets[0].d)
    for b, ds in enumerate(datasets):
        if (ds.n, ds.T, ds.K, ds.d) != shape0:
            raise ValueError(f"dataset {b} has (n, T, K, d) = {(ds.n, ds.T, ds.K, ds.d)}, dataset 0 has {shape0}")
    E = np.stack([ds.E for ds in datasets])
    tok = np.stack([ds.tok for ds in datasets])
    query = tok[:, :, -1]
    y = np.stack([ds.y for ds in datasets])
    B, n, T = tok.shape
    d = E.shape[2]
    X = np.take_along_axis(E[:, None, :, :], tok.reshape(B, n * T)[:, :, None, None], axis=2)[:, :, 0]  # (B,nT,d)
    xq = np.repeat(np.take_along_axis(E, query[:, :, None], axis=1), T, axis=1)  # (B, nT, d)
    features = (X[:, :, :, None] * xq[:, :, None, :]).reshape(B, n * T, d * d)
    return StackedDatasets(E, tok, query, y, tok == y[:, :, None], features)


@dataclass(frozen=True)
class ExactSolutions:
    """Part 1's exact solutions for each stacked dataset.

    Attributes:
        W_svm, W_fin: (B, d, d).   loss_star: (B,).   svm_norm: (B,) ||W^svm||_F.
        fin_basis: (B, m, d^2) orthonormal S_fin bases, zero-padded to the largest dimension m.
        retrieved: (B, n, T) bool, the retrieved sets C_i.
        composition: (B, n, T) softmax over C_i of the W^fin scores (0 outside C_i): N7's limiting attention.
        certificate_worst: (B,) largest KKT violation of each Graph-SVM solution.
    """

    W_svm: np.ndarray
    W_fin: np.ndarray
    loss_star: np.ndarray
    svm_norm: np.ndarray
    fin_basis: np.ndarray
    retrieved: np.ndarray
    composition: np.ndarray
    certificate_worst: np.ndarray

    @property
    def direction(self) -> np.ndarray:
        """(B, d, d) W_hat = W^svm / ||W^svm|| (zero where W^svm = 0)."""
        scale = np.where(self.svm_norm > 0, self.svm_norm, 1.0)
        return self.W_svm / scale[:, None, None]


def exact_solutions(stack: StackedDatasets) -> ExactSolutions:
    """W^svm, W^fin, L*, S_fin and C_i of every stacked dataset, by part 1's certified solvers."""
    B, n, T, K, d = stack.shape
    svms, fins, bases, masks = [], [], [], []
    for b in range(B):
        ds = stack.dataset(b)
        graphs = token_priority_graphs(ds)
        svm = solve_graph_svm(ds, graphs)
        if not svm.feasible:
            raise ValueError(f"dataset {b}: the Graph-SVM is infeasible (linearly dependent embeddings?)")
        svms.append(svm)
        fins.append(solve_w_fin(ds, graphs, svm.basis))
        bases.append(svm.basis.matrices.reshape(-1, d * d))
        masks.append(retrieved_mask(ds, graphs))
    m = max(1, max(basis.shape[0] for basis in bases))
    fin_basis = np.zeros((B, m, d * d))
    for b, basis in enumerate(bases):
        fin_basis[b, : basis.shape[0]] = basis
    W_fin = np.stack([f.W for f in fins])
    retrieved = np.stack(masks)
    composition = masked_softmax(scores(stack, W_fin), retrieved)
    return ExactSolutions(
        W_svm=np.stack([s.W for s in svms]),
        W_fin=W_fin,
        loss_star=np.array([f.loss_star for f in fins]),
        svm_norm=np.array([s.norm for s in svms]),
        fin_basis=fin_basis,
        retrieved=retrieved,
        composition=composition,
        certificate_worst=np.array([s.certificate.worst() for s in svms]),
    )


# ----------------------------------------------------------------------------------------------------------------
# loss pieces, batched over any leading axes


def scores(stack: StackedDatasets, W: np.ndarray) -> np.ndarray:
    """(..., B, n, T) scores for W (..., B, d, d)."""
    B, n, T, K, d = stack.shape
    w = W.reshape(*W.shape[:-2], d * d, 1)
    return (stack.features @ w).reshape(*W.shape[:-3], B, n, T)


def batched_loss(stack: StackedDatasets, W: np.ndarray) -> np.ndarray:
    """(..., B) log-loss L(W) of each dataset for W (..., B, d, d)."""
    a = scores(stack, W)
    return (lse(a) - lse(a, stack.label_mask)).mean(axis=-1)


def batched_grad(stack: StackedDatasets, W: np.ndarray) -> np.ndarray:
    """(B, d, d) gradient of L at W (B, d, d): (1/n) sum_it (s_it - q_it) phi_it."""
    B, n, T, K, d = stack.shape
    a = (stack.features @ W.reshape(B, d * d, 1)).reshape(B, n, T)
    e = np.exp(a - a.max(axis=2, keepdims=True))
    s = e / e.sum(axis=2, keepdims=True)
    al = np.where(stack.label_mask, a, -np.inf)
    el = np.exp(al - al.max(axis=2, keepdims=True))
    q = el / el.sum(axis=2, keepdims=True)
    r = (s - q).reshape(B, 1, n * T)
    return (r @ stack.features).reshape(B, d, d) / n
