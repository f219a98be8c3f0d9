"""The Graph-SVM, exact and certified; the cyclic subspace S_fin; the finite component W^fin and L*.

Graph-SVM:  W^svm = argmin ||W||_F  subject to, for every query k and every edge u -> v of G^(k),
    (x_u - x_v)^T W x_k >= 1   when u and v are in different SCCs,
    (x_u - x_v)^T W x_k  = 0   when they share an SCC.

How it is solved exactly. Every constraint row is a rank-one matrix g = (x_u - x_v) x_k^T, so every inner
product the solver needs is <g, g'> = ((x_u - x_v).(x_u' - x_v')) (x_k . x_k'), and nothing of size d^2 x d^2 is
formed. (1) Equalities: they span S_fin; an orthonormal basis of S_fin comes from the Gram matrix of one
generator x_m - x_{m0} per SCC member (a spanning set). (2) Inequalities: equal scores inside an SCC make each
cross-edge constraint a constraint between two SCCs, so one representative per edge of the transitive reduction of
each condensation DAG is kept (the others are implied by summing along a path). (3) With the equalities projected
out, the problem is least-distance programming, min ||w|| s.t. G w >= 1, solved by Lawson and Hanson's reduction to
non-negative least squares (scipy's NNLS). (4) The certificate is then computed from W itself against *all* edges.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy.linalg import solve_triangular
from scipy.optimize import nnls

from next_token.data import Dataset
from next_token.graphs import (
    TokenPriorityGraphs,
    condensation,
    retrieved_mask,
    token_priority_graphs,
    transitive_reduction_dag,
)
from next_token.loss import basis_features, hessian, log_loss, lse, masked_softmax

RANK_RTOL = 1e-10  # eigenvalues of Gram matrices below this fraction of the largest count as zero


# ----------------------------------------------------------------------------------------------------------------
# constraints and S_fin


@dataclass(frozen=True)
class Constraints:
    """Constraint generators as (k, u, v) rows meaning the matrix (x_u - x_v) x_k^T.

    Attributes:
        margin: (m_i, 3) one row per edge of the transitive reduction of each condensation (u, v representatives).
        equality: (m_e, 3) one row (k, member, first member) per non-first member of each SCC of size >= 2.
    """

    margin: np.ndarray
    equality: np.ndarray


def graph_svm_constraints(graphs: TokenPriorityGraphs) -> Constraints:
    """The reduced, equivalent constraint set of the Graph-SVM (see the module docstring)."""
    margin, equality = [], []
    for k in graphs.queries:
        labels = graphs.scc[k]
        c = int(labels.max()) + 1
        first = np.full(c, -1)
        for token in range(graphs.K):  # the smallest token of each SCC represents it
            if first[labels[token]] < 0:
                first[labels[token]] = token
        members = np.arange(graphs.K)
        non_first = members[first[labels] != members]
        equality.extend((k, m, first[labels[m]]) for m in non_first)
        reduced = transitive_reduction_dag(condensation(graphs.adjacency[k], labels))
        a, b = np.nonzero(reduced)
        margin.extend(zip([k] * a.size, first[a], first[b]))
    as_rows = lambda rows: np.array(rows, dtype=np.int64).reshape(-1, 3)  # noqa: E731
    return Constraints(margin=as_rows(margin), equality=as_rows(equality))


def _factors(E: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Left and right factors of the rank-one generators (x_u - x_v) x_k^T: (m, d) each."""
    return E[rows[:, 1]] - E[rows[:, 2]], E[rows[:, 0]]


def _gram(left_a, right_a, left_b, right_b) -> np.ndarray:
    """Frobenius inner products of two families of rank-one matrices: ((La Lb^T) * (Ra Rb^T))."""
    return (left_a @ left_b.T) * (right_a @ right_b.T)


