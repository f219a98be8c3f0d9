"""The cross-entropy population loss and its gradient written out, without autograd: what population gradient
descent (:mod:`theory.population_descent`, notebook 05) steps on.

The loss is :func:`population.combine_terms` of :func:`population.population_loss_terms` (notebooks/topic_structure/
THEORY.md §2), over every topic set; autograd through it keeps the (set, key, query) tensors, which at notebook 05's
sizes is most of a step. Here the attention of a set is split into per-topic pieces, so no tensor is larger than
(sets, queries, labels). Two routes give the same numbers to float rounding (tested against autograd).
"""

from __future__ import annotations

import functools
import itertools
import math
from typing import NamedTuple

import numpy as np
import torch

from topic_structure.data import Vocabulary
from topic_structure.params import check_choice, check_topic_counts

MAX_TOPIC_SETS = 200_000


def topic_sets(num_topics: int, topics_per_doc: int) -> torch.Tensor:
    """(C(T, tau), tau) long: every topic set, in lexicographic order."""
    check_topic_counts(num_topics, 1, topics_per_doc)
    count = math.comb(num_topics, topics_per_doc)
    if count > MAX_TOPIC_SETS:
        raise ValueError(
            f"C(num_topics, topics_per_doc) = C({num_topics}, {topics_per_doc}) = {count} topic sets is more "
            f"than the exact population loss enumerates ({MAX_TOPIC_SETS}); use fewer topics or topics_per_doc"
        )
    return torch.tensor(list(itertools.combinations(range(num_topics), topics_per_doc)))


class CrossEntropyPopulationLoss(torch.autograd.Function):
    """The cross-entropy population loss as a scalar tensor, differentiable in the score matrix and the value output:
    ``CrossEntropyPopulationLoss.apply(score_matrix, value_output, vocab, topics_per_doc, keep_prob, random_prob)``
    with score_matrix (vocab, vocab) [key, query] and value_output (V, vocab).

    The value of :func:`population.combine_terms` of :func:`population.population_loss_terms`, with its backward
    the gradient written out (:func:`cross_entropy_loss_and_gradient`) instead of autograd's through the (set, key,
    query) tensors: 9.6 ms against 52 ms per loss and gradient at T = v = 10, tau = 3 (the same at T = 4, v = 3).
    """

    @staticmethod
    def forward(ctx, score_matrix, value_output, vocab, topics_per_doc, keep_prob, random_prob):
        """The loss; its gradients are kept for :meth:`backward`."""
        loss, grad_scores, grad_values, _ = cross_entropy_loss_and_gradient(
            score_matrix.detach(), value_output.detach(), vocab, topics_per_doc, keep_prob, random_prob
        )
        ctx.save_for_backward(grad_scores, grad_values)
        return score_matrix.new_tensor(loss)

    @staticmethod
    def backward(ctx, grad_loss):
        """The kept gradients, times the incoming one; none for the settings."""
        grad_scores, grad_values = ctx.saved_tensors
        return grad_loss * grad_scores, grad_loss * grad_values, None, None, None, None


ROUTES = ("all_sets", "by_set")


@torch.no_grad()
def cross_entropy_loss_and_gradient(
    score_matrix: torch.Tensor,
    value_output: torch.Tensor,
    vocab: Vocabulary,
    topics_per_doc: int,
    keep_prob: float,
    random_prob: float,
    route: str = "all_sets",
) -> tuple[float, torch.Tensor, torch.Tensor, float]:
    """The cross-entropy population loss (:func:`combine_terms` of :func:`population_loss_terms`), its gradient
    written out, and the population same-topic mass, in one pass without autograd (population gradient descent).

    score_matrix: (vocab, vocab) [key, query]; value_output: (V, vocab). Returns ``(loss, d loss / d
    score_matrix (vocab, vocab), d loss / d value_output (V, vocab), mass)``, equal to autograd through
    :func:`population_loss_terms` to float rounding. ``mass`` is the mean of
    :func:`theory.attention.same_topic_mass`: the attention a word query whose topic is in S puts on its own
    topic's words.

    Two routes give the same numbers: ``"all_sets"`` (:func:`_all_sets_route`, the faster) computes every topic
    set at once; ``"by_set"`` (:func:`_by_set_route`) normalises each (set, query) row by its own largest topic
    score. The all-sets route hands over to the per-set one where a set's best topic is more than the
    exponential's range below its query's best (its weight would underflow).
    """
    check_choice("route", route, ROUTES)
    topics = _topic_scores(score_matrix, value_output, vocab, topics_per_doc)
    query_peak = topics.topic_peak.amax(0)  # (Q,)
    underflows = float((topics.topic_peak[topics.sets].amax(1) - query_peak).min()) < -_EXP_RANGE
    if route == "by_set" or underflows:
        return _by_set_route(topics, keep_prob, random_prob)
    return _all_sets_route(topics, query_peak, keep_prob, random_prob)


