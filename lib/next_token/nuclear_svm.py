"""The nuclear-norm Graph-SVM of Tarzanagh et al. (factorised attention W = K Q^T), solved two ways and certified.

    W^nuc = argmin ||W||_*  subject to the Graph-SVM constraints (part 1's reduced, equivalent set):
        <A_j, W> >= 1  (A_j = (x_u - x_v) x_k^T, u => v in different SCCs),    <B_l, W> = 0  (u, v in one SCC).

Tarzanagh et al. ("Transformers as Support Vector Machines") show that training K and Q separately replaces the
Frobenius norm of the SVM by the nuclear norm: ||W||_* = min_{K Q^T = W} (||K||_F^2 + ||Q||_F^2) / 2, so the
(K, Q) regularization path, and GD from a small start, select the nuclear-norm solution's direction.

No conic solver is installed, so two independent routes are used and checked against each other:
  factored   the smooth form min (||U||^2 + ||V||^2)/2 s.t. the constraints on U V^T (U, V: (d, d), so every rank
             is reachable), solved by SLSQP from several random starts, keeping the smallest feasible value;
  admm       the convex form min ||X||_* + indicator_C(W) s.t. X = W, by scaled ADMM: singular-value thresholding
             for X and the Euclidean projection onto the constraint polyhedron C for W (equalities by an
             orthonormal null-space basis, inequalities by least-distance programming via NNLS).
Certificate (``nuclear_certificate``): weak duality. For any lam >= 0 and nu, with G = sum lam_j A_j + sum nu_l B_l,
every feasible W has sum lam_j <= <G, W> <= ||G||_op ||W||_*. So sum lam / ||G||_op is a lower bound on the optimum;
the multipliers are fitted on the active constraints so that G matches the subgradient U_r V_r^T of ||.||_* on the
tangent space of W. The upper bound is ||W_feas||_* of W made exactly feasible (equalities projected out, then
scaled up to margin 1). The relative gap (upper - lower) / upper bounds how far from optimal the solution is.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.optimize import lsq_linear, minimize, nnls

from next_token import evidence as ev
from next_token.data import Dataset
from next_token.graphs import TokenPriorityGraphs, token_priority_graphs
from next_token.loss import hessian, loss_and_grad
from next_token.measurements import cosine, measure
from next_token.stacked import ExactSolutions, stack_datasets
from next_token.svm import graph_svm_constraints

RANK_RTOL = 1e-7  # singular values below this fraction of the largest count as zero in the certificate
ACTIVE_TOL = 1e-6  # a margin within this of 1 is active


@dataclass(frozen=True)
class LinearConstraints:
    """Constraints <A_j, W> >= 1 and <B_l, W> = 0 as flattened matrices: margin (m_i, d*d), equality (m_e, d*d)."""

    margin: np.ndarray
    equality: np.ndarray
    d: int


def graph_constraints(ds: Dataset, graphs: TokenPriorityGraphs | None = None) -> LinearConstraints:
    """Part 1's reduced Graph-SVM constraints of a dataset, as flattened matrices (x_u - x_v) x_k^T."""
    graphs = token_priority_graphs(ds) if graphs is None else graphs
    cons = graph_svm_constraints(graphs)

    def rows(r: np.ndarray) -> np.ndarray:
        left, right = ds.E[r[:, 1]] - ds.E[r[:, 2]], ds.E[r[:, 0]]
        return np.einsum("ma,mb->mab", left, right).reshape(-1, ds.d * ds.d)

    return LinearConstraints(rows(cons.margin), rows(cons.equality), ds.d)


@dataclass
class NuclearCertificate:
    """Optimality evidence for a candidate W (d, d).

    Attributes:
        margin_violation: max(0, 1 - min margin).   equality_violation: max |<B_l, W>|.
        upper: ||W_feas||_* (W made exactly feasible).   lower: sum lam / ||G||_op (weak duality).
        gap: (upper - lower) / upper.   dual_norm: ||G||_op of the fitted multipliers (1 at an optimum).
        tangent_residual: ||P_T(G) - U_r V_r^T||_F (0 at an optimum).   rank: numerical rank of W.
        lam: (m_i,) fitted margin multipliers (0 off the active set).
    """

    margin_violation: float
    equality_violation: float
    upper: float
    lower: float
    gap: float
    dual_norm: float
    tangent_residual: float
    rank: int
    lam: np.ndarray


