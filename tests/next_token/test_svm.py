import warnings

import numpy as np
import pytest

from next_token import verify
from next_token.claims import graph_svm
from next_token.data import Dataset, EmbeddingRankWarning, generate_dataset
from next_token.graphs import token_priority_graphs
from next_token.path import regularization_path
from next_token.stacked import stack_datasets
from next_token.svm import solve_graph_svm, solve_w_fin
from next_token.toys import toy_chain, toy_cyclic
from theory_collection.claims import ClaimsTable


def entropy(p):
    p = np.asarray(p, dtype=float)
    return float(-(p * np.log(p)).sum())


def chain_scores_by_hand():
    """toy_chain's Graph-SVM on the scores (a, a, b, c) of tokens (1, 2, 3, 0): minimise 2a^2 + b^2 + c^2 subject
    to a - b = 1, b - c = 1 (both active). Lagrange: gradient (4a, 2b, 2c) = l1 (1, -1, 0) + l2 (0, 1, -1)."""
    # unknowns (a, b, c, l1, l2)
    A = np.array([[4, 0, 0, -1, 0], [0, 2, 0, 1, -1], [0, 0, 2, 0, 1], [1, -1, 0, 0, 0], [0, 1, -1, 0, 0]], float)
    a, b, c, l1, l2 = np.linalg.solve(A, [0, 0, 0, 1, 1])
    assert l1 > 0 and l2 > 0  # both constraints active with positive multipliers: the optimum
    return np.array([c, a, a, b])  # column 0 of W indexed by token 0, 1, 2, 3


def test_toy_chain_exact():
    ds = toy_chain()
    svm = solve_graph_svm(ds)
    column = chain_scores_by_hand()
    assert np.allclose(column, [-5 / 4, 3 / 4, 3 / 4, -1 / 4], atol=1e-15)
    assert np.allclose(svm.W[:, 0], column, atol=1e-14)
    assert np.allclose(svm.W[:, 1:], 0.0, atol=1e-14)
    assert svm.norm == pytest.approx(np.sqrt(11) / 2, abs=1e-14)
    fin = solve_w_fin(ds)
    # W^fin puts a score gap ln(count ratio) = ln 3 between tokens 1 and 2, split evenly by minimum norm
    expected = np.zeros((4, 4))
    expected[1, 0], expected[2, 0] = np.log(3) / 2, -np.log(3) / 2
    assert np.allclose(fin.W, expected, atol=1e-13)
    assert fin.loss_star == pytest.approx(4 / 5 * entropy([3 / 4, 1 / 4]), abs=1e-14)


def test_toy_cyclic_exact():
    ds = toy_cyclic()
    svm = solve_graph_svm(ds)
    assert svm.norm == 0.0 and svm.feasible
    fin = solve_w_fin(ds)
    assert fin.loss_star == pytest.approx(entropy([1 / 6, 1 / 3, 1 / 2]), abs=1e-14)
    from next_token.loss import attention

    s = attention(ds, fin.W)
    # each context's attention is the empirical frequency of its labels, position by position
    for i in (0, 6):
        same = np.all(ds.tok == ds.tok[i], axis=1)
        frequency = np.array([np.mean(ds.y[same] == token) for token in ds.tok[i]])
        assert np.allclose(s[i], frequency, atol=1e-13)
    assert np.allclose(s[0], [1 / 6, 1 / 3, 1 / 2], atol=1e-13)


