"""The per-step costs behind the topic paper's time estimate (``topic_structure.estimates``), measured.

    python benchmarks/topic_step_cost.py [--repeats 3]

Times, on one thread, the loops whose length the notebooks' run-length parameters set:

* a minibatch training step (``training.train``, Adam, fresh masking per batch) of three models: attention
  frozen uniform with a trained ``W_V`` (``uniform``, notebooks 02 and 03), one-hot embeddings with trained
  attention and value (``attention``, notebooks 04-06), everything trained with embeddings of width ``V + 2``
  (``full``, notebooks 07-09), each at five sizes (vocabulary, batch, document length);
* the measurement notebooks 08 and 09 make at every snapshot (``lda_runs.structure`` on 24 probe documents);
* a step of full-matrix gradient descent on the exact population loss (``theory.population_descent``, notebook 05)
  at four settings.

For each it prints the least-squares fit of the cost model of :mod:`topic_structure.estimates` (non-negative
coefficients), scaled up by the largest ratio of measured to fitted time (printed too) so that the model bounds
every measurement from above. The constants in ``estimates.STEP_COSTS`` were
written down from one run of this script; rerun it on an idle machine before trusting a timing (the best of
``--repeats`` runs is kept, which removes most, not all, of the noise of a shared machine).
"""

from __future__ import annotations

import argparse
import math
import time

import numpy as np
import torch
from scipy.optimize import nnls

from topic_structure import estimates
from topic_structure.data import Vocabulary, sample_lda
from topic_structure.lda_runs import attention_probe, lda_probe, structure
from topic_structure.masking import MaskingConfig, mask_documents
from topic_structure.model import ModelConfig, TopicTransformer
from topic_structure.theory import population_descent
from topic_structure.training import TrainConfig, corpus_batches, train

MASKING = MaskingConfig(0.15, 0.1, 0.1)
# (num_topics, words_per_topic, batch, document length)
TRAINING_SIZES = (
    (5, 4, 8, 50),
    (5, 4, 40, 150),
    (10, 10, 40, 150),
    (10, 10, 32, 600),
    (20, 20, 64, 128),
    (50, 10, 20, 150),
)
SNAPSHOT_SIZES = ((5, 5, 50), (10, 10, 125), (20, 10, 125), (20, 20, 125))
POPULATION_SETTINGS = ((5, 4, 2), (8, 4, 3), (10, 10, 2), (10, 10, 3))


def model_config(kind: str, num_topics: int, words_per_topic: int) -> ModelConfig:
    """The model a kind of training step trains (see the module docstring)."""
    if kind == "uniform":
        return ModelConfig(num_topics, words_per_topic, attention="uniform", decoder="identity", init_scale=0.01)
    if kind == "attention":
        return ModelConfig(num_topics, words_per_topic, init_scale=0.01)
    width = num_topics * words_per_topic + 2
    return ModelConfig(num_topics, words_per_topic, embedding="trained", d_model=width, decoder="tied", init_scale=0.1)


def best_of(repeats: int, run) -> float:
    """The smallest of ``repeats`` timings of ``run()``, in seconds."""
    times = []
    for repeat in range(repeats):
        start = time.perf_counter()
        run(repeat)
        times.append(time.perf_counter() - start)
    return min(times)


def training_step(kind: str, size: tuple[int, int, int, int], repeats: int, steps: int = 30) -> float:
    """Seconds per step of ``training.train`` for ``kind`` at ``size``, logging once."""
    num_topics, words_per_topic, batch, length = size
    vocab = Vocabulary(num_topics, words_per_topic)
    corpus = sample_lda(vocab, max(200, batch), 0.1, (length, length), seed=0)
    probe = mask_documents(corpus[:4], MASKING, 0)

    def run(repeat: int) -> None:
        model = TopicTransformer(model_config(kind, num_topics, words_per_topic), seed=repeat)
        config = TrainConfig(steps=steps, batch_size=batch, log_every=steps, progress=False, seed=repeat)
        train(model, corpus_batches(corpus), MASKING, config, probe=probe)

    return best_of(repeats, run) / steps


