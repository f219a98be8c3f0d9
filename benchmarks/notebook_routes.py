"""Each changed notebook route, old and new, in one process: their times side by side and their results compared.

    python benchmarks/notebook_routes.py [--profile paper] [--fraction 1.0] [--routes 08-main 06-lda ...]

Must be run on an idle machine for figures worth quoting (the README's come from one such run); on a shared
machine CPU time is the steadier of the two times printed.

A route is what a topic-structure notebook computes in one of its expensive cells, built from the notebook's own
profile (``--profile``, default paper) as the notebook builds it; training runs are cut to ``--fraction`` of their
steps (default 1: the full runs, about 35 minutes at the paper profile on an idle 2-core machine; 0.2 took 7
minutes). The old route is the one-run library code the notebooks called before the stacked and folded routes
(kept in the library as the reference the tests compare with); the new one is what they call now:

    05-population 05's population GD (--steps)     population_gradient: route="by_set" / route="all_sets"
    06-lda        06's two LDA fits (no cache)     gensim's LdaModel / fast_lda.BatchedLdaModel
    06-stage-one  06's stage-one runs              data_assumptions.stage_one_run per run / stage_one_runs (stacked)
    07-scratch    07's from-scratch model          training.train / batched_training.train_runs (one run)
    07-sums       its attention sums, all labels   text_models.model_topic_attention_by_position / folded
    07-minilm     the pretrained encoder's sums    text_models.pretrained_topic_attention_by_position / folded
    08-main       08's main runs                   lda_runs.lda_run per point / batched_runs.lda_runs
    08-grid       08's robustness grid             the same
    09-main       09's main runs                   attention_over_training.sweep_run / batched_runs.sweep_runs
    09-sweep      09's sweep                       the same

For each route the script prints CPU and wall seconds of both, their ratio, and the largest relative difference
between the two routes' claims-relevant numbers (the curves' ratios and losses, the sums, the topics): float64
routes agree to rounding (1e-9), float32 training to the rounding that training amplifies (printed, checked against
``--tolerance``). Run by a person, notebooks 08 and 09 spread their stacks over Dask workers
(``batched_runs.map_lda_runs``, ``map_sweep_runs``; in a report they stay in the notebook's process, see
``notebook_points.py``); here both routes run in this one process.
"""

from __future__ import annotations

import argparse
import datetime
import functools
import os
import time
import warnings
from collections.abc import Callable
from unittest import mock

import numpy as np
import pandas as pd
import torch

from topic_structure import attention_over_training as at
from topic_structure import batched_runs, lda_runs, population_gradient, realtext, text_models
from topic_structure import data_assumptions as da
from topic_structure.batched_training import train_runs
from topic_structure.data import Vocabulary, sample_lda
from topic_structure.masking import MaskingConfig
from topic_structure.model import ModelConfig, TopicTransformer
from topic_structure.params import GRID_NAMES
from topic_structure.profiles import NOTEBOOK_PROFILES, TOPIC_ATTENTION_SWEEP
from topic_structure.theory import population_descent
from topic_structure.training import TrainConfig, corpus_batches, fresh_documents, train

PROBE_DOCS = 24  # notebooks 08 and 09
SWEEP = list(TOPIC_ATTENTION_SWEEP.values())  # notebook 09's sweep


def gap(old, new) -> float:
    """Largest relative difference between two results: numbers, arrays, tensors, frames, or dicts/lists of them."""
    if isinstance(old, dict):
        return max((gap(old[k], new[k]) for k in old), default=0.0)
    if isinstance(old, list | tuple):
        return max((gap(a, b) for a, b in zip(old, new)), default=0.0)
    if isinstance(old, pd.DataFrame):
        return gap(old.to_numpy(float), new.to_numpy(float))
    a = np.asarray(old.detach() if isinstance(old, torch.Tensor) else old, dtype=float)
    b = np.asarray(new.detach() if isinstance(new, torch.Tensor) else new, dtype=float)
    scale = np.nanmax(np.abs(a)) if a.size else 0.0
    both = np.isfinite(a) & np.isfinite(b)
    if a.shape != b.shape or (np.isfinite(a) != np.isfinite(b)).any():
        return float("inf")
    return float(np.max(np.abs(a - b)[both], initial=0.0) / max(scale, 1e-300))


CURVE_COLUMNS = ["R_E", "R_V", "R_A", "R_I"]


