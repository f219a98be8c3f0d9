"""The quick profile's training calls, timed with the model and training loop of another revision and the present ones.

    python benchmarks/quick_training_calls.py [--against 2bd4daf] [--repeats 3]

Each case is one ``train`` call as a topic-structure notebook makes it in its quick profile (same vocabulary,
documents, batch size, optimiser, steps, logging and snapshots; notebook 04's frozen W_V is left at its random
start, and notebook 07's Wikipedia corpus is replaced by synthetic LDA documents of similar shape: 18 topics x
20 words, 2-12 words per document). Both models start from the same seed and see the same batches; the script
prints the median wall time of each (alternated repeats, one thread), their ratio, and how far the two runs'
logged records and final parameters drift apart (largest relative difference): float rounding, amplified by
training, is the only expected source. Timings on a shared machine are noisy.
"""

from __future__ import annotations

import argparse
import datetime
import importlib.util
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from topic_structure import model as present_model
from topic_structure import training as present_training
from topic_structure.data import Vocabulary, sample_equal_mixture, sample_lda
from topic_structure.masking import MaskingConfig
from topic_structure.model import ModelConfig
from topic_structure.training import TrainConfig, corpus_batches, fresh_documents

ROOT = Path(__file__).resolve().parents[1]
BERT = MaskingConfig(0.15, 0.1, 0.1)


def module_at(revision: str, name: str):
    """lib/topic_structure/<name>.py as it was at ``revision``, imported beside the present one."""
    source = subprocess.run(
        ["git", "-C", str(ROOT), "show", f"{revision}:lib/topic_structure/{name}.py"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    path = Path(tempfile.mkdtemp()) / f"{name}_at_revision.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location(f"topic_structure._{name}_at_revision", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def cases() -> dict:
    """name -> (model config, document source, train config, frozen parameter names)."""
    small = Vocabulary(5, 4)
    equal_mixture = fresh_documents(sample_equal_mixture, vocab=small, topics_per_doc=2, doc_length=(50, 75))
    lda_small = fresh_documents(sample_lda, vocab=small, alpha=0.1, doc_length=(50, 75))
    wiki_like = corpus_batches(sample_lda(Vocabulary(18, 20), 2448, 0.1, (2, 12), seed=0))
    lda_08 = corpus_batches(sample_lda(Vocabulary(5, 5), 2000, 0.1, (40, 60), seed=0))
    width_08 = Vocabulary(5, 5).size

    def config_08(decoder):
        return ModelConfig(
            5, 5, embedding="trained", d_model=width_08, decoder=decoder, init_scale=1 / math.sqrt(width_08)
        )

    def schedule(steps, batch_size, log_every, snapshot_every=None, learning_rate=0.01, optimizer="adam"):
        return TrainConfig(
            optimizer=optimizer,
            learning_rate=learning_rate,
            steps=steps,
            batch_size=batch_size,
            log_every=log_every,
            snapshot_every=snapshot_every,
        )

    return {
        "04 attention, W_V frozen (one of 4 runs)": (
            ModelConfig(5, 4, init_scale=0.01),
            equal_mixture,
            schedule(300, 80, 10, 10),
            ("W_V",),
        ),
        "05 SGD, equal mixture (500 steps)": (
            ModelConfig(5, 4, init_scale=0.01),
            equal_mixture,
            schedule(500, 40, 6, 6, learning_rate=10.0, optimizer="sgd"),
            (),
        ),
        "05 Adam, LDA": (ModelConfig(5, 4, init_scale=0.01), lda_small, schedule(250, 40, 3, 3), ()),
        "07-like MLM from scratch (synthetic)": (
            ModelConfig(18, 20, embedding="trained", d_model=64, decoder="tied", init_scale=0.1),
            wiki_like,
            schedule(1500, 64, 75),
            (),
        ),
        "08 tied decoder (one of 6 main runs)": (config_08("tied"), lda_08, schedule(400, 40, 40, 2), ()),
        "08 untied decoder": (config_08("trained"), lda_08, schedule(400, 40, 40, 2), ()),
    }


def run(modules, config, source, train_config, frozen):
    model_module, training_module = modules
    model = model_module.TopicTransformer(config, seed=0)
    for name in frozen:
        getattr(model, name).requires_grad_(False)
    start = time.perf_counter()
    history = training_module.train(model, source, BERT, TrainConfig(**{**vars(train_config), "progress": False}))
    return time.perf_counter() - start, history.frame(), {n: p.detach() for n, p in model.named_parameters()}


def record_drift(a, b) -> float:
    """Largest over the logged quantities of max |a - b| / max |b| (per column, over the logged steps)."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    gaps = np.nanmax(np.abs(a - b), axis=0) / np.maximum(np.nanmax(np.abs(b), axis=0), 1e-12)
    return float(np.nanmax(gaps))


def parameter_drift(a: dict, b: dict) -> float:
    """Largest over the matrices of ||a - b||_F / ||b||_F."""
    return max(float((a[n] - b[n]).norm() / b[n].norm().clamp(min=1e-12)) for n in b)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--against", default="2bd4daf", help="git revision of the model to compare with")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(1)
    before = (module_at(args.against, "model"), module_at(args.against, "training"))
    present = (present_model, present_training)
    now = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    print(
        f"{now}; {os.cpu_count()} cores, load average {', '.join(f'{x:.2f}' for x in os.getloadavg())}; one thread; "
        f"median of {args.repeats} alternated repeats; shared machine: timings are noisy"
    )
    print(f"{'case':42s} {'at ' + args.against:>16s} {'present':>9s} {'ratio':>6s}  drift: records  parameters")
    for name, (config, source, train_config, frozen) in cases().items():
        times = {"before": [], "present": []}
        for _ in range(args.repeats):
            old = run(before, config, source, train_config, frozen)
            new = run(present, config, source, train_config, frozen)
            times["before"].append(old[0])
            times["present"].append(new[0])
        records = record_drift(new[1].to_numpy(), old[1].to_numpy())
        parameters = parameter_drift(new[2], old[2])
        t_old, t_new = statistics.median(times["before"]), statistics.median(times["present"])
        print(f"{name:42s} {t_old:15.2f}s {t_new:8.2f}s {t_old / t_new:5.1f}x  {records:14.1e}  {parameters:10.1e}")


if __name__ == "__main__":
    main()
