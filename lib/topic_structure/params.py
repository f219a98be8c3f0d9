"""The topic paper's notebook parameters: the rule of each, checked once, here.

The generic checks (``check_int``, ``check_float``, ...) live in :mod:`theory_collection.params`
and are re-exported here, so the library's modules validate with one import. A parameter that several
modules check (``weight_decay``, ``learning_rate``, ``optimizer``, ``steps``, ``alpha``) has one rule
function here (:func:`check_weight_decay`, ...): the standard rules (:data:`STANDARD_CHECKS`), the training
configuration, the population loss and the theory all call it.

Besides the standard names, this module declares the rules of each notebook's own parameters
(:data:`NOTEBOOK_CHECKS`, :data:`NOTEBOOK_CROSS_CHECKS`, keyed by notebook stem), the memory a notebook
needs at given sizes (:func:`memory_estimate`) and a bound on its run lengths from its time estimate
(:func:`check_run_time`, :mod:`estimates`), so that the runner refuses a bad value, a size the machine cannot
hold or a run that would not end, before any kernel starts. Notebooks resolve their parameters with
``PAPER.resolve`` (:class:`theory_collection.papers.Paper`), which applies the same rules in the kernel.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
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
    memory_budget_bytes,
)
from topic_structure import estimates

OPTIMIZERS = ("sgd", "adam", "adamw")

# BERT's masking rate: the share of positions chosen for prediction. Functions that only need the
# split of chosen positions into [MASK] / kept / random validate that split against this rate.
DEFAULT_MASK_PROB = 0.15


def check_weight_decay(value: Any, positive: bool = False) -> float:
    """``weight_decay`` (lambda): at least 0, or above 0 where an optimum needs a penalty (``positive``)."""
    return check_float("weight_decay", value, 0.0, low_open=positive)


def check_learning_rate(value: Any, name: str = "learning_rate") -> float:
    """A learning rate (gradient step): above 0."""
    return check_float(name, value, 0.0, low_open=True)


def check_optimizer(value: Any) -> str:
    """One of :data:`OPTIMIZERS`."""
    return check_choice("optimizer", value, OPTIMIZERS)


def check_steps(value: Any, name: str = "steps", low: int = 1) -> int:
    """A run length in steps: an integer of at least ``low`` (how long it may be is :func:`check_run_time`'s)."""
    return check_int(name, value, low)


def check_alpha(value: Any) -> float:
    """The LDA Dirichlet concentration: above 0."""
    return check_float("alpha", value, 0.0, low_open=True)


def check_seed(value: Any) -> int:
    """A seed: an integer of at least 0 (the paper-agnostic upper bound is the runner's)."""
    return check_int("seed", value, 0)


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
    "alpha": check_alpha,
    "doc_length": check_doc_length,
    "mask_prob": lambda v: check_float("mask_prob", v, 0.0, 1.0, low_open=True),
    "keep_prob": lambda v: check_probability("keep_prob", v),
    "random_prob": lambda v: check_probability("random_prob", v),
    "weight_decay": check_weight_decay,
    "init_scale": lambda v: check_float("init_scale", v, 0.0, low_open=True),
    "optimizer": check_optimizer,
    "learning_rate": check_learning_rate,
    "steps": check_steps,
}


def cross_check(values: dict[str, Any]) -> None:
    """Rules between parameters: ``topics_per_doc <= num_topics``, ``keep_prob + random_prob <= 1``."""
    if "num_topics" in values and "topics_per_doc" in values:
        check_int("topics_per_doc", values["topics_per_doc"], 1, values["num_topics"])
    if "keep_prob" in values and "random_prob" in values:
        check_masking_probabilities(
            values.get("mask_prob", DEFAULT_MASK_PROB), values["keep_prob"], values["random_prob"]
        )


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
_DECAYED = {"weight_decay": lambda v: check_weight_decay(v, positive=True)}

