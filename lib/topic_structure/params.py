"""The topic paper's standard notebook parameters: their rules, and ``resolve`` for its notebooks.

The generic checks (``check_int``, ``check_float``, ...) live in :mod:`theory_collection.params`
and are re-exported here, so the library's modules validate with one import.

Besides the standard names, this module declares the rules of each notebook's own parameters
(:data:`NOTEBOOK_CHECKS`, :data:`NOTEBOOK_CROSS_CHECKS`, keyed by notebook stem) and the memory a
notebook needs at given sizes (:func:`memory_estimate`), so that the runner refuses a bad value, or a
size the machine cannot hold, before any kernel starts. A notebook keeps its own in-kernel checks
(it also runs outside the runner); a new parameter of a notebook gets its rule here as well.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from types import SimpleNamespace
from typing import Any

from theory_collection.params import (  # noqa: F401  (re-exported for the library's modules)
    PROFILES,
    check_bool,
    check_choice,
    check_float,
    check_int,
    check_list,
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
        check_masking_probabilities(
            values.get("mask_prob", DEFAULT_MASK_PROB), values["keep_prob"], values["random_prob"]
        )


def resolve(profiles: Mapping[str, Mapping[str, Any]], profile: str, **given: Any) -> SimpleNamespace:
    """Fill a topic notebook's ``None`` parameters from its profile and validate them all.

    Standard names are checked by the paper's rules (``doc_length`` becomes a ``(low, high)`` pair,
    ``output_dir`` an absolute, created path), then the cross-parameter rules (:func:`cross_check`).
    """
    from topic_structure.paper import PAPER  # the paper module imports this one

    return resolve_with(profiles, profile, PAPER.all_checks, cross_check, **given)


# ---------------------------------------------------------------------------------------------
# Each notebook's own parameters (keyed by notebook stem), as the notebooks check them


def _int(low: int | None = None, high: int | None = None) -> Callable[[str, Any], int]:
    return lambda name, value: check_int(name, value, low, high)


def _positive(name: str, value: Any) -> float:
    return check_float(name, value, 0.0, low_open=True)


def _count_or_all(name: str, low: int) -> Callable[[Any], Any]:
    return lambda value: value if value == "all" else check_int(name, value, low)


def _optional_path(name: str, value: Any) -> Any:
    if value is not None and (not isinstance(value, str) or not value):
        raise ValueError(f"{name} must be a folder path or None, got {value!r}")
    return value


_BATCH = {"batch_size": lambda v: check_int("batch_size", v, 1)}
_WIKIPEDIA = {
    "num_articles": _count_or_all("num_articles", 50),
    "num_lda_topics": lambda v: check_int("num_lda_topics", v, 2),
    "lda_passes": lambda v: check_int("lda_passes", v, 1),
    "min_topic_share": lambda v: check_float("min_topic_share", v, 0.0, 1.0, low_open=True),
    "cache_dir": lambda v: _optional_path("cache_dir", v),
}
# What a grid point of notebook 08 may change.
GRID_NAMES = (
    "optimizer",
    "learning_rate",
    "weight_decay",
    "init_scale",
    "mask_prob",
    "keep_prob",
    "random_prob",
    "num_topics",
    "words_per_topic",
    "alpha",
    "doc_length",
)

# The symbolic optima (theory.embeddings, .value_matrix, .dynamics) need two topics of two words, and C1, C2 lambda > 0.
_SYMBOLIC = {
    "num_topics": lambda v: check_int("num_topics", v, 2),
    "words_per_topic": lambda v: check_int("words_per_topic", v, 2),
}
_DECAYED = {"weight_decay": lambda v: _positive("weight_decay", v)}

NOTEBOOK_CHECKS: dict[str, dict[str, Callable[[Any], Any]]] = {
    "01_topic_model_and_masking": {"num_docs": lambda v: check_int("num_docs", v, 10)},
    "02_embeddings": {
        **_BATCH,
        **_SYMBOLIC,
        **_DECAYED,
        "d_model": lambda v: None if v is None else check_int("d_model", v, 1),
    },
    "03_value_matrix": {**_BATCH, **_SYMBOLIC, **_DECAYED},
    "04_attention": {
        **_BATCH,
        **_DECAYED,  # the C2 optimum that fixes W_V needs lambda > 0
        "high_random_prob": lambda v: None if v is None else check_probability("high_random_prob", v),
    },
    "05_two_stage_dynamics": {
        **_BATCH,
        **_SYMBOLIC,
        "adam_steps": lambda v: check_int("adam_steps", v, 1),
        "value_seeds": lambda v: check_int("value_seeds", v, 2),
        "adam_learning_rate": lambda v: _positive("adam_learning_rate", v),
        "onset_excess": lambda v: check_float("onset_excess", v, 0.0, 1.0, low_open=True, high_open=True),
        "init_scales": lambda v: check_list("init_scales", v, _positive, 2),
        "keep_probs": lambda v: check_list("keep_probs", v, check_probability, 2),
        "learning_rates": lambda v: check_list("learning_rates", v, _positive, 2),
    },
    "06_assumptions_on_data": {
        **_BATCH,
        **_WIKIPEDIA,
        "num_docs": lambda v: check_int("num_docs", v, 10),
        "wiki_words_per_topic": lambda v: check_int("wiki_words_per_topic", v, 1),
        "adam_learning_rate": lambda v: _positive("adam_learning_rate", v),
        # a stage-1 window needs several logged steps (each run logs about 30 times)
        "adam_steps": lambda v: check_int("adam_steps", v, 20),
        "steps": lambda v: check_int("steps", v, 20),
    },
    "07_wikipedia": {
        **_BATCH,
        **_WIKIPEDIA,
        "num_pretrained_docs": lambda v: check_int("num_pretrained_docs", v, 10),
        "max_tokens": lambda v: check_int("max_tokens", v, 8, 512),
        "d_model": lambda v: check_int("d_model", v, 2),
        "num_bootstrap": lambda v: check_int("num_bootstrap", v, 100),
        "num_permutations": lambda v: check_int("num_permutations", v, 10),
    },
    "08_synthetic_lda": {
        **_BATCH,
        "num_docs": lambda v: check_int("num_docs", v, 100),
        "num_seeds": lambda v: check_int("num_seeds", v, 3),
        "log_every": lambda v: check_int("log_every", v, 1),
        "grid_steps": lambda v: check_int("grid_steps", v, 1),
        "grid": lambda v: check_grid_points(v),
    },
    "09_topic_attention_over_training": {
        **_BATCH,
        "num_docs": lambda v: check_int("num_docs", v, 100),
        "num_seeds": lambda v: check_int("num_seeds", v, 3),
        "log_every": lambda v: check_int("log_every", v, 1),
        "sweep_steps": lambda v: check_int("sweep_steps", v, 1),
        "decays": lambda v: check_list("decays", v, _positive, 1),
    },
}


def check_grid_points(grid: Any) -> list:
    """A robustness grid: a non-empty list of dicts that set only :data:`GRID_NAMES`, each value valid."""
    if not isinstance(grid, list) or not grid or not all(isinstance(point, dict) for point in grid):
        raise ValueError(f"grid must be a non-empty list of dicts of parameter overrides, got {grid!r}")
    for point in grid:
        unknown = sorted(set(point) - set(GRID_NAMES))
        if unknown:
            raise ValueError(f"grid point {point}: unknown name(s) {unknown}; a point may set {list(GRID_NAMES)}")
        for name, value in point.items():
            STANDARD_CHECKS[name](value)
    return grid


def _cross_04(values: dict[str, Any]) -> None:
    if "topics_per_doc" in values and "num_topics" in values:  # tau = 1: every key is same-topic
        check_int("topics_per_doc", values["topics_per_doc"], 2, values["num_topics"])
    if values.get("keep_prob") == 0:
        raise ValueError("keep_prob must be > 0 in 04_attention: the keep queries carry the topic signal")
    if values.get("high_random_prob") is not None and {"random_prob", "keep_prob"} <= set(values):
        # the falsification run's random_prob: above this run's, and leaving room for keep_prob
        check_float(
            "high_random_prob",
            values["high_random_prob"],
            values["random_prob"],
            1 - values["keep_prob"],
            low_open=True,
        )


def _cross_05(values: dict[str, Any]) -> None:
    if "topics_per_doc" in values and "num_topics" in values:  # tau = 1: no other topic, no stage 2
        check_int("topics_per_doc", values["topics_per_doc"], 2, values["num_topics"])
    if "onset_excess" in values and "topics_per_doc" in values:
        check_float(
            "onset_excess", values["onset_excess"], 0.0, 1 - 1 / values["topics_per_doc"], low_open=True, high_open=True
        )
    if "keep_probs" in values and "random_prob" in values:
        for keep_prob in values["keep_probs"]:
            check_masking_probabilities(values.get("mask_prob", DEFAULT_MASK_PROB), keep_prob, values["random_prob"])


def _cross_lda_runs(values: dict[str, Any]) -> None:
    """Notebooks 08 and 09 (everything-trained LDA runs): batch, logging, grid and sweep lengths, grid points."""
    if "batch_size" in values and "num_docs" in values:
        check_int("batch_size", values["batch_size"], 1, values["num_docs"])
    if "log_every" in values and "steps" in values:
        check_int("log_every", values["log_every"], 1, values["steps"])
    for name in ("grid_steps", "sweep_steps"):
        if name in values and "log_every" in values:
            check_int(name, values[name], values["log_every"])
    for point in values.get("grid") or []:
        cross_check({name: value for name, value in {**values, **point}.items() if name in STANDARD_CHECKS})


def _cross_02(values: dict[str, Any]) -> None:
    if values.get("d_model") is not None and "num_topics" in values:
        check_int("d_model", values["d_model"], values["num_topics"] - 1)


NOTEBOOK_CROSS_CHECKS: dict[str, Callable[[dict[str, Any]], None]] = {
    "02_embeddings": _cross_02,
    "04_attention": _cross_04,
    "05_two_stage_dynamics": _cross_05,
    "08_synthetic_lda": _cross_lda_runs,
    "09_topic_attention_over_training": _cross_lda_runs,
}


# ---------------------------------------------------------------------------------------------
# Memory


def memory_estimate(notebook: str, values: dict[str, Any]) -> int:
    """Bytes a topic notebook needs at ``values`` (resolved, checked): an upper estimate of its largest tensors.

    With ``V = T v + 2`` tokens, ``N`` the longest document, ``B`` the batch and ``D`` the documents
    held, all in float64 (8 bytes; the population and symbolic routes work in double precision):

    - 16 ``V x V`` matrices (``W_V``, ``W_K``, ``W_Q``, Gram matrices, their gradients and Adam's two moments),
    - 8 ``B x N x max(V, d)`` activations (embeddings, logits over the vocabulary; with gradients),
    - 4 ``B x q x N`` attention scores (``q = mask_prob N`` chosen queries; with gradients),
    - the corpus: ``D x N`` tokens and masks and ``D x V`` word counts.

    It is meant to refuse a size that cannot run (``num_topics=100000`` needs terabytes), not to
    predict the peak; every profile of every notebook stays far below the budget (a test checks it).
    """
    del notebook  # one model covers every topic notebook
    num_words = values.get("num_topics", values.get("num_lda_topics", 1)) * values.get("words_per_topic", 1)
    vocabulary = num_words + 2
    doc_length = values.get("doc_length", values.get("max_tokens", 1))
    longest = doc_length[1] if isinstance(doc_length, tuple | list) else doc_length
    batch = values.get("batch_size", 1)
    documents = values.get("num_docs", 0)
    width = max(vocabulary, values.get("d_model") or 0)
    queries = max(1.0, values.get("mask_prob", DEFAULT_MASK_PROB) * longest)
    matrices = 16 * vocabulary**2
    activations = 8 * batch * longest * width + 4 * batch * queries * longest
    corpus = 2 * documents * longest + documents * vocabulary
    return int(8 * (matrices + activations + corpus))
