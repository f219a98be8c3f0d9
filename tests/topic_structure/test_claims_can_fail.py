"""Every check of notebooks 01-04 can fail: perturb the theory a claim relies on and its verdict becomes ``fails``.

The claims are computed by the same library functions the notebooks call (:mod:`topic_structure.claims`),
at the notebooks' quick-profile settings; each test first shows the unperturbed claim holds, so the flip is the
perturbation's doing. No notebook is executed.
"""

import dataclasses

import numpy as np
import pytest
import torch

from theory_collection.claims import ClaimsTable
from topic_structure import stage_runs, two_stage
from topic_structure.claims import attention as attention_claims
from topic_structure.claims import embeddings as embedding_claims
from topic_structure.claims import run_values
from topic_structure.claims import topic_model_and_masking as masking_claims
from topic_structure.claims import two_stage_dynamics as onset_claims
from topic_structure.claims import value_matrix as value_claims
from topic_structure.data import Vocabulary, sample_lda
from topic_structure.masking import MaskingConfig, mask_documents
from topic_structure.model import ModelConfig, TopicTransformer
from topic_structure.profiles import NOTEBOOK_PROFILES
from topic_structure.theory import attention as ta
from topic_structure.theory import embeddings, onset, two_stage_ode, value_matrix

EMBEDDINGS = stage_runs.Setting(5, 4, 2, 0.01)  # notebook 02's quick profile
VALUES = stage_runs.Setting(5, 4, 2, 0.01)  # notebook 03's
ATTENTION = stage_runs.Setting(5, 4, 2, 3e-4)  # notebook 04's (lambda of the C2 optimum that fixes W_V)
NEAR_CRITICAL = (0.95, 1.05)  # the two sweep points of C1.nonzero_condition nearest lambda_c


@pytest.fixture(autouse=True)
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def verdicts(table: ClaimsTable) -> dict[str, str]:
    return {claim.id: claim.verdict for claim in table.claims}


def scaled(function, factor: float, keys, when=lambda *args, **kwargs: True):
    """``function`` with the values under ``keys`` of its dict result multiplied by ``factor``."""

    def perturbed(*args, **kwargs):
        result = function(*args, **kwargs)
        if not when(*args, **kwargs):
            return result
        return {key: value * factor if key in keys else value for key, value in dict(result).items()}

    return perturbed


# ----- C1 (notebook 02) -------------------------------------------------------------------------------------


def embedding_verdicts() -> dict[str, str]:
    table = ClaimsTable("02_embeddings")
    embedding_claims.embedding_exact_claims(table, EMBEDDINGS, sweep_factors=NEAR_CRITICAL)
    return verdicts(table)


def test_c1_claims_hold_unperturbed():
    assert set(embedding_verdicts().values()) == {"holds"}


@pytest.mark.parametrize("factor", [1.1, 0.9])
def test_c1_block_values_off_by_ten_percent_fail(monkeypatch, factor):
    monkeypatch.setattr(embeddings, "embedding_optimum", scaled(embeddings.embedding_optimum, factor, theory_blocks()))
    result = embedding_verdicts()
    assert result["C1.same_topic"] == result["C1.diff_topic"] == "fails"


@pytest.mark.parametrize("factor", [1.1, 0.9])
def test_c1_critical_weight_decay_off_by_ten_percent_fails(monkeypatch, factor):
    original = embeddings.embedding_critical_weight_decay
    monkeypatch.setattr(embeddings, "embedding_critical_weight_decay", lambda *args: factor * original(*args))
    assert embedding_verdicts()["C1.nonzero_condition"] == "fails"


def test_c1_simplex_eigenvalue_off_by_ten_percent_fails(monkeypatch):
    monkeypatch.setattr(embeddings, "embedding_condition", scaled(embeddings.embedding_condition, 1.1, {"margin"}))
    assert embedding_verdicts()["C1.simplex"] == "fails"


def theory_blocks():
    return {"diagonal", "same_topic", "diff_topic"}


# ----- C2 (notebook 03) -------------------------------------------------------------------------------------


def value_verdicts() -> dict[str, str]:
    table = ClaimsTable("03_value_matrix")
    value_claims.value_exact_claims(table, VALUES)
    return verdicts(table)


def test_c2_claims_hold_unperturbed():
    assert set(value_verdicts().values()) == {"holds"}


