"""Notebook 05 (claim C4, the two-stage dynamics): its runs and its claim blocks, as functions the notebook calls.

The theory (reduced flow, closed-form onset, population gradient descent) is :mod:`theory.dynamics`; the onset
grid and its claims are :func:`experiments.measure_onsets` and :func:`experiments.record_onset_claims`. Here:
the four dynamics of notebook 05 §5 (reduced ODE, population GD from a symmetric and a random start, SGD, Adam)
with ``C4.invariance``, ``C4.reduced_gradient`` and ``C4.ode_exact``; the value-first readings of §6 with
``C4.value_first``, ``C4.value_first.sgd`` and ``C4.value_first.adam``; and the observation of §8.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import pandas as pd

from topic_structure.data import Vocabulary
from topic_structure.experiments import TRACKED, run_with_changes, value_first_row
from topic_structure.masking import MaskingConfig
from topic_structure.model import ModelConfig, TopicTransformer
from topic_structure.theory import dynamics as td
from topic_structure.training import TrainConfig, fresh_documents

# "Value first" as the paper states it: W_V has moved ten times more (relative to its start) than W_K and W_Q
# by half the onset of stage 2 (notebook 05 §6).
VALUE_FIRST_FACTOR = 10.0


def invariance_claims(table, checks: pd.DataFrame, section: str = "") -> None:
    """Record ``C4.invariance`` and ``C4.reduced_gradient`` from :func:`theory.dynamics.invariance_checks`.

    checks: one row per random point of S; columns 1-2 the relative components of the full-matrix
    gradient off S and on the special orbits, column 3 the reduced-vs-full gradient gap.
    """
    table.check(
        "C4.invariance",
        "the full-matrix population gradient at a point of the symmetric subspace S lies in S "
        "and vanishes on its 24 special coordinates (3 random points, max relative component off S)",
        0.0,
        float(checks.iloc[:, 1:3].to_numpy().max()),
        1e-10,
        "absolute",
        kind="derivation",
        tolerance_reason="float64 rounding of a gradient summed over d^2 entries",
        section=section,
    )
    table.check(
        "C4.reduced_gradient",
        "the sympy gradient of the nine-coordinate reduced loss equals the full-matrix "
        "population gradient summed over each orbit (3 random points of S, float64)",
        0.0,
        float(checks.iloc[:, 3].max()),
        1e-8,
        "absolute",
        kind="derivation",
        tolerance_reason="float64 rounding; the sympy gradient is evaluated through lambdified expressions",
        section=section,
    )


def deterministic_dynamics(
    flow: td.ReducedFlow,
    init_scale: float,
    learning_rate: float,
    max_steps: int,
    predicted_time: float,
    seed: int,
) -> dict:
    """Dynamics (i) and (ii) of notebook 05 §5 over ``2.2`` times the predicted onset (random start), at most
    ``max_steps`` steps of ``learning_rate``.

    Returns ``duration`` (gradient-flow time), ``num_steps``, ``starts`` (``symmetric``/``random`` reduced
    states), ``ode`` (the reduced flow by RK45 from each start), ``euler`` (the reduced flow stepped like
    gradient descent from the symmetric start) and ``gd`` (full-matrix population GD from ``init_scale * I``,
    tracking its distance from S, and from i.i.d. ``N(0, init_scale^2)`` entries with ``seed``).
    """
    eta = learning_rate
    T, v, tau = flow.num_topics, flow.words_per_topic, flow.topics_per_doc
    finite = math.isfinite(predicted_time)
    duration = min(2.2 * predicted_time, max_steps * eta) if finite else max_steps * eta
    num_steps = math.ceil(duration / eta)
    starts = {init: td.initial_state(init_scale, T, v, init) for init in ("symmetric", "random")}
    ode = {init: td.integrate(flow, start, duration, points=600) for init, start in starts.items()}
    euler = td.integrate(flow, starts["symmetric"], num_steps * eta, "euler", learning_rate=eta, points=num_steps)
    models = {
        "symmetric": td.symmetric_model(starts["symmetric"], Vocabulary(T, v)),
        "random": TopicTransformer(
            ModelConfig(num_topics=T, words_per_topic=v, init_scale=init_scale), seed=seed
        ).double(),
    }
    gd = {
        init: td.population_gradient_descent(
            model,
            tau,
            flow.keep_prob,
            flow.random_prob,
            eta,
            num_steps,
            flow.weight_decay,
            track_symmetry=init == "symmetric",
            progress=True,
        )
        for init, model in models.items()
    }
    return {"duration": duration, "num_steps": num_steps, "starts": starts, "ode": ode, "euler": euler, "gd": gd}


def ode_exact_claim(
    table, gd_symmetric: pd.DataFrame, euler: pd.DataFrame, learning_rate: float, section: str = ""
) -> dict:
    """Record ``C4.ode_exact``: the Euler-stepped reduced flow against full-matrix population GD from the same
    symmetric start, step by step (both recorded every step). Returns the two gaps and where GD left S."""
    paired = gd_symmetric.merge(euler, on="step", suffixes=("", ".euler"))
    mass_gap = float((paired[td.MASS] - paired[td.MASS + ".euler"]).abs().max())
    norm_gap = max(
        float(((paired[c] - paired[c + ".euler"]) / paired[c + ".euler"]).abs().max()) for c in td.NORM_COLUMNS.values()
    )
    left = td.left_subspace(gd_symmetric)
    num_steps = int(euler["step"].max())
    table.check(
        "C4.ode_exact",
        f"the reduced flow stepped with eta = {learning_rate:g} (Euler) reproduces full-matrix population GD "
        f"from init_scale * I for {num_steps} steps: max |difference| of the same-topic mass, and max relative "
        "difference of the norms of W_V, W_K, W_Q",
        0.0,
        max(mass_gap, norm_gap),
        1e-8,
        "absolute",
        kind="derivation",
        tolerance_reason="float64 rounding accumulated over the steps",
        section=section,
        reason=""
        if left is None
        else f"population GD left the symmetric subspace at step {left}: a step-size "
        "instability of gradient descent outside S (section 5); use a smaller learning_rate",
    )
    return {"mass_gap": mass_gap, "norm_gap": norm_gap, "left": left}


def doubled_step(flow: td.ReducedFlow, symmetric_start, learning_rate: float, num_steps: int, excess: float) -> str:
    """Population GD from the symmetric start with twice the step for half the steps: whether (and when) it
    leaves S, said in one line."""
    doubled = td.population_gradient_descent(
        td.symmetric_model(symmetric_start, Vocabulary(flow.num_topics, flow.words_per_topic)),
        flow.topics_per_doc,
        flow.keep_prob,
        flow.random_prob,
        2 * learning_rate,
        math.ceil(num_steps / 2),
        flow.weight_decay,
        track_symmetry=True,
    )
    left = td.left_subspace(doubled)
    return f"step 2 eta = {2 * learning_rate:g}: " + (
        "stays in S"
        if left is None
        else f"leaves S at step {left} (time {left * 2 * learning_rate:g}; the onset is at time "
        f"{td.onset_time(doubled, excess):.0f})"
    )


def sampled_run(
    vocab: Vocabulary,
    init_scale: float,
    masking: MaskingConfig,
    config: TrainConfig,
    sampler: Callable,
    doc_length,
    description: str,
    **sampler_kwargs,
) -> pd.DataFrame:
    """Train a fresh model (entries ``N(0, init_scale^2)``, seed ``config.seed``) on fresh documents from
    ``sampler`` (minibatches of ``config.batch_size``), logging about 80 times: its history with the relative
    changes of W_V, W_K, W_Q and ``time = step * learning_rate`` (:func:`experiments.run_with_changes`)."""
    model = TopicTransformer(
        ModelConfig(num_topics=vocab.num_topics, words_per_topic=vocab.words_per_topic, init_scale=init_scale),
        seed=config.seed,
    )
    source = fresh_documents(sampler, vocab=vocab, doc_length=doc_length, **sampler_kwargs)
    return run_with_changes(model, source, masking, config, description)


def sampled_config(optimizer: str, learning_rate: float, steps: int, weight_decay: float, batch_size: int, seed: int):
    """The :class:`training.TrainConfig` of a sampled run of notebook 05: logs and snapshots about 80 times."""
    log_every = max(1, steps // 80)
    return TrainConfig(
        optimizer=optimizer,
        learning_rate=learning_rate,
        weight_decay=weight_decay,
        steps=steps,
        batch_size=batch_size,
        log_every=log_every,
        snapshot_every=log_every,
        seed=seed,
    )


def value_first_runs(
    flow: td.ReducedFlow,
    gd_random: pd.DataFrame,
    ode_random: pd.DataFrame,
    init_scale: float,
    learning_rate: float,
    max_steps: int,
    excess: float,
    seed: int,
    value_seeds: int,
    sampled: dict[str, tuple[pd.DataFrame, str]],
) -> tuple[pd.DataFrame, dict]:
    """The value-first reading (:func:`experiments.value_first_row`) of population GD from ``value_seeds`` random
    starts (seeds ``seed, seed + 1, ...``; the first is ``gd_random``, the others run until just past their
    onset) against the reduced ODE from the equivalent start, and of each sampled run (``name -> (frame, x)``).

    Returns the table (one row per seed, then per sampled run) and ``seed -> (run, theory)``.
    """
    T, v = flow.num_topics, flow.words_per_topic
    runs, rows = {}, {}
    for value_seed in range(seed, seed + value_seeds):
        start = TopicTransformer(ModelConfig(num_topics=T, words_per_topic=v, init_scale=init_scale), seed=value_seed)
        norms = {name: float(getattr(start, name).detach().norm()) for name in TRACKED}  # before training moves them
        run = (
            gd_random
            if value_seed == seed
            else td.population_gradient_descent(
                start.double(),
                flow.topics_per_doc,
                flow.keep_prob,
                flow.random_prob,
                learning_rate,
                max_steps,
                flow.weight_decay,
                stop_excess=excess + 0.02,
            )
        )
        runs[value_seed] = (run, td.equivalent_relative_changes(ode_random, flow, init_scale, norms))
        rows[value_seed] = value_first_row(*runs[value_seed], "time", excess)
    for name, (frame, x) in sampled.items():
        rows[name] = value_first_row(frame, None, x, excess)
    return pd.DataFrame(rows).T, runs


def value_first_claims(
    table,
    value_first: pd.DataFrame,
    value_seeds: int,
    init_scale: float,
    sampled: dict[str, tuple[str, str]],
    section: str = "",
    figure: str = "",
) -> None:
    """Record ``C4.value_first`` (population GD vs the reduced ODE, geometric mean over the first ``value_seeds``
    rows of ``value_first``) and ``C4.value_first.<key>`` for each sampled run (``key -> (row name, setting)``)."""
    seeds = value_first.iloc[:value_seeds]
    log_ratio = np.log(seeds["measured ratio"] / seeds["predicted ratio"]).to_numpy()
    geometric = lambda x: float(np.exp(np.log(x).mean()))  # noqa: E731
    standard_error = float(log_ratio.std(ddof=1) / math.sqrt(len(log_ratio)))
    table.check(
        "C4.value_first",
        f"at half the onset of stage 2, population GD from {value_seeds} random starts "
        f"(init_scale {init_scale:g}): ratio of the relative change of W_V to the larger of W_K's and W_Q's, "
        "geometric "
        "mean over the starts, vs the reduced ODE from the equivalent start",
        geometric(seeds["predicted ratio"]),
        geometric(seeds["measured ratio"]),
        3 * standard_error,
        "relative",
        kind="prediction",
        data="synthetic",
        tolerance_reason=f"three standard errors over the {value_seeds} starts of log(measured / predicted) "
        f"(s.e. {standard_error:.3f}): the theory uses the expected energy of a random start in the growing modes",
        unmet="" if np.isfinite(log_ratio).all() else "a run never reached its onset within `steps`",
        section=section,
        figure=figure,
    )
    for key, (name, setting) in sampled.items():
        ratio = float(value_first.loc[name, "measured ratio"])
        table.check(
            f"C4.value_first.{key}",
            f"{setting}: W_V is learned first; at half the onset of stage 2 the relative "
            f"change of W_V exceeds those of W_K and W_Q by more than a factor {VALUE_FIRST_FACTOR:g}",
            None,
            ratio,
            comparison="greater",
            kind="paper",
            data="synthetic",
            criterion=VALUE_FIRST_FACTOR,
            criterion_reason="an order of magnitude of separation between the two time scales: stage 1 means "
            "W_K and W_Q stay near their start while W_V learns (gradient flow gives "
            f"{float(seeds['predicted ratio'].iloc[0]):.0f} here)",
            unmet="" if math.isfinite(ratio) else "no onset of stage 2 within the run",
            section=section,
            figure=figure,
        )


def sampled_onsets(
    table,
    sgd: pd.DataFrame,
    adam: pd.DataFrame,
    learning_rate: float,
    predicted_time: float,
    excess: float,
    section: str = "",
) -> pd.DataFrame:
    """The onsets of the SGD (equal mixture) and Adam (LDA) runs beside the closed form's, and the observation
    ``C4.sgd_onset`` (SGD's onset over the prediction; finite documents and minibatch noise are outside the
    population theory). Returns the table shown."""
    sgd_onset = td.onset_time(sgd, excess)
    adam_onset = td.onset_time(adam, excess, x="step")
    observations = pd.DataFrame(
        [
            {
                "run": "SGD, equal-mixture documents",
                "onset (steps)": sgd_onset / learning_rate,
                "onset (time)": sgd_onset,
                "predicted (time)": predicted_time,
                "measured / predicted": sgd_onset / predicted_time,
            },
            {
                "run": "Adam, LDA documents (no gradient-flow time)",
                "onset (steps)": adam_onset,
                "onset (time)": float("nan"),
                "predicted (time)": float("nan"),
                "measured / predicted": float("nan"),
            },
        ]
    ).set_index("run")
    table.observe(
        "C4.sgd_onset",
        "SGD on equal-mixture documents: onset of stage 2 over the closed form's (finite "
        "documents "
        "and minibatch noise are outside the population theory)",
        sgd_onset / predicted_time,
        data="synthetic",
        section=section,
    )
    return observations


def grid_points(
    init_scale: float, keep_prob: float, learning_rate: float, init_scales, keep_probs, learning_rates
) -> list[tuple[float, float, float]]:
    """The onset grid of notebook 05 §7: one factor at a time around ``(init_scale, keep_prob, learning_rate)``,
    as ``(init_scale, keep_prob, learning_rate)`` triples in sweep order, the profile's point once."""
    points = (
        [(s, keep_prob, learning_rate) for s in init_scales]
        + [(init_scale, p, learning_rate) for p in keep_probs]
        + [(init_scale, keep_prob, lr) for lr in learning_rates]
    )
    return list(dict.fromkeys(points))


