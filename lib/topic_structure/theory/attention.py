"""Claim C3, the attention scores given a block value matrix (notebooks/topic_structure/THEORY.md §4).

Setting: one-hot E, ``W_pred = I``, and ``W_V`` fixed at the C2 optimum, whose diagonal equals its
same-topic entries: ``W_V = c J + Delta B`` over content words, ``Delta = b - c > 0`` the *value
strength*. If a query's attention puts mass ``m_t`` on the (visible) words of topic ``t``, then

    logit_y = sum_k attn(k) W_V[y, k] = c + Delta m_{topic(y)},

so the cross-entropy depends on the attention only through the topic masses ``m_t`` of the
document's topic set ``S``, and the constant ``c`` drops out:

    loss(y) = -Delta m_{topic(y)} + log Z,   Z = sum_{t in S} v e^{Delta m_t} + (V - tau v).

Every case of the population loss (query kind x where the key lies) is a list of *topic groups*
``(count, mass)``: ``count`` topics of ``S`` each carrying attention ``mass`` (counts sum to tau),
the query's own topic first when it lies in ``S``. From these the module derives, in sympy,

(a) the gradient of the population loss w.r.t. one score entry ``A[k, q]`` at uniform attention,
    split by query kind ([MASK], keep = correct word, random word);
(b) the loss of the one-parameter family "score ``s`` on the query's own topic, 0 elsewhere" as a
    function of the same-topic mass ``x = e^s / (e^s + tau - 1)``, its optimum ``x*`` and the phase
    boundary in the ``(keep_prob, random_prob)`` plane between ``x* = 1`` (scores diverge) and an
    interior optimum (solved by bracketed ``nsolve`` at :data:`algebra.PRECISION` digits).

The numeric twins live here too, because the notebook and the tests both use them: the block value
matrix as a ``value_output`` for :func:`population.population_loss_terms`, the family's score
matrix, the population same-topic mass of any score matrix, and the full-matrix optimum of the
scores from a random start.
"""

from __future__ import annotations

from functools import cache

import sympy as sp
import torch

from topic_structure.data import Vocabulary
from topic_structure.measurements import block_matrix
from topic_structure.params import (
    DEFAULT_MASK_PROB,
    check_float,
    check_int,
    check_masking_probabilities,
    check_seed,
    check_topic_counts,
)
from topic_structure.population import minimise_lbfgs, topic_sets
from topic_structure.population_gradient import CrossEntropyPopulationLoss
from topic_structure.theory import value_matrix
from topic_structure.theory.algebra import PRECISION, T, V, p_c, p_r, tau, topic_setting, v

Delta = sp.Symbol("Delta", positive=True)  # value strength b - c of W_V
x = sp.Symbol("x", positive=True)  # attention mass of a word query on its own topic
score_shift = sp.Symbol("varepsilon", real=True)  # one perturbed score entry A[k, q] (not C4's initial scale)

KINDS = ("mask", "keep", "random")
GRADIENT_BLOCKS = ("same_topic", "diff_topic")  # of a word query's column; the diagonal is same-topic


# ----- the loss of one query, from its topic masses --------------------------------------------------


def log_partition(groups) -> sp.Expr:
    """``log Z`` for topic groups ``[(count, mass), ...]`` (counts summing to tau)."""
    return sp.log(sum(count * v * sp.exp(Delta * mass) for count, mass in groups) + V - tau * v)


def query_loss(groups, label: str) -> sp.Expr:
    """Expected cross-entropy of one query given its topic groups.

    label "own": the label is the query's own word, in the first group's topic (keep queries).
    label "uniform": the label is uniform over the words of S, independent of the query (random and
    [MASK] queries); its expected linear term is ``-Delta sum_t m_t / tau = -Delta / tau``.
    """
    if label == "own":
        linear = -Delta * groups[0][1]
    elif label == "uniform":
        linear = -Delta * sum(count * mass for count, mass in groups) / tau
    else:
        raise ValueError(f"label must be 'own' or 'uniform', got {label!r}")
    return linear + log_partition(groups)