NOTEBOOK_CHECKS: dict[str, dict[str, Callable[[Any], Any]]] = {
    "01_topic_model_and_masking": {"num_docs": lambda v: check_int("num_docs", v, 10)},
    "02_embeddings": {
        **_BATCH,
        **_SYMBOLIC,
        **_DECAYED,
        "d_model": lambda v: None if v is None else check_int("d_model", v, 1),
    },
    "03_value_matrix": {
        **_BATCH,
        **_SYMBOLIC,
        **_DECAYED,
        # the public code's stage-1 run: its 10,000 documents and 20 epochs at the paper profile
        "code_docs": lambda v: check_int("code_docs", v, 40),
        "code_epochs": lambda v: check_int("code_epochs", v, 1),
    },
    "04_attention": {
        **_BATCH,
        **_DECAYED,  # the C2 optimum that fixes W_V needs lambda > 0
        "high_random_prob": lambda v: None if v is None else check_probability("high_random_prob", v),
    },
    "05_two_stage_dynamics": {
        **_BATCH,
        **_SYMBOLIC,
        "adam_steps": lambda v: check_steps(v, "adam_steps"),
        "value_seeds": lambda v: check_int("value_seeds", v, 2),
        "adam_learning_rate": lambda v: check_learning_rate(v, "adam_learning_rate"),
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
        "adam_learning_rate": lambda v: check_learning_rate(v, "adam_learning_rate"),
        # a stage-1 window needs several logged steps (each run logs about 30 times)
        "adam_steps": lambda v: check_steps(v, "adam_steps", 20),
        "steps": lambda v: check_steps(v, "steps", 20),
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
        "grid_steps": lambda v: check_steps(v, "grid_steps"),
        "grid": lambda v: check_grid_points(v),
    },
    "09_topic_attention_over_training": {
        **_BATCH,
        "num_docs": lambda v: check_int("num_docs", v, 100),
        "num_seeds": lambda v: check_int("num_seeds", v, 3),
        "log_every": lambda v: check_int("log_every", v, 1),
        "sweep_steps": lambda v: check_steps(v, "sweep_steps"),
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


def check_grid(grid: Any, base: dict[str, Any]) -> None:
    """A robustness grid (:func:`check_grid_points`) whose every point, applied to ``base`` (the values of
    :data:`GRID_NAMES`), passes the paper's rules: a ValueError names the point and the rule."""
    check_grid_points(grid)
    for point in grid:
        values = {name: base[name] for name in GRID_NAMES} | point
        try:
            cross_check({name: STANDARD_CHECKS[name](value) for name, value in values.items()})
        except ValueError as error:
            raise ValueError(f"grid point {point}: {error}") from error


def check_run_time(notebook: str, values: dict[str, Any]) -> None:
    """Refuse run lengths that would keep ``notebook`` running for more than a day on one core.

    The bound is :func:`estimates.run_length_bound`, from the notebook's time estimate
    (:func:`estimates.time_estimate`) at ``values``; the error names the parameter, its bound and the estimate. A
    size the machine cannot hold is left to the memory estimate (:func:`memory_estimate`), which the runner applies
    next and which names the size; a size at which even one step takes longer than the limit is refused here.
    """
    if memory_estimate(notebook, values) > memory_budget_bytes():
        return
    seconds = estimates.time_estimate(notebook, values)
    if seconds <= estimates.MAX_SECONDS:
        return
    name, bound = estimates.run_length_bound(notebook, values)
    limit = f"the limit of {estimates.MAX_SECONDS / 3600:.0f} hours"
    if bound < 1:
        raise ValueError(
            f"{notebook}: at these sizes one step of its {name} loop alone takes longer than {limit} on one core by "
            "its time estimate; choose smaller sizes"
        )
    raise ValueError(
        f"{name} = {values[name]!r} is too long: at these values {notebook} would take about {seconds:.3g} s "
        f"({seconds / 3600:,.0f} hours) on one core by its time estimate, above {limit}; {name} may be at most "
        f"{bound:,} here"
    )


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


def _with_run_time(notebook: str, check: Callable[[dict[str, Any]], None] | None) -> Callable[[dict[str, Any]], None]:
    """The notebook's own rules between parameters, then the bound on its run lengths (:func:`check_run_time`)."""

    def checked(values: dict[str, Any]) -> None:
        if check is not None:
            check(values)
        check_run_time(notebook, values)

    return checked


_OWN_CROSS_CHECKS = {
    "02_embeddings": _cross_02,
    "04_attention": _cross_04,
    "05_two_stage_dynamics": _cross_05,
    "08_synthetic_lda": _cross_lda_runs,
    "09_topic_attention_over_training": _cross_lda_runs,
}
NOTEBOOK_CROSS_CHECKS: dict[str, Callable[[dict[str, Any]], None]] = {
    notebook: _with_run_time(notebook, _OWN_CROSS_CHECKS.get(notebook)) for notebook in NOTEBOOK_CHECKS
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
    documents = values.get("num_docs", 0) + values.get("code_docs", 0)
    width = max(vocabulary, values.get("d_model") or 0)
    queries = max(1.0, values.get("mask_prob", DEFAULT_MASK_PROB) * longest)
    matrices = 16 * vocabulary**2
    activations = 8 * batch * longest * width + 4 * batch * queries * longest
    corpus = 2 * documents * longest + documents * vocabulary
    return int(8 * (matrices + activations + corpus))
