"""Minibatch training on sampled documents, with a measured history of the matrices' structure."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import torch
from tqdm.std import tqdm  # text bars: they survive in committed notebook outputs, widgets do not

from topic_structure.data import Documents
from topic_structure.masking import MaskedBatch, MaskingConfig, mask_documents
from topic_structure.measurements import attention_by_topic, block_averages
from topic_structure.model import TopicTransformer
from topic_structure.params import OPTIMIZERS, check_choice, check_float, check_int

# A source of documents: (batch_size, rng) -> Documents.
DocumentSource = Callable[[int, np.random.Generator], Documents]


@dataclass(frozen=True)
class TrainConfig:
    """Optimiser, schedule and logging of one :func:`train` call (validated on construction)."""

    optimizer: str = "adam"  # "sgd" | "adam" | "adamw"
    learning_rate: float = 0.01
    weight_decay: float = 0.0  # SGD/Adam: the L2 penalty (lambda/2)||W||^2; AdamW: decoupled decay
    steps: int = 1000
    batch_size: int = 40
    log_every: int = 50
    snapshot_every: int | None = None
    seed: int = 0
    progress: bool = True

    def __post_init__(self) -> None:
        check_choice("optimizer", self.optimizer, OPTIMIZERS)
        check_float("learning_rate", self.learning_rate, 0.0, low_open=True)
        check_float("weight_decay", self.weight_decay, 0.0)
        check_int("steps", self.steps, 1)
        check_int("batch_size", self.batch_size, 1)
        check_int("log_every", self.log_every, 1)
        if self.snapshot_every is not None:
            check_int("snapshot_every", self.snapshot_every, 1)
        check_int("seed", self.seed, 0)


@dataclass
class History:
    """One record per logged step (see :func:`measure`), and optional parameter snapshots."""

    records: list[dict] = field(default_factory=list)
    snapshots: dict[int, dict[str, torch.Tensor]] = field(default_factory=dict)

    def frame(self) -> pd.DataFrame:
        """The records as a table, one row per logged step."""
        return pd.DataFrame(self.records)


def fresh_documents(sampler: Callable[..., Documents], **sampler_kwargs) -> DocumentSource:
    """New documents every step, e.g. ``fresh_documents(sample_lda, vocab=..., alpha=0.1, doc_length=(100, 150))``."""
    return lambda batch_size, rng: sampler(num_docs=batch_size, seed=rng, **sampler_kwargs)


def corpus_batches(corpus: Documents) -> DocumentSource:
    """Minibatches drawn uniformly (with replacement across steps) from a fixed corpus."""
    return lambda batch_size, rng: corpus[rng.choice(len(corpus), size=min(batch_size, len(corpus)), replace=False)]


def make_optimizer(name: str, parameters, learning_rate: float, weight_decay: float) -> torch.optim.Optimizer:
    """SGD, Adam or AdamW over ``parameters`` (``weight_decay``: L2 for SGD and Adam, decoupled for AdamW)."""
    check_choice("optimizer", name, OPTIMIZERS)
    kinds = {"sgd": torch.optim.SGD, "adam": torch.optim.Adam, "adamw": torch.optim.AdamW}
    return kinds[name](parameters, lr=learning_rate, weight_decay=weight_decay)


def uniform_attention(key_visible: torch.Tensor) -> torch.Tensor:
    """(B, N, N) [query, key] attention spread evenly over each document's visible keys."""
    weights = key_visible.float() / key_visible.sum(1, keepdim=True).clamp(min=1)
    return weights[:, None, :].expand(-1, key_visible.shape[1], -1)


@torch.no_grad()
def measure(model: TopicTransformer, probe: MaskedBatch) -> dict[str, float]:
    """Norms, block averages of the token-space matrices, and attention topic statistics on ``probe``."""
    vocab = model.vocab
    record = {f"norm.{name}": value for name, value in model.matrix_norms().items()}
    matrices = (("value", model.value_output_matrix()), ("gram", model.gram()), ("score", model.score_matrix()))
    for name, matrix in matrices:
        record.update({f"{name}.{block}": value for block, value in block_averages(matrix, vocab).items()})
    attention = model.attention_map(probe.inputs, probe.key_visible)  # (B, N, N): every row, no logits
    stats = attention_by_topic(attention, probe.inputs, probe.key_visible, vocab)
    record.update({f"attention.{name}": value for name, value in stats.items()})
    return record


def train(
    model: TopicTransformer,
    source: DocumentSource,
    masking: MaskingConfig,
    config: TrainConfig,
    probe: MaskedBatch | None = None,
    description: str = "training",
    on_snapshot: Callable[[int, TopicTransformer], None] | None = None,
    measure_probe: bool = True,
) -> History:
    """Train ``model`` by masked language modelling on documents from ``source``.

    A fresh masking is drawn for every batch. ``probe`` (default: 16 documents from ``source``
    with a separate seed) is the fixed batch on which attention statistics are measured; its
    (B, N, N) attention is built at every logged step, so keep it small for long documents.
    ``measure_probe=False`` logs only the loss. Every ``config.snapshot_every`` steps the parameters are
    stored in ``history.snapshots``, or, with ``on_snapshot``, handed to ``on_snapshot(step, model)``
    instead (measured in place, nothing stored: a long run keeps thousands of states otherwise).
    """
    rng = np.random.default_rng(config.seed)
    if probe is None:
        probe_rng = np.random.default_rng([config.seed, 1])
        probe = mask_documents(source(16, probe_rng), masking, probe_rng)
    parameters = [p for p in model.parameters() if p.requires_grad]
    if not parameters:
        raise ValueError("the model has no trained matrices")
    optimizer = make_optimizer(config.optimizer, parameters, config.learning_rate, config.weight_decay)
    history = History()

    def record(step: int, loss: float) -> dict:
        return {"step": step, "loss": loss, **(measure(model, probe) if measure_probe else {})}

    history.records.append(record(0, float("nan")))
    running, count = 0.0, 0
    bar = tqdm(range(1, config.steps + 1), desc=description, disable=not config.progress, mininterval=1.0)
    for step in bar:
        batch = mask_documents(source(config.batch_size, rng), masking, rng)
        loss = model.loss(batch)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        running, count = running + float(loss.detach()), count + 1
        if step % config.log_every == 0 or step == config.steps:
            history.records.append(record(step, running / count))
            bar.set_postfix(loss=f"{running / count:.4f}", refresh=False)
            running, count = 0.0, 0
        if config.snapshot_every and step % config.snapshot_every == 0:
            if on_snapshot is not None:
                on_snapshot(step, model)
            else:
                history.snapshots[step] = {name: p.detach().clone() for name, p in model.named_parameters()}
    return history
