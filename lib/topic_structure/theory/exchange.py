"""Claim C5's copy/topic exchange in the population limit (notebook 09, section 3).

For a word query ``r`` whose topic is in the document and a block value-output matrix
``M = a I + b (B - I) + c (J - B)``, the rate at which the population loss (:mod:`population`) changes when
attention mass moves from ``r``'s topic-mates to its copies (:func:`exchange_rate`, derived in sympy; its numeric
twin :func:`exchange_rate_numeric` differentiates the exact population loss with autograd), and the population
optima with everything in token space trained (:func:`population_optimum`), at which the exchange rule is read:
copies beat topic-mates exactly when ``a > b``.
"""

from __future__ import annotations

import math
from functools import cache

import numpy as np
import pandas as pd
import sympy as sp
import torch

from theory_collection.points import map_points
from topic_structure.data import Vocabulary
from topic_structure.measurements import block_averages
from topic_structure.model import ModelConfig, TopicTransformer
from topic_structure.params import check_int, check_topic_counts, check_weight_decay
from topic_structure.population import Setting, combine_terms, fit_population, population_loss_terms, topic_sets
from topic_structure.theory.attention import block_value_output

a, b, c = sp.symbols("a b c", real=True)  # value-output blocks: diagonal, same topic, different topic
m_self, m_mates, m_others = sp.symbols("m_s m_o m_d", positive=True)  # attention on copies, mates, other topics
p_c, p_r = sp.symbols("p_c p_r", nonnegative=True)
T, v, tau = sp.symbols("T v tau", positive=True, integer=True)
epsilon = sp.Symbol("epsilon", real=True)


def block_logits(masses: tuple, values: tuple = (a, b, c)) -> dict[str, sp.Expr]:
    """Logits of a word query ``r`` in its document's topic set S, given its attention masses.

    masses ``(m_s, m_o, m_d)``: total attention on ``r``'s own type, on its ``v - 1`` topic-mates, on
    the ``(tau - 1) v`` words of the other topics of S (spread evenly within each group). Returns the
    logit of ``r`` itself (``self``), of each mate, of each word of another topic of S (``other``), of
    each word outside S (``out``), for ``M = a I + b (B - I) + c (J - B)``.
    """
    ms, mo, md = masses
    A, B, C = values
    return {
        "self": A * ms + B * mo + C * md,
        "mate": B * ms + (A + (v - 2) * B) * mo / (v - 1) + C * md,
        "other": C * ms + C * mo + (A + (v - 1) * B + (tau - 2) * v * C) * md / ((tau - 1) * v),
        "out": C * (ms + mo + md),
    }


def _column_loss(masses: tuple) -> sp.Expr:
    """The population loss carried by column ``r`` of the scores when r's topic is in S (module docstring).

    Keep queries (label r, weight p_c / V) and random queries showing r (label uniform over S, weight
    p_r tau / (T V)); the other uses of column r (random r outside S, attending uniformly to other
    topics) do not depend on how r's own topic shares its mass.
    """
    logits = block_logits(masses)
    log_z = sp.log(
        sp.exp(logits["self"])
        + (v - 1) * sp.exp(logits["mate"])
        + (tau - 1) * v * sp.exp(logits["other"])
        + (T - tau) * v * sp.exp(logits["out"])
    )
    mean_in_s = (logits["self"] + (v - 1) * logits["mate"] + (tau - 1) * v * logits["other"]) / (tau * v)
    V = T * v
    return p_c / V * (log_z - logits["self"]) + p_r * tau / (T * V) * (log_z - mean_in_s)


@cache
def exchange_rate() -> dict[str, sp.Expr]:
    """The derivative of the population loss as mass ``epsilon`` moves from r's topic-mates to its copies.

    Returns ``derivative`` (sympy's derivative of the column loss along ``(m_s + eps, m_o - eps, m_d)``
    at 0), ``closed_form`` = ``(a - b)/V * (-p_c (1 - P_self + P_mate) + p_r (tau/T) (P_self - P_mate))``
    with ``P_self``, ``P_mate`` the model's probabilities of r and of one mate, and ``difference``
    (their difference, simplified: 0 when the closed form is right).
    """
    moved = (m_self + epsilon, m_mates - epsilon, m_others)
    derivative = sp.diff(_column_loss(moved), epsilon).subs(epsilon, 0)
    logits = block_logits((m_self, m_mates, m_others))
    z = (
        sp.exp(logits["self"])
        + (v - 1) * sp.exp(logits["mate"])
        + (tau - 1) * v * sp.exp(logits["other"])
        + (T - tau) * v * sp.exp(logits["out"])
    )
    P_self, P_mate = sp.exp(logits["self"]) / z, sp.exp(logits["mate"]) / z
    closed = (a - b) / (T * v) * (-p_c * (1 - P_self + P_mate) + p_r * tau / T * (P_self - P_mate))
    return {
        "derivative": derivative,
        "closed_form": closed,
        "difference": sp.simplify(derivative - closed),
        "P_self": P_self,
        "P_mate": P_mate,
    }


