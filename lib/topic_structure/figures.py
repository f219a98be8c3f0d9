"""The figures of the topic paper's notebooks, drawn from what the notebooks compute.

Each function takes measured and predicted quantities (tensors, or pandas frames with the column names of
:mod:`theory.two_stage_ode`, :mod:`two_stage`, :mod:`lda_runs` and :mod:`training`) and returns a matplotlib
figure; the notebook saves it (:func:`theory_collection.plots.save_figure`) and shows it. :func:`phase_grid` is the
one computation here: the optimal same-topic mass on a grid of the (keep_prob, random_prob) plane, read off the
iso-mass rays of the theory.

One module for every notebook's figures, in notebook order (word x word heatmaps and training curves; notebooks
02-04; 05-09): about 900 lines, longer than the collection's 500 because the figures are many and each is one
self-contained function; split by notebook, the shared heatmap helpers would have to move to a third module.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
import torch
from matplotlib import patheffects

from topic_structure.attention_over_training import PAPER_KINDS
from topic_structure.data import Vocabulary
from topic_structure.measurements import BLOCKS
from topic_structure.theory.two_stage_ode import MASS, UNIFORM_MASS

# ----- word x word heatmaps and training curves ---------------------------------------------------------


def log_log_axes(ax, xlabel: str, ylabel: str, title: str) -> None:
    """Both axes of ``ax`` logarithmic, with their labels and the title."""
    ax.set(xscale="log", yscale="log", xlabel=xlabel, ylabel=ylabel, title=title)


def topic_heatmap(
    matrix, vocab: Vocabulary, ax=None, title: str = "", center: float | None = 0.0, cmap: str = "RdBu_r", **kwargs
):
    """Heatmap of a (V, V) word x word matrix with grid lines between topics."""
    values = np.asarray(matrix.detach().cpu() if isinstance(matrix, torch.Tensor) else matrix, dtype=float)
    values = values[: vocab.num_words, : vocab.num_words]
    ax = ax or plt.subplots(figsize=(4.2, 3.6))[1]
    sns.heatmap(values, ax=ax, center=center, cmap=cmap, square=True, xticklabels=False, yticklabels=False, **kwargs)
    for boundary in range(vocab.words_per_topic, vocab.num_words, vocab.words_per_topic):
        ax.axhline(boundary, color="k", lw=0.4, alpha=0.6)
        ax.axvline(boundary, color="k", lw=0.4, alpha=0.6)
    ax.set_title(title)
    return ax


def side_by_side(matrices: dict[str, object], vocab: Vocabulary, title: str = "", shared_scale: bool = True):
    """One topic heatmap per named matrix in a row (e.g. theory vs learned), on a shared colour scale."""
    arrays = {
        name: np.asarray(m.detach().cpu() if isinstance(m, torch.Tensor) else m, dtype=float)
        for name, m in matrices.items()
    }
    limit = (
        max(np.abs(a[: vocab.num_words, : vocab.num_words]).max() for a in arrays.values()) if shared_scale else None
    )
    fig, axes = plt.subplots(1, len(arrays), figsize=(4.2 * len(arrays), 3.6), squeeze=False)
    for ax, (name, array) in zip(axes[0], arrays.items()):
        topic_heatmap(array, vocab, ax=ax, title=name, vmin=-limit if limit else None, vmax=limit)
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def dynamics(
    frame: pd.DataFrame,
    columns: Sequence[str],
    x: str = "step",
    ax=None,
    logy: bool = False,
    title: str = "",
    labels: dict[str, str] | None = None,
):
    """Curves of history columns against ``x``."""
    ax = ax or plt.subplots(figsize=(5.5, 3.6))[1]
    long = frame.melt(id_vars=[x], value_vars=list(columns), var_name="quantity", value_name="value")
    if labels:
        long["quantity"] = long["quantity"].map(lambda c: labels.get(c, c))
    sns.lineplot(data=long, x=x, y="value", hue="quantity", errorbar=None, ax=ax)  # one value per step
    if logy:
        ax.set_yscale("log")
    ax.set_title(title)
    return ax


# ----- notebooks 02 and 03: training at uniform attention -----------------------------------------------------


def block_training_curves(
    run,
    column_prefix: str,
    optimum: dict[str, float],
    round_steps: int,
    matrix: str,
    title: str,
):
    """Block averages of ``matrix`` during a :class:`training.ConvergedRun` (``run.frame`` columns
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
    ax.legend()
    ax.set(
        xlabel=r"$\lambda / \lambda_c$  ($\kappa = 1 - \tau/T$ at 1)",
        ylabel="same-topic entry $b$ of $EE^T$",
        title="Optimal embeddings collapse at the critical weight decay",
    )
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
    topic_heatmap(centred, vocab, ax=axes[1], title="full-matrix optimum (column-centred scores)")
    fig.tight_layout()
    return fig


def attention_training_curves(runs: dict[str, dict]):
    """Notebook 04: population same-topic mass (``x*`` dashed) and score gap per run during training."""
    frame = pd.concat([r["frame"] for r in runs.values()])
    fig, axes = plt.subplots(1, 2, figsize=(11.5, 3.8))
    sns.lineplot(frame, x="step", y="same-topic mass", hue="run", errorbar=None, ax=axes[0])  # one value per step
    for i, r in enumerate(runs.values()):
        axes[0].axhline(r["x_star"], color=f"C{i}", ls="--", lw=1)
    axes[0].set(title="Population same-topic mass (dashed: $x^*$)", ylim=(0, 1.02))
    sns.lineplot(frame, x="step", y="score gap", hue="run", errorbar=None, ax=axes[1], legend=False)
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


MATRIX_COLORS = {"W_V": "tab:blue", "W_K": "tab:orange", "W_Q": "tab:green"}


# ----- notebook 05 -------------------------------------------------------------------------------------


def dynamics_trajectories(
    panels: list[tuple[str, dict[str, tuple[pd.DataFrame, str]]]],
    reference: pd.DataFrame,
    onsets: dict[str, float],
    excess: float,
):
    """Norms (top) and same-topic attention mass over uniform (bottom) of four dynamics side by side.

    panels: ``(title, {label: (frame, line style)})``; the last panel is plotted against ``step``, the
    others against gradient-flow ``time``, with ``reference`` (the reduced ODE) dotted in panels 2 and 3
    and the predicted ``onsets`` (``{"random": t, "symmetric": t}``) as vertical lines.
    """
    fig, axes = plt.subplots(2, len(panels), figsize=(17, 7.2), sharex="col")
    for column, (title, runs) in enumerate(panels):
        x = "step" if column == len(panels) - 1 else "time"
        top, bottom = axes[0, column], axes[1, column]
        for label, (frame, style) in runs.items():
            for name, color in MATRIX_COLORS.items():
                top.plot(
                    frame[x],
                    frame[f"norm.{name}"].where(frame[f"norm.{name}"] > 0),
                    style,
                    color=color,
                    label=f"$\\|{name}\\|$" if style == "-" else None,
                )
            bottom.plot(frame[x], frame[MASS] - frame[UNIFORM_MASS], style, color="k", label=label)
        if column in (1, 2):
            bottom.plot(
                reference["time"],
                reference[MASS] - reference[UNIFORM_MASS],
                ":",
                color="tab:red",
                label="ODE (random-equivalent)",
            )
            for name, color in MATRIX_COLORS.items():
                norm = reference[f"norm.{name}"]
                top.plot(reference["time"], norm.where(norm > 0), ":", color=color, alpha=0.6)
        if x == "time" and math.isfinite(onsets["random"]):
            for ax in (top, bottom):
                ax.axvline(onsets["random"], color="tab:red", lw=0.8, alpha=0.7)
                if column < 2:
                    ax.axvline(onsets["symmetric"], color="tab:red", lw=0.8, ls="--", alpha=0.7)
        bottom.axhline(excess, color="grey", lw=0.8, ls="--")
        top.set(yscale="log", title=title)
        bottom.set_xlabel("gradient-flow time $t = \\eta\\cdot$step" if x == "time" else "step")
        bottom.legend(fontsize=8, loc="upper left")
    axes[0, 1].legend(fontsize=8, loc="lower right")
    axes[0, 0].set_ylabel("Frobenius norm")
    axes[1, 0].set_ylabel("same-topic attention mass $-$ uniform")
    fig.suptitle(
        "W_V grows first; W_K, W_Q and the same-topic attention take off at stage 2\n"
        "red: predicted onset (solid: random start, dashed: symmetric start); grey: onset threshold; "
        "$W_K = W_Q$ in the symmetric runs; dotted: the ODE for reference"
    )
    fig.tight_layout()
    return fig


def relative_change_curves(
    runs: list[tuple[str, pd.DataFrame, str]], theory: pd.DataFrame, onset_of: Callable[[pd.DataFrame, str], float]
):
    """Relative change of W_V, W_K, W_Q per run (``(title, frame, x)``), the theory dotted on time axes,
    the run's measured onset (``onset_of(frame, x)``) and half of it as vertical lines."""
    fig, axes = plt.subplots(1, len(runs), figsize=(5 * len(runs), 3.8))
    for ax, (title, frame, x) in zip(axes, runs):
        for name, color in MATRIX_COLORS.items():
            ax.plot(frame[x], frame[f"change.{name}"], color=color, label=f"$\\|\\Delta {name}\\| / \\|{name}(0)\\|$")
            if x == "time":
                ax.plot(theory["time"], theory[f"change.{name}"], ":", color=color)
        at = onset_of(frame, x)
        if math.isfinite(at):
            ax.axvline(at, color="k", lw=0.8, label="measured onset")
            ax.axvline(at / 2, color="k", lw=0.8, ls="--", label="half the onset")
        ax.set(yscale="log", ylim=(1e-3, None), title=title, xlabel="gradient-flow time $t$" if x == "time" else "step")
    axes[0].set_ylabel("relative change since init")
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    return fig


def onset_sweeps(
    sweeps: dict[str, pd.DataFrame],
    predict: Callable[..., object],
    learning_rate: float,
    collapse: tuple[np.ndarray, np.ndarray],
    judged: pd.DataFrame,
):
    """Onset of stage 2 against init_scale, keep_prob and the learning rate (theory lines, reduced ODE,
    population GD), and every point against the single variable Lambda (``collapse``: Lambda grid, theory t*).

    sweeps: ``{"init_scale", "keep_prob", "learning_rate"}`` -> rows of the onset grid;
    predict(init_scale=..., keep_prob=..., learning_rate=...) -> an ``OnsetPrediction``.
    """
    fig, axes = plt.subplots(1, 4, figsize=(18, 4.0))
    for ax, column in zip(axes[:2], ("init_scale", "keep_prob")):
        sweep = sweeps[column]
        dense = np.geomspace(sweep[column].min() / 1.5, sweep[column].max() * 1.5, 60)
        if column == "keep_prob":
            dense = dense[dense < 1]
        predictions = [predict(**{column: x}) for x in dense]
        ax.plot(dense, [p.time for p in predictions], "-", color="tab:red", label="two-timescale theory")
        ax.plot(
            dense,
            [p.leading_order_time * learning_rate for p in predictions],
            "--",
            color="tab:red",
            alpha=0.6,
            label="leading order $\\Lambda/W(\\kappa m\\Lambda/e)$",
        )
        ax.plot(sweep[column], sweep["ODE"], "s", mfc="none", color="tab:purple", label="reduced ODE")
        ax.plot(sweep[column], sweep["measured"], "o", color="k", label="population GD, random start")
        ax.set_xscale("log")
        ax.set_xticks(sweep[column], [f"{x:g}" for x in sweep[column]], minor=False)
        ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
        ax.set(xlabel=f"{column} (log axis)", ylabel="onset time $t^*$", title=f"onset vs {column}")
    axes[0].legend(fontsize=8)
    sweep = sweeps["learning_rate"]
    dense = np.geomspace(sweep["learning_rate"].min() / 1.5, sweep["learning_rate"].max() * 1.5, 30)
    axes[2].plot(
        dense, [predict(learning_rate=lr).steps for lr in dense], "-", color="tab:red", label="theory $t^*/\\eta$"
    )
    axes[2].plot(sweep["learning_rate"], sweep["measured steps"], "o", color="k", label="population GD")
    log_log_axes(axes[2], "learning rate $\\eta$", "onset (steps)", "onset vs learning rate")
    axes[2].set_xticks(sweep["learning_rate"], [f"{x:g}" for x in sweep["learning_rate"]])
    axes[2].set_yticks(sweep["measured steps"].dropna(), [f"{x:.0f}" for x in sweep["measured steps"].dropna()])
    for axis in (axes[2].xaxis, axes[2].yaxis):
        axis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    axes[2].legend(fontsize=8)
    lambdas, times = collapse
    axes[3].plot(lambdas, times, "-", color="tab:red", label="$t^*(\\Lambda)$ theory")
    axes[3].scatter(
        judged["Lambda"],
        judged["measured"],
        c=np.log10(judged["init_scale"]),
        cmap="viridis",
        marker="o",
        edgecolor="k",
        label="population GD (colour: log$_{10}$ init_scale)",
    )
    axes[3].xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(4))
    axes[3].set(
        xlabel="$\\Lambda \\propto \\log(1/\\epsilon)/p_c$", ylabel="onset time $t^*$", title="one variable: $\\Lambda$"
    )
    axes[3].legend(fontsize=8)
    fig.suptitle("Onset of stage 2: predicted vs full-matrix population gradient descent")
    fig.tight_layout()
    return fig


