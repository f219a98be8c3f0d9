"""The topic paper's standard notebook parameters: their rules, and ``resolve`` for its notebooks.

The generic checks (``check_int``, ``check_float``, ...) live in :mod:`theory_collection.params`
and are re-exported here, so the library's modules validate with one import.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from types import SimpleNamespace
from typing import Any

from theory_collection.params import (  # noqa: F401  (re-exported for the library's modules)
    PROFILES,
    check_choice,
    check_float,
    check_int,
    check_output_dir,
    check_probability,
)
from theory_collection.params import resolve as resolve_with

OPTIMIZERS = ("sgd", "adam", "adamw")

# BERT's masking rate: the share of positions chosen for prediction. Functions that only need the
# split of chosen positions into [MASK] / kept / random validate that split against this rate.
DEFAULT_MASK_PROB = 0.15


def check_masking_probabilities(mask_prob: float, keep_prob: float, random_prob: float) -> None:
    """``mask_prob`` in (0, 1]; ``keep_prob``, ``random_prob`` probabilities summing to at most 1."""
    check_float("mask_prob", mask_prob, 0.0, 1.0, low_open=True)
    check_probability("keep_prob", keep_prob)
    check_probability("random_prob", random_prob)
    if keep_prob + random_prob > 1:
        raise ValueError(
            f"keep_prob + random_prob must be at most 1 (the rest shows [MASK]); "
            f"got keep_prob={keep_prob} + random_prob={random_prob} = {keep_prob + random_prob}"
        )


def check_topic_counts(num_topics: int, words_per_topic: int, topics_per_doc: int | None = None) -> None:
    """``T >= 1`` topics of ``v >= 1`` words; ``1 <= tau <= T`` topics per document when given."""
    check_int("num_topics", num_topics, 1)
    check_int("words_per_topic", words_per_topic, 1)
    if topics_per_doc is not None:
        check_int("topics_per_doc", topics_per_doc, 1, num_topics)


def check_doc_length(value: Any) -> tuple[int, int]:
    """A document length is an int ``N >= 1`` or a range ``[low, high]`` with ``1 <= low <= high``."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        n = check_int("doc_length", value, 1)
        return n, n
    if isinstance(value, Sequence) and not isinstance(value, str) and len(value) == 2:
        low = check_int("doc_length[0]", value[0], 1)
        high = check_int("doc_length[1]", value[1], low)
        return low, high
    raise ValueError(f"doc_length must be an integer >= 1 or a pair [low, high] with 1 <= low <= high, got {value!r}")


STANDARD_CHECKS = {
    "num_topics": lambda v: check_int("num_topics", v, 1),
    "words_per_topic": lambda v: check_int("words_per_topic", v, 1),
    "topics_per_doc": lambda v: check_int("topics_per_doc", v, 1),
    "alpha": lambda v: check_float("alpha", v, 0.0, low_open=True),
    "doc_length": check_doc_length,
    "mask_prob": lambda v: check_float("mask_prob", v, 0.0, 1.0, low_open=True),
    "keep_prob": lambda v: check_probability("keep_prob", v),
    "random_prob": lambda v: check_probability("random_prob", v),
    "weight_decay": lambda v: check_float("weight_decay", v, 0.0),
    "init_scale": lambda v: check_float("init_scale", v, 0.0, low_open=True),
    "optimizer": lambda v: check_choice("optimizer", v, OPTIMIZERS),
    "learning_rate": lambda v: check_float("learning_rate", v, 0.0, low_open=True),
    "steps": lambda v: check_int("steps", v, 1),
}


def cross_check(values: dict[str, Any]) -> None:
    """Rules between parameters: ``topics_per_doc <= num_topics``, ``keep_prob + random_prob <= 1``."""
    if "num_topics" in values and "topics_per_doc" in values:
        check_int("topics_per_doc", values["topics_per_doc"], 1, values["num_topics"])
    if "keep_prob" in values and "random_prob" in values:
        check_masking_probabilities(values.get("mask_prob", DEFAULT_MASK_PROB), values["keep_prob"], values["random_prob"])


def resolve(profiles: Mapping[str, Mapping[str, Any]], profile: str, **given: Any) -> SimpleNamespace:
    """Fill a topic notebook's ``None`` parameters from its profile and validate them all.

    Standard names are checked by the paper's rules (``doc_length`` becomes a ``(low, high)`` pair,
    ``output_dir`` an absolute, created path), then the cross-parameter rules (:func:`cross_check`).
    """
    from .paper import PAPER  # the paper module imports this one

    return resolve_with(profiles, profile, PAPER.all_checks, cross_check, **given)
