"""Notebook 09's claims (C5 over training): topic attention, same-word attention, and the exchange between them.

The topic-attention claims formalise the abstract's "higher average pairwise attention between same-topic words"
(the ratios and criteria are the collection's; ``C5.paper_metric`` reads it with the public code's own statistic).
The exchange rate, its rule and the sweep's predictions are the collection's derivation.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from theory_collection.claims import ClaimSpec, claim_specs
from topic_structure.attention_over_training import LATE_FRACTION, SWEEP, point_label
from topic_structure.claims import ABSTRACT_ATTENTION, PUBLIC_CODE, family
from topic_structure.measurements import geometric_mean_interval

SECTION_EXCHANGE = "3 · Why copies take over: the exchange rate"
SECTION_OPTIMA = "Which sign does the optimum choose? Weight decay"
SECTION_SWEEP = "4 · Where topic attention survives: a small sweep"
SECTION_CLAIMS = "5 · Claims"
FIGURE_TRAJECTORIES = "09_topic_attention_over_training_trajectories"
FIGURE_SWEEP = "09_topic_attention_over_training_sweep"
FIGURE_EXCHANGE = "09_topic_attention_over_training_exchange"
UNTRAINED_REASON = (
    "the largest value over 20 untrained models (10 per decoder): what sampling noise of a random initialisation gives"
)
EXCHANGE_LOCATION = (
    "the collection's derivation (notebook 09 §3): the rate at which the population loss changes as a word query's "
    "attention moves from its topic-mates to its copies, and the rule it implies (copies win exactly when the value "
    "excess a - b > 0); no source of the paper speaks of same-word attention"
)
ATTENTION_LOCATION = (
    f"{ABSTRACT_ATTENTION}, on synthetic data modeled by LDA; the collection chose the ratio R_A (each kind's "
    "attention relative to uniform), the criterion (the largest over 20 untrained models) and the setting (the public "
    "code ships a configuration only for its stage-1 model)"
)
RUNS = (
    "{num_docs} LDA documents (T = {num_topics}, v = {words_per_topic}, alpha = {alpha}, {doc_length} words), "
    "masking {mask_prob} / {keep_prob} / {random_prob}; everything trained (embeddings of width V + 2, W_K, W_Q, W_V, "
    "decoder tied to E), entries N(0, {init_scale}^2 / d), {optimizer} at learning rate {learning_rate}, weight decay "
    "{weight_decay}, batches of {batch_size}"
)
MAIN_CONDITIONS = RUNS + "; {steps} steps, {num_seeds} seeds; attention read on held-out documents"
POPULATION_CONDITIONS = (
    "population limit of equal-mixture documents, T = 4, v = 3, tau = 2, keep_prob = random_prob = 0.1; one-hot E, "
    "W_pred = I, W_K, W_Q, W_V trained"
)


def _changes(point: dict) -> str:
    return ", ".join(f"{name} = {value}" for name, value in point.items()) or "no change"


EXCHANGE_RULE = (
    "{where}: R_I / R_A = {ratio:.4g} [{low:.4g}, {high:.4g}] at the end, so {verdict}; value excess a - b = "
    "{excess:.3g} [{excess_low:.3g}, {excess_high:.3g}]"
)
RULE_CRITERION = dict(
    criterion=0.0, criterion_reason="a = b: the exchange rate vanishes and neither copies nor mates are favoured"
)


def _exchange_rule(claim_id: str, section: str, figure: str, conditions: str) -> ClaimSpec:
    """The exchange rule on a run (:func:`exchange_rule`)."""
    links = dict(data="synthetic", section=section, figure=figure)
    return ClaimSpec(
        claim_id, "prediction", "collection", EXCHANGE_LOCATION, EXCHANGE_RULE, conditions, **RULE_CRITERION, **links
    )


_topic_attention = family(
    "paper",
    "formalised",
    ATTENTION_LOCATION,
    MAIN_CONDITIONS,
    comparison="greater",
    criterion_reason=UNTRAINED_REASON,
    data="synthetic",
    section=SECTION_CLAIMS,
    figure=FIGURE_TRAJECTORIES,
)
TOPIC_ATTENTION = (
    "same-topic over different-topic attention, each relative to uniform (R_A), {what}, {{steps}} steps, tied decoder: "
    "geometric mean over {{num_seeds}} seeds {{centre:.3g}} [{{low:.3g}}, {{high:.3g}}] above the criterion"
)


SPECS = claim_specs(
    ClaimSpec(
        "C5.exchange_rate",
        "derivation",
        "collection",
        EXCHANGE_LOCATION,
        "rate of change of the exact population loss (T=4, v=3, tau=2) as attention moves from a word query's "
        "topic-mates to its copies: sympy closed form (a-b)/V [-p_c(1-P_r+P_mate) + p_r tau/T (P_r-P_mate)] against "
        "autograd of population_loss_terms, three settings; largest relative error",
        "population limit of equal-mixture documents, T = 4, v = 3, tau = 2; block value outputs and attention "
        "masses at three settings",
        comparison="absolute",
        tolerance=1e-9,
        tolerance_reason="float64 rounding of the population loss summed over topic sets and labels (about 1e-13) with "
        "ample margin; the symbolic side is evaluated at 20 digits",
        section=SECTION_EXCHANGE,
        figure=FIGURE_EXCHANGE,
    ),
    ClaimSpec(
        "C5.population_rule",
        "prediction",
        "collection",
        EXCHANGE_LOCATION,
        "at the population optimum for each weight decay in {decays} (T=4, v=3, tau=2, p_c=p_r=0.1, random start): "
        "R_I > R_A exactly when a > b, and R_I = R_A when a = b (within {equal:g}); optima where the rule holds: "
        "{holds} of {count}",
        POPULATION_CONDITIONS + ", weight decays {decays}; each optimum by float64 L-BFGS from a random start",
        comparison="true",
        section=SECTION_OPTIMA,
        figure=FIGURE_EXCHANGE,
    ),
    *(
        _topic_attention(claim_id, TOPIC_ATTENTION.format(what=what))
        for claim_id, what in (
            ("C5.topic_attention_final", "at the end of training"),
            ("C5.topic_attention_peak", "at its peak during training"),
        )
    ),
    _exchange_rule("C5.same_word_attention", SECTION_CLAIMS, FIGURE_TRAJECTORIES, MAIN_CONDITIONS),
    _topic_attention(
        "C5.paper_metric",
        "the public code's metric at the end of training: average attention between different words of one topic over "
        "average attention between different topics, whole held-out documents, geometric mean over seeds {centre:.3g} "
        "[{low:.3g}, {high:.3g}] (uniform attention: {uniform:.3g})",
        location=f"{ABSTRACT_ATTENTION}, read with the public code's statistic ({PUBLIC_CODE}, src/inspect_result.py "
        "lines 102-228: average attention over same-topic against different-topic position pairs of whole documents, "
        "nothing masked); the collection chose the criterion (the largest over 20 untrained models) and the fully "
        "trained setting, for which the code ships no configuration",
    ),
    *(
        _exchange_rule(
            f"C5.condition.{point_label(point)}",
            SECTION_SWEEP,
            FIGURE_SWEEP,
            RUNS + f"; then the sweep point '{point}' ({_changes(changes)}), one seed, {{sweep_steps}} steps",
        )
        for point, changes in SWEEP.items()
    ),
)


def exchange_rate_claim(table, checks: pd.DataFrame) -> None:
    """C5.exchange_rate: sympy's closed form against autograd of the population loss
    (:func:`theory.exchange.exchange_rate_checks`), largest relative error."""
    table.record(SPECS["C5.exchange_rate"], float(checks["relative error"].max()), 0.0)


def population_rule_claim(table, optima: pd.DataFrame, decays, equal: float) -> None:
    """C5.population_rule: the exchange rule at every population optimum of
    :func:`theory.exchange.population_optima`; inconclusive where an optimum did not converge."""
    not_converged = optima[optima["gradient"] > 1e-6]
    values = {"decays": list(decays), "equal": equal, "holds": int(optima["rule holds"].sum()), "count": len(optima)}
    table.record(
        SPECS["C5.population_rule"],
        bool(optima["rule holds"].all()),
        values=values,
        unmet="; ".join(
            f"weight decay {r.weight_decay:g}: largest gradient entry {r.gradient:.2g} > 1e-6"
            for r in not_converged.itertuples()
        ),
    )


def exchange_rule(
    table,
    claim_id: str,
    where: str,
    excess: tuple[float, float],
    copies: tuple[float, float, float],
    values: dict,
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
    verdict = (
        f"{side} are preferred, which the exchange rule allows only with a - b {'>' if side == 'copies' else '<'} 0"
        if side
        else "copies and mates are not told apart"
    )
    filled = {
        **values,
        "where": where,
        "ratio": ratio,
        "low": low,
        "high": high,
        "verdict": verdict,
        "excess": (low_excess + high_excess) / 2,
        "excess_low": low_excess,
        "excess_high": high_excess,
    }
    unmet = (
        f"R_I / R_A interval [{low:.4g}, {high:.4g}] contains 1"
        if not side
        else f"not settled: log(R_I / R_A) moved by {drift:.3g} over the last {LATE_FRACTION:.0%} of the run, more "
        f"than the half-width {half_width:.3g} of its interval"
        if drift > half_width
        else ""
    )
    table.record(
        SPECS[claim_id],
        (low_excess + high_excess) / 2,
        comparison="less" if side == "mates" else "greater",
        interval=(low_excess, high_excess),
        values=filled,
        unmet=unmet,
    )


def record_attention_claims(
    table, summary: pd.DataFrame, sweep: pd.DataFrame, criterion: dict, uniform_paper: dict, values: dict
) -> None:
    """C5.topic_attention_final, C5.topic_attention_peak, C5.same_word_attention, C5.paper_metric (the main
    runs, ``summary``: one row per seed, :func:`attention_over_training.run_row`) and C5.condition.<point> (the
    exchange rule at each row of ``sweep``). criterion: ``R_A`` and ``paper.ratio`` of 20 untrained models;
    uniform_paper: the paper's metric of uniform attention on the same documents; values: the notebook's
    parameters (``steps``, ``sweep_steps`` and ``seed`` among them)."""

    def interval_of(column) -> tuple[float, float, float]:
        return geometric_mean_interval(summary[column], rng=np.random.default_rng(values["seed"]))

    num_seeds = len(summary)
    for claim_id, column in (("C5.topic_attention_final", "R_A"), ("C5.topic_attention_peak", "R_A peak")):
        centre, low, high = interval_of(column)
        reason = (
            f"copy ratio R_I at the end: {interval_of('R_I')[0]:.3g}; peak at step "
            f"{summary['R_A peak step'].median():.0f} of {values['steps']}"
        )
        filled = {**values, "num_seeds": num_seeds, "centre": centre, "low": low, "high": high}
        table.record(
            SPECS[claim_id], centre, criterion=criterion["R_A"], interval=(low, high), values=filled, reason=reason
        )

    exchange_rule(
        table,
        "C5.same_word_attention",
        f"main runs, {num_seeds} seeds, {values['steps']} steps (geometric mean over seeds with its 95% bootstrap "
        "interval; a - b: mean and range over seeds)",
        (float(summary["final a - b"].min()), float(summary["final a - b"].max())),
        interval_of("final R_I/R_A"),
        values,
        drift=float(summary["drift R_I/R_A"].max()) if "drift R_I/R_A" in summary else float("nan"),
    )

    centre, low, high = interval_of("paper.ratio")
    filled = {**values, "centre": centre, "low": low, "high": high, "uniform": uniform_paper["ratio"]}
    table.record(
        SPECS["C5.paper_metric"], centre, criterion=criterion["paper.ratio"], interval=(low, high), values=filled
    )

    for _, r in sweep.iterrows():
        survives = "survives" if r["R_A"] > criterion["R_A"] else "gives way"
        exchange_rule(
            table,
            f"C5.condition.{point_label(r['point'])}",
            f"sweep point '{r['point']}' ({values['sweep_steps']} steps; final R_A {r['R_A']:.3g}, peak "
            f"{r['R_A peak']:.3g}: topic attention {survives}; interval of R_I / R_A: bootstrap over probe documents)",
            (r["final a - b"], r["final a - b"]),
            (r["final R_I/R_A"], r["low"], r["high"]),
            values,
            drift=float(r.get("drift R_I/R_A", float("nan"))),
        )
