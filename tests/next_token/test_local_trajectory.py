"""N10 / E4: the local-SVM trajectory, the cancellation-free softmax backward and the claims built on them."""

import mpmath
import numpy as np
import pandas as pd
import pytest

from next_token import general_head as gh
from next_token import stacked as st
from next_token import training as tr
from next_token.claims.beyond_the_theorem import local_trajectory_claims
from next_token.data import generate_dataset
from theory_collection.claims import ClaimsTable


@pytest.fixture(scope="module")
def stack():
    return st.stack_datasets([generate_dataset(6, 4, 6, 8, "cyclic", seed=0)])


def _reference_grad(stack, W: np.ndarray, digits: int = 60) -> np.ndarray:
    """The CE gradient of the general head for dataset 0 in mpmath at ``digits`` digits (textbook softmax backward)."""
    mpmath.mp.dps = digits
    ds = stack.dataset(0)
    E = mpmath.matrix(ds.E.tolist())
    Wm = mpmath.matrix(W.tolist())
    grad = mpmath.zeros(ds.d, ds.d)
    for i in range(ds.n):
        xq = E[ds.query[i], :].T
        a = [(E[t, :] * Wm * xq)[0] for t in ds.tok[i]]
        top = max(a)
        e = [mpmath.exp(v - top) for v in a]
        s = [v / sum(e) for v in e]
        gram = [[(E[v, :] * E[t, :].T)[0] for v in range(ds.K)] for t in ds.tok[i]]
        z = [sum(s[t] * gram[t][v] for t in range(ds.T)) for v in range(ds.K)]
        p = [mpmath.exp(v) / sum(mpmath.exp(u) for u in z) for v in z]
        p[ds.y[i]] -= 1
        h = [sum(gram[t][v] * p[v] for v in range(ds.K)) for t in range(ds.T)]
        mean = sum(s[t] * h[t] for t in range(ds.T))
        for t in range(ds.T):
            grad += (s[t] * (h[t] - mean) / ds.n) * (E[ds.tok[i][t], :].T * xq.T)
    return np.array(grad.tolist(), dtype=np.float64)


def test_backwards_agree_at_moderate_norm(stack):
    W = np.random.default_rng(0).normal(size=(1, 8, 8))
    _, standard = gh.ce_loss_and_grad(stack, W)
    _, free = gh.ce_loss_and_grad(stack, W, backward="cancellation_free")
    np.testing.assert_allclose(free, standard, rtol=1e-10, atol=1e-14)


def test_only_the_cancellation_free_backward_is_accurate_at_roundoff_attention(stack):
    W0 = tr.initial_weights(stack, "uniform", seed=0)
    W = gh.train_general_head(stack, 0.1, 2000, W0, backward="cancellation_free")  # ||W|| ~ 200: attention < 1e-17
    attention = gh._attention(stack, W)
    assert attention[attention < gh.SELECT_THRESHOLD].max() < gh.UNIT_ROUNDOFF  # the regime the claim is about
    reference = _reference_grad(stack, W[0])
    _, standard = gh.ce_loss_and_grad(stack, W)
    _, free = gh.ce_loss_and_grad(stack, W, backward="cancellation_free")
    error = lambda g: np.linalg.norm(g[0] - reference) / np.linalg.norm(reference)  # noqa: E731
    assert error(free) < 1e-6
    assert error(standard) > 0.1  # the rounding residue is at least as large as the true gradient


def test_trajectory_frozen_selection_and_columns(stack):
    frame = gh.local_svm_trajectory(stack, 0.1, 400, 0, every=100, freeze_step=200)
    assert list(frame["step"]) == [0, 100, 200, 300, 400]
    assert frame["cos local frozen"].iloc[:2].isna().all()
    at_freeze = frame[frame["step"] == 200].iloc[0]
    assert at_freeze["cos local frozen"] == pytest.approx(at_freeze["cos local"])
    assert (frame["selection changes"].iloc[2:] >= 0).all()
    with pytest.raises(ValueError, match="backward"):
        gh.ce_loss_and_grad(stack, np.zeros((1, 8, 8)), backward="exact")


def _frames(cos_standard, cos_exact, unselected, changes=0):
    steps = np.arange(len(cos_standard)) * 100
    common = {"dataset": 0, "step": steps, "selection changes": changes}
    standard = pd.DataFrame({**common, "cos local": cos_standard, "max unselected attention": unselected})
    exact = pd.DataFrame({**common, "cos local": cos_exact, "max unselected attention": unselected * 1e-3})
    return standard, exact


def _verdicts(standard, exact, final_cos):
    table = ClaimsTable("t")
    runs = pd.DataFrame({"diverging": [True], "cos local": [final_cos], "selection changes (2nd half)": [0]})
    texts = dict(run="a test run", data="a test", steps=200)
    local_trajectory_claims(table, standard, exact, runs, [0], "ce", 100, texts)
    names = dict(zip(("N10.local_trajectory", "N10.selection_fixed", "N10.roundoff_onset"), "abc"))
    return {names.get(c.id, "d"): c.verdict for c in table.claims}


def test_claims_hold_on_a_roundoff_departure():
    standard, exact = _frames([0.9, 0.99, 0.8], [0.9, 0.99, 0.999], np.array([1e-8, 1e-12, 1e-16]))
    verdicts = _verdicts(standard, exact, 0.999)
    assert verdicts == {"a": "observed", "b": "holds", "c": "holds", "d": "holds"}


def test_claims_flip():
    early = _frames([0.9, 0.8, 0.7], [0.9, 0.99, 0.999], np.array([1e-8, 1e-12, 1e-16]))  # departs at 1e-12
    assert _verdicts(*early, 0.999)["c"] == "fails"
    changed = _frames([0.9, 0.99, 0.8], [0.9, 0.99, 0.999], np.array([1e-8, 1e-12, 1e-16]), changes=1)
    assert _verdicts(*changed, 0.999)["b"] == "fails"
    assert _verdicts(*_frames([0.9, 0.99, 0.8], [0.9, 0.99, 0.8], np.array([1e-8, 1e-12, 1e-16])), 0.8)["d"] == "fails"
    never = _frames([0.9, 0.99, 0.8], [0.9, 0.99, 0.8], np.array([1e-8, 1e-12, 1e-16]))  # the runs never part
    assert _verdicts(*never, 0.999)["c"] == "inconclusive"


def test_an_unsettled_selection_makes_the_local_svm_claims_inconclusive():
    from next_token.claims.beyond_the_theorem import local_svm_claims

    def verdict(changes):
        runs = pd.DataFrame(
            {
                "diverging": [True, True],
                "cos global": [0.5, 0.6],
                "cos local": [0.4, 0.5],
                "ambiguous positions": [0, 0],
                "selection changes (2nd half)": changes,
            }
        )
        table = ClaimsTable("t")
        local_svm_claims(table, runs, "ce", dict(run="r", data="d", learning_rate=0.1, steps=200), [])
        return {c.id: c for c in table.claims}["N10.cos_local"]

    assert verdict([0, 0]).verdict == "fails"  # settled and far from the local SVM
    unsettled = verdict([3, 0])
    assert unsettled.verdict == "inconclusive" and "not settled" in unsettled.reason
