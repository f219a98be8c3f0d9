"""The measurements and claims of notebooks 06 (assumptions on data) and 07 (C6 on Wikipedia)."""

import numpy as np
import pandas as pd
import pytest
import torch

from theory_collection.claims import ClaimsTable
from topic_structure import data, data_assumptions, realtext, text_models
from topic_structure.claims import assumptions_on_data as assumption_claims
from topic_structure.claims import run_values
from topic_structure.claims import wikipedia as wikipedia_claims
from topic_structure.masking import MaskingConfig
from topic_structure.measurements import attention_by_topic, topic_ratio_with_baseline
from topic_structure.model import ModelConfig, TopicTransformer
from topic_structure.profiles import NOTEBOOK_PROFILES
from topic_structure.training import TrainConfig, corpus_batches, fresh_documents, train

VOCAB = data.Vocabulary(3, 4)
MASKING = MaskingConfig(0.15, 0.1, 0.1)
# what fills the claims' conditions: the notebooks' quick profiles
VALUES_06 = run_values(NOTEBOOK_PROFILES["06_assumptions_on_data"]["quick"])
VALUES_07 = run_values(NOTEBOOK_PROFILES["07_wikipedia"]["quick"])


@pytest.fixture(scope="module")
def synthetic():
    return data.sample_lda(VOCAB, num_docs=60, alpha=0.1, doc_length=(20, 30), seed=0)


@pytest.fixture(scope="module")
def synthetic_fit(synthetic, tmp_path_factory):
    corpus = realtext.corpus_from_documents(synthetic)
    return realtext.fit_lda(corpus, num_topics=3, passes=20, cache_dir=tmp_path_factory.mktemp("lda"))


def verdicts(table: ClaimsTable) -> dict[str, str]:
    return {claim.id: claim.verdict for claim in table.claims}


# ----- notebook 06 -------------------------------------------------------------------------------------


def test_top_topic_share_of_disjoint_and_identical_topics():
    disjoint = np.kron(np.eye(3), np.full((1, 4), 0.25))
    assert np.allclose(realtext.top_topic_share(disjoint, np.array([0.5, 0.3, 0.2])), 1.0)
    assert np.allclose(realtext.top_topic_share(np.full((4, 6), 1 / 6), np.full(4, 0.25)), 0.25)
    mixed = np.array([[0.5, 0.5, 0.0], [0.0, 0.5, 0.5]])  # the middle word is shared equally
    assert np.allclose(realtext.top_topic_share(mixed, np.array([0.5, 0.5])), [1.0, 0.5, 1.0])


def test_assumption_tables_on_synthetic_data_and_their_claims(synthetic, synthetic_fit):
    # The synthetic corpus plays both parts: its assumptions hold by construction.
    shares = data_assumptions.topic_shares(VOCAB, synthetic_fit, synthetic_fit)
    a1 = data_assumptions.disjointness_table(shares, 0.6)
    assert a1.loc["synthetic, true topics", "token-weighted mean"] == pytest.approx(1.0)
    assert a1.loc["synthetic, LDA fit", "token-weighted mean"] > 0.9
    counts = data_assumptions.topics_per_document(synthetic, synthetic_fit, synthetic_fit)
    a2 = data_assumptions.topics_per_document_table(counts)
    truth = (synthetic.topic_weights.numpy() >= 0.1).sum(1)
    assert a2.loc["synthetic, true theta", "mean tau_d"] == pytest.approx(truth.mean())
    a3 = data_assumptions.length_table(data_assumptions.document_supports(synthetic, synthetic_fit, synthetic_fit))
    assert a3.loc["synthetic, LDA fit", "median N_d"] == np.median(synthetic.lengths.numpy())

    table = ClaimsTable("06_test")
    assumption_claims.disjointness_claims(table, a1, 3, VALUES_06)
    assumption_claims.topics_per_document_claims(table, a2, counts, truth.mean(), VALUES_06)
    assumption_claims.length_claims(table, a3, VALUES_06)
    found = verdicts(table)
    assert found["A1.synthetic"] == "holds" and found["A2.synthetic_expected"] == "holds"
    assert found["A3.synthetic"] == "holds" and found["A1.wikipedia_structure"] == "observed"


