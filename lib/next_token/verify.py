"""Independent routes to the structure quantities, and what the claims of notebooks 01 and 02 measure with them.

Independent routes (general-purpose optimisers that share nothing with the exact solvers but the data):
  - Graph-SVM: SLSQP on the primal, in the coordinates of an orthonormal basis of S_data, with every TPG edge as
    a constraint; its result is checked for feasibility before it is compared (an SQP can stop at a wrong point).
  - W^fin: BFGS on L_fin over the coefficients of the (redundant, non-orthonormal) S_fin generators.
  - L*: the loss along the regularization path (see next_token.path).

The claims that compare them with the exact solvers are recorded by ``next_token.claims.graph_svm`` and
``next_token.claims.token_priority_graphs``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.optimize import minimize
from scipy.sparse.linalg import LinearOperator, eigsh

from next_token.data import Dataset
from next_token.graphs import TokenPriorityGraphs, retrieved_mask
from next_token.loss import attention, hessian, loss_and_grad, scores
from next_token.path import RegularizationPath, data_basis, regularization_path
from next_token.stacked import stack_datasets
from next_token.svm import FinSolution, GraphSVMSolution, edge_margins

SLSQP_MAX_VARS = 400  # the SQP's dense linear algebra grows as (variables)^3


@dataclass
class IndependentSVM:
    """The Graph-SVM by SLSQP: W (d, d), success flag, feasibility of its result, variables used."""

    W: np.ndarray | None
    success: bool
    min_margin: float
    equality_violation: float
    variables: int
    message: str

    @property
    def norm(self) -> float:
        """||W||_F (nan when skipped)."""
        return float(np.linalg.norm(self.W)) if self.W is not None else float("nan")


def independent_svm(ds: Dataset, graphs: TokenPriorityGraphs, max_vars: int = SLSQP_MAX_VARS) -> IndependentSVM:
    """Solve the Graph-SVM with scipy's SLSQP over the coordinates of S_data (all edges as constraints)."""
    edges = graphs.edges().shape[0]
    if edges > 4 * max_vars:  # dim S_data <= edges; skip before paying for the basis of a large graph
        return IndependentSVM(
            None,
            False,
            float("nan"),
            float("nan"),
            edges,
            f"skipped: {edges} edges (SLSQP is run up to {4 * max_vars} edges, {max_vars} variables)",
        )
    basis = data_basis(ds, graphs)
    m = basis.shape[0]
    if m > max_vars:
        return IndependentSVM(None, False, float("nan"), float("nan"), m, f"skipped: {m} > {max_vars} variables")
    cross, within = graphs.edge_kinds()
    tables = np.einsum("ka,jab,lb->jkl", ds.E, basis, ds.E)  # (m, K, K)

    def rows(e):
        return (tables[:, e[:, 1], e[:, 0]] - tables[:, e[:, 2], e[:, 0]]).T  # (edges, m)

    A_ineq, A_eq = rows(cross), rows(within)
    if A_eq.shape[0]:  # u -> v and v -> u give opposite rows: keep an orthonormal basis of their row space
        _, sv, vt = np.linalg.svd(A_eq, full_matrices=False)
        A_eq = vt[sv > 1e-10 * sv.max()] if sv.max() > 0 else A_eq[:0]
    cons = []
    if A_ineq.shape[0]:
        cons.append({"type": "ineq", "fun": lambda th: A_ineq @ th - 1.0, "jac": lambda th: A_ineq})
    if A_eq.shape[0]:
        cons.append({"type": "eq", "fun": lambda th: A_eq @ th, "jac": lambda th: A_eq})
    res = minimize(
        lambda th: 0.5 * th @ th,
        np.zeros(m),
        jac=lambda th: th,
        constraints=cons,
        method="SLSQP",
        options={"ftol": 1e-15, "maxiter": 1000},
    )
    W = np.tensordot(res.x, basis, axes=(0, 0))
    margins = edge_margins(ds.E, W, cross)
    eq = edge_margins(ds.E, W, within)
    # at ftol 1e-15 SLSQP often ends with "positive directional derivative": no descent left at float precision
    converged = bool(res.success) or "directional derivative" in str(res.message)
    return IndependentSVM(
        W,
        converged,
        float(margins.min()) if margins.size else float("inf"),
        float(np.abs(eq).max()) if eq.size else 0.0,
        m,
        str(res.message),
    )