@dataclass
class NuclearSVMSolution:
    """W^nuc (d, d) from the factored route, the ADMM route's W, their relative distance, and the certificate."""

    W: np.ndarray
    W_admm: np.ndarray
    routes_distance: float
    certificate: NuclearCertificate
    admm_certificate: NuclearCertificate

    @property
    def nuclear_norm(self) -> float:
        """||W^nuc||_*."""
        return float(np.linalg.svd(self.W, compute_uv=False).sum())


def nuclear_norm(W: np.ndarray) -> np.ndarray:
    """||W||_* of W (..., d, d)."""
    return np.linalg.svd(W, compute_uv=False).sum(-1)


def _make_feasible(W: np.ndarray, cons: LinearConstraints) -> np.ndarray:
    """Project W off the equality rows, then scale so the smallest margin is exactly 1 (needs a positive margin)."""
    w = W.reshape(-1).copy()
    if cons.equality.shape[0]:
        q, _ = np.linalg.qr(cons.equality.T)
        w = w - q @ (q.T @ w)
    if cons.margin.shape[0]:
        low = float((cons.margin @ w).min())
        if low <= 0:
            raise ValueError(f"candidate has a non-positive margin {low:.3g}: not near the feasible set")
        w = w / low
    return w.reshape(cons.d, cons.d)


def nuclear_certificate(W: np.ndarray, cons: LinearConstraints) -> NuclearCertificate:
    """Weak-duality certificate of a candidate W (d, d) for min ||W||_* s.t. cons (see the module docstring)."""
    d = cons.d
    w = W.reshape(-1)
    margins = cons.margin @ w
    margin_violation = float(max(0.0, 1.0 - margins.min())) if margins.size else 0.0
    eq_violation = float(np.abs(cons.equality @ w).max()) if cons.equality.shape[0] else 0.0
    m_i = cons.margin.shape[0]
    if m_i == 0:  # only equalities: W = 0 is optimal
        return NuclearCertificate(
            margin_violation,
            eq_violation,
            float(nuclear_norm(W)),
            0.0,
            0.0 if np.allclose(W, 0) else 1.0,
            0.0,
            0.0,
            0,
            np.zeros(0),
        )
    W_feas = _make_feasible(W, cons)
    upper = float(nuclear_norm(W_feas))
    U, s, Vt = np.linalg.svd(W_feas)
    r = int((s > RANK_RTOL * s[0]).sum())
    Ur, Vr = U[:, :r], Vt[:r].T
    target = Ur @ Vr.T

    def tangent(X: np.ndarray) -> np.ndarray:  # P_T(X) for X (..., d, d)
        return Ur @ (Ur.T @ X) + (X @ Vr) @ Vr.T - Ur @ (Ur.T @ X @ Vr) @ Vr.T

    active = np.flatnonzero(cons.margin @ W_feas.reshape(-1) <= 1.0 + ACTIVE_TOL)
    rows = np.vstack([cons.margin[active], cons.equality])  # (p, d*d)
    columns = tangent(rows.reshape(-1, d, d)).reshape(rows.shape[0], -1).T  # (d*d, p)
    lower_bounds = np.concatenate([np.zeros(active.size), np.full(cons.equality.shape[0], -np.inf)])
    fit = lsq_linear(
        columns, target.reshape(-1), bounds=(lower_bounds, np.inf), method="bvls", lsq_solver="exact", tol=1e-14
    )
    coef = fit.x
    G = (coef @ rows).reshape(d, d)
    dual_norm = float(np.linalg.norm(G, 2))
    lam = np.zeros(m_i)
    lam[active] = coef[: active.size]
    lower = float(lam.sum() / dual_norm) if dual_norm > 0 else 0.0
    return NuclearCertificate(
        margin_violation=margin_violation,
        equality_violation=eq_violation,
        upper=upper,
        lower=lower,
        gap=(upper - lower) / upper,
        dual_norm=dual_norm,
        tangent_residual=float(np.linalg.norm(tangent(G) - target)),
        rank=r,
        lam=lam,
    )


