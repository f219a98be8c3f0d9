"""The claim blocks of notebooks 08 and 09 (claims.synthetic_lda, claims.topic_attention_over_training) and the run
helpers they read (lda_runs.lda_run, attention_over_training.sweep_run / run_row / copy_stage, theory.exchange): each
claim can hold, fail or be inconclusive."""

import numpy as np
import pandas as pd
import pytest

from theory_collection.claims import ClaimsTable
from topic_structure import attention_over_training as at
from topic_structure import lda_runs
from topic_structure.claims import run_values
from topic_structure.claims import synthetic_lda as lda_claims
from topic_structure.claims import topic_attention_over_training as attention_claims
from topic_structure.params import GRID_NAMES
from topic_structure.population import Setting
from topic_structure.profiles import NOTEBOOK_PROFILES
from topic_structure.theory import exchange

QUICK_08 = NOTEBOOK_PROFILES["08_synthetic_lda"]["quick"]  # notebook 08's settings, on a smaller vocabulary here
SETTINGS = {
    **{name: QUICK_08[name] for name in GRID_NAMES},
    "num_topics": 3,
    "words_per_topic": 3,
    "doc_length": [10, 15],
}
COMMON = dict(num_docs=100, batch_size=10, log_every=2, probe_docs=6, data_seed=0)
# what fills the claims' conditions: the notebooks' quick profiles
VALUES_08 = run_values(NOTEBOOK_PROFILES["08_synthetic_lda"]["quick"])
VALUES_09 = run_values(NOTEBOOK_PROFILES["09_topic_attention_over_training"]["quick"], seed=0)


def verdicts(table: ClaimsTable) -> dict[str, str]:
    return {claim.id: claim.verdict for claim in table.claims}


def test_lda_run_is_deterministic_and_measures_every_snapshot():
    net, curves, loss = lda_runs.lda_run(SETTINGS, "tied", train_seed=1, steps=6, **COMMON)
    again = lda_runs.lda_run(SETTINGS, "tied", train_seed=1, steps=6, **COMMON)[1]
    assert list(curves["step"]) == [0, 2, 4, 6] and np.isfinite(loss)
    pd.testing.assert_frame_equal(curves, again)
    assert lda_runs.structure(net, lda_runs.lda_data(SETTINGS, 100, 6, 0)[1])["R_A"] == pytest.approx(
        curves["R_A"].iloc[-1]
    )
    averages = lda_runs.end_block_averages({("tied", 1): (net, curves, loss)})
    assert len(averages) == 9 and set(averages["quantity"]) == set(lda_runs.END_BLOCK_QUANTITIES.values())


def test_sweep_run_row_and_copy_stage():
    curves, copies = at.sweep_run({**SETTINGS, "decoder": "tied"}, train_seed=0, steps=6, **COMMON)
    row = at.run_row(curves, copies, {"R_V": 1.0, "R_A": 1.0})
    assert row["final R_I/R_A"] == copies["ratio"] and copies["low"] <= copies["ratio"] <= copies["high"]
    assert row["final a - b"] == curves["value.excess"].iloc[-1] and {"t_V", "t_A", "t_I"} <= set(row)
    frame = pd.DataFrame({"step": [0, 10, 20, 30], "R_I": [1, 3, 1, 3], "R_A": [2, 2, 2, 2]})
    assert at.copy_stage(frame) == 30  # ahead at the end, behind at step 20
    assert np.isnan(at.copy_stage(frame.assign(R_I=[3, 3, 3, 1])))


def test_exchange_rule_holds_fails_or_is_inconclusive():
    def judged(excess, copies):
        table = ClaimsTable("t")
        attention_claims.exchange_rule(table, "C5.same_word_attention", "here", excess, copies, VALUES_09)
        return table.claims[0].verdict

    assert judged((0.5, 0.7), (3.0, 2.0, 4.0)) == "holds"  # copies preferred, a > b
    assert judged((-0.5, -0.3), (3.0, 2.0, 4.0)) == "fails"  # copies preferred, a < b
    assert judged((-0.5, -0.3), (0.5, 0.4, 0.6)) == "holds"  # mates preferred, a < b
    assert judged((0.3, 0.5), (0.5, 0.4, 0.6)) == "fails"
    assert judged((0.3, 0.5), (1.0, 0.8, 1.2)) == "inconclusive"  # copies and mates not told apart


def test_exchange_rule_waits_for_a_settled_run():
    def judged(excess, copies, drift):
        table = ClaimsTable("t")
        attention_claims.exchange_rule(table, "C5.same_word_attention", "here", excess, copies, VALUES_09, drift=drift)
        return table.claims[0]

    half_width = (np.log(4.0) - np.log(2.0)) / 2
    assert judged((-0.5, -0.3), (3.0, 2.0, 4.0), 0.9 * half_width).verdict == "fails"  # settled: judged
    unsettled = judged((-0.5, -0.3), (3.0, 2.0, 4.0), 1.1 * half_width)
    assert unsettled.verdict == "inconclusive" and "not settled" in unsettled.reason
    assert judged((0.5, 0.7), (3.0, 2.0, 4.0), float("nan")).verdict == "holds"  # drift not measured


def test_late_drift_reads_the_last_fifth_of_the_run():
    frame = pd.DataFrame({"step": np.arange(0, 101, 10), "R_A": 1.0, "R_I": np.exp(np.linspace(0, 1, 11))})
    assert np.isclose(at.late_drift(frame), 0.2)  # log(R_I / R_A) climbs 0.1 per log; the last fifth holds 2
    assert at.late_drift(frame.assign(R_I=2.0)) == 0.0
    assert np.isnan(at.late_drift(frame.iloc[:1]))