# ----- notebook 08 -------------------------------------------------------------------------------------


def _mean_and_range(ax, frame: pd.DataFrame, x: str, y: str, hue: str) -> None:
    """One line per ``hue`` level (in order of appearance, the palette's colours): the mean of ``y`` over the rows
    at each ``x``, in a band from the smallest to the largest. What ``sns.lineplot(..., errorbar=("pi", 100))``
    draws, from one groupby: seaborn aggregates one ``x`` at a time, which took 20 s for notebook 08's curves."""
    stats = frame.groupby([hue, x], sort=False)[y].agg(["mean", "min", "max"])
    for colour, level in zip(sns.color_palette(n_colors=frame[hue].nunique()), pd.unique(frame[hue])):
        curve = stats.loc[level].sort_index()
        ax.plot(curve.index, curve["mean"], color=colour, label=str(level))
        ax.fill_between(curve.index, curve["min"], curve["max"], color=colour, alpha=0.2, linewidth=0)
    ax.set(xlabel=x, ylabel=y)


def two_stage_curves(
    long: pd.DataFrame, decoders, t_value: dict[str, float], stage_criteria: dict[str, float], value_first: float
):
    """Per decoder: the ratios (log scale, stage criteria dashed), the progress s_V and s_A, the norms' change.

    long: rows ``decoder, seed, step, panel ("ratio" | "progress" | "norm"), curve, y``; t_value:
    ``{decoder: t_V}`` of the notebook's seed (dotted line).
    """
    titles = {
        "ratio": ("the four ratios", "ratio $R$ (log scale)"),
        "progress": ("progress of value and attention", "progress $s(t)$"),
        "norm": ("relative change of the norms", "$\\|W(t)\\| / \\|W(0)\\| - 1$"),
    }
    fig, axes = plt.subplots(3, len(decoders), figsize=(5.2 * len(decoders), 10), squeeze=False)
    for col, label in enumerate(decoders):
        for row, (panel, (title, ylabel)) in enumerate(titles.items()):
            ax = axes[row, col]
            rows = long[(long.decoder == label) & (long.panel == panel)]
            _mean_and_range(ax, rows, x="step", y="y", hue="curve")
            ax.set_xscale("log")
            ax.axvline(t_value[label], color="k", ls=":", lw=1)
            if panel == "ratio":
                ax.set_yscale("log")
                for criterion in stage_criteria.values():
                    ax.axhline(criterion, color="grey", lw=0.6, ls="--")
            if panel == "progress":
                ax.axhline(0.5, color="grey", lw=0.6)
                ax.axhline(value_first, color="grey", lw=0.6, ls="--")
            ax.set(title=f"{label} decoder: {title}", ylabel=ylabel)
            ax.legend(title=None, fontsize=8)
    fig.tight_layout()
    return fig


