"""Everything trained on LDA documents (notebooks 08 and 09, claim C5): the runs, what is measured on them, and
what is read off their curves.

* :func:`lda_data` and :func:`lda_run`: one data setting (a fixed corpus, a masked probe, whole held-out documents)
  and one run on it, a self-contained point for :func:`theory_collection.points.map_points`.
* :func:`structure`: the three same- vs different-topic ratios (``R_E`` of the embeddings, ``R_V`` of the
  value output, ``R_A`` of the attention) and the copy ratio ``R_I`` of one model state, measured on every snapshot.
* The readers :func:`end_value`, :func:`peak_value`, :func:`progress`, :func:`stage_summary`, and
  :func:`ratio_intervals` (geometric means over seeds with bootstrap intervals).

Every attention ratio here is :func:`measurements.relative_attention_masses` (one implementation), read for many
states of a model through :class:`measurements.TokenPairProbe`.
"""

from __future__ import annotations

import copy
import functools
import math
from collections.abc import Callable

import numpy as np
import pandas as pd
import torch

from topic_structure.data import Documents, Vocabulary, sample_lda
from topic_structure.masking import MaskedBatch, MaskingConfig, mask_documents
from topic_structure.measurements import TokenPairProbe, block_averages, content_topics, geometric_mean_interval
from topic_structure.model import ModelConfig, TopicTransformer
from topic_structure.params import check_float
from topic_structure.training import TrainConfig, corpus_batches, train

RATIOS = ("R_E", "R_V", "R_A", "R_I")


def lda_probe(
    vocab: Vocabulary, masking: MaskingConfig, alpha: float, doc_length, num_docs: int, seed: int
) -> MaskedBatch:
    """Held-out masked LDA documents on which attention is measured (the same for every run of one data setting)."""
    rng = np.random.default_rng([seed, 1])
    return mask_documents(sample_lda(vocab, num_docs, alpha, doc_length, rng), masking, rng)


def attention_probe(probe: MaskedBatch, vocab: Vocabulary) -> TokenPairProbe:
    """The probe's attention-ratio weights, built once (:class:`measurements.TokenPairProbe`) for :func:`structure`."""
    return TokenPairProbe(probe.inputs, probe.key_visible, content_topics(probe.inputs, vocab), vocab.size)


@torch.no_grad()
def structure(net: TopicTransformer, probe: MaskedBatch | TokenPairProbe) -> dict[str, float]:
    """The three ratios of notebook 08 §2, the copy ratio, their block averages and the matrix norms of one state.

    R_E = (G_diag - G_diff) / (G_diag - G_same) from the Gram matrix ``E E^T`` (a squared-distance
    ratio); R_V = exp(M_same - M_diff) for ``M = W_pred W_V E^T``; R_A and R_I: the topic and copy
    ratios of the attention on ``probe`` (:func:`measurements.relative_attention_masses`, read through
    the probe's token-pair weights; pass :func:`attention_probe` to build them once for many states).
    """
    if isinstance(probe, MaskedBatch):
        probe = attention_probe(probe, net.vocab)
    gram = block_averages(net.gram(), net.vocab)
    value = block_averages(net.value_output_matrix(), net.vocab)
    relative = probe.relative_masses(net.token_attention(probe.inputs, probe.key_visible))
    return {
        "R_E": (gram["diagonal"] - gram["diff_topic"]) / (gram["diagonal"] - gram["same_topic"]),
        "R_V": math.exp(value["same_topic"] - value["diff_topic"]),
        "R_A": relative["same_topic"] / relative["diff_topic"],
        "R_I": relative["identical"] / relative["diff_topic"],
        "gram.identical": gram["diagonal"],
        "gram.same": gram["same_topic"],
        "gram.diff": gram["diff_topic"],
        "value.identical": value["diagonal"],
        "value.same": value["same_topic"],
        "value.diff": value["diff_topic"],
        "attention.identical": relative["identical"],
        "attention.same": relative["same_topic"],
        "attention.diff": relative["diff_topic"],
        **{f"norm.{name}": norm for name, norm in net.matrix_norms().items()},
    }


def lda_model(vocab: Vocabulary, decoder: str, init_scale: float, seed: int) -> TopicTransformer:
    """Everything trained (embeddings of width ``d = V + 2``, attention, value, decoder ``"tied"`` or
    ``"trained"``), entries ``N(0, init_scale^2 / d)``."""
    width = vocab.size
    config = ModelConfig(
        vocab.num_topics,
        vocab.words_per_topic,
        embedding="trained",
        d_model=width,
        attention="trained",
        value="trained",
        decoder=decoder,
        init_scale=init_scale / math.sqrt(width),
    )
    return TopicTransformer(config, seed=seed)


