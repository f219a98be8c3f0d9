"""The claims of notebook 04, what the trained layer does: N6 (hard retrieval), N7 (soft composition, L -> L*,
shared contexts) and N8 (the automaton on new contexts, and sampling next tokens from it).

Hard retrieval is a statement of the paper's abstract; the soft composition's precise form (the softmax over C_i of
the W^fin scores), L -> L* and the automaton on new contexts are the collection's versions of the abstract's soft
composition and automaton (``formalised``). A claim whose premise the data lack (no position outside C_i, no cyclic
SCC, no new context with a unique top SCC) is inconclusive with the reason.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from next_token import evidence as ev
from next_token.claims.conditions import DOES_NOT_APPLY, figure_names, spec, with_departures
from next_token.data import Dataset
from next_token.graphs import retrieved_mask, token_priority_graphs
from next_token.measurements import Metrics
from next_token.stacked import ExactSolutions, StackedDatasets
from next_token.svm import solve_graph_svm, solve_w_fin
from next_token.toys import toy_chain, toy_cyclic
from theory_collection.claims import ClaimsTable, claim_specs

NOTEBOOK = "04_retrieval_and_composition"
SECTION_N6 = "2 · N6 · hard retrieval"
SECTION_N7 = "3 · N7 · soft composition, $L \\to L^\\star$, and shared contexts"
SECTION_N8 = "4 · N8 · the automaton on new contexts, and generating next tokens"
FIGURE_RETRIEVAL, FIGURE_COMPOSITION, FIGURE_AUTOMATON = figure_names(NOTEBOOK, "retrieval", "composition", "automaton")
HARD_RETRIEVAL = (
    "abstract: '(1) Hard retrieval: Given input sequence, self-attention precisely selects the high-priority input "
    "tokens associated with the last input token' and 'self-attention learns to retrieve the tokens that belong to the "
    "highest-priority SCC available in the context window'"
)
SOFT_COMPOSITION = (
    "abstract: '(2) Soft composition: It then creates a convex combination of the high-priority tokens from which the "
    "next token can be sampled'; the collection chose the softmax over C_i of the W^fin scores (W^fin as the public "
    "code defines it, train_utils.py:150)"
)
AUTOMATON = (
    "abstract: 'training self-attention with gradient descent learns an automaton which generates the next token'; the "
    "collection chose new contexts of the training TPGs with a unique top SCC C_top, and the softmax over C_top of the "
    "W^fin scores (THEORY.md §4 N8)"
)
PATH = "the exact regularization path of {data}, mu = 1 down to 1e-10"
MAIN = "{run}; {data}"
NEW = "{count} new contexts per dataset of {data}, from the TPGs of each; the layer of the main run ({run})"
DETECTION = "detection threshold 0.01 (the normalized-GD floor of N11 leaves ~eta/2 in W^fin's scores)"


SPECS = claim_specs(
    spec(
        "N6.min_mass",
        "paper",
        "paper",
        HARD_RETRIEVAL,
        "min over samples and datasets of the attention mass on C_i at the end of the main run ({optimizer}, "
        "eta={learning_rate}, {steps} steps)",
        SECTION_N6,
        FIGURE_RETRIEVAL,
        MAIN,
        "greater",
        criterion_reason="detection threshold: 99% of the attention retrieved",
        same_runs=("N6.support", "N7.tv", "N7.loss_gap"),
    ),
    spec(
        "N6.support",
        "paper",
        "paper",
        HARD_RETRIEVAL,
        "at the end of the main run, the support {{t: s_it > 1e-3}} equals C_i for every sample of every dataset "
        "(share of samples per dataset: min {share:.2f})",
        SECTION_N6,
        FIGURE_RETRIEVAL,
        MAIN,
        "true",
        same_runs=("N6.min_mass", "N7.tv"),
    ),
    spec(
        "N6.support_path",
        "prediction",
        "collection",
        "THEORY.md §4 N6, along the regularization path (derived here)",
        "on the exact path at mu = 1e-10 the support {{t: s_it > 1e-3}} equals C_i for every sample of every dataset",
        SECTION_N6,
        FIGURE_RETRIEVAL,
        PATH,
        "true",
    ),
    spec(
        "N6.min_mass_path",
        "prediction",
        "collection",
        "THEORY.md §4 N6, along the regularization path (derived here)",
        "min mass on C_i on the exact path at mu = 1e-10",
        SECTION_N6,
        FIGURE_RETRIEVAL,
        PATH,
        "greater",
        criterion=1 - 1e-5,
        criterion_reason="at the path's norm (R ~ 30-80) the superposition leaves at most ~1e-6 outside C_i",
    ),
    spec(
        "N7.tv",
        "paper",
        "formalised",
        SOFT_COMPOSITION,
        "max over samples and datasets of TV(s_i, softmax over C_i of the W^fin scores) at the end of the main run",
        SECTION_N7,
        FIGURE_COMPOSITION,
        MAIN,
        "less",
        criterion_reason=DETECTION,
    ),
    spec(
        "N7.loss_gap",
        "paper",
        "formalised",
        SOFT_COMPOSITION + "; L(W) -> L* = L_fin(W^fin) (THEORY.md §4 N7)",
        "L(W) - L* at the end of the main run (worst dataset relative to its initial gap)",
        SECTION_N7,
        FIGURE_COMPOSITION,
        MAIN,
        "less",
        criterion_reason="1% of that dataset's initial gap L(0) - L*",
    ),
    spec(
        "N7.frequencies",
        "derivation",
        "collection",
        "THEORY.md §4 N7: with shared contexts W^fin reproduces the empirical label frequencies (derived here for "
        "decoupled contexts)",
        "decoupled shared contexts ({count} in all, toys included): the W^fin composition equals the empirical label "
        "frequencies (largest difference)",
        SECTION_N7,
        FIGURE_COMPOSITION,
        "the two toys of notebook 02 and every shared context of {data}",
        "less",
        criterion=1e-9,
        criterion_reason="Newton's W^fin is stationary to ~1e-13; the map from scores to probabilities is 1-Lipschitz",
    ),
    spec(
        "N7.frequencies_coupled",
        "observation",
        "collection",
        "THEORY.md §4 N7 (derived here: the frequencies are reproduced only by decoupled contexts)",
        "shared contexts whose query has other samples contributing to L_fin ({count}): largest difference between "
        "composition and label frequencies",
        SECTION_N7,
        FIGURE_COMPOSITION,
        "the two toys of notebook 02 and every shared context of {data}",
        "observe",
        reason="the statement holds exactly only for decoupled contexts; coupled ones share W^fin's scores with other "
        "samples",
    ),
    spec(
        "N8.score_gap",
        "derivation",
        "collection",
        "THEORY.md §4 N8: the W^svm margins summed along a path of the TPG (derived here)",
        "on {count} new contexts with a unique top SCC and other tokens, the smallest W^svm score gap between C_top "
        "and the rest",
        SECTION_N8,
        FIGURE_AUTOMATON,
        NEW,
        "greater",
        criterion=1 - 1e-9,
        criterion_reason="the margins hold to the solver's certificate (~1e-12); summing along a path keeps that "
        "accuracy",
    ),
    spec(
        "N8.score_equal",
        "derivation",
        "collection",
        "THEORY.md §4 N8: the Graph-SVM's equality constraints inside an SCC (derived here)",
        "largest spread of the W^svm scores inside C_top on the new contexts",
        SECTION_N8,
        FIGURE_AUTOMATON,
        NEW,
        "less",
        criterion=1e-9,
        criterion_reason="equality constraints hold to the certificate (~1e-12)",
    ),
    spec(
        "N8.tv",
        "paper",
        "formalised",
        AUTOMATON,
        "max TV between the trained layer's attention and softmax over C_top of the W^fin scores on the new contexts",
        SECTION_N8,
        FIGURE_AUTOMATON,
        NEW,
        "less",
        criterion=ev.DETECTION,
        criterion_reason="detection threshold 0.01, as N7.tv",
    ),
    spec(
        "N8.sampling",
        "prediction",
        "formalised",
        AUTOMATON + "; 'a convex combination of the high-priority tokens from which the next token can be sampled'",
        "mean TV between the frequencies of {draws} next tokens sampled from the trained layer per new context and the "
        "automaton's next-token distribution",
        SECTION_N8,
        FIGURE_AUTOMATON,
        NEW,
        "less",
        criterion_reason="triangle inequality: the 99th percentile of the mean TV between draws from the layer and the "
        "layer's distribution (200 Monte Carlo replications) plus the layer's mean TV to the automaton",
    ),
)


def retrieval_claims(
    table: ClaimsTable,
    P,
    stack: StackedDatasets,
    exact: ExactSolutions,
    m_main: Metrics,
    m_path: Metrics,
    texts: dict,
    departures: list[str],
) -> dict:
    """N6.min_mass, N6.support, N6.support_path, N6.min_mass_path; returns ``evidence.retrieval``'s Evidence by name
    (N7 uses its tv and loss_gap). texts: ``run`` and ``data`` in words; departures: how the main run departs from
    the paper's conditions."""
    values = dict(P.__dict__, **texts, share=float(m_main.support[-1].min()))
    evidence = ev.retrieval(stack, exact, m_main)
    trivial = "" if (~exact.retrieved).any() else DOES_NOT_APPLY + "C_i is the whole sequence of every sample"
    outside = dict(
        conditions=with_departures(f"{texts['run']}; {texts['data']}", departures), paper_conditions=not departures
    )
    e = evidence["min_mass"]
    unmet = trivial or e.unmet
    table.record(SPECS["N6.min_mass"], e.measured, 1.0, criterion=e.criterion, unmet=unmet, values=values, **outside)
    e = evidence["support"]
    table.record(SPECS["N6.support"], e.measured, True, unmet=trivial or e.unmet, values=values, **outside)
    path_support = bool(np.all(m_path.support[-1] == 1.0))
    table.record(SPECS["N6.support_path"], path_support, True, unmet=trivial, values=values)
    table.record(SPECS["N6.min_mass_path"], float(m_path.min_mass[-1].min()), 1.0, unmet=trivial, values=values)
    return evidence


