"""The {I, B, J} algebra, the symbolic C1/C2 optima against the full-matrix population optimum,
the finite-length loss, and argument validation."""

import itertools

import pytest
import sympy as sp
import torch

from topic_structure.data import Vocabulary
from topic_structure.measurements import block_averages
from topic_structure.model import ModelConfig, TopicTransformer
from topic_structure.population import fit_population, population_loss_terms
from topic_structure.theory import algebra, embeddings, finite_length, value_matrix
from topic_structure.theory.algebra import IBJ, D, T, lam, tau, v


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    # The fits below use tiny matrices: extra threads only contend for the shared cores.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


# Parameter sets the notebooks do not use (they use (5, 4, 2, 0.01) and (10, 10, 3, 0.001)).
SETTINGS = [(3, 2, 1, 0.05), (4, 3, 2, 0.02), (6, 2, 3, 0.004)]
BLOCKS = ("diagonal", "same_topic", "diff_topic")


def random_element(seed: int) -> IBJ:
    generator = torch.Generator().manual_seed(seed)
    x, y, z = (sp.Rational(int(n), 7) for n in torch.randint(-20, 20, (3,), generator=generator))
    return IBJ(x, y, z)


@pytest.mark.parametrize("num_topics, words_per_topic", [(3, 2), (2, 3), (4, 1)])
def test_algebra_matches_explicit_matrices(num_topics, words_per_topic):
    first, second = random_element(0), random_element(1)
    explicit = lambda element: element.matrix(num_topics, words_per_topic)  # noqa: E731
    values = {T: num_topics, v: words_per_topic}
    assert (first * second).matrix(num_topics, words_per_topic) == explicit(first) * explicit(second)
    assert (first + second).matrix(num_topics, words_per_topic) == explicit(first) + explicit(second)
    assert (first - 3 * second).matrix(num_topics, words_per_topic) == explicit(first) - 3 * explicit(second)
    assert first.trace().subs(values) == explicit(first).trace()
    spectrum = explicit(first).eigenvals()
    for value, multiplicity in first.eigenvalues().values():
        value, multiplicity = value.subs(values), int(multiplicity.subs(values))
        if multiplicity:
            assert spectrum.get(value, 0) >= multiplicity


def test_products_of_the_basis():
    identity, B, J = algebra.basis()
    assert B * B == IBJ(0, v, 0)
    assert B * J == J * B == IBJ(0, 0, v)
    assert J * J == IBJ(0, 0, T * v)
    assert identity * B == B


def test_idempotents_are_orthogonal_projections_summing_to_identity():
    projections = algebra.idempotents()
    for (i, P), (j, Q) in itertools.product(enumerate(projections), repeat=2):
        product = (P * Q).simplify()
        assert product == (P.simplify() if i == j else IBJ(0, 0, 0))
    total = (projections[0] + projections[1] + projections[2]).simplify()
    assert total == IBJ(1, 0, 0)


def test_blocks_round_trip_and_match_measurements():
    element = IBJ.from_blocks(sp.Rational(3, 2), sp.Rational(1, 3), -sp.Rational(1, 5))
    assert element.blocks() == {
        "diagonal": sp.Rational(3, 2),
        "same_topic": sp.Rational(1, 3),
        "diff_topic": -sp.Rational(1, 5),
    }
    vocab = Vocabulary(3, 2)
    measured = block_averages(torch.tensor(element.matrix(3, 2).tolist(), dtype=torch.float64), vocab)
    assert measured == pytest.approx({k: float(e) for k, e in element.blocks().items()}, rel=1e-12)