def snapshot(size: tuple[int, int, int], repeats: int) -> float:
    """Seconds of one ``lda_runs.structure`` measurement on 24 probe documents."""
    num_topics, words_per_topic, length = size
    vocab = Vocabulary(num_topics, words_per_topic)
    weights = attention_probe(lda_probe(vocab, MASKING, 0.1, (length, length), 24, 0), vocab)
    net = TopicTransformer(model_config("full", num_topics, words_per_topic), seed=0)
    return best_of(repeats, lambda _: [structure(net, weights) for _ in range(5)]) / 5


def population_step(setting: tuple[int, int, int], repeats: int, steps: int = 20) -> float:
    """Seconds per step of population gradient descent at ``(T, v, tau)``."""
    num_topics, words_per_topic, topics_per_doc = setting

    def run(repeat: int) -> None:
        model = TopicTransformer(ModelConfig(num_topics, words_per_topic, init_scale=0.01), seed=repeat).double()
        population_descent.population_gradient_descent(model, topics_per_doc, 0.1, 0.1, 10.0, steps)

    return best_of(repeats, run) / (steps + 1)


def fit(rows: list[tuple[float, ...]], seconds: list[float]) -> tuple[np.ndarray, float]:
    """Non-negative least squares of ``seconds`` on the features in ``rows``, relative errors weighted equally;
    returns the coefficients scaled up by the largest measured / fitted ratio (so that the model is at least
    every measurement: an upper estimate) and that ratio."""
    features = np.array(rows, dtype=float)
    measured = np.array(seconds)
    coefficients, _ = nnls(features / measured[:, None], np.ones(len(measured)))
    worst = float((measured / (features @ coefficients)).max())
    return coefficients * worst, worst


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=3)
    arguments = parser.parse_args()
    torch.set_num_threads(1)
    for kind in ("uniform", "attention", "full"):
        rows, seconds = [], []
        for size in TRAINING_SIZES:
            num_topics, words_per_topic, batch, length = size
            vocab = num_topics * words_per_topic + 2
            rows.append(estimates.training_features(batch, length, vocab, vocab, 0.15))
            seconds.append(training_step(kind, size, arguments.repeats))
            size_text = f"T={num_topics:2d} v={words_per_topic:2d} B={batch:2d} N={length:4d}"
            print(f"{kind:9s} {size_text}: {seconds[-1] * 1e3:8.3f} ms")
        coefficients, worst = fit(rows, seconds)
        print(f"  {kind!r}: {tuple(float(f'{c:.3g}') for c in coefficients)}, largest measured / fitted {worst:.2f}")
    rows, seconds = [], []
    for num_topics, words_per_topic, length in SNAPSHOT_SIZES:
        vocab = num_topics * words_per_topic + 2
        rows.append(estimates.snapshot_features(vocab, vocab))
        seconds.append(snapshot((num_topics, words_per_topic, length), arguments.repeats))
        print(f"snapshot  V + 2 = {vocab:3d}: {seconds[-1] * 1e3:8.3f} ms")
    coefficients, worst = fit(rows, seconds)
    print(f"  'snapshot': {tuple(float(f'{c:.3g}') for c in coefficients)}, largest measured / fitted {worst:.2f}")
    rows, seconds = [], []
    for setting in POPULATION_SETTINGS:
        num_topics, words_per_topic, topics_per_doc = setting
        rows.append(estimates.population_features(num_topics, words_per_topic, topics_per_doc))
        seconds.append(population_step(setting, arguments.repeats))
        print(f"population T={num_topics:2d} v={words_per_topic:2d} tau={topics_per_doc}: {seconds[-1] * 1e3:8.3f} ms")
    coefficients, worst = fit(rows, seconds)
    print(f"  'population': {tuple(float(f'{c:.3g}') for c in coefficients)}, largest measured / fitted {worst:.2f}")
    print(f"(topic sets: C(T, tau) = {[math.comb(t, s) for t, _, s in POPULATION_SETTINGS]})")


if __name__ == "__main__":
    main()
