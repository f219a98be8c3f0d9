"""Saving figures as PNG and SVG with reproducible bytes, for every paper's notebooks."""

from __future__ import annotations

from pathlib import Path

import matplotlib
import seaborn as sns
from matplotlib.collections import QuadMesh

# Fixed SVG ids and no timestamps, so re-running a notebook does not churn committed figures.
matplotlib.rcParams["svg.hashsalt"] = "theory-collection"
sns.set_theme(context="notebook", style="white")


def save_figure(fig, name: str, directory: str | Path) -> list[Path]:
    """Save ``fig`` as ``<directory>/<name>.png`` and ``.svg``; return the paths."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    # A heatmap or pcolormesh is one vector path per cell in an SVG (megabytes for a V x V matrix):
    # embed such meshes as images, keeping axes, labels and lines as vectors.
    for ax in fig.axes:
        for artist in ax.collections:
            if isinstance(artist, QuadMesh):
                artist.set_rasterized(True)
    paths = [directory / f"{name}.png", directory / f"{name}.svg"]
    fig.savefig(paths[0], dpi=130, bbox_inches="tight", metadata={"Software": None})
    fig.savefig(paths[1], bbox_inches="tight", metadata={"Date": None, "Creator": None})
    return paths