# ----- (a) the score gradient at uniform attention ---------------------------------------------------


def perturbed_groups(case: str) -> list[tuple[sp.Expr, sp.Expr]]:
    """Topic groups when one key type ``k`` of S has score varepsilon
    (:data:`score_shift`) and the other tau v - 1 types 0.

    k's topic carries ``(v - 1 + e^varepsilon) / Z`` and every other topic of S ``v / Z``, with
    ``Z = tau v - 1 + e^varepsilon``. Cases: "own" (k in the query's topic, k = q included), "other"
    (k in another topic of S; the query's topic, in S, listed first), "away" (the query's topic is
    not in S, or the query is [MASK]).
    """
    total = tau * v - 1 + sp.exp(score_shift)
    key_mass, other_mass = (v - 1 + sp.exp(score_shift)) / total, v / total
    if case in ("own", "away"):
        return [(1, key_mass), (tau - 1, other_mass)]
    if case == "other":
        return [(1, other_mass), (1, key_mass), (tau - 2, other_mass)]
    raise ValueError(f"case must be 'own', 'other' or 'away', got {case!r}")


def gradient_cases() -> list[dict]:
    """Every way a score entry ``A[k, q]`` enters the population loss, with its probability.

    A word query q uses column q: keep queries when the label is q (probability 1/V per chosen
    position), random queries when the random word is q (probability 1/V). Every [MASK] query uses
    the [MASK] column. Key k matters only when its topic is in S. Blocks: "same_topic" (k in q's
    topic; the diagonal k = q is such a key, so it shares the formula), "diff_topic", and
    "mask_column" (k any word, q = [MASK]).
    """
    in_s = tau / T  # P(a given topic is in S)
    other_in_s = (tau - 1) / (T - 1)  # P(another topic is in S | q's topic is in S)
    other_in_s_without_q = tau / (T - 1)  # P(another topic is in S | q's topic is not)
    rows = [  # kind, block, probability, perturbation case, label
        ("keep", "same_topic", 1 / V, "own", "own"),
        ("keep", "diff_topic", 1 / V * other_in_s, "other", "own"),
        ("random", "same_topic", 1 / V * in_s, "own", "uniform"),
        ("random", "diff_topic", 1 / V * in_s * other_in_s, "other", "uniform"),
        ("random", "diff_topic", 1 / V * (1 - in_s) * other_in_s_without_q, "away", "uniform"),
        ("mask", "mask_column", in_s, "away", "uniform"),
    ]
    return [
        dict(kind=kind, block=block, probability=probability, groups=perturbed_groups(case), label=label)
        for kind, block, probability, case, label in rows
    ]


@cache
def score_gradient() -> dict[str, dict[str, sp.Expr]]:
    """``{kind: {block: d(term_kind)/dA[k, q] at A = 0}}`` for kind in mask, keep, random, and
    ``"total"``: the gradient of ``(1 - p_c - p_r) mask + p_c keep + p_r random``.

    Each term is the population loss of that query kind alone (``population_loss_terms``).
    """
    gradient = {kind: {} for kind in KINDS}
    for case in gradient_cases():
        slope = sp.diff(case["probability"] * query_loss(case["groups"], case["label"]), score_shift).subs(
            score_shift, 0
        )
        blocks = gradient[case["kind"]]
        blocks[case["block"]] = blocks.get(case["block"], 0) + slope
    gradient = {
        kind: {block: sp.factor(sp.simplify(e)) for block, e in blocks.items()} for kind, blocks in gradient.items()
    }
    weights = {"mask": 1 - p_c - p_r, "keep": p_c, "random": p_r}
    blocks = [block for block in (*GRADIENT_BLOCKS, "mask_column") if any(block in gradient[kind] for kind in KINDS)]
    gradient["total"] = {
        block: sp.factor(sp.simplify(sum(weights[kind] * gradient[kind].get(block, 0) for kind in KINDS)))
        for block in blocks
    }
    return gradient


