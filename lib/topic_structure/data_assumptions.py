"""The paper's assumptions A1-A4 measured on a corpus (notebook 06): the quantities, not the claims.

Notebook 06 measures each assumption on synthetic LDA documents (which satisfy it by construction, so they
calibrate the instrument) and on Wikipedia, with the same LDA instrument (:mod:`realtext`):

* A1, topics nearly disjoint: each word's top-topic share ``s(w) = max_k p(k | w)`` (:func:`topic_shares`);
* A2, few topics per document: the topics with ``theta_dk >= 0.1`` (:func:`topics_per_document`);
* A3, documents long relative to ``tau v``: the length ``N_d`` against the effective support ``e^{H(p_d)}`` of
  the document's word distribution (:func:`document_supports`);
* A4, attention near uniform while ``W_V`` learns: training runs from a small initialisation
  (:func:`stage_one_runs`), read up to the step at which ``W_V`` has learned a stated topic contrast
  (:func:`stage_one_window`).

The claims, with their thresholds, are :mod:`claims.assumptions_on_data`.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch
from torch.func import functional_call

from topic_structure.batched_training import train_runs
from topic_structure.data import Documents, Vocabulary
from topic_structure.masking import MaskedBatch, MaskingConfig, mask_documents
from topic_structure.model import ModelConfig, TopicTransformer
from topic_structure.realtext import TopicModel, effective_support, top_topic_share
from topic_structure.training import DocumentSource, TrainConfig, measure, train

# Stage 1 is read up to the first logged step at which W_V's topic contrast (same- minus different-topic
# off-diagonal entry) reaches half a logit: W_V has then learned the topics, clearly above its initial noise.
STAGE_ONE_CONTRAST = 0.5
# The rows compared by the claims: the same LDA instrument on both corpora.
FITTED = {"synthetic": "synthetic, LDA fit", "wikipedia": "Wikipedia, LDA fit"}


def true_topic_words(vocab: Vocabulary) -> np.ndarray:
    """(T, T v) the synthetic truth ``beta``: topic k uniform over its own v words."""
    return np.kron(np.eye(vocab.num_topics), np.full((1, vocab.words_per_topic), 1 / vocab.words_per_topic))


# ----- A1: topics nearly disjoint -----------------------------------------------------------------------


def topic_shares(
    vocab: Vocabulary, synthetic_model: TopicModel, wiki_model: TopicModel
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """``{corpus: (s(w) (W,), token counts (W,))}`` for the synthetic truth, its LDA fit and Wikipedia's LDA fit."""
    synthetic_counts = synthetic_model.corpus.word_counts
    return {
        "synthetic, true topics": (
            top_topic_share(true_topic_words(vocab), np.full(vocab.num_topics, 1 / vocab.num_topics)),
            synthetic_counts,
        ),
        "synthetic, LDA fit": (
            top_topic_share(synthetic_model.topic_words, synthetic_model.topic_sizes()),
            synthetic_counts,
        ),
        "Wikipedia, LDA fit": (
            top_topic_share(wiki_model.topic_words, wiki_model.topic_sizes()),
            wiki_model.corpus.word_counts,
        ),
    }


def disjointness_table(shares: dict[str, tuple[np.ndarray, np.ndarray]], min_topic_share: float) -> pd.DataFrame:
    """Per corpus: the token-weighted mean and the median word's ``s(w)``, and the tokens' share in confident words."""
    return pd.DataFrame(
        {
            name: {
                "token-weighted mean": np.average(s, weights=n),
                "median word": np.median(s),
                "tokens with s >= min_topic_share": n[s >= min_topic_share].sum() / n.sum(),
            }
            for name, (s, n) in shares.items()
        }
    ).T


def shared_words(words: tuple[str, ...], share: np.ndarray, counts: np.ndarray, below: float = 0.5, count: int = 12):
    """The ``count`` most frequent words whose top-topic share is below ``below`` (share, counts: (W,))."""
    return [words[i] for i in np.argsort(-counts) if share[i] < below][:count]


def topics_per_document(
    synthetic: Documents, synthetic_model: TopicModel, wiki_model: TopicModel, threshold: float = 0.1
) -> dict[str, tuple[np.ndarray, int]]:
    """``{corpus: (tau_d (D,), topics)}``: per document the number of topics with ``theta_dk >= threshold``."""
    num_topics = synthetic.vocab.num_topics
    return {
        "synthetic, true theta": ((synthetic.topic_weights.numpy() >= threshold).sum(1), num_topics),
        "synthetic, LDA fit": ((synthetic_model.doc_topics >= threshold).sum(1), num_topics),
        "Wikipedia, LDA fit": ((wiki_model.doc_topics >= threshold).sum(1), wiki_model.num_topics),
    }


