"""Topic attention against same-word attention over training (notebook 09).

Two pieces (the copy/topic exchange that explains them is :mod:`theory.exchange`):

* **Trajectories** (:func:`trajectory_run`): everything trained on LDA documents as in notebook 08
  (:func:`lda_runs.lda_model`, :func:`training.train`), measuring at every snapshot the collection's
  ratios (:func:`lda_runs.structure`: ``R_A``, ``R_I``, the relative masses, the value-output
  blocks) and the public code's metric (:func:`paper_attention_averages`).
* **The public code's metric**, as its inspection script computes it: on whole held-out documents (nothing
  masked, every position visible, a position is its own key), the *raw* average attention weight over
  query/key position pairs showing the same token (``i = j`` included), over pairs of different words of
  one topic, and over pairs of different topics.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from topic_structure import lda_runs
from topic_structure.data import Documents, Vocabulary
from topic_structure.masking import MaskedBatch, MaskingConfig
from topic_structure.measurements import TokenPairWeights, ratio_of_sums
from topic_structure.model import TopicTransformer
from topic_structure.profiles import TOPIC_ATTENTION_SWEEP
from topic_structure.training import TrainConfig

# The sweep of notebook 09 §4; each point is a claim C5.condition.<point label> (:func:`point_label`).
SWEEP = TOPIC_ATTENTION_SWEEP


def point_label(point: str) -> str:
    """The claim-id form of a sweep point's name: ``"AdamW, decay 0.1"`` -> ``"adamw_decay_0.1"``."""
    return point.lower().replace(",", "").replace(" ", "_").replace("-", "_")


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


def trajectory_run(
    corpus: Documents,
    probe: MaskedBatch,
    whole_docs: Documents,
    masking: MaskingConfig,
    config: TrainConfig,
    decoder: str,
    init_scale: float,
    description: str = "training",
) -> tuple[TopicTransformer, pd.DataFrame]:
    """Train :func:`lda_runs.lda_model` on ``corpus``; measure every snapshot (step 0 and the last included).

    Each row: ``step``, everything :func:`lda_runs.structure` measures on ``probe`` (masked
    documents: ``R_A``, ``R_I``, ``attention.*`` relative masses, ``value.*`` blocks of
    ``W_pred W_V E^T``), ``value.excess = value.identical - value.same`` and the paper's metric on
    ``whole_docs`` as ``paper.same_token``, ``paper.same_topic``, ``paper.diff_topic``, ``paper.ratio``.
    """
    pairs = PaperPairs(whole_docs)

    def metric(model: TopicTransformer) -> dict[str, float]:
        return {f"paper.{k}": value for k, value in paper_attention_averages(model, pairs).items()}

    net, curves, _ = lda_runs.lda_structure_run(
        corpus, probe, masking, config, decoder, init_scale, description, metric
    )
    excess = curves["value.identical"] - curves["value.same"]
    curves.insert(curves.columns.get_loc("paper.same_token"), "value.excess", excess)
    return net, curves  # the net holds the last state, which is the trained one


def end_summary(curves: pd.DataFrame, tail: float = 0.2, smooth: float = 0.05) -> dict[str, float]:
    """A run's end values (geometric means over the last ``tail`` of the logged states, as in notebook 08),
    the peak of ``R_A`` and the step of that peak, and the end value of the value excess (arithmetic mean)."""
    count = max(1, round(tail * (len(curves) - 1)))
    summary = {
        name: lda_runs.end_value(curves[name], tail)
        for name in ("R_A", "R_I", "attention.same", "attention.identical", "attention.diff", "paper.ratio")
    }
    summary["R_A peak"] = lda_runs.peak_value(curves["R_A"], smooth)
    window = max(1, round(smooth * len(curves)))
    smoothed = np.log(curves["R_A"]).rolling(window, center=True, min_periods=1).mean()
    summary["R_A peak step"] = int(curves["step"].iloc[int(smoothed.to_numpy().argmax())])
    summary["value.excess"] = float(curves["value.excess"].iloc[-count:].mean())
    summary["copy over topic"] = summary["R_I"] / summary["R_A"]
    return summary


