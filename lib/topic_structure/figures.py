"""The larger figures of notebooks 05-08, drawn from the frames the notebooks compute.

Each function takes measured and predicted curves (pandas frames with the column names of
:mod:`theory.dynamics`, :mod:`experiments` and :mod:`training`) and returns a matplotlib figure;
the notebook saves it (:func:`theory_collection.plots.save_figure`) and shows it.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns

MATRIX_COLORS = {"W_V": "tab:blue", "W_K": "tab:orange", "W_Q": "tab:green"}
MASS, UNIFORM_MASS = "attention.same_topic_mass", "attention.uniform_same_topic_mass"


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
    axes[2].set(
        xscale="log",
        yscale="log",
        xlabel="learning rate $\\eta$",
        ylabel="onset (steps)",
        title="onset vs learning rate",
    )
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
            sns.lineplot(rows, x="step", y="y", hue="curve", errorbar=("pi", 100), ax=ax)
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
    import torch

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
    axes[0].set(
        xscale="log",
        yscale="log",
        xlabel="(tau v)_d = exp H(p_d)",
        ylabel="N_d, tokens",
        title="A3: document length against its topics' support",
    )
    axes[1].axvline(0, color="k", ls="--", lw=1, label="criterion rho = 1")
    axes[1].set(xlabel="log10 rho_d = log10 N_d / (tau v)_d", ylabel="share of documents", title="A3: rho_d")
    for ax in axes:
        ax.legend(fontsize=8, markerscale=3)
    fig.tight_layout()
    return fig


def stage_one_curves(runs: dict[tuple[str, str], pd.DataFrame], criteria: dict[str, float]):
    """W_V's topic contrast, the larger key/query norm growth and the attention entropy ratio per run
    (``{(corpus, optimizer): frame}`` of :func:`experiments.stage_one_run`; solid: SGD, dashed: Adam)."""
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
    from topic_structure.attention_over_training import PAPER_KINDS

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
