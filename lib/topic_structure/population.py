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

from collections.abc import Callable
from dataclasses import dataclass

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
    check_weight_decay,
)
from topic_structure.population_gradient import CrossEntropyPopulationLoss, topic_sets

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


@dataclass(frozen=True)
class Setting:
    """The standard parameters an exact route needs: the topic model's counts, the masking rates and the weight
    decay of the population loss, and the seed of the starting point."""

    num_topics: int
    words_per_topic: int
    topics_per_doc: int
    weight_decay: float
    keep_prob: float = 0.1
    random_prob: float = 0.1
    seed: int = 0

    @property
    def vocab(self) -> Vocabulary:
        """The setting's vocabulary of ``T v`` content words."""
        return Vocabulary(self.num_topics, self.words_per_topic)

    @property
    def counts(self) -> tuple[int, int, int]:
        """``(T, v, tau)``, the leading arguments of the theory functions."""
        return self.num_topics, self.words_per_topic, self.topics_per_doc


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
    score_matrix, value_output = model.score_matrix(), model.value_output_matrix()
    if model.config.loss == "cross_entropy":  # the gradient written out: the same numbers, several times faster
        loss = CrossEntropyPopulationLoss.apply(
            score_matrix, value_output, model.vocab, topics_per_doc, keep_prob, random_prob
        )
    else:
        terms = population_loss_terms(score_matrix, value_output, model.vocab, topics_per_doc, model.config.loss)
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
