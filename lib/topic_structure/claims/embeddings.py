"""Notebook 02's claims (C1): the optimal Gram matrix ``E E^T`` in closed form, checked by the full-matrix population
optimum and by training on sampled documents.

The closed form and its nonzero condition are the collection's derivation; the paper's abstract says only that
same-topic embeddings have a higher average inner product. The theory is looked up through its module
(``embeddings.embedding_optimum``), so a test can perturb it and see the verdicts flip.
"""

from __future__ import annotations

import dataclasses

import pandas as pd
import torch

from theory_collection.claims import claim_specs
from topic_structure.claims import (
    ABSTRACT_EMBEDDINGS,
    POPULATION_SETTING,
    exact_family,
    record_trained,
    trained_specs,
)
from topic_structure.measurements import block_averages
from topic_structure.population import EXACT_TOLERANCE, Setting
from topic_structure.stage_runs import ConvergedRun, embedding_model, population_optimum
from topic_structure.theory import embeddings

SECTION_EXACT = "5. Independent check: the full-matrix population optimum"
SECTION_SWEEP = "The condition, tested: sweeping $\\lambda$ through the critical value"
SECTION_TRAINING = "6. Training on sampled documents"
LOCATION = (
    "the collection's closed form (notebook 02 §2-4, THEORY.md §4 C1) of the optimal Gram matrix in the setting it "
    "chose; it makes precise the " + ABSTRACT_EMBEDDINGS
)
EXACT_CONDITIONS = (
    POPULATION_SETTING + "; uniform attention, W_V = I, decoder tied to E, trained E of width d = {d_model} with L2 "
    "penalty lambda = {weight_decay}; the population optimum by float64 L-BFGS from a random start"
)
TRAINED_CONDITIONS = (
    "fresh equal-mixture documents of {doc_length} words (T = {num_topics}, v = {words_per_topic}, tau = "
    "{topics_per_doc}), masking {mask_prob} / {keep_prob} / {random_prob}; uniform attention, W_V = I, decoder tied to "
    "E; E of width d = {d_model} trained from entries N(0, {init_scale}^2) by {optimizer} at learning rate "
    "{learning_rate} then a tenth of it, batches of {batch_size}, L2 penalty lambda = {weight_decay}, in rounds of "
    "{steps} steps until converged"
)
BLOCK_STATEMENTS = {
    "same_topic": "same-topic (off-diagonal) entry of the optimal Gram matrix E E^T",
    "diff_topic": "different-topic entry of the optimal Gram matrix E E^T",
}


_exact = exact_family(LOCATION, EXACT_CONDITIONS, SECTION_EXACT, "02_embeddings_gram")
TRAINED = trained_specs(
    "C1", BLOCK_STATEMENTS, LOCATION, TRAINED_CONDITIONS, SECTION_TRAINING, "02_embeddings_training"
)

SPECS = claim_specs(
    *(
        _exact(
            f"C1.{block}",
            f"{block.replace('_', '-')} entry of the optimal Gram matrix E E^T (uniform attention, W_V = I, tied "
            "decoder): closed form = full-matrix population optimum",
        )
        for block in BLOCK_STATEMENTS
    ),
    _exact(
        "C1.simplex",
        "population optimum: T-1 equal eigenvalues tau v D*, the rest 0 (topic vectors form a regular simplex): "
        "largest deviation / mu_2",
        tolerance=EXACT_TOLERANCE,
    ),
    _exact(
        "C1.nonzero_condition",
        "the optimum is nonzero iff kappa = lambda (T-1) tau v / 2 < 1 - tau/T: full-matrix population optima at "
        "{factors} x the critical lambda_c = {critical:.4g}",
        conditions=EXACT_CONDITIONS.replace("lambda = {weight_decay}", "lambda swept through lambda_c"),
        comparison="true",
        tolerance_reason="",
        reason="at this notebook's lambda: kappa = {kappa:.4g}, threshold {threshold:.4g}; nonzero means "
        "max |G| > 1e-3 (a collapsed optimum reaches < 1e-6)",
        section=SECTION_SWEEP,
        figure="02_embeddings_collapse",
    ),
    *TRAINED,
)