def score_gradient_values(
    num_topics: int, words_per_topic: int, topics_per_doc: int, keep_prob: float, random_prob: float, strength: float
) -> dict[str, dict[str, float]]:
    """:func:`score_gradient` evaluated.

    Returns ``{kind or "total": {"diagonal", "same_topic", "diff_topic", "mask_column"}}``.
    """
    values = _setting(num_topics, words_per_topic, topics_per_doc, keep_prob, random_prob, strength)
    out = {}
    for kind, blocks in score_gradient().items():
        numbers = {
            block: float(sp.N(sp.sympify(blocks.get(block, 0)).subs(values), PRECISION))
            for block in ("same_topic", "diff_topic", "mask_column")
        }
        out[kind] = {"diagonal": numbers["same_topic"], **numbers}
    return out


# ----- (b) the optimal same-topic mass ---------------------------------------------------------------


@cache
def mass_objective() -> dict[str, sp.Expr]:
    """The population loss of the family "score s on the query's own topic, 0 elsewhere".

    A word query whose topic is in S puts ``x = e^s / (e^s + tau - 1)`` on its own topic and
    ``(1 - x) / (tau - 1)`` on each other topic of S; one whose topic is not in S (random queries,
    probability ``1 - tau/T``) and the [MASK] column (scores 0) attend uniformly. Returns each
    query kind's loss as a function of x ("mask", "keep", "random"), the "total", its x-dependent
    part collected by hand ``F = -p_c Delta x + (p_c + p_r tau / T) log Z(x)`` with the check
    ``"F_is_x_part"`` (d(total - F)/dx simplifies to 0) and the "slope" ``dF/dx``.
    """
    concentrated = [(1, x), (tau - 1, (1 - x) / (tau - 1))]
    uniform = [(tau, 1 / tau)]
    terms = {
        "mask": query_loss(uniform, "uniform"),
        "keep": query_loss(concentrated, "own"),
        "random": tau / T * query_loss(concentrated, "uniform") + (1 - tau / T) * query_loss(uniform, "uniform"),
    }
    total = (1 - p_c - p_r) * terms["mask"] + p_c * terms["keep"] + p_r * terms["random"]
    F = -p_c * Delta * x + (p_c + p_r * tau / T) * log_partition_of_mass()
    return {
        **terms,
        "total": total,
        "F": F,
        "F_is_x_part": sp.simplify(sp.diff(total - F, x)) == 0,
        "slope": sp.diff(F, x),
    }


def log_partition_of_mass() -> sp.Expr:
    """``log Z(x)`` of a query whose own topic (in S) carries mass x."""
    return log_partition([(1, x), (tau - 1, (1 - x) / (tau - 1))])


@cache
def phase_boundary() -> dict[str, sp.Expr]:
    """Where the optimum stops being interior.

    ``F`` is convex in x (a log-sum-exp of affine functions plus a linear term) and ``F'(1/tau) =
    -p_c Delta < 0``, so ``x* = 1`` (the infimum, approached as s -> infinity) iff ``F'(1) <= 0``.
    Solving ``F'(1) = 0`` for p_r gives the boundary ``p_r = ratio * p_c``. Returns the slopes at
    ``1/tau`` and 1, the boundary ``ratio``, ``q = Z'(1) / (Delta Z(1))`` (the equivalent form of the
    condition is ``p_r <= p_c (1 - q) T / (tau q)``), and ``ratio_of_mass``: the ratio ``p_r / p_c``
    at which a given interior x is optimal (iso-mass lines are rays from the origin).
    """
    slope = mass_objective()["slope"]
    at_one = sp.simplify(slope.subs(x, 1))
    ratio = sp.simplify(sp.solve(sp.Eq(at_one, 0), p_r)[0] / p_c)
    q = sp.simplify(sp.diff(log_partition_of_mass(), x).subs(x, 1) / Delta)
    return {
        "slope_at_uniform": sp.simplify(slope.subs(x, 1 / tau)),
        "slope_at_one": at_one,
        "ratio": ratio,
        "q": q,
        "ratio_of_mass": sp.simplify(sp.solve(sp.Eq(slope, 0), p_r)[0] / p_c),
    }


