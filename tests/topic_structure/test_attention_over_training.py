"""Tests of topic_structure.attention_over_training: the paper metric, trajectories, copy/topic exchange."""

import math

import numpy as np
import pandas as pd
import pytest
import sympy as sp
import torch

from topic_structure import attention_over_training as at
from topic_structure import lda_runs
from topic_structure.data import Documents, Vocabulary, sample_lda
from topic_structure.masking import MaskingConfig
from topic_structure.model import ModelConfig, TopicTransformer
from topic_structure.population import Setting
from topic_structure.theory import exchange
from topic_structure.training import TrainConfig


def documents(vocab: Vocabulary, rows: list[list[int]]) -> Documents:
    longest = max(len(r) for r in rows)
    tokens = torch.full((len(rows), longest), vocab.pad_id, dtype=torch.long)
    for i, r in enumerate(rows):
        tokens[i, : len(r)] = torch.tensor(r)
    return Documents(tokens, torch.tensor([len(r) for r in rows]), torch.zeros(len(rows), vocab.num_topics), vocab)


def test_pair_masks_count_pairs_by_hand():
    vocab = Vocabulary(2, 2)  # words 0, 1 in topic 0; 2, 3 in topic 1
    masks = at.paper_pair_masks(documents(vocab, [[0, 0, 1, 2], [3, 3]]))
    # document 0: same token: 4 diagonal + (0, 1) both ways = 6; same topic other word: 0-1 pairs: 2 * 2 = 4;
    # different topic: word 2 against the other three, both ways = 6. Document 1: four same-token pairs.
    assert int(masks["same_token"].sum()) == 6 + 4
    assert int(masks["same_topic"].sum()) == 4
    assert int(masks["diff_topic"].sum()) == 6
    assert not (masks["same_token"] & masks["same_topic"]).any()


def test_paper_metric_of_uniform_attention_model_equals_uniform_reference():
    vocab = Vocabulary(3, 3)
    docs = sample_lda(vocab, 12, 0.5, (5, 15), np.random.default_rng(0))
    net = TopicTransformer(ModelConfig(3, 3, attention="uniform"))
    assert at.paper_attention_averages(net, docs) == pytest.approx(at.uniform_paper_averages(docs), rel=1e-6)


def test_paper_metric_sees_same_topic_attention():
    vocab = Vocabulary(3, 3)
    docs = sample_lda(vocab, 12, 1.0, (10, 15), np.random.default_rng(1))
    net = TopicTransformer(ModelConfig(3, 3, init_scale=0.0)).double()
    with torch.no_grad():  # one-hot model whose scores are 4 between words of one topic (copies included)
        net.W_Q.copy_(torch.zeros_like(net.W_Q))
        net.W_Q[: vocab.num_words, : vocab.num_words] = 4 * math.sqrt(vocab.size) * vocab.same_topic().double()
        net.W_K.copy_(torch.eye(vocab.size, dtype=torch.float64))
    metric, uniform = at.paper_attention_averages(net, docs), at.uniform_paper_averages(docs)
    assert metric["ratio"] > 5 * uniform["ratio"]
    assert metric["same_token"] > uniform["same_token"]


def test_exchange_rate_closed_form_is_the_derivative():
    assert exchange.exchange_rate()["difference"] == 0


@pytest.mark.parametrize(
    "blocks, masses, keep, random",
    [
        ((2.0, 0.5, -0.3), (0.3, 0.3, 0.4), 0.1, 0.1),
        ((0.2, 1.5, 0.1), (0.1, 0.5, 0.4), 0.2, 0.5),
        ((3.0, 1.0, -1.0), (0.6, 0.2, 0.2), 0.0, 0.6),
    ],
)
def test_exchange_rate_matches_the_exact_population_loss(blocks, masses, keep, random):
    vocab, tau = Vocabulary(4, 3), 2
    setting = dict(
        zip("abc", blocks), m_s=masses[0], m_o=masses[1], m_d=masses[2], p_c=keep, p_r=random, T=4, v=3, tau=tau
    )
    numeric = exchange.exchange_rate_numeric(vocab, tau, blocks, masses, keep, random)
    assert exchange.exchange_rate_value(setting) == pytest.approx(numeric, rel=1e-9, abs=1e-15)


def test_a_wrong_closed_form_would_be_caught():
    # the same comparison with the random-query term's sign flipped disagrees with the population loss
    vocab, blocks, masses = Vocabulary(4, 3), (2.0, 0.5, -0.3), (0.3, 0.3, 0.4)
    closed = exchange.exchange_rate()["closed_form"]
    wrong = closed.subs(exchange.p_r, -exchange.p_r)
    values = {
        exchange.a: 2.0,
        exchange.b: 0.5,
        exchange.c: -0.3,
        exchange.m_self: 0.3,
        exchange.m_mates: 0.3,
        exchange.m_others: 0.4,
        exchange.p_c: 0.1,
        exchange.p_r: 0.5,
        exchange.T: 4,
        exchange.v: 3,
        exchange.tau: 2,
    }
    numeric = exchange.exchange_rate_numeric(vocab, 2, blocks, masses, 0.1, 0.5)
    assert float(sp.N(closed.subs(values))) == pytest.approx(numeric, rel=1e-9)
    assert float(sp.N(wrong.subs(values))) != pytest.approx(numeric, rel=1e-3)


