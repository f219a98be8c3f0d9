"""Notebook 01's claims: the PMI of the two document models (D1), the masking sampler (M1), the population limit (P1).

D1 and P1 are the collection's own derivations (the paper's abstract speaks of co-occurrence structure, not of these
formulas); M1 checks that the collection's sampler reproduces the masking the public code fixes.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import torch

from theory_collection.claims import claim_specs
from topic_structure.claims import CODE_CONFIG, PUBLIC_CODE, family
from topic_structure.data import Vocabulary, sample_equal_mixture
from topic_structure.masking import MaskingConfig, QueryKind, mask_documents
from topic_structure.measurements import extrapolate_to_infinite_length
from topic_structure.model import TopicTransformer
from topic_structure.population import population_loss

SECTION_PMI = "2 · What co-occurs: the PMI, derived"
SECTION_MASKING = "3 · Masking"
SECTION_LIMIT = "4 · The population limit"
FIGURE_RATES = "01_topic_model_and_masking_rates"
FIGURE_LIMIT = "01_topic_model_and_masking_population_limit"

PMI_LOCATION = (
    "the collection's derivation (notebook 01 §2, THEORY.md §1): the PMI of two words of one document from the "
    "Dirichlet moments; the paper's abstract speaks of co-occurrence structure ('semantic structure, understood as "
    "capturing co-occurrence structure of words'), not of these formulas"
)
PMI_CONDITIONS = (
    "{num_docs} documents of {doc_length} words per model, sampled by the collection: T = {num_topics}, "
    "v = {words_per_topic}; equal mixture of tau = {topics_per_doc} topics; LDA with alpha = {alpha}"
)
PMI_REASON = (
    "4 standard errors from 10 disjoint batches of documents (batch means); the plug-in PMI's O(1/count) bias is far "
    "below it at this corpus size"
)
MASKING_LOCATION = (
    f"{CODE_CONFIG}, keys training.mask_prob, mask_correct_prob, mask_random_prob (0.15, 0.1, 0.1); "
    "src/dataset.py lines 171-191: a position is chosen with probability mask_prob, a chosen one shows [MASK], "
    "keeps its word or shows a random token"
)
MASKING_CONDITIONS = (
    "the collection's sampler (masking.mask_documents) on {words} words of LDA documents, mask_prob {mask_prob}, "
    "keep_prob {keep_prob}, random_prob {random_prob}; unlike the public code, a random token is a content word (the "
    "code draws from all 104 tokens) and every batch is masked afresh (the code masks each document once)"
)
LIMIT_LOCATION = (
    "the collection's bridge between its derivations and training (notebook 01 §4, THEORY.md §2): the exact "
    "N -> infinity loss of population.population_loss"
)


_pmi = family(
    "prediction",
    "collection",
    PMI_LOCATION,
    PMI_CONDITIONS,
    comparison="absolute",
    tolerance_reason=PMI_REASON,
    data="synthetic",
    section=SECTION_PMI,
    figure="01_topic_model_and_masking_pmi",
)
_masking = family(
    "check",
    "paper code",
    MASKING_LOCATION,
    MASKING_CONDITIONS,
    comparison="absolute",
    tolerance_reason="4 binomial standard deviations over {trials:,} trials (false alarm ~6e-5)",
    data="synthetic",
    section=SECTION_MASKING,
    figure=FIGURE_RATES,
)
_limit = family(
    "prediction",
    "collection",
    LIMIT_LOCATION,
    "",
    comparison="absolute",
    data="synthetic",
    section=SECTION_LIMIT,
    figure=FIGURE_LIMIT,
)

SPECS = claim_specs(
    *(
        _pmi(f"D1.pmi_{short}_{key}", f"PMI of {pair} words, {model} documents, equals the derived value")
        for short, model in (("equal", "equal mixture"), ("lda", "LDA"))
        for key, pair in (("same_topic", "same topic"), ("diff_topic", "different topic"))
    ),
    *(
        _masking(claim_id, f"{what} is within 4 binomial s.d. of its nominal rate")
        for claim_id, what in (
            ("M1.chosen_rate", "chosen / words"),
            ("M1.mask_rate", "[MASK] / chosen"),
            ("M1.keep_rate", "kept / chosen"),
            ("M1.random_rate", "random / chosen"),
        )
    ),
    _masking(
        "M1.chosen_hidden",
        "no chosen position is visible as a key (the paper's code hides them)",
        location=f"{PUBLIC_CODE}, src/dataset.py line 181: the attention mask 1 - mask_arr hides the chosen positions "
        "from the keys",
        tolerance_reason="a count: any visible chosen position is a failure",
    ),
    _limit(
        "P1.keys_uniform_rate",
        "TV distance of visible keys to uniform over S decays like N^(-1/2) (log-log slope)",
        conditions="{num_docs_per_length} equal-mixture documents (T = {num_topics}, v = {words_per_topic}, tau = "
        "{topics_per_doc}) at each of the lengths N = {lengths}, masked as in the public code's configuration",
        tolerance=0.03,
        tolerance_reason="5 standard deviations of the fitted slope over seeds ({count} lengths, {num_docs_per_length} "
        "documents each): 0.006 measured over 8 seeds at the quick profile, 0.003 at the paper's",
    ),
    _limit(
        "P1.population_loss",
        "exact population loss equals the Monte-Carlo loss extrapolated to N -> infinity (fit limit + slope / N over "
        "N = {lengths})",
        conditions="a one-layer model with random, non-uniform attention (one-hot E, W_K, W_Q, W_V with entries "
        "N(0, 0.6^2)); {batches} batches of {docs_per_batch} equal-mixture documents (T = {num_topics}, v = "
        "{words_per_topic}, tau = {topics_per_doc}) at each length",
        tolerance_reason="4 standard errors of the fitted intercept (s.e. {standard_error:.2g}; each length's mean "
        "over {batches} batches of {docs_per_batch} documents, independent batch means); the finite-N bias is fitted, "
        "not neglected: slope {slope:.3g}, i.e. {bias_at_longest:+.2g} at N = {longest}; chi2 {chi2:.2g} on {dof} dof "
        "(a larger chi2 would widen the s.e.)",
    ),
)


def record_pmi(table, rows: list[dict], values: dict) -> None:
    """D1.pmi_<model>_<pair>: each measured PMI against its derived value, within 4 standard errors.

    rows: ``{model, pair, theory, measured, standard_error}`` per (model, pair) (notebook 01 §2); a row whose
    theory is not finite (tau = 1: two topics never share an equal-mixture document) is not a claim.
    """
    for row in rows:
        if not math.isfinite(row["theory"]):
            continue
        short = "equal" if row["model"] == "equal mixture" else "lda"
        pair = "same_topic" if row["pair"] == "same topic" else "diff_topic"
        spec = SPECS[f"D1.pmi_{short}_{pair}"]
        table.record(spec, row["measured"], row["theory"], tolerance=4 * row["standard_error"], values=values)


def masking_claims(table, docs, masking: MaskingConfig, seed) -> dict:
    """M1: the rates of chosen / [MASK] / kept / random positions, and chosen positions hidden from the keys.

    Each rate is compared with its nominal value under four binomial standard deviations (``check``
    claims: they test the sampler, not the paper). Returns the masked batch and the rates.
    """
    batch = mask_documents(docs, masking, seed)
    words = int(docs.lengths.sum())
    chosen = int(batch.chosen.sum())
    kinds = batch.query_kind[batch.chosen]

    def share(kind: QueryKind) -> float:
        return float((kinds == kind).float().mean())

    rates = [
        ("M1.chosen_rate", "chosen / words", masking.mask_prob, chosen / words, words),
        ("M1.mask_rate", "[MASK] / chosen", 1 - masking.keep_prob - masking.random_prob, share(QueryKind.MASK), chosen),
        ("M1.keep_rate", "kept / chosen", masking.keep_prob, share(QueryKind.KEEP), chosen),
        ("M1.random_rate", "random / chosen", masking.random_prob, share(QueryKind.RANDOM), chosen),
    ]
    values = {"words": f"{words:,}", **vars(masking)}
    for claim_id, _, nominal, measured, trials in rates:
        sd = math.sqrt(nominal * (1 - nominal) / trials)
        table.record(SPECS[claim_id], measured, nominal, tolerance=4 * sd, values={**values, "trials": trials})
    visible_chosen = int((batch.key_visible & batch.chosen).sum())
    table.record(SPECS["M1.chosen_hidden"], visible_chosen / max(chosen, 1), 0.0, values=values)
    return {"batch": batch, "rates": rates, "words": words, "chosen": chosen}


def key_uniformity_claims(
    table,
    vocab: Vocabulary,
    masking: MaskingConfig,
    topics_per_doc: int,
    seed,
    lengths=(50, 100, 200, 400, 800, 1600, 3200),
    num_docs: int = 200,
) -> pd.DataFrame:
    """P1.keys_uniform_rate: the visible keys of an equal-mixture document become uniform over its words.

    Their total-variation distance to uniform over S is a sum of ``tau v`` fluctuations of size
    ``N^{-1/2}``: the fitted log-log slope must be -1/2. Chosen positions that stayed visible would
    add random words outside S, a floor that flattens the slope. Returns the (N, tv) table.
    """
    rng = np.random.default_rng(seed)
    rows = []
    for length in lengths:
        docs = sample_equal_mixture(vocab, num_docs, topics_per_doc, length, rng)
        keys = mask_documents(docs, masking, rng)
        counts = torch.zeros(len(docs), vocab.size).scatter_add_(1, keys.inputs, keys.key_visible.float())[
            :, : vocab.num_words
        ]
        empirical = counts / counts.sum(1, keepdim=True)
        uniform = docs.topic_weights.repeat_interleave(vocab.words_per_topic, 1) / vocab.words_per_topic
        rows.append(dict(N=length, tv=float(0.5 * (empirical - uniform).abs().sum(1).mean())))
    frame = pd.DataFrame(rows)
    slope = float(np.polyfit(np.log(frame["N"]), np.log(frame["tv"]), 1)[0])
    values = {
        **_topic_counts(vocab, topics_per_doc),
        "num_docs_per_length": num_docs,
        "lengths": ", ".join(map(str, lengths)),
        "count": len(lengths),
    }
    table.record(SPECS["P1.keys_uniform_rate"], slope, -0.5, values=values)
    return frame


def population_limit_claims(
    table,
    model: TopicTransformer,
    topics_per_doc: int,
    masking: MaskingConfig,
    seed,
    lengths=(100, 200, 400, 1000),
    docs_per_batch: int = 16,
    batches: int = 32,
) -> dict:
    """P1.population_loss: the exact N -> infinity loss equals the Monte-Carlo loss extrapolated to N -> infinity.

    ``population_loss`` assumes that chosen positions are not keys (that is what makes the keys
    uniform over S); the Monte-Carlo loss uses the masking as given. At finite N the Monte-Carlo
    loss carries a bias of order 1/N (an attention weight is a ratio of random sums of key counts),
    so the claim compares the exact loss with the intercept of a fit ``limit + slope / N``
    (:func:`measurements.extrapolate_to_infinite_length`), not with the loss at one length. Returns the exact
    loss, the Monte-Carlo table (mean and standard error over ``batches`` batch means per length) and the fit.
    """
    rng = np.random.default_rng(seed)
    vocab = model.vocab
    with torch.no_grad():
        exact = float(population_loss(model, topics_per_doc, masking.keep_prob, masking.random_prob))
        rows = []
        for length in lengths:
            losses = [
                float(
                    model.loss(
                        mask_documents(
                            sample_equal_mixture(vocab, docs_per_batch, topics_per_doc, length, rng), masking, rng
                        )
                    )
                )
                for _ in range(batches)
            ]
            mean, error = float(np.mean(losses)), float(np.std(losses, ddof=1) / math.sqrt(batches))
            rows.append(dict(N=length, monte_carlo=mean, standard_error=error))
    frame = pd.DataFrame(rows).assign(gap=lambda f: f.monte_carlo - exact)
    fit = extrapolate_to_infinite_length(frame)
    longest = int(frame["N"].max())
    values = {
        **_topic_counts(vocab, topics_per_doc),
        **fit,
        "lengths": ", ".join(str(int(n)) for n in frame["N"]),
        "batches": batches,
        "docs_per_batch": docs_per_batch,
        "bias_at_longest": fit["slope"] / longest,
        "longest": longest,
    }
    table.record(SPECS["P1.population_loss"], fit["limit"], exact, tolerance=4 * fit["standard_error"], values=values)
    return {"exact": exact, "monte_carlo": frame, "fit": fit}


def _topic_counts(vocab: Vocabulary, topics_per_doc: int) -> dict:
    return {"num_topics": vocab.num_topics, "words_per_topic": vocab.words_per_topic, "topics_per_doc": topics_per_doc}