def solve_factored(cons: LinearConstraints, starts: int = 6, seed: int = 0, scale: float = 1.0) -> np.ndarray:
    """min (||U||^2 + ||V||^2)/2 s.t. the constraints on U V^T by SLSQP from `starts` random starts; returns W (d, d).

    The smallest objective among the feasible local solutions is kept (the smooth form is non-convex; with U, V of
    full width d its local minima are observed to coincide, which the ADMM route and the certificate check).
    """
    d = cons.d
    A = cons.margin.reshape(-1, d, d)
    B = cons.equality.reshape(-1, d, d)
    rng = np.random.default_rng(seed)

    def split(z):
        return z[: d * d].reshape(d, d), z[d * d :].reshape(d, d)

    def value(z):
        return 0.5 * float(z @ z)

    def value_grad(z):
        return z

    def products(M, z):  # <M_j, U V^T> for M (m, d, d)
        U, V = split(z)
        return np.einsum("jab,ab->j", M, U @ V.T)

    def jac(M, z):  # d<M_j, U V^T>/dU = M_j V, d/dV = M_j^T U
        U, V = split(z)
        return np.concatenate([(M @ V).reshape(M.shape[0], -1), (np.swapaxes(M, 1, 2) @ U).reshape(M.shape[0], -1)], 1)

    constraints = []
    if A.shape[0]:
        constraints.append({"type": "ineq", "fun": lambda z: products(A, z) - 1.0, "jac": lambda z: jac(A, z)})
    if B.shape[0]:
        constraints.append({"type": "eq", "fun": lambda z: products(B, z), "jac": lambda z: jac(B, z)})
    if not A.shape[0]:
        return np.zeros((d, d))
    best, best_value = None, np.inf
    for _ in range(starts):
        z0 = scale * rng.standard_normal(2 * d * d) / np.sqrt(d)
        res = minimize(
            value,
            z0,
            jac=value_grad,
            constraints=constraints,
            method="SLSQP",
            options={"maxiter": 2000, "ftol": 1e-15},
        )
        U, V = split(res.x)
        W = U @ V.T
        w = W.reshape(-1)
        feasible = (cons.margin @ w).min() >= 1 - 1e-7 and (
            not cons.equality.shape[0] or np.abs(cons.equality @ w).max() <= 1e-7
        )
        if feasible and res.fun < best_value:
            best, best_value = W, res.fun
    if best is None:
        raise RuntimeError("SLSQP found no feasible point from any start")
    return best


def project_polyhedron(v: np.ndarray, cons: LinearConstraints, null_basis: np.ndarray | None = None) -> np.ndarray:
    """Euclidean projection of v (d*d,) onto {w : margin rows . w >= 1, equality rows . w = 0}.

    Equalities: w = N theta with N (d*d, p) an orthonormal basis of their null space, so the projection is that of
    theta0 = N^T v onto {G theta >= 1}, G = margin N: least-distance programming min ||u|| s.t. G u >= 1 - G theta0,
    solved by Lawson and Hanson's reduction to NNLS.
    """
    N = _null_basis(cons) if null_basis is None else null_basis
    theta0 = N.T @ v
    if not cons.margin.shape[0]:
        return N @ theta0
    G = cons.margin @ N
    h = 1.0 - G @ theta0
    if h.max() <= 0:
        return N @ theta0
    M = np.vstack([G.T, h[None, :]])
    f = np.zeros(M.shape[0])
    f[-1] = 1.0
    z, _ = nnls(M, f, maxiter=50 * M.shape[1])
    r = M @ z - f
    u = -r[:-1] / r[-1]
    return N @ (theta0 + u)


def _null_basis(cons: LinearConstraints) -> np.ndarray:
    dd = cons.d * cons.d
    if not cons.equality.shape[0]:
        return np.eye(dd)
    _, s, vt = np.linalg.svd(cons.equality)
    rank = int((s > 1e-10 * s[0]).sum())
    return vt[rank:].T