@pytest.mark.parametrize("factor", [1.1, 0.9])
@pytest.mark.parametrize("loss, prefix", [("cross_entropy", "C2"), ("squared", "C2.squared")])
def test_c2_block_values_off_by_ten_percent_fail(monkeypatch, factor, loss, prefix):
    def this_loss(*args, **kwargs):
        return kwargs.get("loss", "cross_entropy") == loss

    monkeypatch.setattr(
        value_matrix, "value_optimum", scaled(value_matrix.value_optimum, factor, theory_blocks(), this_loss)
    )
    result = value_verdicts()
    assert {result[f"{prefix}.{block}"] for block in theory_blocks()} == {"fails"}


# ----- C3 (notebook 04) -------------------------------------------------------------------------------------


def attention_verdicts() -> dict[str, str]:
    blocks = value_matrix.value_optimum(*ATTENTION.counts, ATTENTION.weight_decay)
    delta = blocks["same_topic"] - blocks["diff_topic"]
    value_output = ta.block_value_output(ATTENTION.vocab, blocks)
    table = ClaimsTable("04_attention")
    attention_claims.attention_gradient_claims(table, ATTENTION, value_output, delta)
    attention_claims.attention_optimum_claims(table, ATTENTION, value_output, delta)
    return verdicts(table)


def test_c3_claims_hold_unperturbed():
    assert set(attention_verdicts().values()) == {"holds"}


@pytest.mark.parametrize("factor", [1.1, 0.9])
def test_c3_optimal_mass_off_by_ten_percent_fails(monkeypatch, factor):
    monkeypatch.setattr(ta, "optimal_mass", scaled(ta.optimal_mass, factor, {"x_star"}))
    result = attention_verdicts()
    assert result["C3.x_star"] == result["C3.x_star.every_query"] == result["C3.x_star.line_search"] == "fails"


@pytest.mark.parametrize("factor", [1.1, 0.9])
def test_c3_score_gradient_off_by_ten_percent_fails(monkeypatch, factor):
    original = ta.score_gradient_values

    def perturbed(*args, **kwargs):
        return {
            kind: {block: factor * value for block, value in blocks.items()}
            for kind, blocks in original(*args, **kwargs).items()
        }

    monkeypatch.setattr(ta, "score_gradient_values", perturbed)
    result = attention_verdicts()
    assert {result[f"C3.grad_{block}"] for block in ("same_topic", "diff_topic", "diagonal", "entrywise")} == {"fails"}


def test_c3_gradient_of_mask_queries_not_zero_fails(monkeypatch):
    """A theory that gave [MASK] queries a topic signal (the keep queries' gradient) is refuted by autograd."""
    original = ta.score_gradient_values

    def perturbed(*args, **kwargs):
        values = original(*args, **kwargs)
        total = {b: values["total"][b] + values["keep"][b] for b in values["total"]}
        return {**values, "mask": dict(values["keep"]), "total": total}

    monkeypatch.setattr(ta, "score_gradient_values", perturbed)
    result = attention_verdicts()
    assert result["C3.grad_same_topic"] == result["C3.grad_entrywise"] == "fails"


# ----- notebook 01: chosen positions are hidden from the keys -------------------------------------------------


def masking_verdicts() -> dict[str, str]:
    vocab = Vocabulary(5, 4)
    masking = MaskingConfig(0.15, 0.1, 0.1)
    documents = sample_lda(vocab, 400, 0.1, (100, 150), np.random.default_rng(0))
    table = ClaimsTable("01_topic_model_and_masking")
    masking_claims.masking_claims(table, documents, masking, np.random.default_rng(1))
    masking_claims.key_uniformity_claims(table, vocab, masking, topics_per_doc=2, seed=[0, 1])  # notebook 01's seed
    return verdicts(table)


def test_masking_claims_hold_unperturbed():
    assert set(masking_verdicts().values()) == {"holds"}


def test_chosen_positions_visible_as_keys_fail(monkeypatch):
    def leaky(documents, config, seed):
        return mask_documents(documents, dataclasses.replace(config, attend_to_chosen=True), seed)

    monkeypatch.setattr(masking_claims, "mask_documents", leaky)
    result = masking_verdicts()
    assert result["M1.chosen_hidden"] == "fails"
    # visible chosen positions add random words from outside S to the keys: a floor under their distance to uniform
    assert result["P1.keys_uniform_rate"] == "fails"
    assert result["M1.chosen_rate"] == "holds"  # the perturbation changes what is visible, not what is chosen


def population_limit_verdict() -> str:
    model = TopicTransformer(ModelConfig(5, 4, attention="trained", value="trained", init_scale=0.6), seed=0)
    table = ClaimsTable("01_topic_model_and_masking")
    masking_claims.population_limit_claims(table, model, 2, MaskingConfig(0.15, 0.1, 0.1), seed=[0, 2])  # notebook 01's
    return verdicts(table)["P1.population_loss"]