@dataclass(frozen=True)
class FinBasis:
    """Orthonormal basis of the cyclic subspace S_fin.

    Attributes:
        generators: (m_e, 3) rows (k, u, v) spanning S_fin.
        coeffs: (m_e, m) basis matrix j is B_j = sum_g coeffs[g, j] (x_u - x_v)_g (x_k)_g^T.
        matrices: (m, d, d) the basis matrices B_j, orthonormal in the Frobenius inner product.
    """

    generators: np.ndarray
    coeffs: np.ndarray
    matrices: np.ndarray

    @property
    def dim(self) -> int:
        """Dimension of S_fin."""
        return self.matrices.shape[0]

    def project(self, W: np.ndarray) -> np.ndarray:
        """Orthogonal projection of W (d, d) onto S_fin."""
        return np.tensordot(np.tensordot(self.matrices, W, axes=([1, 2], [0, 1])), self.matrices, axes=(0, 0))


def fin_basis(E: np.ndarray, graphs: TokenPriorityGraphs, constraints: Constraints | None = None) -> FinBasis:
    """An orthonormal basis of S_fin = span{(x_u - x_v) x_k^T : u, v in one SCC of G^(k)}."""
    cons = graph_svm_constraints(graphs) if constraints is None else constraints
    d = E.shape[1]
    if cons.equality.shape[0] == 0:
        return FinBasis(cons.equality, np.zeros((0, 0)), np.zeros((0, d, d)))
    L, R = _factors(E, cons.equality)
    evals, evecs = np.linalg.eigh(_gram(L, R, L, R))
    keep = evals > RANK_RTOL * evals.max()
    coeffs = evecs[:, keep] / np.sqrt(evals[keep])
    matrices = np.einsum("gj,ga,gb->jab", coeffs, L, R)
    return FinBasis(cons.equality, coeffs, matrices)


# ----------------------------------------------------------------------------------------------------------------
# Graph-SVM


@dataclass
class SVMCertificate:
    """KKT certificate of a Graph-SVM solution, every number computed from W against all TPG edges.

    min_margin: smallest (x_u - x_v)^T W x_k over cross-SCC edges (>= 1 for feasibility; inf if none).
    equality_violation: largest |(x_u - x_v)^T W x_k| over within-SCC edges.
    complementarity: largest lambda_c * |margin_c - 1| over the kept constraints, relative to max(1, largest lambda).
    dual_feasibility: smallest multiplier (>= 0).
    stationarity: || W - P_{S_fin^perp}(sum_c lambda_c g_c) ||_F, relative to ||W||_F (W = 0: absolute).
    perp_fin: || P_{S_fin} W ||_F relative to ||W||_F (W = 0: absolute).
    duality_gap: | ||W||^2 - sum_c lambda_c |, relative to ||W||^2 (primal 1/2||W||^2 vs dual sum(l) - 1/2||W||^2).
    """

    min_margin: float
    equality_violation: float
    complementarity: float
    dual_feasibility: float
    stationarity: float
    perp_fin: float
    duality_gap: float

    def worst(self) -> float:
        """Largest violation of any KKT condition (0 for an exact solution)."""
        return max(
            max(0.0, 1.0 - self.min_margin),
            self.equality_violation,
            self.complementarity,
            max(0.0, -self.dual_feasibility),
            self.stationarity,
            self.perp_fin,
            self.duality_gap,
        )

    def as_dict(self) -> dict:
        """Plain dict of the certificate entries."""
        return dict(self.__dict__)


@dataclass
class GraphSVMSolution:
    """Solution of the Graph-SVM: W (d, d), multipliers on the kept margin constraints, certificate."""

    W: np.ndarray
    feasible: bool
    multipliers: np.ndarray
    constraints: Constraints
    basis: FinBasis
    certificate: SVMCertificate | None = None
    info: dict = field(default_factory=dict)

    @property
    def norm(self) -> float:
        """||W^svm||_F."""
        return float(np.linalg.norm(self.W))


