"""Saving figures as PNG and SVG with reproducible bytes, for every paper's notebooks."""

from __future__ import annotations

from pathlib import Path

import matplotlib
import seaborn as sns
from matplotlib.collections import QuadMesh

from theory_collection.sections import FIGURE_CELL_KEY, recording_cell

# Fixed SVG ids and no timestamps, so re-running a notebook does not churn committed figures.
matplotlib.rcParams["svg.hashsalt"] = "theory-collection"
sns.set_theme(context="notebook", style="white")


def figure_title(fig) -> str:
    """The figure's suptitle, else its axes' titles joined by " · " ("" when it has none)."""
    suptitle = fig._suptitle.get_text() if getattr(fig, "_suptitle", None) is not None else ""
    return suptitle or " · ".join(ax.get_title() for ax in fig.axes if ax.get_title())


def save_figure(fig, name: str, directory: str | Path) -> list[Path]:
    """Save ``fig`` as ``<directory>/<name>.png`` and ``.svg``; return the paths.

    The figure's title (:func:`figure_title`) is stored in both files' metadata (``Title``): the
    report's caption and alt text. Inside a notebook the PNG also records the execution count of the
    cell that saved it (``Cell``), so the report links each claim to the figures of its own cell.
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    # A heatmap or pcolormesh is one vector path per cell in an SVG (megabytes for a V x V matrix):
    # embed such meshes as images, keeping axes, labels and lines as vectors.
    for ax in fig.axes:
        for artist in ax.collections:
            if isinstance(artist, QuadMesh):
                artist.set_rasterized(True)
    paths = [directory / f"{name}.png", directory / f"{name}.svg"]
    # The SVG backend refuses a None title, so an untitled figure simply has no Title entry.
    titled = {"Title": title} if (title := figure_title(fig)) else {}
    cell = recording_cell()
    png_metadata = {"Software": None, **titled, **({FIGURE_CELL_KEY: str(cell)} if cell is not None else {})}
    fig.savefig(paths[0], dpi=130, bbox_inches="tight", metadata=png_metadata)
    fig.savefig(paths[1], bbox_inches="tight", metadata={"Date": None, "Creator": None, **titled})
    return paths