def embedding_exact_claims(
    table, setting: Setting, d_model: int | None = None, sweep_factors=(0.2, 0.5, 0.8, 0.95, 1.05, 1.25)
) -> dict:
    """C1 by two routes: the closed form against the full-matrix population optimum over E.

    Records ``C1.same_topic``, ``C1.diff_topic`` (block values), ``C1.simplex`` (T-1 equal
    eigenvalues) and ``C1.nonzero_condition`` (population optima on both sides of the critical
    weight decay of :func:`embeddings.embedding_critical_weight_decay`, 5% away from it). Returns the
    theory, the population Gram matrix, its eigenvalues and the sweep table.
    """
    vocab = setting.vocab
    optimum = embeddings.embedding_optimum(*setting.counts, setting.weight_decay)
    condition = embeddings.embedding_condition(*setting.counts, setting.weight_decay)
    population = population_optimum(embedding_model(setting, d_model).double(), setting)
    gram = population.gram().detach()
    blocks = block_averages(gram, vocab)
    eigenvalues = torch.linalg.eigvalsh(gram).flip(0)  # descending
    # The error of a numeric optimum is on the scale of the matrix's largest entry, not of each block.
    scale = max(abs(x) for x in optimum.values()) or 1e-2
    values = {**dataclasses.asdict(setting), "d_model": vocab.num_words if d_model is None else d_model}
    for block in ("same_topic", "diff_topic"):
        spec = SPECS[f"C1.{block}"]
        table.record(spec, blocks[block], optimum[block], tolerance=EXACT_TOLERANCE * scale, values=values)
    mu_2 = setting.topics_per_doc * setting.words_per_topic * max(condition["margin"], 0.0)
    if condition["nonzero"]:
        top, rest = eigenvalues[: setting.num_topics - 1], eigenvalues[setting.num_topics - 1 :]
        error = max(float((top - mu_2).abs().max()), float(rest.abs().max())) / mu_2
        table.record(SPECS["C1.simplex"], error, 0.0, values=values)
    critical = embeddings.embedding_critical_weight_decay(*setting.counts)
    sweep = []
    for factor in sweep_factors:
        model_at = population_optimum(embedding_model(setting, d_model).double(), setting, factor * critical)
        size = float(model_at.gram().detach().abs().max())
        sweep.append(
            {
                "lambda / lambda_c": factor,
                "weight_decay": factor * critical,
                "theory same_topic": embeddings.embedding_optimum(*setting.counts, factor * critical)["same_topic"],
                "population same_topic": block_averages(model_at.gram().detach(), vocab)["same_topic"],
                "population max |G|": size,
                "population nonzero": size > 1e-3,
                "theory nonzero": embeddings.embedding_condition(*setting.counts, factor * critical)["nonzero"],
                "closed form nonzero": factor < 1,
            }
        )
    sweep = pd.DataFrame(sweep)
    agree = bool(
        (sweep["population nonzero"] == sweep["theory nonzero"]).all()
        and (sweep["population nonzero"] == sweep["closed form nonzero"]).all()
    )
    factors = ", ".join(f"{f:g}" for f in sweep_factors)
    sweep_values = {**values, **condition, "factors": factors, "critical": critical}
    table.record(SPECS["C1.nonzero_condition"], agree, "true", values=sweep_values)
    return {
        "optimum": optimum,
        "condition": condition,
        "gram": gram,
        "blocks": blocks,
        "eigenvalues": eigenvalues,
        "mu_2": mu_2,
        "critical": critical,
        "sweep": sweep,
    }


def trained_claims(
    table, optimum: dict[str, float], trained: dict[str, float], targets: dict, run: ConvergedRun, values: dict
) -> None:
    """``C1.<block>.trained``: the trained Gram blocks against the closed form at N = infinity
    (:func:`claims.record_trained`). values: the notebook's parameters (:func:`claims.run_values`, with ``d_model``)."""
    record_trained(table, TRAINED, BLOCK_STATEMENTS, optimum, trained, targets, run, values)