def curves_of(results, paper: bool = False):
    """The claims-relevant columns of lda_run / sweep_run results (their curves, and the loss or copy ratio)."""
    columns = CURVE_COLUMNS + (["paper.ratio", "value.excess"] if paper else [])
    if paper:
        return [(curves[columns], [copies["ratio"], copies["low"], copies["high"]]) for curves, copies in results]
    return [(curves[columns], loss) for _, curves, loss in results]


def scaled(steps: int, fraction: float) -> int:
    return max(1, round(steps * fraction))


# ----- routes: each returns (old, new, compare), old and new callables, compare(old result, new result) -> gap


def lda_points(profile: str, fraction: float, grid: bool) -> list[dict]:
    P = NOTEBOOK_PROFILES["08_synthetic_lda"][profile]
    base = {name: P[name] for name in GRID_NAMES}
    common = dict(num_docs=P["num_docs"], batch_size=P["batch_size"], log_every=P["log_every"], probe_docs=PROBE_DOCS)
    if not grid:
        steps = scaled(P["steps"], fraction)
        keys = [(d, s) for d in ("tied", "trained") for s in range(P["num_seeds"])]
        return [dict(settings=base, decoder=d, train_seed=s, steps=steps, data_seed=0, **common) for d, s in keys]
    steps = scaled(P["grid_steps"], fraction)
    points = [p for p in P["grid"] if p or P["grid_steps"] != P["steps"]]
    return [
        dict(settings={**base, **p}, decoder="tied", train_seed=0, steps=steps, data_seed=0, **common) for p in points
    ]


def route_08(profile: str, fraction: float, grid: bool):
    points = lda_points(profile, fraction, grid)
    return (
        lambda: [lda_runs.lda_run(**p) for p in points],
        lambda: batched_runs.lda_runs(points),
        lambda old, new: gap(curves_of(old), curves_of(new)),
    )


def attention_points(profile: str, fraction: float, sweep: bool) -> list[dict]:
    P = NOTEBOOK_PROFILES["09_topic_attention_over_training"][profile]
    base = {**{name: P[name] for name in GRID_NAMES}, "decoder": "tied"}
    common = dict(num_docs=P["num_docs"], batch_size=P["batch_size"], log_every=P["log_every"], probe_docs=PROBE_DOCS)
    if sweep:
        steps = scaled(P["sweep_steps"], fraction)
        changes = [p for p in SWEEP if p or P["sweep_steps"] != P["steps"]]
        points = [dict(settings={**base, **p}, train_seed=0, steps=steps, data_seed=0, **common) for p in changes]
    else:
        steps = scaled(P["steps"], fraction)
        points = [dict(settings=base, train_seed=s, steps=steps, data_seed=0, **common) for s in range(P["num_seeds"])]
    return points


def route_09(profile: str, fraction: float, sweep: bool):
    points = attention_points(profile, fraction, sweep)
    return (
        lambda: [at.sweep_run(**p) for p in points],
        lambda: batched_runs.sweep_runs(points),
        lambda old, new: gap(curves_of(old, True), curves_of(new, True)),
    )


def route_05(profile: str, fraction: float):
    """Population gradient descent from notebook 05's random start at its profile's T, v, tau and learning rate,
    ``--fraction`` of its ``steps``, with the per-set gradient (old) and the all-sets gradient (new)."""
    P = NOTEBOOK_PROFILES["05_two_stage_dynamics"][profile]
    config = ModelConfig(P["num_topics"], P["words_per_topic"], init_scale=P["init_scale"])
    steps = scaled(P["steps"], fraction)

    def descend(gradient):
        model = TopicTransformer(config, seed=0).double()
        with mock.patch.object(population_descent, "cross_entropy_loss_and_gradient", gradient):
            return population_descent.population_gradient_descent(
                model, P["topics_per_doc"], P["keep_prob"], P["random_prob"], P["learning_rate"], steps
            )

    return (
        lambda: descend(functools.partial(population_gradient.cross_entropy_loss_and_gradient, route="by_set")),
        lambda: descend(population_gradient.cross_entropy_loss_and_gradient),
        gap,
    )


def wikipedia_data(profile: str, notebook: str):
    """The notebook's Wikipedia corpus and its LDA fit (the collection's cache: fitted once if missing)."""
    from theory_collection import wikipedia

    P = NOTEBOOK_PROFILES[notebook][profile]
    corpus = realtext.build_corpus(wikipedia.load_summaries(P["num_articles"], seed=0))
    return P, corpus, realtext.fit_lda(corpus, P["num_lda_topics"], passes=P["lda_passes"], seed=0)