def test_population_loss_holds_unperturbed():
    assert population_limit_verdict() == "holds"


@pytest.mark.parametrize("factor", [1.02, 0.98])
def test_population_loss_off_by_two_percent_fails(monkeypatch, factor):
    original = masking_claims.population_loss
    monkeypatch.setattr(masking_claims, "population_loss", lambda *args, **kwargs: factor * original(*args, **kwargs))
    assert population_limit_verdict() == "fails"


# ----- C4 (notebook 05, library of the two-timescale theory): the onset claims catch a 10% error -----------------
# The measured grid (population gradient descent from random starts) is computed once, at notebook 05's quick
# profile; each perturbation changes only the theory's predictions, which are then judged against it by the same
# function the notebook calls (claims.two_stage_dynamics.record_onsets).

ONSET = dict(
    num_topics=5,
    words_per_topic=4,
    topics_per_doc=2,
    keep_prob=0.1,
    random_prob=0.1,
    init_scale=0.01,
    learning_rate=10.0,
    steps=2000,
    excess=0.05,
)
ONSET_POINTS = list(
    dict.fromkeys(
        [(s, 0.1, 10.0) for s in (1e-4, 1e-3, 1e-2, 3e-2)]
        + [(0.01, p, 10.0) for p in (0.05, 0.1, 0.2, 0.4)]
        + [(0.01, 0.1, lr) for lr in (10.0, 20.0, 40.0)]
    )
)


def predicted_onsets():
    o = ONSET
    return two_stage.predict_onsets(
        ONSET_POINTS, o["num_topics"], o["words_per_topic"], o["topics_per_doc"], 0.0, o["excess"]
    )


@pytest.fixture(scope="module")
def measured_onsets():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        o = ONSET
        return two_stage.measure_onsets(
            predicted_onsets(),
            o["num_topics"],
            o["words_per_topic"],
            o["topics_per_doc"],
            o["random_prob"],
            0.0,
            o["excess"],
            o["steps"],
            0,
            progress_bar=False,
        )
    finally:
        torch.set_num_threads(threads)


def onset_verdicts(measured) -> dict[str, str]:
    grid = measured.copy()
    predicted = predicted_onsets()
    for column in ("predicted", "predicted steps", "predicted slope", "leading order", "Lambda"):
        grid[column] = predicted[column].to_numpy()
    grid["error"] = grid["measured"] / grid["predicted"] - 1
    table = ClaimsTable("05_two_stage_dynamics")
    values = run_values(NOTEBOOK_PROFILES["05_two_stage_dynamics"]["quick"], onset_excess=ONSET["excess"])
    onset_claims.record_onsets(table, grid, ONSET["init_scale"], ONSET["keep_prob"], ONSET["learning_rate"], values)
    return verdicts(table)


def test_c4_onset_claims_do_not_fail_unperturbed(measured_onsets):
    assert "fails" not in onset_verdicts(measured_onsets).values()


@pytest.mark.parametrize("factor", [1.1, 0.9])
def test_c4_onset_time_off_by_ten_percent_fails(monkeypatch, measured_onsets, factor):
    original = onset.predicted_onset

    def perturbed(*args, **kwargs):
        p = original(*args, **kwargs)
        return dataclasses.replace(p, time=factor * p.time, steps=factor * p.steps, slope=factor * p.slope)

    monkeypatch.setattr(onset, "predicted_onset", perturbed)
    assert "fails" in {onset_verdicts(measured_onsets)[c] for c in ("C4.onset_time", "C4.onset_early")}


@pytest.mark.parametrize("factor", [1.1, 0.9])
def test_c4_growth_rate_off_by_ten_percent_fails(monkeypatch, measured_onsets, factor):
    original = onset.growth_rate_per_margin
    monkeypatch.setattr(onset, "growth_rate_per_margin", lambda *args, **kwargs: factor * original(*args, **kwargs))
    assert "fails" in {onset_verdicts(measured_onsets)[c] for c in ("C4.onset_time", "C4.onset_early")}


@pytest.mark.parametrize("factor", [2**0.5, 2**-0.5])
def test_c4_random_start_amplitude_off_by_root_two_fails(monkeypatch, measured_onsets, factor):
    original = two_stage_ode.initial_state

    def perturbed(init_scale, num_topics, words_per_topic, init="symmetric"):
        return original(init_scale * (factor if init == "random" else 1.0), num_topics, words_per_topic, init)

    monkeypatch.setattr(two_stage_ode, "initial_state", perturbed)
    assert "fails" in {onset_verdicts(measured_onsets)[c] for c in ("C4.onset_time", "C4.onset_early")}
