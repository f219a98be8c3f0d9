"""Notebook 06's claims: the paper's assumptions A1-A4, measured on synthetic LDA documents and on Wikipedia.

The abstract says the mathematical results rest on "several assumptions ... which we verify on data"; which
assumptions, the quantities that measure them and their thresholds are the collection's (its brief lists
disjoint topics, few topics per document, long documents and near-uniform attention while ``W_V`` learns). So
every assumption claim is ``formalised``: its location says what the collection chose. Each is stated the same way
on both corpora; the synthetic documents satisfy it by construction and calibrate the instrument
(:mod:`data_assumptions`).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from theory_collection.claims import ClaimSpec, claim_specs
from topic_structure.claims import ABSTRACT_ASSUMPTIONS, family
from topic_structure.data_assumptions import FITTED, STAGE_ONE_CONTRAST

SECTION_A1 = "2 · A1: topics nearly disjoint"
SECTION_A2 = "3 · A2: few topics per document"
SECTION_A3 = "4 · A3: documents long relative to $\\tau v$"
SECTION_A4 = "5 · A4: attention near uniform while $W_V$ learns"
FIGURE_STAGE_ONE = "06_assumptions_on_data_stage_one"

# The criteria, fixed before measuring.
CRITERIA = {"A1": 0.9, "A2": 0.25, "A3": 1.0, "A4_entropy": 0.99, "A4_growth": 2.0, "A4_contrast": STAGE_ONE_CONTRAST}
REASONS = {
    "A1": "'each word belongs to one topic', read as: at least 90% of a word's occurrences in its top topic",
    "A2": "tau << T read as tau < T/4: a same-topic PMI of at least log 4",
    "A3": "a typical document long enough to show each word of its topics once (lenient: the theory wants N >> tau v)",
    "A4_entropy": "near uniform: within 1% of the uniform attention's entropy",
    "A4_growth": "W_K, W_Q stay at the scale of their small start: at most doubled",
}
CORPORA = {
    "synthetic": "{num_docs} synthetic LDA documents (T = {num_topics}, v = {words_per_topic}, alpha = {alpha}, "
    "{doc_length} words); the LDA instrument: gensim, {num_topics} topics, {lda_passes} passes",
    "wikipedia": "{num_articles} Wikipedia summaries (the collection's offline corpus; the public code fits its LDA, "
    "100 topics, on a whole Wikipedia dump: src/topic_model.py lines 8-16); the LDA instrument: gensim, "
    "{num_lda_topics} topics, {lda_passes} passes",
}


SHORT_SUMMARIES = (
    "the verdict follows from the corpus: the summaries are short (median {median_length:.0f} words of the LDA "
    "vocabulary against a median (tau v)_d of {median_support:.0f}), the first paragraphs of articles, not the "
    "articles themselves"
)


def _chosen(quantity: str) -> str:
    return f"{ABSTRACT_ASSUMPTIONS}; which assumption, and {quantity}, are the collection's: no source fixes them"


LOCATIONS = {
    "A1": _chosen(
        "its measure (the token-weighted mean of each word's top-topic share max_k p(k|w)) and threshold 0.9"
    ),
    "A2": _chosen("its measure (mean over documents of the topics with theta_dk >= 0.1, over T) and threshold 1/4"),
    "A3": _chosen("its measure (median over documents of N_d / exp H(p_d)) and threshold 1"),
    "A4": _chosen(
        "its measures (the smallest attention entropy ratio and the largest growth of ||W_K||, ||W_Q|| up to the step "
        "at which W_V's topic contrast reaches half a logit), thresholds 0.99 and 2, and the runs (initial scale, "
        "optimisers, learning rates)"
    ),
}


def _assumption(claim_id: str, data: str, statement: str, criterion: str, **own) -> ClaimSpec:
    """An assumption claim on ``data``, judged against ``CRITERIA[criterion]`` with its reason."""
    fields = {"conditions": CORPORA[data], "data": data, **own}
    location = LOCATIONS[claim_id.split(".")[0]]
    judged = dict(criterion=CRITERIA[criterion], criterion_reason=REASONS[criterion])
    return ClaimSpec(claim_id, "assumption", "formalised", location, statement, **judged, **fields)


def _on_both(claim: str, statement: str, **own) -> tuple[ClaimSpec, ClaimSpec]:
    """``<claim>.synthetic`` and ``<claim>.wikipedia``: the same statement (after the corpus name) on both."""
    return tuple(_assumption(f"{claim}.{data}", data, FITTED[data] + statement, claim, **own) for data in FITTED)


def _stage_one(claim_id: str, data: str, key: str, which: str) -> ClaimSpec:
    """An A4 claim on ``data`` under optimiser ``key``; ``which``: entropy or norms."""
    optimiser = "{optimizer} at learning rate {learning_rate:g}" if key == "sgd" else "adam at learning rate {rate:g}"
    run = (
        f"{CORPORA[data]}; {optimiser} for at most {{steps}} steps, batches of {{batch_size}}, masking {{mask_prob}} / "
        "{keep_prob} / {random_prob}; one-hot E, W_pred = I, W_K, W_Q, W_V trained from entries N(0, {init_scale}^2)"
    )
    if data == "wikipedia":
        run += ", on the summaries restricted to {wiki_words_per_topic} confident words of each topic"
    setting = f"{'synthetic LDA' if data == 'synthetic' else 'Wikipedia'}, {optimiser}"
    if which == "entropy":
        statement = (
            f"{setting}: attention stays near uniform while W_V learns (smallest entropy ratio up to step {{step}}, "
            "where W_V's contrast reaches 0.5 logit, at least 0.99)"
        )
        shared = dict(comparison="greater", same_runs=(claim_id.replace("entropy", "norms"),))
        return _assumption(claim_id, data, statement, "A4_entropy", conditions=run, **shared, **STAGE_ONE_LINKS)
    statement = (
        f"{setting}: ||W_K||, ||W_Q|| stay within 2x their initial norm while W_V learns (largest growth up to step "
        "{step})"
    )
    shared = dict(comparison="less", same_runs=(claim_id.replace("norms", "entropy"),))
    return _assumption(claim_id, data, statement, "A4_growth", conditions=run, **shared, **STAGE_ONE_LINKS)


STAGE_ONE_LINKS = dict(section=SECTION_A4, figure=FIGURE_STAGE_ONE)
_reference = family("observation", "collection", "", CORPORA["wikipedia"], comparison="observe", data="wikipedia")

SPECS = claim_specs(
    *_on_both(
        "A1",
        " ({topic_symbol} topics): topics are nearly disjoint, token-weighted mean top-topic share at least 0.9",
        comparison="greater",
        section=SECTION_A1,
        figure="06_assumptions_on_data_topic_share",
    ),
    _reference(
        "A1.wikipedia_structure",
        "Wikipedia: token-weighted mean top-topic share, against 1/K = {inverse_topics:.3g} for structureless topics",
        location="the collection's reference for A1 on Wikipedia: the top-topic share of structureless topics is 1/K",
        section=SECTION_A1,
        figure="06_assumptions_on_data_topic_share",
    ),
    ClaimSpec(
        "A2.synthetic_expected",
        "check",
        "collection",
        "the collection's check of its LDA sampler: E[tau_d] of Dirichlet topic proportions (notebook 06 §3)",
        "synthetic truth: mean number of topics with theta >= 0.1 equals T (1 - I_0.1(alpha, (T-1) alpha))",
        CORPORA["synthetic"],
        comparison="absolute",
        tolerance_reason="four standard errors of the mean over the sampled documents",
        data="synthetic",
        section=SECTION_A2,
        figure="06_assumptions_on_data_topics_per_document",
    ),
    *_on_both(
        "A2",
        ": few topics per document, mean tau_d / T < 1/4 (T = {topics})",
        comparison="less",
        section=SECTION_A2,
        figure="06_assumptions_on_data_topics_per_document",
    ),
    *(
        _assumption(
            f"A3.{data}",
            data,
            f"{FITTED[data]}: documents are long relative to tau v, median N_d / exp H(p_d) at least 1 (median length "
            "{median_length:.0f}, median (tau v)_d {median_support:.0f})",
            "A3",
            conditions=CORPORA[data] + "; the median document has {median_length:.0f} words of the LDA vocabulary",
            comparison="greater",
            reason=SHORT_SUMMARIES if data == "wikipedia" else "",
            section=SECTION_A3,
            figure="06_assumptions_on_data_length",
        )
        for data in FITTED
    ),
    *(
        _stage_one(f"A4{'' if key == 'sgd' else '.adam'}.{data}_{which}", data, key, which)
        for data in FITTED
        for key in ("sgd", "adam")
        for which in ("entropy", "norms")
    ),
    _reference(
        "A4.wikipedia_mask_queries",
        "Wikipedia SGD run, end of training: spread over keys of the [MASK] query's learned scores over that of a "
        "content-word query",
        location="the collection's observation on the Wikipedia SGD run of A4: how much the [MASK] query's learned "
        "scores vary over keys",
        conditions=CORPORA["wikipedia"] + "; {optimizer} at learning rate {learning_rate:g} for {steps} steps",
        **STAGE_ONE_LINKS,
    ),
)


def disjointness_claims(table, a1: pd.DataFrame, wiki_topics: int, values: dict) -> None:
    """A1.synthetic and A1.wikipedia (mean top-topic share at least 0.9), and the structure observation.
    a1: :func:`data_assumptions.disjointness_table`; values: the notebook's parameters."""
    for key, name in FITTED.items():
        symbol = {"topic_symbol": "T" if key == "synthetic" else "K"}
        table.record(SPECS[f"A1.{key}"], a1.loc[name, "token-weighted mean"], values={**values, **symbol})
    measured = a1.loc[FITTED["wikipedia"], "token-weighted mean"]
    table.record(SPECS["A1.wikipedia_structure"], measured, values={**values, "inverse_topics": 1 / wiki_topics})


