"""Every claim of the topic paper's notebooks, one module per notebook, named after it.

==============================================  ==============================================================
notebook                                        module
==============================================  ==============================================================
``01_topic_model_and_masking``                  :mod:`.topic_model_and_masking` (D1, M1, P1)
``02_embeddings``                               :mod:`.embeddings` (C1)
``03_value_matrix``                             :mod:`.value_matrix` (C2, and the public code's stage 1)
``04_attention``                                :mod:`.attention` (C3)
``05_two_stage_dynamics``                       :mod:`.two_stage_dynamics` (C4)
``06_assumptions_on_data``                      :mod:`.assumptions_on_data` (A1-A4)
``07_wikipedia``                                :mod:`.wikipedia` (C6)
``08_synthetic_lda``                            :mod:`.synthetic_lda` (C5: the ratios and the two stages)
``09_topic_attention_over_training``            :mod:`.topic_attention_over_training` (C5: over training)
==============================================  ==============================================================

Each module declares its claims as data, ``SPECS = claim_specs(ClaimSpec(...), ...)`` (claims that share most
fields through one :func:`family`)
(:class:`theory_collection.claims.ClaimSpec`: id, kind, source, location, statement, conditions, comparison,
tolerance or criterion with its reason, section, figure), and holds the blocks that compute what a claim
compares and record it with ``table.record(SPECS[id], measured, theory, values=..., ...)``. Nothing else in the
library records claims. Adding a claim is a spec and one ``record`` call.

**Provenance** (what :data:`theory_collection.claims.SOURCES` means, for this paper): what can be checked of the
paper is its abstract, its introduction as far as the collection's brief quotes it, and its authors' public code
(:data:`PUBLIC_CODE`). So ``paper code`` is the source only where that code fixes a setting or ships an output;
the paper's qualitative statements made precise here are ``formalised`` (the location says what the collection
chose); closed forms, the ODE onset, the phase boundary and the exchange rule are the ``collection``'s.
:func:`specs_by_notebook` lists every declared claim for the provenance table that opens
``notebooks/topic_structure/THEORY.md`` (:mod:`theory_collection.provenance`; a test keeps it in step).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from types import SimpleNamespace

from theory_collection.claims import ClaimSpec
from topic_structure.population import EXACT_REASON
from topic_structure.stage_runs import trained_error_model
from topic_structure.training import ConvergedRun

# The public code, and the names of the abstract's sentences the claims cite.
PUBLIC_CODE = "github.com/YuchenLi01/transformer_topic_model_LDA"
CODE_CONFIG = f"{PUBLIC_CODE}, config/bert_lda_hiddenlayers1_heads1_lr0.01_one_hot.yaml"
ABSTRACT_EMBEDDINGS = (
    "abstract: the embedding layer encodes the topical structure, 'higher average inner product of embeddings "
    "between same-topic words'"
)
ABSTRACT_ATTENTION = (
    "abstract: the self-attention layer encodes the topical structure, 'higher average pairwise attention between "
    "same-topic words'"
)
ABSTRACT_ASSUMPTIONS = (
    "abstract: 'The mathematical results involve several assumptions to make the analysis tractable, which we "
    "verify on data'"
)
INTRODUCTION_TWO_STAGES = (
    "introduction (as the collection's brief quotes it): the theory analyses a simplified two-stage training "
    "dynamics, and the authors verify the two-stage nature of training empirically for a wide variety of "
    "optimizers and hyperparameters"
)
# The equal-mixture setting every derivation of notebooks 02-05 is made in.
POPULATION_SETTING = (
    "population limit N -> infinity of equal-mixture documents (T = {num_topics}, v = {words_per_topic}, "
    "tau = {topics_per_doc}), chosen positions hidden from the keys, keep_prob {keep_prob}, random_prob {random_prob}"
)

MODULES = {
    "01_topic_model_and_masking": "topic_model_and_masking",
    "02_embeddings": "embeddings",
    "03_value_matrix": "value_matrix",
    "04_attention": "attention",
    "05_two_stage_dynamics": "two_stage_dynamics",
    "06_assumptions_on_data": "assumptions_on_data",
    "07_wikipedia": "wikipedia",
    "08_synthetic_lda": "synthetic_lda",
    "09_topic_attention_over_training": "topic_attention_over_training",
}


def family(kind: str, source: str, location: str, conditions: str, **shared) -> Callable[..., ClaimSpec]:
    """Declare claims that share their kind, source, location, conditions and any other field: ``declare(id,
    statement, **own)`` is a :class:`ClaimSpec` whose ``own`` fields (``location`` and ``conditions`` among them)
    replace the shared ones."""

    def declare(claim_id: str, statement: str, **own) -> ClaimSpec:
        fields = {"location": location, "conditions": conditions, **shared, **own}
        return ClaimSpec(claim_id, kind, source, fields.pop("location"), statement, **fields)

    return declare


def exact_family(location: str, conditions: str, section: str, figure: str) -> Callable[..., ClaimSpec]:
    """The collection's derivations checked against a full-matrix population optimum (float64 L-BFGS): an absolute
    comparison, with that optimum's error model (notebooks 02 and 03)."""
    shared = dict(comparison="absolute", tolerance_reason=EXACT_REASON, section=section, figure=figure)
    return family("derivation", "collection", location, conditions, **shared)


