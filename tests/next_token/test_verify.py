"""The claim functions of notebooks 01 and 02 (next_token.verify): they hold on the right objects and flip when
the objects are perturbed."""

import numpy as np
import pytest
import sympy as sp

from next_token import verify
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
    verify.record_tarjan_vs_scipy(claims, graphs, queries)
    assert _verdicts(claims) == {"N1.tarjan_vs_scipy": "holds"}
    scc = graphs.scc.copy()
    k = next(k for k in queries if graphs.scc_sizes(k).max() >= 2)  # split a cyclic SCC
    members = np.flatnonzero(scc[k] == np.argmax(graphs.scc_sizes(k)))
    scc[k, members[0]] = scc.max() + 1
    claims = ClaimsTable("t")
    verify.record_tarjan_vs_scipy(claims, TokenPriorityGraphs(graphs.adjacency, scc, graphs.queries), queries)
    assert _verdicts(claims) == {"N1.tarjan_vs_scipy": "fails"}


@pytest.mark.parametrize("seed", range(3))
def test_hessian_form_equals_attention_variance(seed):
    ds = _dataset(seed + 1)
    quadratic, variance = verify.hessian_form_and_attention_variance(ds, seed=seed)
    assert variance > 0 and quadratic == pytest.approx(variance, rel=1e-10)
    claims = ClaimsTable("t")
    verify.record_variance_numeric(claims, quadratic, variance)
    assert _verdicts(claims) == {"N2.variance_numeric": "holds"}
    claims = ClaimsTable("t")
    verify.record_variance_numeric(claims, quadratic * (1 + 1e-6), variance)
    assert _verdicts(claims) == {"N2.variance_numeric": "fails"}


def test_svm_kkt_and_zero_iff_no_cross_edge():
    ds = _dataset()
    graphs = token_priority_graphs(ds)
    svm = solve_graph_svm(ds, graphs)
    claims = ClaimsTable("t")
    verify.record_svm_kkt(claims, graphs, svm)
    assert _verdicts(claims) == {"N3.svm_kkt": "holds", "N3.svm_zero_iff_no_cross_edge": "holds"}
    # the cyclic toy has no cross-SCC edge and W^svm = 0; a non-zero W there breaks the equivalence
    cyc = toy_cyclic()
    cyc_graphs = token_priority_graphs(cyc)
    cyc_svm = solve_graph_svm(cyc, cyc_graphs)
    claims = ClaimsTable("t")
    verify.record_svm_kkt(claims, cyc_graphs, cyc_svm)
    assert _verdicts(claims)["N3.svm_zero_iff_no_cross_edge"] == "holds"
    moved = type(cyc_svm)(
        np.eye(3), cyc_svm.feasible, cyc_svm.multipliers, cyc_svm.constraints, cyc_svm.basis, cyc_svm.certificate
    )
    claims = ClaimsTable("t")
    verify.record_svm_kkt(claims, cyc_graphs, moved)
    assert _verdicts(claims)["N3.svm_zero_iff_no_cross_edge"] == "fails"


def test_path_if_small_and_its_table():
    ds = _dataset()
    graphs = token_priority_graphs(ds)
    svm = solve_graph_svm(ds, graphs)
    fin = solve_w_fin(ds, graphs, svm.basis)
    mus = np.logspace(0, -4, 5)
    points = verify.path_if_small(ds, graphs, mus)
    table = verify.path_table(points, svm, fin)
    assert table["mu"].tolist() == pytest.approx(mus.tolist())
    assert np.all(np.diff(table["||W_mu||"]) > 0) and np.all(table["L(W_mu) - L*"] > -1e-12)
    assert np.all(np.diff(table["cos(W_mu, W^svm)"]) > 0)  # the path turns towards W^svm
    claims = ClaimsTable("t")
    verify.record_loss_star_not_computed(claims, fin, 10_000)
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
    verify.record_chain_toy(claims, svm, fin, column, norm, fin_entry, loss_star)
    assert set(_verdicts(claims).values()) == {"holds"} and len(claims.claims) == 4
    claims = ClaimsTable("t")
    verify.record_chain_toy(claims, svm, fin, column + 1e-6, norm * (1 + 1e-6), -fin_entry, loss_star + 1e-6)
    assert set(_verdicts(claims).values()) == {"fails"}


def test_cyclic_toy_frequencies_and_claims():
    cyc = toy_cyclic()
    frequencies = verify.context_label_frequencies(cyc)
    assert np.allclose(frequencies[0], [1 / 6, 1 / 3, 1 / 2]) and np.allclose(frequencies[6], [1 / 6, 1 / 3, 1 / 2])
    svm = solve_graph_svm(cyc)
    fin = solve_w_fin(cyc, basis=svm.basis)
    entropy = float(-sum(p * sp.log(p) for p in (sp.Rational(1, 6), sp.Rational(1, 3), sp.Rational(1, 2))))
    claims = ClaimsTable("t")
    verify.record_cyclic_toy(claims, cyc, svm, fin, entropy)
    assert set(_verdicts(claims).values()) == {"holds"}
    wrong = type(fin)(**{**fin.__dict__, "W": fin.W * 1.01})  # attention no longer the label frequencies
    claims = ClaimsTable("t")
    verify.record_cyclic_toy(claims, cyc, svm, wrong, entropy + 1e-6)
    assert set(_verdicts(claims).values()) == {"fails"}
