"""Topic attention against same-word attention over training (notebook 09, issue 18).

Three pieces:

* **Trajectories** (:func:`attention_run`): everything trained on LDA documents as in notebook 08
  (:func:`experiments.lda_model`, :func:`training.train`), measuring at every snapshot the collection's
  ratios (:func:`experiments.structure`: ``R_A``, ``R_I``, the relative masses, the value-output
  blocks) and the paper's own metric (:func:`paper_attention_averages`).
* **The paper's metric**, as the public code's inspection script computes it: on whole held-out
  documents (nothing masked, every position visible, a position is its own key), the *raw* average
  attention weight over query/key position pairs showing the same token (``i = j`` included), over
  pairs of different words of one topic, and over pairs of different topics.
* **The copy/topic exchange** (:func:`exchange_rate`, :func:`exchange_rate_numeric`): in the
  population limit (:mod:`population`), for a word query ``r`` whose topic is in the document and a
  block value-output matrix ``M = a I + b (B - I) + c (J - B)``, the rate at which the population loss
  changes when attention mass moves from ``r``'s topic-mates to its copies. Derived in sympy; its
  numeric twin differentiates the exact population loss with autograd.
"""

from __future__ import annotations

import math
from functools import cache

import numpy as np
import pandas as pd
import sympy as sp
import torch

from topic_structure import experiments as ex
from topic_structure.data import Documents, Vocabulary
from topic_structure.masking import MaskedBatch, MaskingConfig
from topic_structure.measurements import TokenPairWeights, block_averages
from topic_structure.model import TopicTransformer
from topic_structure.params import check_float, check_int, check_topic_counts
from topic_structure.population import combine_terms, population_loss_terms
from topic_structure.training import TrainConfig, corpus_batches, train

PAPER_KINDS = ("same_token", "same_topic", "diff_topic")

# ----- the paper's metric -------------------------------------------------------------------------


def paper_pair_masks(docs: Documents) -> dict[str, torch.Tensor]:
    """(B, N, N) bool [query, key] masks of the paper metric's three kinds of word-position pairs.

    ``same_token``: equal tokens (``i = j`` included); ``same_topic``: different words of one topic;
    ``diff_topic``: different topics. Padding positions are in no pair.
    """
    visible = docs.is_word()  # (B, N)
    topic = docs.tokens // docs.vocab.words_per_topic  # (B, N)
    pair = visible[:, :, None] & visible[:, None, :]
    same_token = pair & (docs.tokens[:, :, None] == docs.tokens[:, None, :])
    same_topic = pair & (topic[:, :, None] == topic[:, None, :]) & ~same_token
    diff_topic = pair & (topic[:, :, None] != topic[:, None, :])
    return dict(zip(PAPER_KINDS, (same_token, same_topic, diff_topic)))


def pair_averages(attention: torch.Tensor, masks: dict[str, torch.Tensor]) -> dict[str, float]:
    """Average of (B, N, N) ``attention`` over each mask of :func:`paper_pair_masks`, and
    ``ratio = same_topic / diff_topic`` (NaN for a kind without pairs)."""
    out = {kind: float(attention[mask].double().mean()) if mask.any() else float("nan") for kind, mask in masks.items()}
    out["ratio"] = out["same_topic"] / out["diff_topic"]
    return out


class PaperPairs:
    """The pairs of :func:`paper_pair_masks` on fixed documents, counted by token pair once, for many model states.

    ``counts[kind]``: (B, vocab, vocab) number of (query, key) position pairs of that kind showing tokens (t, u)
    (:class:`measurements.TokenPairWeights`); an average over a kind's pairs is then a sum over token pairs.
    """

    def __init__(self, docs: Documents):
        self.tokens, self.visible = docs.tokens, docs.is_word()
        self.counts = TokenPairWeights(paper_pair_masks(docs), docs.tokens, docs.vocab.size)

    @torch.no_grad()
    def averages(self, net: TopicTransformer) -> dict[str, float]:
        """:func:`pair_averages` of ``net``'s attention on the documents, from its (B, vocab, vocab) token attention."""
        sums = self.counts.sums(net.token_attention(self.tokens, self.visible))
        out = {
            kind: float(sums[kind].sum() / count.sum()) if count.sum() > 0 else float("nan")
            for kind, count in self.counts.totals.items()
        }
        out["ratio"] = out["same_topic"] / out["diff_topic"]
        return out