def topics_per_document_claims(
    table, a2: pd.DataFrame, counts: dict[str, tuple[np.ndarray, int]], expected: float, values: dict
) -> None:
    """A2.synthetic_expected (the sampler against the exact expectation) and A2.synthetic / A2.wikipedia.

    counts: :func:`data_assumptions.topics_per_document`; expected: ``E[tau_d]`` of the true ``theta``
    (incomplete beta function).
    """
    truth = counts["synthetic, true theta"][0]
    error = 4 * truth.std() / math.sqrt(len(truth))
    table.record(SPECS["A2.synthetic_expected"], truth.mean(), expected, tolerance=error, values=values)
    for key, name in FITTED.items():
        measured = a2.loc[name, "mean tau_d / T"]
        table.record(SPECS[f"A2.{key}"], measured, values={**values, "topics": counts[name][1]})


def length_claims(table, a3: pd.DataFrame, values: dict) -> None:
    """A3.synthetic and A3.wikipedia: median ``rho_d`` at least 1 (:func:`data_assumptions.length_table`)."""
    for key, name in FITTED.items():
        row = a3.loc[name]
        lengths = {"median_length": row["median N_d"], "median_support": row["median (tau v)_d"]}
        table.record(SPECS[f"A3.{key}"], row["median rho_d"], values={**values, **lengths})


