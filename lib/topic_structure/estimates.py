"""How long a topic notebook runs at given parameter values: its run-length loops, step by step.

:func:`time_estimate` (registered as the paper's ``time_estimate``) adds up, for one notebook, every loop whose
length a parameter sets (``steps``, ``adam_steps``, ``grid_steps``, ``sweep_steps``, ``code_epochs``): how many
times the notebook runs it at most, times the seconds of one step on one core. It leaves out what does not
grow with those parameters (LDA fits, exact optima, the pretrained model), so it is an estimate of the loops
that can make a run unbounded, which is what the bound on run lengths (:func:`run_length_bound`, applied by
:func:`params.check_run_time` before any kernel starts) needs.

**The cost of a step** is a linear model in a few sizes, with coefficients measured once
(:data:`STEP_COSTS`, by ``benchmarks/topic_step_cost.py``: the best of 3 repeats on one thread, fitted, then
scaled up to cover every measurement; measured on the 2-core development machine while other jobs ran, so they
overestimate an idle core):

* a minibatch training step (:func:`training_features`): a constant, the tokens of the batch (batch x longest
  document), the batch's bags of words decoded (batch x vocabulary x width) and the chosen queries' scores and
  contexts over the token types (chosen queries x vocabulary x width); one model of each kind: ``uniform``
  (attention frozen uniform, notebooks 02 and 03), ``attention`` (one-hot embeddings, trained attention, notebooks
  04-06), ``full`` (everything trained, notebooks 07-09);
* a snapshot measurement of notebooks 08 and 09 (:func:`snapshot_features`): a constant, vocabulary^2 (the probe's
  token-pair attention) and vocabulary^2 x width (the Gram and value-output matrices);
* a step of population gradient descent (:func:`population_features`, notebook 05): a constant, vocabulary^3
  and topic sets x vocabulary^2.
"""

from __future__ import annotations

import math
from typing import Any

from topic_structure.profiles import TOPIC_ATTENTION_SWEEP

# Seconds per unit of each feature: the least-squares coefficients of one run of benchmarks/topic_step_cost.py
# (2026-12-06, on the shared 2-core development machine under a load of about 7), each kind's scaled up by its
# largest measured / fitted ratio (uniform 1.82, attention 1.66, full 2.27, snapshot 1.01, population 1.64) so
# that the model is at least every measurement; on an idle core a step takes less (the paper profile's notebook 08
# measured 0.6 of this estimate).
STEP_COSTS = {
    "uniform": (3.19e-3, 6.99e-7, 0.0, 1.70e-10),
    "attention": (6.29e-3, 6.74e-7, 0.0, 4.25e-10),
    "full": (7.72e-3, 1.28e-6, 0.0, 1.30e-9),
    "snapshot": (2.99e-3, 0.0, 2.89e-9),
    "population": (3.90e-3, 0.0, 5.31e-8),
}
# A notebook whose run-length loops alone would take longer than this on one core is refused: every profile takes
# minutes, and a run of days is a sweep's job (whose points are notebooks, bounded the same way).
MAX_SECONDS = 24 * 3600.0
# Upper bounds where a size is only known once the notebook runs: Wikipedia summaries restricted to a topic
# vocabulary (notebook 06) are shorter than this many words.
WIKIPEDIA_WORDS = 200
PROBE_DOCS = 24  # the held-out documents of notebooks 08 and 09's snapshot measurements


def training_features(batch: int, length: int, vocabulary: int, width: int, mask_prob: float) -> tuple[float, ...]:
    """The sizes a training step's cost grows with: 1, batch x length (the tokens; ``length``: the longest
    document), batch x vocabulary x width (a document's bag of words decoded, at uniform attention), chosen queries
    x vocabulary x width (each distinct query's scores over the token types and its context; chosen queries:
    ``batch x min(mask_prob x length, vocabulary)``)."""
    queries = batch * min(math.ceil(mask_prob * length), vocabulary)
    return (1.0, float(batch * length), float(batch * vocabulary * width), float(queries * vocabulary * width))


def snapshot_features(vocabulary: int, width: int) -> tuple[float, ...]:
    """The sizes a snapshot measurement's cost grows with: 1, vocabulary^2, vocabulary^2 x width."""
    return (1.0, float(vocabulary**2), float(vocabulary**2 * width))


def population_features(num_topics: int, words_per_topic: int, topics_per_doc: int) -> tuple[float, ...]:
    """The sizes a population-GD step's cost grows with: 1, vocabulary^3, topic sets x vocabulary^2."""
    vocabulary = num_topics * words_per_topic + 2
    return (1.0, float(vocabulary**3), float(math.comb(num_topics, topics_per_doc) * vocabulary**2))


def cost(kind: str, features: tuple[float, ...]) -> float:
    """Seconds of one step of ``kind`` (a key of :data:`STEP_COSTS`) with these features."""
    return sum(c * f for c, f in zip(STEP_COSTS[kind], features))