def paper_attention_averages(net: TopicTransformer, docs: Documents | PaperPairs) -> dict[str, float]:
    """Average raw attention weight over position pairs of each kind, as the public inspection script reports.

    docs: whole documents, nothing masked; every word position is a query and a visible key (its own
    included); pairs as :func:`paper_pair_masks` (pass :class:`PaperPairs` to count them once for many
    states). Returns the three averages and ``ratio``: :func:`pair_averages` of ``net.attention_map``.
    """
    return (docs if isinstance(docs, PaperPairs) else PaperPairs(docs)).averages(net)


def uniform_paper_averages(docs: Documents) -> dict[str, float]:
    """:func:`paper_attention_averages` of uniform attention on ``docs``: what the metric reads with no structure.

    Raw averages are not free of length and topic mix: pairs in short documents weigh more per pair, so even
    uniform attention can put unequal averages on the kinds when documents differ.
    """
    visible = docs.is_word()
    weights = visible.double() / visible.sum(1, keepdim=True).clamp(min=1)  # (B, N)
    attention = weights[:, None, :].expand(-1, docs.tokens.shape[1], -1)
    return pair_averages(attention, paper_pair_masks(docs))


# ----- trajectories ---------------------------------------------------------------------------------


def attention_run(
    corpus: Documents,
    probe: MaskedBatch,
    whole_docs: Documents,
    masking: MaskingConfig,
    config: TrainConfig,
    decoder: str,
    init_scale: float,
    description: str = "training",
) -> tuple[TopicTransformer, pd.DataFrame]:
    """Train :func:`experiments.lda_model` on ``corpus``; measure every snapshot (step 0 and the last included).

    Each row: ``step``, everything :func:`experiments.structure` measures on ``probe`` (masked
    documents: ``R_A``, ``R_I``, ``attention.*`` relative masses, ``value.*`` blocks of
    ``W_pred W_V E^T``), ``value.excess = value.identical - value.same`` and the paper's metric on
    ``whole_docs`` as ``paper.same_token``, ``paper.same_topic``, ``paper.diff_topic``, ``paper.ratio``.
    """
    if not config.snapshot_every:
        raise ValueError("attention_run needs snapshots: set config.snapshot_every")
    net = ex.lda_model(corpus.vocab, decoder, init_scale, config.seed)
    weights, pairs = ex.attention_probe(probe, corpus.vocab), PaperPairs(whole_docs)
    rows = []

    def measure(step: int, model: TopicTransformer) -> None:
        record = {"step": step, **ex.structure(model, weights)}
        record["value.excess"] = record["value.identical"] - record["value.same"]
        record.update({f"paper.{k}": value for k, value in paper_attention_averages(model, pairs).items()})
        rows.append(record)

    measure(0, net)
    train(
        net,
        corpus_batches(corpus),
        masking,
        config,
        probe=probe,
        description=description,
        on_snapshot=measure,
        measure_probe=False,
    )
    if rows[-1]["step"] != config.steps:
        measure(config.steps, net)
    return net, pd.DataFrame(rows)  # the net holds the last state, which is the trained one


def end_summary(curves: pd.DataFrame, tail: float = 0.2, smooth: float = 0.05) -> dict[str, float]:
    """A run's end values (geometric means over the last ``tail`` of the logged states, as in notebook 08),
    the peak of ``R_A`` and the step of that peak, and the end value of the value excess (arithmetic mean)."""
    count = max(1, round(tail * (len(curves) - 1)))
    summary = {
        name: ex.end_value(curves[name], tail)
        for name in ("R_A", "R_I", "attention.same", "attention.identical", "attention.diff", "paper.ratio")
    }
    summary["R_A peak"] = ex.peak_value(curves["R_A"], smooth)
    window = max(1, round(smooth * len(curves)))
    smoothed = np.log(curves["R_A"]).rolling(window, center=True, min_periods=1).mean()
    summary["R_A peak step"] = int(curves["step"].iloc[int(smoothed.to_numpy().argmax())])
    summary["value.excess"] = float(curves["value.excess"].iloc[-count:].mean())
    summary["copy over topic"] = summary["R_I"] / summary["R_A"]
    return summary


