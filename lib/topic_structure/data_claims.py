"""The claims measured on data: the paper's assumptions A1-A4 (notebook 06) and C6 on Wikipedia (notebook 07).

Notebook 06 measures each assumption on synthetic LDA documents (which satisfy it by construction,
so they calibrate the instrument) and on Wikipedia, with the same LDA instrument
(:mod:`realtext`). The ``*_table`` functions compute what the notebook shows; the ``*_claims``
functions record the claims, each assumption stated as the paper states it (the same direction on
both corpora; the verdict is what the data say). Notebook 07's claims compare a from-scratch MLM
model's statistics (:func:`realtext.scratch_structure`) with what untrained models give, and record
the pretrained proxy's ratios as observations.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from topic_structure.data import Documents, Vocabulary
from topic_structure.realtext import TopicModel, effective_support, top_topic_share

# ----- notebook 06: the criteria, fixed before measuring -----------------------------------------------

CRITERIA = {"A1": 0.9, "A2": 0.25, "A3": 1.0, "A4_entropy": 0.99, "A4_growth": 2.0, "A4_contrast": 0.5}
REASONS = {
    "A1": "'each word belongs to one topic', read as: at least 90% of a word's occurrences in its top topic",
    "A2": "tau << T read as tau < T/4: a same-topic PMI of at least log 4",
    "A3": "a typical document long enough to show each word of its topics once (lenient: the theory wants N >> tau v)",
    "A4_entropy": "near uniform: within 1% of the uniform attention's entropy",
    "A4_growth": "W_K, W_Q stay at the scale of their small start: at most doubled",
}
# The rows compared by the claims: the same LDA instrument on both corpora.
FITTED = {"synthetic": "synthetic, LDA fit", "wikipedia": "Wikipedia, LDA fit"}
SECTION_A1 = "2 · A1: topics nearly disjoint"
SECTION_A2 = "3 · A2: few topics per document"
SECTION_A3 = "4 · A3: documents long relative to $\\tau v$"
SECTION_A4 = "5 · A4: attention near uniform while $W_V$ learns"


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


def disjointness_claims(table, a1: pd.DataFrame, wiki_topics: int) -> None:
    """A1.synthetic and A1.wikipedia (mean top-topic share at least 0.9), and the structure observation."""
    for key, name in FITTED.items():
        table.check(
            f"A1.{key}",
            f"{name} ({'T' if key == 'synthetic' else 'K'} topics): topics are nearly disjoint, "
            "token-weighted mean top-topic share at least 0.9",
            None,
            a1.loc[name, "token-weighted mean"],
            comparison="greater",
            criterion=CRITERIA["A1"],
            criterion_reason=REASONS["A1"],
            kind="assumption",
            data=key,
            section=SECTION_A1,
            figure="06_assumptions_on_data_topic_share",
        )
    table.observe(
        "A1.wikipedia_structure",
        f"Wikipedia: token-weighted mean top-topic share, against 1/K = {1 / wiki_topics:.3g} for structureless topics",
        a1.loc[FITTED["wikipedia"], "token-weighted mean"],
        data="wikipedia",
        section=SECTION_A1,
    )


# ----- A2: few topics per document ----------------------------------------------------------------------


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


def topics_per_document_claims(
    table, a2: pd.DataFrame, counts: dict[str, tuple[np.ndarray, int]], expected: float
) -> None:
    """A2.synthetic_expected (the sampler against the exact expectation) and A2.synthetic / A2.wikipedia.

    counts: :func:`topics_per_document`; expected: ``E[tau_d]`` of the true ``theta`` (incomplete beta function).
    """
    truth = counts["synthetic, true theta"][0]
    table.check(
        "A2.synthetic_expected",
        "synthetic truth: mean number of topics with theta >= 0.1 equals T (1 - I_0.1(alpha, (T-1) alpha))",
        expected,
        truth.mean(),
        4 * truth.std() / math.sqrt(len(truth)),
        comparison="absolute",
        kind="check",
        data="synthetic",
        tolerance_reason="four standard errors of the mean over the sampled documents",
        section=SECTION_A2,
    )
    for key, name in FITTED.items():
        table.check(
            f"A2.{key}",
            f"{name}: few topics per document, mean tau_d / T < 1/4 (T = {counts[name][1]})",
            None,
            a2.loc[name, "mean tau_d / T"],
            comparison="less",
            criterion=CRITERIA["A2"],
            criterion_reason=REASONS["A2"],
            kind="assumption",
            data=key,
            section=SECTION_A2,
            figure="06_assumptions_on_data_topics_per_document",
        )


# ----- A3: documents long relative to tau v -------------------------------------------------------------


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


def length_claims(table, a3: pd.DataFrame) -> None:
    """A3.synthetic and A3.wikipedia: median ``rho_d`` at least 1."""
    for key, name in FITTED.items():
        row = a3.loc[name]
        table.check(
            f"A3.{key}",
            f"{name}: documents are long relative to tau v, median N_d / exp H(p_d) at least 1 (median "
            f"length {row['median N_d']:.0f}, median (tau v)_d {row['median (tau v)_d']:.0f})",
            None,
            row["median rho_d"],
            comparison="greater",
            criterion=CRITERIA["A3"],
            criterion_reason=REASONS["A3"],
            kind="assumption",
            data=key,
            section=SECTION_A3,
            figure="06_assumptions_on_data_length",
        )


# ----- A4: attention near uniform while W_V learns -------------------------------------------------------


def stage_one_claims(table, windows: dict[tuple[str, str], dict], optimizers: dict[str, tuple[str, float, int]]):
    """A4.<data>_entropy / _norms (SGD) and A4.adam.<data>_entropy / _norms, read over stage 1.

    windows: ``{(data, optimizer key): experiments.stage_one_window(...)}``; optimizers:
    ``{key: (optimizer name, learning rate, steps)}``. A run whose W_V never reached the contrast
    criterion has not shown stage 1: its claims are inconclusive, with the contrast it reached.
    """
    for (data, key), window in windows.items():
        prefix = "A4" if key == "sgd" else "A4.adam"
        name, rate, _ = optimizers[key]
        setting = f"{'synthetic LDA' if data == 'synthetic' else 'Wikipedia'}, {name} at learning rate {rate:g}"
        unmet = (
            ""
            if window["reached"]
            else (
                f"W_V's topic contrast reached only {window['contrast']:.3g} of "
                f"{CRITERIA['A4_contrast']} logit within the run: stage 1 not shown"
            )
        )
        common = dict(
            kind="assumption", data=data, unmet=unmet, section=SECTION_A4, figure="06_assumptions_on_data_stage_one"
        )
        table.check(
            f"{prefix}.{data}_entropy",
            f"{setting}: attention stays near uniform while W_V learns (smallest entropy ratio up to step "
            f"{window['step']}, where W_V's contrast reaches 0.5 logit, at least 0.99)",
            None,
            window["min entropy ratio"],
            comparison="greater",
            criterion=CRITERIA["A4_entropy"],
            criterion_reason=REASONS["A4_entropy"],
            **common,
        )
        table.check(
            f"{prefix}.{data}_norms",
            f"{setting}: ||W_K||, ||W_Q|| stay within 2x their initial norm while W_V "
            f"learns (largest growth up to step {window['step']})",
            None,
            window["max growth"],
            comparison="less",
            criterion=CRITERIA["A4_growth"],
            criterion_reason=REASONS["A4_growth"],
            **common,
        )


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


def mask_query_observation(table, spread: pd.Series) -> None:
    """A4.wikipedia_mask_queries: the [MASK] query's score spread over a content-word query's."""
    table.observe(
        "A4.wikipedia_mask_queries",
        "Wikipedia SGD run, end of training: spread over keys of the [MASK] query's "
        "learned scores over that of a content-word query",
        spread.iloc[0] / spread.iloc[1],
        data="wikipedia",
        section=SECTION_A4,
    )


# ----- notebook 07: C6 on Wikipedia ----------------------------------------------------------------------

PROXY = "all-MiniLM-L6-v2, a proxy (distilled, contrastively fine-tuned sentence encoder, not MLM-trained)"
SECTION_MINILM = "3 · (a) The pretrained model: all-MiniLM-L6-v2"
SECTION_SCRATCH = (
    "4 · (b) From scratch: the model of [THEORY.md §3](THEORY.md#3-model-one-layer-transformer) "
    "trained by MLM on the same summaries"
)
UNTRAINED_MODELS = 5  # untrained models behind each criterion of the from-scratch claims


def minilm_observations(table, embedding_stats: dict[str, dict], ratios: dict[str, dict]) -> None:
    """C6.minilm_*: the pretrained proxy's embedding and attention ratios, as observations (no verdict).

    embedding_stats: ``{"inner product", "cosine"}`` -> :func:`measurements.pair_statistics`;
    ratios: :func:`realtext.pretrained_ratios`.
    """
    for name, key in (("inner product", "embedding_ratio"), ("cosine", "embedding_cosine_ratio")):
        stats = embedding_stats[name]
        table.observe(
            f"C6.minilm_{key}",
            f"{PROXY}: input embeddings, same-topic / different-topic mean {name}, 95% interval "
            f"[{stats['ratio_ci'][0]:.3g}, {stats['ratio_ci'][1]:.3g}]",
            stats["ratio"],
            data="wikipedia",
            section=SECTION_MINILM,
            figure="07_wikipedia_pretrained_embedding_gram",
        )
    pooled, per_layer, adjusted = ratios["pooled"], ratios["per_layer"], ratios["adjusted"]
    table.observe(
        "C6.minilm_attention_ratio",
        f"{PROXY}: attention on same-topic / different-topic word pairs relative to "
        f"uniform, pooled over layers and heads, 95% interval [{pooled['low']:.3g}, {pooled['high']:.3g}]",
        pooled["ratio"],
        data="wikipedia",
        section=SECTION_MINILM,
        figure="07_wikipedia_pretrained_attention_ratio",
    )
    table.observe(
        "C6.minilm_attention_layers",
        f"{PROXY}: the smallest per-layer attention ratio over the {len(per_layer['ratio'])} layers",
        float(per_layer["ratio"].min()),
        data="wikipedia",
        section=SECTION_MINILM,
        figure="07_wikipedia_pretrained_attention_ratio",
    )
    table.observe(
        "C6.minilm_attention_distance_adjusted",
        f"{PROXY}: the pooled ratio over what token distance alone gives "
        f"(R_dist = {ratios['distance_only']['ratio']:.3f}), 95% interval [{adjusted['low']:.3g}, "
        f"{adjusted['high']:.3g}]",
        adjusted["ratio"],
        data="wikipedia",
        section=SECTION_MINILM,
    )


def scratch_claims(table, scratch: dict, untrained: pd.DataFrame) -> None:
    """C6.scratch_gram / _value / _attention (above the largest value over untrained models) and their baselines.

    scratch: :func:`realtext.scratch_structure` of the trained model (with bootstrap); untrained: one
    row per untrained model (:func:`realtext.untrained_structure`).
    """
    count = len(untrained)
    for key, theory in (("gram", "C1: Gram E E^T"), ("value", "C2: W_pred W_V E^T")):
        stats = scratch[key]
        table.check(
            f"C6.scratch_{key}",
            f"from-scratch MLM on Wikipedia ({theory}): same-topic minus different-topic mean, "
            "95% bootstrap interval over words above the criterion",
            None,
            stats["contrast"],
            comparison="greater",
            interval=stats["contrast_ci"],
            criterion=float(untrained[key].max()),
            kind="paper",
            data="wikipedia",
            criterion_reason=f"the largest contrast over {count} untrained models of the same configuration",
            section=SECTION_SCRATCH,
            figure="07_wikipedia_scratch_structure",
        )
        table.check(
            f"C6.scratch_{key}_baseline",
            "its permutation baseline (labels shuffled across words) is 0 up to the "
            "shuffles' spread: 0 by construction, so this checks the estimator, not the data",
            0.0,
            stats["baseline_contrast"],
            0.1 * abs(stats["contrast"]),
            "absolute",
            kind="check",
            data="wikipedia",
            tolerance_reason="a tenth of the measured contrast: far above the shuffles' spread at these sizes",
            section=SECTION_SCRATCH,
        )
    attention = scratch["attention"]
    table.check(
        "C6.scratch_attention",
        "from-scratch MLM on Wikipedia (C3): same-topic / different-topic attention relative "
        "to uniform, 95% bootstrap interval over summaries above the criterion",
        None,
        attention["ratio"],
        comparison="greater",
        interval=(attention["low"], attention["high"]),
        criterion=float(untrained["attention"].max()),
        kind="paper",
        data="wikipedia",
        criterion_reason=f"the largest ratio over {count} untrained models of the same configuration",
        section=SECTION_SCRATCH,
        figure="07_wikipedia_scratch_structure",
    )
    table.check(
        "C6.scratch_attention_baseline",
        "its permutation baseline (mean over the shuffles) is 1 up to three standard "
        "errors: 1 by construction, so this checks the estimator, not the data",
        1.0,
        attention["baseline"],
        max(0.05, 3 * attention["baseline_se"]),
        "absolute",
        kind="check",
        data="wikipedia",
        tolerance_reason="three standard errors of the mean over the shuffles, at least 0.05",
        section=SECTION_SCRATCH,
    )
