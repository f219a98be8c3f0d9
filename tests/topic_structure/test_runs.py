"""The experiment library behind notebooks 05-08: runs, readers of their curves, estimators."""

import math

import numpy as np
import pandas as pd
import pytest
import torch

from topic_structure import data_assumptions, lda_runs, params, text_models, two_stage
from topic_structure.data import Vocabulary, sample_lda
from topic_structure.masking import MaskingConfig
from topic_structure.measurements import (
    geometric_mean_interval,
    pair_statistics,
    same_and_different_topic_means,
    topic_ratio_with_baseline,
)
from topic_structure.profiles import NOTEBOOK_PROFILES
from topic_structure.theory import two_stage_ode
from topic_structure.training import TrainConfig, fresh_documents

VOCAB = Vocabulary(3, 3)
MASKING = MaskingConfig(0.15, 0.1, 0.1)


def test_end_peak_and_progress_read_a_curve():
    curve = pd.Series([1.0, 2.0, 4.0, 8.0, 4.0, 4.0, 4.0, 4.0, 4.0, 4.0, 4.0])
    assert lda_runs.end_value(curve, tail=0.2) == pytest.approx(4.0)
    assert lda_runs.peak_value(curve, smooth=0.05) == pytest.approx(8.0)
    progress = lda_runs.progress(curve, smooth=0.05)
    assert progress.iloc[0] == 0 and progress.iloc[3] == pytest.approx(1.0) and progress.iloc[2] == pytest.approx(2 / 3)
    with pytest.raises(ValueError, match="tail"):
        lda_runs.end_value(curve, tail=0.0)


def test_stage_summary_orders_the_stages_and_leaves_timing_undefined_without_a_second_stage():
    steps = np.arange(0, 100, 5)
    value = np.exp(np.clip(steps / 20, 0, 3))  # forms by step 60
    attention = np.exp(np.clip((steps - 50) / 20, 0, 1))  # starts at step 50
    curves = pd.DataFrame({"step": steps, "R_E": 2.0, "R_V": value, "R_A": attention, "R_I": 1.0})
    summary = lda_runs.stage_summary(curves, value_criterion=2.0, attention_criterion=1.5)
    assert summary["value_first"] is True and summary["t_V"] < summary["t_A"] and summary["s_A_at_t_V"] == 0
    flat = curves.assign(R_A=1.0 + 1e-3 * np.sin(steps))
    undefined = lda_runs.stage_summary(flat, value_criterion=2.0, attention_criterion=1.5)
    assert math.isnan(undefined["t_A"]) and math.isnan(undefined["value_first"])
    together = curves.assign(R_A=value)
    assert lda_runs.stage_summary(together, 2.0, 1.5)["value_first"] is False


def test_stage_one_window_stops_where_the_contrast_is_reached():
    frame = pd.DataFrame(
        {
            "step": [0, 10, 20, 30],
            "W_V topic contrast": [0.0, 0.3, 0.6, 0.9],
            "entropy ratio": [1.0, 0.999, 0.995, 0.5],
            "W_K growth": [1.0, 1.1, 1.5, 9.0],
            "W_Q growth": [1.0, 1.2, 1.4, 9.0],
        }
    )
    window = data_assumptions.stage_one_window(frame, 0.5)
    assert window == {"reached": True, "step": 20, "contrast": 0.6, "min entropy ratio": 0.995, "max growth": 1.5}
    assert data_assumptions.stage_one_window(frame, 2.0)["reached"] is False


def test_stage_one_run_starts_uniform_and_records_the_a4_columns():
    source = fresh_documents(sample_lda, vocab=VOCAB, alpha=0.1, doc_length=(20, 30))
    config = TrainConfig(
        optimizer="sgd", learning_rate=5.0, steps=10, batch_size=8, log_every=5, snapshot_every=5, progress=False
    )
    frame, _ = data_assumptions.stage_one_run(VOCAB, source, MASKING, config, init_scale=0.01, probe_docs=8)
    assert list(frame["step"]) == [0, 5, 10]
    assert frame["entropy ratio"].iloc[0] == pytest.approx(1.0, abs=1e-3)  # small init: uniform attention
    assert (
        frame["W_K growth"].iloc[0] == 1.0
        and frame["W_V topic contrast"].iloc[-1] > frame["W_V topic contrast"].iloc[0]
    )


