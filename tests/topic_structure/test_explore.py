"""The topic paper's explorers (topic_structure.explore): the views agree with the exact routes they show,
refuse what the rules refuse, and answer a change of a control in under a second of CPU time."""

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest

from topic_structure import explore
from topic_structure.figures import phase_grid
from topic_structure.theory import attention as ta
from topic_structure.theory import onset as td

SETTING = explore.TopicSetting(num_topics=5, words_per_topic=4, topics_per_doc=2, weight_decay=3e-4)
ONSET = explore.OnsetSetting(num_topics=5, words_per_topic=4, topics_per_doc=2, weight_decay=0.0, excess=0.05)


@pytest.mark.parametrize("keep_prob, random_prob", [(0.1, 0.1), (0.3, 0.05), (0.05, 0.6)])
def test_the_phase_view_shows_the_exact_optimum_and_the_fan_agrees(keep_prob, random_prob):
    exact = ta.optimal_mass(5, 4, 2, keep_prob, random_prob, ta.value_strength(5, 4, 2, 3e-4))
    view = explore.phase_view(SETTING, keep_prob, random_prob)
    assert view.lines[0].startswith(f"x* = {exact['x_star']:.6g} at keep_prob = {keep_prob:g}")
    assert f"random_prob ≤ {exact['boundary_ratio']:.4g} · keep_prob" in view.lines[1]
    # the fan is read off the rays of section 3; at the chosen point it must give the exact optimum
    keep, random, fan = phase_grid(explore.ratio_of_mass(SETTING), 2, 1.0, 1.0, points=201)
    i, j = np.unravel_index(np.nanargmin(np.abs(keep - keep_prob) + np.abs(random - random_prob)), keep.shape)
    assert abs(fan[i, j] - exact["x_star"]) < 5e-3


def test_the_phase_view_says_which_points_the_rules_refuse():
    (line,) = explore.phase_view(SETTING, 0.7, 0.5).lines
    assert line.startswith("Not a masking setting") and "keep_prob + random_prob must be at most 1" in line
    assert explore.phase_view(SETTING, 0.0, 0.0).lines[0].startswith("Not a masking setting")


def test_the_onset_view_shows_the_closed_form_and_the_measured_points_that_share_its_controls():
    p = td.predicted_onset(5, 4, 2, 0.2, 0.003, "random", 20.0, 0.0, 0.05)
    measured = pd.DataFrame(
        {
            "init_scale": [0.003, 0.01],
            "keep_prob": [0.2, 0.2],
            "learning_rate": [20.0, 20.0],
            "measured steps": [111.0, 99.0],
            "ODE": [2300.0, 2100.0],
        }
    )
    view = explore.onset_view(ONSET, 0.003, 0.2, 20.0, measured)
    assert view.lines[0].startswith(f"predicted onset: {p.steps:,.0f} steps at learning rate 20")
    assert "population GD 111 steps, reduced ODE 115 steps" in view.lines[-1]
    assert (
        explore.onset_view(ONSET, 0.003, 0.2, 10.0, measured)
        .lines[0]
        .startswith(f"predicted onset: {2 * p.steps:,.0f} steps")
    ), "the learning rate only converts time to steps"


def test_each_explorer_redraws_on_a_change_of_each_control():
    """How long a change takes is measured by benchmarks/explorer_speed.py, not here."""
    phase = explore.phase_explorer(SETTING, 0.1, 0.1)
    onset = explore.onset_explorer(ONSET, 0.01, 0.1, 10.0)
    changes = [
        (phase, "keep_prob", 0.2),
        (phase, "random_prob", 0.3),
        (onset, "init_scale", 0.001),
        (onset, "keep_prob", 0.2),
        (onset, "learning_rate", 20.0),
    ]
    for shown, name, value in changes:
        before = shown.shown
        shown.controls[name].value = value
        assert shown.shown != before, f"moving {name} changed nothing"


@pytest.fixture(autouse=True)
def close_figures():
    """The views made here are not rendered (an explorer renders and closes its own)."""
    yield
    plt.close("all")
