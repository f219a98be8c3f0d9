"""Finite document length: the optimum that training on sampled documents actually targets (C1, C2).

Training sees documents of finite length N, whose visible keys only approximate the uniform
distribution over the words of the topic set; :func:`fit_finite_length` computes the optimum of that
finite-length objective at uniform attention, so notebooks can separate the finite-N bias from
training error (notebooks/topic_structure/THEORY.md §4).
"""

from __future__ import annotations

import numpy as np
import torch

from topic_structure.data import Seed, Vocabulary, as_generator
from topic_structure.model import LOSSES, TopicTransformer
from topic_structure.params import (
    check_choice,
    check_doc_length,
    check_float,
    check_int,
    check_topic_counts,
    check_weight_decay,
)
from topic_structure.population import minimise_lbfgs


def sample_key_bags(
    vocab: Vocabulary,
    topics_per_doc: int,
    doc_length,
    mask_prob: float,
    num_docs: int,
    seed: Seed,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Key bags of ``num_docs`` equal-mixture documents of finite length.

    At uniform attention a document enters the model only through the frequencies of its visible
    (unchosen) words. Each of its N words is chosen with probability ``mask_prob``; the remaining
    ``K ~ Binomial(N, 1 - mask_prob)`` keys are i.i.d. uniform over the ``tau v`` words of S.
    Returns ``bags`` (num_docs, V) float64 word frequencies (rows sum to 1; a document with no
    visible key gets a zero row, as in the model) and ``in_set`` (num_docs, V) bool, the words of S.
    """
    check_topic_counts(vocab.num_topics, vocab.words_per_topic, topics_per_doc)
    low, high = check_doc_length(doc_length)
    check_float("mask_prob", mask_prob, 0.0, 1.0, low_open=True, high_open=True)
    check_int("num_docs", num_docs, 1)
    rng = as_generator(seed)
    v = vocab.words_per_topic
    topic_sets = np.argsort(rng.random((num_docs, vocab.num_topics)), axis=1)[:, :topics_per_doc]
    words = (topic_sets[:, :, None] * v + np.arange(v)).reshape(num_docs, -1)  # (n, tau v)
    keys = rng.binomial(rng.integers(low, high + 1, size=num_docs), 1 - mask_prob)
    counts = rng.multinomial(keys, np.full(words.shape[1], 1 / words.shape[1]))  # (n, tau v)
    bags = np.zeros((num_docs, vocab.num_words))
    np.put_along_axis(bags, words, counts / np.maximum(keys, 1)[:, None], axis=1)
    in_set = np.zeros((num_docs, vocab.num_words), dtype=bool)
    np.put_along_axis(in_set, words, True, axis=1)
    return torch.from_numpy(bags), torch.from_numpy(in_set)


def finite_length_loss(
    word_matrix: torch.Tensor, bags: torch.Tensor, in_set: torch.Tensor, loss: str = "cross_entropy"
) -> torch.Tensor:
    """Expected loss at uniform attention over sampled key bags, exact in the label.

    word_matrix: (V, V) logit of word y per unit attention on word k (``W_V`` for C2, ``E E^T``
    for C1); bags, in_set: (n, V) from :func:`sample_key_bags`. The chosen word is a fresh uniform
    draw from S, independent of the keys, so its expectation is taken exactly; only the keys are
    sampled. As the length grows this tends to the population loss (:mod:`population`).
    """
    check_choice("loss", loss, LOSSES)
    logits = bags.to(word_matrix.dtype) @ word_matrix.T  # (n, V)
    in_set = in_set.to(word_matrix.dtype)
    set_size = in_set.sum(1)
    if loss == "cross_entropy":
        per_doc = torch.logsumexp(logits, dim=1) - (logits * in_set).sum(1) / set_size
    else:  # (1/2) E_y ||z - e_y||^2
        per_doc = 0.5 * ((logits**2).sum(1) - 2 * (logits * in_set).sum(1) / set_size + 1)
    return per_doc.mean()


def fit_finite_length(
    model: TopicTransformer,
    bags: torch.Tensor,
    in_set: torch.Tensor,
    weight_decay: float,
    steps: int = 50,
    tolerance: float = 1e-12,
) -> list[float]:
    """Minimise :func:`finite_length_loss` + ``(weight_decay/2) sum ||W||^2`` over the model's
    trained matrices with L-BFGS: the optimum that training on documents of that length targets.

    Only uniform-attention models are meaningful here (their logits depend on the keys' bag alone).
    """
    if model.config.attention != "uniform":
        raise ValueError(
            f"model.config.attention must be 'uniform' for a bag-of-keys loss, got {model.config.attention!r}"
        )
    check_weight_decay(weight_decay)
    check_int("steps", steps, 1)
    V = model.vocab.num_words
    parameters = [p for p in model.parameters() if p.requires_grad]

    def objective() -> torch.Tensor:
        return (
            finite_length_loss(model.value_output_matrix()[:, :V], bags, in_set, model.config.loss)
            + weight_decay * model.l2_penalty()
        )

    return minimise_lbfgs(parameters, objective, steps, tolerance=tolerance, stop="loss_change")
