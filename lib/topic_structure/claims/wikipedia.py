"""Notebook 07's claims (C6): topic structure on Wikipedia.

The paper's Wikipedia evidence is a pretrained BERT (its introduction, as the collection's brief quotes it). The
collection measures two things instead, and says so in every claim: a pretrained proxy, all-MiniLM-L6-v2
(observations, no verdict), and the one-layer model of THEORY.md §3 trained from scratch by MLM on the same
summaries (the C6 verdicts), each against what untrained models give.
"""

from __future__ import annotations

import pandas as pd

from theory_collection.claims import claim_specs
from topic_structure.claims import ABSTRACT_ATTENTION, ABSTRACT_EMBEDDINGS, family

PROXY = "all-MiniLM-L6-v2, a proxy (distilled, contrastively fine-tuned sentence encoder, not MLM-trained)"
SECTION_MINILM = "3 · (a) The pretrained model: all-MiniLM-L6-v2"
SECTION_SCRATCH = (
    "4 · (b) From scratch: the model of [THEORY.md §3](THEORY.md#3-model-one-layer-transformer) "
    "trained by MLM on the same summaries"
)
FIGURE_SCRATCH = "07_wikipedia_scratch_structure"
UNTRAINED_MODELS = 5  # untrained models behind each criterion of the from-scratch claims
BERT = (
    "the paper's Wikipedia evidence is a pretrained BERT (introduction, as the collection's brief quotes it); "
    "the collection measures "
)
PROXY_LOCATION = (
    BERT + "a proxy instead, all-MiniLM-L6-v2, over LDA topics it fits itself; the statistics (same- over "
    "different-topic ratios) are the collection's"
)
SCRATCH_LOCATION = (
    BERT + "a one-layer model trained from scratch instead, and chose the statistic (same- minus different-topic "
    "mean, or the attention ratio) and the criterion (the largest over {untrained} untrained models); it makes "
    "precise the "
)
TOPICS = (
    "{num_articles} Wikipedia summaries (the collection's offline corpus), LDA topics fitted by gensim "
    "({num_lda_topics} topics, {lda_passes} passes), confident words s(w) >= {min_topic_share}"
)
PROXY_CONDITIONS = (
    TOPICS + "; the pretrained all-MiniLM-L6-v2 (not the paper's BERT, not MLM-trained) on {num_pretrained_docs} "
    "summaries cut at {max_tokens} WordPiece tokens; intervals: {num_bootstrap} bootstrap resamples"
)
SCRATCH_CONDITIONS = (
    TOPICS + "; the summaries restricted to {words_per_topic} confident words of each usable topic; the one-layer "
    "model of THEORY.md §3 trained from scratch (not the paper's pretrained BERT): embeddings of width {d_model}, one "
    "head and W_V trained, decoder tied to E, entries N(0, {init_scale}^2), {optimizer} at learning rate "
    "{learning_rate} for {steps} steps of {batch_size} summaries, masking {mask_prob} / {keep_prob} / {random_prob}"
)


_minilm = family("observation", "formalised", PROXY_LOCATION, PROXY_CONDITIONS, comparison="observe", data="wikipedia")
_scratch = family(
    "paper",
    "formalised",
    "",
    SCRATCH_CONDITIONS,
    comparison="greater",
    criterion_reason=f"the largest {{what}} over {UNTRAINED_MODELS} untrained models of the same configuration",
    data="wikipedia",
    section=SECTION_SCRATCH,
    figure=FIGURE_SCRATCH,
)
_baseline = family(
    "check",
    "collection",
    "the collection's check of its estimator: with topic labels shuffled across words the statistic has a known value",
    SCRATCH_CONDITIONS,
    comparison="absolute",
    data="wikipedia",
    section=SECTION_SCRATCH,
    figure=FIGURE_SCRATCH,
)
MINILM_LINKS = dict(section=SECTION_MINILM, figure="07_wikipedia_pretrained_attention_ratio")


