"""An explorer: controls over a render function, live in JupyterLab and its default view everywhere else
(theory_collection.explore), without a browser."""

import matplotlib.pyplot as plt
import nbformat
from nbformat.v4 import new_code_cell, new_notebook, new_output

from theory_collection.explore import HEADLESS, INTERACTIVE_NOTE, Explorer, View, control, view_html
from theory_collection.notebook_outputs import WIDGET_VIEW, clean_outputs, leftovers


def render(slope: float, label: str = "line") -> View:
    fig, ax = plt.subplots(figsize=(3, 2))
    ax.plot([0, 1], [0, slope])
    return View(figure=fig, lines=[f"{label}: slope ${slope:g}$"])


def explorer() -> Explorer:
    controls = {"slope": control("FloatSlider", 1.0, min=0, max=3), "label": control("Text", "line")}
    return Explorer("a line", controls, render)


def test_a_change_of_a_control_redraws_the_view():
    plt.close("all")
    shown = explorer()
    first = shown.shown
    assert "slope $1$" in first and first in shown.static and INTERACTIVE_NOTE in shown.static
    shown.controls["slope"].value = 2.0
    assert shown.shown != first and "slope $2$" in shown.shown
    assert INTERACTIVE_NOTE in shown.static and "slope $1$" in shown.static, "the static view stays the default"
    assert plt.get_fignums() == [], "the explorer closes its figures (the notebook does not show them twice)"


def test_the_same_view_gives_the_same_bytes():
    assert view_html(render(1.5)) == view_html(render(1.5)) != view_html(render(1.6))


def test_the_output_is_the_widget_for_jupyterlab_and_the_default_view_for_every_other_reader():
    bundle = explorer()._repr_mimebundle_()
    assert WIDGET_VIEW in bundle and INTERACTIVE_NOTE in bundle["text/html"] and "a line" in bundle["text/plain"]
    assert "data:image/png;base64," in bundle["text/html"], "the figure travels inside the output"
    nb = new_notebook(cells=[new_code_cell("explore", outputs=[new_output("display_data", data=bundle)])])
    nb.metadata["widgets"] = {"state": "random model ids"}
    clean_outputs(nb)
    (kept,) = nb.cells[0].outputs
    assert set(kept.data) == {"text/html", "text/plain"} and leftovers(nb) == []
    assert nbformat.validate(nb) is None


def test_a_kernel_executing_unattended_makes_no_widget_and_shows_the_default_view(monkeypatch):
    monkeypatch.setenv(HEADLESS, "1")
    shown = explorer()
    assert shown.widget is None and shown.controls == {} and shown.values() == {"slope": 1.0, "label": "line"}
    bundle = shown._repr_mimebundle_()
    assert set(bundle) == {"text/html", "text/plain"} and "slope $1$" in bundle["text/html"]
    monkeypatch.setenv(HEADLESS, "0")
    assert explorer().widget is not None, "HEADLESS=0 is a person's kernel"