def trained_specs(prefix: str, statements: dict[str, str], location: str, conditions: str, section: str, figure: str):
    """``<prefix>.<block>.trained`` for each block of ``statements`` (block -> what it is): a trained block against
    the theory at N = infinity (notebooks 02 and 03; :func:`record_trained`)."""
    declare = family("prediction", "collection", location, conditions, comparison="absolute", data="synthetic")
    return [
        declare(
            f"{prefix}.{block}.trained",
            f"{what}: trained on documents of length {{doc_length}} vs theory (N = infinity)",
            section=section,
            figure=figure,
        )
        for block, what in statements.items()
    ]


def record_trained(
    table, specs: dict, blocks, optimum: dict, trained: dict, targets: dict, run: ConvergedRun, values: dict
) -> None:
    """Record the :func:`trained_specs` claims of ``blocks``: each trained block (``trained``) against the theory
    (``optimum``) within the error model of :func:`stage_runs.trained_error_model`; inconclusive when the run did not
    converge or the documents are too short. values: the notebook's parameters (:func:`run_values`)."""
    error = trained_error_model(targets, values["doc_length"])
    unmet = "; ".join(text for text in (run.unmet, error["too_short"]) if text)
    fields = dict(tolerance=error["tolerance"], tolerance_reason=error["reason"], unmet=unmet)
    reason = f"converged: {run.summary}" if run.converged else ""
    for spec in specs:
        block = spec.id.split(".")[1]
        if block in blocks:
            table.record(spec, trained[block], optimum[block], values=values, reason=reason, **fields)


def run_values(parameters: SimpleNamespace | dict, **more) -> dict:
    """The values that fill the ``{name}`` fields of a notebook's specs: its resolved parameters (a document
    length as ``100-150`` or ``1000``) and ``more``."""
    values = dict(vars(parameters) if isinstance(parameters, SimpleNamespace) else parameters)
    length = values.get("doc_length")
    if isinstance(length, list | tuple) and len(length) == 2:
        values["doc_length"] = str(length[0]) if length[0] == length[1] else f"{length[0]}-{length[1]}"
    return {**values, **more}


def specs_by_notebook() -> dict[str, dict[str, ClaimSpec]]:
    """Each notebook's declared claims, ``{notebook stem: {claim id: spec}}``, in notebook order."""
    return {
        notebook: importlib.import_module(f"topic_structure.claims.{module}").SPECS
        for notebook, module in MODULES.items()
    }


def all_specs() -> dict[str, ClaimSpec]:
    """Every declared claim of the paper by id (an id declared by two notebooks is an error)."""
    found: dict[str, ClaimSpec] = {}
    for notebook, specs in specs_by_notebook().items():
        for claim_id, spec in specs.items():
            if claim_id in found:
                raise ValueError(f"claim id {claim_id!r} is declared twice ({notebook})")
            found[claim_id] = spec
    return found