def composition_claims(
    table: ClaimsTable, evidence: dict, exact: ExactSolutions, datasets: list[Dataset], texts: dict
) -> pd.DataFrame:
    """N7.tv, N7.loss_gap, and the shared-context frequencies (N7.frequencies, on the two toys and the datasets;
    N7.frequencies_coupled); returns the shared-context table."""
    values = dict(texts)
    composing = (exact.retrieved & ~_label_mask(datasets)).any()
    no_cycle = "" if composing else DOES_NOT_APPLY + "no sample retrieves a token besides its label (no cyclic SCC)"
    e = evidence["tv"]
    table.record(SPECS["N7.tv"], e.measured, 0.0, criterion=e.criterion, unmet=no_cycle or e.unmet, values=values)
    e = evidence["loss_gap"]
    table.record(SPECS["N7.loss_gap"], e.measured, 0.0, criterion=e.criterion, unmet=e.unmet, values=values)
    shared = shared_contexts(datasets)
    free, coupled = shared[shared["decoupled"]], shared[~shared["decoupled"]]
    largest = float(free["largest difference"].max())
    table.record(SPECS["N7.frequencies"], largest, 0.0, values=dict(values, count=len(free)))
    measured = float(coupled["largest difference"].max()) if len(coupled) else "none"
    table.record(SPECS["N7.frequencies_coupled"], measured, values=dict(values, count=len(coupled)))
    return shared