@dataclass
class IndependentFin:
    """W^fin by BFGS over the S_fin generators: W (d, d), the gradient norm of L_fin in S_fin at the end."""

    W: np.ndarray
    grad_norm: float
    success: bool


def independent_fin(ds: Dataset, graphs: TokenPriorityGraphs, fin_generators: np.ndarray) -> IndependentFin:
    """Minimise L_fin over W = sum_g c_g (x_u - x_v)_g (x_k)_g^T with BFGS (generators (m_e, 3) rows (k, u, v))."""
    d = ds.d
    if fin_generators.shape[0] == 0:
        return IndependentFin(np.zeros((d, d)), 0.0, True)
    C = retrieved_mask(ds, graphs)
    left = ds.E[fin_generators[:, 1]] - ds.E[fin_generators[:, 2]]
    right = ds.E[fin_generators[:, 0]]

    def fun(c):
        W = left.T @ (c[:, None] * right)
        value, grad = loss_and_grad(ds, W, restrict=C)
        return value, np.einsum("ga,ab,gb->g", left, grad, right)

    res = minimize(fun, np.zeros(len(left)), jac=True, method="BFGS", options={"gtol": 1e-11, "maxiter": 5000})
    W = left.T @ (res.x[:, None] * right)
    # gradient norm inside S_fin: project the matrix gradient on the span of the generators
    _, grad = loss_and_grad(ds, W, restrict=C)
    G = (left @ left.T) * (right @ right.T)
    b = np.einsum("ga,ab,gb->g", left, grad, right)
    coef = np.linalg.lstsq(G, b, rcond=None)[0]
    projected = left.T @ (coef[:, None] * right)
    return IndependentFin(W, float(np.linalg.norm(projected)), bool(res.success))