def lda_structure_run(
    corpus: Documents,
    probe: MaskedBatch,
    masking: MaskingConfig,
    config: TrainConfig,
    decoder: str,
    init_scale: float,
    description: str = "training",
    extra: Callable[[TopicTransformer], dict[str, float]] | None = None,
) -> tuple[TopicTransformer, pd.DataFrame, float]:
    """Train :func:`lda_model` on minibatches of ``corpus``; measure :func:`structure` (and ``extra``, if given) at
    every snapshot.

    Returns the trained model, its curves (one row per snapshot, step 0 and the last step included)
    and the mean training loss over the last three logged intervals.
    """
    if not config.snapshot_every:
        raise ValueError("lda_structure_run needs snapshots: set config.snapshot_every")
    net = lda_model(corpus.vocab, decoder, init_scale, config.seed)
    weights = attention_probe(probe, corpus.vocab)
    rows = []

    def measure(step: int, model: TopicTransformer) -> None:
        rows.append({"step": step, **structure(model, weights), **(extra(model) if extra else {})})

    measure(0, net)
    history = train(
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
    return net, pd.DataFrame(rows), float(history.frame()["loss"].iloc[-3:].mean())


@functools.lru_cache(maxsize=4)
def lda_corpus(
    num_topics: int, words_per_topic: int, alpha: float, doc_length: tuple[int, int], num_docs: int, seed: int
) -> Documents:
    """The fixed training corpus of one data setting (cached): it depends on the data parameters and the
    notebook seed, not on the training seed."""
    vocab = Vocabulary(num_topics, words_per_topic)
    return sample_lda(vocab, num_docs, alpha, tuple(doc_length), np.random.default_rng([seed, 0]))


def lda_data(settings: dict, num_docs: int, probe_docs: int, seed: int) -> tuple:
    """Corpus, masked probe, whole held-out documents and masking of one data setting (notebooks 08 and 09).

    settings: the :data:`GRID_NAMES` values. The probe is :func:`lda_probe` (``probe_docs`` documents); the
    whole documents (nothing masked, for the paper's metric) are ``probe_docs`` more from the seed ``[seed, 2]``.
    """
    vocab = Vocabulary(settings["num_topics"], settings["words_per_topic"])
    length = tuple(settings["doc_length"])
    corpus = lda_corpus(vocab.num_topics, vocab.words_per_topic, settings["alpha"], length, num_docs, seed)
    masking = MaskingConfig(settings["mask_prob"], settings["keep_prob"], settings["random_prob"])
    probe = lda_probe(vocab, masking, settings["alpha"], length, probe_docs, seed)
    whole = sample_lda(vocab, probe_docs, settings["alpha"], length, np.random.default_rng([seed, 2]))
    return corpus, probe, whole, masking


def lda_train_config(settings: dict, steps: int, batch_size: int, log_every: int, train_seed: int) -> TrainConfig:
    """The optimiser of ``settings``; a snapshot measured every ``log_every`` steps, the loss logged ten times."""
    return TrainConfig(
        optimizer=settings["optimizer"],
        learning_rate=settings["learning_rate"],
        weight_decay=settings["weight_decay"],
        steps=steps,
        batch_size=batch_size,
        log_every=max(log_every, steps // 10),
        snapshot_every=log_every,
        seed=train_seed,
        progress=False,
    )


def prepared_run(
    settings: dict,
    train_seed: int,
    steps: int,
    num_docs: int,
    batch_size: int,
    log_every: int,
    probe_docs: int,
    data_seed: int,
) -> tuple:
    """The data and the training configuration of one run of notebook 08 or 09: corpus, probe, whole held-out
    documents and masking of the data setting ``settings`` (:func:`lda_data`), and :func:`lda_train_config`."""
    corpus, probe, whole, masking = lda_data(settings, num_docs, probe_docs, data_seed)
    return corpus, probe, whole, masking, lda_train_config(settings, steps, batch_size, log_every, train_seed)


def lda_run(
    settings: dict, decoder: str, train_seed: int, steps: int, **shared
) -> tuple[TopicTransformer, pd.DataFrame, float]:
    """One run of notebook 08: :func:`lda_structure_run` on the data setting ``settings`` (:func:`prepared_run`;
    ``shared``: its ``num_docs``, ``batch_size``, ``log_every``, ``probe_docs``, ``data_seed``).

    A self-contained point for :func:`theory_collection.points.map_points`. Returns the trained model, its
    curves and its final training loss.
    """
    corpus, probe, _, masking, config = prepared_run(settings, train_seed, steps, **shared)
    return lda_structure_run(corpus, probe, masking, config, decoder, settings["init_scale"])


END_BLOCK_QUANTITIES = {
    "gram": "Gram entry $e_i^\\top e_j$",
    "value": "value output $M_{yk}$",
    "attention": "attention mass / uniform mass",
}
END_BLOCK_PAIRS = {"identical": "same word", "same": "same topic, other word", "diff": "different topic"}


def end_block_averages(runs: dict, tail: float = 0.2) -> pd.DataFrame:
    """The block averages of each run at its end (arithmetic mean over the last ``tail`` of the logged states, the
    window of :func:`end_value`), in long form for :func:`figures.block_average_bars`.

    runs: ``{(decoder label, seed): (net, curves, loss)}`` of :func:`lda_run`. Columns: decoder, seed, quantity
    (Gram entry, value output, attention mass / uniform mass), pairs (same word, same topic, different topic), average.
    """
    rows = []
    for (label, train_seed), (_, curves, _) in runs.items():
        last = curves.iloc[-max(1, round(tail * (len(curves) - 1))) :].mean()
        rows += [
            {
                "decoder": label,
                "seed": train_seed,
                "quantity": quantity,
                "pairs": pair,
                "average": last[f"{prefix}.{block}"],
            }
            for prefix, quantity in END_BLOCK_QUANTITIES.items()
            for block, pair in END_BLOCK_PAIRS.items()
        ]
    return pd.DataFrame(rows)


def end_value(curve: pd.Series, tail: float = 0.2) -> float:
    """A ratio at the end of training: geometric mean over the last ``tail`` of the logged states
    (Adam iterates keep fluctuating)."""
    check_float("tail", tail, 0.0, 1.0, low_open=True)
    count = max(1, round(tail * (len(curve) - 1)))
    return float(np.exp(np.log(curve.iloc[-count:]).mean()))


def peak_value(curve: pd.Series, smooth: float = 0.05) -> float:
    """The strongest a ratio got: the largest running geometric mean over ``smooth`` of the logged states."""
    window = max(1, round(smooth * len(curve)))
    return float(np.exp(np.log(curve).rolling(window, center=True, min_periods=1).mean().max()))


def progress(curve: pd.Series, smooth: float = 0.05) -> pd.Series:
    """``s(t) = (log R(t) - log R(0)) / (log R(peak) - log R(0))``: 0 at the start, 1 at the peak
    (meaningless when the ratio never moves; the callers exclude that case)."""
    start = math.log(curve.iloc[0])
    return (np.log(curve) - start) / (math.log(peak_value(curve, smooth)) - start)


def stage_summary(
    curves: pd.DataFrame,
    value_criterion: float,
    attention_criterion: float,
    value_first: float = 0.25,
    tail: float = 0.2,
    smooth: float = 0.05,
) -> dict:
    """What a run's curves say: end values of the four ratios, peaks of R_V and R_A, and the timing of the stages.

    A stage *happens* when its ratio's peak reaches its criterion. ``t_V`` (``t_A``) is the first
    logged step with progress ``s_V >= 1/2`` (``s_A >= 1/2``); ``s_A_at_t_V`` the attention's
    progress then, and the run is value-first when it is at most ``value_first``. Timing is defined
    only when both stages happen (NaN otherwise).
    """
    summary = {ratio: end_value(curves[ratio], tail) for ratio in RATIOS}
    summary.update({f"{ratio} peak": peak_value(curves[ratio], smooth) for ratio in ("R_V", "R_A")})
    value_forms = summary["R_V peak"] >= value_criterion
    both = value_forms and summary["R_A peak"] >= attention_criterion
    s_value, s_attention = progress(curves["R_V"], smooth), progress(curves["R_A"], smooth)
    t_value = int(curves["step"][(s_value >= 0.5).idxmax()])
    t_attention = int(curves["step"][(s_attention >= 0.5).idxmax()])
    s_at = float(s_attention[curves["step"] == t_value].iloc[0])
    summary.update(
        t_V=t_value if value_forms else np.nan,
        t_A=t_attention if both else np.nan,
        s_A_at_t_V=s_at if both else np.nan,
        value_first=(s_at <= value_first) if both else np.nan,
    )
    return summary


def reparametrised(net: TopicTransformer, A: torch.Tensor) -> TopicTransformer:
    """The same function with embeddings ``E A`` (float64 copy): ``W_K, W_Q -> W A^{-T}``, and ``W_V`` to match.

    A: (d, d) invertible. With a tied decoder ``W_V -> A^{-1} W_V A^{-T}``; untied ``W_V A^{-T}``.
    """
    twin = copy.deepcopy(net).double()
    A = A.double()
    inverse_T = torch.linalg.inv(A).T
    with torch.no_grad():
        twin.embedding.copy_(twin.embedding @ A)
        twin.W_K.copy_(twin.W_K @ inverse_T)
        twin.W_Q.copy_(twin.W_Q @ inverse_T)
        twin.W_V.copy_((torch.linalg.inv(A) @ twin.W_V if twin.config.decoder == "tied" else twin.W_V) @ inverse_T)
    return twin


def ratio_intervals(summary: pd.DataFrame, decoders, ratios, seed: int) -> pd.DataFrame:
    """Per decoder and ratio: the geometric mean over seeds and its 95% percentile-bootstrap interval.

    summary: one row per run with ``decoder`` and the ratio columns. Columns: decoder, ratio, geometric mean, low, high.
    """
    rows = []
    for ratio in ratios:
        for label in decoders:
            values = summary.loc[summary.decoder == label, ratio]
            centre, low, high = geometric_mean_interval(values, rng=np.random.default_rng(seed))
            rows.append({"decoder": label, "ratio": ratio, "geometric mean": centre, "low": low, "high": high})
    return pd.DataFrame(rows)