def test_run_with_changes_measures_relative_changes_from_the_start():
    from topic_structure.model import ModelConfig, TopicTransformer

    model = TopicTransformer(ModelConfig(3, 3, init_scale=0.01), seed=0)
    source = fresh_documents(sample_lda, vocab=VOCAB, alpha=0.1, doc_length=(20, 30))
    config = TrainConfig(
        optimizer="sgd", learning_rate=2.0, steps=6, batch_size=4, log_every=3, snapshot_every=3, progress=False
    )
    frame = two_stage.run_with_changes(model, source, MASKING, config)
    assert frame["change.W_V"].iloc[0] == 0 and (frame["change.W_V"].iloc[1:] > 0).all()
    assert list(frame["time"]) == [0.0, 6.0, 12.0]
    changes = two_stage.changes_at(frame, "time", 9.0)
    assert changes["W_V"] == pytest.approx((frame["change.W_V"].iloc[1] + frame["change.W_V"].iloc[2]) / 2)
    with pytest.raises(ValueError, match="snapshot_every"):
        two_stage.run_with_changes(model, source, MASKING, TrainConfig(steps=2, log_every=1, snapshot_every=2))


def test_lda_structure_run_measures_every_snapshot_and_keeps_the_trained_model():
    corpus = sample_lda(VOCAB, 40, 0.1, (15, 20), np.random.default_rng(0))
    probe = lda_runs.lda_probe(VOCAB, MASKING, 0.1, (15, 20), 6, seed=0)
    config = TrainConfig(steps=6, batch_size=8, log_every=3, snapshot_every=2, progress=False)
    net, curves, loss = lda_runs.lda_structure_run(corpus, probe, MASKING, config, "tied", init_scale=1.0)
    assert list(curves["step"]) == [0, 2, 4, 6] and math.isfinite(loss)
    assert lda_runs.structure(net, probe)["R_V"] == pytest.approx(curves["R_V"].iloc[-1])
    twin = lda_runs.reparametrised(net, torch.linalg.inv(net.embedding.detach().double()))
    with torch.no_grad():
        logits, twin_logits = net(probe.inputs, probe.key_visible).logits, twin(probe.inputs, probe.key_visible).logits
    assert torch.allclose(logits.double(), twin_logits, atol=1e-4)
    assert lda_runs.structure(twin, probe)["R_E"] == pytest.approx(1.0)  # one-hot embeddings: no geometry left


def test_check_grid_names_the_bad_point():
    quick = NOTEBOOK_PROFILES["08_synthetic_lda"]["quick"]
    base = {name: quick[name] for name in params.GRID_NAMES}  # what notebook 08 runs at the quick profile
    params.check_grid([{}, {"keep_prob": 0.3}], base)
    with pytest.raises(ValueError, match="unknown name"):
        params.check_grid([{"steps": 3}], base)
    with pytest.raises(ValueError, match="keep_prob"):
        params.check_grid([{"keep_prob": 0.95}], base)
    with pytest.raises(ValueError, match="non-empty list"):
        params.check_grid([], base)


def test_equivalent_relative_changes_start_at_zero_and_grow():
    flow = two_stage_ode.ReducedFlow(3, 3, 2, 0.1, 0.1, 0.0)
    ode = two_stage_ode.integrate(flow, two_stage_ode.initial_state(0.01, 3, 3, "random"), 500.0, points=50)
    changes = two_stage_ode.equivalent_relative_changes(ode, flow, 0.01, {"W_V": 0.1, "W_K": 0.1, "W_Q": 0.1})
    assert changes["change.W_V"].iloc[0] == 0 and changes["change.W_K"].iloc[0] == pytest.approx(0, abs=1e-12)
    assert changes["change.W_V"].iloc[-1] > changes["change.W_K"].iloc[-1] > 0