def robustness_map(checks: dict[str, tuple[pd.Series, pd.Series]], points: pd.Series, title: str):
    """Grid points x checks: green where a check passes, red where not, grey where undefined (NaN).

    checks: ``{column title: (passed (bool or NaN per point), text per point)}``.
    """
    verdicts = pd.DataFrame({name: passed.map({True: 1.0, False: 0.0}) for name, (passed, _) in checks.items()})
    verdicts.index = points
    labels = pd.DataFrame({name: text for name, (_, text) in checks.items()}).set_index(points)
    fig, ax = plt.subplots(figsize=(10.5, 0.42 * len(points) + 1.8))
    ax.set_facecolor("#dddddd")
    sns.heatmap(
        verdicts.astype(float),
        annot=labels,
        fmt="",
        cmap=sns.color_palette(["#d73027", "#1a9850"]),
        vmin=0,
        vmax=1,
        cbar=False,
        linewidths=0.6,
        linecolor="white",
        ax=ax,
    )
    for row in range(len(verdicts)):
        for col, value in enumerate(verdicts.iloc[row]):
            if np.isnan(value):
                ax.text(col + 0.5, row + 0.5, "no 2nd stage", ha="center", va="center", fontsize=8, color="#555555")
    ax.set(title=title, xlabel="", ylabel="grid point (changes from the base configuration)")
    ax.xaxis.tick_top()
    fig.tight_layout()
    return fig


