"""The figures of notebooks 02-04 (the symmetric optima C1-C3 against population optima and training).

Each function takes what the notebook computed and returns a matplotlib figure; the notebook saves it
(:func:`theory_collection.plots.save_figure`) and shows it. :func:`phase_grid` is the one computation
here: the optimal same-topic mass on a grid of the (keep_prob, random_prob) plane, read off the iso-mass
rays of the theory.
"""

from __future__ import annotations

from collections.abc import Callable

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
import torch
from matplotlib import patheffects

from topic_structure import plots
from topic_structure.data import Vocabulary
from topic_structure.measurements import BLOCKS

# ----- notebooks 02 and 03: training at uniform attention -----------------------------------------------------


def block_training_curves(
    run,
    column_prefix: str,
    optimum: dict[str, float],
    round_steps: int,
    matrix: str,
    title: str,
):
    """Block averages of ``matrix`` during a :class:`notebook_claims.ConvergedRun` (``run.frame`` columns
    ``<column_prefix>.<block>`` against ``step``), the optimum dashed, a grey line where each round of
    ``round_steps`` cuts the learning rate tenfold (halfway)."""
    frame, total_steps, ylabel = run.frame, run.steps, f"block average of {matrix}"
    fig, ax = plt.subplots(figsize=(6.5, 3.8))
    colors = dict(zip(BLOCKS, plt.rcParams["axes.prop_cycle"].by_key()["color"]))
    # The diagonal is drawn wide and pale: at the optimum it coincides with the same-topic block.
    styles = {"diagonal": dict(lw=3, alpha=0.5), "same_topic": dict(lw=1.2), "diff_topic": dict(lw=1.2)}
    for block in BLOCKS:
        ax.plot(
            frame.step,
            frame[f"{column_prefix}.{block}"],
            color=colors[block],
            label=f"trained: {block.replace('_', ' ')}",
            **styles[block],
        )
        ax.axhline(optimum[block], color=colors[block], ls="--", lw=1)
    for start in range(0, total_steps, round_steps):
        ax.axvline(start + round_steps // 2, color="0.6", lw=0.8)
    ax.set(xlabel="training step (learning rate cut tenfold at the grey lines)", ylabel=ylabel, title=title)
    ax.legend(fontsize=8)
    return fig


def critical_sweep(critical: float, sweep: pd.DataFrame, theory_same_topic: Callable[[float], float]):
    """Notebook 02: the same-topic Gram entry against ``lambda / lambda_c``, closed form (line, from
    ``theory_same_topic(weight_decay)``) and full-matrix population optima (``sweep``, dots)."""
    grid = np.linspace(0.02, 1.5, 150) * critical
    fig, ax = plt.subplots(figsize=(6, 3.8))
    ax.plot(grid / critical, [theory_same_topic(w) for w in grid], label="theory (closed form)")
    ax.scatter(
        sweep["lambda / lambda_c"],
        sweep["population same_topic"],
        color="C1",
        zorder=3,
        label="full-matrix population optimum",
    )
    ax.axvline(1, color="0.5", ls="--", lw=1)
    ax.set(
        xlabel=r"$\lambda / \lambda_c$  ($\kappa = 1 - \tau/T$ at 1)",
        ylabel="same-topic entry $b$ of $EE^T$",
        title="Optimal embeddings collapse at the critical weight decay",
    )
    ax.legend()
    return fig


def finite_length_curve(finite: pd.DataFrame, theory_same_topic: float):
    """Notebook 02: the finite-length optimum's same-topic entry against ``1000 / N`` and the theory at N = infinity."""
    fig, ax = plt.subplots(figsize=(6, 3.8))
    ax.plot(1000 / finite.N, finite.same_topic, "o-", label="finite-length optimum (sampled key bags)")
    ax.plot([0], [theory_same_topic], "*", color="C1", ms=12, label=r"theory ($N = \infty$)")
    ax.set(
        xlabel="1000 / document length N",
        ylabel="same-topic entry $b$ of $EE^T$",
        xlim=(-0.2, None),
        title="Finite documents shrink the optimum by O(1/N)",
    )
    ax.legend(loc="lower left")
    return fig


# ----- notebook 04: the attention scores ----------------------------------------------------------------------


def column_centred(scores: torch.Tensor, num_words: int) -> torch.Tensor:
    """(V, V) content block of a [key, query] score matrix with each column's mean removed (a column
    shift changes no attention)."""
    block = scores[:num_words, :num_words]
    return block - block.mean(0, keepdim=True)


def family_loss_and_scores(curve: pd.DataFrame, optimal_score: float, full_scores: torch.Tensor, vocab: Vocabulary):
    """Notebook 04: the loss along the family ``s B`` (``curve``: columns s, exact population loss,
    sympy L(x(s))) with ``s*`` marked when finite, and the full-matrix optimum's column-centred scores."""
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.6))
    axes[0].plot(curve["s"], curve["exact population loss"], lw=3, alpha=0.4, label="exact population loss")
    axes[0].plot(curve["s"], curve["sympy L(x(s))"], "k--", lw=1, label="sympy $L(x(s))$")
    if np.isfinite(optimal_score):
        axes[0].axvline(optimal_score, color="C3", lw=1, label=f"$s^*$ = {optimal_score:.3f}")
    axes[0].set(xlabel="same-topic score $s$", ylabel="population loss", title="Loss along the family")
    axes[0].legend()
    centred = column_centred(full_scores, vocab.num_words)
    plots.topic_heatmap(centred, vocab, ax=axes[1], title="full-matrix optimum (column-centred scores)")
    fig.tight_layout()
    return fig