def route_06_lda(profile: str, fraction: float):
    from gensim.models import LdaModel

    from topic_structure.fast_lda import BatchedLdaModel

    P, wiki, _ = wikipedia_data(profile, "06_assumptions_on_data")
    vocab = Vocabulary(P["num_topics"], P["words_per_topic"])
    synthetic = realtext.corpus_from_documents(sample_lda(vocab, P["num_docs"], P["alpha"], P["doc_length"], seed=0))
    fits = [(synthetic, P["num_topics"]), (wiki, P["num_lda_topics"])]

    def fit(model_class):
        models = []
        for corpus, topics in fits:
            model = realtext.train_lda(corpus, topics, scaled(P["lda_passes"], fraction), 50, 0, model_class)
            models.append((model.get_topics(), model.inference(corpus.bow)[0]))
        return models

    return lambda: fit(LdaModel), lambda: fit(BatchedLdaModel), gap


def route_06_stage_one(profile: str, fraction: float):
    P, _, model = wikipedia_data(profile, "06_assumptions_on_data")
    topics = realtext.topic_vocabulary(model, P["wiki_words_per_topic"], P["min_topic_share"])
    docs, _ = realtext.restricted_documents(model, topics, min_length=2)
    vocab = Vocabulary(P["num_topics"], P["words_per_topic"])
    sources = {
        "synthetic": (vocab, fresh_documents(sample_lda, vocab=vocab, alpha=P["alpha"], doc_length=P["doc_length"])),
        "wikipedia": (topics.vocab, corpus_batches(docs)),
    }
    optimizers = {
        "sgd": (P["optimizer"], P["learning_rate"], scaled(P["steps"], fraction)),
        "adam": ("adam", P["adam_learning_rate"], scaled(P["adam_steps"], fraction)),
    }
    masking = MaskingConfig(P["mask_prob"], P["keep_prob"], P["random_prob"])
    arguments = (sources, optimizers, masking, P["batch_size"], P["init_scale"], 0, 0.1)

    def one_by_one():  # stage_one_runs before its runs were stacked
        runs, windows = {}, {}
        for data, (vocab, source) in sources.items():
            for key, (name, rate, steps) in optimizers.items():
                every = max(1, steps // 30)
                config = TrainConfig(name, rate, 0.0, steps, P["batch_size"], every, every, 0, progress=False)
                runs[data, key], _ = da.stage_one_run(vocab, source, masking, config, P["init_scale"])
                windows[data, key] = da.stage_one_window(runs[data, key], 0.1)
        return runs, windows

    return (
        one_by_one,
        lambda: da.stage_one_runs(*arguments, progress=False),
        lambda old, new: gap([old[0], old[1]], [new[0], new[2]]),
    )


def scratch_setting(profile: str):
    P, corpus, model = wikipedia_data(profile, "07_wikipedia")
    topics = realtext.topic_vocabulary(model, P["words_per_topic"], P["min_topic_share"])
    docs, _ = realtext.restricted_documents(model, topics, min_length=2)
    return P, corpus, model, topics.vocab, docs


def route_07_scratch(profile: str, fraction: float):
    P, _, _, vocab, docs = scratch_setting(profile)
    config = text_models.scratch_config(vocab, P["d_model"], P["init_scale"])
    steps = scaled(P["steps"], fraction)
    train_config = TrainConfig(
        optimizer=P["optimizer"],
        learning_rate=P["learning_rate"],
        weight_decay=P["weight_decay"],
        steps=steps,
        batch_size=P["batch_size"],
        log_every=max(1, steps // 20),
        seed=0,
        progress=False,
    )
    masking = MaskingConfig(P["mask_prob"], P["keep_prob"], P["random_prob"])
    return (
        lambda: train(TopicTransformer(config, seed=0), corpus_batches(docs), masking, train_config).frame(),
        lambda: train_runs([TopicTransformer(config, seed=0)], [corpus_batches(docs)], [masking], [train_config])[
            0
        ].frame(),
        gap,
    )


def route_07_sums(profile: str, fraction: float):
    P, _, _, vocab, docs = scratch_setting(profile)
    net = TopicTransformer(text_models.scratch_config(vocab, P["d_model"], P["init_scale"]), seed=1)
    words = np.arange(vocab.num_words)
    lookup = text_models.topic_lookup(
        vocab.size, words, vocab.topic_of().numpy(), P["num_permutations"], np.random.default_rng(0)
    )
    return (
        lambda: text_models.model_topic_attention_by_position(net, docs, lookup),
        lambda: text_models.model_topic_attention(net, docs, lookup),
        gap,
    )


def route_07_minilm(profile: str, fraction: float):
    P, corpus, model, _, _ = scratch_setting(profile)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        tokenizer, minilm = text_models.load_pretrained()
    word_topics = model.word_topics()
    owner, share = word_topics.argmax(1), word_topics.max(1)
    _, topics, ids = text_models.single_wordpiece_words(
        corpus.words, share >= P["min_topic_share"], owner, tokenizer.get_vocab()
    )
    rng = np.random.default_rng(0)
    count = min(scaled(P["num_pretrained_docs"], fraction), len(corpus))
    texts = [corpus.articles[d].text for d in np.sort(rng.choice(len(corpus), size=count, replace=False))]
    lookup = text_models.topic_lookup(len(tokenizer.get_vocab()), ids, topics, P["num_permutations"], rng)
    arguments = (tokenizer, minilm, texts, lookup, P["max_tokens"])
    return (
        lambda: text_models.pretrained_topic_attention_by_position(*arguments),
        lambda: text_models.pretrained_topic_attention(*arguments),
        lambda old, new: gap({k: old[k] for k in ("attention", "uniform", "positional")}, new),
    )


ROUTES: dict[str, Callable] = {
    "05-population": route_05,
    "06-lda": route_06_lda,
    "06-stage-one": route_06_stage_one,
    "07-scratch": route_07_scratch,
    "07-sums": route_07_sums,
    "07-minilm": route_07_minilm,
    "08-main": lambda profile, fraction: route_08(profile, fraction, grid=False),
    "08-grid": lambda profile, fraction: route_08(profile, fraction, grid=True),
    "09-main": lambda profile, fraction: route_09(profile, fraction, sweep=False),
    "09-sweep": lambda profile, fraction: route_09(profile, fraction, sweep=True),
}


def warm_up() -> None:
    """One-off imports and lazy initialisations (torch's optimisers import its compiler; gensim) outside the timings."""
    import gensim  # noqa: F401

    vocab = Vocabulary(2, 2)
    source, config = corpus_batches(sample_lda(vocab, 4, 0.1, (3, 5), 0)), TrainConfig(steps=1, progress=False)
    model = TopicTransformer(text_models.scratch_config(vocab, 4, 0.1))
    train(model, source, MaskingConfig(), config, measure_probe=False)
    train_runs([model], [source], [MaskingConfig()], [config], measure_probe=False)


def timed(function) -> tuple[object, float, float]:
    start, start_cpu = time.perf_counter(), time.process_time()
    result = function()
    return result, time.process_time() - start_cpu, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--profile", choices=("quick", "paper"), default="paper")
    parser.add_argument("--fraction", type=float, default=1.0, help="share of each training run's steps to run")
    parser.add_argument("--routes", nargs="+", choices=list(ROUTES), default=list(ROUTES))
    parser.add_argument("--tolerance", type=float, default=1e-3, help="largest relative difference accepted")
    args = parser.parse_args()
    if not 0 < args.fraction <= 1:
        parser.error(f"--fraction must be in (0, 1], got {args.fraction}")
    torch.set_num_threads(1)  # as every notebook kernel runs
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    now = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    print(
        f"{now}; {os.cpu_count()} cores, load average {load}; one torch thread; {args.profile} profile, runs at "
        f"{args.fraction:g} of their steps; shared machines give noisy times (CPU time is the steadier)"
    )
    warm_up()
    print(
        f"{'route':14s} {'old CPU s':>10s} {'new CPU s':>10s} {'ratio':>6s}   {'old wall':>9s} {'new wall':>9s}   "
        "largest relative difference"
    )
    failures = []
    for name in args.routes:
        old, new, compare = ROUTES[name](args.profile, args.fraction)
        old_result, old_cpu, old_wall = timed(old)
        new_result, new_cpu, new_wall = timed(new)
        difference = compare(old_result, new_result)
        verdict = "equal" if difference <= args.tolerance else "DIFFERENT"
        if difference > args.tolerance:
            failures.append(name)
        print(
            f"{name:14s} {old_cpu:10.1f} {new_cpu:10.1f} {old_cpu / new_cpu:5.1f}x   {old_wall:8.1f}s "
            f"{new_wall:8.1f}s   {difference:.1e} ({verdict})",
            flush=True,
        )
    if failures:
        raise SystemExit(f"results differ beyond --tolerance {args.tolerance:g}: {', '.join(failures)}")


if __name__ == "__main__":
    main()