def test_assumption_claims_fail_when_the_data_violate_them():
    spread = pd.DataFrame({"token-weighted mean": [0.5, 0.95]}, index=list(data_assumptions.FITTED.values()))
    table = ClaimsTable("06_test")
    assumption_claims.disjointness_claims(table, spread, 20, VALUES_06)
    assert verdicts(table)["A1.synthetic"] == "fails" and verdicts(table)["A1.wikipedia"] == "holds"
    many = {name: (np.full(10, 4), 10) for name in ("synthetic, true theta", *data_assumptions.FITTED.values())}
    table = ClaimsTable("06_test")
    assumption_claims.topics_per_document_claims(
        table, data_assumptions.topics_per_document_table(many), many, 2.0, VALUES_06
    )
    assert set(verdicts(table).values()) == {"fails"}  # 4 of 10 topics per document, and not the expectation
    short = {name: (np.full(5, 10), np.full(5, 40.0)) for name in data_assumptions.FITTED.values()}
    table = ClaimsTable("06_test")
    assumption_claims.length_claims(table, data_assumptions.length_table(short), VALUES_06)
    assert set(verdicts(table).values()) == {"fails"}


def test_stage_one_claims_are_inconclusive_without_stage_one():
    optimizers = {"sgd": ("sgd", 30.0, 100), "adam": ("adam", 0.01, 50)}
    shown = {"reached": True, "step": 40, "contrast": 0.6, "min entropy ratio": 0.999, "max growth": 1.2}
    grown = {**shown, "max growth": 9.0, "min entropy ratio": 0.5}
    missing = {**shown, "reached": False, "contrast": 0.1}
    table = ClaimsTable("06_test")
    windows = {("synthetic", "sgd"): shown, ("synthetic", "adam"): grown, ("wikipedia", "sgd"): missing}
    assumption_claims.stage_one_claims(table, windows, optimizers, VALUES_06)
    found = verdicts(table)
    assert found["A4.synthetic_entropy"] == "holds" and found["A4.synthetic_norms"] == "holds"
    assert found["A4.adam.synthetic_entropy"] == "fails" and found["A4.adam.synthetic_norms"] == "fails"
    assert found["A4.wikipedia_entropy"] == "inconclusive" and found["A4.wikipedia_norms"] == "inconclusive"


def test_stage_one_runs_train_every_corpus_with_every_optimizer():
    source = fresh_documents(data.sample_lda, vocab=VOCAB, alpha=0.1, doc_length=(20, 30))
    optimizers = {"sgd": ("sgd", 5.0, 20), "adam": ("adam", 0.01, 20)}
    runs, trained, windows = data_assumptions.stage_one_runs(
        {"synthetic": (VOCAB, source)}, optimizers, MASKING, 8, 0.01, 0, 0.5, logs=4, progress=False
    )
    assert set(runs) == set(trained) == set(windows) == {("synthetic", "sgd"), ("synthetic", "adam")}
    assert list(runs["synthetic", "sgd"]["step"]) == [0, 5, 10, 15, 20]
    assert windows["synthetic", "sgd"] == data_assumptions.stage_one_window(runs["synthetic", "sgd"], 0.5)


def test_mask_query_spread_reads_the_score_matrix():
    net = TopicTransformer(ModelConfig(3, 4, init_scale=0.5), seed=0)
    spread = data_assumptions.mask_query_spread(net)
    scores = net.score_matrix().detach()[: VOCAB.num_words]
    assert spread.iloc[0] == pytest.approx(float(scores[:, VOCAB.mask_id].std()))
    table = ClaimsTable("06_test")
    assumption_claims.mask_query_observation(table, spread, VALUES_06)
    assert table.claims[0].measured == pytest.approx(spread.iloc[0] / spread.iloc[1])


# ----- notebook 07 -------------------------------------------------------------------------------------


def test_single_wordpiece_words_sorted_by_topic():
    words = ("cat", "dog", "kubrick", "zebra", "ant")
    owner = np.array([1, 0, 0, 1, 1])
    candidates = np.array([True, True, True, True, False])
    analysed, topics, ids = text_models.single_wordpiece_words(
        words, candidates, owner, {"cat": 7, "dog": 3, "zebra": 9}
    )
    assert analysed.tolist() == [1, 0, 3] and topics.tolist() == [0, 1, 1] and ids.tolist() == [3, 7, 9]


