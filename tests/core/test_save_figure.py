import matplotlib.pyplot as plt

from theory_collection.plots import figure_title, save_figure


def test_untitled_figure_saves_without_title_metadata(tmp_path):
    fig, ax = plt.subplots()
    ax.plot([0, 1])
    png, svg = save_figure(fig, "untitled", tmp_path)
    assert png.stat().st_size > 0 and "<dc:title>" not in svg.read_text()


def test_title_reaches_both_files(tmp_path):
    fig, axes = plt.subplots(1, 2)
    axes[0].set_title("left")
    axes[1].set_title("right")
    assert figure_title(fig) == "left · right"
    fig.suptitle("whole")
    _, svg = save_figure(fig, "titled", tmp_path)
    assert "whole" in svg.read_text() and figure_title(fig) == "whole"
