"""Notebooks 05 and 06's sampled training runs stacked (:mod:`batched_training`): the same frames as
:func:`data_assumptions.stage_one_runs` and :func:`two_stage.sampled_run`, run by run, in one tensor program per
vocabulary.

The runs of one corpus (an SGD and an Adam run in notebook 06; notebook 05's SGD and Adam runs) share a model shape
and differ in optimiser, learning rate, length, data and logging, which :func:`batched_training.train_runs` keeps
per run. Notebook 06 reads the attention entropy at every logged step: here from the model's attention map at that
step (:meth:`model.TopicTransformer.attention_map`, the same attention as its forward pass up to float rounding)
instead of a stored snapshot run through the forward pass afterwards.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from topic_structure import data_assumptions as da
from topic_structure import two_stage as ts
from topic_structure.batched_training import train_runs
from topic_structure.data import Vocabulary
from topic_structure.masking import MaskedBatch, MaskingConfig, mask_documents
from topic_structure.model import ModelConfig, TopicTransformer
from topic_structure.training import DocumentSource, TrainConfig, fresh_documents, measure


def entropy_ratio(attention: torch.Tensor, probe: MaskedBatch, pad_id: int) -> float:
    """:func:`data_assumptions.attention_entropy_ratio` of a (B, N, N) attention map on ``probe``: the mean over real
    queries with at least 2 visible keys of ``H(row) / log(#visible keys)``."""
    keys = probe.key_visible.sum(1)  # (B,)
    rows = (probe.inputs != pad_id) & (keys[:, None] >= 2)  # (B, Nq)
    entropy = -(attention * torch.log(attention.clamp_min(1e-30))).sum(-1)
    return float((entropy / torch.log(keys.clamp(min=2).float())[:, None])[rows].mean())


@torch.no_grad()
def _measure_with_entropy(model: TopicTransformer, probe: MaskedBatch) -> dict:
    record = measure(model, probe)
    record["entropy ratio"] = entropy_ratio(
        model.attention_map(probe.inputs, probe.key_visible), probe, model.vocab.pad_id
    )
    return record


def stage_one_runs(
    sources: dict[str, tuple[Vocabulary, DocumentSource]],
    optimizers: dict[str, tuple[str, float, int]],
    masking: MaskingConfig,
    batch_size: int,
    init_scale: float,
    seed: int,
    contrast: float,
    logs: int = 30,
    progress: bool = True,
) -> tuple[dict, dict, dict]:
    """:func:`data_assumptions.stage_one_runs`, the optimisers of each corpus stacked: the same ``(runs, trained,
    windows)`` keyed by ``(data, key)``, equal up to float rounding. ``progress``: one bar per corpus."""
    runs, trained, windows = {}, {}, {}
    for data, (vocab, source) in sources.items():
        keys = list(optimizers)
        configs = []
        for name, rate, steps in (optimizers[key] for key in keys):  # logged and snapshotted about `logs` times
            every = max(1, steps // logs)
            configs.append(TrainConfig(name, rate, 0.0, steps, batch_size, every, every, seed, progress=False))
        models = [
            TopicTransformer(ModelConfig(vocab.num_topics, vocab.words_per_topic, init_scale=init_scale), seed=seed)
            for _ in keys
        ]
        probe_rng = np.random.default_rng([seed, 1])  # as stage_one_run draws it (64 documents), one per corpus
        probe = mask_documents(source(64, probe_rng), masking, probe_rng)
        histories = train_runs(
            models,
            [source] * len(keys),
            [masking] * len(keys),
            configs,
            probes=[probe] * len(keys),
            on_snapshot=lambda *_: None,  # the entropy is read at each logged step instead
            description=data,
            progress=progress,
            measure_state=_measure_with_entropy,
        )
        for key, model, history, config in zip(keys, models, histories, configs):
            frame = history.frame()
            snapshot = (frame["step"] % config.snapshot_every == 0) | (frame["step"] == 0)
            entropy = frame.pop("entropy ratio").where(snapshot)  # NaN where stage_one_run has no snapshot
            frame["entropy ratio"] = entropy
            frame["W_V topic contrast"] = frame["value.same_topic"] - frame["value.diff_topic"]
            frame["W_K growth"] = frame["norm.W_K"] / frame["norm.W_K"].iloc[0]
            frame["W_Q growth"] = frame["norm.W_Q"] / frame["norm.W_Q"].iloc[0]
            runs[data, key], trained[data, key] = frame, model
            windows[data, key] = da.stage_one_window(frame, contrast)
    return runs, trained, windows


def sampled_runs(
    vocab: Vocabulary,
    init_scale: float,
    masking: MaskingConfig,
    runs: list[tuple[TrainConfig, object, object, dict]],
) -> list[pd.DataFrame]:
    """``[two_stage.sampled_run(vocab, init_scale, masking, config, sampler, doc_length, ..., **kwargs) for
    (config, sampler, doc_length, kwargs) in runs]``, stacked: each frame is the run's history with the relative
    changes of W_V, W_K, W_Q (:func:`two_stage.relative_changes`) and ``time = step * learning_rate``."""
    for config, *_ in runs:
        if config.snapshot_every != config.log_every:
            raise ValueError(f"snapshot_every must equal log_every, got {config.snapshot_every} and {config.log_every}")
    models = [
        TopicTransformer(ModelConfig(vocab.num_topics, vocab.words_per_topic, init_scale=init_scale), seed=c.seed)
        for c, *_ in runs
    ]
    initial = [{name: getattr(m, name).detach().clone() for name in ts.TRACKED} for m in models]
    sources = [
        fresh_documents(sampler, vocab=vocab, doc_length=doc_length, **kwargs)
        for _, sampler, doc_length, kwargs in runs
    ]
    configs = [config for config, *_ in runs]
    histories = train_runs(models, sources, [masking] * len(runs), configs)
    frames = []
    for history, start, config in zip(histories, initial, configs):
        frame = history.frame().merge(ts.relative_changes(history, start), on="step")
        frame["time"] = frame["step"] * config.learning_rate
        frames.append(frame)
    return frames