def _longest(values: dict[str, Any], default: int = 150) -> int:
    length = values.get("doc_length", default)
    return int(length[1] if isinstance(length, list | tuple) else length)


def _step(kind: str, values: dict[str, Any], vocabulary: int | None = None, length: int | None = None, width=None):
    vocabulary = vocabulary or values.get("num_topics", 1) * values.get("words_per_topic", 1) + 2
    features = training_features(
        values.get("batch_size", 1),
        length or _longest(values),
        vocabulary,
        width or vocabulary,
        values.get("mask_prob", 1.0),
    )
    return cost(kind, features)


def _lda_step(values: dict[str, Any], point: dict[str, Any], snapshots: float) -> float:
    """A step of notebook 08 or 09 at a grid point, with its share of the snapshot measurements."""
    settings = {**values, **point}
    vocabulary = settings["num_topics"] * settings["words_per_topic"] + 2
    measured = snapshots * cost("snapshot", snapshot_features(vocabulary, vocabulary)) / values.get("log_every", 1)
    return _step("full", settings, vocabulary) + measured


def loops(notebook: str, values: dict[str, Any]) -> list[tuple[str, float, float]]:
    """The run-length loops of ``notebook`` at ``values`` (resolved, checked): ``(parameter, how many times its
    value in steps the notebook runs at most, seconds per step)``."""
    if notebook in ("02_embeddings", "03_value_matrix"):
        width = values.get("d_model")
        # rounds of `steps` until converged: at most 12 (training.rounds_for_distance)
        found = [("steps", 12, _step("uniform", values, width=width))]
        if "code_epochs" in values:  # the public code's stage 1: T = 10, v = 10, batches of 40, 100-150 words
            code = {"batch_size": 40, "mask_prob": 0.15, "num_topics": 10, "words_per_topic": 10}
            found.append(("code_epochs", math.ceil(values["code_docs"] / 40), _step("uniform", code, length=150)))
        return found
    if notebook == "04_attention":
        return [("steps", 16, _step("attention", values))]  # 4 runs x at most 8 rounds of steps / 2
    if notebook == "05_two_stage_dynamics":
        grid = sum(len(values.get(name, ())) for name in ("init_scales", "keep_probs", "learning_rates"))
        runs = 2.5 + values.get("value_seeds", 1) - 1 + grid  # symmetric, random, doubled step; seeds; the grid
        counts = (values[name] for name in ("num_topics", "words_per_topic", "topics_per_doc"))
        sampled = _step("attention", values)  # the SGD run (at most `steps`) and the Adam run
        return [
            ("steps", runs, cost("population", population_features(*counts))),
            ("steps", 1, sampled),
            ("adam_steps", 1, sampled),
        ]
    if notebook == "06_assumptions_on_data":
        wikipedia = values.get("num_lda_topics", 1) * values.get("wiki_words_per_topic", 1) + 2
        per_step = _step("attention", values) + _step("attention", values, wikipedia, WIKIPEDIA_WORDS)
        return [("steps", 1, per_step), ("adam_steps", 1, per_step)]
    if notebook == "07_wikipedia":
        vocabulary = values.get("num_lda_topics", 1) * values.get("words_per_topic", 1) + 2
        return [("steps", 1, _step("full", values, vocabulary, values.get("max_tokens"), values.get("d_model")))]
    if notebook == "08_synthetic_lda":
        main = 2 * values.get("num_seeds", 1) * _lda_step(values, {}, 1)
        grid = sum(_lda_step(values, point, 1) for point in values.get("grid", []))
        return [("steps", 1, main), ("grid_steps", 1, grid)]
    if notebook == "09_topic_attention_over_training":
        main = values.get("num_seeds", 1) * _lda_step(values, {}, 2)  # two measurements: the ratios, the metric
        return [("steps", 1, main), ("sweep_steps", len(TOPIC_ATTENTION_SWEEP), _lda_step(values, {}, 2))]
    return []


def time_estimate(notebook: str, values: dict[str, Any]) -> float:
    """Seconds ``notebook`` needs on one core at ``values`` for its run-length loops (:func:`loops`)."""
    return sum(repeats * values[name] * seconds for name, repeats, seconds in loops(notebook, values))


def run_length_bound(notebook: str, values: dict[str, Any]) -> tuple[str, int] | None:
    """The run-length parameter that costs ``notebook`` the most at ``values`` and the largest value it may take
    with the others as they are, for :func:`time_estimate` to stay within :data:`MAX_SECONDS`; None without one."""
    found = loops(notebook, values)
    if not found:
        return None
    spent = {name: 0.0 for name, _, _ in found}
    per_unit = dict.fromkeys(spent, 0.0)
    for name, repeats, seconds in found:
        spent[name] += repeats * values[name] * seconds
        per_unit[name] += repeats * seconds
    name = max(spent, key=spent.get)
    others = sum(spent.values()) - spent[name]
    return name, max(0, math.floor((MAX_SECONDS - others) / per_unit[name]))
