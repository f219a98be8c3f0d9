"""The time estimate of the topic notebooks and the bound on their run lengths that it justifies.

A run length beyond the bound (``-p steps 1e12``) is refused before any kernel starts, by the runner and by the
notebook's own ``PAPER.resolve``, with the parameter, its bound and the estimated time; every profile stays far
below the bound; the per-step cost model is an upper estimate of a real training step.
"""

import re

import pytest

from theory_collection import runner
from topic_structure import estimates, params
from topic_structure.paper import PAPER

RUN_LENGTHS = {
    "02_embeddings": ["steps"],
    "03_value_matrix": ["steps", "code_epochs"],
    "04_attention": ["steps"],
    "05_two_stage_dynamics": ["steps", "adam_steps"],
    "06_assumptions_on_data": ["steps", "adam_steps"],
    "07_wikipedia": ["steps"],
    "08_synthetic_lda": ["steps", "grid_steps"],
    "09_topic_attention_over_training": ["steps", "sweep_steps"],
}


def resolved(notebook: str, profile: str = "quick", **changes) -> dict:
    """A notebook's profile values with ``changes``, each checked by its rule (what the cross-checks receive)."""
    checks = PAPER.checks_for(notebook)
    values = {**PAPER.notebook_profiles[notebook][profile], **changes}
    return {name: checks[name](value) if name in checks else value for name, value in values.items()}


@pytest.mark.parametrize("profile", ["quick", "paper"])
@pytest.mark.parametrize("notebook", sorted(PAPER.notebook_profiles))
def test_every_profile_is_far_below_the_bound(notebook, profile):
    seconds = PAPER.time_estimate(notebook, resolved(notebook, profile))
    assert 0 <= seconds < estimates.MAX_SECONDS / 10
    PAPER.cross_check_for(notebook)(resolved(notebook, profile))  # accepted


@pytest.mark.parametrize("notebook", sorted(RUN_LENGTHS))
def test_the_estimate_grows_linearly_with_each_run_length(notebook):
    for name in RUN_LENGTHS[notebook]:
        base = resolved(notebook)
        one, two = (PAPER.time_estimate(notebook, {**base, name: base[name] * k}) for k in (1, 2))
        zero = PAPER.time_estimate(notebook, {**base, name: 0})
        assert two - one == pytest.approx(one - zero) and two > one, name


@pytest.mark.parametrize("notebook, name", [(nb, name) for nb, names in RUN_LENGTHS.items() for name in names])
def test_a_run_length_at_its_bound_is_accepted_and_one_step_more_refused(notebook, name):
    huge = resolved(notebook, **{name: 10**9})
    bound_name, bound = estimates.run_length_bound(notebook, huge)
    assert bound_name == name and bound > resolved(notebook)[name]
    PAPER.cross_check_for(notebook)({**huge, name: bound})
    with pytest.raises(ValueError, match=rf"{name} = {bound + 1}.*at most {bound:,}"):
        PAPER.cross_check_for(notebook)({**huge, name: bound + 1})


def test_steps_of_1e12_is_refused_before_any_kernel_starts_naming_the_bound_and_the_time():
    notebook = PAPER.notebook_dir / "08_synthetic_lda.ipynb"
    with pytest.raises(ValueError) as refused:
        runner.prepare([notebook], {"steps": 1e12})
    message = str(refused.value)
    assert "steps = 1000000000000 is too long" in message
    assert re.search(r"about [\d.e+]+ s \([\d,]+ hours\) on one core", message) and "steps may be at most" in message


def test_the_notebooks_own_resolution_refuses_it_too(tmp_path):
    namespace = {"profile": "quick", "steps": 10**12, "seed": 0, "output_dir": str(tmp_path / "out")}
    with pytest.raises(ValueError, match="steps = 1000000000000 is too long"):
        PAPER.resolve("04_attention", namespace)


def test_run_lengths_still_need_to_be_positive_integers():
    with pytest.raises(ValueError, match="adam_steps must be an integer >= 1"):
        PAPER.checks_for("05_two_stage_dynamics")["adam_steps"](0)
    assert params.check_steps(3.0) == 3


def test_a_size_the_machine_cannot_hold_is_left_to_the_memory_estimate():
    PAPER.cross_check_for("03_value_matrix")(resolved("03_value_matrix", num_topics=100_000))  # no time verdict
    with pytest.raises(ValueError, match="num_topics=100000 it needs about"):
        runner.prepare([PAPER.notebook_dir / "03_value_matrix.ipynb"], {"num_topics": 100_000})


def test_a_size_at_which_one_step_exceeds_the_limit_is_refused_as_a_size():
    huge = resolved("05_two_stage_dynamics", num_topics=60, words_per_topic=10, topics_per_doc=30)
    with pytest.raises(ValueError, match="one step of its steps loop alone takes longer.*choose smaller sizes"):
        PAPER.cross_check_for("05_two_stage_dynamics")(huge)
