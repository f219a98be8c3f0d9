"""Explorers of the topic paper's notebooks (:mod:`theory_collection.explore`): controls over exact routes.

- **Phase diagram** (notebook 04, C3): move ``keep_prob`` and ``random_prob`` and read the optimal same-topic
  attention mass ``x*`` of a word query, exact (:func:`topic_structure.theory.attention.optimal_mass`: the
  stationarity condition solved by sympy to 30 digits), on the fan of ``x*`` over the whole
  (``keep_prob``, ``random_prob``) triangle with the boundary ray below which ``x* = 1``.
- **Onset of stage 2** (notebook 05, C4): move ``init_scale``, ``keep_prob`` and the learning rate and read the
  predicted onset (:func:`topic_structure.theory.onset.predicted_onset`, the two-timescale closed form),
  with the reduced ODE and population gradient descent where the notebook measured them (its onset grid,
  computed once in the notebook and passed in; a change never trains anything).

Each is a pure ``*_view`` function (a :class:`theory_collection.explore.View` for one choice of the controls,
tested without a browser) and a thin ``*_explorer`` that adds the controls.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cache

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import sympy as sp
from matplotlib import patheffects

from theory_collection.explore import Explorer, View, control
from topic_structure.figures import phase_grid
from topic_structure.theory import attention as ta
from topic_structure.theory import onset


@dataclass(frozen=True)
class TopicSetting:
    """The sizes an explorer holds fixed: ``T`` topics of ``v`` words, ``tau`` topics per document, the C2
    optimum's weight decay (which fixes the value strength ``Delta``)."""

    num_topics: int
    words_per_topic: int
    topics_per_doc: int
    weight_decay: float


# ---------------------------------------------------------------------------------------------
# Notebook 04: the phase diagram of x*


@cache
def value_strength(setting: TopicSetting) -> float:
    """``Delta`` of the C2 optimum of ``W_V`` in this setting."""
    s = setting
    return ta.value_strength(s.num_topics, s.words_per_topic, s.topics_per_doc, s.weight_decay)


@cache
def ratio_of_mass(setting: TopicSetting):
    """``x -> random_prob / keep_prob`` at which ``x`` is the optimal mass (the fan's rays), vectorised."""
    s = setting
    numbers = {ta.T: s.num_topics, ta.v: s.words_per_topic, ta.tau: s.topics_per_doc, ta.Delta: value_strength(s)}
    return sp.lambdify(ta.x, ta.phase_boundary()["ratio_of_mass"].subs(numbers), "numpy")


def optimal_point(setting: TopicSetting, keep_prob: float, random_prob: float) -> dict:
    """:func:`topic_structure.theory.attention.optimal_mass` at one point (``x_star``, ``score``, ``regime``,
    ``boundary_ratio``, ``q``); a ValueError names a point the masking rules refuse."""
    s = setting
    return ta.optimal_mass(
        s.num_topics, s.words_per_topic, s.topics_per_doc, keep_prob, random_prob, value_strength(setting)
    )