class _TopicScores(NamedTuple):
    """What both routes of :func:`cross_entropy_loss_and_gradient` start from: the set structure
    (:func:`_set_structure`), the content-word keys' scores grouped by topic and exponentiated with the topic's
    largest taken out, and the content words' value outputs shifted by their largest entry."""

    vocab: Vocabulary
    sets: torch.Tensor  # (S, tau) long
    words: torch.Tensor  # (S, L) long: the words of each set
    members: torch.Tensor  # (S, T): 1 where the set holds the topic
    label_topic: torch.Tensor  # (V,) long
    in_set_query: torch.Tensor  # (S, Q) bool
    topic_peak: torch.Tensor  # (T, Q): each topic's largest key score
    exp_scores: torch.Tensor  # (T, v, Q): e
    topic_mass: torch.Tensor  # (T, Q): Z
    values: torch.Tensor  # (V, V): value outputs of content words
    shifted_values: torch.Tensor  # (V, T, v): values minus their largest entry
    spread: float  # largest minus smallest value output
    score_matrix: torch.Tensor  # (vocab, vocab), as given
    value_output: torch.Tensor  # (V, vocab), as given


def _topic_scores(
    score_matrix: torch.Tensor, value_output: torch.Tensor, vocab: Vocabulary, topics_per_doc: int
) -> _TopicScores:
    V, v, T = vocab.num_words, vocab.words_per_topic, vocab.num_topics
    _check_population_shapes(score_matrix, value_output, V)
    sets, words, membership, label_topic, in_set_query = _set_structure(T, v, topics_per_doc)
    scores = score_matrix[:V, : V + 1].reshape(T, v, V + 1)  # keys are content words only; [MASK] is query V
    topic_peak = scores.amax(1)
    exp_scores = (scores - topic_peak[:, None, :]).exp_()
    values = value_output[:, :V]
    # Every logit is an average of value_output entries, so one shift (the largest entry) keeps every
    # exponential in (e^-spread, 1]; the loss and gradient do not depend on it.
    shift = values.max()
    return _TopicScores(
        vocab,
        sets,
        words,
        membership.to(score_matrix.dtype),
        label_topic,
        in_set_query,
        topic_peak,
        exp_scores,
        exp_scores.sum(1),
        values,
        (values - shift).reshape(V, T, v),
        float(shift - values.min()),
        score_matrix,
        value_output,
    )