def attention_maps(nets: dict, documents: list, words_per_topic: int):
    """Attention of each net (rows) on each document (columns: a (N,) token tensor sorted by topic), all
    positions visible; white lines where one topic's tokens end."""

    fig, axes = plt.subplots(len(nets), len(documents), figsize=(4.0 * len(documents), 3.6 * len(nets)), squeeze=False)
    for row, (label, net) in enumerate(nets.items()):
        for col, tokens in enumerate(documents):
            with torch.no_grad():
                attention = net(tokens[None], torch.ones(1, len(tokens), dtype=torch.bool)).attention[0]  # (N, N)
            ax = axes[row, col]
            sns.heatmap(
                attention.float().numpy(),
                ax=ax,
                cmap="viridis",
                square=True,
                xticklabels=False,
                yticklabels=False,
                cbar_kws={"shrink": 0.7},
            )
            topics = (tokens // words_per_topic).numpy()
            for boundary in np.flatnonzero(np.diff(topics)) + 1:
                ax.axhline(boundary, color="w", lw=0.8)
                ax.axvline(boundary, color="w", lw=0.8)
            ax.set(
                title=f"{label}, document {col + 1}\ntopics {sorted(set(topics.tolist()))}",
                xlabel="key (sorted by topic)",
                ylabel="query (sorted by topic)",
            )
    fig.tight_layout()
    return fig


def block_average_bars(averages: pd.DataFrame, seed: int, title: str):
    """Bars of the block averages (columns decoder, quantity, pairs, average; one row per seed) with 95% intervals."""
    bars = sns.catplot(
        averages,
        x="decoder",
        y="average",
        hue="pairs",
        col="quantity",
        kind="bar",
        sharey=False,
        errorbar=("ci", 95),
        seed=seed,
        height=3.3,
        aspect=1.0,
        palette=["#4575b4", "#1a9850", "#999999"],
    )
    bars.set_titles("{col_name}")
    for ax in bars.axes.flat:
        ax.axhline(0, color="k", lw=0.6)
    bars.axes.flat[-1].axhline(1, color="k", lw=0.8, ls=":")  # uniform attention
    bars.figure.suptitle(title, y=1.03)
    return bars.figure


def long_curves(runs: dict, progress: Callable[[pd.Series], pd.Series]) -> pd.DataFrame:
    """The curves of ``{(decoder, seed): (model, curves, loss)}`` in long form for :func:`two_stage_curves`."""
    rows = []
    for (label, seed), (_, curves, _) in runs.items():
        steps = curves["step"]
        for name, ratio in (
            ("embedding $R_E$", "R_E"),
            ("value $R_V$", "R_V"),
            ("attention $R_A$", "R_A"),
            ("copies $R_I$", "R_I"),
        ):
            rows += [
                {"decoder": label, "seed": seed, "step": s, "panel": "ratio", "curve": name, "y": y}
                for s, y in zip(steps, curves[ratio])
            ]
        for name, ratio in (("value $s_V$", "R_V"), ("attention $s_A$", "R_A")):
            rows += [
                {"decoder": label, "seed": seed, "step": s, "panel": "progress", "curve": name, "y": y}
                for s, y in zip(steps, progress(curves[ratio]))
            ]
        for matrix in ("E", "W_K", "W_Q", "W_V"):
            norms = curves[f"norm.{matrix}"]
            rows += [
                {"decoder": label, "seed": seed, "step": s, "panel": "norm", "curve": f"$\\|{matrix}\\|$", "y": y}
                for s, y in zip(steps, norms / norms.iloc[0] - 1)
            ]
    return pd.DataFrame(rows).query("step > 0")  # a log axis


# ----- notebook 07 -------------------------------------------------------------------------------------


def top_words(
    topic_words: np.ndarray,
    topic_sizes: np.ndarray,
    words: list[str],
    confident: np.ndarray,
    topics: int = 20,
    per_topic: int = 8,
):
    """Bars of p(w | k) for the most probable words of the largest topics; blue: confident words, grey: shared.

    topic_words: (K, W); topic_sizes: (K,); words: the W vocabulary words; confident: (W,) bool.
    """
    shown = np.argsort(-topic_sizes, kind="stable")[:topics]
    fig, axes = plt.subplots(4, 5, figsize=(15, 10.5))
    for ax, k in zip(axes.flat, shown):
        top = np.argsort(-topic_words[k], kind="stable")[:per_topic]
        colours = ["tab:blue" if confident[i] else "tab:grey" for i in top]
        ax.barh([words[i] for i in top][::-1], topic_words[k, top][::-1], color=colours[::-1])
        ax.set_title(f"topic {k} (p = {topic_sizes[k]:.3f})", fontsize=9)
        ax.tick_params(labelsize=8)
    for ax in axes.flat[len(shown) :]:
        ax.axis("off")
    fig.suptitle(
        "Top words per LDA topic, p(w | k); blue: confident words of that topic, grey: shared with other topics"
    )
    fig.tight_layout()
    return fig


def topic_sorted_words(topics: np.ndarray, frequency: np.ndarray, per_topic: int) -> np.ndarray:
    """Indices of up to ``per_topic`` most frequent words of each topic, grouped by topic (topics: (W,) labels)."""
    chosen = [
        np.flatnonzero(topics == k)[np.argsort(-frequency[topics == k], kind="stable")][:per_topic]
        for k in np.unique(topics)
    ]
    return np.concatenate(chosen)


def grouped_heatmap(matrix: np.ndarray, topics: np.ndarray, ax, title: str, label: str) -> None:
    """Heatmap of a (W, W) word x word matrix sorted by topic, lines between topics (which may differ in size)."""
    limit = np.percentile(np.abs(matrix[~np.eye(len(matrix), dtype=bool)]), 99)
    image = ax.imshow(matrix, cmap="RdBu_r", vmin=-limit, vmax=limit, interpolation="nearest")
    for boundary in np.flatnonzero(np.diff(topics)) + 0.5:
        ax.axhline(boundary, color="k", lw=0.4)
        ax.axvline(boundary, color="k", lw=0.4)
    ax.set(xticks=[], yticks=[], title=title, xlabel="words, grouped by LDA topic")
    plt.colorbar(image, ax=ax, shrink=0.8, label=label)


def layer_ratios(per_layer: dict, per_head: dict, title: str):
    """The attention ratio per layer with its interval next to the shuffled baseline, and per layer and head."""
    fig, axes = plt.subplots(1, 2, figsize=(13, 4), gridspec_kw={"width_ratios": [1, 1.3]})
    x = np.arange(len(per_layer["ratio"]))
    axes[0].bar(
        x - 0.2,
        per_layer["ratio"],
        0.4,
        capsize=3,
        label="LDA topics (95% bootstrap interval)",
        yerr=[per_layer["ratio"] - per_layer["low"], per_layer["high"] - per_layer["ratio"]],
    )
    axes[0].bar(
        x + 0.2,
        per_layer["baseline"],
        0.4,
        color="tab:grey",
        capsize=3,
        label="labels shuffled (95% range)",
        yerr=[per_layer["baseline"] - per_layer["baseline_low"], per_layer["baseline_high"] - per_layer["baseline"]],
    )
    axes[0].axhline(1, color="k", lw=0.8)
    axes[0].set(
        xticks=x, xticklabels=[f"layer {i + 1}" for i in x], ylabel="same / different topic attention", title=title
    )
    axes[0].legend(fontsize=8)
    heads = pd.DataFrame(
        per_head["ratio"], index=[f"layer {i + 1}" for i in x], columns=range(1, per_head["ratio"].shape[1] + 1)
    )
    sns.heatmap(
        heads,
        ax=axes[1],
        center=1,
        cmap="RdBu_r",
        annot=True,
        fmt=".2f",
        annot_kws={"fontsize": 7},
        cbar_kws={"label": "ratio"},
    )
    axes[1].set(xlabel="head", title="per layer and head")
    fig.tight_layout()
    return fig


def scratch_structure(matrices: dict[str, np.ndarray], topics: np.ndarray, ratios: dict[str, dict]):
    """The from-scratch model's two word x word matrices, and attention ratios (with shuffled baselines) side by side.

    ratios: ``{bar label: topic_ratio_with_baseline result}`` (ratio, low, high, baseline, baseline_low/high).
    """
    fig, axes = plt.subplots(1, 3, figsize=(16, 4.6))
    for ax, (name, matrix) in zip(axes[:2], matrices.items()):
        grouped_heatmap(matrix, topics, ax, f"from scratch: {name}", "")
    columns = {"LDA topics": ("ratio", "low", "high"), "shuffled": ("baseline", "baseline_low", "baseline_high")}
    bars = pd.DataFrame(
        [[float(stats[key]) for key in keys] for stats in ratios.values() for keys in columns.values()],
        columns=["ratio", "low", "high"],
    )  # per model: real labels, shuffled
    positions = np.concatenate([[1.2 * i, 1.2 * i + 0.4] for i in range(len(ratios))])
    axes[2].bar(
        positions,
        bars["ratio"],
        0.35,
        color=["tab:blue", "tab:grey"] * len(ratios),
        yerr=[bars["ratio"] - bars["low"], bars["high"] - bars["ratio"]],
        capsize=4,
    )
    axes[2].axhline(1, color="k", lw=0.8)
    axes[2].set(
        xticks=positions[::2] + 0.2,
        xticklabels=list(ratios),
        ylabel="same / different topic attention",
        title="Attention ratio (grey: labels shuffled)",
    )
    fig.tight_layout()
    return fig


# ----- notebook 06 -------------------------------------------------------------------------------------


def topic_share_histogram(shares: dict[str, tuple[np.ndarray, np.ndarray]], criterion: float, num_topics: int):
    """Token-weighted histograms of the top-topic share ``s(w)``; shares: ``{corpus: (s (W,), token counts (W,))}``."""
    fig, ax = plt.subplots(figsize=(6.5, 3.6))
    for name, (s, n) in shares.items():
        sns.histplot(x=s, weights=n / n.sum(), bins=40, binrange=(0, 1), element="step", fill=False, label=name, ax=ax)
    ax.axvline(criterion, color="k", ls="--", lw=1, label="A1 criterion")
    ax.axvline(1 / num_topics, color="grey", ls=":", lw=1, label=f"1/K (no structure, K = {num_topics})")
    ax.set(
        xlabel="top-topic share s(w) = max_k p(k | w)",
        ylabel="share of tokens",
        title="A1: how much of a word's topic mass its top topic holds",
    )
    ax.legend(fontsize=8)
    return fig


def topics_per_document(counts: dict[str, tuple[np.ndarray, int]]):
    """Share of documents by their number of topics with weight >= 0.1; counts: ``{corpus: (tau_d (D,), T)}``."""
    frame = pd.concat(
        [pd.DataFrame({"topics with weight >= 0.1": c, "corpus": name}) for name, (c, _) in counts.items()]
    )
    fig, ax = plt.subplots(figsize=(6.5, 3.4))
    sns.countplot(frame, x="topics with weight >= 0.1", hue="corpus", stat="proportion", ax=ax)
    ax.set(ylabel="share of documents", title="A2: topics per document")
    return fig


def length_against_support(supports: dict[str, tuple[np.ndarray, np.ndarray]]):
    """Document length ``N_d`` against ``(tau v)_d = exp H(p_d)``, and the histogram of their log ratio.

    supports: ``{corpus: (lengths (D,), supports (D,))}``.
    """
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.6))
    for name, (n, s) in supports.items():
        axes[0].scatter(s, n, s=4, alpha=0.3, label=name, rasterized=True)
        sns.histplot(x=np.log10(n / s), bins=50, stat="proportion", element="step", fill=False, label=name, ax=axes[1])
    axes[0].plot([1, 1e4], [1, 1e4], "k--", lw=1, label="N = tau v")
    log_log_axes(axes[0], "(tau v)_d = exp H(p_d)", "N_d, tokens", "A3: document length against its topics' support")
    axes[1].axvline(0, color="k", ls="--", lw=1, label="criterion rho = 1")
    axes[1].set(xlabel="log10 rho_d = log10 N_d / (tau v)_d", ylabel="share of documents", title="A3: rho_d")
    for ax in axes:
        ax.legend(fontsize=8, markerscale=3)
    fig.tight_layout()
    return fig