def value_strength(num_topics: int, words_per_topic: int, topics_per_doc: int, weight_decay: float) -> float:
    """``Delta = same_topic - diff_topic`` of the C2 optimum of ``W_V`` (:func:`value_matrix.value_optimum`)."""
    blocks = value_matrix.value_optimum(num_topics, words_per_topic, topics_per_doc, weight_decay)
    return blocks["same_topic"] - blocks["diff_topic"]


def optimal_mass(
    num_topics: int, words_per_topic: int, topics_per_doc: int, keep_prob: float, random_prob: float, strength: float
) -> dict[str, float | str]:
    """The optimal same-topic mass ``x*`` of a word query (its own word included) in the family
    "score s on its own topic, 0 elsewhere", ``W_V = c J + Delta B``, ``Delta = strength`` (:func:`value_strength`).

    Returns ``{"x_star", "score" (s* = log((tau - 1) x* / (1 - x*)), inf when x* = 1), "regime"
    ("interior" | "diverges" | "uniform"), "boundary_ratio" (x* = 1 iff random_prob <=
    boundary_ratio * keep_prob), "q"}``.
    """
    values = _setting(num_topics, words_per_topic, topics_per_doc, keep_prob, random_prob, strength)
    if keep_prob == 0 and random_prob == 0:
        raise ValueError("keep_prob and random_prob are both 0: word queries never occur and every x is optimal")
    boundary = phase_boundary()
    ratio = float(sp.N(boundary["ratio"].subs(values), PRECISION))
    q = float(sp.N(boundary["q"].subs(values), PRECISION))
    lowest = sp.Integer(1) / values[tau]
    if keep_prob == 0:  # F = p_r (tau / T) log Z(x) + const, minimised by uniform attention
        x_star, regime = lowest, "uniform"
    elif sp.N(boundary["slope_at_one"].subs(values), PRECISION) <= 0:
        x_star, regime = sp.Integer(1), "diverges"
    else:
        slope = mass_objective()["slope"].subs(values)
        x_star = sp.nsolve(slope, x, (lowest, 1), solver="anderson", prec=PRECISION)
        regime = "interior"
    score = (
        float("inf")
        if regime == "diverges"
        else float(sp.N(sp.log((values[tau] - 1) * x_star / (1 - x_star)), PRECISION))
    )
    return {"x_star": float(x_star), "score": score, "regime": regime, "boundary_ratio": ratio, "q": q}


def _setting(num_topics, words_per_topic, topics_per_doc, keep_prob, random_prob, value_strength) -> dict:
    """Validated numbers for the symbols (:func:`algebra.topic_setting`), exact rationals where the input is a float."""
    # With tau = 1 every key is in the query's topic: the same-topic mass is 1 whatever the scores.
    values = topic_setting(num_topics, words_per_topic, topics_per_doc, min_words_per_topic=1, min_topics_per_doc=2)
    check_masking_probabilities(DEFAULT_MASK_PROB, keep_prob, random_prob)
    value_strength = check_float("value_strength", value_strength, 0.0, low_open=True)
    return {
        **values,
        p_c: sp.Rational(keep_prob),
        p_r: sp.Rational(random_prob),
        Delta: sp.Float(value_strength, PRECISION),
    }


# ----- numeric twins ---------------------------------------------------------------------------------


def block_value_output(vocab: Vocabulary, blocks: dict[str, float]) -> torch.Tensor:
    """(V, vocab) float64 value-output matrix: the block ``W_V`` on content words, 0 on [MASK], [PAD].

    Keys are always content words (chosen positions are not attended to), so the special columns
    never enter the loss.
    """
    for name in ("diagonal", "same_topic", "diff_topic"):
        if name not in blocks:
            raise ValueError(f"blocks must give 'diagonal', 'same_topic' and 'diff_topic'; missing {name!r}")
        check_float(f"blocks[{name!r}]", blocks[name])
    out = torch.zeros(vocab.num_words, vocab.size, dtype=torch.float64)
    out[:, : vocab.num_words] = block_matrix(vocab, blocks["diagonal"], blocks["same_topic"], blocks["diff_topic"])
    return out


