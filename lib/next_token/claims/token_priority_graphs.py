"""The claims of notebook 01, token-priority graphs and convexity: N1 (the label tops its own sequence) and N2.

N1 and N2 are derived here: the TPG is the public code's (``nxt_token_solver.py:236``, ``Tarjan.initialize``), and
convexity is attributed to the paper only by third-party summaries, not by its abstract, so its source is the
collection's derivation.
"""

from __future__ import annotations

import numpy as np
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import connected_components

from next_token.claims.conditions import DOES_NOT_APPLY, figure_names, spec
from next_token.data import Dataset
from next_token.graphs import TokenPriorityGraphs, label_reaches_sequence, top_scc_is_label_scc
from theory_collection.claims import ClaimsTable, claim_specs

NOTEBOOK = "01_token_priority_graphs"
SECTION_EXAMPLE = "2 · Token-priority graphs: a worked example"
SECTION_GRAPHS = "3 · The graphs of this dataset"
SECTION_N1 = "4 · N1: the label tops its own sequence"
SECTION_N2 = "5 · N2: the log-loss is convex in W"
FIGURE_CHAIN, FIGURE_TPGS, FIGURE_HESSIAN = figure_names(NOTEBOOK, "chain", "tpgs", "hessian")
TPG_OF_THE_CODE = "the TPG of the public code (nxt_token_solver.py:236, Tarjan.initialize)"
CONVEXITY_SOURCE = (
    "THEORY.md §4 N2, derived here; a third-party summary (study.space) says the paper shows convexity under "
    "suitable assumptions, its abstract does not"
)
ROUNDOFF = "float64 round-off in sums of d^4 products (observed ~1e-15 relative)"

SPECS = claim_specs(
    spec(
        "N1.chain_example",
        "check",
        "collection",
        f"THEORY.md §2, the worked example: its SCCs computed by hand from {TPG_OF_THE_CODE}",
        "the chain toy's SCCs are {1,2} => {3} => {0}, as computed by hand",
        SECTION_EXAMPLE,
        FIGURE_CHAIN,
        "the chain toy: K = 4 one-hot embeddings, query 0, five samples (next_token.toys)",
        "true",
        data="",
    ),
    spec(
        "N1.tarjan_vs_scipy",
        "check",
        "collection",
        "THEORY.md §2: the iterative Tarjan of next_token.graphs against scipy's strong components",
        "the iterative Tarjan and scipy give the same SCC partition of every TPG",
        SECTION_GRAPHS,
        FIGURE_TPGS,
        "the {graphs} TPGs drawn of {data}",
        "true",
        reason="{graphs} graphs",
        data="",
    ),
    spec(
        "N1.label_top",
        "derivation",
        "collection",
        f"THEORY.md §4 N1: derived from {TPG_OF_THE_CODE}",
        "in every sample the label reaches every token of its sequence in G^(k_i), so SCC(y_i) is the "
        "unique highest-priority SCC present",
        SECTION_N1,
        FIGURE_TPGS,
        "every sample of {data}",
        "true",
    ),
    spec(
        "N2.variance_identity",
        "derivation",
        "collection",
        CONVEXITY_SOURCE,
        "sympy: the second derivative of one sample's loss along a direction equals the variance of the "
        "direction under the attention (label positions move together)",
        SECTION_N2,
        FIGURE_HESSIAN,
        "symbolic: one sample of four positions with the label at positions 1 and 3, any scores and direction",
        "true",
        data="",
    ),
    spec(
        "N2.variance_numeric",
        "derivation",
        "collection",
        CONVEXITY_SOURCE,
        "the Hessian quadratic form equals the mean attention variance of the direction",
        SECTION_N2,
        FIGURE_HESSIAN,
        "{data}, at a Gaussian W of norm 3 and a Gaussian direction (seed {seed})",
        "relative",
        tolerance=1e-10,
        tolerance_reason=ROUNDOFF,
    ),
    spec(
        "N2.convexity",
        "derivation",
        "collection",
        CONVEXITY_SOURCE,
        "the Hessian of the log-loss is positive semidefinite at random W (convexity)",
        SECTION_N2,
        FIGURE_HESSIAN,
        "{data}, at {points} Gaussian W of norm 3 (seed {seed}); the Hessian on an orthonormal basis of "
        "S_data, or Lanczos beyond 600 edges",
        "greater",
        criterion_reason="symmetric eigensolvers are accurate to about n eps ||H|| (n <= 4096): a PSD matrix can show "
        "eigenvalues down to -1e-12 ||H||",
        reason="{points} random W",
    ),
)