def phase_view(setting: TopicSetting, keep_prob: float, random_prob: float) -> View:
    """The fan of ``x*`` over the (keep_prob, random_prob) triangle, the boundary ray, the chosen point and its
    exact ``x*``; a point the rules refuse (``keep_prob + random_prob > 1``, both 0) is said, not drawn."""
    lowest = 1 / setting.topics_per_doc
    keep, random, x_star = phase_grid(ratio_of_mass(setting), setting.topics_per_doc, 1.0, 1.0, points=161)
    fig, ax = plt.subplots(figsize=(5.6, 4.6))
    fig.subplots_adjust(left=0.13, right=0.98, bottom=0.12, top=0.91)
    mesh = ax.pcolormesh(keep, random, x_star, shading="auto", cmap="viridis", vmin=lowest, vmax=1)
    fig.colorbar(mesh, ax=ax, label="optimal same-topic mass $x^*$")
    try:
        point = optimal_point(setting, keep_prob, random_prob)
    except ValueError as error:
        point, lines = None, [f"Not a masking setting: {error}."]
    boundary = point["boundary_ratio"] if point else float(ratio_of_mass(setting)(1 - 1e-9))
    edge = np.linspace(0, 1 / (1 + boundary), 50)
    outline = [patheffects.Stroke(linewidth=3.5, foreground="black"), patheffects.Normal()]
    ax.plot(edge, boundary * edge, "w-", lw=2, path_effects=outline, label=f"boundary $p_r = {boundary:.3g}\\,p_c$")
    if point is not None:
        ax.scatter(
            [keep_prob],
            [random_prob],
            s=260,
            marker="*",
            color="red",
            edgecolor="white",
            linewidth=1.5,
            zorder=3,
            clip_on=False,
        )
        regime = {
            "interior": f"an interior optimum, score s* = {point['score']:.4g}",
            "diverges": "the scores diverge (x* = 1 is approached as s grows)",
            "uniform": "uniform attention is optimal",
        }[point["regime"]]
        lines = [
            f"x* = {point['x_star']:.6g} at keep_prob = {keep_prob:g}, random_prob = {random_prob:g}: "
            f"{regime}; uniform attention gives 1/τ = {lowest:.3g}",
            f"x* = 1 (scores diverge) iff random_prob ≤ {boundary:.4g} · keep_prob; here random_prob / keep_prob = "
            + (f"{random_prob / keep_prob:.4g}" if keep_prob > 0 else "∞"),
        ]
    s = setting
    ax.set(
        xlabel="keep_prob $p_c$",
        ylabel="random_prob $p_r$",
        xlim=(0, 1),
        ylim=(0, 1),
        title=f"$x^*$ over the masking triangle (T={s.num_topics}, v={s.words_per_topic}, τ={s.topics_per_doc})",
    )
    ax.legend(loc="upper right", fontsize=8)
    return View(figure=fig, lines=lines)


def phase_explorer(setting: TopicSetting, keep_prob: float, random_prob: float) -> Explorer:
    """Sliders for ``keep_prob`` and ``random_prob`` over :func:`phase_view`, starting at the given point."""

    def slider(description, value):
        return control("FloatSlider", value, min=0.0, max=1.0, step=0.01, description=description, readout_format=".2f")

    controls = {"keep_prob": slider("keep_prob", keep_prob), "random_prob": slider("random_prob", random_prob)}
    return Explorer(
        "C3: the optimal same-topic attention mass x* over (keep_prob, random_prob)",
        controls,
        lambda **values: phase_view(setting, **values),
    )


# ---------------------------------------------------------------------------------------------
# Notebook 05: the onset of stage 2


@dataclass(frozen=True)
class OnsetSetting(TopicSetting):
    """A :class:`TopicSetting` with the onset's threshold (``excess`` over uniform attention)."""

    excess: float = 0.05


INIT_SCALES = np.geomspace(1e-5, 1e-1, 7)  # the init_scale slider's range, where the theory curve is drawn
KEEP_PROBS = np.geomspace(0.01, 0.9, 7)


@cache
def onset_time(setting: OnsetSetting, keep_prob: float, init_scale: float) -> tuple[float, float]:
    """The predicted onset (random start) in gradient-flow time, and its leading-order form; the learning rate
    only converts time to steps (``steps = time / learning_rate``)."""
    s = setting
    p = onset.predicted_onset(
        s.num_topics,
        s.words_per_topic,
        s.topics_per_doc,
        keep_prob,
        init_scale,
        "random",
        1.0,
        s.weight_decay,
        s.excess,
    )
    return p.time, p.leading_order_time