def test_pair_statistics_find_block_structure_and_its_baseline_does_not():
    rng = np.random.default_rng(0)
    topics = np.repeat(np.arange(4), 6)
    matrix = np.where(topics[:, None] == topics[None, :], 2.0, 1.0) + 0.01 * rng.normal(size=(24, 24))
    stats = pair_statistics(matrix, topics, num_bootstrap=200, num_permutations=30, rng=rng)
    assert stats["ratio_ci"][0] > 1.8 and stats["contrast_ci"][0] > 0.9
    assert abs(stats["baseline_contrast"]) < 0.2 and abs(stats["baseline_ratio"] - 1) < 0.2
    assert same_and_different_topic_means(matrix, topics) == (stats["same"], stats["diff"])


def test_geometric_mean_interval_brackets_the_mean():
    mean, low, high = geometric_mean_interval([1.0, 4.0, 16.0], rng=np.random.default_rng(0))
    assert mean == pytest.approx(4.0) and 1.0 <= low <= mean <= high <= 16.0


def test_topic_ratio_with_baseline_pools_heads_and_reports_the_shuffles():
    generator = torch.Generator().manual_seed(0)
    same = torch.rand(5, 7, 2, 3, generator=generator) + 1  # (P, D, L, H)
    diff = torch.rand(5, 7, 2, 3, generator=generator) + 1
    uniform = {"same_topic": torch.ones(5, 7), "diff_topic": torch.ones(5, 7)}
    pooled = topic_ratio_with_baseline(
        {"same_topic": same, "diff_topic": diff}, uniform, (0, 1), 100, np.random.default_rng(0)
    )
    assert pooled["ratio"] == pytest.approx(float(same[0].sum() / diff[0].sum()))
    assert pooled["low"] <= pooled["ratio"] <= pooled["high"] and "baseline" in pooled
    per_head = topic_ratio_with_baseline({"same_topic": same, "diff_topic": diff}, uniform)
    assert per_head["ratio"].shape == (2, 3)


def test_model_topic_attention_of_uniform_attention_gives_ratio_one():
    from topic_structure.model import ModelConfig, TopicTransformer

    net = TopicTransformer(ModelConfig(3, 3, attention="uniform"), seed=0)
    docs = sample_lda(VOCAB, 12, 0.5, (8, 12), np.random.default_rng(1))
    lookup = torch.full((3, VOCAB.size), -1, dtype=torch.long)
    lookup[:, : VOCAB.num_words] = VOCAB.topic_of()
    lookup[1, : VOCAB.num_words] = VOCAB.topic_of()[
        torch.randperm(VOCAB.num_words, generator=torch.Generator().manual_seed(0))
    ]
    sums = text_models.model_topic_attention(net, docs, lookup)
    assert sums["attention"]["same_topic"].shape == (3, 12)
    assert topic_ratio_with_baseline(sums["attention"], sums["uniform"])["ratio"] == pytest.approx(1.0)


def test_value_first_row_reads_the_changes_at_half_the_onset():
    steps = np.arange(0, 11)
    frame = pd.DataFrame(
        {
            "step": steps,
            "time": steps * 10.0,
            "change.W_V": steps * 1.0,
            "change.W_K": steps * 0.1,
            "change.W_Q": steps * 0.05,
            two_stage_ode.MASS: 0.5 + 0.01 * steps,
            two_stage_ode.UNIFORM_MASS: 0.5,
        }
    )
    theory = frame[["time", "change.W_V", "change.W_K", "change.W_Q"]].assign(**{"change.W_K": steps * 0.2})
    row = two_stage.value_first_row(frame, theory, "time", excess=0.08)
    assert row["at (half the onset)"] == pytest.approx(40.0)
    assert row["measured ratio"] == pytest.approx(10.0) and row["predicted ratio"] == pytest.approx(5.0)
    assert "predicted ratio" not in two_stage.value_first_row(frame, None, "step", excess=0.08)