def hessian_min_eigenvalues(
    ds: Dataset, graphs: TokenPriorityGraphs, num_points: int = 5, scale: float = 3.0, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Smallest and largest Hessian eigenvalues of L at random W = scale * G / ||G||_F (G Gaussian).

    The Hessian vanishes outside S_data, so up to DENSE_HESSIAN_MAX edges it is formed in the coordinates of an
    orthonormal S_data basis (the same eigenvalues apart from the zeros); beyond, Lanczos (scipy eigsh) on
    Hessian-vector products finds the extreme eigenvalues over all of R^{d x d}, where the smallest is the zero of
    the complement unless a negative one exists. Returns (min eigenvalues, max eigenvalues), one per point.
    """
    rng = np.random.default_rng(seed)
    edges = graphs.edges().shape[0]
    basis = data_basis(ds, graphs) if edges <= DENSE_HESSIAN_MAX else None
    lows, highs = [], []
    for _ in range(num_points):
        W = rng.standard_normal((ds.d, ds.d))
        W *= scale / np.linalg.norm(W)
        if basis is not None:
            H = hessian(ds, W, basis=basis if basis.shape[0] else None)
            ev = np.linalg.eigvalsh((H + H.T) / 2)
            low, high = ev.min(), ev.max()
        else:  # large: Lanczos on Hessian-vector products over all of R^{d x d} (zeros outside S_data included)
            low, high = _lanczos_extremes(ds, W)
        lows.append(low)
        highs.append(high)
    return np.array(lows), np.array(highs)


DENSE_HESSIAN_MAX = 600  # edges (an upper bound of dim S_data) up to which the Hessian is formed densely


def hessian_vector_product(ds: Dataset, W: np.ndarray, V: np.ndarray) -> np.ndarray:
    """(d, d) Hessian of L at W applied to the direction V, in O(K d^2 + n T) without forming the Hessian.

    The scores move by delta = scores(V); the second-order change of the loss is the attention covariance of delta
    minus its covariance under the label softmax, so H V = (1/n) sum_it [s_it (delta_it - mean_s) -
    q_it (delta_it - mean_q)] x_{tok_it} x_{k_i}^T.
    """
    delta = scores(ds, V)
    s = attention(ds, W)
    q = attention(ds, W, restrict=ds.label_mask)
    weights = s * (delta - (s * delta).sum(1, keepdims=True)) - q * (delta - (q * delta).sum(1, keepdims=True))
    K = ds.K
    flat = (ds.tok * K + ds.query[:, None]).ravel()
    table = np.bincount(flat, weights=weights.ravel(), minlength=K * K).reshape(K, K) / ds.n
    return ds.E.T @ table @ ds.E


def _lanczos_extremes(ds: Dataset, W: np.ndarray) -> tuple[float, float]:
    d = ds.d
    op = LinearOperator(
        (d * d, d * d), dtype=float, matvec=lambda v: hessian_vector_product(ds, W, v.reshape(d, d)).ravel()
    )
    start = np.ones(d * d) / d  # a fixed start vector: deterministic Ritz values
    high = float(eigsh(op, k=1, which="LA", tol=1e-10, v0=start, ncv=40, return_eigenvectors=False)[0])
    # Ritz values lie inside the spectrum, so this can only overestimate the smallest eigenvalue; an isolated
    # negative eigenvalue is an extreme that Lanczos finds first, while the zeros of a PSD Hessian form a cluster
    low = float(eigsh(op, k=1, which="SA", tol=1e-10, v0=start, ncv=40, return_eigenvectors=False)[0])
    return low, high


def hessian_form_and_attention_variance(ds: Dataset, seed: int, scale: float = 3.0) -> tuple[float, float]:
    """The Hessian quadratic form of L along a random direction V, and (1/n) sum_i Var_{s_i}(delta_i).

    W (d, d) Gaussian rescaled to ||W||_F = scale and V (d, d) Gaussian, both drawn in that order from
    ``default_rng(seed)``. The form is ``hessian`` in the one-element basis {V}; delta_i = scores(V)_i (n, T) is the
    move of sample i's scores along V and s_i its attention at W. N2 says the two are equal.
    """
    rng = np.random.default_rng(seed)
    W = rng.standard_normal((ds.d, ds.d))
    W *= scale / np.linalg.norm(W)
    direction = rng.standard_normal((ds.d, ds.d))
    # the library's Hessian in the one-element basis {direction} is the 1 x 1 matrix direction^T H direction
    quadratic = float(hessian(ds, W, basis=direction[None])[0, 0])
    delta = scores(ds, direction)  # the scores are linear in W: the moves of the scores along the direction
    s_att = attention(ds, W)
    mean = (s_att * delta).sum(axis=1, keepdims=True)
    variance = float(((s_att * (delta - mean) ** 2).sum(axis=1)).mean())
    return quadratic, variance


PATH_MAX_DIM = 600  # dim S_data up to which the regularization path's dense Newton runs


def context_label_frequencies(ds: Dataset) -> np.ndarray:
    """(n, T) for each position, the frequency of its token among the labels of the samples with the same sequence.

    On a dataset whose TPGs are single SCCs this is the attention W^fin must produce (the cyclic toy).
    """
    return np.array(
        [[np.mean(ds.y[np.all(ds.tok == ds.tok[i], axis=1)] == token) for token in ds.tok[i]] for i in range(ds.n)]
    )


def path_if_small(ds: Dataset, graphs: TokenPriorityGraphs, mus: np.ndarray) -> RegularizationPath | None:
    """The regularization path of ``ds`` (B = 1) at ``mus`` when dim S_data <= PATH_MAX_DIM, else None (too large for
    dense Newton). The edge count bounds dim S_data, so a large graph is refused before its basis is formed."""
    edges = graphs.edges().shape[0]
    path_dim = data_basis(ds, graphs).shape[0] if edges <= PATH_MAX_DIM else edges
    if path_dim > PATH_MAX_DIM:
        return None
    return regularization_path(stack_datasets([ds]), mus, graphs=[graphs])


def path_table(path: RegularizationPath, svm: GraphSVMSolution, fin: FinSolution) -> pd.DataFrame:
    """One row per point of a one-dataset path: mu, ||W_mu||, L(W_mu) - L*, cos(W_mu, W^svm) (nan if W^svm = 0)."""
    norm = path.norm[:, 0]
    cos = [np.sum(W * svm.W) / (r * svm.norm) if svm.norm > 0 else np.nan for W, r in zip(path.W[:, 0], norm)]
    return pd.DataFrame(
        {"mu": path.mus, "||W_mu||": norm, "L(W_mu) - L*": path.loss[:, 0] - fin.loss_star, "cos(W_mu, W^svm)": cos}
    )