def _all_sets_route(
    topics: _TopicScores, query_peak: torch.Tensor, keep_prob: float, random_prob: float
) -> tuple[float, torch.Tensor, torch.Tensor, float]:
    """:func:`cross_entropy_loss_and_gradient` over all topic sets at once.

    The per-set route normalises each (set, query) row by its own largest topic score, which makes every step a
    product batched over the queries. Shifting by the query's largest topic score instead, the attention of set
    ``S`` is ``a[S, k, q] = w[t(k), q] e[k, q] / M[S, q]`` with ``w[t, q] = exp(peak[t, q] - peak[q])`` and
    ``M[S, q] = sum_{t in S} w[t, q] Z[t, q]`` (the same numbers: the shifts cancel), so the logits of every set
    are one matrix product of the sets' membership (S, T) with the per-topic sums ``w[t, q] P[t, y, q]`` laid out
    (T, Q V), and the backward's sums over the sets that hold a topic are one product with its transpose. The
    softmax's expected logit is read from the logits themselves.
    """
    words, members, label_topic, in_set_query = topics.words, topics.members, topics.label_topic, topics.in_set_query
    exp_scores, topic_mass, values = topics.exp_scores, topics.topic_mass, topics.values
    V, v, T = topics.vocab.num_words, topics.vocab.words_per_topic, topics.vocab.num_topics
    count, labels = words.shape
    queries, dtype = V + 1, members.dtype
    topic_weight = (topics.topic_peak - query_peak).exp_()  # (T, Q): w
    set_mass = members @ (topic_weight * topic_mass)  # (S, Q): M
    partial = torch.einsum("ytk,tkq->tqy", topics.shifted_values, exp_scores)  # (T, Q, V): P[t, y, q] - shift Z
    logits = _workspace((count, queries, V), dtype, 0)
    torch.mm(members, (partial * topic_weight[:, :, None]).view(T, queries * V), out=logits.view(count, -1))
    logits /= set_mass[:, :, None]  # (S, Q, V), minus shift
    own = logits.view(count, -1).gather(1, words * (V + 1))  # (S, L): logit of word y at query y
    # mean logit over the set's words: sum_{t, u in S} w[t, q] sum_{y in u} P[t, y, q] / (M[S, q] L)
    both = (members[:, :, None] * members[:, None, :]).view(count, T * T)  # (S, T T): the set holds t and u
    topic_sums = partial.view(T, queries, T, v).sum(3) * topic_weight[:, :, None]  # (T, Q, T)
    label_mean = (both @ topic_sums.transpose(1, 2).reshape(T * T, queries)) / (set_mass * labels)  # (S, Q)
    row_peak = torch.zeros(count, queries, 1, dtype=dtype)
    if topics.spread > _EXP_RANGE:  # exponentials could underflow: shift each row by its own largest logit
        row_peak = logits.amax(2, keepdim=True)
        logits -= row_peak
    exp_logits = _workspace((count, queries, V), dtype, 1)
    np.exp(logits.numpy(), out=exp_logits.numpy())  # numpy's exponential: the same to the last bit or two, faster
    partition = exp_logits.sum(2)  # (S, Q)
    log_partition = partition.log() + row_peak.squeeze(2)  # (S, Q), minus shift
    expected_logit = logits.mul_(exp_logits).sum(2) / partition + row_peak.squeeze(2)  # (S, Q); logits spent
    loss, keep_each, label_weight, row_weight = _loss_and_row_weights(
        log_partition, label_mean, own, words, in_set_query, keep_prob, random_prob
    )
    # d loss / d logits as in the per-set route; H[t, y, q] = sum_{S owns t} c[S, t, q] d loss / d logits
    own_query = torch.zeros(count, queries, dtype=dtype).scatter_(1, words, own)
    backward_mean = row_weight * expected_logit - label_weight * label_mean - keep_each * own_query  # (S, Q): b
    exp_logits *= (row_weight / (partition * set_mass))[:, :, None]  # the softmax part of d loss / d logits, over M
    accumulated = _workspace((T, queries, V), dtype, 2)
    torch.mm(members.T, exp_logits.view(count, -1), out=accumulated.view(T, -1))
    accumulated *= topic_weight[:, :, None]  # (T, Q, V): H, softmax part
    # label part through the topic pairs: K[t, q, u] = sum_{S owns t and u} c[S, t, q]
    pairs = (both.T @ set_mass.reciprocal()).view(T, T, queries).transpose(1, 2) * topic_weight[:, :, None]
    accumulated -= (pairs * (label_weight / labels)[None, :, None]).repeat_interleave(v, dim=2)
    diagonal = pairs[:, :V].gather(2, label_topic.view(1, V, 1).expand(T, V, 1)).squeeze(2)  # (T, V): K[t, y, t(y)]
    accumulated[:, :V].diagonal(dim1=1, dim2=2).sub_(keep_each * diagonal)  # H[t, y, y]
    weighted_mean = topic_weight * (members.T @ (backward_mean / set_mass))  # (T, Q): sum_S c[S, t, q] b[S, q]
    grad_values = torch.einsum("tkq,tqy->ytk", exp_scores, accumulated).reshape(V, V)
    grad_attention = torch.einsum("ytk,tqy->tkq", values.reshape(V, T, v), accumulated)  # (T, v, Q)
    grad_scores = exp_scores * (grad_attention - weighted_mean[:, None, :])
    grad_score_matrix, grad_value_output = _embedded(grad_scores, grad_values, topics)
    # the attention a word query puts on its own topic's words: c[S, t(q), q] Z[t(q), q]
    word = torch.arange(V)
    own_weight = topic_weight[label_topic, word] * topic_mass[label_topic, word]  # (V,)
    own_topic_mass = members[:, label_topic] * own_weight / set_mass[:, :V]  # (S, V)
    mass = own_topic_mass[in_set_query[:, :V]].mean()
    return float(loss), grad_score_matrix, grad_value_output, float(mass)


