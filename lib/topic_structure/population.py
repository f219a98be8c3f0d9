"""The exact population loss of equal-mixture documents in the limit N -> infinity.

The setting is notebooks/topic_structure/THEORY.md §2.

With chosen positions removed from the keys, the visible keys of a document with topic set ``S``
are, as N grows, exactly uniform over the ``tau * v`` words of ``S``, and the chosen word ``y`` is a
fresh uniform draw from them. So for a query token ``q`` the attention is a softmax over the word
*types* of ``S``, and the expected loss is a finite average:

    L = (1 - p_c - p_r) E_{S,y} loss(q=[MASK])  +  p_c E_{S,y} loss(q=y)  +  p_r E_{S,y} E_{r~U(V)} loss(q=r)

over all ``C(T, tau)`` topic sets. Nothing here assumes symmetric matrices: it takes the full
(vocab x vocab) score matrix and (V x vocab) value-output matrix, and it is differentiable in both,
so it is the numeric twin of every symbolic claim.
"""

from __future__ import annotations

import functools
import itertools
import math
from collections.abc import Callable

import numpy as np
import torch

from topic_structure.data import Vocabulary
from topic_structure.model import LOSSES, TopicTransformer
from topic_structure.params import (
    DEFAULT_MASK_PROB,
    check_choice,
    check_float,
    check_int,
    check_learning_rate,
    check_masking_probabilities,
    check_topic_counts,
    check_weight_decay,
)

# Error model of a float64 L-BFGS optimum (:func:`fit_population`): it stops where the loss no longer changes in the
# last bit, so an entry is determined only to about sqrt(eps |L| / curvature) ~ 1e-6 of the matrix's largest entry
# (eps = 2.2e-16, the penalty's curvature lambda >= 1e-4, |L| ~ 3); measured over the held-out settings of the tests:
# at most 2e-7 of the scale. 1e-5 of the scale is ten times the error model.
EXACT_TOLERANCE = 1e-5
EXACT_REASON = (
    "float64 L-BFGS stops where the loss is flat to the last bit: entries are determined to about "
    "sqrt(2.2e-16 |L| / lambda) ~ 1e-6 of the largest entry; 1e-5 of it is ten times that"
)

QUERY_KINDS = ("mask", "keep", "random")
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


def population_loss_terms(
    score_matrix: torch.Tensor,
    value_output: torch.Tensor,
    vocab: Vocabulary,
    topics_per_doc: int,
    loss: str = "cross_entropy",
    chunk_size: int = 512,
) -> dict[str, torch.Tensor]:
    """The expected loss for each query kind: ``{"mask", "keep", "random"}`` -> scalar tensor.

    score_matrix: (vocab, vocab) score of key token k for query token q, indexed [k, q].
    value_output: (V, vocab) logit of word y per unit attention on token k (``W_pred W_V E^T``).
    """
    check_choice("loss", loss, LOSSES)
    V, v = vocab.num_words, vocab.words_per_topic
    if score_matrix.shape[0] < V + 1 or score_matrix.shape[1] < V + 1:
        raise ValueError(
            f"score_matrix must be at least ({V + 1}, {V + 1}) (content words and [MASK]), "
            f"got {tuple(score_matrix.shape)}"
        )
    if value_output.shape[0] != V or value_output.shape[1] < V:
        raise ValueError(f"value_output must be ({V}, >= {V}), got {tuple(value_output.shape)}")
    sets = topic_sets(vocab.num_topics, topics_per_doc)
    queries = torch.arange(V + 1)  # every content word, then [MASK] (= V)
    totals = dict.fromkeys(QUERY_KINDS, 0.0)
    for chunk in sets.split(chunk_size):
        words = (chunk[:, :, None] * v + torch.arange(v)).flatten(1)  # (S, tau v): the words of each set
        attention = torch.softmax(score_matrix[words][:, :, queries], dim=1)  # (S, tau v keys, V+1 queries)
        logits = (value_output[:, words].permute(1, 0, 2) @ attention).transpose(1, 2)  # (S, V+1, V)
        per_label = _loss_per_label(logits, words, loss)  # (S, V+1 queries, tau v labels)
        label_index = torch.arange(words.shape[1])
        totals["mask"] = totals["mask"] + per_label[:, V, :].sum()
        totals["keep"] = totals["keep"] + per_label[torch.arange(len(chunk))[:, None], words, label_index].sum()
        totals["random"] = totals["random"] + per_label[:, :V, :].mean(1).sum()
    pairs = len(sets) * topics_per_doc * v  # (topic set, label) pairs averaged over
    return {kind: total / pairs for kind, total in totals.items()}