def sweep_run(
    settings: dict,
    train_seed: int,
    steps: int,
    num_docs: int,
    batch_size: int,
    log_every: int,
    probe_docs: int,
    data_seed: int,
) -> tuple[pd.DataFrame, dict[str, float]]:
    """One run of notebook 09 (a main run or a sweep point): :func:`attention_run` on ``settings``.

    settings: the :data:`params.GRID_NAMES` values and ``decoder``; data from :func:`experiments.lda_data`.
    A self-contained point for :func:`theory_collection.sweep.map_points`. Returns the curves and
    :func:`copy_over_topic` of the trained state (bootstrap seeded by ``[data_seed, train_seed]``).
    """
    corpus, probe, whole, masking = ex.lda_data(settings, num_docs, probe_docs, data_seed)
    config = ex.lda_train_config(settings, steps, batch_size, log_every, train_seed)
    net, curves = attention_run(corpus, probe, whole, masking, config, settings["decoder"], settings["init_scale"])
    return curves, copy_over_topic(net, probe, rng=np.random.default_rng([data_seed, train_seed]))


def copy_stage(curves: pd.DataFrame) -> float:
    """The first logged step from which ``R_I > R_A`` holds to the end (NaN if it does not hold at the end)."""
    ahead = (curves["R_I"] > curves["R_A"]).to_numpy()
    if not ahead[-1]:
        return float("nan")
    behind = np.flatnonzero(~ahead)
    return float(curves["step"].iloc[behind[-1] + 1 if len(behind) else 0])


def run_row(curves: pd.DataFrame, copies: dict[str, float], stage: dict[str, float] | None = None) -> dict:
    """A run's line in notebook 09's tables: :func:`end_summary`, with ``stage`` (the criteria of R_V and R_A)
    the stage steps ``t_V``, ``t_A`` (:func:`experiments.stage_summary`) and ``t_I`` (:func:`copy_stage`), then
    the final ``R_I/R_A`` with its interval, the final value excess ``a - b`` and how far the run is from
    settled (:func:`late_drift`)."""
    row = end_summary(curves)
    if stage is not None:
        stages = ex.stage_summary(curves, stage["R_V"], stage["R_A"])
        row.update(t_V=stages["t_V"], t_A=stages["t_A"], t_I=copy_stage(curves))
    return {
        **row,
        "final R_I/R_A": copies["ratio"],
        "low": copies["low"],
        "high": copies["high"],
        "final a - b": float(curves["value.excess"].iloc[-1]),
        "drift R_I/R_A": late_drift(curves),
    }


LATE_FRACTION = 0.2  # the last fifth of the logged steps: where a settled run no longer moves


def late_drift(curves: pd.DataFrame) -> float:
    """|change of log(R_I / R_A)| over the last :data:`LATE_FRACTION` of the logged steps (NaN with < 2 logs).

    The exchange rule speaks of stationary states: a run whose copy-over-mate preference still moves by more
    than its measurement error at the end has not settled, and its preference is not yet the rule's to judge.
    """
    if len(curves) < 2:
        return float("nan")
    log_ratio = np.log(curves["R_I"].to_numpy(dtype=float) / curves["R_A"].to_numpy(dtype=float))
    steps = curves["step"].to_numpy(dtype=float)
    start = steps[-1] - LATE_FRACTION * (steps[-1] - steps[0])
    return float(abs(log_ratio[-1] - log_ratio[steps >= start][0]))


