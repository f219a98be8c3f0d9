"""Minibatch training on sampled documents, with a measured history of the matrices' structure.

:func:`train` runs one optimiser for a fixed number of steps. :func:`train_until_converged` runs it in rounds
until a stated convergence criterion is met or a budget that scales with the problem is spent
(:class:`ConvergedRun`): a run that did not converge makes its prediction claims ``inconclusive`` with the
measured gap, never ``fails``.
"""

from __future__ import annotations

import math
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
from topic_structure.params import (
    check_float,
    check_int,
    check_learning_rate,
    check_optimizer,
    check_seed,
    check_steps,
    check_weight_decay,
)

# A source of documents: (batch_size, rng) -> Documents, masked afresh for each batch; or -> MaskedBatch, documents
# whose masking was drawn once (static masking, as the public code masks its corpus).
DocumentSource = Callable[[int, np.random.Generator], Documents | MaskedBatch]


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
        check_optimizer(self.optimizer)
        check_learning_rate(self.learning_rate)
        check_weight_decay(self.weight_decay)
        check_steps(self.steps)
        check_int("batch_size", self.batch_size, 1)
        check_int("log_every", self.log_every, 1)
        if self.snapshot_every is not None:
            check_int("snapshot_every", self.snapshot_every, 1)
        check_seed(self.seed)


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


def epoch_batches(masked: MaskedBatch) -> DocumentSource:
    """Batches of ``masked`` documents (each masked once) in epochs: every epoch one pass in a fresh random order,
    its last batch smaller when the batch size does not divide the corpus (the public code's shuffled data loader
    over its statically masked corpus)."""
    state = {"order": np.array([], dtype=np.int64)}

    def source(batch_size: int, rng: np.random.Generator) -> MaskedBatch:
        if not len(state["order"]):
            state["order"] = rng.permutation(len(masked))
        chosen, state["order"] = state["order"][:batch_size], state["order"][batch_size:]
        return masked[torch.from_numpy(chosen)]

    return source


def make_optimizer(name: str, parameters, learning_rate: float, weight_decay: float) -> torch.optim.Optimizer:
    """SGD, Adam or AdamW over ``parameters`` (``weight_decay``: L2 for SGD and Adam, decoupled for AdamW)."""
    check_optimizer(name)
    kinds = {"sgd": torch.optim.SGD, "adam": torch.optim.Adam, "adamw": torch.optim.AdamW}
    return kinds[name](parameters, lr=learning_rate, weight_decay=weight_decay)


def uniform_attention(key_visible: torch.Tensor) -> torch.Tensor:
    """(B, N, N) [query, key] attention spread evenly over each document's visible keys."""
    weights = key_visible.float() / key_visible.sum(1, keepdim=True).clamp(min=1)
    return weights[:, None, :].expand(-1, key_visible.shape[1], -1)


