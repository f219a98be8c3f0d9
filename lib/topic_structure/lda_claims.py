"""The claim blocks of notebooks 08 (C5: the ratios and the two stages, everything trained on LDA documents) and
09 (C5: topic attention over training, the copy/topic exchange). Each function takes the measured tables of its
notebook and adds the claims to a :class:`theory_collection.claims.ClaimsTable`; statements, ids, kinds,
criteria and verdict logic are those the notebooks state."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from topic_structure.attention_over_training import LATE_FRACTION
from topic_structure.measurements import geometric_mean_interval

UNTRAINED_REASON = (
    "the largest value over 20 untrained models (10 per decoder): what sampling noise of a random initialisation gives"
)

# ----- notebook 08 -----------------------------------------------------------------------------------------


def ratio_intervals(summary: pd.DataFrame, decoders, ratios, seed: int) -> pd.DataFrame:
    """Per decoder and ratio: the geometric mean over seeds and its 95% percentile-bootstrap interval.

    summary: one row per run with ``decoder`` and the ratio columns. Columns: decoder, ratio, geometric mean, low, high.
    """
    rows = []
    for ratio in ratios:
        for label in decoders:
            values = summary.loc[summary.decoder == label, ratio]
            centre, low, high = geometric_mean_interval(values, rng=np.random.default_rng(seed))
            rows.append({"decoder": label, "ratio": ratio, "geometric mean": centre, "low": low, "high": high})
    return pd.DataFrame(rows)


def record_structure_claims(
    table, intervals: pd.DataFrame, criterion: dict, decoders, num_seeds: int, section: str, figure: str
) -> None:
    """C5.embedding_ratio (tied decoder), C5.value_ratio, C5.attention_ratio and C5.attention_peak (both decoders).

    intervals: :func:`ratio_intervals`; criterion: the largest value of each ratio over 20 untrained models. The
    claimed number is the geometric mean of the decoder with the lowest lower end of its interval.
    """

    def claim_interval(ratio: str, labels) -> tuple[pd.Series, str]:
        rows = intervals[(intervals.ratio == ratio) & intervals.decoder.isin(labels)]
        text = "; ".join(
            f"{r['decoder']} {r['geometric mean']:.3g} [{r['low']:.3g}, {r['high']:.3g}]" for _, r in rows.iterrows()
        )
        return rows.loc[rows["low"].idxmin()], text

    statements = {
        "R_E": (
            "C5.embedding_ratio",
            ["tied"],
            "learned embeddings, tied decoder: different-topic / same-topic mean squared distance",
            f"untied decoder (not claimed: R_E is not a property of the function once W_V is trained): "
            f"{claim_interval('R_E', ['untied'])[1]}",
        ),
        "R_V": (
            "C5.value_ratio",
            list(decoders),
            "value output W_pred W_V E^T: same-topic / different-topic geometric-mean odds",
            "",
        ),
        "R_A": (
            "C5.attention_ratio",
            list(decoders),
            "attention on held-out documents: on other words of the query's topic / on other topics, each relative to "
            "uniform attention",
            f"for comparison, attention to other copies of the query's word, R_I: {claim_interval('R_I', decoders)[1]}",
        ),
        "R_A peak": ("C5.attention_peak", list(decoders), "attention ratio R_A at its peak during training", ""),
    }
    for ratio, (claim_id, labels, what, reason) in statements.items():
        row, text = claim_interval(ratio, labels)
        table.check(
            claim_id,
            f"{what}: geometric mean over {num_seeds} seeds with its 95% bootstrap interval (decoder with the "
            f"lowest lower end of {' and '.join(labels)}) above the criterion: {text}",
            None,
            row["geometric mean"],
            comparison="greater",
            criterion=criterion[ratio.split()[0]],
            interval=(row["low"], row["high"]),
            reason=reason,
            kind="paper",
            data="synthetic",
            criterion_reason=f"the largest {ratio.split()[0]} over 20 untrained models: what the "
            "sampling noise of a random initialisation gives",
            section=section,
            figure=figure,
        )


def record_stage_claims(
    table, results: pd.DataFrame, grid: list[dict], value_first: float, stage: dict, section: str, figure: str
) -> None:
    """C5.two_stage (every grid point with both stages forms its value structure first) and, when the grid has
    ``keep_prob = 0`` points, C5.no_keep_no_attention (no attention stage without keep queries).

    results: one row per grid point (in ``grid``'s order) with ``value_first`` and ``R_A peak``.
    """
    both = results[results["value_first"].notna()]
    table.check(
        "C5.two_stage",
        f"every robustness-grid point where both stages happen ({len(both)} of {len(results)}) forms its "
        f"value structure first (s_A(t_V) <= {value_first}); value-first at {int(both['value_first'].sum())} of them",
        None,
        bool(both["value_first"].astype(bool).all()),
        comparison="true",
        kind="paper",
        data="synthetic",
        unmet="" if len(both) else "no grid point formed both structures",
        section=section,
        figure=figure,
    )
    no_keep = results[[point.get("keep_prob") == 0 for point in grid]]
    if len(no_keep):
        table.check(
            "C5.no_keep_no_attention",
            "with keep_prob = 0 no topic-attention stage happens: the attention ratio's peak stays below the stage "
            "criterion",
            None,
            float(no_keep["R_A peak"].max()),
            comparison="less",
            criterion=stage["R_A"],
            criterion_reason="half-way, on a log scale, from 1 to the base configuration's peak "
            "R_A: the smallest effect counted as the same stage",
            kind="prediction",
            data="synthetic",
            section=section,
            figure=figure,
        )


# ----- notebook 09 -----------------------------------------------------------------------------------------


def record_exchange_rate_claim(table, checks: pd.DataFrame, section: str) -> None:
    """C5.exchange_rate: sympy's closed form against autograd of the population loss
    (:func:`attention_over_training.exchange_rate_checks`), largest relative error."""
    table.check(
        "C5.exchange_rate",
        "rate of change of the exact population loss (T=4, v=3, tau=2) as attention moves "
        "from a word query's topic-mates to its copies: sympy closed form (a-b)/V [-p_c(1-P_r+P_mate) + "
        "p_r tau/T (P_r-P_mate)] against autograd of population_loss_terms, three settings; largest relative error",
        0.0,
        float(checks["relative error"].max()),
        1e-9,
        "absolute",
        kind="derivation",
        tolerance_reason="float64 rounding of the population loss summed over topic sets and labels (about 1e-13) "
        "with ample margin; the symbolic side is evaluated at 20 digits",
        section=section,
    )


def record_population_rule_claim(table, optima: pd.DataFrame, decays, equal: float, section: str) -> None:
    """C5.population_rule: the exchange rule at every population optimum of
    :func:`attention_over_training.population_optima`; inconclusive where an optimum did not converge."""
    not_converged = optima[optima["gradient"] > 1e-6]
    table.check(
        "C5.population_rule",
        "at the population optimum for each weight decay in "
        f"{list(decays)} (T=4, v=3, tau=2, p_c=p_r=0.1, random start): R_I > R_A exactly when a > b, and "
        f"R_I = R_A when a = b (within {equal:g}); optima where the rule holds: "
        f"{int(optima['rule holds'].sum())} of {len(optima)}",
        None,
        bool(optima["rule holds"].all()),
        comparison="true",
        kind="prediction",
        unmet="; ".join(
            f"weight decay {r.weight_decay:g}: largest gradient entry {r.gradient:.2g} > 1e-6"
            for r in not_converged.itertuples()
        ),
        section=section,
    )


def record_exchange_rule(
    table,
    claim_id: str,
    where: str,
    excess: tuple[float, float],
    copies: tuple[float, float, float],
    section: str,
    figure: str,
    drift: float = float("nan"),
) -> None:
    """The exchange rule, one-sided: a resolved preference for copies (``R_I / R_A`` interval above 1) needs
    ``a - b > 0``, one for mates (below 1) ``a - b < 0``; inconclusive when the interval contains 1, or when
    the run has not settled: ``drift`` (:func:`attention_over_training.late_drift`, the largest over the runs)
    exceeds the half-width of the interval of ``log(R_I / R_A)``.

    Under weight decay a state with a - b > 0 may still keep copies and mates equal (the decay's price of a
    full-rank copy pattern), so R_I / R_A near 1 predicts nothing about the sign. excess: (low, high) of a - b;
    copies: (ratio, low, high) of R_I / R_A.
    """
    ratio, low, high = copies
    side = "copies" if low > 1 else "mates" if high < 1 else None
    half_width = (math.log(high) - math.log(low)) / 2  # drift NaN (not measured) never exceeds it
    low_excess, high_excess = excess
    statement = (
        f"{where}: R_I / R_A = {ratio:.4g} [{low:.4g}, {high:.4g}] at the end, so "
        + (
            f"{side} are preferred, which the exchange rule allows only with a - b {'>' if side == 'copies' else '<'} 0"
            if side
            else "copies and mates are not told apart"
        )
        + f"; value excess a - b = {(low_excess + high_excess) / 2:.3g} [{low_excess:.3g}, {high_excess:.3g}]"
    )
    table.check(
        claim_id,
        statement,
        None,
        (low_excess + high_excess) / 2,
        comparison="less" if side == "mates" else "greater",
        criterion=0.0,
        criterion_reason="a = b: the exchange rate vanishes and neither copies nor mates are favoured",
        interval=(low_excess, high_excess),
        kind="prediction",
        data="synthetic",
        section=section,
        figure=figure,
        unmet=f"R_I / R_A interval [{low:.4g}, {high:.4g}] contains 1"
        if not side
        else f"not settled: log(R_I / R_A) moved by {drift:.3g} over the last {LATE_FRACTION:.0%} of the run, more "
        f"than the half-width {half_width:.3g} of its interval"
        if drift > half_width
        else "",
    )


def record_attention_claims(
    table,
    summary: pd.DataFrame,
    sweep: pd.DataFrame,
    criterion: dict,
    uniform_paper: dict,
    steps: int,
    sweep_steps: int,
    seed: int,
    section: str,
    sweep_section: str,
    figure: str,
    sweep_figure: str,
) -> None:
    """C5.topic_attention_final, C5.topic_attention_peak, C5.same_word_attention, C5.paper_metric (the main
    runs, ``summary``: one row per seed, :func:`attention_over_training.run_row`) and C5.condition.<point> (the
    exchange rule at each row of ``sweep``). criterion: ``R_A`` and ``paper.ratio`` of 20 untrained models;
    uniform_paper: the paper's metric of uniform attention on the same documents."""

    def interval_of(values) -> tuple[float, float, float]:
        return geometric_mean_interval(values, rng=np.random.default_rng(seed))

    num_seeds = len(summary)
    for claim_id, column, what in (
        ("C5.topic_attention_final", "R_A", "at the end of training"),
        ("C5.topic_attention_peak", "R_A peak", "at its peak during training"),
    ):
        centre, low, high = interval_of(summary[column])
        table.check(
            claim_id,
            f"same-topic over different-topic attention, each relative to uniform (R_A), {what}, "
            f"{steps} steps, tied decoder: geometric mean over {num_seeds} seeds {centre:.3g} "
            f"[{low:.3g}, {high:.3g}] above the criterion",
            None,
            centre,
            comparison="greater",
            criterion=criterion["R_A"],
            criterion_reason=UNTRAINED_REASON,
            interval=(low, high),
            kind="paper",
            data="synthetic",
            section=section,
            figure=figure,
            reason=f"copy ratio R_I at the end: {interval_of(summary['R_I'])[0]:.3g}; peak at step "
            f"{summary['R_A peak step'].median():.0f} of {steps}",
        )

    record_exchange_rule(
        table,
        "C5.same_word_attention",
        f"main runs, {num_seeds} seeds, {steps} steps (geometric mean over seeds "
        "with its 95% bootstrap interval; a - b: mean and range over seeds)",
        (float(summary["final a - b"].min()), float(summary["final a - b"].max())),
        interval_of(summary["final R_I/R_A"]),
        section,
        figure,
        drift=float(summary["drift R_I/R_A"].max()) if "drift R_I/R_A" in summary else float("nan"),
    )

    centre, low, high = interval_of(summary["paper.ratio"])
    table.check(
        "C5.paper_metric",
        "the public code's metric at the end of training: average attention between different "
        "words of one topic over average attention between different topics, whole held-out documents, "
        f"geometric mean over seeds {centre:.3g} [{low:.3g}, {high:.3g}] (uniform attention: "
        f"{uniform_paper['ratio']:.3g})",
        None,
        centre,
        comparison="greater",
        criterion=criterion["paper.ratio"],
        criterion_reason=UNTRAINED_REASON,
        interval=(low, high),
        kind="paper",
        data="synthetic",
        section=section,
        figure=figure,
    )

    for _, r in sweep.iterrows():
        label = r["point"].lower().replace(",", "").replace(" ", "_").replace("-", "_")
        record_exchange_rule(
            table,
            f"C5.condition.{label}",
            f"sweep point '{r['point']}' ({sweep_steps} steps; final R_A "
            f"{r['R_A']:.3g}, peak {r['R_A peak']:.3g}: topic attention "
            f"{'survives' if r['R_A'] > criterion['R_A'] else 'gives way'}; interval of R_I / R_A: bootstrap over "
            "probe documents)",
            (r["final a - b"], r["final a - b"]),
            (r["final R_I/R_A"], r["low"], r["high"]),
            sweep_section,
            sweep_figure,
            drift=float(r.get("drift R_I/R_A", float("nan"))),
        )
