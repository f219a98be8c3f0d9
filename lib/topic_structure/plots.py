"""Seaborn figures of the topic paper's notebooks (word x word heatmaps, training curves).

Saving (PNG + SVG, reproducible bytes) is the core's :func:`theory_collection.plots.save_figure`,
re-exported here.
"""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
import torch

from theory_collection.plots import save_figure  # noqa: F401  (re-exported for the notebooks)
from topic_structure.data import Vocabulary


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
    sns.lineplot(data=long, x=x, y="value", hue="quantity", ax=ax)
    if logy:
        ax.set_yscale("log")
    ax.set_title(title)
    return ax