def exchange_rate_value(setting: dict) -> float:
    """:func:`exchange_rate`'s closed form at a numeric ``setting`` (keys: the names of the module's symbols:
    ``a b c m_s m_o m_d p_c p_r T v tau``)."""
    symbols = {s.name: s for s in (a, b, c, m_self, m_mates, m_others, p_c, p_r, T, v, tau)}
    values = {
        symbols[name]: sp.nsimplify(value) if isinstance(value, int) else sp.Float(value, 30)
        for name, value in setting.items()
    }
    return float(sp.N(exchange_rate()["closed_form"].subs(values), 20))


def exchange_scores(
    vocab: Vocabulary, topics_per_doc: int, masses: tuple[float, float, float], moved: torch.Tensor | float = 0.0
) -> torch.Tensor:
    """(vocab, vocab) [key, query] float64 scores giving every word query the masses ``masses`` in its topic set
    after ``moved`` has gone from its mates to its copies; [MASK] and [PAD] columns 0 (uniform).

    With scores ``log`` of the per-word attention, a query whose topic is in S attends ``m_s + moved`` to its own
    type, ``(m_o - moved) / (v - 1)`` to each mate and ``m_d / ((tau - 1) v)`` to each other word of S; a query
    whose topic is not in S sees only "other" keys and attends uniformly. ``moved`` may carry a graph.
    """
    check_topic_counts(vocab.num_topics, vocab.words_per_topic, topics_per_doc)
    if topics_per_doc < 2 or vocab.words_per_topic < 2:
        raise ValueError("the exchange needs at least two topics per document and two words per topic")
    moved = torch.as_tensor(moved, dtype=torch.float64)
    ms, mo, md = (torch.tensor(float(m), dtype=torch.float64) for m in masses)
    V, w = vocab.num_words, vocab.words_per_topic
    same = vocab.same_topic()
    diagonal = torch.eye(V, dtype=torch.bool)
    scores = torch.zeros(vocab.size, vocab.size, dtype=torch.float64)
    content = torch.log(md / ((topics_per_doc - 1) * w)) * torch.ones(V, V, dtype=torch.float64)
    content = torch.where(same & ~diagonal, torch.log((mo - moved) / (w - 1)), content)
    content = torch.where(diagonal, torch.log(ms + moved), content)
    scores = scores.clone()
    scores[:V, :V] = content
    return scores


def exchange_rate_numeric(
    vocab: Vocabulary,
    topics_per_doc: int,
    blocks: tuple[float, float, float],
    masses: tuple[float, float, float],
    keep_prob: float,
    random_prob: float,
) -> float:
    """The exchange rate from the exact population loss (:func:`population.population_loss_terms`), by autograd.

    Every word column moves its mass at once, so the total derivative is V times one column's; it is
    divided by V to compare with :func:`exchange_rate` (one column).
    """
    moved = torch.zeros((), dtype=torch.float64, requires_grad=True)
    scores = exchange_scores(vocab, topics_per_doc, masses, moved)
    value_output = block_value_output(vocab, dict(zip(("diagonal", "same_topic", "diff_topic"), blocks)))
    loss = combine_terms(population_loss_terms(scores, value_output, vocab, topics_per_doc), keep_prob, random_prob)
    (gradient,) = torch.autograd.grad(loss, moved)
    return float(gradient) / vocab.num_words


# ----- the population optimum with everything in token space trained ----------------------------------


