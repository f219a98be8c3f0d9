"""The independent routes of next_token.verify and the claims of notebooks 01 and 02 that use them
(next_token.claims.token_priority_graphs, next_token.claims.graph_svm): they hold on the right objects and flip when
the objects are perturbed, and a claim whose premise the data lack says so."""

import numpy as np
import pytest
import sympy as sp

from next_token import verify
from next_token.claims import graph_svm
from next_token.claims import token_priority_graphs as tpg_claims
from next_token.data import generate_dataset
from next_token.graphs import TokenPriorityGraphs, token_priority_graphs
from next_token.svm import solve_graph_svm, solve_w_fin
from next_token.toys import toy_chain, toy_cyclic
from theory_collection.claims import ClaimsTable


def _dataset(seed=1):
    return generate_dataset(6, 4, 6, 8, "cyclic", "gaussian", False, seed=seed)


def _verdicts(claims):
    return {c.id: c.verdict for c in claims.claims}


def test_tarjan_vs_scipy_holds_and_fails_on_a_wrong_partition():
    ds = _dataset()
    graphs = token_priority_graphs(ds)
    queries = [int(k) for k in graphs.queries if graphs.adjacency[k].any()]
    claims = ClaimsTable("t")
    tpg_claims.tarjan_vs_scipy(claims, graphs, queries, "a test")
    assert _verdicts(claims) == {"N1.tarjan_vs_scipy": "holds"}
    scc = graphs.scc.copy()
    k = next(k for k in queries if graphs.scc_sizes(k).max() >= 2)  # split a cyclic SCC
    members = np.flatnonzero(scc[k] == np.argmax(graphs.scc_sizes(k)))
    scc[k, members[0]] = scc.max() + 1
    claims = ClaimsTable("t")
    tpg_claims.tarjan_vs_scipy(claims, TokenPriorityGraphs(graphs.adjacency, scc, graphs.queries), queries, "t")
    assert _verdicts(claims) == {"N1.tarjan_vs_scipy": "fails"}


@pytest.mark.parametrize("seed", range(3))
def test_hessian_form_equals_attention_variance(seed):
    ds = _dataset(seed + 1)
    quadratic, variance = verify.hessian_form_and_attention_variance(ds, seed=seed)
    assert variance > 0 and quadratic == pytest.approx(variance, rel=1e-10)
    claims = ClaimsTable("t")
    tpg_claims.variance_numeric(claims, quadratic, variance, "a test", seed)
    assert _verdicts(claims) == {"N2.variance_numeric": "holds"}
    claims = ClaimsTable("t")
    tpg_claims.variance_numeric(claims, quadratic * (1 + 1e-6), variance, "a test", seed)
    assert _verdicts(claims) == {"N2.variance_numeric": "fails"}


def _svm_verdicts(ds, svm=None):
    graphs = token_priority_graphs(ds)
    svm = solve_graph_svm(ds, graphs) if svm is None else svm
    claims = ClaimsTable("t")
    graph_svm.svm_claims(claims, ds, graphs, svm, verify.independent_svm(ds, graphs), "a test")
    return _verdicts(claims)


def test_svm_kkt_and_zero_iff_no_cross_edge():
    verdicts = _svm_verdicts(_dataset())
    assert set(verdicts.values()) == {"holds"} and len(verdicts) == 6
    # the cyclic toy has no cross-SCC edge and W^svm = 0: the margin, the orthogonality and the KKT conditions have
    # nothing to test there (inconclusive, not a vacuous "holds"), while W^svm = 0 iff no cross edge holds
    cyc = toy_cyclic()
    verdicts = _svm_verdicts(cyc)
    assert verdicts["N3.svm_zero_iff_no_cross_edge"] == "holds" and verdicts["N3.svm_equality"] == "holds"
    assert {verdicts[i] for i in ("N3.svm_margin", "N3.svm_perp_fin", "N3.svm_kkt")} == {"inconclusive"}
    cyc_svm = solve_graph_svm(cyc)
    moved = type(cyc_svm)(
        np.eye(3), cyc_svm.feasible, cyc_svm.multipliers, cyc_svm.constraints, cyc_svm.basis, cyc_svm.certificate
    )
    verdicts = _svm_verdicts(cyc, moved)
    assert verdicts["N3.svm_zero_iff_no_cross_edge"] == "fails" and verdicts["N3.svm_equality"] == "fails"


