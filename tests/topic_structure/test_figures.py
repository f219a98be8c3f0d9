import matplotlib.pyplot as plt
import pandas as pd
import torch

from theory_collection.plots import save_figure
from topic_structure.data import Vocabulary
from topic_structure.figures import dynamics, side_by_side, topic_heatmap
from topic_structure.measurements import block_matrix

VOCAB = Vocabulary(3, 4)


def test_heatmap_draws_topic_boundaries():
    ax = topic_heatmap(block_matrix(VOCAB, 1, 0.5, -0.2), VOCAB, title="W_V")
    # two horizontal and two vertical boundaries between three topics
    assert len(ax.lines) == 4 and ax.get_title() == "W_V"
    plt.close("all")


def test_side_by_side_and_save_are_reproducible(tmp_path):
    fig = side_by_side({"theory": block_matrix(VOCAB, 1, 1, -0.2), "learned": torch.randn(14, 14)}, VOCAB, "C2")
    assert len(fig.axes) == 4  # two heatmaps and their colour bars
    first = save_figure(fig, "nb_figure", tmp_path)
    svg1 = first[1].read_bytes()
    save_figure(fig, "nb_figure", tmp_path)
    assert [p.name for p in first] == ["nb_figure.png", "nb_figure.svg"]
    assert first[1].read_bytes() == svg1, "SVG bytes change between saves"
    plt.close("all")


def test_dynamics_plots_each_column():
    frame = pd.DataFrame({"step": [0, 1, 2], "a": [1.0, 2.0, 3.0], "b": [3.0, 2.0, 1.0]})
    ax = dynamics(frame, ["a", "b"], logy=True, labels={"a": "alpha"})
    assert ax.get_yscale() == "log" and {t.get_text() for t in ax.get_legend().get_texts()} == {"alpha", "b"}
    plt.close("all")


def test_large_heatmaps_stay_small_in_svg(tmp_path):
    vocab = Vocabulary(30, 10)
    ax = topic_heatmap(torch.randn(300, 300), vocab)
    svg = save_figure(ax.figure, "big", tmp_path)[1]
    assert svg.stat().st_size < 1_000_000  # a vector path per cell would be tens of megabytes
    plt.close("all")
