"""Claim C4 in closed form: stage 1 (``W_V`` learns while attention stays uniform) and the onset of stage 2.

**Two stages** (:func:`stage_one`, :func:`onset_theory`). At uniform attention the loss depends on
``W_V`` only through the margin ``delta`` (in-document minus out-of-document logit), which obeys
``d delta/dt = kappa (1 - p_in(delta))``; the score gradient is linear in ``W_V``, proportional to
``p_c`` (kept words), and its topic eigenvalue makes the topic modes of ``W_K, W_Q`` grow at rate
``r = p_c (tau - 1) delta / (v tau (T - 1) sqrt(d))``. Stage 2 starts when that growth, which starts
from ``init_scale^2``, lifts the same-topic attention mass ``excess`` above ``1 / tau``.

Everything here is derived from the reduced loss of :mod:`theory.two_stage_ode` at uniform attention.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cache

import sympy as sp
from scipy.integrate import solve_ivp
from scipy.optimize import brentq

from topic_structure.measurements import BLOCKS
from topic_structure.params import check_float, check_learning_rate, check_weight_decay
from topic_structure.theory import two_stage_ode as ode
from topic_structure.theory.algebra import T, V, p_c, tau, topic_setting, v
from topic_structure.theory.two_stage_ode import (
    d,
    delta,
    epsilon,
    excess,
    logit_symbols,
    orbit_sizes,
    reduced_loss,
    score_blocks,
    score_partials,
    t,
    total_derivative,
    value_blocks,
)

kappa, m = sp.symbols("kappa m", positive=True)  # stage-1 constants, values in stage_one()


@cache
def stage_one() -> dict[str, sp.Expr]:
    """Stage 1 in sympy, from :func:`reduced_loss` at uniform attention (``alpha = beta = gamma``).

    Returns
      margin: ``delta`` in the value blocks (the in-document minus out-of-document logit);
      margin_rate: ``d delta/dt`` of the flow (no weight decay), a function of ``delta`` only;
      kappa, m: values of the constants in ``d delta/dt = kappa m / (e^delta + m)`` =
        ``kappa (1 - p_in(delta))`` (checked against margin_rate in the tests);
      score_gradient: the score gradient per entry (diagonal, same topic, different topic), linear in
        ``W_V`` and proportional to ``p_c``;
      eigenvalues: its eigenvalues on the topic, within-topic and all-ones modes (topic in ``delta``);
      growth_rate: ``r(delta)``, the rate of the key/query topic mode, ``-topic eigenvalue / sqrt(d)``.
    """
    a, _, c = value_blocks
    reduced = reduced_loss()
    ell_in = logit_symbols[3]

    def at_uniform(expression):
        # A constant shift of the scores changes nothing, so take them 0; then every in-document
        # logit is ell_in = c + delta, and exp(c + delta) = e^c e^delta lets the e^c cancel.
        expression = expression.subs(dict.fromkeys(score_blocks, 0)).subs(dict.fromkeys(logit_symbols[:3], ell_in))
        return sp.expand(expression.subs(ell_in, c + delta), power_exp=True)

    margin = sp.expand(reduced.logits[ell_in] - c)
    velocity = [at_uniform(-total_derivative(reduced.loss, s)) / n for s, n in zip(value_blocks, orbit_sizes())]
    margin_rate = sp.factor(sp.cancel(sum(sp.diff(margin, s) * u for s, u in zip(value_blocks, velocity))))
    # The score gradient per entry; the softmax terms cancel by symmetry, leaving it linear in W_V.
    per_entry = [sp.factor(sp.cancel(at_uniform(g) / n)) for g, n in zip(score_partials(), orbit_sizes())]
    diagonal, same, other = per_entry
    topic = sp.factor(sp.cancel(diagonal + (v - 1) * same - v * other))
    topic = sp.factor(topic.subs(a, sp.solve(sp.Eq(margin, delta), a)[0]))
    return {
        "margin": margin,
        "margin_rate": margin_rate,
        "kappa": 1 / (tau**2 * v * (V - v)),
        "m": (V - tau * v) / (tau * v),
        "score_gradient": dict(zip(BLOCKS, per_entry)),
        "eigenvalues": {
            "topic": topic,
            "within_topic": sp.factor(sp.cancel(diagonal - same)),
            "all_ones": sp.cancel(diagonal + (v - 1) * same + (V - v) * other),
        },
        "growth_rate": sp.factor(-topic / sp.sqrt(d)),
    }


@cache
def onset_theory() -> dict[str, sp.Expr]:
    """The onset of stage 2 in sympy (no weight decay), with the stage-1 constants ``kappa, m``.

    Returns
      margin_solution: ``e^delta + m delta - (e^delta0 + m delta0) - kappa m t``, zero along stage 1
        (an implicit solution of ``d delta/dt = kappa m / (e^delta + m)``);
      threshold: the topic eigenvalue ``D_A*`` of the scores at which the same-topic mass is
        ``1/tau + Delta_x`` (same-topic minus different-topic score ``D_A / v``; the diagonal's own
        excess is of order ``epsilon^2`` and left out);
      log_growth: ``R* = (1/2) log(sqrt(d) D_A* / epsilon^2)``: the key/query topic modes start at
        ``epsilon`` and the scores' at ``epsilon^2 / sqrt(d)``, so they must grow by ``e^{R*}``;
      rate_per_margin: ``r / delta``;
      area: ``Lambda = R* / (r / delta)``, the integral of ``delta`` over stage 1 that provides it;
      area_of_margin, time_of_margin: ``int_0^t delta`` and ``t`` as functions of ``delta(t)``
        (``delta(0) = 0``; ``dt = (e^delta + m) / (kappa m) d delta``): the onset is where the first
        reaches ``Lambda``;
      dominant_ratios: ``F(delta)`` over ``(delta - 1) e^delta / (kappa m)`` and ``t(delta)`` over
        ``e^delta / (kappa m)`` as ``delta -> oo`` (both 1: the terms kept at leading order);
      margin_leading: ``delta* = 1 + W(kappa m Lambda / e)`` (Lambert W) solving the leading-order ``F = Lambda``;
      leading_order: ``t* ~ Lambda / W(kappa m Lambda / e)`` as ``Lambda -> oo``, hence
        ``t* ~ Lambda / log(kappa m Lambda)``;
      slope: ``dt*/d log(1/epsilon) = 1 / r(delta*)``, since ``R*`` grows one for one with it.
    """
    delta0 = sp.Symbol("delta_0", real=True)
    x_star = 1 / tau + excess
    threshold = v * sp.log((tau - 1) * x_star / (1 - x_star))
    log_growth = sp.log(sp.sqrt(d) * threshold / epsilon**2) / 2
    rate_per_margin = sp.simplify(stage_one()["growth_rate"] / delta)
    dt_ddelta = (sp.exp(delta) + m) / (kappa * m)
    s = sp.Symbol("s", real=True)
    Lambda = sp.Symbol("Lambda", positive=True)
    area_of_margin = sp.factor(sp.integrate(s * dt_ddelta.subs(delta, s), (s, 0, delta)))
    time_of_margin = sp.factor(sp.integrate(dt_ddelta.subs(delta, s), (s, 0, delta)))
    # Large delta: keep the dominant terms, solve F = Lambda for delta (Lambert W), and use
    # e^{W(y)} = y / W(y) to write t(delta*) = e^{delta*} / (kappa m) without the exponential.
    area_dominant, time_dominant = (delta - 1) * sp.exp(delta) / (kappa * m), sp.exp(delta) / (kappa * m)
    margin_leading = sp.solve(sp.Eq(area_dominant, Lambda), delta)[0]
    argument = kappa * m * Lambda / sp.E
    leading = sp.expand(time_dominant.subs(delta, margin_leading), power_exp=True)
    leading = sp.simplify(leading.subs(sp.exp(sp.LambertW(argument)), argument / sp.LambertW(argument)))
    return {
        "delta0": delta0,
        "margin_solution": sp.exp(delta) + m * delta - (sp.exp(delta0) + m * delta0) - kappa * m * t,
        "threshold": threshold,
        "log_growth": log_growth,
        "rate_per_margin": rate_per_margin,
        "area": log_growth / rate_per_margin,
        "area_of_margin": area_of_margin,
        "time_of_margin": time_of_margin,
        "Lambda": Lambda,
        "dominant_ratios": (
            sp.limit(area_of_margin / area_dominant, delta, sp.oo),
            sp.limit(time_of_margin / time_dominant, delta, sp.oo),
        ),
        "margin_leading": margin_leading,
        "leading_order": leading,
        "slope": 1 / (rate_per_margin * delta),
    }


@dataclass(frozen=True)
class OnsetPrediction:
    """Predicted onset of stage 2, in gradient-flow time and in steps of size ``learning_rate``."""

    time: float
    steps: float
    margin: float  # delta at the onset
    area: float  # Lambda, the stage-1 integral of delta that the onset needs
    slope: float  # d steps / d log(1/init_scale) at this point
    leading_order_time: float  # Lambda / W(kappa m Lambda / e)


def _numbers(num_topics, words_per_topic, topics_per_doc, keep_prob, init_scale, init, threshold_excess) -> dict:
    topic_setting(num_topics, words_per_topic, topics_per_doc, min_topics_per_doc=2)  # tau = 1: no other topic
    check_float("keep_prob", keep_prob, 0.0, 1.0)
    check_float("init_scale", init_scale, 0.0, low_open=True)
    check_float("excess", threshold_excess, 0.0, 1 - 1 / topics_per_doc, low_open=True, high_open=True)
    amplitude = ode.initial_state(init_scale, num_topics, words_per_topic, init)[3]
    return {
        T: num_topics,
        v: words_per_topic,
        tau: topics_per_doc,
        p_c: keep_prob,
        epsilon: amplitude,
        excess: threshold_excess,
    }


def growth_rate_per_margin(num_topics: int, words_per_topic: int, topics_per_doc: int, keep_prob: float) -> float:
    """``r(delta) / delta = p_c (tau - 1) / (tau v (T - 1) sqrt(d))``: the stage-1 growth rate of the key/query
    topic modes per unit of value margin (:func:`stage_one`, ``growth_rate``); :func:`predicted_onset` reads it here."""
    values = {T: num_topics, v: words_per_topic, tau: topics_per_doc, p_c: keep_prob}
    return float(onset_theory()["rate_per_margin"].subs(values))


def predicted_onset(
    num_topics: int,
    words_per_topic: int,
    topics_per_doc: int,
    keep_prob: float,
    init_scale: float,
    init: str = "symmetric",
    learning_rate: float = 1.0,
    weight_decay: float = 0.0,
    excess: float = 0.05,
) -> OnsetPrediction:
    """The two-timescale prediction of the onset of stage 2 (:func:`onset_theory`).

    Stage 1 in closed form (``delta`` from 0, uniform attention), the key/query topic mode linearised,
    the onset when its growth ``int r dt`` reaches ``R*``. With weight decay ``lambda`` both
    ``delta`` and the topic mode also decay at rate ``lambda``: integrated numerically; the onset is
    infinite when ``r(delta)`` never exceeds ``lambda``. ``init``: see :func:`theory.two_stage_ode.initial_state`.
    """
    values = _numbers(num_topics, words_per_topic, topics_per_doc, keep_prob, init_scale, init, excess)
    eta = check_learning_rate(learning_rate)
    lam = check_weight_decay(weight_decay)
    never = OnsetPrediction(float("inf"), float("inf"), float("nan"), float("inf"), float("nan"), float("inf"))
    if keep_prob == 0:  # no kept words, no first-order signal: the topic modes never grow
        return never
    theory = onset_theory()
    one = stage_one()
    constants = {kappa: one["kappa"].subs(values), m: one["m"].subs(values)}
    values = {**values, **constants}
    kappa_, m_ = float(constants[kappa]), float(constants[m])
    per_margin = growth_rate_per_margin(
        num_topics, words_per_topic, topics_per_doc, keep_prob
    )  # r = per_margin * delta
    log_growth = float(theory["log_growth"].subs(values))
    area = log_growth / per_margin
    leading = float(sp.N(theory["leading_order"].subs(values).subs(theory["Lambda"], area)))
    if log_growth <= 0:  # already past the threshold at the start
        return OnsetPrediction(0.0, 0.0, 0.0, area, float("nan"), 0.0)
    if lam == 0:
        area_of = sp.lambdify(delta, theory["area_of_margin"].subs(values), "math")
        time_of = sp.lambdify(delta, theory["time_of_margin"].subs(values), "math")
        high = 1.0
        while area_of(high) < area:
            high *= 2
        margin = brentq(lambda x: area_of(x) - area, 0.0, high, xtol=1e-14, rtol=1e-13)
        time = time_of(margin)
    else:

        def margin_rate(x: float) -> float:  # kappa m / (e^x + m), written to not overflow
            return kappa_ * m_ * math.exp(-x) / (1 + m_ * math.exp(-x)) - lam * x

        def rates(_, y):  # y = (delta, R)
            return [margin_rate(y[0]), per_margin * y[0] - lam]

        reached = lambda _, y: y[1] - log_growth  # noqa: E731
        reached.terminal = True
        # delta rises monotonically to its weight-decay equilibrium; if r stays below lambda there,
        # the key/query topic mode only decays and stage 2 never starts.
        settled = brentq(margin_rate, 0.0, kappa_ / lam + 1.0)
        if per_margin * settled <= lam:
            return never
        horizon = 100 * (1 / kappa_ + 1 / lam) + 10 * log_growth / (per_margin * settled - lam)
        solution = solve_ivp(rates, (0, horizon), [0.0, 0.0], events=reached, rtol=1e-10, atol=1e-12)
        if not solution.t_events[0].size:
            return never
        time, margin = float(solution.t_events[0][0]), float(solution.y_events[0][0][0])
    slope = 1 / (per_margin * margin - lam) if per_margin * margin > lam else float("inf")
    return OnsetPrediction(time, time / eta, margin, area, slope / eta, leading / eta)