def edge_margins(E: np.ndarray, W: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """(m,) values (x_u - x_v)^T W x_k for edge rows (k, u, v)."""
    A = E @ W @ E.T
    return A[edges[:, 1], edges[:, 0]] - A[edges[:, 2], edges[:, 0]]


def svm_certificate(
    E: np.ndarray,
    graphs: TokenPriorityGraphs,
    W: np.ndarray,
    multipliers: np.ndarray,
    constraints: Constraints,
    basis: FinBasis,
) -> SVMCertificate:
    """KKT certificate of W with the multipliers of the kept margin constraints (see SVMCertificate)."""
    cross, within = graphs.edge_kinds()
    margins_all = edge_margins(E, W, cross)
    eq_all = edge_margins(E, W, within)
    kept = edge_margins(E, W, constraints.margin)
    L, R = _factors(E, constraints.margin)
    combo = L.T @ (multipliers[:, None] * R)  # sum_c lambda_c g_c, (d, d)
    combo_perp = combo - basis.project(combo) if basis.dim else combo
    norm2 = float(np.sum(W * W))
    scale = np.sqrt(norm2) if norm2 > 0 else 1.0
    return SVMCertificate(
        min_margin=float(margins_all.min()) if margins_all.size else float("inf"),
        equality_violation=float(np.abs(eq_all).max()) if eq_all.size else 0.0,
        complementarity=float(np.max(multipliers * np.abs(kept - 1.0)) / max(1.0, float(multipliers.max())))
        if kept.size
        else 0.0,
        dual_feasibility=float(multipliers.min()) if multipliers.size else 0.0,
        stationarity=float(np.linalg.norm(W - combo_perp)) / scale,
        perp_fin=float(np.linalg.norm(basis.project(W))) / scale if basis.dim else 0.0,
        duality_gap=abs(norm2 - float(multipliers.sum())) / (norm2 if norm2 > 0 else 1.0),
    )


def solve_graph_svm(ds: Dataset, graphs: TokenPriorityGraphs | None = None) -> GraphSVMSolution:
    """The exact Graph-SVM W^svm with its KKT certificate.

    Returns feasible=False (and W = 0, no certificate) when the constraints cannot be met, which needs linearly
    dependent embeddings.
    """
    graphs = token_priority_graphs(ds) if graphs is None else graphs
    E, d = ds.E, ds.d
    cons = graph_svm_constraints(graphs)
    basis = fin_basis(E, graphs, cons)
    m = cons.margin.shape[0]
    if m == 0:  # only cyclic structure: W = 0 meets every constraint
        lam = np.zeros(0)
        W = np.zeros((d, d))
        cert = svm_certificate(E, graphs, W, lam, cons, basis)
        return GraphSVMSolution(
            W, True, lam, cons, basis, cert, {"kept_constraints": 0, "route": "no margin constraint"}
        )
    L, R = _factors(E, cons.margin)
    # Lawson-Hanson: min ||w|| s.t. G w >= 1  <->  NNLS min_{u >= 0} || [G^T; 1^T] u - e_last ||, whose Gram form
    # is min 1/2 u^T (Q + 1 1^T) u - 1^T u with Q the Gram matrix of the projected rows; then
    # lambda = u / (1 - sum u), and sum u = 1 means infeasible. Built in place: these are m x m arrays.
    gram = _gram(L, R, L, R)
    P = None
    if basis.dim:
        Le, Re = _factors(E, basis.generators)
        P = _gram(L, R, Le, Re) @ basis.coeffs  # <g_c, B_j>
        gram -= P @ P.T  # Q: the rows projected off S_fin
    gram += 1.0  # Q + 1 1^T
    u = _nnls_gram(gram, np.ones(m))
    route = "lawson-hanson-gram"
    if u is None:  # iteration budget exhausted: scipy's NNLS on an explicit factor
        route = "lawson-hanson-scipy"
        evals, evecs = np.linalg.eigh(gram - 1.0)
        keep = evals > RANK_RTOL * max(evals.max(), 1e-300)
        factor = np.sqrt(evals[keep])[:, None] * evecs[:, keep].T  # factor^T factor = Q on its range
        M = np.vstack([factor, np.ones((1, m))])
        rhs = np.zeros(M.shape[0])
        rhs[-1] = 1.0
        u, _ = nnls(M, rhs, maxiter=50 * M.shape[1])
    slack = 1.0 - u.sum()
    if slack <= 1e-12:
        return GraphSVMSolution(
            np.zeros((d, d)), False, np.zeros(m), cons, basis, None, {"kept_constraints": m, "route": route}
        )
    lam = u / slack
    W = _svm_matrix(L, R, lam, basis, P)
    W, lam = _polish(W, lam, L, R, gram, basis, P)
    cert = svm_certificate(E, graphs, W, lam, cons, basis)
    info = {"kept_constraints": m, "support": int((lam > 0).sum()), "route": route}
    return GraphSVMSolution(W, True, lam, cons, basis, cert, info)


def _nnls_gram(G: np.ndarray, b: np.ndarray, max_iter: int | None = None, refresh: int = 8) -> np.ndarray | None:
    """min 1/2 x^T G x - b^T x over x >= 0 (G = M^T M, b = M^T f): Lawson and Hanson's NNLS in Gram form.

    The passive set P grows one index at a time by an index with positive dual w_j = b_j - G[j, P] x_P (Lawson and
    Hanson's step needs only w_j > 0, not the largest). Partial pricing: the full dual vector (an m x |P| product,
    the memory-bound part) is recomputed only every `refresh` additions or when the candidates it ranked run out;
    in between, candidates are taken in its order and each one's dual is recomputed exactly (O(|P|)) before it
    enters. The inverse Cholesky factor of G[P, P] is extended by one row per addition; a removal (the inner loop of
    Lawson-Hanson) rebuilds only the rows from the first removed position on. An index whose column is numerically
    dependent on P is skipped. The loop stops only at a fresh full dual vector with no positive entry (a KKT
    point). Returns None when max_iter (default 3 m) runs out.
    """
    m = b.size
    max_iter = 3 * m if max_iter is None else max_iter
    passive: list[int] = []
    cols = np.empty((m, m), order="F")  # cols[:, :p] = G[:, P], contiguous for the full dual product
    inv_chol = np.zeros((m, m))  # inv_chol[:p, :p] = L^{-1}, L the lower Cholesky factor of G[P, P]
    y = np.zeros(m)  # y[:p] = L^{-1} b[P], so the passive solution is z = L^{-T} y
    z_buf = np.zeros(m)  # z_buf[:p] = L^{-T} y, updated in O(p) per addition
    x = np.zeros(m)
    skipped = np.zeros(m, dtype=bool)
    in_p = np.zeros(m, dtype=bool)
    tol = 1e-13 * max(1.0, float(np.abs(np.diag(G)).max())) * max(1.0, float(np.abs(b).max()))

    def refactor(p, start, old_p):
        """Refactor after removals: rows before `start` (the first removed position) are unchanged; the trailing
        block of L^{-1} is rebuilt from the Schur complement of the kept leading block."""
        inv_chol[p:old_p, :old_p] = 0.0
        if p <= start:
            return
        lead = inv_chol[:start, :start]
        cross = cols[passive[start:], :start] @ lead.T  # L21 = G21 L11^{-T}
        schur = G[np.ix_(passive[start:], passive[start:])] - cross @ cross.T
        inv22 = solve_triangular(np.linalg.cholesky(schur), np.eye(p - start), lower=True, check_finite=False)
        inv_chol[start:p, :start] = -inv22 @ (cross @ lead)
        inv_chol[start:p, start:p] = inv22
        y[start:p] = inv_chol[start:p, :p] @ b[passive]

    queue: list[int] = []  # candidates ranked by the last full dual vector
    since_refresh = refresh
    for _ in range(max_iter):
        j = -1
        while j < 0:
            p = len(passive)
            xp = x[passive]
            if not queue or since_refresh >= refresh:
                w = b - cols[:, :p] @ xp
                positive = np.flatnonzero(~in_p & ~skipped & (w > tol))
                if positive.size == 0:
                    return x
                queue = positive[np.argsort(-w[positive])].tolist()[::-1]  # pop() takes the largest
                since_refresh = 0
            candidate = queue.pop()
            if in_p[candidate] or skipped[candidate]:
                continue
            if b[candidate] - cols[candidate, :p] @ xp > tol:
                j = candidate
        p = len(passive)
        row = inv_chol[:p, :p] @ cols[j, :p]  # new row of L (G is symmetric)
        pivot = G[j, j] - row @ row
        if pivot <= 1e-12 * G[j, j]:
            skipped[j] = True
            continue
        delta = np.sqrt(pivot)
        inv_chol[p, :p] = -(row @ inv_chol[:p, :p]) / delta
        inv_chol[p, p] = 1.0 / delta
        y[p] = (b[j] - row @ y[:p]) / delta
        z_buf[:p] += y[p] * inv_chol[p, :p]  # the new row of L^{-1} adds y_p times itself to L^{-T} y
        z_buf[p] = y[p] / delta
        cols[:, p] = G[:, j]
        passive.append(int(j))
        in_p[j] = True
        since_refresh += 1
        while True:
            p = len(passive)
            z = z_buf[:p]
            if np.all(z > 0):
                x[passive] = z
                break
            xp = x[passive]
            neg = z <= 0
            ratios = xp[neg] / (xp[neg] - z[neg])
            xp = xp + ratios.min() * (z - xp)
            keep = xp > 1e-15 * max(1.0, xp.max())
            keep[np.flatnonzero(neg)[np.argmin(ratios)]] = False  # the blocking index leaves, whatever round-off says
            x[:] = 0.0
            start = int(np.argmin(keep))  # first removed position: the factor before it stays valid
            old_p = len(passive)
            passive = [q for q, k in zip(passive, keep) if k]
            in_p[:] = False
            in_p[passive] = True
            x[passive] = xp[keep]
            cols[:, start : len(passive)] = G[:, passive[start:]]
            refactor(len(passive), start, old_p)
            z_buf[: len(passive)] = y[: len(passive)] @ inv_chol[: len(passive), : len(passive)]
            skipped[:] = False
            since_refresh = refresh  # the ranking is stale after a removal
    return None


def _svm_matrix(L, R, lam, basis: FinBasis, P) -> np.ndarray:
    """W = P_{S_fin^perp}(sum_c lambda_c g_c) built from rank-one factors."""
    W = L.T @ (lam[:, None] * R)
    if P is not None:
        W = W - np.tensordot(P.T @ lam, basis.matrices, axes=(0, 0))
    return W


def _polish(W, lam, L, R, gram_plus_one, basis, P):
    """Re-solve exactly on the support S found by NNLS: (Q + 1 1^T)_SS u = 1 with a fresh factorisation,
    lambda = u / (1 - sum u); kept only when its margins are no worse (round-off accumulates in the updated factor)."""
    support = lam > 0
    if not support.any():
        return W, lam
    try:
        u = np.linalg.solve(gram_plus_one[np.ix_(support, support)], np.ones(support.sum()))
    except np.linalg.LinAlgError:
        return W, lam
    if np.any(u < 0) or u.sum() >= 1.0:
        return W, lam
    lam_new = np.zeros_like(lam)
    lam_new[support] = u / (1.0 - u.sum())
    W_new = _svm_matrix(L, R, lam_new, basis, P)
    margins_old = np.einsum("ca,ab,cb->c", L, W, R)
    margins_new = np.einsum("ca,ab,cb->c", L, W_new, R)
    err_old = max(np.max(np.maximum(0, 1 - margins_old)), np.max(np.abs(margins_old[support] - 1)))
    err_new = max(np.max(np.maximum(0, 1 - margins_new)), np.max(np.abs(margins_new[support] - 1)))
    return (W_new, lam_new) if err_new <= err_old else (W, lam)


# ----------------------------------------------------------------------------------------------------------------
# finite component


@dataclass
class FinSolution:
    """W^fin = argmin over S_fin of L_fin, found by Newton's method; L* = L_fin(W^fin).

    Attributes:
        W: (d, d) W^fin.
        theta: (m,) its coordinates in the orthonormal S_fin basis.
        loss_star: L* = L_fin(W^fin).
        grad_norm: ||grad of L_fin restricted to S_fin|| at W^fin (stationarity certificate).
        hess_min_eig: smallest eigenvalue of that restricted Hessian (> 0: strict convexity, uniqueness).
        steps: Newton steps taken.
    """

    W: np.ndarray
    theta: np.ndarray
    loss_star: float
    grad_norm: float
    hess_min_eig: float
    steps: int


def solve_w_fin(
    ds: Dataset,
    graphs: TokenPriorityGraphs | None = None,
    basis: FinBasis | None = None,
    tol: float = 1e-15,
    max_steps: int = 100,
) -> FinSolution:
    """Exact W^fin: Newton with backtracking line search on the coordinates of S_fin, until the gradient norm is
    below tol or stops decreasing at the round-off floor.

    Only samples whose retrieved set C_i holds a token other than the label contribute to L_fin (the others
    contribute exactly 0), so only they enter the iterations.
    """
    graphs = token_priority_graphs(ds) if graphs is None else graphs
    basis = fin_basis(ds.E, graphs) if basis is None else basis
    d = ds.d
    C = retrieved_mask(ds, graphs)
    if basis.dim == 0:
        return FinSolution(np.zeros((d, d)), np.zeros(0), log_loss(ds, np.zeros((d, d)), C), 0.0, float("inf"), 0)
    active = np.flatnonzero((C & ~ds.label_mask).any(axis=1))
    sub = Dataset(ds.E, ds.tok[active], ds.y[active]) if active.size else None
    C_sub = C[active]
    J = basis_features(sub, basis.matrices) if sub is not None else None
    weight = active.size / ds.n  # L_fin over all samples = weight * (mean over the active ones)
    theta = np.zeros(basis.dim)

    def value(th):
        if sub is None:
            return 0.0
        a = J @ th  # scores as a function of theta, (n_active, T)
        return weight * float(np.mean(lse(a, C_sub) - lse(a, sub.label_mask)))

    def grad_hess(th):
        W = np.tensordot(th, basis.matrices, axes=(0, 0))
        H = weight * hessian(sub, W, restrict=C_sub, features=J)
        s = masked_softmax(J @ th, C_sub)
        q = masked_softmax(J @ th, sub.label_mask)
        g = weight * np.einsum("itj,it->j", J, s - q) / sub.n
        return g, H

    steps = 0
    g, H = grad_hess(theta) if sub is not None else (np.zeros(basis.dim), np.zeros((basis.dim, basis.dim)))
    f = value(theta)
    while sub is not None and np.linalg.norm(g) > tol and steps < max_steps:
        step = -np.linalg.lstsq(H, g, rcond=None)[0]
        t = 1.0
        while True:  # backtracking (Armijo)
            f_new = value(theta + t * step)
            if f_new <= f + 1e-4 * t * float(g @ step) or t < 1e-12:
                break
            t *= 0.5
        theta = theta + t * step
        f = f_new
        previous = np.linalg.norm(g)
        g, H = grad_hess(theta)
        steps += 1
        if np.linalg.norm(g) >= previous and previous < 1e-10:  # round-off floor reached: no further progress
            break
    W = np.tensordot(theta, basis.matrices, axes=(0, 0))
    eig_min = float(np.linalg.eigvalsh(H).min()) if sub is not None else 0.0
    return FinSolution(W, theta, log_loss(ds, W, C), float(np.linalg.norm(g)), eig_min, steps)