def _loss_per_label(logits: torch.Tensor, labels: torch.Tensor, loss: str) -> torch.Tensor:
    """logits (S, Q, V), labels (S, L) -> loss of each query against each label, (S, Q, L)."""
    index = labels[:, None, :].expand(-1, logits.shape[1], -1)
    if loss == "cross_entropy":
        return -torch.log_softmax(logits, dim=-1).gather(2, index)
    # 0.5 ||logits - e_y||^2 = 0.5 (||logits||^2 - 2 logits_y + 1)
    return 0.5 * ((logits**2).sum(-1, keepdim=True) - 2 * logits.gather(2, index) + 1)


def combine_terms(terms: dict[str, torch.Tensor], keep_prob: float, random_prob: float) -> torch.Tensor:
    """Weight the query kinds by how often a chosen position shows each."""
    return (1 - keep_prob - random_prob) * terms["mask"] + keep_prob * terms["keep"] + random_prob * terms["random"]


def population_loss(
    model: TopicTransformer,
    topics_per_doc: int,
    keep_prob: float,
    random_prob: float,
    weight_decay: float = 0.0,
) -> torch.Tensor:
    """The model's exact population loss plus ``(weight_decay / 2) * sum ||W||_F^2``.

    Assumes chosen positions are not attended to (the default masking), which is what makes the
    visible keys uniform over the document's words.
    """
    check_masking_probabilities(DEFAULT_MASK_PROB, keep_prob, random_prob)
    check_weight_decay(weight_decay)
    terms = population_loss_terms(
        model.score_matrix(), model.value_output_matrix(), model.vocab, topics_per_doc, model.config.loss
    )
    loss = combine_terms(terms, keep_prob, random_prob)
    return loss + weight_decay * model.l2_penalty() if weight_decay else loss


def fit_population(
    model: TopicTransformer,
    topics_per_doc: int,
    keep_prob: float,
    random_prob: float,
    weight_decay: float,
    steps: int = 200,
    method: str = "lbfgs",
    learning_rate: float = 1.0,
    tolerance: float = 1e-9,
) -> list[float]:
    """Minimise the population loss over the model's trained matrices; return the loss per step.

    ``lbfgs`` (strong Wolfe line search) runs until the largest gradient entry is at most
    ``tolerance``, a round of 20 iterations leaves the loss unchanged to the last bit (machine
    precision reached), or ``steps`` rounds; ``gd`` is plain full-batch gradient
    descent with step ``learning_rate``, the discretised gradient flow. The first loss is the
    starting point's. Run the model in
    float64 (``model.double()``) to compare optima to 1e-4 relative or better.
    """
    check_int("steps", steps, 1)
    check_choice("method", method, ("lbfgs", "gd"))
    check_learning_rate(learning_rate)
    parameters = [p for p in model.parameters() if p.requires_grad]
    if not parameters:
        raise ValueError("the model has no trained matrices to fit")

    def objective() -> torch.Tensor:
        return population_loss(model, topics_per_doc, keep_prob, random_prob, weight_decay)

    if method == "lbfgs":
        return minimise_lbfgs(parameters, objective, steps, tolerance=tolerance, learning_rate=learning_rate)
    losses: list[float] = []
    optimizer = torch.optim.SGD(parameters, lr=learning_rate)
    for _ in range(steps):
        optimizer.zero_grad()
        loss = objective()
        loss.backward()
        optimizer.step()
        losses.append(float(loss.detach()))
    return losses