def test_pretrained_ratios_of_attention_equal_to_its_references():
    generator = torch.Generator().manual_seed(0)
    uniform = {k: torch.rand(4, 6, generator=generator) + 1 for k in ("same_topic", "diff_topic")}  # (P, D)
    attention = {k: v[:, :, None, None].expand(4, 6, 2, 3) / 6 for k, v in uniform.items()}  # (P, D, L, H)
    positional = {k: v[0] for k, v in attention.items()}  # (D, L, H)
    sums = {"attention": attention, "uniform": uniform, "positional": positional}
    ratios = text_models.pretrained_ratios(sums, 50, np.random.default_rng(0))
    assert ratios["pooled"]["ratio"] == pytest.approx(1.0) and ratios["adjusted"]["ratio"] == pytest.approx(1.0)
    assert ratios["distance_only"]["ratio"] == pytest.approx(1.0)
    assert ratios["per_layer"]["ratio"].shape == (2,) and ratios["per_head"]["ratio"].shape == (2, 3)


@pytest.fixture(scope="module")
def trained_scratch(synthetic):
    config = text_models.scratch_config(VOCAB, d_model=8, init_scale=0.3)
    net = TopicTransformer(config, seed=0)
    train(
        net,
        corpus_batches(synthetic),
        MASKING,
        TrainConfig(optimizer="adam", learning_rate=0.05, steps=60, batch_size=16, progress=False),
    )
    return config, net


def test_scratch_structure_attention_ratio_is_the_collection_estimator(synthetic, trained_scratch):
    """One implementation: notebook 07's ratio equals measurements.attention_by_topic on the same documents."""
    config, net = trained_scratch
    lookup = text_models.topic_lookup(
        VOCAB.size, np.arange(VOCAB.num_words), VOCAB.topic_of().numpy(), 3, np.random.default_rng(0)
    )
    plain = text_models.scratch_structure(net, synthetic, lookup)
    visible = synthetic.is_word()
    with torch.no_grad():
        attention = net(synthetic.tokens, visible).attention
    reference = attention_by_topic(attention, synthetic.tokens, visible, VOCAB)["same_topic_ratio"]
    # float32 attention summed over token pairs there and over positions here: equal to float32 rounding
    assert plain["attention"] == pytest.approx(reference, rel=1e-6) and plain["attention"] != pytest.approx(1.0)
    full = text_models.scratch_structure(net, synthetic, lookup, 50, 5, np.random.default_rng(0))
    assert full["attention"]["ratio"] == pytest.approx(plain["attention"])
    assert full["gram"]["contrast"] == pytest.approx(plain["gram"]) and full["value"]["contrast"] == pytest.approx(
        plain["value"]
    )
    sums = text_models.model_topic_attention(net, synthetic, lookup[:1])
    assert topic_ratio_with_baseline(sums["attention"], sums["uniform"])["ratio"] == pytest.approx(plain["attention"])
    untrained = text_models.untrained_structure(config, synthetic, lookup, seed=0, count=2)
    assert list(untrained.columns) == ["gram", "value", "attention"] and len(untrained) == 2


def test_scratch_claims_judge_against_untrained_models(synthetic, trained_scratch):
    config, net = trained_scratch
    lookup = text_models.topic_lookup(
        VOCAB.size, np.arange(VOCAB.num_words), VOCAB.topic_of().numpy(), 10, np.random.default_rng(0)
    )
    stats = text_models.scratch_structure(net, synthetic, lookup, 100, 10, np.random.default_rng(1))
    below = pd.DataFrame([{"gram": -1e9, "value": -1e9, "attention": 0.0}])
    table = ClaimsTable("07_test")
    wikipedia_claims.scratch_claims(table, stats, below, VALUES_07)
    assert verdicts(table)["C6.scratch_attention"] in ("holds", "inconclusive")
    above = pd.DataFrame([{"gram": 1e9, "value": 1e9, "attention": 1e9}])
    table = ClaimsTable("07_test")
    wikipedia_claims.scratch_claims(table, stats, above, VALUES_07)
    found = verdicts(table)
    assert found["C6.scratch_gram"] == found["C6.scratch_value"] == found["C6.scratch_attention"] == "fails"
