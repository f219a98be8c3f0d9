"""The regularization path W_mu = argmin L(W) + (mu/2) ||W||_F^2, solved by Newton's method.

The gradient of L is sum_it (s_it - q_it)(x_{tok_it} - x_{y_i}) x_{k_i}^T / n (both s_i and q_i sum to one and q_i
lives on the label positions), so it lies in S_data = span{(x_u - x_v) x_k^T : u -> v an edge of G^(k)}, and so
does W_mu = -grad L(W_mu) / mu. Newton therefore runs on the coordinates of an orthonormal basis of S_data.
For convex L the penalised path is the same curve as the norm-constrained path argmin_{||W|| <= R} L.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from next_token.data import Dataset
from next_token.graphs import TokenPriorityGraphs, token_priority_graphs
from next_token.loss import basis_features, hessian, log_loss

RANK_RTOL = 1e-10


def data_basis(ds: Dataset, graphs: TokenPriorityGraphs | None = None) -> np.ndarray:
    """(m, d, d) orthonormal basis of S_data, from the Gram matrix of the rank-one edge matrices."""
    graphs = token_priority_graphs(ds) if graphs is None else graphs
    e = graphs.edges()
    if e.shape[0] == 0:
        return np.zeros((0, ds.d, ds.d))
    left, right = ds.E[e[:, 1]] - ds.E[e[:, 2]], ds.E[e[:, 0]]
    evals, evecs = np.linalg.eigh((left @ left.T) * (right @ right.T))
    keep = evals > RANK_RTOL * evals.max()
    coeffs = evecs[:, keep] / np.sqrt(evals[keep])
    return np.einsum("gj,ga,gb->jab", coeffs, left, right)


@dataclass
class PathPoint:
    """One point of the path: mu, W_mu (d, d), L(W_mu), ||W_mu||_F, the norm of the penalised gradient, steps."""

    mu: float
    W: np.ndarray
    loss: float
    norm: float
    grad_norm: float
    steps: int


def regularization_path(
    ds: Dataset,
    mus,
    graphs: TokenPriorityGraphs | None = None,
    basis: np.ndarray | None = None,
    tol: float = 1e-11,
    max_steps: int = 100,
) -> list[PathPoint]:
    """Newton on L + (mu/2)||W||^2 for each mu (decreasing order recommended: each solve warm-starts the next).

    Stops each solve when the penalised gradient norm is below tol * max(1, mu ||W||), when the line search
    finds no decrease, or after max_steps (grad_norm reports how far from stationary the point is).
    """
    basis = data_basis(ds, graphs) if basis is None else basis
    m = basis.shape[0]
    J = basis_features(ds, basis)
    label = ds.label_mask
    theta = np.zeros(m)

    def value(th, mu):
        a = J @ th
        return float(np.mean(_lse(a, None) - _lse(a, label))) + 0.5 * mu * float(th @ th)

    points = []
    for mu in mus:
        steps = 0
        while True:
            a = J @ theta
            s = _softmax(a, None)
            q = _softmax(a, label)
            g = np.einsum("itj,it->j", J, s - q) / ds.n + mu * theta
            gnorm = float(np.linalg.norm(g))
            if gnorm <= tol * max(1.0, mu * float(np.linalg.norm(theta))) or steps >= max_steps:
                break
            W = np.tensordot(theta, basis, axes=(0, 0))
            H = hessian(ds, W, features=J) + mu * np.eye(m)
            step = -np.linalg.solve(H, g)
            f0, t = value(theta, mu), 1.0
            while value(theta + t * step, mu) > f0 + 1e-4 * t * float(g @ step) and t > 1e-12:
                t *= 0.5
            theta = theta + t * step
            steps += 1
            if t <= 1e-12:  # no further decrease at float precision
                break
        W = np.tensordot(theta, basis, axes=(0, 0))
        points.append(PathPoint(float(mu), W, log_loss(ds, W), float(np.linalg.norm(theta)), gnorm, steps))
    return points


def _lse(a: np.ndarray, mask: np.ndarray | None) -> np.ndarray:
    am = a if mask is None else np.where(mask, a, -np.inf)
    top = am.max(axis=1, keepdims=True)
    return top[:, 0] + np.log(np.exp(am - top).sum(axis=1))


def _softmax(a: np.ndarray, mask: np.ndarray | None) -> np.ndarray:
    am = a if mask is None else np.where(mask, a, -np.inf)
    e = np.exp(am - am.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)