def minimise_lbfgs(
    parameters: list[torch.Tensor],
    objective: Callable[[], torch.Tensor],
    rounds: int,
    *,
    tolerance: float,
    stop: str = "gradient",
    iterations: int = 20,
    learning_rate: float = 1.0,
) -> list[float]:
    """Minimise a deterministic scalar ``objective()`` over ``parameters`` (leaf tensors, float64 for
    precise optima) by L-BFGS with strong Wolfe line search, in up to ``rounds`` rounds of ``iterations``
    iterations (history 50): the one L-BFGS loop of the library (exact population losses, the
    finite-length loss, full score matrices).

    Two stopping rules, kept as they were calibrated (the claims' tolerances rest on them):

    - ``stop="gradient"``: stop once the largest gradient entry is at most ``tolerance`` or a round
      leaves the loss unchanged to the last bit (machine precision). Flat directions pinned only by a
      weak penalty make a stalled loss no proof of convergence, so a small relative change is not
      enough. Returns the starting loss and the loss after every round.
    - ``stop="loss_change"``: L-BFGS's own gradient and change tolerances are ``tolerance``; stop after
      the round that started within ``tolerance`` (relative, at least absolute) of the previous
      round's start. Returns the loss at the start of every round.
    """
    check_int("rounds", rounds, 1)
    check_float("tolerance", tolerance, 0.0)
    check_choice("stop", stop, ("gradient", "loss_change"))
    check_int("iterations", iterations, 1)
    optimizer = torch.optim.LBFGS(
        parameters,
        lr=learning_rate,
        max_iter=iterations,
        history_size=50,
        tolerance_grad=tolerance,
        tolerance_change=1e-16 if stop == "gradient" else tolerance,
        line_search_fn="strong_wolfe",
    )

    def closure() -> torch.Tensor:
        optimizer.zero_grad()
        value = objective()
        value.backward()
        return value

    losses: list[float] = []
    if stop == "gradient":
        losses.append(float(closure().detach()))
        for _ in range(rounds):
            optimizer.step(closure)
            losses.append(float(closure().detach()))  # loss and gradient at the new point
            stalled = losses[-1] == losses[-2]
            if stalled or max(float(p.grad.abs().max()) for p in parameters) <= tolerance:
                break
        return losses
    for _ in range(rounds):
        losses.append(float(optimizer.step(closure).detach()))
        if len(losses) > 1 and abs(losses[-2] - losses[-1]) <= tolerance * max(1.0, abs(losses[-1])):
            break
    return losses