def _embedded(
    grad_scores: torch.Tensor, grad_values: torch.Tensor, topics: _TopicScores
) -> tuple[torch.Tensor, torch.Tensor]:
    """The gradients with respect to the whole (vocab, vocab) score matrix and (V, vocab) value output, from those
    of the entries the loss reads: (T, v, Q) scores of content-word keys and (V, V) values of content words."""
    V, queries = grad_values.shape[0], grad_scores.shape[-1]
    grad_score_matrix = torch.zeros_like(topics.score_matrix)
    grad_score_matrix[:V, :queries] = grad_scores.reshape(V, queries)
    grad_value_output = torch.zeros_like(topics.value_output)
    grad_value_output[:, :V] = grad_values
    return grad_score_matrix, grad_value_output


def _check_population_shapes(score_matrix: torch.Tensor, value_output: torch.Tensor, V: int) -> None:
    if score_matrix.shape[0] < V + 1 or score_matrix.shape[1] < V + 1 or value_output.shape[0] != V:
        raise ValueError(
            f"score_matrix must be at least ({V + 1}, {V + 1}) and value_output ({V}, >= {V}), got "
            f"{tuple(score_matrix.shape)} and {tuple(value_output.shape)}"
        )


def _by_set_route(
    topics: _TopicScores, keep_prob: float, random_prob: float
) -> tuple[float, torch.Tensor, torch.Tensor, float]:
    """:func:`cross_entropy_loss_and_gradient` one (set, query) row at a time, batched over the queries.

    How it avoids the (set, key, query) tensors: a set's keys are the words of its ``tau`` topics, so its
    attention is ``a[S, k, q] = e[k, q] c[S, t(k), q]`` with ``e`` the key's exponentiated score (shifted by its
    topic's largest) and ``c`` one weight per (set, topic, query); the logits are then ``sum_t c[S, t, q]
    P[t, y, q]`` with per-topic partial sums ``P[t] = value_output[:, t] @ e[t]``. Backward runs the same
    way: the gradients of ``value_output`` and the scores need only ``H[t] = sum_{S owns t} c[S, t] *
    d loss / d logits[S]``. The label-averaged loss of a (topic set, query) pair is ``log Z - E_y[logit_y]``
    and the gradient of a softmax cross-entropy is ``softmax - one_hot(label)``, so the label terms enter
    ``H`` through the topic pairs a set holds, never through the (set, label, query) array.
    """
    words, members, label_topic, in_set_query = topics.words, topics.members, topics.label_topic, topics.in_set_query
    topic_peak, exp_scores, topic_mass, values = topics.topic_peak, topics.exp_scores, topics.topic_mass, topics.values
    V, v, T = topics.vocab.num_words, topics.vocab.words_per_topic, topics.vocab.num_topics
    count, labels = words.shape
    queries, dtype = V + 1, members.dtype
    # c[q, S, t] = exp(peak[t] - peak[S]) / Z[S] for t in S, 0 otherwise, laid out (Q, S, T) for batched matmuls
    set_peak = topic_peak[topics.sets].amax(1)  # (S, Q)
    relative = (topic_peak.T[:, None, :] - set_peak.T[:, :, None]).clamp_(max=0).exp_().mul_(members)  # (Q, S, T)
    set_mass = (relative * topic_mass.T[:, None, :]).sum(2, keepdim=True)  # (Q, S, 1)
    weights = relative.div_(set_mass)
    partial = torch.einsum("ytk,tkq->qty", topics.shifted_values, exp_scores)  # (Q, T, V): P[t, y, q] - shift Z
    logits = torch.bmm(weights, partial, out=_workspace((queries, count, V), dtype, 0))  # (Q, S, V), minus shift
    own = logits[:V].diagonal(dim1=0, dim2=2).gather(1, words)  # (S, L): logit of word y at query y
    # mean logit over the set's words: sum_t c[S, t, q] sum_{u in S} sum_{y in u} P[t, y, q]
    set_sums = (partial.view(queries, T, T, v).sum(3) @ members.T).transpose(1, 2)  # (Q, S, T)
    label_mean = (weights * set_sums).sum(2).T / labels  # (S, Q)
    row_peak = torch.zeros(queries, count, 1, dtype=dtype)
    if topics.spread > _EXP_RANGE:  # exponentials could underflow: shift each row by its own largest logit
        row_peak = logits.amax(2, keepdim=True)
        logits -= row_peak
    exp_logits = logits.exp_()  # (Q, S, V), in place: the softmax over labels, not normalised
    partition = exp_logits.sum(2)  # (Q, S)
    log_partition = (partition.log() + row_peak.squeeze(2)).T  # (S, Q), minus shift
    loss, keep_each, label_weight, row_weight = _loss_and_row_weights(
        log_partition, label_mean, own, words, in_set_query, keep_prob, random_prob
    )
    # d loss / d logits[S, y, q] = row[S, q] softmax[S, y, q] - [y in S] (label[q] / L + [y = q] keep / (S L)),
    # with label[q] the weight of each (set, query) row of the mask and random terms and row[S, q] = label[q]
    # plus the keep weight when q is in S.
    # b[S, q] = sum_y (d loss / d logits) logits, the softmax-backward term of the attention; its softmax part
    # E_softmax[logit] = sum_t c[S, t, q] sum_y softmax[S, y, q] P[t, y, q]
    expected_logit = (torch.bmm(exp_logits, partial.transpose(1, 2)) * weights).sum(2).T / partition.T  # (S, Q)
    own_query = torch.zeros(count, queries, dtype=dtype).scatter_(1, words, own)  # (S, Q): logit q at query q
    backward_mean = row_weight * expected_logit - label_weight * label_mean - keep_each * own_query  # (S, Q)
    # H[t, y, q] = sum_{S owns t} c[S, t, q] d loss / d logits[S, y, q], softmax part through a matmul ...
    scaled = weights * (row_weight.T / partition)[:, :, None]  # (Q, S, T)
    accumulated = torch.bmm(scaled.transpose(1, 2), exp_logits)  # (Q, T, V)
    # ... label part through the topic pairs: K[q, t, u] = sum_{S owns t and u} c[S, t, q]
    pairs = weights.transpose(1, 2) @ members  # (Q, T, T)
    accumulated -= (pairs * (label_weight / labels)[:, None, None]).repeat_interleave(v, dim=2)
    diagonal = pairs[:V].gather(2, label_topic.view(V, 1, 1).expand(V, T, 1)).squeeze(2)  # (V, T): K[y, t, t(y)]
    accumulated[:V].diagonal(dim1=0, dim2=2).sub_(keep_each * diagonal.T)  # H[t, y, y]
    weighted_mean = (weights * backward_mean.T[:, :, None]).sum(1).T  # (T, Q): sum_S c[S, t, q] b[S, q]
    # d value_output[y, k] = sum_q e[k, q] H[t(k), y, q];
    # d score[k, q] = e[k, q] (sum_y value_output[y, k] H[t(k), y, q] - sum_{S owns t(k)} c[S, t(k), q] b[S, q])
    grad_values = torch.einsum("tkq,qty->ytk", exp_scores, accumulated).reshape(V, V)
    grad_attention = torch.einsum("ytk,qty->tkq", values.reshape(V, T, v), accumulated)  # (T, v, Q)
    grad_scores = exp_scores * (grad_attention - weighted_mean[:, None, :])
    grad_score_matrix, grad_value_output = _embedded(grad_scores, grad_values, topics)
    # the attention a word query puts on its own topic's words: c[S, t(q), q] Z[t(q), q]
    own_topic_mass = weights[torch.arange(V), :, label_topic].T * topic_mass[label_topic, torch.arange(V)]  # (S, V)
    mass = own_topic_mass[in_set_query[:, :V]].mean()
    return float(loss), grad_score_matrix, grad_value_output, float(mass)