def population_optimum(setting: Setting, init_scale: float = 0.3, rounds: int = 200) -> dict[str, float]:
    """Minimise the exact population loss (one-hot E, trained W_K, W_Q, W_V, W_pred = I) of ``setting`` from a
    random start (its seed, entries of scale ``init_scale``).

    float64 L-BFGS (:func:`population.fit_population`) with the setting's weight decay. Returns the
    value-output blocks ``a, b, c`` and ``excess = a - b``, the population attention of word queries on
    their topic set relative to uniform (``copy`` on their own type, ``mates``, ``others``), the ratios
    ``R_I = copy / others`` and ``R_A = mates / others``, the loss, and ``gradient`` (largest entry at the end).
    """
    check_weight_decay(setting.weight_decay, positive=True)
    check_int("rounds", rounds, 1)
    num_topics, words_per_topic, topics_per_doc = setting.counts
    model = TopicTransformer(ModelConfig(num_topics, words_per_topic, init_scale=init_scale), seed=setting.seed)
    model = model.double()
    losses = fit_population(
        model, topics_per_doc, setting.keep_prob, setting.random_prob, setting.weight_decay, steps=rounds
    )
    gradient = max(float(p.grad.abs().max()) for p in model.parameters() if p.grad is not None)
    vocab = model.vocab
    with torch.no_grad():
        scores = model.score_matrix()  # [key, query]
        blocks = block_averages(model.value_output_matrix(), vocab)
        V, w = vocab.num_words, vocab.words_per_topic
        sets = topic_sets(num_topics, topics_per_doc)
        words = (sets[:, :, None] * w + torch.arange(w)).flatten(1)  # (C, tau v)
        attention = torch.softmax(scores[words][:, :, :V], dim=1)  # (C, tau v keys, V queries)
        key, query = words[:, :, None], torch.arange(V)
        contains = ((sets[:, :, None] == query // w).any(1))[:, None, :]  # (C, 1, V)
        kinds = {
            "copy": key == query,
            "mates": (key // w == query // w) & (key != query),
            "others": key // w != query // w,
        }
        share = {
            "copy": 1 / (topics_per_doc * w),
            "mates": (w - 1) / (topics_per_doc * w),
            "others": (topics_per_doc - 1) / topics_per_doc,
        }
        relative = {
            kind: float((attention * (mask & contains)).sum() / contains.sum() / share[kind])
            for kind, mask in kinds.items()
        }
    return {
        "a": blocks["diagonal"],
        "b": blocks["same_topic"],
        "c": blocks["diff_topic"],
        "excess": blocks["diagonal"] - blocks["same_topic"],
        **relative,
        "R_I": relative["copy"] / relative["others"],
        "R_A": relative["mates"] / relative["others"],
        "loss": losses[-1],
        "gradient": gradient,
    }


def exchange_rate_checks(settings: list[tuple], seed_vocab: tuple[int, int, int] = (4, 3, 2)) -> pd.DataFrame:
    """:func:`exchange_rate_value` (sympy) against :func:`exchange_rate_numeric` (autograd of the population loss).

    settings: ``((a, b, c), (m_s, m_o, m_d), p_c, p_r)`` tuples, evaluated at ``T, v, tau = seed_vocab``.
    One row per setting with both values and their relative error.
    """
    T_, v_, tau_ = seed_vocab
    rows = []
    for blocks, masses, keep, rand in settings:
        setting = dict(zip("abc", blocks), m_s=masses[0], m_o=masses[1], m_d=masses[2], p_c=keep, p_r=rand)
        symbolic = exchange_rate_value({**setting, "T": T_, "v": v_, "tau": tau_})
        numeric = exchange_rate_numeric(Vocabulary(T_, v_), tau_, blocks, masses, keep, rand)
        rows.append(
            {
                "a, b, c": blocks,
                "masses": masses,
                "p_c": keep,
                "p_r": rand,
                "sympy": symbolic,
                "population loss (autograd)": numeric,
                "relative error": abs(symbolic / numeric - 1),
            }
        )
    return pd.DataFrame(rows)


# |a - b| and |log(R_I / R_A)| below this count as equal at a population optimum
EQUAL = 1e-4


def population_optima(decays, seed: int, progress: bool = True) -> pd.DataFrame:
    """:func:`population_optimum` (T=4, v=3, tau=2, p_c = p_r = 0.1) for each weight decay, and whether the exchange
    rule holds there (``rule holds``: R_I > R_A exactly when a > b, R_I = R_A when a = b, within :data:`EQUAL`).

    The decays are independent minimisations: they run side by side on Dask workers
    (:func:`theory_collection.points.map_points`).
    """
    points = [dict(setting=Setting(4, 3, 2, decay, keep_prob=0.1, random_prob=0.1, seed=seed)) for decay in decays]
    found = map_points(population_optimum, points, progress=progress, description="population optima")
    optima = pd.DataFrame([{"weight_decay": decay, **optimum} for decay, optimum in zip(decays, found)])
    optima["rule holds"] = [
        (abs(r.excess) < EQUAL and abs(np.log(r.R_I / r.R_A)) < EQUAL)
        or (abs(r.excess) >= EQUAL and abs(np.log(r.R_I / r.R_A)) >= EQUAL and sign_agrees(r.excess, r.R_I / r.R_A))
        for r in optima.itertuples()
    ]
    return optima


def sign_agrees(excess: float, copy_over_topic: float) -> bool:
    """The exchange rule: copies beat topic-mates (``R_I / R_A > 1``) exactly when the value excess ``a - b > 0``."""
    return math.copysign(1.0, excess) == math.copysign(1.0, math.log(copy_over_topic))