def test_uniform_attention_logits_take_two_values():
    element = random_element(2)
    num_topics, words_per_topic, topics = 4, 3, (0, 2)
    indicator = sp.Matrix([int(w // words_per_topic in topics) for w in range(num_topics * words_per_topic)])
    logits = element.matrix(num_topics, words_per_topic) * indicator / (len(topics) * words_per_topic)
    margin, offset = element.on_topic_set()
    values = {T: num_topics, v: words_per_topic, tau: len(topics)}
    z_in, z_out = (margin + offset).subs(values), offset.subs(values)
    assert all(logits[w] == (z_in if w // words_per_topic in topics else z_out) for w in range(len(logits)))


def test_expected_loss_matches_an_explicit_softmax():
    margin, offset = sp.Rational(7, 5), sp.Rational(-1, 3)
    values = {T: 4, v: 3, tau: 2}
    logits = torch.tensor([float(offset + margin)] * 6 + [float(offset)] * 6, dtype=torch.float64)
    cross_entropy = float(-torch.log_softmax(logits, 0)[0])
    assert float(algebra.expected_loss(margin, offset).subs(values)) == pytest.approx(cross_entropy, rel=1e-12)
    squared = float(0.5 * ((logits - torch.eye(12, dtype=torch.float64)[0]) ** 2).sum())
    assert float(algebra.expected_loss(margin, offset, "squared").subs(values)) == pytest.approx(squared, rel=1e-12)


def test_value_solution_is_the_stated_shape():
    solution = value_matrix.value_solution()
    blocks = solution["blocks"]
    assert sp.simplify(blocks["diagonal"] - blocks["same_topic"]) == 0  # a = b
    assert sp.simplify(blocks["diff_topic"] + v * blocks["same_topic"] / (T * v - v)) == 0  # rows sum to zero
    # 1 - p_in(D) = lambda v tau^2 (V - v) D
    expected = -(1 - algebra.in_topic_probability(D)) + lam * v * tau**2 * (T * v - v) * D
    assert sp.simplify(solution["equation"] - expected) == 0


def population_optimum(model: TopicTransformer, topics_per_doc: int, weight_decay: float, view) -> dict[str, float]:
    model.double()
    fit_population(model, topics_per_doc, 0.1, 0.1, weight_decay, steps=300, tolerance=1e-15)
    return block_averages(view(model), model.vocab)


@pytest.mark.parametrize("setting", SETTINGS)
@pytest.mark.parametrize("loss", ["cross_entropy", "squared"])
def test_value_optimum_matches_the_full_matrix_population_optimum(setting, loss):
    num_topics, words_per_topic, topics_per_doc, weight_decay = setting
    config = ModelConfig(
        num_topics, words_per_topic, attention="uniform", value="trained", decoder="identity", init_scale=0.1, loss=loss
    )
    measured = population_optimum(
        TopicTransformer(config, seed=3), topics_per_doc, weight_decay, TopicTransformer.value_output_matrix
    )
    predicted = value_matrix.value_optimum(*setting, loss=loss)
    scale = max(abs(x) for x in predicted.values())  # a block that is exactly 0 is compared on this scale
    for block in BLOCKS:
        assert measured[block] == pytest.approx(predicted[block], rel=1e-6, abs=1e-6 * scale)


@pytest.mark.parametrize("setting", SETTINGS)
def test_embedding_optimum_matches_the_full_matrix_population_optimum(setting):
    num_topics, words_per_topic, topics_per_doc, weight_decay = setting
    config = ModelConfig(
        num_topics,
        words_per_topic,
        embedding="trained",
        d_model=num_topics * words_per_topic,
        attention="uniform",
        value="identity",
        decoder="tied",
        init_scale=0.3,
    )
    assert embeddings.embedding_condition(*setting)["nonzero"]
    measured = population_optimum(TopicTransformer(config, seed=4), topics_per_doc, weight_decay, TopicTransformer.gram)
    predicted = embeddings.embedding_optimum(*setting)
    for block in BLOCKS:
        assert measured[block] == pytest.approx(predicted[block], rel=1e-6)


def test_embedding_optimum_closed_form_and_collapse():
    num_topics, words_per_topic, topics_per_doc = 4, 3, 2
    kappa_per_lambda = (num_topics - 1) * topics_per_doc * words_per_topic / 2
    threshold = 1 - topics_per_doc / num_topics
    below = embeddings.embedding_condition(
        num_topics, words_per_topic, topics_per_doc, 0.9 * threshold / kappa_per_lambda
    )
    above = embeddings.embedding_condition(
        num_topics, words_per_topic, topics_per_doc, 1.1 * threshold / kappa_per_lambda
    )
    assert below["nonzero"] and below["margin"] > 0 and below["kappa"] == pytest.approx(0.9 * threshold)
    assert not above["nonzero"] and above["margin"] < 0
    assert embeddings.embedding_optimum(
        num_topics, words_per_topic, topics_per_doc, 1.1 * threshold / kappa_per_lambda
    ) == dict.fromkeys(BLOCKS, 0.0)
    # the full-matrix optimum collapses too
    config = ModelConfig(
        num_topics,
        words_per_topic,
        embedding="trained",
        d_model=8,
        attention="uniform",
        value="identity",
        decoder="tied",
        init_scale=0.3,
    )
    measured = population_optimum(
        TopicTransformer(config, seed=5), topics_per_doc, 1.1 * threshold / kappa_per_lambda, TopicTransformer.gram
    )
    assert max(abs(x) for x in measured.values()) < 1e-6


def test_finite_length_loss_tends_to_the_population_loss():
    vocab = Vocabulary(4, 3)
    matrix = torch.randn(12, 12, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    exact = population_loss_terms(torch.zeros(14, 14, dtype=torch.float64), matrix, vocab, 2)["mask"]
    bags, in_set = finite_length.sample_key_bags(vocab, 2, 10**7, 0.15, 2000, seed=0)
    assert torch.allclose(bags.sum(1), torch.ones(2000, dtype=torch.float64))
    assert bool(((bags > 0) <= in_set).all()) and bool((in_set.sum(1) == 6).all())
    assert float(finite_length.finite_length_loss(matrix, bags, in_set)) == pytest.approx(float(exact), rel=1e-3)
    short = finite_length.finite_length_loss(matrix, *finite_length.sample_key_bags(vocab, 2, 20, 0.15, 2000, seed=0))
    assert abs(float(short) - float(exact)) > 1e-3  # short documents are measurably different


@pytest.mark.parametrize(
    "call, name",
    [
        (lambda: value_matrix.value_optimum(1, 4, 1, 0.1), "num_topics"),
        (lambda: value_matrix.value_optimum(5, 1, 2, 0.1), "words_per_topic"),
        (lambda: value_matrix.value_optimum(5, 4, 6, 0.1), "topics_per_doc"),
        (lambda: value_matrix.value_optimum(5, 4, 2, 0.0), "weight_decay"),
        (lambda: value_matrix.value_optimum(5, 4, 2, 0.1, loss="hinge"), "loss"),
        (lambda: embeddings.embedding_optimum(5, 4, 0, 0.1), "topics_per_doc"),
        (lambda: embeddings.embedding_condition(5, 4, 2, -1.0), "weight_decay"),
        (lambda: IBJ(1, 0, 0).matrix(0, 2), "num_topics"),
        (lambda: finite_length.sample_key_bags(Vocabulary(3, 2), 2, 10, 1.0, 5, seed=0), "mask_prob"),
        (lambda: finite_length.sample_key_bags(Vocabulary(3, 2), 2, 0, 0.15, 5, seed=0), "doc_length"),
        (lambda: finite_length.fit_finite_length(TopicTransformer(ModelConfig(3, 2)), None, None, 0.1), "attention"),
    ],
)
def test_arguments_are_validated(call, name):
    with pytest.raises(ValueError, match=name):
        call()
