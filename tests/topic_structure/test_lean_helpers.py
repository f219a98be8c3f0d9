"""The helpers that notebooks 02-04 call instead of their own code: the one L-BFGS loop, the phase grid of
notebook 04 and the comparison tables."""

import math

import numpy as np
import pandas as pd
import pytest
import sympy as sp
import torch

from topic_structure import stage_runs
from topic_structure.figures import column_centred, phase_grid
from topic_structure.population import minimise_lbfgs
from topic_structure.theory import algebra
from topic_structure.theory import attention as ta
from topic_structure.theory.algebra import T, lam, tau, v
from topic_structure.training import ConvergedRun

# ----- the one L-BFGS loop ------------------------------------------------------------------------------------


def _quadratic():
    target = torch.tensor([1.0, -2.0, 3.0], dtype=torch.float64)
    point = torch.zeros(3, dtype=torch.float64, requires_grad=True)
    return point, target, lambda: ((point - target) ** 2).sum() + 0.1 * (point**4).sum()


@pytest.mark.parametrize("stop", ["gradient", "loss_change"])
def test_minimise_lbfgs_reaches_the_minimum_and_records_the_losses(stop):
    point, _, objective = _quadratic()
    losses = minimise_lbfgs([point], objective, 20, tolerance=1e-12, stop=stop)
    gradient = torch.autograd.grad(objective(), point)[0]
    assert float(gradient.abs().max()) < 1e-6
    assert losses[0] == pytest.approx(14.0)  # the starting point's loss comes first in both rules
    assert losses[-1] < losses[0] and len(losses) < 21


def test_minimise_lbfgs_stops_on_the_round_budget():
    point, target, _ = _quadratic()
    calls = []

    def slow():  # a tiny step size keeps the optimum out of reach in one round
        calls.append(1)
        return ((point - target) ** 2).sum()

    losses = minimise_lbfgs([point], slow, 2, tolerance=1e-300, stop="gradient", iterations=1, learning_rate=1e-3)
    assert len(losses) == 3  # the start and one per round


def test_minimise_lbfgs_refuses_bad_arguments():
    point, _, objective = _quadratic()
    with pytest.raises(ValueError, match="stop"):
        minimise_lbfgs([point], objective, 5, tolerance=1e-9, stop="never")
    with pytest.raises(ValueError, match="rounds"):
        minimise_lbfgs([point], objective, 0, tolerance=1e-9)


# ----- the algebra against explicit matrices ---------------------------------------------------------------------


def test_products_match_matrices_and_would_see_a_wrong_rule(monkeypatch):
    assert all(algebra.products_match_matrices().values())
    original = algebra.IBJ.__mul__

    def wrong(self, other):  # J^2 = J instead of V J
        product = original(self, other)
        if isinstance(other, algebra.IBJ) and self.z == 1 and other.z == 1 and self.x == self.y == 0:
            return algebra.IBJ(product.x, product.y, sp.Integer(1))
        return product

    monkeypatch.setattr(algebra.IBJ, "__mul__", wrong)
    assert not any(algebra.products_match_matrices().values())


def test_topic_setting_is_the_one_validator():
    assert algebra.topic_setting(5, 4, 2, 0.01) == {T: 5, v: 4, tau: 2, lam: sp.Rational(0.01)}
    assert algebra.topic_setting(5, 1, 2, min_words_per_topic=1, min_topics_per_doc=2) == {T: 5, v: 1, tau: 2}
    for args, kwargs, name in [
        ((1, 4, 1), {}, "num_topics"),
        ((5, 1, 2), {}, "words_per_topic"),
        ((5, 4, 6), {}, "topics_per_doc"),
        ((5, 4, 1), {"min_topics_per_doc": 2}, "topics_per_doc"),
        ((5, 4, 2, 0.0), {}, "weight_decay"),
    ]:
        with pytest.raises(ValueError, match=name):
            algebra.topic_setting(*args, **kwargs)


# ----- notebook 04: the phase grid --------------------------------------------------------------------------------


def test_phase_grid_agrees_with_the_optimal_mass():
    T_, v_, tau_, delta = 5, 4, 2, 2.5
    values = {ta.T: T_, ta.v: v_, ta.tau: tau_, ta.Delta: sp.Float(delta, 30)}
    ratio_of_mass = sp.lambdify(ta.x, ta.phase_boundary()["ratio_of_mass"].subs(values), "numpy")
    keep, random, x_star = phase_grid(ratio_of_mass, tau_, 0.5, 0.5, points=11)
    assert keep.shape == random.shape == x_star.shape == (11, 11)
    assert np.all(x_star[keep == 0] == 1 / tau_)
    for i, j in [(2, 3), (8, 2), (5, 5), (10, 1)]:
        expected = ta.optimal_mass(T_, v_, tau_, float(keep[i, j]), float(random[i, j]), delta)["x_star"]
        assert x_star[i, j] == pytest.approx(expected, abs=2e-3)  # 400 interpolation levels


def test_column_centred_removes_each_column_mean():
    scores = torch.arange(16.0).reshape(4, 4)
    centred = column_centred(scores, 3)
    assert centred.shape == (3, 3) and torch.allclose(centred.mean(0), torch.zeros(3))


# ----- the comparison tables ----------------------------------------------------------------------------------------


def test_uniform_comparison_columns():
    blocks = ("diagonal", "same_topic", "diff_topic")
    optimum = dict(zip(blocks, (2.0, 2.0, -0.5)))
    targets = {"finite": dict(zip(blocks, (1.9, 1.9, -0.45))), "longer": dict(zip(blocks, (1.97, 1.97, -0.49)))}
    frame = pd.DataFrame({"phase": [0, 1, 1], **{f"value.{b}": [0.0, 1.0, 3.0] for b in blocks}})
    run = ConvergedRun(frame, {}, [0.001], 0.01, "gap", 10, 100)
    table = stage_runs.uniform_comparison(optimum, targets, dict(zip(blocks, (1.9, 1.95, -0.5))), run, "value", "100")
    assert table.loc["same_topic", "trained / theory - 1"] == pytest.approx(-0.025)
    assert table.loc["diff_topic", "finite-length bias (theory)"] == pytest.approx(-0.1)
    assert table.loc["diagonal", "noise floor (std / scale)"] == pytest.approx(math.sqrt(2) / 2)
    assert run.status.startswith("converged: gap 0.001")