def onset_view(
    setting: OnsetSetting,
    init_scale: float,
    keep_prob: float,
    learning_rate: float,
    measured: pd.DataFrame | None = None,
) -> View:
    """The predicted onset (in steps) against ``init_scale`` and against ``keep_prob`` through the chosen
    point, with the notebook's measured onsets (``measured``: its onset grid, columns ``init_scale``,
    ``keep_prob``, ``learning_rate``, ``measured steps``, ``ODE``) at the points that share the chosen values of
    the other two controls."""
    fig, axes = plt.subplots(1, 2, figsize=(10.5, 3.8))
    chosen = {"init_scale": init_scale, "keep_prob": keep_prob}
    # fixed curves (cached), so a move of one control computes only the other control's curve again
    spans = {"init_scale": INIT_SCALES, "keep_prob": KEEP_PROBS}
    for ax, (name, grid) in zip(axes, spans.items()):
        grid = np.unique(np.append(grid, chosen[name]))
        steps = [onset_time(setting, **{**chosen, name: float(x)})[0] / learning_rate for x in grid]
        ax.plot(grid, steps, "-", color="tab:red", label="two-timescale theory")
        if measured is not None and len(measured):
            others = [c for c in ("init_scale", "keep_prob", "learning_rate") if c != name]
            here = {**chosen, "learning_rate": learning_rate}
            rows = measured[np.all([np.isclose(measured[c], here[c]) for c in others], axis=0)]
            if len(rows):
                ax.plot(
                    rows[name],
                    rows["ODE"] / rows["learning_rate"],
                    "s",
                    mfc="none",
                    color="tab:purple",
                    label="reduced ODE (notebook)",
                )
                ax.plot(rows[name], rows["measured steps"], "o", color="k", label="population GD (notebook)")
        ax.plot(
            [chosen[name]],
            [onset_time(setting, keep_prob, init_scale)[0] / learning_rate],
            "*",
            ms=15,
            color="tab:red",
            markeredgecolor="k",
            label="chosen",
        )
        ax.set(
            xscale="log",
            yscale="log",
            xlabel=f"{name} (log axis)",
            ylabel="onset of stage 2 (steps)",
            title=f"onset vs {name}",
        )
    axes[0].legend(fontsize=8)
    fig.subplots_adjust(left=0.09, right=0.98, bottom=0.16, top=0.9, wspace=0.3)  # tight_layout: a third of a change
    time, leading = onset_time(setting, keep_prob, init_scale)
    lines = [
        f"predicted onset: {_steps(time / learning_rate)} steps at learning rate {learning_rate:g} "
        f"(gradient-flow time {time:,.4g}) from init_scale = {init_scale:g}, keep_prob = {keep_prob:g}",
        f"leading order Λ/W(κmΛ/e): {_steps(leading / learning_rate)} steps",
    ]
    if measured is not None and len(measured):
        here = measured[
            np.isclose(measured["init_scale"], init_scale)
            & np.isclose(measured["keep_prob"], keep_prob)
            & np.isclose(measured["learning_rate"], learning_rate)
        ]
        for _, row in here.iterrows():
            lines.append(
                f"measured in the notebook at this point: population GD {_steps(row['measured steps'])} steps, "
                f"reduced ODE {_steps(row['ODE'] / learning_rate)} steps"
            )
    return View(figure=fig, lines=lines)


def onset_explorer(
    setting: OnsetSetting,
    init_scale: float,
    keep_prob: float,
    learning_rate: float,
    measured: pd.DataFrame | None = None,
) -> Explorer:
    """Sliders for ``init_scale`` (:data:`INIT_SCALES`' range), ``keep_prob`` and the learning rate (a decade
    either side of the given one) over :func:`onset_view`, starting at the given point."""

    def log_slider(description, value, low, high):
        options = {"base": 10, "min": low, "max": high, "step": 0.25, "readout_format": ".3g"}
        return control("FloatLogSlider", value, description=description, **options)

    controls = {
        "init_scale": log_slider("init_scale", init_scale, math.log10(INIT_SCALES[0]), math.log10(INIT_SCALES[-1])),
        "keep_prob": control(
            "FloatSlider",
            keep_prob,
            min=KEEP_PROBS[0],
            max=KEEP_PROBS[-1],
            step=0.01,
            description="keep_prob",
            readout_format=".2f",
        ),
        "learning_rate": log_slider(
            "learning rate", learning_rate, *(round(math.log10(learning_rate)) + e for e in (-1, 1))
        ),
    }
    return Explorer(
        "C4: the onset of stage 2 against init_scale, keep_prob and the learning rate",
        controls,
        lambda **values: onset_view(setting, measured=measured, **values),
    )


def _steps(value: float) -> str:
    return "never" if not math.isfinite(value) else f"{value:,.0f}"
