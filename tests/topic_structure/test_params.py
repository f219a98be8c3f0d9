import pytest

from theory_collection.params import resolve as resolve_profile
from topic_structure import params
from topic_structure.paper import PAPER

PROFILES = {
    "quick": dict(
        num_topics=5,
        words_per_topic=4,
        topics_per_doc=2,
        keep_prob=0.1,
        random_prob=0.1,
        doc_length=[100, 150],
        optimizer="adam",
        steps=10,
    )
}


def resolve(profiles, profile, **given):
    """The one resolution (the core's), with the topic paper's rules: what ``PAPER.resolve`` applies."""
    return resolve_profile(profiles, profile, PAPER.all_checks, params.cross_check, **given)


def test_resolve_fills_from_profile_and_overrides(tmp_path):
    p = resolve(
        PROFILES,
        "quick",
        num_topics=None,
        words_per_topic=3,
        topics_per_doc=None,
        keep_prob=None,
        random_prob=None,
        doc_length=None,
        optimizer=None,
        steps=None,
        output_dir=str(tmp_path / "out"),
    )
    assert (p.num_topics, p.words_per_topic, p.topics_per_doc) == (5, 3, 2)
    assert p.doc_length == (100, 150)
    assert p.output_dir.is_dir() and p.profile == "quick"


@pytest.mark.parametrize(
    "given, message",
    [
        (dict(topics_per_doc=6), "topics_per_doc"),
        (dict(keep_prob=0.6, random_prob=0.5), "keep_prob \\+ random_prob"),
        (dict(doc_length=0), "doc_length"),
        (dict(doc_length=[10, 5]), "doc_length"),
        (dict(optimizer="rmsprop"), "optimizer"),
        (dict(steps=0), "steps"),
        (dict(num_topics=2.5), "num_topics"),
    ],
)
def test_resolve_rejects_bad_values_naming_the_parameter(given, message):
    names = dict.fromkeys(PROFILES["quick"])
    names.update(given)
    with pytest.raises(ValueError, match=message):
        resolve(PROFILES, "quick", **names)


def test_unknown_profile_and_missing_output_parent(tmp_path):
    with pytest.raises(ValueError, match="profile"):
        resolve(PROFILES, "huge", num_topics=None)
    with pytest.raises(ValueError, match="profile 'paper' is not defined"):
        resolve(PROFILES, "paper", num_topics=None)
    with pytest.raises(ValueError, match="output_dir"):
        resolve(PROFILES, "quick", output_dir=str(tmp_path / "missing" / "out"))


def test_a_parameter_without_value_is_an_error():
    with pytest.raises(ValueError, match="alpha"):
        resolve(PROFILES, "quick", alpha=None)


@pytest.mark.parametrize("value", [float("nan"), float("inf"), "0.1", True, None])
def test_check_float_rejects_non_numbers(value):
    with pytest.raises(ValueError, match="alpha"):
        params.check_float("alpha", value, 0.0, low_open=True)


def test_check_float_interval_ends():
    assert params.check_float("alpha", 0.5, 0.0, 1.0, low_open=True) == 0.5
    with pytest.raises(ValueError, match=r"alpha must be in \(0.0, inf\)"):
        params.check_float("alpha", 0.0, 0.0, low_open=True)
    assert params.check_probability("keep_prob", 1.0) == 1.0


def test_check_int_and_choice():
    assert params.check_int("steps", 3.0, 1) == 3
    with pytest.raises(ValueError, match=r"steps must be an integer >= 1"):
        params.check_int("steps", 0, 1)
    with pytest.raises(ValueError, match="loss must be one of"):
        params.check_choice("loss", "hinge", ("cross_entropy", "squared"))


def test_masking_probabilities():
    params.check_masking_probabilities(0.15, 0.5, 0.5)
    with pytest.raises(ValueError, match="mask_prob"):
        params.check_masking_probabilities(0.0, 0.1, 0.1)
