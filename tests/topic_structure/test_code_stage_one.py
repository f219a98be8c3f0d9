"""The public code's stage-1 run (stage_runs.code_stage_one) and its claims C2.code.*, which compare it with the code's
shipped outputs: uniform attention of exactly 1/100 and a block value matrix; a value map without the block
structure, or attention that is not uniform, fails."""

import numpy as np
import pytest
import torch

from theory_collection.claims import ClaimsTable
from topic_structure import stage_runs
from topic_structure.attention_over_training import paper_attention_averages
from topic_structure.claims import value_matrix as value_claims
from topic_structure.data import Documents, Vocabulary, sample_lda
from topic_structure.masking import mask_documents
from topic_structure.model import ModelConfig, TopicTransformer
from topic_structure.training import epoch_batches

UNIFORM = {"same_token": 0.01, "same_topic": 0.01, "diff_topic": 0.01}
BLOCKS = {"diagonal": 0.78, "same_topic": 0.77, "diff_topic": -0.14, "diff_topic_std": 0.17}  # the shipped heatmap


def verdicts(attention: dict, value: dict, docs: int = 10_000, epochs: int = 20) -> dict:
    table = ClaimsTable("03_value_matrix")
    value_claims.code_claims(table, {"steps": 5000, "attention": attention, "value": value}, docs, epochs)
    return {claim.id: (claim.verdict, claim.paper_conditions) for claim in table.claims}


def test_the_shipped_outputs_hold_in_the_paper_conditions():
    found = verdicts(UNIFORM, BLOCKS)
    assert found == {
        "C2.code.uniform_attention": ("holds", True),
        "C2.code.value_diagonal": ("holds", True),
        "C2.code.value_contrast": ("holds", True),
    }


def test_fewer_documents_than_the_code_are_not_its_conditions():
    assert {paper for _, paper in verdicts(UNIFORM, BLOCKS, docs=2000).values()} == {False}
    assert {paper for _, paper in verdicts(UNIFORM, BLOCKS, epochs=5).values()} == {False}


def test_attention_that_is_not_uniform_fails():
    tilted = {**UNIFORM, "same_topic": 0.0105, "diff_topic": 0.0098}
    assert verdicts(tilted, BLOCKS)["C2.code.uniform_attention"] == ("fails", True)


@pytest.mark.parametrize(
    "value, failing",
    [
        ({"diagonal": 2.0, "same_topic": 0.77, "diff_topic": -0.14, "diff_topic_std": 0.17}, "value_diagonal"),
        ({"diagonal": 0.1, "same_topic": 0.1, "diff_topic": 0.05, "diff_topic_std": 0.17}, "value_contrast"),
        ({"diagonal": 0.0, "same_topic": -0.1, "diff_topic": 0.0, "diff_topic_std": 0.17}, "value_diagonal"),
    ],
)
def test_a_value_map_without_the_block_structure_fails(value, failing):
    found = verdicts(UNIFORM, value)
    assert found[f"C2.code.{failing}"] == ("fails", True)


def test_trained_attention_measured_as_the_code_reads_it_is_not_uniform():
    vocab = Vocabulary(10, 10)
    docs = sample_lda(vocab, 20, 0.1, (100, 150), np.random.default_rng(0))
    cut = Documents(docs.tokens[:, :100], docs.lengths.clamp(max=100), docs.topic_weights, vocab)
    uniform = TopicTransformer(ModelConfig(10, 10, attention="uniform", decoder="identity"), seed=0)
    trained = TopicTransformer(ModelConfig(10, 10, decoder="identity", init_scale=2.0), seed=0)
    assert paper_attention_averages(uniform, cut)["same_topic"] == pytest.approx(0.01, abs=1e-9)
    result = {"steps": 1, "attention": paper_attention_averages(trained, cut), "value": BLOCKS}
    table = ClaimsTable("03_value_matrix")
    value_claims.code_claims(table, result, 10_000, 20)
    assert table.claims[0].verdict == "fails"


def test_a_short_code_run_reads_uniform_attention_and_a_block_value_map():
    torch.set_num_threads(1)
    result = stage_runs.code_stage_one(num_docs=400, epochs=5, seed=0)
    assert result["steps"] == 5 * 10
    assert all(result["attention"][kind] == pytest.approx(0.01, abs=1e-7) for kind in UNIFORM)
    value = result["value"]
    assert value["same_topic"] > value["diff_topic"] and value["diff_topic_std"] > 0


def test_epoch_batches_visit_every_document_once_per_epoch_with_its_masking_fixed():
    vocab = Vocabulary(3, 2)
    docs = sample_lda(vocab, 10, 0.5, (5, 8), np.random.default_rng(0))
    masked = mask_documents(docs, stage_runs.CODE_MASKING, np.random.default_rng(1))
    source, rng = epoch_batches(masked), np.random.default_rng(2)
    for _ in range(2):  # two epochs of batches of 4, 4, 2
        batches = [source(4, rng) for _ in range(3)]
        assert [len(b) for b in batches] == [4, 4, 2]
        seen = torch.cat([b.inputs for b in batches])
        order = [next(i for i in range(10) if torch.equal(masked.inputs[i], row)) for row in seen]
        assert sorted(order) == list(range(10))  # every document once, masked as it was drawn
