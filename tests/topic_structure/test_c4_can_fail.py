"""C4's onset claims catch a 10% error in the onset-time theory or in the growth rate it rests on.

The population-GD onsets are measured once (unperturbed); the theory is then recomputed with one
function perturbed and the claims of notebook 05 (:func:`claims.two_stage_dynamics.record_onsets`) judged
again: the unperturbed theory holds, every perturbation makes a claim fail.
"""

import dataclasses
import math

import pytest

from theory_collection.claims import ClaimsTable
from topic_structure import two_stage
from topic_structure.claims import run_values
from topic_structure.claims import two_stage_dynamics as claims
from topic_structure.profiles import NOTEBOOK_PROFILES
from topic_structure.theory import onset, two_stage_ode

SETTING = dict(num_topics=5, words_per_topic=4, topics_per_doc=2)
BASE = (0.01, 0.1, 10.0)  # init_scale, keep_prob, learning_rate: notebook 05's quick profile
POINTS = [(s, 0.1, 10.0) for s in (1e-3, 1e-2, 3e-2)] + [(0.01, p, 10.0) for p in (0.05, 0.2)] + [(0.01, 0.1, 20.0)]
EXCESS = 0.05
VALUES = run_values(NOTEBOOK_PROFILES["05_two_stage_dynamics"]["quick"])  # its onset_excess is EXCESS


@pytest.fixture(scope="module")
def measured():
    predicted = two_stage.predict_onsets(POINTS, weight_decay=0.0, excess=EXCESS, **SETTING)
    return two_stage.measure_onsets(
        predicted,
        random_prob=0.1,
        weight_decay=0.0,
        excess=EXCESS,
        max_steps=2000,
        seed=0,
        progress_bar=False,
        **SETTING,
    )


def verdicts(measured) -> dict[str, str]:
    """Judge the onset claims with the theory as it is now (perhaps perturbed) and the fixed measurements."""
    predicted = two_stage.predict_onsets(POINTS, weight_decay=0.0, excess=EXCESS, **SETTING)
    grid = measured.drop(columns=list(predicted.columns[3:])).merge(
        predicted, on=["init_scale", "keep_prob", "learning_rate"]
    )
    grid["error"] = grid["measured"] / grid["predicted"] - 1
    table = ClaimsTable("test")
    claims.record_onsets(table, grid, *BASE, VALUES)
    return {c.id: c.verdict for c in table.claims}


def test_the_unperturbed_theory_holds(measured):
    assert set(verdicts(measured).values()) == {"holds"}


@pytest.mark.parametrize("factor", [1.1, 0.9])
def test_a_ten_percent_error_in_the_onset_time_fails(measured, monkeypatch, factor):
    original = onset.predicted_onset

    def perturbed(*args, **kwargs):
        p = original(*args, **kwargs)
        return dataclasses.replace(
            p,
            time=p.time * factor,
            steps=p.steps * factor,
            leading_order_time=p.leading_order_time * factor,
            slope=p.slope * factor,
        )

    monkeypatch.setattr(onset, "predicted_onset", perturbed)
    assert "fails" in verdicts(measured).values()


@pytest.mark.parametrize("factor", [1.1, 0.9])
def test_a_ten_percent_error_in_the_growth_rate_fails(measured, monkeypatch, factor):
    original = onset.growth_rate_per_margin
    monkeypatch.setattr(onset, "growth_rate_per_margin", lambda *args: original(*args) * factor)
    assert "fails" in verdicts(measured).values()


def test_a_random_start_amplitude_off_by_root_two_fails(measured, monkeypatch):
    original = two_stage_ode.initial_state

    def perturbed(init_scale, num_topics, words_per_topic, init="symmetric"):
        state = original(init_scale, num_topics, words_per_topic, init)
        return state * math.sqrt(2) if init == "random" else state

    monkeypatch.setattr(two_stage_ode, "initial_state", perturbed)
    assert "fails" in verdicts(measured).values()


@pytest.mark.parametrize(("sigmas", "verdict"), [(3.0 + 1e-3, "fails"), (3.0 - 1e-3, "holds")])
def test_an_onset_earlier_than_three_start_deviations_fails(measured, sigmas, verdict):
    """C4.onset_early allows the random start's energy three standard deviations, no more."""
    predicted = two_stage.predict_onsets(POINTS, weight_decay=0.0, excess=EXCESS, **SETTING)
    grid = measured.drop(columns=list(predicted.columns[3:])).merge(
        predicted, on=["init_scale", "keep_prob", "learning_rate"]
    )
    start_sd = grid["start sd"].min()
    assert 0 < start_sd < 0.05
    grid["measured"] = grid["predicted"] * (1 - sigmas * start_sd)
    grid["error"] = grid["measured"] / grid["predicted"] - 1
    table = ClaimsTable("test")
    claims.record_onsets(table, grid, *BASE, VALUES)
    assert {c.id: c.verdict for c in table.claims}["C4.onset_early"] == verdict