def test_structure_and_stage_claims_follow_the_measurements():
    summary = pd.DataFrame(
        [
            {"decoder": d, "seed": s, "R_E": 3 + s, "R_V": 5 + s, "R_A": 2 + 0.1 * s, "R_A peak": 4 + s, "R_I": 9}
            for d in ("tied", "untied")
            for s in range(3)
        ]
    )
    intervals = lda_runs.ratio_intervals(summary, ["tied", "untied"], ("R_E", "R_V", "R_A", "R_A peak", "R_I"), 0)
    criterion = {"R_E": 1.5, "R_V": 1.5, "R_A": 1.5, "R_I": 1.5}
    table = ClaimsTable("t")
    lda_claims.record_structure_claims(table, intervals, criterion, ["tied", "untied"], VALUES_08)
    assert set(verdicts(table).values()) == {"holds"}
    raised = ClaimsTable("t")
    lda_claims.record_structure_claims(raised, intervals, {**criterion, "R_A": 10.0}, ["tied", "untied"], VALUES_08)
    assert verdicts(raised)["C5.attention_ratio"] == "fails" and verdicts(raised)["C5.value_ratio"] == "holds"

    grid = [{}, {"keep_prob": 0.0}]
    results = pd.DataFrame({"value_first": [True, np.nan], "R_A peak": [3.0, 1.1]})
    table = ClaimsTable("t")
    lda_claims.record_stage_claims(table, results, grid, 0.25, {"R_A": 1.5}, VALUES_08)
    assert verdicts(table) == {"C5.two_stage": "holds", "C5.no_keep_no_attention": "holds"}
    table = ClaimsTable("t")
    lda_claims.record_stage_claims(
        table, results.assign(value_first=[False, np.nan]), grid, 0.25, {"R_A": 1.05}, VALUES_08
    )
    assert verdicts(table) == {"C5.two_stage": "fails", "C5.no_keep_no_attention": "fails"}


def test_attention_claims_follow_the_measurements():
    summary = pd.DataFrame(
        {
            "R_A": [0.6, 0.65, 0.62],
            "R_A peak": [3.5, 3.6, 3.4],
            "R_A peak step": [200, 250, 300],
            "R_I": [30.0, 31.0, 32.0],
            "final R_I/R_A": [50.0, 48.0, 52.0],
            "final a - b": [4.0, 4.2, 4.1],
            "paper.ratio": [0.9, 0.95, 0.92],
        }
    )
    sweep = pd.DataFrame(
        [
            {
                "point": "AdamW, decay 0.1",
                "R_A": 2.0,
                "R_A peak": 2.5,
                "final R_I/R_A": 1.0,
                "low": 0.9,
                "high": 1.1,
                "final a - b": 0.01,
            }
        ]
    )
    criterion = {"R_A": 1.2, "paper.ratio": 1.1}

    def judged(summary):
        table = ClaimsTable("t")
        attention_claims.record_attention_claims(table, summary, sweep, criterion, {"ratio": 1.0}, VALUES_09)
        return verdicts(table)

    found = judged(summary)
    assert found == {
        "C5.topic_attention_final": "fails",
        "C5.topic_attention_peak": "holds",
        "C5.same_word_attention": "holds",
        "C5.paper_metric": "fails",
        "C5.condition.adamw_decay_0.1": "inconclusive",
    }
    flipped = judged(summary.assign(**{"R_A": [2.0, 2.1, 2.2], "final a - b": [-1.0, -1.1, -1.2]}))
    assert flipped["C5.topic_attention_final"] == "holds" and flipped["C5.same_word_attention"] == "fails"


def test_exchange_rate_checks_and_the_population_rule_claim():
    checks = exchange.exchange_rate_checks([((2.0, 0.5, -0.3), (0.3, 0.3, 0.4), 0.1, 0.1)])
    assert checks["relative error"].max() < 1e-9
    table = ClaimsTable("t")
    attention_claims.exchange_rate_claim(table, checks)
    optima = pd.DataFrame({"weight_decay": [0.1], "gradient": [1e-9], "rule holds": [False]})
    attention_claims.population_rule_claim(table, optima, [0.1], 1e-4)
    assert verdicts(table) == {"C5.exchange_rate": "holds", "C5.population_rule": "fails"}
    wrong = ClaimsTable("t")
    attention_claims.exchange_rate_claim(wrong, checks.assign(**{"relative error": [1e-3]}))
    assert verdicts(wrong)["C5.exchange_rate"] == "fails"


def test_population_optima_reads_the_rule_at_each_optimum():
    optima = exchange.population_optima([1e-2], seed=0, progress=False)  # one point: runs in this process
    direct = exchange.population_optimum(Setting(4, 3, 2, 1e-2, keep_prob=0.1, random_prob=0.1, seed=0))
    assert optima.loc[0, "R_I"] == direct["R_I"] and optima.loc[0, "excess"] == direct["excess"]
    copies_win = direct["R_I"] / direct["R_A"] > 1 + exchange.EQUAL
    assert bool(optima.loc[0, "rule holds"]) == (
        (copies_win and direct["excess"] >= exchange.EQUAL)
        or (
            not copies_win
            and abs(direct["excess"]) < exchange.EQUAL
            and abs(np.log(direct["R_I"] / direct["R_A"])) < exchange.EQUAL
        )
        or (direct["R_I"] / direct["R_A"] < 1 - exchange.EQUAL and direct["excess"] <= -exchange.EQUAL)
    )