def stage_one_curves(runs: dict[tuple[str, str], pd.DataFrame], criteria: dict[str, float]):
    """W_V's topic contrast, the larger key/query norm growth and the attention entropy ratio per run
    (``{(corpus, optimizer): frame}`` of :func:`data_assumptions.stage_one_run`; solid: SGD, dashed: Adam)."""
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.5))
    for (data, key), frame in runs.items():
        label, style = f"{data}, {key}", "-" if key == "sgd" else "--"
        axes[0].plot(frame["step"], frame["W_V topic contrast"], style, marker=".", label=label)
        axes[1].plot(frame["step"], frame[["W_K growth", "W_Q growth"]].max(1), style, marker=".", label=label)
        axes[2].plot(frame["step"], frame["entropy ratio"], style, marker=".", label=label)
    axes[0].axhline(criteria["A4_contrast"], color="k", ls=":", lw=1)
    axes[0].set(xlabel="step", ylabel="logit", title="W_V learns: same- minus different-topic")
    axes[1].axhline(criteria["A4_growth"], color="k", ls=":", lw=1)
    axes[1].set(xlabel="step", ylabel="largest of W_K, W_Q norm / initial", yscale="log", title="Key and query norms")
    axes[2].axhline(criteria["A4_entropy"], color="k", ls=":", lw=1)
    axes[2].set(xlabel="step", ylabel="H(attention) / log(#keys)", title="Attention entropy")
    for ax in axes:
        ax.set_xscale("symlog", linthresh=10)
        ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