def sweep_run(settings: dict, train_seed: int, steps: int, **shared) -> tuple[pd.DataFrame, dict[str, float]]:
    """One run of notebook 09 (a main run or a sweep point): :func:`trajectory_run` on ``settings``.

    settings: the :data:`params.GRID_NAMES` values and ``decoder``; data and training configuration from
    :func:`lda_runs.prepared_run` (``shared``: its ``num_docs``, ``batch_size``, ``log_every``, ``probe_docs``,
    ``data_seed``). A self-contained point for :func:`theory_collection.points.map_points`. Returns the curves and
    :func:`copy_over_topic` of the trained state (bootstrap seeded by ``[data_seed, train_seed]``).
    """
    corpus, probe, whole, masking, config = lda_runs.prepared_run(settings, train_seed, steps, **shared)
    net, curves = trajectory_run(corpus, probe, whole, masking, config, settings["decoder"], settings["init_scale"])
    return curves, copy_over_topic(net, probe, rng=np.random.default_rng([shared["data_seed"], train_seed]))


def copy_stage(curves: pd.DataFrame) -> float:
    """The first logged step from which ``R_I > R_A`` holds to the end (NaN if it does not hold at the end)."""
    ahead = (curves["R_I"] > curves["R_A"]).to_numpy()
    if not ahead[-1]:
        return float("nan")
    behind = np.flatnonzero(~ahead)
    return float(curves["step"].iloc[behind[-1] + 1 if len(behind) else 0])


def run_row(curves: pd.DataFrame, copies: dict[str, float], stage: dict[str, float] | None = None) -> dict:
    """A run's line in notebook 09's tables: :func:`end_summary`, with ``stage`` (the criteria of R_V and R_A)
    the stage steps ``t_V``, ``t_A`` (:func:`lda_runs.stage_summary`) and ``t_I`` (:func:`copy_stage`), then
    the final ``R_I/R_A`` with its interval, the final value excess ``a - b`` and how far the run is from
    settled (:func:`late_drift`)."""
    row = end_summary(curves)
    if stage is not None:
        stages = lda_runs.stage_summary(curves, stage["R_V"], stage["R_A"])
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
    weights, pairs = lda_runs.attention_probe(probe, vocab), PaperPairs(whole)
    rows = []
    for decoder in ("tied", "trained"):
        for s in range(10):
            net = lda_runs.lda_model(vocab, decoder, init_scale, 1000 + s)
            rows.append(
                {
                    **lda_runs.structure(net, weights),
                    **{f"paper.{k}": x for k, x in paper_attention_averages(net, pairs).items()},
                }
            )
    return pd.DataFrame(rows)


@torch.no_grad()
def copy_over_topic(
    net: TopicTransformer, probe: MaskedBatch, num_bootstrap: int = 2000, rng: np.random.Generator | None = None
) -> dict[str, float]:
    """``R_I / R_A = (A_I / U_I) / (A_S / U_S)`` of ``net`` on ``probe``, with a percentile bootstrap over documents.

    The collection's estimator (:mod:`measurements`: per-document attention sums on copies and on
    topic-mates, each against uniform attention, read through :func:`lda_runs.attention_probe`);
    returns ``ratio``, ``low``, ``high`` (95%).
    """
    weights = lda_runs.attention_probe(probe, net.vocab)
    on_kind = weights.sums(net.token_attention(probe.inputs, probe.key_visible))  # kind -> (B,)
    sums = {kind: (on_kind[kind], weights.uniform_sums[kind]) for kind in ("identical", "same_topic")}
    rng = rng if rng is not None else np.random.default_rng(0)
    return ratio_of_sums(sums["identical"], sums["same_topic"], num_bootstrap, rng)
