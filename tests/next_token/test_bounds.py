"""The next-token paper's bounds: memory and time estimates for every notebook, the time budget that bounds the run
lengths, and the size bounds a dataset file shares with generated data."""

import pytest

from next_token import bounds
from next_token.data import generate_dataset, save_dataset
from next_token.paper import PAPER
from next_token.params import MAX_STEPS
from theory_collection import runner
from theory_collection.params import memory_budget_bytes

NOTEBOOKS = sorted(PAPER.notebook_profiles)


def _values(stem: str, profile: str = "quick", **changes) -> dict:
    return {**PAPER.notebook_profiles[stem][profile], "seed": 0, **changes}


@pytest.mark.parametrize("stem", NOTEBOOKS)
@pytest.mark.parametrize("profile", ["quick", "paper"])
def test_every_profile_fits_both_budgets(stem, profile):
    values = _values(stem, profile)
    assert 0 < PAPER.memory_estimate(stem, values) < memory_budget_bytes()
    assert 0 < PAPER.time_estimate(stem, values) < bounds.TIME_BUDGET_SECONDS
    bounds.check_budget(stem, values)  # no refusal


@pytest.mark.parametrize(
    "stem, name",
    [
        ("03_gradient_descent", "steps"),
        ("03_gradient_descent", "gd_steps"),
        ("04_retrieval_and_composition", "steps"),
        ("05_beyond_the_theorem", "ce_steps"),
        ("06_real_text", "steps"),
    ],
)
def test_each_run_length_adds_time_and_is_bounded_by_the_budget(stem, name):
    base = _values(stem)
    longer = _values(stem, **{name: 2 * base[name]})
    assert PAPER.time_estimate(stem, longer) > PAPER.time_estimate(stem, base)
    largest = dict(num_samples=200, seq_len=16, vocab_size=64, embed_dim=64, num_datasets=100, repeats=True)
    if stem == "06_real_text":
        largest = dict(num_windows=1_000_000)
    with pytest.raises(ValueError, match=rf"hours allowed; most of it grows with [^(]*{name}"):
        bounds.check_budget(stem, _values(stem, **largest, **{name: MAX_STEPS}))


def test_a_huge_step_count_is_refused_by_name(tmp_path):
    notebook = PAPER.notebook_dir / "03_gradient_descent.ipynb"
    with pytest.raises(ValueError, match=r"steps must be an integer in \[1, 1000000\], got 1000000000000"):
        runner.prepare([notebook], {"steps": 1e12}, "quick")
    with pytest.raises(ValueError, match="hours allowed"):  # within the bound, but too long at these sizes
        runner.prepare([notebook], {"steps": MAX_STEPS, "num_datasets": 100, "embed_dim": 64}, "quick")


def test_the_estimates_read_a_dataset_file(tmp_path):
    small = save_dataset(generate_dataset(6, 4, 6, 8, "cyclic", seed=0), tmp_path / "small.json")
    large = save_dataset(generate_dataset(200, 16, 64, 64, "cyclic", "gaussian", True, seed=0), tmp_path / "large.json")
    for stem in ("02_graph_svm", "03_gradient_descent"):
        with_small = PAPER.memory_estimate(stem, _values(stem, dataset_file=str(small)))
        with_large = PAPER.memory_estimate(stem, _values(stem, dataset_file=str(large)))
        assert with_large > 100 * with_small  # the file's sizes, not the profile's
