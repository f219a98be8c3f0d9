"""Claim blocks of the next-token notebooks: each takes the measured objects and adds its claims to a ClaimsTable.

Statements, ids, kinds, tolerances and verdict logic are those the notebooks used to write inline; a notebook
calls one function per block.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from theory_collection.claims import ClaimsTable

from next_token import evidence as ev

LOSS_NAMES = {"ce": "CE", "squared": "squared loss (1 - p_y)^2"}


def local_svm_claims(
    table: ClaimsTable,
    runs: pd.DataFrame,
    loss: str,
    learning_rate: float,
    steps: int,
    ids: tuple[str, str, str],
    figure: str,
    section: str,
) -> None:
    """N10 / E4: the global Graph-SVM against the local SVM for a general-head run (``runs`` from
    ``general_head.local_svm_comparison``); ids = (global check, local check, smallest-local observation)."""
    name = LOSS_NAMES[loss]
    B = len(runs)
    diverging = runs[runs["diverging"]]
    regime = (
        ""
        if len(diverging)
        else (
            "no run diverges (the second half grows ||W|| by less than half the distance travelled): a finite "
            f"{name} optimum, where neither SVM describes the direction"
        )
    )
    table.check(
        ids[0],
        f"general head + {name} (normalized GD, eta={learning_rate}, {steps} steps): the "
        f"global Graph-SVM misses the direction on some diverging run ({len(diverging)} of {B}; smallest cos)",
        theory=None,
        measured=float(np.nanmin(diverging["cos global"])) if len(diverging) else float("nan"),
        comparison="less",
        criterion=0.9,
        kind="paper",
        criterion_reason="under the log-loss the same datasets reach cos >= 0.97 at the public code's budget "
        "(notebook 03), so a cos below 0.9 is a different direction, not slow convergence",
        unmet=regime,
        data="synthetic",
        figure=figure,
        section=section,
    )
    ambiguous = int(diverging["ambiguous positions"].sum())
    unmet = regime or ("" if ambiguous == 0 else f"{ambiguous} ambiguous position(s): the selection has not settled")
    table.check(
        ids[1],
        "the local SVM built from the selected tokens predicts the direction: median over "
        "the diverging runs of cos(W, local W^svm)",
        theory=1.0,
        measured=float(np.nanmedian(diverging["cos local"])) if len(diverging) else float("nan"),
        comparison="greater",
        criterion=0.95,
        kind="paper",
        criterion_reason="the log-loss runs reach 0.97-0.99 "
        f"against their own SVM at the same budget (notebook 03); 0.95 leaves room for the slower {name} dynamics",
        unmet=unmet,
        data="synthetic",
        figure=figure,
        section=section,
    )
    table.observe(
        ids[2],
        "smallest cos(W, local W^svm) over all datasets, diverging or not"
        + (" (the brief: one seed in 8 at 0.869)" if loss == "ce" else ""),
        measured=float(np.nanmin(runs["cos local"])),
        data="synthetic",
        section=section,
    )


def factorised_claims(
    table: ClaimsTable,
    summary: pd.DataFrame,
    to_nuclear: ev.Evidence,
    to_frobenius: ev.Evidence,
    optimizer: str,
    steps: int,
    figure: str,
    section: str,
) -> None:
    """Factorised attention W = K Q^T: the existing observations, the nuclear-norm solver's checks, and Tarzanagh et
    al.'s prediction (KQ^T -> W^nuc in direction) judged by N4's bounded-residual rate.

    summary: one row per dataset with columns cos(KQ^T, W^svm), cos(W, W^svm) W-parameterised, stable rank KQ^T,
    stable rank W^svm, cos(KQ^T, W^nuc), cos(W^svm, W^nuc), nuclear gap, ADMM gap, routes distance,
    ||KQ^T||_* / ||W^nuc||_* (both scaled to margin 1).
    to_nuclear, to_frobenius: ``evidence.direction`` of the factorised trajectory against W^nuc and against W^svm.
    """
    cos_svm = summary["cos(KQ^T, W^svm)"]
    table.observe(
        "N10.kq_cos",
        f"cos(KQ^T, W^svm) after {steps} steps of {optimizer} on (K, Q): min / median / max "
        "(the W-parameterised run beside it: median)",
        measured=f"{cos_svm.min():.3f} / {cos_svm.median():.3f} / {cos_svm.max():.3f} "
        f"(W: {summary['cos(W, W^svm), W-parameterised'].median():.3f})",
        data="synthetic",
        figure=figure,
        section=section,
    )
    table.observe(
        "N10.kq_stable_rank",
        "median stable rank of KQ^T against that of W^svm (lower: spectrum concentrated, "
        "as a nuclear-norm bias would give)",
        measured=f"{summary['stable rank KQ^T'].median():.3f} vs {summary['stable rank W^svm'].median():.3f}",
        data="synthetic",
        figure=figure,
        section=section,
    )
    gap = float(np.maximum(summary["nuclear gap"], summary["ADMM gap"]).max())
    table.check(
        "N10.nuc_gap",
        "nuclear-norm Graph-SVM: largest relative duality gap (||W_feas||_* - sum lam / ||G||_op) / ||W_feas||_* "
        "of the factored (SLSQP) and the ADMM solutions over the datasets",
        theory=0.0,
        measured=gap,
        comparison="less",
        criterion=1e-6,
        kind="check",
        criterion_reason="weak duality makes the gap an upper bound on the relative suboptimality; both routes stop "
        "at residuals ~1e-10 (ADMM) and ftol 1e-15 (SLSQP), which leave gaps ~1e-9; a point off the optimum by "
        "1e-6 of its norm or more fails",
        data="synthetic",
        section=section,
    )
    table.check(
        "N10.nuc_routes",
        "largest relative distance ||W_factored - W_admm|| / ||W_factored|| between the two independent solutions",
        theory=0.0,
        measured=float(summary["routes distance"].max()),
        comparison="less",
        criterion=1e-6,
        kind="check",
        criterion_reason="a unique optimum reached by both routes to gaps ~1e-9 puts them ~1e-8 apart (the distance "
        "scales like the square root of the gap near a sharp nuclear-norm minimum at worst); a non-unique optimum or "
        "a wrong route gives O(1)",
        data="synthetic",
        section=section,
    )
    unmet = to_nuclear.unmet
    table.check(
        "N10.kq_nuclear",
        f"Tarzanagh et al.: (K, Q) trained by {optimizer} ({steps} steps) converges in direction to the nuclear-norm "
        "Graph-SVM W^nuc: cos(KQ^T, W^nuc) at the end meets the bounded-residual rate at the reached norm "
        "(worst dataset)",
        theory=1.0,
        measured=to_nuclear.measured,
        comparison="greater",
        criterion=to_nuclear.criterion,
        kind="paper",  # a published claim (Tarzanagh et al.) tested on this setting: a refutation is a finding
        criterion_reason="as N4.cos_svm (notebook 03), with W^nuc in place of W^svm: 1 - g (||W^fin||^2 + "
        "||rho_half||^2) / (2 ||W_end||^2), rho measured against W^nuc; a wrong direction misses it by g^2 (fails)",
        unmet=unmet,
        data="synthetic",
        figure=figure,
        section=section,
    )
    nearer = summary["cos(KQ^T, W^nuc)"] > summary["cos(KQ^T, W^svm)"]
    ratio = summary["||KQ^T||_* / ||W^nuc||_*"]
    table.observe(
        "N10.kq_nuclear_detail",
        "cos(KQ^T, W^nuc) min / median / max; datasets where KQ^T is nearer W^nuc than W^svm; median cos(W^svm, "
        "W^nuc); median ||KQ^T||_* / ||W^nuc||_* at margin 1 (1 = nuclear-optimal); the same rate test against "
        "W^svm (worst dataset cos vs criterion)",
        measured=f"{summary['cos(KQ^T, W^nuc)'].min():.3f} / {summary['cos(KQ^T, W^nuc)'].median():.3f} / "
        f"{summary['cos(KQ^T, W^nuc)'].max():.3f}; {int(nearer.sum())} of {len(summary)}; "
        f"{summary['cos(W^svm, W^nuc)'].median():.3f}; {ratio.median():.3f}; "
        f"{to_frobenius.measured:.3f} vs {to_frobenius.criterion:.3f}",
        data="synthetic",
        figure=figure,
        section=section,
    )