# ----- notebook 08: the robustness map of the grid; notebook 09: trajectories and the sweep's map ---------------


def lda_robustness_map(results: pd.DataFrame, criterion: dict, stage: dict, value_first: float, title: str):
    """Notebook 08's grid: for each point, which structures appear (the four ratios at the end above their
    untrained criteria, the attention peak above its stage criterion, value first) - green appears, red not."""
    checks = {
        **{
            f"{name}\n${ratio} > {criterion[ratio]:.3g}$": (
                results[ratio] > criterion[ratio],
                results[ratio].map("{:.3g}".format),
            )
            for name, ratio in (("embedding", "R_E"), ("value", "R_V"), ("attention at end", "R_A"), ("copies", "R_I"))
        },
        f"attention peak\n$\\max R_A \\geq {stage['R_A']:.3g}$": (
            results["R_A peak"] >= stage["R_A"],
            results["R_A peak"].map("{:.3f}".format),
        ),
        f"value first\n$s_A(t_V) \\leq {value_first}$": (
            results["value_first"],
            results["s_A_at_t_V"].map(lambda s: "n/a" if np.isnan(s) else f"{s:.3f}"),
        ),
    }
    return robustness_map(checks, results["point"], title)


def attention_trajectories(curves: pd.DataFrame, summary: pd.DataFrame, criterion: float, uniform_paper: dict):
    """Notebook 09's three panels over training, all seeds of ``curves`` (a ``seed`` column):

    R_A, R_I and the different-topic mass (geometric mean over seeds, range shaded, ``criterion`` dashed); the
    paper's metric (mean over seeds, ``uniform_paper`` dotted); the value excess ``a - b`` against
    ``log(R_I / R_A)``. The median stage steps of ``summary`` (t_V, t_A, R_A peak step, t_I) are marked.
    """
    grouped = curves.groupby("step")
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.2))
    for column, label, colour in (
        ("R_A", "$R_A$: topic-mates / other topics", "C0"),
        ("R_I", "$R_I$: copies / other topics", "C3"),
        ("attention.diff", "different-topic mass $A_D/U_D$", "C7"),
    ):
        centre = np.exp(np.log(curves[column]).groupby(curves["step"]).mean())  # geometric mean over seeds
        axes[0].plot(centre.index, centre.values, color=colour, label=label)
        axes[0].fill_between(centre.index, grouped[column].min(), grouped[column].max(), color=colour, alpha=0.2)
    axes[0].axhline(1, color="k", ls=":", lw=1)
    axes[0].axhline(criterion, color="C0", ls="--", lw=0.8)
    seeds = curves["seed"].nunique()
    axes[0].set(yscale="log", xlabel="step", title=f"Attention relative to uniform ({seeds} seeds; range shaded)")
    marks = {
        "$t_V$": summary["t_V"].median(),
        "$t_A$": summary["t_A"].median(),
        "$R_A$ peak": summary["R_A peak step"].median(),
        "$t_I$": summary["t_I"].median(),
    }
    for ax in axes:
        for (name, step), style in zip(marks.items(), ("-.", "--", "-", ":")):
            if np.isfinite(step):
                ax.axvline(step, color="grey", ls=style, lw=1, label=f"{name} = {step:.0f}")
    axes[0].legend(fontsize=7)
    for kind, colour in zip(PAPER_KINDS, ("C3", "C0", "C7")):
        mean = grouped[f"paper.{kind}"].mean()
        axes[1].plot(mean.index, mean.values, color=colour, label=kind.replace("_", " "))
        axes[1].axhline(uniform_paper[kind], color=colour, ls=":", lw=1)
    axes[1].set(yscale="log", xlabel="step", title="The paper's metric: raw average attention (dotted: uniform)")
    axes[1].legend(fontsize=7)
    excess = grouped["value.excess"].mean()
    axes[2].plot(excess.index, excess.values, color="C2", label="value excess $a - b$ of $W_{pred} W_V E^T$")
    log_copy_over_topic = np.log(curves["R_I"] / curves["R_A"]).groupby(curves["step"]).mean()
    axes[2].plot(log_copy_over_topic.index, log_copy_over_topic.values, color="C4", label="$\\log(R_I / R_A)$")
    axes[2].axhline(0, color="k", lw=0.8)
    axes[2].set(xlabel="step", title="The exchange rule: sign of $a - b$ against copies vs mates")
    axes[2].legend(fontsize=7)
    fig.tight_layout()
    return fig


