"""The claims of notebook 06 (next_token.claims.real_text): each holds on the right measurement and fails, or is
inconclusive with the reason, on a perturbed one; realizability is an observation of where the theory applies."""

import numpy as np
import pytest

from next_token import realtext as nr
from next_token import realtext_layer as nl
from next_token.claims import real_text as rc
from next_token.measurements import Metrics
from next_token.stacked import ExactSolutions
from theory_collection.claims import ClaimsTable


def _verdicts(table):
    return {c.id: c.verdict for c in table.claims}


def test_realizable_share_is_an_observation_never_a_refutation():
    docs = [["to", "be"] * 10, ["be", "to", "be", "to"]]
    corpus = nr.build_corpus(docs, 2, 2, 100, 0.5, seed=0)
    study = nr.realizability_study(docs, corpus, [1, 2], larger_vocabularies=())
    table = ClaimsTable("t")
    rc.realizable_claims(table, corpus.windows, study, 2, 2)
    ids = [c.id for c in table.claims]
    assert ids[0] == "NA.realizable" and "NA.realizable_function_top" in ids and "NA.realizable_all_words" in ids
    assert table.claims[0].verdict == "observed" and table.claims[0].measured == 1.0
    tok, y = corpus.windows.tok.copy(), corpus.windows.y.copy()
    tok[0], y[0] = 0, 1  # one window whose next word is absent: the share drops, the theory applies to fewer windows
    broken = nr.Windows(tok, y, corpus.windows.doc)
    table = ClaimsTable("t")
    rc.realizable_claims(table, broken, study, 2, 2)
    assert table.claims[0].verdict == "observed" and table.claims[0].measured < 1.0
    assert table.claims[0].source == "paper code" and "data_utils.py:18" in table.claims[0].location


def test_independent_fails_for_dependent_embeddings():
    table = ClaimsTable("t")
    E_random = np.random.default_rng(0).standard_normal((5, 3))
    rc.independent_claims(table, np.eye(5), E_random, True, 0)
    assert _verdicts(table) == {"NA.independent": "holds", "NA.random_svm_feasible": "observed"}
    dependent = np.eye(5)
    dependent[4] = dependent[3]
    table = ClaimsTable("t")
    rc.independent_claims(table, dependent, E_random, False, 0)
    assert _verdicts(table)["NA.independent"] == "fails"


def test_certificate_tolerance():
    table = ClaimsTable("t")
    rc.certificate_claim(table, 1e-12, 10, 5, 4)
    assert _verdicts(table) == {"N3.real_certificate": "holds"}
    table = ClaimsTable("t")
    rc.certificate_claim(table, 1e-6, 10, 5, 4)
    assert _verdicts(table) == {"N3.real_certificate": "fails"}


def _run(cos_end=None, fin_dist=None):
    """A synthetic run (B = 1, d = 2) whose cosine follows N4's rate with a bounded residual, and W^fin."""
    norm = np.geomspace(0.5, 500.0, 12)
    fin_W = np.array([[0.0, 1.0], [-1.0, 0.0]])
    residual = np.ones_like(norm)
    cos = 1 - (np.linalg.norm(fin_W) ** 2 + residual**2) / (2 * norm**2)
    if cos_end is not None:
        cos[-1] = cos_end
    dist = np.geomspace(1.0, 1e-4, 12) if fin_dist is None else fin_dist
    col = lambda x: np.asarray(x, float)[:, None]  # noqa: E731
    nan = np.full((12, 1), np.nan)
    metrics = Metrics(col(norm), col(norm * cos), col(cos), col(dist), col(residual), nan, nan, nan, nan, nan, nan, nan)
    basis = (fin_W / np.linalg.norm(fin_W)).reshape(1, 1, 4)
    exact = ExactSolutions(
        W_svm=np.eye(2)[None], W_fin=fin_W[None], loss_star=np.zeros(1), svm_norm=np.array([np.sqrt(2)]),
        fin_basis=basis, retrieved=np.ones((1, 1, 1), bool), composition=np.ones((1, 1, 1)),
        certificate_worst=np.zeros(1),
    )  # fmt: skip
    return metrics, exact, fin_W


TEXTS = dict(run="synthetic", count=12, K=2, T=2)


def test_direction_and_fin_hold_and_fail():
    metrics, exact, fin_W = _run()
    table = ClaimsTable("t")
    rc.direction_and_fin_claims(table, metrics, exact, fin_W, TEXTS, "gd", 1.0)
    assert _verdicts(table) == {"N4.real_cos_svm": "holds", "N5.real_fin_dist": "holds"}
    assert "synthetic" in table.claims[0].statement
    metrics, exact, fin_W = _run(cos_end=0.5, fin_dist=np.full(12, 0.7))  # wrong direction, stalled distance
    table = ClaimsTable("t")
    rc.direction_and_fin_claims(table, metrics, exact, fin_W, TEXTS, "gd", 1.0)
    assert _verdicts(table) == {"N4.real_cos_svm": "fails", "N5.real_fin_dist": "fails"}


def _retrieval(unique=True, share=0.95, interval=(0.92, 0.97), share_sup=0.99, null=0.3):
    flags = np.array([unique, unique])
    mass = np.ones(2)
    return nl.HeldoutRetrieval(
        np.ones((2, 3), bool), flags, np.ones((2, 3)) / 3, mass, mass, mass, share, share_sup, null, interval
    )


@pytest.mark.parametrize(
    ("kwargs", "verdict", "reason"),
    [
        ({}, "holds", ""),
        ({"share": 0.5, "interval": (0.4, 0.6)}, "fails", ""),
        ({"unique": False}, "inconclusive", "no held-out window"),
        ({"null": 0.95}, "inconclusive", "uniform attention already"),
        ({"share_sup": 0.5}, "inconclusive", "superposition"),
    ],
)
def test_retrieval_verdicts(kwargs, verdict, reason):
    table = ClaimsTable("t")
    rc.retrieval_claims(table, _retrieval(**kwargs), 2)
    claim = table.claims[0]
    assert claim.id == "N6.real_retrieval" and claim.verdict == verdict and reason in claim.reason
    assert table.claims[1].id == "N6.real_retrieval_null"


def test_observations_have_their_ids():
    table = ClaimsTable("t")
    stats = {
        ("real", "sample"): {"largest_scc": np.array([2, 3]), "active_tokens": np.array([4, 3]), "depth": np.ones(2)}
    }
    rc.graph_claims(table, stats, 8, 4, 0)
    large = {**stats["real", "sample"], "label_in_cyclic": 0.5}
    rc.large_vocabulary_claims(table, large, 1024, 4)
    rc.random_mass_claim(table, np.ones(3), np.full(3, 0.5), 4)
    assert [c.id for c in table.claims] == [
        "TPG.real_sample_largest",
        "TPG.real_sample_depth",
        "TPG.real_large_vocab_largest",
        "TPG.real_large_vocab_depth",
        "TPG.real_large_vocab_cyclic_labels",
        "NA.random_mass_on_C",
    ]
    assert table.claims[0].measured == pytest.approx(0.75) and table.claims[-1].measured == pytest.approx(0.5)