@torch.no_grad()
def cross_entropy_loss_and_gradient(
    score_matrix: torch.Tensor,
    value_output: torch.Tensor,
    vocab: Vocabulary,
    topics_per_doc: int,
    keep_prob: float,
    random_prob: float,
) -> tuple[float, torch.Tensor, torch.Tensor, float]:
    """:func:`loss_and_gradient_by_set` (its arguments and returns), computed over all topic sets at once.

    There, each (set, query) row is normalised by its own largest topic score, which makes every step a product
    batched over the queries. Shifting by the query's largest topic score instead, the attention of set ``S`` is
    ``a[S, k, q] = w[t(k), q] e[k, q] / M[S, q]`` with ``w[t, q] = exp(peak[t, q] - peak[q])`` and ``M[S, q] =
    sum_{t in S} w[t, q] Z[t, q]`` (the same numbers: the shifts cancel), so the logits of every set are one matrix
    product of the sets' membership (S, T) with the per-topic sums ``w[t, q] P[t, y, q]`` laid out (T, Q V), and the
    backward's sums over the sets that hold a topic are one product with its transpose. The softmax's expected logit
    is read from the logits themselves. Where a set's best topic is more than the exponential's range below its
    query's best (``w`` would underflow), the per-set route runs instead.
    """
    V, v, T = vocab.num_words, vocab.words_per_topic, vocab.num_topics
    _check_population_shapes(score_matrix, value_output, V)
    sets, words, membership, label_topic, in_set_query = _set_structure(T, v, topics_per_doc)
    count, labels = words.shape
    queries, dtype = V + 1, score_matrix.dtype
    scores = score_matrix[:V, :queries].reshape(T, v, queries)  # keys are content words only; [MASK] is query V
    topic_peak = scores.amax(1)  # (T, Q)
    query_peak = topic_peak.amax(0)  # (Q,)
    if float((topic_peak[sets].amax(1) - query_peak).min()) < -_EXP_RANGE:
        return loss_and_gradient_by_set(score_matrix, value_output, vocab, topics_per_doc, keep_prob, random_prob)
    members = membership.to(dtype)  # (S, T)
    exp_scores = (scores - topic_peak[:, None, :]).exp_()  # (T, v, Q): e
    topic_mass = exp_scores.sum(1)  # (T, Q): Z
    topic_weight = (topic_peak - query_peak).exp_()  # (T, Q): w
    set_mass = members @ (topic_weight * topic_mass)  # (S, Q): M
    values = value_output[:, :V]
    shift = values.max()  # one shift keeps every exponential of a logit in (e^-spread, 1]
    spread = float(shift - values.min())
    shifted_values = (values - shift).reshape(V, T, v)
    partial = torch.einsum("ytk,tkq->tqy", shifted_values, exp_scores)  # (T, Q, V): P[t, y, q] - shift Z[t, q]
    logits = _workspace((count, queries, V), dtype, 0)
    torch.mm(members, (partial * topic_weight[:, :, None]).view(T, queries * V), out=logits.view(count, -1))
    logits /= set_mass[:, :, None]  # (S, Q, V), minus shift
    own = logits.view(count, -1).gather(1, words * (V + 1))  # (S, L): logit of word y at query y
    # mean logit over the set's words: sum_{t, u in S} w[t, q] sum_{y in u} P[t, y, q] / (M[S, q] L)
    both = (members[:, :, None] * members[:, None, :]).view(count, T * T)  # (S, T T): the set holds t and u
    topic_sums = partial.view(T, queries, T, v).sum(3) * topic_weight[:, :, None]  # (T, Q, T)
    label_mean = (both @ topic_sums.transpose(1, 2).reshape(T * T, queries)) / (set_mass * labels)  # (S, Q)
    row_peak = torch.zeros(count, queries, 1, dtype=dtype)
    if spread > _EXP_RANGE:  # exponentials could underflow: shift each row by its own largest logit
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
    # d loss / d logits as in loss_and_gradient_by_set; H[t, y, q] = sum_{S owns t} c[S, t, q] d loss / d logits
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
    grad_score_matrix, grad_value_output = _embedded(grad_scores, grad_values, score_matrix, value_output)
    # the attention a word query puts on its own topic's words: c[S, t(q), q] Z[t(q), q]
    word = torch.arange(V)
    own_weight = topic_weight[label_topic, word] * topic_mass[label_topic, word]  # (V,)
    own_topic_mass = members[:, label_topic] * own_weight / set_mass[:, :V]  # (S, V)
    mass = own_topic_mass[in_set_query[:, :V]].mean()
    return float(loss), grad_score_matrix, grad_value_output, float(mass)


