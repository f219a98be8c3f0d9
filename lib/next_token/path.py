"""The regularization path W_mu = argmin L(W) + (mu/2) ||W||_F^2, solved by Newton's method: one implementation
(:func:`regularization_path`) for one dataset and for a stack of them.

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
from next_token.loss import lse, masked_softmax
from next_token.stacked import StackedDatasets, batched_loss

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
class RegularizationPath:
    """W_mu = argmin L + (mu/2)||W||^2 along a decreasing grid of mu, for each stacked dataset.

    Attributes:
        mus: (m,) decreasing regularization strengths.
        W: (m, B, d, d) the exact minimisers.
        loss: (m, B) L(W_mu).
        grad_norm: (m, B) ||grad L(W_mu) + mu W_mu||_F at the returned point (the certificate; ~1e-12 when converged).
        newton_steps: (m, B) Newton steps taken at each mu (warm started from the previous mu).
    """

    mus: np.ndarray
    W: np.ndarray
    loss: np.ndarray
    grad_norm: np.ndarray
    newton_steps: np.ndarray

    @property
    def norm(self) -> np.ndarray:
        """(m, B) ||W_mu||_F."""
        return np.linalg.norm(self.W.reshape(*self.W.shape[:2], -1), axis=-1)


def regularization_path(
    stack: StackedDatasets, mus, tol: float = 1e-11, max_steps: int = 200, graphs: list | None = None
) -> RegularizationPath:
    """The regularization path of every stacked dataset: ``newton_path`` on the coordinates of an orthonormal basis
    of its S_data, one dataset at a time (one dataset: ``stack_datasets([ds])``).

    mus: positive, strictly decreasing (each solve warm-starts the next). graphs: the datasets' token-priority
    graphs when already built (one per dataset).
    """
    mus = np.asarray(mus, dtype=np.float64)
    if np.any(mus <= 0) or np.any(np.diff(mus) >= 0):
        raise ValueError("mus must be positive and strictly decreasing")
    B, n, T, K, d = stack.shape
    out_W = np.zeros((mus.size, B, d, d))
    out_g = np.zeros((mus.size, B))
    out_steps = np.zeros((mus.size, B), dtype=np.int64)
    for b in range(B):
        basis = data_basis(stack.dataset(b), None if graphs is None else graphs[b]).reshape(-1, d * d)  # (r, d^2)
        J = (stack.features[b] @ basis.T).reshape(n, T, -1)  # d a / d theta
        thetas, out_g[:, b], out_steps[:, b] = newton_path(J, stack.label_mask[b], mus, tol, max_steps)
        out_W[:, b] = (thetas @ basis).reshape(mus.size, d, d)
    return RegularizationPath(mus, out_W, batched_loss(stack, out_W), out_g, out_steps)


def newton_path(
    J: np.ndarray, label_mask: np.ndarray, mus, tol: float = 1e-11, max_steps: int = 200
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Damped Newton on F(theta) = L(theta) + (mu/2)||theta||^2 for each mu, warm-started along decreasing mus.

    Args:
        J: (n, T, r) score derivatives d a_it / d theta_j (orthonormal coordinates, so ||theta|| = ||W||_F).
        label_mask: (n, T) bool, the label positions.
        mus: (m,) positive, strictly decreasing.
    Returns:
        thetas (m, r), grad_norms (m,) ||grad F|| at each returned point, steps (m,) Newton steps per mu.
    F is strictly convex (mu > 0), so Newton with Armijo backtracking converges; each solve stops when ||grad F||
    <= tol or after max_steps.
    """
    mus = np.asarray(mus, dtype=np.float64)
    if np.any(mus <= 0) or np.any(np.diff(mus) >= 0):
        raise ValueError("mus must be positive and strictly decreasing")
    theta = np.zeros(J.shape[2])
    thetas = np.zeros((mus.size, J.shape[2]))
    grad_norms = np.zeros(mus.size)
    steps_taken = np.zeros(mus.size, dtype=np.int64)
    for j, mu in enumerate(mus):
        g, H = _penalised_grad_hess(J, label_mask, theta, mu)
        f = _penalised_value(J, label_mask, theta, mu)
        steps = 0
        while np.linalg.norm(g) > tol and steps < max_steps:
            direction = -np.linalg.solve(H, g)
            t = 1.0
            # inside the quadratic zone the decrease drops below the loss's float resolution, so a line search
            # would stall on round-off: take the full Newton step there
            while float(-g @ direction) > 1e-12:
                f_new = _penalised_value(J, label_mask, theta + t * direction, mu)
                if f_new <= f + 1e-4 * t * float(g @ direction) or t < 1e-10:
                    break
                t *= 0.5
            theta = theta + t * direction
            f = _penalised_value(J, label_mask, theta, mu)
            g, H = _penalised_grad_hess(J, label_mask, theta, mu)
            steps += 1
        thetas[j], grad_norms[j], steps_taken[j] = theta, np.linalg.norm(g), steps
    return thetas, grad_norms, steps_taken


def _penalised_value(J: np.ndarray, mask: np.ndarray, theta: np.ndarray, mu: float) -> float:
    """L + (mu/2)||theta||^2 with scores J theta (J: (n, T, r) score derivatives, mask: label positions)."""
    a = J @ theta
    return float(np.mean(lse(a, None) - lse(a, mask))) + 0.5 * mu * float(theta @ theta)


def _penalised_grad_hess(J: np.ndarray, mask: np.ndarray, theta: np.ndarray, mu: float):
    """Gradient (r,) and Hessian (r, r) of L + (mu/2)||theta||^2 (Hessian: Cov_s - Cov_q pulled back by J)."""
    n, T, r = J.shape
    a = J @ theta
    s = masked_softmax(a, None)
    q = masked_softmax(a, mask)
    g = np.einsum("itj,it->j", J, s - q) / n + mu * theta
    ms = np.einsum("itj,it->ij", J, s)
    mq = np.einsum("itj,it->ij", J, q)
    Jf = J.reshape(n * T, r)
    H = (Jf * (s - q).reshape(-1, 1)).T @ Jf - ms.T @ ms + mq.T @ mq
    return g, H / n + mu * np.eye(r)