def test_acyclic_data_leave_the_cyclic_claims_inconclusive():
    ds = generate_dataset(6, 4, 6, 8, "acyclic", seed=0)
    verdicts = _svm_verdicts(ds)
    assert verdicts["N3.svm_margin"] == "holds" and verdicts["N3.svm_equality"] == "inconclusive"
    graphs = token_priority_graphs(ds)
    svm = solve_graph_svm(ds, graphs)
    fin = solve_w_fin(ds, graphs, svm.basis)
    claims = ClaimsTable("t")
    graph_svm.fin_norm(claims, fin, verify.independent_fin(ds, graphs, svm.basis.generators), svm.basis.dim, "t")
    assert _verdicts(claims) == {"N5.fin_norm": "inconclusive"} and "does not apply" in claims.claims[0].reason


def test_path_if_small_and_its_table():
    ds = _dataset()
    graphs = token_priority_graphs(ds)
    svm = solve_graph_svm(ds, graphs)
    fin = solve_w_fin(ds, graphs, svm.basis)
    mus = np.logspace(0, -4, 5)
    path = verify.path_if_small(ds, graphs, mus)
    table = verify.path_table(path, svm, fin)
    assert table["mu"].tolist() == pytest.approx(mus.tolist())
    assert np.all(np.diff(table["||W_mu||"]) > 0) and np.all(table["L(W_mu) - L*"] > -1e-12)
    assert np.all(np.diff(table["cos(W_mu, W^svm)"]) > 0)  # the path turns towards W^svm
    claims = ClaimsTable("t")
    graph_svm.loss_star(claims, None, fin, "a test")
    assert _verdicts(claims) == {"N7.loss_star": "inconclusive"}


def _chain_exact():
    column = np.array([-5 / 4, 3 / 4, 3 / 4, -1 / 4])
    quarter = 0.25
    loss_star = 4 / 5 * -((1 - quarter) * np.log(1 - quarter) + quarter * np.log(quarter))
    return column, np.sqrt(11) / 2, np.log(3) / 2, loss_star


def test_chain_toy_claims_hold_and_flip():
    chain = toy_chain()
    svm = solve_graph_svm(chain)
    fin = solve_w_fin(chain, basis=svm.basis)
    column, norm, fin_entry, loss_star = _chain_exact()
    claims = ClaimsTable("t")
    graph_svm.chain_toy(claims, svm, fin, column, norm, fin_entry, loss_star)
    assert set(_verdicts(claims).values()) == {"holds"} and len(claims.claims) == 4
    claims = ClaimsTable("t")
    graph_svm.chain_toy(claims, svm, fin, column + 1e-6, norm * (1 + 1e-6), -fin_entry, loss_star + 1e-6)
    assert set(_verdicts(claims).values()) == {"fails"}


def test_cyclic_toy_frequencies_and_claims():
    cyc = toy_cyclic()
    frequencies = verify.context_label_frequencies(cyc)
    assert np.allclose(frequencies[0], [1 / 6, 1 / 3, 1 / 2]) and np.allclose(frequencies[6], [1 / 6, 1 / 3, 1 / 2])
    svm = solve_graph_svm(cyc)
    fin = solve_w_fin(cyc, basis=svm.basis)
    entropy = float(-sum(p * sp.log(p) for p in (sp.Rational(1, 6), sp.Rational(1, 3), sp.Rational(1, 2))))
    claims = ClaimsTable("t")
    graph_svm.cyclic_toy(claims, cyc, svm, fin, entropy)
    assert set(_verdicts(claims).values()) == {"holds"}
    wrong = type(fin)(**{**fin.__dict__, "W": fin.W * 1.01})  # attention no longer the label frequencies
    claims = ClaimsTable("t")
    graph_svm.cyclic_toy(claims, cyc, svm, wrong, entropy + 1e-6)
    assert set(_verdicts(claims).values()) == {"fails"}