def _embedded(
    grad_scores: torch.Tensor, grad_values: torch.Tensor, score_matrix: torch.Tensor, value_output: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """The gradients with respect to the whole (vocab, vocab) score matrix and (V, vocab) value output, from those
    of the entries the loss reads: (T, v, Q) scores of content-word keys and (V, V) values of content words."""
    V, queries = grad_values.shape[0], grad_scores.shape[-1]
    grad_score_matrix = torch.zeros_like(score_matrix)
    grad_score_matrix[:V, :queries] = grad_scores.reshape(V, queries)
    grad_value_output = torch.zeros_like(value_output)
    grad_value_output[:, :V] = grad_values
    return grad_score_matrix, grad_value_output


def _check_population_shapes(score_matrix: torch.Tensor, value_output: torch.Tensor, V: int) -> None:
    if score_matrix.shape[0] < V + 1 or score_matrix.shape[1] < V + 1 or value_output.shape[0] != V:
        raise ValueError(
            f"score_matrix must be at least ({V + 1}, {V + 1}) and value_output ({V}, >= {V}), got "
            f"{tuple(score_matrix.shape)} and {tuple(value_output.shape)}"
        )


@torch.no_grad()
def loss_and_gradient_by_set(
    score_matrix: torch.Tensor,
    value_output: torch.Tensor,
    vocab: Vocabulary,
    topics_per_doc: int,
    keep_prob: float,
    random_prob: float,
) -> tuple[float, torch.Tensor, torch.Tensor, float]:
    """The cross-entropy population loss (:func:`combine_terms` of :func:`population_loss_terms`), its gradient
    written out, and the population same-topic mass, in one pass without autograd (population gradient descent).

    score_matrix: (vocab, vocab) [key, query]; value_output: (V, vocab). Returns ``(loss, d loss / d
    score_matrix (vocab, vocab), d loss / d value_output (V, vocab), mass)``, equal to autograd through
    :func:`population_loss_terms` to float rounding. ``mass`` is the mean of
    :func:`theory.attention.same_topic_mass`: the attention a word query whose topic is in S puts on its own
    topic's words.

    How it avoids the (set, key, query) tensors: a set's keys are the words of its ``tau`` topics, so its
    attention is ``a[S, k, q] = e[k, q] c[S, t(k), q]`` with ``e`` the key's exponentiated score (shifted by its
    topic's largest) and ``c`` one weight per (set, topic, query); the logits are then ``sum_t c[S, t, q]
    P[t, y, q]`` with per-topic partial sums ``P[t] = value_output[:, t] @ e[t]``. Backward runs the same
    way: the gradients of ``value_output`` and the scores need only ``H[t] = sum_{S owns t} c[S, t] *
    d loss / d logits[S]``. The label-averaged loss of a (topic set, query) pair is ``log Z - E_y[logit_y]``
    and the gradient of a softmax cross-entropy is ``softmax - one_hot(label)``, so the label terms enter
    ``H`` through the topic pairs a set holds, never through the (set, label, query) array.
    """
    V, v, T = vocab.num_words, vocab.words_per_topic, vocab.num_topics
    _check_population_shapes(score_matrix, value_output, V)
    sets, words, membership, label_topic, in_set_query = _set_structure(T, v, topics_per_doc)
    count, labels = words.shape
    dtype = score_matrix.dtype
    members = membership.to(dtype)  # (S, T): 1 where the set holds the topic
    queries = V + 1
    scores = score_matrix[:V, :queries].reshape(T, v, queries)  # keys are content words only; [MASK] is query V
    values = value_output[:, :V]
    # exponentiated scores per topic, shifted by the topic's largest: e (T, v, Q), topic mass Z (T, Q)
    topic_peak = scores.amax(1)  # (T, Q)
    exp_scores = (scores - topic_peak[:, None, :]).exp_()
    topic_mass = exp_scores.sum(1)
    # c[q, S, t] = exp(peak[t] - peak[S]) / Z[S] for t in S, 0 otherwise, laid out (Q, S, T) for batched matmuls
    set_peak = topic_peak[sets].amax(1)  # (S, Q)
    relative = (topic_peak.T[:, None, :] - set_peak.T[:, :, None]).clamp_(max=0).exp_().mul_(members)  # (Q, S, T)
    set_mass = (relative * topic_mass.T[:, None, :]).sum(2, keepdim=True)  # (Q, S, 1)
    weights = relative.div_(set_mass)
    # Every logit is an average of value_output entries, so one shift (the largest entry) keeps every
    # exponential in (e^-spread, 1]; the loss and gradient do not depend on it.
    shift = values.max()
    spread = float(shift - values.min())
    shifted_values = (values - shift).reshape(V, T, v)
    partial = torch.einsum("ytk,tkq->qty", shifted_values, exp_scores)  # (Q, T, V): P[t, y, q] - shift Z[t, q]
    logits = torch.bmm(weights, partial, out=_workspace((queries, count, V), dtype, 0))  # (Q, S, V), minus shift
    own = logits[:V].diagonal(dim1=0, dim2=2).gather(1, words)  # (S, L): logit of word y at query y
    # mean logit over the set's words: sum_t c[S, t, q] sum_{u in S} sum_{y in u} P[t, y, q]
    set_sums = (partial.view(queries, T, T, v).sum(3) @ members.T).transpose(1, 2)  # (Q, S, T)
    label_mean = (weights * set_sums).sum(2).T / labels  # (S, Q)
    row_peak = torch.zeros(queries, count, 1, dtype=dtype)
    if spread > _EXP_RANGE:  # exponentials could underflow: shift each row by its own largest logit
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
    grad_score_matrix, grad_value_output = _embedded(grad_scores, grad_values, score_matrix, value_output)
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