@torch.no_grad()
def measure(model: TopicTransformer, probe: MaskedBatch, attention: torch.Tensor | None = None) -> dict[str, float]:
    """Norms, block averages of the token-space matrices, and attention topic statistics on ``probe`` (from
    ``attention``, the model's (B, N, N) attention map on it, when the caller has it already)."""
    vocab = model.vocab
    record = {f"norm.{name}": value for name, value in model.matrix_norms().items()}
    matrices = (("value", model.value_output_matrix()), ("gram", model.gram()), ("score", model.score_matrix()))
    for name, matrix in matrices:
        record.update({f"{name}.{block}": value for block, value in block_averages(matrix, vocab).items()})
    if attention is None:
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

    A fresh masking is drawn for every batch (unless ``source`` gives batches masked already: :func:`epoch_batches`).
    ``probe`` (default: 16 documents from ``source``
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
        drawn = source(config.batch_size, rng)
        batch = drawn if isinstance(drawn, MaskedBatch) else mask_documents(drawn, masking, rng)
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


# ----- training to a convergence criterion ------------------------------------------------------------------


@dataclass
class ConvergedRun:
    """A training run that went on in rounds until ``gap <= criterion`` or the budget was spent.

    frame: the training history of every round (steps counted from the start); snapshots: parameter
    snapshots by step; gaps: the gap after each round.
    """

    frame: pd.DataFrame
    snapshots: dict[int, dict[str, torch.Tensor]]
    gaps: list[float]
    criterion: float
    gap_name: str
    steps: int
    budget: int
    round_steps: int = 0
    extra: dict = field(default_factory=dict)

    @property
    def gap(self) -> float:
        """The gap after the last round."""
        return self.gaps[-1]

    @property
    def converged(self) -> bool:
        """Whether the last round met the criterion."""
        return math.isfinite(self.gap) and self.gap <= self.criterion

    @property
    def unmet(self) -> str:
        """The ``unmet`` text of a prediction claim: empty when the run converged."""
        if self.converged:
            return ""
        return (
            f"not converged: {self.gap_name} {self.gap:.3g} > {self.criterion:g} after {self.steps} steps "
            f"(the budget of {self.budget} steps, {self.budget // max(self.round_steps, 1)} rounds, is spent)"
        )

    @property
    def summary(self) -> str:
        """The gap, the criterion and the steps, in words."""
        return f"{self.gap_name} {self.gap:.3g} (criterion {self.criterion:g}) after {self.steps} steps"

    @property
    def status(self) -> str:
        """Converged or not, :attr:`summary` and the gap after each round, in one line."""
        gaps = ", ".join(f"{g:.2e}" for g in self.gaps)
        return f"{'converged' if self.converged else 'NOT converged'}: {self.summary}; gap after each round: {gaps}"


def rounds_for_distance(
    distance: float, learning_rate: float, steps_at_full_rate: int, minimum: int = 2, maximum: int = 12
) -> int:
    """A round budget that scales with the problem: Adam moves a parameter by at most about
    ``learning_rate`` per step, so reaching an optimum ``distance`` away takes at least
    ``distance / learning_rate`` steps at the full rate; allow twice that, plus ``minimum`` rounds
    to settle, capped at ``maximum`` rounds (a run that needs more says so: inconclusive)."""
    check_float("distance", distance, 0.0)
    check_learning_rate(learning_rate)
    check_int("steps_at_full_rate", steps_at_full_rate, 1)
    needed = math.ceil(2 * distance / (learning_rate * steps_at_full_rate))
    return int(min(maximum, minimum + needed))


def train_until_converged(
    model: TopicTransformer,
    source: DocumentSource,
    masking: MaskingConfig,
    schedule: list[tuple[float, int]],
    gap: Callable[[TopicTransformer], float],
    criterion: float,
    max_rounds: int,
    *,
    gap_name: str,
    optimizer: str = "adam",
    weight_decay: float = 0.0,
    batch_size: int = 32,
    seed: int = 0,
    probe=None,
    log_every: int | None = None,
    snapshot_every: int | None = None,
    description: str = "training",
) -> ConvergedRun:
    """Train in rounds of ``schedule`` (``[(learning_rate, steps), ...]`` phases, e.g. a rate then a
    tenth of it) until ``gap(model) <= criterion`` or ``max_rounds`` rounds are spent.

    Each phase is one :func:`training.train` call with its own seed (fresh documents and
    maskings). The gap is measured after every round; the run stops at the first round that meets
    the criterion.
    """
    check_int("max_rounds", max_rounds, 1)
    check_float("criterion", criterion, 0.0)
    round_steps = sum(steps for _, steps in schedule)
    frames, snapshots, gaps, done, phase_index = [], {}, [], 0, 0
    for round_index in range(max_rounds):
        for rate, phase_steps in schedule:
            config = TrainConfig(
                optimizer,
                rate,
                weight_decay,
                phase_steps,
                batch_size,
                log_every=log_every or max(1, phase_steps // 10),
                snapshot_every=snapshot_every,
                seed=seed + phase_index,
            )
            history = train(
                model,
                source,
                masking,
                config,
                probe=probe,
                description=f"{description}, round {round_index + 1}, lr {rate:g}",
            )
            frame = history.frame()
            frames.append(
                (frame if done == 0 else frame.iloc[1:]).assign(
                    step=lambda f, d=done: f.step + d, round=round_index + 1, phase=phase_index
                )
            )
            snapshots.update({step + done: state for step, state in history.snapshots.items()})
            done += phase_steps
            phase_index += 1
        gaps.append(float(gap(model)))
        if gaps[-1] <= criterion:
            break
    return ConvergedRun(
        pd.concat(frames, ignore_index=True),
        snapshots,
        gaps,
        criterion,
        gap_name,
        done,
        max_rounds * round_steps,
        round_steps,
    )
