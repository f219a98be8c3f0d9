"""Claim blocks of the next-token notebooks: each takes the measured objects and adds its claims to a ClaimsTable.

Statements, ids, kinds, tolerances and verdict logic are those the notebooks used to write inline; a notebook
calls one function per block.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from next_token import evidence as ev
from next_token.dynamics import ExactSolutions, Metrics, StackedDatasets, Trajectory
from next_token.graphs import retrieved_mask, token_priority_graphs
from next_token.svm import solve_graph_svm, solve_w_fin
from next_token.toys import toy_chain, toy_cyclic
from theory_collection.claims import ClaimsTable

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


ROUNDOFF_FACTOR = 100.0  # the departure must come within two decades of the float64 unit roundoff


def local_trajectory_claims(
    table: ClaimsTable,
    standard: pd.DataFrame,
    exact: pd.DataFrame,
    runs_exact: pd.DataFrame,
    diverging: list,
    loss: str,
    public_steps: int,
    budget: int,
    ids: tuple[str, str, str, str],
    figure: str,
    section: str,
) -> None:
    """N10 / E4: why cos(W, local W^svm) falls after the public code's budget.

    standard, exact: ``general_head.local_svm_trajectory`` frames of the same runs with the standard and the
    cancellation-free softmax backward; runs_exact: ``local_svm_comparison`` with the cancellation-free backward at
    ``budget`` steps; diverging: the datasets N10.cos_local uses. ids = (trajectory observation, selection check,
    roundoff-onset prediction, cancellation-free cos_local).
    """
    from next_token.general_head import UNIT_ROUNDOFF, trajectory_departure

    name = LOSS_NAMES[loss]
    mine = standard[standard["dataset"].isin(diverging)]
    by_step = mine.groupby("step")["cos local"].median()
    end = int(mine["step"].max())
    at = {s: float(by_step.get(s, np.nan)) for s in (public_steps, budget, end)}
    table.observe(
        ids[0],
        f"{name}, standard softmax backward, {len(diverging)} diverging run(s): median cos(W_t, local W^svm) at its "
        f"peak (step) / at the public budget {public_steps} / at this profile's budget {budget} / at step {end}",
        measured=f"{by_step.max():.4f} (step {int(by_step.idxmax())}) / {at[public_steps]:.4f} / {at[budget]:.4f} / "
        f"{at[end]:.4f}"
        if len(mine)
        else "no diverging run",
        data="synthetic",
        figure=figure,
        section=section,
    )
    after = mine[mine["step"] >= public_steps]
    table.check(
        ids[1],
        f"{name}: the comparison keeps its constraint set: selected positions (attention > 1e-2) that differ from the "
        f"selection at step {public_steps}, summed over the checkpoints up to step {end} (diverging runs)",
        theory=0.0,
        measured=float(after["selection changes"].sum()) if len(after) else float("nan"),
        comparison="less",
        criterion=0.5,
        kind="check",
        criterion_reason="a count: one changed position means the local SVM was rebuilt on other constraints "
        "(hypothesis (a), the selection shrinking as ||W|| grows)",
        unmet="" if len(after) else "no diverging run reaches the public budget",
        data="synthetic",
        figure=figure,
        section=section,
    )
    departure = trajectory_departure(standard, exact).loc[diverging] if len(diverging) else None
    parted = departure.dropna(subset=["departure step"]) if departure is not None else None
    table.check(
        ids[2],
        f"{name}: the standard-backward run leaves the cancellation-free one (|delta cos local| > 1e-3) only once its "
        "largest unselected attention is at the float64 unit roundoff u = 2^-53: largest such attention at departure "
        f"(diverging runs), criterion {ROUNDOFF_FACTOR:g} u",
        theory=UNIT_ROUNDOFF,
        measured=float(parted["max unselected attention at departure"].max())
        if parted is not None and len(parted)
        else float("nan"),
        comparison="less",
        criterion=ROUNDOFF_FACTOR * UNIT_ROUNDOFF,
        kind="prediction",
        criterion_reason="the two backward formulas are equal in exact arithmetic and differ in float64 by ~u relative "
        "to the selected term, which dominates the gradient once the unselected attention is ~u; a departure while the "
        "unselected attention is well above u (a genuine drift, or another numerical cause) fails",
        unmet="" if parted is not None and len(parted) else f"the runs do not part by step {end}",
        data="synthetic",
        figure=figure,
        section=section,
    )
    diverging_exact = runs_exact[runs_exact["diverging"]]
    table.check(
        ids[3],
        f"{name} with the cancellation-free softmax backward (the same runs, {budget} steps): median over the "
        "diverging runs of cos(W, local W^svm) (the statement of the local-SVM claim above, rounding removed)",
        theory=1.0,
        measured=float(np.nanmedian(diverging_exact["cos local"])) if len(diverging_exact) else float("nan"),
        comparison="greater",
        criterion=0.95,
        kind="paper",
        criterion_reason="as the local-SVM claim above (same criterion); only the float64 evaluation of the softmax "
        "Jacobian differs",
        unmet="" if len(diverging_exact) else "no run diverges",
        data="synthetic",
        figure=figure,
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
        "the extension to gradient descent of Tarzanagh et al.'s regularization-path theorem, which they support "
        f"empirically: (K, Q) trained by {optimizer} ({steps} steps) converges in direction to the nuclear-norm "
        "Graph-SVM W^nuc: cos(KQ^T, W^nuc) at the end meets the bounded-residual rate at the reached norm "
        "(worst dataset)",
        theory=1.0,
        measured=to_nuclear.measured,
        comparison="greater",
        criterion=to_nuclear.criterion,
        kind="paper",  # Tarzanagh et al.'s published (empirical, not proved) GD claim: a refutation is a finding
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


def direction_claims(
    table: ClaimsTable,
    P,
    exact: ExactSolutions,
    m_main: Metrics,
    m_path: Metrics,
    gd: Trajectory,
    m_gd: Metrics,
    name: str,
) -> pd.DataFrame:
    """Notebook 03, N4: N4.cos_svm (main run), N4.cos_path (exact path), N4.log_growth (plain GD); returns the
    per-dataset detail of the main run's rate test. Metrics have fields (m, B) along each run."""
    section = "3 · N4 · directional convergence, and its rate"
    e = ev.direction(m_main, exact)
    table.check(
        "N4.cos_svm",
        f"cos(W, W^svm) at the end of the main run ({P.optimizer}, eta={P.learning_rate}, "
        f"{P.steps} steps, from 0) meets the bounded-residual rate at the reached norm (worst dataset)",
        theory=1.0,
        measured=e.measured,
        comparison="greater",
        criterion=e.criterion,
        kind="paper",
        criterion_reason="1 - g (||W^fin||^2 + ||rho_half||^2) / (2 ||W_end||^2): the predicted rate with rho "
        "taken at half the final norm, slack g = norm growth (>= 2); a wrong direction misses it by g^2 (fails), "
        "between g and g^2 inconclusive (pre-asymptotic)",
        unmet=e.unmet,
        data="synthetic",
        figure=f"{name}_direction",
        section=section,
    )
    e_path = ev.direction(m_path, exact)
    table.check(
        "N4.cos_path",
        f"along the exact regularization path (mu down to {P.smallest_mu:g}) cos(W_mu, W^svm) meets "
        "the same rate (worst dataset)",
        theory=1.0,
        measured=e_path.measured,
        comparison="greater",
        criterion=e_path.criterion,
        kind="prediction",
        criterion_reason="as N4.cos_svm",
        unmet=e_path.unmet,
        data="synthetic",
        figure=f"{name}_direction",
        section=section,
    )
    slope = np.polyfit(
        np.log(gd.steps[gd.steps >= P.gd_steps // 10]), m_gd.norm[gd.steps >= P.gd_steps // 10].mean(axis=1), 1
    )[0]
    table.observe(
        "N4.log_growth",
        "plain GD: slope of mean ||W|| against ln t over the last decade of steps (log growth: a constant slope)",
        measured=float(slope),
        data="synthetic",
        figure=f"{name}_direction",
        section=section,
    )
    return pd.DataFrame(
        {
            "cos end": e.detail["cos"],
            "||W|| end": e.detail["norm"],
            "predicted 1-cos": e.detail["predicted"],
            "norm growth g": e.detail["growth"],
            "(1-cos)/(g·predicted)": e.detail["ratio"],
        }
    )


def finite_component_claims(
    table: ClaimsTable,
    P,
    exact: ExactSolutions,
    m_main: Metrics,
    m_path: Metrics,
    plateau_runs: dict,
    used: np.ndarray,
    name: str,
) -> pd.DataFrame | None:
    """Notebook 03, N5 and N11: N5.fin_dist, N5.fin_dist_path, N11.plateau. plateau_runs maps eta to fin_dist (m, B)
    of a normalized-GD run; used (B,) marks datasets with S_fin != {0}. Returns the plateau ratios (eta x dataset)."""
    section = "4 · N5 and N11 · the finite component, and the normalized-GD plateau"
    e = ev.fin_component(m_main, exact, P.optimizer, P.learning_rate)
    table.check(
        "N5.fin_dist",
        f"||Pi_Sfin W - W^fin|| at the end of the main run ({P.optimizer}, eta={P.learning_rate}, "
        f"{P.steps} steps) (worst dataset)",
        theory=0.0,
        measured=e.measured,
        comparison="less",
        criterion=e.criterion,
        kind="paper",
        criterion_reason="max(optimizer floor: eta for normalized GD (N11), 0 for GD; 10% of the run's peak distance)",
        unmet=e.unmet,
        data="synthetic",
        figure=f"{name}_finite_component",
        section=section,
    )
    if used.any():
        table.check(
            "N5.fin_dist_path",
            f"||Pi_Sfin W_mu - W^fin|| at mu = {P.smallest_mu:g} on the exact path (largest over datasets)",
            theory=0.0,
            measured=float(m_path.fin_dist[-1].max()),
            comparison="less",
            criterion=1e-5,
            kind="derivation",
            criterion_reason="Newton to a stationarity residual ~1e-11 and the "
            "exponentially small pull of the SVM part at the path's norm leave far less than 1e-5",
            data="synthetic",
            figure=f"{name}_finite_component",
            section=section,
        )
    e11 = ev.plateau(plateau_runs, used)
    table.check(
        "N11.plateau",
        f"normalized GD: (median of fin_dist over the last quarter of {P.steps} steps) / eta, "
        f"median over datasets and eta in {P.plateau_rates}",
        theory=0.5,
        measured=e11.measured,
        tolerance=0.3,
        comparison="relative",
        kind="derivation",
        tolerance_reason="the one-dimensional bounce gives exactly eta/2 "
        "on average; in S_fin of dimension > 1 the step direction turns, and the brief measured 0.42-0.60 eta",
        unmet=e11.unmet,
        data="synthetic",
        figure=f"{name}_finite_component",
        section=section,
    )
    if not used.any():
        return None
    return pd.DataFrame(
        e11.detail["ratios"],
        index=[f"eta={r:g}" for r in P.plateau_rates],
        columns=[f"dataset {b}" for b in np.flatnonzero(used)],
    )


def superposition_claims(
    table: ClaimsTable,
    P,
    m_main: Metrics,
    m_path: Metrics,
    ray_gap: np.ndarray,
    ray_bound: np.ndarray,
    exact: ExactSolutions,
    name: str,
) -> None:
    """Notebook 03, N9: N9.superposition, N9.residual, N9.residual_path, N9.ray_loss, N9.code_corr. ray_gap and
    ray_bound (r, B): L(R W_hat + W^fin) - L* and its derived bound at each radius."""
    section = "5 · N9 · the superposition, and the residual"
    e = ev.superposition(m_main, exact)
    table.check(
        "N9.superposition",
        "main run: (||rho||/||W|| at the end) / (||rho||/||W|| at half the final norm), "
        "worst dataset: the relative residual shrinks as ||W|| grows",
        theory=None,
        measured=e.measured,
        comparison="less",
        criterion=1.0,
        kind="prediction",
        criterion_reason="rho/||W|| -> 0 needs rho to grow "
        "slower than ||W||; with the norm at least doubled, a proportional residual gives 1",
        unmet=e.unmet,
        data="synthetic",
        figure=f"{name}_superposition",
        section=section,
    )
    table.observe(
        "N9.residual",
        "||rho|| at the end of the main run, min / mean / max (not claimed to vanish)",
        measured=f"{m_main.residual[-1].min():.3g} / {m_main.residual[-1].mean():.3g} / "
        f"{m_main.residual[-1].max():.3g}",
        data="synthetic",
        figure=f"{name}_superposition",
        section=section,
    )
    table.observe(
        "N9.residual_path",
        f"||rho|| on the exact path at mu = {P.smallest_mu:g}, min / mean / max",
        measured=f"{m_path.residual[-1].min():.3g} / {m_path.residual[-1].mean():.3g} / "
        f"{m_path.residual[-1].max():.3g}",
        data="synthetic",
        figure=f"{name}_superposition",
        section=section,
    )
    excess = float(np.max(ray_gap - ray_bound))
    table.check(
        "N9.ray_loss",
        "L(R W_hat + W^fin) - L* never exceeds its derived bound on R in [1, 256] (largest excess)",
        theory=None,
        measured=excess,
        comparison="less",
        criterion=1e-13,
        kind="derivation",
        criterion_reason="float round-off of two log-sum-exps of O(1) scores",
        data="synthetic",
        figure=f"{name}_superposition",
        section=section,
    )
    table.observe(
        "N9.code_corr",
        "the public code's corr(W, W^fin + R W^svm) against corr(W, W^svm) at the end of the "
        "main run (means): only marginally higher",
        measured=f"{np.nanmean(m_main.cos_superposition[-1]):.5f} vs {np.nanmean(m_main.cos_svm[-1]):.5f}",
        data="synthetic",
        section=section,
    )


def reproduction_claims(table: ClaimsTable, reproduction: pd.DataFrame, name: str) -> None:
    """Notebook 03: one observation per public-code experiment (E1-E3) from ``dynamics.reproduce_experiments``."""
    section = "6 · The public code's experiments E1–E3, ten datasets each"
    for experiment, row in reproduction.iterrows():
        table.observe(
            f"{experiment}.reproduction",
            f"{experiment} ({row['class']}, n,T,K,d = {row['n, T, K, d']}), the public code's "
            "protocol on 10 datasets: cos(W, W^svm) at 4000, mean ± sd [min, max]",
            measured=f"{row['cos(W, W^svm) at 4000: mean ± sd']} {row['[min, max]']}",
            theory=None,
            reason="public code: " + row["public code (quoted)"],
            data="synthetic",
            figure=f"{name}_reproduction",
            section=section,
        )


def retrieval_claims(
    table: ClaimsTable, P, stack: StackedDatasets, exact: ExactSolutions, m_main: Metrics, m_path: Metrics, name: str
) -> dict:
    """Notebook 04, N6: N6.min_mass, N6.support, N6.support_path, N6.min_mass_path; returns
    ``evidence.retrieval``'s Evidence by name (N7 uses its tv and loss_gap)."""
    section = "2 · N6 · hard retrieval"
    evidence = ev.retrieval(stack, exact, m_main)
    e = evidence["min_mass"]
    table.check(
        "N6.min_mass",
        f"min over samples and datasets of the attention mass on C_i at the end of the main run "
        f"({P.optimizer}, eta={P.learning_rate}, {P.steps} steps)",
        theory=1.0,
        measured=e.measured,
        comparison="greater",
        criterion=e.criterion,
        kind="paper",
        criterion_reason="detection threshold: 99% of the attention retrieved",
        unmet=e.unmet,
        data="synthetic",
        figure=f"{name}_retrieval",
        section=section,
    )
    e = evidence["support"]
    table.check(
        "N6.support",
        "at the end of the main run, the support {t: s_it > 1e-3} equals C_i for every sample of "
        f"every dataset (share of samples per dataset: min {m_main.support[-1].min():.2f})",
        theory=True,
        measured=e.measured,
        comparison="true",
        kind="paper",
        unmet=e.unmet,
        data="synthetic",
        figure=f"{name}_retrieval",
        section=section,
    )
    table.check(
        "N6.support_path",
        "on the exact path at mu = 1e-10 the support {t: s_it > 1e-3} equals C_i for every sample of every dataset",
        theory=True,
        measured=bool(np.all(m_path.support[-1] == 1.0)),
        comparison="true",
        kind="prediction",
        data="synthetic",
        figure=f"{name}_retrieval",
        section=section,
    )
    table.check(
        "N6.min_mass_path",
        "min mass on C_i on the exact path at mu = 1e-10",
        theory=1.0,
        measured=float(m_path.min_mass[-1].min()),
        comparison="greater",
        criterion=1 - 1e-5,
        kind="prediction",
        criterion_reason="at the path's norm (R ~ 30-80) the superposition leaves at most ~1e-6 outside C_i",
        data="synthetic",
        figure=f"{name}_retrieval",
        section=section,
    )
    return evidence


def composition_claims(table: ClaimsTable, evidence: dict, datasets: list, name: str) -> pd.DataFrame:
    """Notebook 04, N7: N7.tv, N7.loss_gap, and the shared-context frequencies (N7.frequencies, on the two toys and
    the datasets; N7.frequencies_coupled); returns the shared-context table."""
    section = "3 · N7 · soft composition, L → L*, and shared contexts"
    e = evidence["tv"]
    table.check(
        "N7.tv",
        "max over samples and datasets of TV(s_i, softmax over C_i of the W^fin scores) at the end of the main run",
        theory=0.0,
        measured=e.measured,
        comparison="less",
        criterion=e.criterion,
        kind="paper",
        criterion_reason="detection threshold 0.01 (the normalized-GD floor of N11 leaves ~eta/2 in W^fin's scores)",
        unmet=e.unmet,
        data="synthetic",
        figure=f"{name}_composition",
        section=section,
    )
    e = evidence["loss_gap"]
    table.check(
        "N7.loss_gap",
        "L(W) - L* at the end of the main run (worst dataset relative to its initial gap)",
        theory=0.0,
        measured=e.measured,
        comparison="less",
        criterion=e.criterion,
        kind="paper",
        criterion_reason="1% of that dataset's initial gap L(0) - L*",
        unmet=e.unmet,
        data="synthetic",
        figure=f"{name}_composition",
        section=section,
    )
    rows = []
    for label, ds in [("toy_cyclic", toy_cyclic()), ("toy_chain", toy_chain())] + [
        (f"dataset {b}", d) for b, d in enumerate(datasets)
    ]:
        graphs = token_priority_graphs(ds)
        svm = solve_graph_svm(ds, graphs)
        fin = solve_w_fin(ds, graphs, svm.basis)
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
    shared = pd.DataFrame(rows)
    free = shared[shared["decoupled"]]
    table.check(
        "N7.frequencies",
        f"decoupled shared contexts ({len(free)} in all, toys included): the W^fin composition "
        "equals the empirical label frequencies (largest difference)",
        theory=0.0,
        measured=float(free["largest difference"].max()),
        comparison="less",
        criterion=1e-9,
        kind="derivation",
        criterion_reason="Newton's W^fin is stationary to ~1e-13; the map from scores to probabilities is 1-Lipschitz",
        data="synthetic",
        section=section,
    )
    coupled = shared[~shared["decoupled"]]
    table.observe(
        "N7.frequencies_coupled",
        f"shared contexts whose query has other samples contributing to L_fin "
        f"({len(coupled)}): largest difference between composition and label frequencies",
        measured=float(coupled["largest difference"].max()) if len(coupled) else "none",
        reason="the brief's statement holds exactly only for decoupled contexts; coupled ones share W^fin's "
        "scores with other samples",
        data="synthetic",
        section=section,
    )
    return shared


def automaton_claims(table: ClaimsTable, study: dict, P, name: str) -> None:
    """Notebook 04, N8: N8.score_gap, N8.score_equal, N8.tv, N8.sampling from ``automaton.new_context_study``."""
    gaps, spreads, tv_trained, tv_ray = study["gaps"], study["spreads"], study["tv_trained"], study["tv_ray"]
    sampled_tv, null, layer_tv = study["sampled_tv"], study["null"], study["layer_tv"]
    section = "4 · N8 · the automaton on new contexts, and generating next tokens"
    table.check(
        "N8.score_gap",
        f"on {gaps.size} new contexts with a unique top SCC and other tokens, the smallest W^svm "
        "score gap between C_top and the rest",
        theory=1.0,
        measured=float(gaps.min()),
        comparison="greater",
        criterion=1 - 1e-9,
        kind="derivation",
        criterion_reason="the margins hold to the solver's certificate (~1e-12); summing along a path keeps "
        "that accuracy",
        data="synthetic",
        figure=f"{name}_automaton",
        section=section,
    )
    table.check(
        "N8.score_equal",
        "largest spread of the W^svm scores inside C_top on the new contexts",
        theory=0.0,
        measured=float(spreads.max()),
        comparison="less",
        criterion=1e-9,
        kind="derivation",
        criterion_reason="equality constraints hold to the certificate (~1e-12)",
        data="synthetic",
        figure=f"{name}_automaton",
        section=section,
    )
    unmet = (
        ""
        if tv_ray.max() <= ev.DETECTION
        else (f"at the reached norm the superposition itself is {tv_ray.max():.3g} from the automaton on some context")
    )
    table.check(
        "N8.tv",
        "max TV between the trained layer's attention and softmax over C_top of the W^fin scores on the new contexts",
        theory=0.0,
        measured=float(tv_trained.max()),
        comparison="less",
        criterion=ev.DETECTION,
        kind="paper",
        criterion_reason="detection threshold 0.01, as N7.tv",
        unmet=unmet,
        data="synthetic",
        figure=f"{name}_automaton",
        section=section,
    )
    table.check(
        "N8.sampling",
        f"mean TV between the frequencies of {P.sample_draws} next tokens sampled from the trained "
        "layer per new context and the automaton's next-token distribution",
        theory=0.0,
        measured=sampled_tv,
        comparison="less",
        criterion=float(np.quantile(null, 0.99) + layer_tv),
        kind="prediction",
        criterion_reason="triangle inequality: the 99th percentile of the mean TV between draws from the "
        "layer and the layer's distribution (200 Monte Carlo replications) plus the layer's mean TV to the "
        "automaton",
        data="synthetic",
        figure=f"{name}_automaton",
        section=section,
    )


def nuclear_path_claims(
    table: ClaimsTable, summary: pd.DataFrame, evidence: ev.Evidence, smallest_mu: float, name: str
) -> None:
    """Notebook 05: Tarzanagh et al.'s regularization-path statement for (K, Q) (N10.kq_path_nuclear, by N4's rate
    test against W^nuc) and the path's optimality certificate (N10.kq_path_certificate); summary and evidence from
    ``nuclear_svm.compare_nuclear_path``."""
    section = "2 · Factorised attention"
    table.check(
        "N10.kq_path_nuclear",
        f"Tarzanagh et al.: the (K, Q) regularization path W_mu = argmin L + mu ||W||_* (mu down to {smallest_mu:g}) "
        f"converges in direction to W^nuc: cos(W_mu, W^nuc) meets the bounded-residual rate ({len(summary)} "
        "dataset(s), worst)",
        theory=1.0,
        measured=evidence.measured,
        comparison="greater",
        criterion=evidence.criterion,
        kind="paper",
        criterion_reason="as N4.cos_path (notebook 03) with W^nuc in place of W^svm",
        unmet=evidence.unmet,
        data="synthetic",
        figure=f"{name}_factorised",
        section=section,
    )
    table.check(
        "N10.kq_path_certificate",
        "every path point is optimal for the convex problem: largest ||P_T-perp(grad L)||_op / mu (the normal part "
        "of the subgradient condition -grad L in mu d||W||_*)",
        theory=1.0,
        measured=float(summary["max ||normal part||_op / mu"].max()),
        comparison="less",
        criterion=1.0,
        kind="check",
        criterion_reason="at an optimum the normal part of -grad L / mu has operator norm <= 1; a stationary point of "
        "the factored problem that is not a minimum of the convex one (a rank-deficient saddle) exceeds 1",
        data="synthetic",
        section=section,
    )
    table.observe(
        "N10.kq_path_detail",
        "at the smallest mu: cos(W_mu, W^nuc) and cos(W_mu, W^svm) per dataset; largest tangent residual / mu",
        measured="; ".join(
            f"{a:.4f} vs {b:.4f}" for a, b in zip(summary["cos(W_mu, W^nuc)"], summary["cos(W_mu, W^svm)"])
        )
        + f"; {summary['max tangent residual / mu'].max():.1e}",
        data="synthetic",
        section=section,
    )