def topics_per_document_table(counts: dict[str, tuple[np.ndarray, int]]) -> pd.DataFrame:
    """Per corpus: T, the mean and median ``tau_d``, and ``mean tau_d / T``."""
    return pd.DataFrame(
        {
            name: {
                "T": topics,
                "mean tau_d": c.mean(),
                "median tau_d": np.median(c),
                "mean tau_d / T": c.mean() / topics,
            }
            for name, (c, topics) in counts.items()
        }
    ).T


def document_supports(
    synthetic: Documents, synthetic_model: TopicModel, wiki_model: TopicModel
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """``{corpus: (N_d (D,), e^{H(p_d)} (D,))}``: each document's length and its topics' effective support."""
    lengths = synthetic.lengths.numpy()
    truth = effective_support(synthetic.topic_weights.double().numpy(), true_topic_words(synthetic.vocab))
    return {
        "synthetic, true topics": (lengths, truth),
        "synthetic, LDA fit": (lengths, effective_support(synthetic_model.doc_topics, synthetic_model.topic_words)),
        "Wikipedia, LDA fit": (
            wiki_model.corpus.lengths,
            effective_support(wiki_model.doc_topics, wiki_model.topic_words),
        ),
    }


def length_table(supports: dict[str, tuple[np.ndarray, np.ndarray]]) -> pd.DataFrame:
    """Per corpus: median ``N_d``, median ``(tau v)_d``, median ``rho_d = N_d / (tau v)_d``, share ``rho_d >= 1``."""
    return pd.DataFrame(
        {
            name: {
                "median N_d": np.median(n),
                "median (tau v)_d": np.median(s),
                "median rho_d": np.median(n / s),
                "share with rho_d >= 1": np.mean(n / s >= 1),
            }
            for name, (n, s) in supports.items()
        }
    ).T


def mask_query_spread(model) -> pd.Series:
    """Spread over keys (std) of the learned score ``s(k, q)`` for the [MASK] query and, averaged, for content queries.

    model: a trained one-hot :class:`~topic_structure.model.TopicTransformer` (its score matrix
    is (V + 2, V + 2) [key, query]; the keys are its V content words).
    """
    vocab = model.vocab
    scores = model.score_matrix().detach()[: vocab.num_words]  # (V keys, vocab queries), indexed [key, query]
    return pd.Series(
        {
            "[MASK] queries": float(scores[:, vocab.mask_id].std()),
            "content-word queries (mean over words)": float(scores[:, : vocab.num_words].std(0).mean()),
        },
        name="Wikipedia SGD run: std over keys of the learned score",
    )


# ----- A4: stage one, attention entropy and key/query growth -------------------------------------------


def entropy_ratio(attention: torch.Tensor, probe: MaskedBatch, pad_id: int) -> float:
    """Mean over real queries with at least 2 visible keys of ``H(attention row) / log(#visible keys)`` of a
    (B, Nq, Nk) attention on ``probe`` (inputs and key_visible (B, N)); 1 for uniform attention."""
    keys = probe.key_visible.sum(1)  # (B,)
    rows = (probe.inputs != pad_id) & (keys[:, None] >= 2)  # (B, Nq)
    entropy = -(attention * torch.log(attention.clamp_min(1e-30))).sum(-1)  # (B, Nq)
    return float((entropy / torch.log(keys.clamp(min=2).float())[:, None])[rows].mean())


def attention_entropy_ratio(model: TopicTransformer, parameters: dict[str, torch.Tensor], probe: MaskedBatch) -> float:
    """:func:`entropy_ratio` of ``model``'s attention at the state ``parameters`` (``{name: tensor}``), evaluated
    without changing the model."""
    with torch.no_grad():
        attention = functional_call(model, parameters, (probe.inputs, probe.key_visible)).attention  # (B, Nq, Nk)
    return entropy_ratio(attention, probe, model.vocab.pad_id)


@torch.no_grad()
def _measure_with_entropy(model: TopicTransformer, probe: MaskedBatch) -> dict:
    """:func:`training.measure` and the :func:`entropy_ratio` of the model's present attention on ``probe``."""
    attention = model.attention_map(probe.inputs, probe.key_visible)
    record = measure(model, probe, attention)
    record["entropy ratio"] = entropy_ratio(attention, probe, model.vocab.pad_id)
    return record


def stage_one_run(
    vocab: Vocabulary,
    source: DocumentSource,
    masking: MaskingConfig,
    config: TrainConfig,
    init_scale: float,
    probe_docs: int = 64,
    description: str = "stage one",
) -> tuple[pd.DataFrame, TopicTransformer]:
    """Train the one-hot model of THEORY.md §3 from ``init_scale``; per logged step the A4 quantities.

    Columns added to the training history: ``W_V topic contrast`` (same- minus different-topic
    off-diagonal entry of ``W_V`` in token space), ``W_K growth`` and ``W_Q growth`` (norm over
    initial norm) and ``entropy ratio`` (:func:`attention_entropy_ratio` on a fixed probe of
    ``probe_docs`` masked documents). ``config.snapshot_every`` must equal ``config.log_every``.
    """
    if config.snapshot_every != config.log_every:
        raise ValueError(f"snapshot_every must equal log_every, got {config.snapshot_every} and {config.log_every}")
    model = TopicTransformer(
        ModelConfig(vocab.num_topics, vocab.words_per_topic, init_scale=init_scale), seed=config.seed
    )
    probe_rng = np.random.default_rng([config.seed, 1])
    probe = mask_documents(source(probe_docs, probe_rng), masking, probe_rng)
    start = {name: p.detach().clone() for name, p in model.named_parameters()}
    history = train(model, source, masking, config, probe=probe, description=description)
    frame = history.frame()
    snapshots = {0: start, **history.snapshots}
    entropy = [attention_entropy_ratio(model, snapshots[s], probe) if s in snapshots else np.nan for s in frame["step"]]
    return _with_stage_one_columns(frame, entropy), model


def _with_stage_one_columns(frame: pd.DataFrame, entropy) -> pd.DataFrame:
    """A stage-one run's history with its A4 columns: the entropy ratio per logged step (NaN where none was
    measured), W_V's topic contrast and the growth of W_K and W_Q."""
    frame["entropy ratio"] = entropy
    frame["W_V topic contrast"] = frame["value.same_topic"] - frame["value.diff_topic"]
    frame["W_K growth"] = frame["norm.W_K"] / frame["norm.W_K"].iloc[0]
    frame["W_Q growth"] = frame["norm.W_Q"] / frame["norm.W_Q"].iloc[0]
    return frame


def stage_one_window(frame: pd.DataFrame, contrast: float) -> dict:
    """A4 read off a :func:`stage_one_run` up to the first logged step where W_V's contrast reaches ``contrast``.

    Returns ``reached`` (whether it did within the run), ``step`` (that step, or the last one),
    ``contrast`` (W_V's contrast there), ``min entropy ratio`` and ``max growth`` (of W_K and W_Q)
    over the window.
    """
    reached = frame["W_V topic contrast"] >= contrast
    end = int(reached.to_numpy().argmax()) if reached.any() else len(frame) - 1
    window = frame.iloc[: end + 1]
    return {
        "reached": bool(reached.any()),
        "step": int(frame["step"].iloc[end]),
        "contrast": float(frame["W_V topic contrast"].iloc[end]),
        "min entropy ratio": float(window["entropy ratio"].min()),
        "max growth": float(window[["W_K growth", "W_Q growth"]].to_numpy().max()),
    }


def stage_one_runs(
    sources: dict[str, tuple[Vocabulary, DocumentSource]],
    optimizers: dict[str, tuple[str, float, int]],
    masking: MaskingConfig,
    batch_size: int,
    init_scale: float,
    seed: int,
    contrast: float,
    logs: int = 30,
    progress: bool = True,
) -> tuple[dict, dict, dict]:
    """Every corpus trained by every optimizer from ``init_scale``, A4 read off each run: :func:`stage_one_run` of
    each (corpus, optimizer), the optimizers of one corpus trained side by side as one stack
    (:func:`batched_training.train_runs`; equal to the one-run route up to float rounding).

    sources: ``{data: (vocabulary, document source)}``; optimizers: ``{key: (optimizer name, learning
    rate, steps)}``; each run logs (and snapshots) about ``logs`` times (``progress``: a progress bar
    per corpus). Returns three dicts keyed by ``(data, key)``: the runs' frames, the trained models and
    :func:`stage_one_window` at ``contrast``. The entropy ratio is read from the model's attention at each
    logged step (what :func:`stage_one_run` reads from the snapshot stored there).
    """
    runs, trained, windows = {}, {}, {}
    for data, (vocab, source) in sources.items():
        keys = list(optimizers)
        configs = []
        for name, rate, steps in (optimizers[key] for key in keys):
            every = max(1, steps // logs)
            configs.append(TrainConfig(name, rate, 0.0, steps, batch_size, every, every, seed, progress=False))
        models = [
            TopicTransformer(ModelConfig(vocab.num_topics, vocab.words_per_topic, init_scale=init_scale), seed=seed)
            for _ in keys
        ]
        probe_rng = np.random.default_rng([seed, 1])  # as stage_one_run draws its probe of 64 documents
        probe = mask_documents(source(64, probe_rng), masking, probe_rng)
        histories = train_runs(
            models,
            [source] * len(keys),
            [masking] * len(keys),
            configs,
            probes=[probe] * len(keys),
            on_snapshot=lambda *_: None,  # nothing stored: the entropy is read at each logged step instead
            description=data,
            progress=progress,
            measure_state=_measure_with_entropy,
        )
        for key, model, history, config in zip(keys, models, histories, configs):
            frame = history.frame()
            snapshot = (frame["step"] % config.snapshot_every == 0) | (frame["step"] == 0)
            entropy = frame.pop("entropy ratio").where(snapshot)  # NaN where stage_one_run has no snapshot
            runs[data, key], trained[data, key] = _with_stage_one_columns(frame, entropy), model
            windows[data, key] = stage_one_window(runs[data, key], contrast)
    return runs, trained, windows