def topic_attention_sweep_map(sweep: pd.DataFrame, criterion: dict, title: str):
    """Notebook 09's sweep: per point, whether topic attention survives at the end and at its peak (above the
    untrained criterion), whether mates beat copies, the sign of the value excess, and the paper's metric."""
    checks = {
        f"topic attention at end\n$R_A > {criterion['R_A']:.3g}$": (
            sweep["R_A"] > criterion["R_A"],
            sweep["R_A"].map("{:.3g}".format),
        ),
        f"peak\n$\\max R_A > {criterion['R_A']:.3g}$": (
            sweep["R_A peak"] > criterion["R_A"],
            sweep["R_A peak"].map("{:.3g}".format),
        ),
        "mates beat copies\n$R_I / R_A \\leq 1$": (
            sweep["copy over topic"] <= 1,
            sweep["copy over topic"].map("{:.3g}".format),
        ),
        "value excess\n$a - b \\leq 0$": (sweep["value.excess"] <= 0, sweep["value.excess"].map("{:.3g}".format)),
        "paper metric\nsame / diff topic": (
            sweep["paper.ratio"] > criterion["paper.ratio"],
            sweep["paper.ratio"].map("{:.3g}".format),
        ),
    }
    return robustness_map(checks, sweep["point"], title)


def exchange_checks(checks: pd.DataFrame, optima: pd.DataFrame):
    """Notebook 09 §3 in two panels: the exchange rate by sympy against autograd of the population loss, one point
    per setting (:func:`theory.exchange.exchange_rate_checks`), and at each population optimum
    (:func:`theory.exchange.population_optima`) the value excess ``a - b`` against ``log(R_I / R_A)``: the exchange
    rule puts every optimum in the shaded quadrants (same sign) or at the origin."""
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    symbolic, numeric = checks["sympy"].to_numpy(), checks["population loss (autograd)"].to_numpy()
    left.scatter(numeric, symbolic, color="C0", zorder=3)
    ends = [min(numeric.min(), symbolic.min()), max(numeric.max(), symbolic.max())]
    left.plot(ends, ends, "k--", lw=1, label="equal")
    left.set(
        xlabel="autograd of the population loss", ylabel="sympy closed form", title="The exchange rate, two routes"
    )
    left.legend()
    excess, log_ratio = optima["excess"].to_numpy(), np.log(optima["R_I"] / optima["R_A"]).to_numpy()
    reach = 1.2 * max(np.abs(excess).max(), np.abs(log_ratio).max(), 1e-3)
    right.fill_between([0, reach], 0, reach, color="C2", alpha=0.15, label="the rule's quadrants")
    right.fill_between([-reach, 0], -reach, 0, color="C2", alpha=0.15)
    right.scatter(excess, log_ratio, color="C1", zorder=3)
    for decay, x, y in zip(optima["weight_decay"], excess, log_ratio):
        right.annotate(f"lambda = {decay:g}", (x, y), textcoords="offset points", xytext=(4, 4), fontsize=8)
    right.axhline(0, color="k", lw=0.5)
    right.axvline(0, color="k", lw=0.5)
    right.set(
        xlim=(-reach, reach),
        ylim=(-reach, reach),
        xlabel="value excess a - b",
        ylabel="log(R_I / R_A)",
        title="Population optima: copies win exactly when a > b",
    )
    right.legend(loc="lower right")
    fig.tight_layout()
    return fig