def onset_summary(numbers: dict, local_slope: float) -> str:
    """Two lines on the numbers behind the onset claims (:func:`experiments.record_onset_claims`); ``local_slope``:
    the closed form's ``dt*/dlog(1/init_scale)`` at the profile's point, in gradient-flow time."""
    judged = numbers["judged"]
    return (
        f"closed form vs reduced ODE: up to {numbers['ode_gap']:.1%}; population GD vs reduced ODE: up to "
        f"{numbers['gd_gap']:.1%}; relative excess of GD over the closed form: {judged['error'].min():+.3f} .. "
        f"{judged['error'].max():+.3f}\n"
        f"slope vs log(1/init_scale): theory {numbers['slope_theory']:.4g}, measured {numbers['slope_measured']:.4g}; "
        f"local asymptotic slope 1/r(delta*) at the profile's point: {local_slope:.4g}; "
        f"log-log slope vs learning rate: {numbers['lr_slope']:.4f}"
    )


def onset_collapse(onset: dict, stage: dict, flow: td.ReducedFlow, excess: float, lambdas: np.ndarray) -> list[float]:
    """The closed-form onset time at each ``Lambda`` (the single variable every (init_scale, keep_prob) point
    depends on): ``t(delta*)`` where ``F(delta*) = Lambda`` (:func:`theory.dynamics.onset_theory`,
    :func:`theory.dynamics.stage_one`), in the setting of ``flow`` with onset threshold ``1/tau + excess``."""
    import sympy as sp
    from scipy.optimize import brentq

    values = {
        td.T: flow.num_topics,
        td.v: flow.words_per_topic,
        td.tau: flow.topics_per_doc,
        td.p_c: sp.Rational(str(flow.keep_prob)),
        td.p_r: sp.Rational(str(flow.random_prob)),
        td.excess: sp.Rational(str(excess)),
    }
    constants = {td.kappa: stage["kappa"], td.m: stage["m"]}
    area = sp.lambdify(td.delta, onset["area_of_margin"].subs(constants).subs(values), "math")
    time_of = sp.lambdify(td.delta, onset["time_of_margin"].subs(constants).subs(values), "math")
    return [time_of(brentq(lambda x, target=target: area(x) - target, 0, 60)) for target in lambdas]
