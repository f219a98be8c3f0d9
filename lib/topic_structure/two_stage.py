"""Notebook 05's runs (claim C4, the two-stage dynamics): what the notebook trains and measures.

The theory is :mod:`theory.two_stage_ode` (the reduced flow), :mod:`theory.onset` (the closed-form onset) and
:mod:`theory.population_descent` (full-matrix population gradient descent); the claims are
:mod:`claims.two_stage_dynamics`. Here:

* the four dynamics of notebook 05 §5 (:func:`deterministic_dynamics`, :func:`sampled_run`): the reduced ODE,
  population GD from a symmetric and a random start, SGD and Adam on sampled documents, with the relative
  change ``||W(t) - W(0)|| / ||W(0)||`` of every matrix (:func:`run_with_changes`);
* the value-first reading of §6 (:func:`value_first_row`, :func:`value_first_runs`);
* the onset grid of §7 (:func:`predict_onsets`, :func:`measure_onsets`) and its data collapse.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import pandas as pd
import sympy as sp
import torch
from scipy.optimize import brentq
from tqdm.std import tqdm

from topic_structure.data import Vocabulary
from topic_structure.masking import MaskingConfig
from topic_structure.model import ModelConfig, TopicTransformer
from topic_structure.theory import onset, population_descent, two_stage_ode
from topic_structure.training import DocumentSource, History, TrainConfig, fresh_documents, train

TRACKED = ("W_V", "W_K", "W_Q")

# ----- relative change of each matrix ------------------------------------------------------------------


def relative_changes(history: History, initial: dict[str, torch.Tensor]) -> pd.DataFrame:
    """``change.<name> = ||W(step) - W(0)|| / ||W(0)||`` at step 0 and at every snapshot of ``history``.

    initial: ``{name: W(0)}`` for the tracked matrices (any shapes).
    """
    rows = [{"step": 0, **{f"change.{name}": 0.0 for name in initial}}]
    for step, snapshot in sorted(history.snapshots.items()):
        rows.append(
            {
                "step": step,
                **{
                    f"change.{name}": float((snapshot[name] - start).norm() / start.norm())
                    for name, start in initial.items()
                },
            }
        )
    return pd.DataFrame(rows)


def run_with_changes(
    model: TopicTransformer,
    source: DocumentSource,
    masking: MaskingConfig,
    config: TrainConfig,
    description: str = "training",
) -> pd.DataFrame:
    """Train ``model`` (:func:`training.train`) and return its history with ``change.W_V/W_K/W_Q`` and ``time``.

    The config's ``snapshot_every`` must equal its ``log_every`` (the changes are read from the
    snapshots at the logged steps); ``time = step * learning_rate`` is gradient-flow time for SGD.
    """
    if config.snapshot_every != config.log_every:
        raise ValueError(f"snapshot_every must equal log_every, got {config.snapshot_every} and {config.log_every}")
    initial = {name: getattr(model, name).detach().clone() for name in TRACKED}
    history = train(model, source, masking, config, description=description)
    frame = history.frame().merge(relative_changes(history, initial), on="step")
    frame["time"] = frame["step"] * config.learning_rate
    return frame


def changes_at(frame: pd.DataFrame, x: str, at: float) -> dict[str, float]:
    """The relative changes of W_V, W_K, W_Q interpolated at ``x = at`` (NaN when ``at`` is not finite)."""
    if not math.isfinite(at):
        return dict.fromkeys(TRACKED, float("nan"))
    return {name: float(np.interp(at, frame[x], frame[f"change.{name}"])) for name in TRACKED}


# ----- the four dynamics of §5 -----------------------------------------------------------------------


def deterministic_dynamics(
    flow: two_stage_ode.ReducedFlow,
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
    starts = {init: two_stage_ode.initial_state(init_scale, T, v, init) for init in ("symmetric", "random")}
    ode = {init: two_stage_ode.integrate(flow, start, duration, points=600) for init, start in starts.items()}
    euler = two_stage_ode.integrate(
        flow, starts["symmetric"], num_steps * eta, "euler", learning_rate=eta, points=num_steps
    )
    models = {
        "symmetric": population_descent.symmetric_model(starts["symmetric"], Vocabulary(T, v)),
        "random": TopicTransformer(
            ModelConfig(num_topics=T, words_per_topic=v, init_scale=init_scale), seed=seed
        ).double(),
    }
    gd = {
        init: population_descent.population_gradient_descent(
            model,
            tau,
            flow.keep_prob,
            flow.random_prob,
            eta,
            num_steps,
            weight_decay=flow.weight_decay,
            track_symmetry=init == "symmetric",
            progress=True,
        )
        for init, model in models.items()
    }
    return {"duration": duration, "num_steps": num_steps, "starts": starts, "ode": ode, "euler": euler, "gd": gd}


def ode_gaps(gd_symmetric: pd.DataFrame, euler: pd.DataFrame) -> dict:
    """The Euler-stepped reduced flow against full-matrix population GD from the same symmetric start, step by
    step (both recorded every step): ``mass_gap`` (largest |difference| of the same-topic mass), ``norm_gap``
    (largest relative difference of the norms of W_V, W_K, W_Q), ``left`` (the step at which GD left S, None if
    it stayed) and ``steps``."""
    paired = gd_symmetric.merge(euler, on="step", suffixes=("", ".euler"))
    mass = two_stage_ode.MASS
    columns = two_stage_ode.NORM_COLUMNS.values()
    return {
        "mass_gap": float((paired[mass] - paired[mass + ".euler"]).abs().max()),
        "norm_gap": max(
            float(((paired[c] - paired[c + ".euler"]) / paired[c + ".euler"]).abs().max()) for c in columns
        ),
        "left": population_descent.left_subspace(gd_symmetric),
        "steps": int(euler["step"].max()),
    }


def doubled_step(
    flow: two_stage_ode.ReducedFlow, symmetric_start, learning_rate: float, num_steps: int, excess: float
) -> str:
    """Population GD from the symmetric start with twice the step for half the steps: whether (and when) it
    leaves S, said in one line."""
    doubled = population_descent.population_gradient_descent(
        population_descent.symmetric_model(symmetric_start, Vocabulary(flow.num_topics, flow.words_per_topic)),
        flow.topics_per_doc,
        flow.keep_prob,
        flow.random_prob,
        2 * learning_rate,
        math.ceil(num_steps / 2),
        weight_decay=flow.weight_decay,
        track_symmetry=True,
    )
    left = population_descent.left_subspace(doubled)
    return f"step 2 eta = {2 * learning_rate:g}: " + (
        "stays in S"
        if left is None
        else f"leaves S at step {left} (time {left * 2 * learning_rate:g}; the onset is at time "
        f"{two_stage_ode.onset_time(doubled, excess):.0f})"
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
    changes of W_V, W_K, W_Q and ``time = step * learning_rate`` (:func:`run_with_changes`)."""
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
    flow: two_stage_ode.ReducedFlow,
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
    """The value-first reading (:func:`value_first_row`) of population GD from ``value_seeds`` random
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
            else population_descent.population_gradient_descent(
                start.double(),
                flow.topics_per_doc,
                flow.keep_prob,
                flow.random_prob,
                learning_rate,
                max_steps,
                weight_decay=flow.weight_decay,
                stop_excess=excess + 0.02,
            )
        )
        runs[value_seed] = (run, two_stage_ode.equivalent_relative_changes(ode_random, flow, init_scale, norms))
        rows[value_seed] = value_first_row(*runs[value_seed], "time", excess)
    for name, (frame, x) in sampled.items():
        rows[name] = value_first_row(frame, None, x, excess)
    return pd.DataFrame(rows).T, runs


def value_first_row(frame: pd.DataFrame, theory: pd.DataFrame | None, x: str, excess: float) -> dict:
    """The value-first reading of a run: relative changes at half its measured onset of stage 2, and their ratio.

    frame: a run with ``change.W_V/W_K/W_Q`` and the same-topic mass columns (against ``x``); theory:
    optional predicted changes against ``time`` (:func:`theory.two_stage_ode.equivalent_relative_changes`),
    read at the same moment. Returns ``at (half the onset)``, ``measured ratio`` (change of W_V over
    the larger of W_K's and W_Q's), ``predicted ratio`` (with a theory) and each ``measured change``.
    """
    at = two_stage_ode.onset_time(frame, excess, x=x) / 2
    measured = changes_at(frame, x, at)
    row = {"at (half the onset)": at, "measured ratio": measured["W_V"] / max(measured["W_K"], measured["W_Q"])}
    if theory is not None:
        predicted = changes_at(theory, "time", at)
        row["predicted ratio"] = predicted["W_V"] / max(predicted["W_K"], predicted["W_Q"])
    return {**row, **{f"measured change {name}": change for name, change in measured.items()}}


def sampled_onsets(
    sgd: pd.DataFrame, adam: pd.DataFrame, learning_rate: float, predicted_time: float, excess: float
) -> pd.DataFrame:
    """The onsets of stage 2 in the SGD (equal mixture) and Adam (LDA) runs beside the closed form's: steps,
    gradient-flow time (SGD only: Adam's steps are not gradient-flow time) and measured over predicted."""
    sgd_onset = two_stage_ode.onset_time(sgd, excess)
    adam_onset = two_stage_ode.onset_time(adam, excess, x="step")
    nan = float("nan")
    rows = [
        ("SGD, equal-mixture documents", sgd_onset / learning_rate, sgd_onset, predicted_time),
        ("Adam, LDA documents (no gradient-flow time)", adam_onset, nan, nan),
    ]
    columns = ["run", "onset (steps)", "onset (time)", "predicted (time)"]
    frame = pd.DataFrame(rows, columns=columns).set_index("run")
    return frame.assign(**{"measured / predicted": frame["onset (time)"] / frame["predicted (time)"]})


# ----- the onset grid of §7 -----------------------------------------------------------------------------


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
    """Two lines on the numbers behind the onset claims (:func:`claims.two_stage_dynamics.record_onsets`);
    ``local_slope``: the closed form's ``dt*/dlog(1/init_scale)`` at the profile's point, in gradient-flow time."""
    judged = numbers["judged"]
    return (
        f"closed form vs reduced ODE: up to {numbers['ode_gap']:.1%}; population GD vs reduced ODE: up to "
        f"{numbers['gd_gap']:.1%}; relative excess of GD over the closed form: {judged['error'].min():+.3f} .. "
        f"{judged['error'].max():+.3f}\n"
        f"slope vs log(1/init_scale): theory {numbers['slope_theory']:.4g}, measured {numbers['slope_measured']:.4g}; "
        f"local asymptotic slope 1/r(delta*) at the profile's point: {local_slope:.4g}; "
        f"log-log slope vs learning rate: {numbers['lr_slope']:.4f}"
    )


def onset_collapse(
    formulas: dict, stage: dict, flow: two_stage_ode.ReducedFlow, excess: float, lambdas: np.ndarray
) -> list[float]:
    """The closed-form onset time at each ``Lambda`` (the single variable every (init_scale, keep_prob) point
    depends on): ``t(delta*)`` where ``F(delta*) = Lambda`` (:func:`theory.onset.onset_theory`,
    :func:`theory.onset.stage_one`), in the setting of ``flow`` with onset threshold ``1/tau + excess``."""
    values = {
        two_stage_ode.T: flow.num_topics,
        two_stage_ode.v: flow.words_per_topic,
        two_stage_ode.tau: flow.topics_per_doc,
        two_stage_ode.p_c: sp.Rational(str(flow.keep_prob)),
        two_stage_ode.p_r: sp.Rational(str(flow.random_prob)),
        two_stage_ode.excess: sp.Rational(str(excess)),
    }
    constants = {onset.kappa: stage["kappa"], onset.m: stage["m"]}
    area = sp.lambdify(two_stage_ode.delta, formulas["area_of_margin"].subs(constants).subs(values), "math")
    time_of = sp.lambdify(two_stage_ode.delta, formulas["time_of_margin"].subs(constants).subs(values), "math")
    return [time_of(brentq(lambda x, target=target: area(x) - target, 0, 60)) for target in lambdas]


def predict_onsets(
    points: list[tuple[float, float, float]],
    num_topics: int,
    words_per_topic: int,
    topics_per_doc: int,
    weight_decay: float,
    excess: float,
) -> pd.DataFrame:
    """The two-timescale prediction (:func:`theory.onset.predicted_onset`, random start) at each point.

    points: ``(init_scale, keep_prob, learning_rate)`` triples. Columns: the point, ``Lambda``,
    ``predicted`` (gradient-flow time), ``predicted steps``, ``leading order`` (time),
    ``predicted slope`` (time per unit of ``log(1/init_scale)``) and ``start sd``: the relative standard
    deviation of the onset over random starts. The closed form takes the *expected* energy of a random start
    in the ``k = d (T - 1)`` growing key/query topic modes (:func:`theory.two_stage_ode.initial_state`, d rows each);
    one start's energy is that times a chi-square with k degrees of freedom over k, relative standard deviation
    ``sqrt(2 / k)``, so its amplitude's log moves by ``sqrt(1 / (2 k))`` and the onset by that times the slope.
    """
    growing_modes = (num_topics * words_per_topic + 2) * (num_topics - 1)  # width d times the T - 1 topic modes
    rows = []
    for init_scale, keep_prob, learning_rate in points:
        p = onset.predicted_onset(
            num_topics,
            words_per_topic,
            topics_per_doc,
            keep_prob,
            init_scale,
            "random",
            learning_rate,
            weight_decay,
            excess,
        )
        rows.append(
            {
                "init_scale": init_scale,
                "keep_prob": keep_prob,
                "learning_rate": learning_rate,
                "Lambda": p.area,
                "predicted": p.time,
                "predicted steps": p.steps,
                "leading order": p.leading_order_time * learning_rate,
                "predicted slope": p.slope * learning_rate,
                "start sd": p.slope / p.steps * math.sqrt(1 / (2 * growing_modes)),
            }
        )
    return pd.DataFrame(rows)


def measure_onsets(
    predicted: pd.DataFrame,
    num_topics: int,
    words_per_topic: int,
    topics_per_doc: int,
    random_prob: float,
    weight_decay: float,
    excess: float,
    max_steps: int,
    seed: int,
    progress_bar: bool = True,
    known: dict | None = None,
) -> pd.DataFrame:
    """Population gradient descent from a random start at each point of ``predicted`` (:func:`predict_onsets`).

    Each run's budget scales with the problem: three times the predicted onset in steps (plus 10),
    at most ``max_steps``; a run stops just past its onset. Adds ``budget``, ``measured`` (time),
    ``measured steps``, ``reached`` and ``gap`` (how far the same-topic mass stayed below the
    onset threshold when not reached), and ``ODE``: the onset of the reduced flow from the
    equivalent symmetric start (theory that keeps what the closed form linearises).

    known: ``{(init_scale, keep_prob, learning_rate): frame}``, trajectories already run by
    :func:`theory.population_descent.population_gradient_descent` from this function's start (same ``seed``,
    ``random_prob``, ``weight_decay``, recorded every step); a point whose trajectory passes the stop
    within the budget is read from it, cut where this function's run would have stopped (the same
    steps, so the same numbers), instead of being run again.
    """
    rows = []
    for _, point in tqdm(
        predicted.iterrows(), total=len(predicted), desc="onset grid (population GD)", disable=not progress_bar
    ):
        finite = math.isfinite(point["predicted steps"])
        budget = min(max_steps, math.ceil(3 * point["predicted steps"]) + 10) if finite else max_steps
        frame = _known_until_stop(
            (known or {}).get((point["init_scale"], point["keep_prob"], point["learning_rate"])),
            budget,
            1 / topics_per_doc + (excess + 0.02),  # as the run's own stop computes it
        )
        if frame is None:
            model = TopicTransformer(
                ModelConfig(num_topics=num_topics, words_per_topic=words_per_topic, init_scale=point["init_scale"]),
                seed=seed,
            ).double()
            frame = population_descent.population_gradient_descent(
                model,
                topics_per_doc,
                point["keep_prob"],
                random_prob,
                point["learning_rate"],
                budget,
                weight_decay=weight_decay,
                stop_excess=excess + 0.02,
            )
        flow = two_stage_ode.ReducedFlow(
            num_topics, words_per_topic, topics_per_doc, point["keep_prob"], random_prob, weight_decay
        )
        horizon = 2.5 * point["predicted"] if finite else budget * point["learning_rate"]
        start = two_stage_ode.initial_state(point["init_scale"], num_topics, words_per_topic, "random")
        ode = two_stage_ode.onset_time(two_stage_ode.integrate(flow, start, horizon, points=800), excess)
        steps = two_stage_ode.onset_time(frame, excess, x="step")
        gap = excess - float((frame[two_stage_ode.MASS] - frame[two_stage_ode.UNIFORM_MASS]).max())
        rows.append(
            {
                **point.to_dict(),
                "budget": budget,
                "ODE": ode,
                "measured": steps * point["learning_rate"],
                "measured steps": steps,
                "reached": math.isfinite(steps),
                "gap": max(gap, 0.0),
            }
        )
    grid = pd.DataFrame(rows)
    grid["error"] = grid["measured"] / grid["predicted"] - 1
    return grid


def _known_until_stop(frame: pd.DataFrame | None, budget: int, stop_mass: float) -> pd.DataFrame | None:
    """``frame`` (recorded every step) cut at the first step whose same-topic mass reaches ``stop_mass``, as a run
    stopped there would have recorded it; None when there is no frame or it does not reach the stop by ``budget``."""
    if frame is None:
        return None
    if not (frame["step"].diff().dropna() == 1).all():
        raise ValueError("a known trajectory must be recorded at every step")
    above = np.flatnonzero((frame[two_stage_ode.MASS] >= stop_mass).to_numpy() & (frame["step"] <= budget).to_numpy())
    return frame.iloc[: above[0] + 1].reset_index(drop=True) if len(above) else None


def fitted_slope(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Least-squares slope of ``y`` against ``x`` and its standard error (NaN when a value is missing)."""
    if not (np.isfinite(x).all() and np.isfinite(y).all()):
        return float("nan"), float("nan")
    coefficients, covariance = np.polyfit(x, y, 1, cov="unscaled")
    residual = y - np.polyval(coefficients, x)
    dof = len(x) - 2
    variance = float(residual @ residual) / dof if dof > 0 else float("nan")
    return float(coefficients[0]), math.sqrt(max(covariance[0, 0] * variance, 0.0))