def attention_training_curves(runs: dict[str, dict]):
    """Notebook 04: population same-topic mass (``x*`` dashed) and score gap per run during training."""
    frame = pd.concat([r["frame"] for r in runs.values()])
    fig, axes = plt.subplots(1, 2, figsize=(11.5, 3.8))
    sns.lineplot(frame, x="step", y="same-topic mass", hue="run", ax=axes[0])
    for i, r in enumerate(runs.values()):
        axes[0].axhline(r["x_star"], color=f"C{i}", ls="--", lw=1)
    axes[0].set(title="Population same-topic mass (dashed: $x^*$)", ylim=(0, 1.02))
    sns.lineplot(frame, x="step", y="score gap", hue="run", ax=axes[1], legend=False)
    axes[1].set(title="Same-topic minus different-topic score")
    fig.tight_layout()
    return fig


def phase_grid(
    ratio_of_mass: Callable[[np.ndarray], np.ndarray],
    topics_per_doc: int,
    keep_limit: float,
    random_limit: float,
    points: int = 301,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The optimal same-topic mass ``x*`` on a (points, points) grid of ``keep_prob in [0, keep_limit]``
    x ``random_prob in [0, random_limit]``.

    ``x*`` is constant on rays ``random_prob / keep_prob = ratio_of_mass(x)`` (decreasing in x, from
    infinity at ``1/tau`` to the boundary ratio at 1), so each grid point is read off the rays by
    interpolation: 1 below the boundary (scores diverge), ``1/tau`` at ``keep_prob = 0``, NaN where
    ``keep_prob + random_prob > 1``. Returns ``(keep, random, x_star)``, each (points, points).
    """
    lowest = 1 / topics_per_doc
    levels = np.linspace(lowest + 1e-6, 1 - 1e-9, 400)
    rays = ratio_of_mass(levels)
    keep, random = np.meshgrid(np.linspace(0, keep_limit, points), np.linspace(0, random_limit, points))
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = random / keep
    x_star = np.interp(ratio, rays[::-1], levels[::-1], left=1.0, right=lowest)
    x_star[keep == 0] = lowest
    x_star[keep + random > 1] = np.nan  # keep_prob + random_prob <= 1
    return keep, random, x_star


def phase_diagram(
    ratio_of_mass: Callable[[np.ndarray], np.ndarray],
    boundary_ratio: float,
    runs: dict[str, dict],
    topics_per_doc: int,
    title: str,
):
    """Notebook 04: ``x*`` over the (keep_prob, random_prob) plane (:func:`phase_grid`), iso-mass lines,
    the boundary ``random_prob = boundary_ratio * keep_prob`` below which ``x* = 1``, and each trained run
    as a dot coloured by its learned mass."""
    lowest = 1 / topics_per_doc
    x_limit = min(1.0, max(0.3, 2.5 * max(r["keep"] for r in runs.values())))
    y_limit = min(1.0, max(0.5, 1.25 * max(r["random"] for r in runs.values())))
    keep, random, x_star = phase_grid(ratio_of_mass, topics_per_doc, x_limit, y_limit)
    fig, ax = plt.subplots(figsize=(6.4, 5.0))
    colours = dict(cmap="viridis", vmin=lowest, vmax=1)
    mesh = ax.pcolormesh(keep, random, x_star, shading="auto", **colours)
    fig.colorbar(mesh, ax=ax, label="optimal same-topic mass $x^*$")
    levels = [level for level in (0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95) if level > lowest + 0.02]
    iso = ax.contour(keep, random, x_star, levels=levels, colors="white", linewidths=0.6, alpha=0.7)
    ax.clabel(iso, fmt="%.2f", fontsize=7)
    edge = np.linspace(0, min(x_limit, y_limit / boundary_ratio, 1 / (1 + boundary_ratio)), 50)
    outline = [patheffects.Stroke(linewidth=3.5, foreground="black"), patheffects.Normal()]
    label = f"boundary $p_r = {boundary_ratio:.3g}\\,p_c$ (below: $x^* = 1$)"
    ax.plot(edge, boundary_ratio * edge, "w-", lw=2, path_effects=outline, label=label)
    offsets = {"default": (8, -4), "no keep": (8, 8), "more random": (8, 6), "no random": (8, 6)}
    for r in runs.values():
        point = (r["keep"], r["random"])
        ax.scatter(*point, c=[r["final"]], s=140, edgecolor="red", lw=1.5, zorder=3, clip_on=False, **colours)
        text = f"{r['name']}: trained {r['final']:.3f}, $x^*$ {r['x_star']:.3f}"
        offset = offsets.get(r["name"], (8, 6))
        ax.annotate(text, point, xytext=offset, textcoords="offset points", color="white", fontsize=8)
    ax.set(xlabel="keep_prob $p_c$", ylabel="random_prob $p_r$", xlim=(0, x_limit), ylim=(0, y_limit), title=title)
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.14), fontsize=8)
    return fig