def _label_mask(datasets: list[Dataset]) -> np.ndarray:
    return np.stack([ds.label_mask for ds in datasets])


def shared_contexts(datasets: list[Dataset]) -> pd.DataFrame:
    """Every context shared by several samples, in the two toys of notebook 02 and in ``datasets``: whether it is
    decoupled, the W^fin composition, the empirical label frequencies and their largest difference."""
    rows = []
    sources = [("toy_cyclic", toy_cyclic()), ("toy_chain", toy_chain())]
    for label, ds in sources + [(f"dataset {b}", d) for b, d in enumerate(datasets)]:
        graphs = token_priority_graphs(ds)
        fin = solve_w_fin(ds, graphs, solve_graph_svm(ds, graphs).basis)
        predicted, empirical, decoupled = ev.shared_context_frequencies(ds, fin.W, retrieved_mask(ds, graphs))
        for p, q, free in zip(predicted, empirical, decoupled):
            rows.append(
                {
                    "data": label,
                    "decoupled": bool(free),
                    "W^fin composition": np.round(p, 6).tolist(),
                    "label frequencies": q.tolist(),
                    "largest difference": float(np.abs(p - q).max()),
                }
            )
    return pd.DataFrame(rows)


def automaton_claims(table: ClaimsTable, study: dict, exact: ExactSolutions, P, texts: dict) -> None:
    """N8.score_gap, N8.score_equal, N8.tv, N8.sampling from ``automaton.new_context_study`` on the datasets whose
    exact solutions are ``exact``."""
    gaps, spreads, tv_trained, tv_ray = study["gaps"], study["spreads"], study["tv_trained"], study["tv_ray"]
    values = dict(texts, count=P.new_contexts, draws=P.sample_draws)
    none = DOES_NOT_APPLY + "no new context has a unique top SCC"
    used = "" if tv_trained.size else none
    no_gap = used or ("" if gaps.size else DOES_NOT_APPLY + "C_top fills every new context (no other token)")
    no_tie = used or ("" if (study["top_tokens"] >= 2).any() else DOES_NOT_APPLY + "every C_top is a single token")
    if not (exact.svm_norm > 0).any():  # W^svm = 0 scores every token alike: no gap and no spread to test
        no_gap = no_tie = used or DOES_NOT_APPLY + "W^svm = 0 on every dataset (fully cyclic)"
    table.record(SPECS["N8.score_gap"], _extreme(gaps, np.min), 1.0, unmet=no_gap, values=dict(values, count=gaps.size))
    table.record(SPECS["N8.score_equal"], _extreme(spreads, np.max), 0.0, unmet=no_tie, values=values)
    far = tv_ray.size and tv_ray.max() > ev.DETECTION
    unmet = used or (
        f"at the reached norm the superposition itself is {tv_ray.max():.3g} from the automaton on some context"
        if far
        else ""
    )
    table.record(SPECS["N8.tv"], _extreme(tv_trained, np.max), 0.0, unmet=unmet, values=values)
    criterion = float(np.quantile(study["null"], 0.99) + study["layer_tv"]) if tv_trained.size else 0.0
    table.record(SPECS["N8.sampling"], study["sampled_tv"], 0.0, criterion=criterion, unmet=used, values=values)


def _extreme(values: np.ndarray, reduce) -> float:
    """``reduce`` of the values (nan when there are none: the claim does not apply)."""
    return float(reduce(values)) if values.size else float("nan")