SPECS = claim_specs(
    *(
        _minilm(
            f"C6.minilm_{key}",
            f"{PROXY}: input embeddings, same-topic / different-topic mean {name}, 95% interval "
            "[{low:.3g}, {high:.3g}]",
            section=SECTION_MINILM,
            figure="07_wikipedia_pretrained_embedding_gram",
        )
        for name, key in (("inner product", "embedding_ratio"), ("cosine", "embedding_cosine_ratio"))
    ),
    _minilm(
        "C6.minilm_attention_ratio",
        f"{PROXY}: attention on same-topic / different-topic word pairs relative to uniform, pooled over layers and "
        "heads, 95% interval [{low:.3g}, {high:.3g}]",
        **MINILM_LINKS,
    ),
    _minilm(
        "C6.minilm_attention_layers",
        f"{PROXY}: the smallest per-layer attention ratio over the {{layers}} layers",
        **MINILM_LINKS,
    ),
    _minilm(
        "C6.minilm_attention_distance_adjusted",
        f"{PROXY}: the pooled ratio over what token distance alone gives (R_dist = {{distance:.3f}}), 95% interval "
        "[{low:.3g}, {high:.3g}]",
        **MINILM_LINKS,
    ),
    *(
        spec
        for key, theory in (("gram", "C1: Gram E E^T"), ("value", "C2: W_pred W_V E^T"))
        for spec in (
            _scratch(
                f"C6.scratch_{key}",
                f"from-scratch MLM on Wikipedia ({theory}): same-topic minus different-topic mean, 95% bootstrap "
                "interval over words above the criterion",
                location=SCRATCH_LOCATION + ABSTRACT_EMBEDDINGS,
            ),
            _baseline(
                f"C6.scratch_{key}_baseline",
                "its permutation baseline (labels shuffled across words) is 0 up to the shuffles' spread: 0 by "
                "construction, so this checks the estimator, not the data",
                tolerance_reason="a tenth of the measured contrast: far above the shuffles' spread at these sizes",
            ),
        )
    ),
    _scratch(
        "C6.scratch_attention",
        "from-scratch MLM on Wikipedia (C3): same-topic / different-topic attention relative to uniform, 95% bootstrap "
        "interval over summaries above the criterion",
        location=SCRATCH_LOCATION + ABSTRACT_ATTENTION,
    ),
    _baseline(
        "C6.scratch_attention_baseline",
        "its permutation baseline (mean over the shuffles) is 1 up to three standard errors: 1 by construction, so "
        "this checks the estimator, not the data",
        tolerance_reason="three standard errors of the mean over the shuffles, at least 0.05",
    ),
)


def minilm_observations(table, embedding_stats: dict[str, dict], ratios: dict[str, dict], values: dict) -> None:
    """C6.minilm_*: the pretrained proxy's embedding and attention ratios, as observations (no verdict).

    embedding_stats: ``{"inner product", "cosine"}`` -> :func:`measurements.pair_statistics`;
    ratios: :func:`text_models.pretrained_ratios`; values: the notebook's parameters.
    """
    for name, key in (("inner product", "embedding_ratio"), ("cosine", "embedding_cosine_ratio")):
        stats = embedding_stats[name]
        low, high = stats["ratio_ci"]
        table.record(SPECS[f"C6.minilm_{key}"], stats["ratio"], values={**values, "low": low, "high": high})
    pooled, per_layer, adjusted = ratios["pooled"], ratios["per_layer"], ratios["adjusted"]
    interval = {"low": pooled["low"], "high": pooled["high"]}
    table.record(SPECS["C6.minilm_attention_ratio"], pooled["ratio"], values={**values, **interval})
    layers = {"layers": len(per_layer["ratio"])}
    table.record(SPECS["C6.minilm_attention_layers"], float(per_layer["ratio"].min()), values={**values, **layers})
    adjusted_values = {"distance": ratios["distance_only"]["ratio"], "low": adjusted["low"], "high": adjusted["high"]}
    table.record(
        SPECS["C6.minilm_attention_distance_adjusted"], adjusted["ratio"], values={**values, **adjusted_values}
    )


def scratch_claims(table, scratch: dict, untrained: pd.DataFrame, values: dict) -> None:
    """C6.scratch_gram / _value / _attention (above the largest value over untrained models) and their baselines.

    scratch: :func:`text_models.scratch_structure` of the trained model (with bootstrap); untrained: one
    row per untrained model (:func:`text_models.untrained_structure`).
    """
    filled = {**values, "untrained": len(untrained)}
    for key in ("gram", "value"):
        stats = scratch[key]
        table.record(
            SPECS[f"C6.scratch_{key}"],
            stats["contrast"],
            interval=stats["contrast_ci"],
            criterion=float(untrained[key].max()),
            values={**filled, "what": "contrast"},
        )
        baseline = SPECS[f"C6.scratch_{key}_baseline"]
        table.record(baseline, stats["baseline_contrast"], 0.0, tolerance=0.1 * abs(stats["contrast"]), values=filled)
    attention = scratch["attention"]
    table.record(
        SPECS["C6.scratch_attention"],
        attention["ratio"],
        interval=(attention["low"], attention["high"]),
        criterion=float(untrained["attention"].max()),
        values={**filled, "what": "ratio"},
    )
    tolerance = max(0.05, 3 * attention["baseline_se"])
    table.record(SPECS["C6.scratch_attention_baseline"], attention["baseline"], 1.0, tolerance=tolerance, values=filled)