CASES = [
    (6, 4, 6, 8, "cyclic", "gaussian", False),
    (10, 6, 8, 8, "cyclic", "gaussian", False),
    (4, 6, 8, 8, "acyclic", "gaussian", False),
    (8, 7, 5, 6, "cyclic", "orthonormal", True),
    (40, 8, 16, 16, "cyclic", "gaussian", False),
]


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_certificate_on_random_data(case, seed):
    ds = generate_dataset(*case, seed=seed)
    graphs = token_priority_graphs(ds)
    svm = solve_graph_svm(ds, graphs)
    cert = svm.certificate
    assert svm.feasible
    assert cert.min_margin >= 1 - 1e-10
    assert cert.equality_violation <= 1e-10
    assert cert.complementarity <= 1e-10
    assert cert.dual_feasibility >= 0
    assert cert.stationarity <= 1e-10 and cert.perp_fin <= 1e-10 and cert.duality_gap <= 1e-10
    fin = solve_w_fin(ds, graphs, svm.basis)
    assert fin.grad_norm <= 1e-10 and fin.hess_min_eig > 0
    assert np.linalg.norm(svm.basis.project(fin.W) - fin.W) <= 1e-12  # W^fin lies in S_fin


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_independent_routes_agree(seed):
    ds = generate_dataset(10, 6, 8, 8, "cyclic", seed=seed)
    graphs = token_priority_graphs(ds)
    svm = solve_graph_svm(ds, graphs)
    other = verify.independent_svm(ds, graphs)
    assert other.success and other.min_margin >= 1 - 1e-8
    assert np.linalg.norm(other.W - svm.W) <= 1e-6 * svm.norm
    fin = solve_w_fin(ds, graphs, svm.basis)
    bfgs = verify.independent_fin(ds, graphs, svm.basis.generators)
    assert np.linalg.norm(bfgs.W - fin.W) <= 1e-6


