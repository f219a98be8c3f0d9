"""Notebook 05's runs and claim blocks (:mod:`topic_structure.two_stage`); a known run reused in the onset grid."""

import math

import numpy as np
import pandas as pd
import pytest

from theory_collection.claims import ClaimsTable
from topic_structure import two_stage
from topic_structure.claims import run_values
from topic_structure.claims import two_stage_dynamics as claims
from topic_structure.model import ModelConfig, TopicTransformer
from topic_structure.profiles import NOTEBOOK_PROFILES
from topic_structure.theory import onset, population_descent, two_stage_ode

SETTING = dict(num_topics=5, words_per_topic=4, topics_per_doc=2)
VALUES = run_values(NOTEBOOK_PROFILES["05_two_stage_dynamics"]["quick"])
EXCESS = 0.05


def test_grid_points_sweep_one_factor_at_a_time_with_the_base_point_once():
    points = two_stage.grid_points(0.01, 0.1, 10.0, [1e-3, 0.01], [0.1, 0.2], [10.0, 20.0])
    assert points == [(1e-3, 0.1, 10.0), (0.01, 0.1, 10.0), (0.01, 0.2, 10.0), (0.01, 0.1, 20.0)]


def test_onset_collapse_gives_the_closed_form_onset_at_its_own_lambda():
    flow = two_stage_ode.ReducedFlow(5, 4, 2, 0.1, 0.1)
    predicted = [onset.predicted_onset(5, 4, 2, 0.1, s, "random", 10.0, 0.0, EXCESS) for s in (1e-3, 1e-2)]
    times = two_stage.onset_collapse(
        onset.onset_theory(), onset.stage_one(), flow, EXCESS, np.array([p.area for p in predicted])
    )
    assert times == pytest.approx([p.time for p in predicted], rel=1e-6)


def test_a_known_run_gives_the_grid_row_the_run_itself_gives():
    point = (0.01, 0.1, 10.0)
    predicted = two_stage.predict_onsets([point], weight_decay=0.0, excess=EXCESS, **SETTING)
    common = dict(random_prob=0.1, weight_decay=0.0, excess=EXCESS, max_steps=2000, seed=0, progress_bar=False)
    fresh = two_stage.measure_onsets(predicted, **SETTING, **common)
    model = TopicTransformer(ModelConfig(5, 4, init_scale=0.01), seed=0).double()
    longer = population_descent.population_gradient_descent(
        model, 2, 0.1, 0.1, 10.0, int(fresh["measured steps"][0] * 1.5)
    )
    reused = two_stage.measure_onsets(predicted, **SETTING, **common, known={point: longer})
    pd.testing.assert_frame_equal(fresh, reused)


def test_a_known_run_that_stops_short_is_run_again():
    point = (0.01, 0.1, 10.0)
    predicted = two_stage.predict_onsets([point], weight_decay=0.0, excess=EXCESS, **SETTING)
    model = TopicTransformer(ModelConfig(5, 4, init_scale=0.01), seed=0).double()
    short = population_descent.population_gradient_descent(model, 2, 0.1, 0.1, 10.0, 20)
    common = dict(random_prob=0.1, weight_decay=0.0, excess=EXCESS, max_steps=2000, seed=0, progress_bar=False)
    grid = two_stage.measure_onsets(predicted, **SETTING, **common, known={point: short})
    assert grid["reached"][0] and grid["measured steps"][0] > 20


def value_first_table(measured_over_predicted: list[float], sgd: float, adam: float) -> pd.DataFrame:
    rows = {
        seed: {"measured ratio": 150 * r, "predicted ratio": 150.0} for seed, r in enumerate(measured_over_predicted)
    }
    rows["SGD"] = {"measured ratio": sgd, "predicted ratio": math.nan}
    rows["Adam"] = {"measured ratio": adam, "predicted ratio": math.nan}
    return pd.DataFrame(rows).T


def value_first_verdicts(frame: pd.DataFrame) -> dict[str, str]:
    table = ClaimsTable("test")
    claims.value_first_claims(table, frame, {"sgd": "SGD", "adam": "Adam"}, {**VALUES, "value_seeds": 4})
    return {c.id: c.verdict for c in table.claims}


def test_value_first_claims_hold_within_the_seed_spread_and_fail_outside_it():
    assert value_first_verdicts(value_first_table([0.95, 1.05, 1.0, 1.02], 40.0, 12.0)) == {
        "C4.value_first": "holds",
        "C4.value_first.sgd": "holds",
        "C4.value_first.adam": "holds",
    }
    result = value_first_verdicts(value_first_table([1.3, 1.35, 1.25, 1.3], 40.0, 2.0))
    assert result["C4.value_first"] == "fails" and result["C4.value_first.adam"] == "fails"


def test_ode_exact_claim_measures_the_gap_to_the_euler_flow():
    flow = two_stage_ode.ReducedFlow(5, 4, 2, 0.1, 0.1)
    start = two_stage_ode.initial_state(0.01, 5, 4, "symmetric")
    euler = two_stage_ode.integrate(flow, start, 50 * 10.0, "euler", learning_rate=10.0, points=50)
    gd = population_descent.population_gradient_descent(
        population_descent.symmetric_model(start, flow.vocab), 2, 0.1, 0.1, 10.0, 50, track_symmetry=True
    )
    table = ClaimsTable("test")
    gaps = two_stage.ode_gaps(gd, euler)
    claims.ode_exact_claim(table, gaps, VALUES)
    assert table.claims[0].verdict == "holds" and gaps["left"] is None
    shifted = euler.assign(**{two_stage_ode.MASS: euler[two_stage_ode.MASS] + 1e-6})
    assert two_stage.ode_gaps(gd, shifted)["mass_gap"] == pytest.approx(1e-6, rel=1e-3)