def topic_score_matrix(vocab: Vocabulary, score: float | torch.Tensor) -> torch.Tensor:
    """(vocab, vocab) [key, query] float64: ``score`` where key and query are words of one topic,
    0 elsewhere ([MASK] and [PAD] rows and columns included). A 0-d tensor ``score`` keeps its graph."""
    score = torch.as_tensor(score, dtype=torch.float64)
    if score.ndim != 0 or not torch.isfinite(score):
        raise ValueError(f"score must be a finite scalar, got {score!r}")
    same = torch.zeros(vocab.size, vocab.size, dtype=torch.float64)
    same[: vocab.num_words, : vocab.num_words] = vocab.same_topic().double()
    return score * same


def same_topic_mass(score_matrix: torch.Tensor, vocab: Vocabulary, topics_per_doc: int) -> torch.Tensor:
    """(V, C(T-1, tau-1)) population same-topic mass: for each word query q and each topic set S
    containing q's topic (lexicographic order), the softmax attention of column q over the words of
    S that falls on q's topic, q itself included. Its mean is the "x" of the claims.

    score_matrix: (>= V, >= V) [key, query]; only the content-word block is read.
    """
    check_topic_counts(vocab.num_topics, vocab.words_per_topic, topics_per_doc)
    V, v_ = vocab.num_words, vocab.words_per_topic
    if score_matrix.ndim != 2 or score_matrix.shape[0] < V or score_matrix.shape[1] < V:
        raise ValueError(f"score_matrix must be at least ({V}, {V}), got {tuple(score_matrix.shape)}")
    sets = topic_sets(vocab.num_topics, topics_per_doc)  # (C, tau)
    words = (sets[:, :, None] * v_ + torch.arange(v_)).flatten(1)  # (C, tau v)
    attention = torch.softmax(score_matrix[words][:, :, :V].double(), dim=1)  # (C, tau v keys, V queries)
    key_topic = words // v_  # (C, tau v)
    query_topic = torch.arange(V) // v_  # (V,)
    on_own = (key_topic[:, :, None] == query_topic).double()  # (C, tau v, V)
    mass = (attention * on_own).sum(1)  # (C, V)
    contains = (sets[:, :, None] == query_topic).any(1)  # (C, V): q's topic is in S
    return mass.T[contains.T].reshape(V, -1)


def fit_score_matrix(
    value_output: torch.Tensor,
    vocab: Vocabulary,
    topics_per_doc: int,
    keep_prob: float,
    random_prob: float,
    *,
    seed: int = 0,
    init_scale: float = 1.0,
    steps: int = 100,
    tolerance: float = 1e-14,
) -> tuple[torch.Tensor, list[float]]:
    """Minimise the exact population loss over a full (vocab, vocab) score matrix, no symmetry imposed.

    Starts from i.i.d. ``N(0, init_scale^2)`` entries (seeded), float64, L-BFGS with strong Wolfe
    line search; ``value_output`` (V, vocab) stays fixed. Returns the score matrix and the loss per
    L-BFGS step (each up to 50 evaluations).
    """
    check_topic_counts(vocab.num_topics, vocab.words_per_topic, topics_per_doc)
    check_masking_probabilities(DEFAULT_MASK_PROB, keep_prob, random_prob)
    check_seed(seed)
    check_float("init_scale", init_scale, 0.0)
    check_int("steps", steps, 1)
    check_float("tolerance", tolerance, 0.0, low_open=True)
    generator = torch.Generator().manual_seed(seed)
    scores = (
        torch.randn(vocab.size, vocab.size, generator=generator, dtype=torch.float64) * init_scale
    ).requires_grad_(True)
    value_output = value_output.detach().double()

    def objective() -> torch.Tensor:
        return CrossEntropyPopulationLoss.apply(scores, value_output, vocab, topics_per_doc, keep_prob, random_prob)

    losses = minimise_lbfgs([scores], objective, steps, tolerance=tolerance, stop="loss_change", iterations=50)
    return scores.detach(), losses