def untrained_criteria(vocab: Vocabulary, init_scale: float, probe: MaskedBatch, whole: Documents) -> pd.DataFrame:
    """The collection's ratios and the paper's metric of 20 untrained models (10 seeds per decoder, seeds 1000+):
    what sampling noise of a random initialisation gives."""
    weights, pairs = ex.attention_probe(probe, vocab), PaperPairs(whole)
    rows = []
    for decoder in ("tied", "trained"):
        for s in range(10):
            net = ex.lda_model(vocab, decoder, init_scale, 1000 + s)
            rows.append(
                {
                    **ex.structure(net, weights),
                    **{f"paper.{k}": x for k, x in paper_attention_averages(net, pairs).items()},
                }
            )
    return pd.DataFrame(rows)


# ----- the copy/topic exchange in the population limit -----------------------------------------------

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
    from topic_structure.theory.attention import block_value_output

    moved = torch.zeros((), dtype=torch.float64, requires_grad=True)
    scores = exchange_scores(vocab, topics_per_doc, masses, moved)
    value_output = block_value_output(vocab, dict(zip(("diagonal", "same_topic", "diff_topic"), blocks)))
    loss = combine_terms(population_loss_terms(scores, value_output, vocab, topics_per_doc), keep_prob, random_prob)
    (gradient,) = torch.autograd.grad(loss, moved)
    return float(gradient) / vocab.num_words


# ----- the population optimum with everything in token space trained ----------------------------------


def population_optimum(
    num_topics: int,
    words_per_topic: int,
    topics_per_doc: int,
    keep_prob: float,
    random_prob: float,
    weight_decay: float,
    seed: int = 0,
    init_scale: float = 0.3,
    rounds: int = 200,
) -> dict[str, float]:
    """Minimise the exact population loss (one-hot E, trained W_K, W_Q, W_V, W_pred = I) from a random start.

    float64 L-BFGS (:func:`population.fit_population`) with weight decay ``weight_decay``. Returns the
    value-output blocks ``a, b, c`` and ``excess = a - b``, the population attention of word queries on
    their topic set relative to uniform (``copy`` on their own type, ``mates``, ``others``), the ratios
    ``R_I = copy / others`` and ``R_A = mates / others``, the loss, and ``gradient`` (largest entry at the end).
    """
    from topic_structure.model import ModelConfig
    from topic_structure.population import fit_population, topic_sets

    check_float("weight_decay", weight_decay, 0.0, low_open=True)
    check_int("rounds", rounds, 1)
    model = TopicTransformer(ModelConfig(num_topics, words_per_topic, init_scale=init_scale), seed=seed).double()
    losses = fit_population(model, topics_per_doc, keep_prob, random_prob, weight_decay, steps=rounds)
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
    (:func:`theory_collection.sweep.map_points`).
    """
    from theory_collection.sweep import map_points

    points = [
        dict(
            num_topics=4, words_per_topic=3, topics_per_doc=2, keep_prob=0.1, random_prob=0.1, weight_decay=d, seed=seed
        )
        for d in decays
    ]
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


@torch.no_grad()
def copy_over_topic(
    net: TopicTransformer, probe: MaskedBatch, num_bootstrap: int = 2000, rng: np.random.Generator | None = None
) -> dict[str, float]:
    """``R_I / R_A = (A_I / U_I) / (A_S / U_S)`` of ``net`` on ``probe``, with a percentile bootstrap over documents.

    The collection's estimator (:mod:`measurements`: per-document attention sums on copies and on
    topic-mates, each against uniform attention, read through :func:`experiments.attention_probe`);
    returns ``ratio``, ``low``, ``high`` (95%).
    """
    from topic_structure.measurements import ratio_of_sums

    weights = ex.attention_probe(probe, net.vocab)
    on_kind = weights.sums(net.token_attention(probe.inputs, probe.key_visible))  # kind -> (B,)
    sums = {kind: (on_kind[kind], weights.uniform_sums[kind]) for kind in ("identical", "same_topic")}
    rng = rng if rng is not None else np.random.default_rng(0)
    return ratio_of_sums(sums["identical"], sums["same_topic"], num_bootstrap, rng)