def solve_admm(
    cons: LinearConstraints, rho: float = 1.0, tol: float = 1e-10, max_iter: int = 20_000, W0: np.ndarray | None = None
) -> tuple[np.ndarray, int]:
    """Scaled ADMM on min ||X||_* + indicator_C(W) s.t. X = W; returns (W (d, d) in C, iterations).

    X <- SVT(W - U, 1/rho);  W <- Proj_C(X + U);  U <- U + X - W. Stops when the primal residual ||X - W|| and the
    dual residual rho ||W - W_prev|| are both below tol * max(1, ||W||).
    """
    d = cons.d
    N = _null_basis(cons)
    W = project_polyhedron(np.zeros(d * d) if W0 is None else W0.reshape(-1), cons, N).reshape(d, d)
    U = np.zeros((d, d))
    for it in range(1, max_iter + 1):  # noqa: B007 - the count is returned
        u, s, vt = np.linalg.svd(W - U)
        X = (u * np.maximum(s - 1.0 / rho, 0.0)) @ vt
        W_prev = W
        W = project_polyhedron((X + U).reshape(-1), cons, N).reshape(d, d)
        U = U + X - W
        scale = max(1.0, float(np.linalg.norm(W)))
        if np.linalg.norm(X - W) <= tol * scale and rho * np.linalg.norm(W - W_prev) <= tol * scale:
            break
    return W, it


def solve_nuclear_svm(
    ds: Dataset, graphs: TokenPriorityGraphs | None = None, starts: int = 6, seed: int = 0
) -> NuclearSVMSolution:
    """W^nuc of a dataset by the factored route, checked by the ADMM route (warm-started from the Frobenius
    projection of 0) and by the weak-duality certificate of each."""
    cons = graph_constraints(ds, graphs)
    W = solve_factored(cons, starts=starts, seed=seed)
    W_admm, _ = solve_admm(cons)
    norm = max(float(np.linalg.norm(W)), 1e-300)
    return NuclearSVMSolution(
        W=W,
        W_admm=W_admm,
        routes_distance=float(np.linalg.norm(W - W_admm)) / norm,
        certificate=nuclear_certificate(W, cons),
        admm_certificate=nuclear_certificate(W_admm, cons),
    )


def solve_stack(stack, starts: int = 3, seed: int = 0) -> list[NuclearSVMSolution]:
    """W^nuc of every dataset of a StackedDatasets (B datasets), each with both routes and certificates."""
    return [solve_nuclear_svm(stack.dataset(b), starts=starts, seed=seed) for b in range(stack.shape[0])]


def compare_factorised(stack, exact, trajectory, solutions: list[NuclearSVMSolution], W_plain: np.ndarray):
    """The factorised run against W^svm and W^nuc.

    Args:
        stack, exact: StackedDatasets and part 1's ExactSolutions (B datasets).
        trajectory: Trajectory of K Q^T (m, B, d, d).
        solutions: solve_stack's W^nuc per dataset.
        W_plain: (B, d, d) the W-parameterised run's last iterate (same optimizer and budget).
    Returns:
        (summary DataFrame, one row per dataset; Evidence against W^nuc; Evidence against W^svm), the Evidence of
        ``evidence.direction`` (N4's bounded-residual rate) with the nuclear solution in the role of W^svm.
    """
    W_nuc = np.stack([s.W for s in solutions])
    exact_nuc = dataclasses.replace(exact, W_svm=W_nuc, svm_norm=np.linalg.norm(W_nuc, axis=(1, 2)))
    to_nuclear = ev.direction(measure(stack, exact_nuc, trajectory.W), exact_nuc, stack)
    to_frobenius = ev.direction(measure(stack, exact, trajectory.W), exact, stack)
    W_kq = trajectory.final
    sv_kq = np.linalg.svd(W_kq, compute_uv=False)
    sv_svm = np.linalg.svd(exact.W_svm, compute_uv=False)
    ratios = []
    for b, sol in enumerate(solutions):
        cons = graph_constraints(stack.dataset(b))
        if sol.certificate.upper == 0:  # W^nuc = 0 (no margin constraint): no direction to compare
            ratios.append(float("nan"))
            continue
        try:
            ratios.append(float(nuclear_norm(_make_feasible(W_kq[b], cons))) / sol.certificate.upper)
        except ValueError:  # a direction that misses some margin is not comparable
            ratios.append(float("nan"))
    summary = pd.DataFrame(
        {
            "cos(KQ^T, W^svm)": cosine(W_kq, exact.W_svm),
            "cos(W, W^svm), W-parameterised": cosine(W_plain, exact.W_svm),
            "stable rank KQ^T": (sv_kq**2).sum(-1) / np.maximum(sv_kq[..., 0] ** 2, 1e-300),
            "stable rank W^svm": (sv_svm**2).sum(-1) / np.maximum(sv_svm[..., 0] ** 2, 1e-300),
            "cos(KQ^T, W^nuc)": cosine(W_kq, W_nuc),
            "cos(W^svm, W^nuc)": cosine(exact.W_svm, W_nuc),
            "||KQ^T||_* / ||W^nuc||_*": ratios,
            "nuclear gap": [s.certificate.gap for s in solutions],
            "ADMM gap": [s.admm_certificate.gap for s in solutions],
            "routes distance": [s.routes_distance for s in solutions],
            "rank W^nuc": [s.certificate.rank for s in solutions],
        }
    )
    return summary, to_nuclear, to_frobenius