def stage_one_claims(
    table, windows: dict[tuple[str, str], dict], optimizers: dict[str, tuple[str, float, int]], values: dict
) -> None:
    """A4.<data>_entropy / _norms (SGD) and A4.adam.<data>_entropy / _norms, read over stage 1.

    windows: ``{(data, optimizer key): data_assumptions.stage_one_window(...)}``; optimizers:
    ``{key: (optimizer name, learning rate, steps)}``. A run whose W_V never reached the contrast
    criterion has not shown stage 1: its claims are inconclusive, with the contrast it reached. The entropy and
    the norm claims of one run name each other (``same_runs``).
    """
    for (data, key), window in windows.items():
        prefix = "A4" if key == "sgd" else "A4.adam"
        _, rate, steps = optimizers[key]
        unmet = (
            ""
            if window["reached"]
            else f"W_V's topic contrast reached only {window['contrast']:.3g} of {CRITERIA['A4_contrast']} logit "
            "within the run: stage 1 not shown"
        )
        filled = {**values, "step": window["step"], "rate": rate, "steps": steps}
        table.record(SPECS[f"{prefix}.{data}_entropy"], window["min entropy ratio"], values=filled, unmet=unmet)
        table.record(SPECS[f"{prefix}.{data}_norms"], window["max growth"], values=filled, unmet=unmet)


def mask_query_observation(table, spread: pd.Series, values: dict) -> None:
    """A4.wikipedia_mask_queries: the [MASK] query's score spread over a content-word query's
    (:func:`data_assumptions.mask_query_spread`)."""
    table.record(SPECS["A4.wikipedia_mask_queries"], spread.iloc[0] / spread.iloc[1], values=values)