def no_edge(graphs: TokenPriorityGraphs) -> str:
    """Why N2 does not apply (the dataset's TPGs have no edge: S_data = {0} and the loss is constant), or ''."""
    return "" if graphs.adjacency.any() else DOES_NOT_APPLY + "no TPG has an edge, so the loss does not depend on W"


def chain_example(table: ClaimsTable, components: list[list[int]]) -> None:
    """N1.chain_example: the chain toy's SCCs of G^(0), in priority order, against the hand computation."""
    table.record(SPECS["N1.chain_example"], measured=components == [[1, 2], [3], [0]], theory=True)


def tarjan_vs_scipy(table: ClaimsTable, graphs: TokenPriorityGraphs, queries, data: str) -> None:
    """N1.tarjan_vs_scipy: the iterative Tarjan's SCC partition of each G^(k), k in queries, equals scipy's.

    Partitions are compared as (K, K) same-component tables, so the two numberings may differ.
    """
    agree = []
    for k in queries:
        _, reference = connected_components(csr_matrix(graphs.adjacency[k]), directed=True, connection="strong")
        mine = graphs.scc[k]
        agree.append(np.array_equal(mine[:, None] == mine[None, :], reference[:, None] == reference[None, :]))
    table.record(
        SPECS["N1.tarjan_vs_scipy"], measured=all(agree), theory=True, values=dict(graphs=len(agree), data=data)
    )


def label_top(table: ClaimsTable, ds: Dataset, graphs: TokenPriorityGraphs, data: str) -> None:
    """N1.label_top: every token of tok_i is reachable from y_i in G^(k_i), so SCC(y_i) is the unique top SCC."""
    reach = label_reaches_sequence(ds, graphs)
    top = top_scc_is_label_scc(ds, graphs)
    table.record(
        SPECS["N1.label_top"],
        measured=bool(reach.all() and top.all()),
        theory=True,
        values=dict(data=data),
        reason=f"{int(reach.sum())}/{ds.n} samples reach all, {int(top.sum())}/{ds.n} have SCC(y_i) on top",
    )


def variance_identity(table: ClaimsTable, difference) -> None:
    """N2.variance_identity: sympy's simplified difference between the second derivative and the variance is 0."""
    table.record(SPECS["N2.variance_identity"], measured=difference == 0, theory=True)


def variance_numeric(table: ClaimsTable, quadratic: float, variance: float, data: str, seed: int, unmet: str = ""):
    """N2.variance_numeric: the Hessian quadratic form equals the mean attention variance (relative 1e-10); unmet:
    why it does not apply (``no_edge``)."""
    values = dict(data=data, seed=seed)
    table.record(SPECS["N2.variance_numeric"], measured=quadratic, theory=variance, values=values, unmet=unmet)


def convexity(table: ClaimsTable, lows: np.ndarray, highs: np.ndarray, data: str, seed: int, unmet: str = ""):
    """N2.convexity: the smallest Hessian eigenvalue at random W is >= 0 up to eigenvalue round-off."""
    scale = max(1.0, float(np.abs(highs).max()))
    table.record(
        SPECS["N2.convexity"],
        measured=float(lows.min()),
        criterion=-1e-12 * scale,
        values=dict(data=data, seed=seed, points=lows.size),
        unmet=unmet,
    )
