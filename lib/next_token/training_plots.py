"""Figure helpers of the training notebooks (03, 04): mean ± sd bands over the datasets of a batched run."""

from __future__ import annotations

import numpy as np


def band(ax, x: np.ndarray, values: np.ndarray, label: str, color: str, logy: bool = False) -> None:
    """Plot the mean over datasets of values (m, B) against x (m,) with a ± sd band (clipped above 0 on log axes)."""
    mean, sd = np.nanmean(values, axis=1), np.nanstd(values, axis=1)
    ax.plot(x, mean, color=color, label=label)
    low = np.maximum(mean - sd, mean * 1e-3) if logy else mean - sd
    ax.fill_between(x, low, mean + sd, color=color, alpha=0.2, linewidth=0)