_EXP_RANGE = 600.0  # e^-600 is far above the smallest normal float64 (about e^-708)


def _loss_and_row_weights(
    log_partition: torch.Tensor,
    label_mean: torch.Tensor,
    own: torch.Tensor,
    words: torch.Tensor,
    in_set_query: torch.Tensor,
    keep_prob: float,
    random_prob: float,
) -> tuple[torch.Tensor, float, torch.Tensor, torch.Tensor]:
    """The population loss from the (S, Q) log-partitions and mean label logits (``own``: the (S, L) logit of
    each word of a set kept in place, at ``words``), and the weights of its backward: ``keep_each`` (a kept
    word's), ``label_weight`` (Q,) (a (set, query) row's under the mask and random terms) and ``row_weight``
    (S, Q) (those plus the keep weight where the query is in the set)."""
    count, queries = log_partition.shape
    V, labels = queries - 1, words.shape[1]
    mask_weight, keep_weight, random_weight = 1 - keep_prob - random_prob, keep_prob, random_prob
    loss = (
        mask_weight * (log_partition[:, V] - label_mean[:, V]).mean()
        + keep_weight * (log_partition.gather(1, words) - own).mean()
        + random_weight * (log_partition[:, :V] - label_mean[:, :V]).mean()
    )
    keep_each = keep_weight / (count * labels)
    label_weight = torch.full((queries,), random_weight / (count * V), dtype=log_partition.dtype)
    label_weight[V] = mask_weight / count
    row_weight = label_weight + keep_each * in_set_query.to(log_partition.dtype)  # (S, Q)
    return loss, keep_each, label_weight, row_weight