@dataclass
class NuclearPath:
    """The (K, Q) regularization path W_mu = argmin L(W) + mu ||W||_* (= argmin over K Q^T of L + mu (||K||^2 +
    ||Q||^2) / 2) along decreasing mus, with its optimality certificate.

    Attributes:
        mus: (m,).   W: (m, d, d).   newton_steps: (m,) trust-region iterations per mu.
        tangent_residual: (m,) ||P_T(-grad L) - mu U_r V_r^T||_F / mu (0 at the optimum).
        normal_ratio: (m,) ||P_T-perp(grad L)||_op / mu (at most 1 at the optimum).   rank: (m,) numerical rank.
    """

    mus: np.ndarray
    W: np.ndarray
    newton_steps: np.ndarray
    tangent_residual: np.ndarray
    normal_ratio: np.ndarray
    rank: np.ndarray


def nuclear_path(ds: Dataset, mus, seed: int = 0, gtol: float = 1e-10) -> NuclearPath:
    """Solve min L(U V^T) + mu (||U||^2 + ||V||^2) / 2 over U, V (d, d) by trust-region Newton (exact Hessian; the
    factored problem is not convex), warm-started along decreasing mus from a small random start.

    With U, V of full width d this factored problem has the same optimal value as the convex min L(W) + mu ||W||_*
    (||W||_* = min_{U V^T = W} (||U||^2 + ||V||^2) / 2), and the returned W = U V^T is certified for the convex
    problem: -grad L(W) must be a subgradient mu (U_r V_r^T + Z), Z on the normal space with ||Z||_op <= 1.
    """
    mus = np.asarray(mus, dtype=np.float64)
    if np.any(mus <= 0) or np.any(np.diff(mus) >= 0):
        raise ValueError("mus must be positive and strictly decreasing")
    d = ds.d
    dd = d * d
    eye = np.eye(d)

    def split(z):
        return z[:dd].reshape(d, d), z[dd:].reshape(d, d)

    z = 0.1 * np.random.default_rng(seed).standard_normal(2 * dd)
    Ws, steps, tangent, normal, ranks = [], [], [], [], []
    for mu in mus:

        def value_grad(z, mu=mu):
            U, V = split(z)
            loss, G = loss_and_grad(ds, U @ V.T)
            return loss + 0.5 * mu * float(z @ z), np.concatenate([(G @ V).ravel(), (G.T @ U).ravel()]) + mu * z

        def hess(z, mu=mu):
            U, V = split(z)
            W = U @ V.T
            _, G = loss_and_grad(ds, W)
            # dW[a, c] / dU[e, b] = delta_ae V[c, b];  dW[a, c] / dV[e, b] = U[a, b] delta_ce  (row-major vec)
            MU = np.transpose(np.einsum("ae,cb->acbe", eye, V), (0, 1, 3, 2)).reshape(dd, dd)
            MV = np.transpose(np.einsum("ab,ce->acbe", U, eye), (0, 1, 3, 2)).reshape(dd, dd)
            M = np.concatenate([MU, MV], 1)
            H = M.T @ hessian(ds, W) @ M
            cross = np.einsum("eg,bh->ebgh", G, eye).reshape(dd, dd)  # second derivative of <G, dU dV^T>
            H[:dd, dd:] += cross
            H[dd:, :dd] += cross.T
            return H + mu * np.eye(2 * dd)

        # trust-ncg (Steihaug CG, negative curvature included) gets close cheaply; trust-exact polishes to gtol.
        # Not trust-krylov: its compiled subproblem solver (trlib) gives different iterates on identical calls, so
        # the path moved at 1e-8 from run to run. trust-exact's subproblem solver meets 0 * inf on a step that hits
        # the boundary and rejects it; every point is certified afterwards by the subgradient condition (tangent /
        # normal below), so that numpy warning is silenced here.
        with np.errstate(invalid="ignore"):
            rough = minimize(
                value_grad, z, jac=True, hess=hess, method="trust-ncg", options={"gtol": 1e3 * gtol, "maxiter": 1000}
            )
            res = minimize(value_grad, rough.x, jac=True, hess=hess, method="trust-exact", options={"gtol": gtol})
        z, iterations = res.x, rough.nit + res.nit
        U, V = split(z)
        W = U @ V.T
        _, G = loss_and_grad(ds, W)
        u, s, vt = np.linalg.svd(W)
        r = int((s > RANK_RTOL * s[0]).sum())
        Ur, Vr = u[:, :r], vt[:r].T
        on_tangent = Ur @ Ur.T @ (-G) + (-G) @ Vr @ Vr.T - Ur @ Ur.T @ (-G) @ Vr @ Vr.T
        Ws.append(W)
        steps.append(iterations)
        tangent.append(float(np.linalg.norm(on_tangent - mu * Ur @ Vr.T)) / mu)
        normal.append(float(np.linalg.norm(-G - on_tangent, 2)) / mu)
        ranks.append(r)
    return NuclearPath(mus, np.stack(Ws), np.array(steps), np.array(tangent), np.array(normal), np.array(ranks))


