"""The N -> infinity extrapolation behind notebook 01's P1.population_loss."""

import math

import numpy as np
import pandas as pd
import pytest

from topic_structure.measurements import extrapolate_to_infinite_length


def frame(lengths, means, standard_errors):
    return pd.DataFrame({"N": lengths, "monte_carlo": means, "standard_error": standard_errors})


def test_recovers_limit_and_slope_of_exact_one_over_n():
    lengths = np.array([100, 200, 400, 1000])
    fit = extrapolate_to_infinite_length(frame(lengths, 4.6 + 0.3 / lengths, [0.002, 0.001, 0.001, 0.0007]))
    assert fit["limit"] == pytest.approx(4.6, abs=1e-12)
    assert fit["slope"] == pytest.approx(0.3, abs=1e-9)
    assert fit["chi2"] == pytest.approx(0.0, abs=1e-12) and fit["dof"] == 2


def test_standard_error_of_the_intercept_matches_the_spread_over_noisy_draws():
    rng = np.random.default_rng(0)
    lengths = np.array([100, 200, 400, 1000])
    errors = np.array([0.002, 0.001, 0.001, 0.0007])
    fits = [
        extrapolate_to_infinite_length(frame(lengths, 4.6 + 0.3 / lengths + errors * rng.standard_normal(4), errors))
        for _ in range(2000)
    ]
    limits = np.array([f["limit"] for f in fits])
    # the unscaled fit s.e. (the same for every draw) against the spread of the intercept; the chi2 scaling
    # only ever widens it
    assert limits.mean() == pytest.approx(4.6, abs=4 * limits.std() / math.sqrt(len(limits)))
    assert min(f["standard_error"] for f in fits) == pytest.approx(limits.std(), rel=0.05)


def test_residuals_larger_than_their_errors_widen_the_standard_error():
    lengths = np.array([100, 200, 400, 1000])
    errors = np.full(4, 0.001)
    smooth = extrapolate_to_infinite_length(frame(lengths, 4.6 + 0.3 / lengths, errors))
    curved = extrapolate_to_infinite_length(frame(lengths, 4.6 + 0.3 / lengths + 300 / lengths**2, errors))
    assert curved["chi2"] > curved["dof"]
    assert curved["standard_error"] == pytest.approx(smooth["standard_error"] * math.sqrt(curved["chi2"] / 2))


def test_two_lengths_are_refused():
    with pytest.raises(ValueError, match="at least 3 lengths"):
        extrapolate_to_infinite_length(frame([100, 1000], [4.6, 4.6], [0.001, 0.001]))