@functools.lru_cache(maxsize=8)
def _workspace(shape: tuple[int, ...], dtype: torch.dtype, slot: int) -> torch.Tensor:
    """A reused scratch tensor (``slot`` tells apart several of one shape) for the (S, Q, V) arrays of the population
    gradient: allocating 10 MB afresh each step costs as much as the matrix product that fills it (page faults)."""
    return torch.empty(shape, dtype=dtype)


@functools.cache
def _set_structure(num_topics: int, words_per_topic: int, topics_per_doc: int) -> tuple[torch.Tensor, ...]:
    """For :func:`cross_entropy_loss_and_gradient`: the topic sets (S, tau) long, the words of each (S, L) long,
    which topics each set holds (S, T) bool, each word's topic (V,) long, and whether each query (V words,
    then [MASK]) is one of the set's words (S, V + 1) bool."""
    V, v = num_topics * words_per_topic, words_per_topic
    sets = topic_sets(num_topics, topics_per_doc)  # (S, tau)
    words = (sets[:, :, None] * v + torch.arange(v)).flatten(1)  # (S, L)
    membership = torch.zeros(len(sets), num_topics, dtype=torch.bool).scatter_(1, sets, True)
    label_topic = torch.arange(V) // v
    in_set_query = torch.cat([membership[:, label_topic], torch.zeros(len(sets), 1, dtype=torch.bool)], 1)
    return sets, words, membership, label_topic, in_set_query