def compare_nuclear_path(stack, exact, paths: list[NuclearPath], solutions: list[NuclearSVMSolution]):
    """The (K, Q) regularization paths of the first p = len(paths) stacked datasets against W^nuc and W^svm.

    Returns (summary DataFrame, one row per path dataset; Evidence of ``evidence.direction`` along the path with
    W^nuc in the role of W^svm, i.e. N4's bounded-residual rate test at the smallest mu).
    """
    p = len(paths)
    sub_stack = stack_datasets([stack.dataset(b) for b in range(p)])
    sub_exact = ExactSolutions(**{f.name: getattr(exact, f.name)[:p] for f in dataclasses.fields(exact)})
    W_nuc = np.stack([s.W for s in solutions[:p]])
    exact_nuc = dataclasses.replace(sub_exact, W_svm=W_nuc, svm_norm=np.linalg.norm(W_nuc, axis=(1, 2)))
    W_path = np.stack([path.W for path in paths], axis=1)  # (m, p, d, d)
    evidence = ev.direction(measure(sub_stack, exact_nuc, W_path), exact_nuc, sub_stack)
    summary = pd.DataFrame(
        {
            "cos(W_mu, W^nuc)": cosine(W_path[-1], W_nuc),
            "cos(W_mu, W^svm)": cosine(W_path[-1], sub_exact.W_svm),
            "||W_mu||": np.linalg.norm(W_path[-1], axis=(1, 2)),
            "rank W_mu": [int(path.rank[-1]) for path in paths],
            "max tangent residual / mu": [float(path.tangent_residual.max()) for path in paths],
            "max ||normal part||_op / mu": [float(path.normal_ratio.max()) for path in paths],
            "Newton steps": [int(path.newton_steps.sum()) for path in paths],
        }
    )
    return summary, evidence