def test_infeasible_graph_svm_is_reported():
    # tokens 0 and 1 share an embedding, yet the label 0 must outrank token 1: no W can do it
    E = np.array([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", EmbeddingRankWarning)
        ds = Dataset(E, [[0, 1, 2]], [0])
    svm = solve_graph_svm(ds)
    assert not svm.feasible and svm.certificate is None


def _structure(seed=0):
    ds = generate_dataset(8, 7, 5, 6, "cyclic", "orthonormal", True, seed=seed)
    graphs = token_priority_graphs(ds)
    svm = solve_graph_svm(ds, graphs)
    fin = solve_w_fin(ds, graphs, svm.basis)
    return ds, graphs, svm, fin


def _verdicts(claims):
    return {c.id: c.verdict for c in claims.claims}


def test_claims_hold_and_flip_when_theory_is_perturbed():
    ds, graphs, svm, fin = _structure()
    indep = verify.independent_svm(ds, graphs)
    bfgs = verify.independent_fin(ds, graphs, svm.basis.generators)
    path = regularization_path(stack_datasets([ds]), np.logspace(0, -10, 11), graphs=[graphs])

    claims = ClaimsTable("t")
    graph_svm.svm_claims(claims, ds, graphs, svm, indep, "t")
    graph_svm.fin_norm(claims, fin, bfgs, svm.basis.dim, "t")
    graph_svm.loss_star(claims, path, fin, "t")
    assert set(_verdicts(claims).values()) == {"holds"}

    # W^svm scaled up: the norm no longer matches the independent route
    bigger = type(svm)(svm.W * (1 + 1e-4), svm.feasible, svm.multipliers, svm.constraints, svm.basis)
    claims = ClaimsTable("t")
    graph_svm.svm_claims(claims, ds, graphs, bigger, indep, "t")
    assert _verdicts(claims)["N3.svm_norm"] == "fails"
    # W^svm scaled down: margins drop below 1
    smaller = type(svm)(svm.W * (1 - 1e-4), svm.feasible, svm.multipliers, svm.constraints, svm.basis)
    claims = ClaimsTable("t")
    graph_svm.svm_claims(claims, ds, graphs, smaller, indep, "t")
    assert _verdicts(claims)["N3.svm_margin"] == "fails"
    # W^svm with a component inside S_fin: orthogonality and equalities fail
    tilted = type(svm)(svm.W + 1e-6 * svm.basis.matrices[0], svm.feasible, svm.multipliers, svm.constraints, svm.basis)
    claims = ClaimsTable("t")
    graph_svm.svm_claims(claims, ds, graphs, tilted, indep, "t")
    assert _verdicts(claims)["N3.svm_perp_fin"] == "fails"
    assert _verdicts(claims)["N3.svm_equality"] == "fails"

    # W^fin perturbed
    wrong_fin = type(fin)(fin.W * (1 + 1e-4), fin.theta, fin.loss_star, fin.grad_norm, fin.hess_min_eig, fin.steps)
    claims = ClaimsTable("t")
    graph_svm.fin_norm(claims, wrong_fin, bfgs, svm.basis.dim, "t")
    assert _verdicts(claims)["N5.fin_norm"] == "fails"

    # L* perturbed either way
    for delta in (1e-4, -1e-4):
        shifted = type(fin)(fin.W, fin.theta, fin.loss_star + delta, fin.grad_norm, fin.hess_min_eig, fin.steps)
        claims = ClaimsTable("t")
        graph_svm.loss_star(claims, path, shifted, "t")
        assert _verdicts(claims)["N7.loss_star"] == "fails"


def test_path_loss_decreases_towards_loss_star():
    ds, graphs, svm, fin = _structure(1)
    path = regularization_path(stack_datasets([ds]), np.logspace(0, -10, 11), graphs=[graphs])
    losses = path.loss[:, 0]
    assert np.all(np.diff(losses) <= 1e-12)
    assert np.all(losses >= fin.loss_star - 1e-12)
    assert losses[-1] - fin.loss_star < 1e-6
    cos = np.sum(path.W[-1, 0] * svm.W) / (path.norm[-1, 0] * svm.norm)
    assert cos > 0.99  # the direction of the path approaches W^svm (N4, checked fully in part 2)


@pytest.mark.parametrize("seed", range(20))
def test_gram_nnls_matches_scipy(seed):
    from scipy.optimize import nnls

    from next_token.svm import _nnls_gram

    rng = np.random.default_rng(seed)
    rows, cols = rng.integers(3, 40, size=2)
    M = rng.standard_normal((rows, cols))
    if seed % 3 == 0:  # rank-deficient columns
        M[:, : cols // 2] = M[:, cols // 2 : 2 * (cols // 2)]
    f = rng.standard_normal(rows)
    x = _nnls_gram(M.T @ M, M.T @ f, refresh=1 + seed % 5)
    reference, residual = nnls(M, f)
    assert np.all(x >= 0)
    assert np.linalg.norm(M @ x - f) == pytest.approx(residual, abs=1e-9)
    w = M.T @ (f - M @ x)  # KKT: no positive dual left, zero dual on the support
    assert np.all(w <= 1e-9) and np.all(np.abs(w[x > 0]) <= 1e-9)


@pytest.mark.parametrize("seed", range(6))
def test_feasibility_verdict_matches_a_linear_program(seed):
    from scipy.optimize import linprog

    from next_token.path import data_basis

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", EmbeddingRankWarning)
        ds = generate_dataset(12, 4, 8, 4, "cyclic", seed=seed)  # K > d: feasibility is not guaranteed
    graphs = token_priority_graphs(ds)
    basis = data_basis(ds, graphs)
    tables = np.einsum("ka,jab,lb->jkl", ds.E, basis, ds.E)
    cross, within = graphs.edge_kinds()

    def rows(e):
        return (tables[:, e[:, 1], e[:, 0]] - tables[:, e[:, 2], e[:, 0]]).T

    lp = linprog(
        np.zeros(basis.shape[0]),
        A_ub=-rows(cross),
        b_ub=-np.ones(len(cross)),
        A_eq=rows(within) if len(within) else None,
        b_eq=np.zeros(len(within)) if len(within) else None,
        bounds=(None, None),
    )
    svm = solve_graph_svm(ds, graphs)
    assert svm.feasible == (lp.status == 0)
    if svm.feasible:
        assert svm.certificate.min_margin >= 1 - 1e-8 and svm.certificate.equality_violation <= 1e-8