def test_exchange_sign_follows_the_value_excess():
    base = dict(c=0.0, m_s=0.2, m_o=0.4, m_d=0.4, p_c=0.1, p_r=0.1, T=10, v=10, tau=2)
    assert exchange.exchange_rate_value({**base, "a": 3.0, "b": 1.0}) < 0  # copies pay
    assert exchange.exchange_rate_value({**base, "a": 1.0, "b": 3.0}) > 0  # mates pay
    assert exchange.exchange_rate_value({**base, "a": 2.0, "b": 2.0}) == 0


def test_exchange_scores_give_the_stated_masses():
    vocab = Vocabulary(4, 3)
    scores = exchange.exchange_scores(vocab, 2, (0.3, 0.3, 0.4), 0.1)
    keys = torch.tensor([0, 1, 2, 3, 4, 5])  # topics 0 and 1; query word 0
    attention = torch.softmax(scores[keys, 0], 0)
    assert float(attention[0]) == pytest.approx(0.4)
    assert float(attention[1:3].sum()) == pytest.approx(0.2)
    assert float(attention[3:].sum()) == pytest.approx(0.4)


def test_population_optimum_under_strong_decay_treats_copies_like_mates():
    # at lambda = 1e-3 (T = 4, v = 3, tau = 2) the optimum found from a random start keeps a = b and R_I = R_A
    optimum = exchange.population_optimum(Setting(4, 3, 2, 1e-3, keep_prob=0.1, random_prob=0.1))
    assert abs(optimum["excess"]) < 1e-4
    assert optimum["R_A"] > 1.2
    assert optimum["R_I"] == pytest.approx(optimum["R_A"], rel=1e-3)


def test_attention_run_measures_every_snapshot():
    vocab = Vocabulary(3, 3)
    corpus = sample_lda(vocab, 60, 0.5, (8, 12), np.random.default_rng(0))
    masking = MaskingConfig(0.15, 0.1, 0.1)
    probe = lda_runs.lda_probe(vocab, masking, 0.5, (8, 12), 6, 0)
    whole = sample_lda(vocab, 6, 0.5, (8, 12), np.random.default_rng(3))
    config = TrainConfig(steps=6, batch_size=10, log_every=3, snapshot_every=3, progress=False)
    net, curves = at.trajectory_run(corpus, probe, whole, masking, config, "tied", 1.0)
    assert list(curves["step"]) == [0, 3, 6]
    for column in ("R_A", "R_I", "value.excess", "paper.same_token", "paper.ratio"):
        assert curves[column].notna().all()
    final = at.paper_attention_averages(net, whole)
    assert curves["paper.ratio"].iloc[-1] == pytest.approx(final["ratio"])
    with pytest.raises(ValueError, match="snapshot"):
        at.trajectory_run(corpus, probe, whole, masking, TrainConfig(steps=2, progress=False), "tied", 1.0)


def test_end_summary_reads_end_and_peak():
    steps = np.arange(0, 101, 5)
    r_a = np.exp(np.sin(steps / 100 * math.pi))  # peaks at step 50
    curves = pd.DataFrame(
        {
            "step": steps,
            "R_A": r_a,
            "R_I": 2 * r_a,
            "attention.same": r_a,
            "attention.identical": r_a,
            "attention.diff": np.ones_like(r_a),
            "paper.ratio": r_a,
            "value.excess": np.linspace(0, 1, len(steps)),
        }
    )
    summary = at.end_summary(curves)
    assert summary["R_A peak step"] == 50
    assert summary["copy over topic"] == pytest.approx(2.0)
    assert summary["R_A"] < summary["R_A peak"]


def test_sign_agrees():
    assert exchange.sign_agrees(0.5, 3.0) and exchange.sign_agrees(-0.5, 0.5)
    assert not exchange.sign_agrees(0.5, 0.5) and not exchange.sign_agrees(-0.5, 3.0)


def test_copy_over_topic_is_the_ratio_of_the_collection_ratios():
    vocab = Vocabulary(3, 3)
    masking = MaskingConfig(0.15, 0.1, 0.1)
    probe = lda_runs.lda_probe(vocab, masking, 0.5, (10, 20), 12, 0)
    net = lda_runs.lda_model(vocab, "tied", 3.0, 0)  # a large initialisation: attention far from uniform
    measured = lda_runs.structure(net, probe)
    result = at.copy_over_topic(net, probe, 500, np.random.default_rng(0))
    assert result["ratio"] == pytest.approx(measured["R_I"] / measured["R_A"], rel=1e-9)
    assert result["low"] <= result["ratio"] <= result["high"]
