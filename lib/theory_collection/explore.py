"""Explorers: a few controls (ipywidgets) over an exact or precomputed route, for reading a notebook in JupyterLab.

A paper's explorer module writes a pure ``render(**values) -> View`` (a figure, a few lines of text, maybe a
table; no training run, so a change is answered in well under a second) and wraps it with :class:`Explorer`
and the controls it needs. Displayed in a notebook, an explorer is one output with two faces:

- in JupyterLab with a running kernel, the live widget: the controls, and below them the view, redrawn on
  every change of a control (on release of a slider);
- everywhere else (the committed notebook opened without a kernel, the report's notebook page, nbconvert),
  the view at the explorer's default values, with a line saying it is interactive in JupyterLab: the static
  fallback (``text/html``) of the same output, which is all that
  :func:`theory_collection.notebook_outputs.clean_outputs` keeps of it.

The view's figure is embedded as a PNG with reproducible bytes, so a committed notebook's output does not
change from one run to the next.
"""

from __future__ import annotations

import base64
import html
import io
from collections.abc import Callable
from dataclasses import dataclass, field

from theory_collection.formatting import tex_to_text

INTERACTIVE_NOTE = (
    "Interactive in JupyterLab: run this cell with a kernel to move the controls. Shown here at its default."
)


@dataclass
class View:
    """What an explorer shows for one choice of its controls: a figure (matplotlib), lines of text (which may
    hold ``$...$`` maths) and a table (a pandas DataFrame)."""

    figure: object | None = None
    lines: list[str] = field(default_factory=list)
    table: object | None = None


def figure_png(figure, dpi: int = 96) -> bytes:
    """A matplotlib figure as PNG bytes (no software or date stamp: the same figure gives the same bytes); the
    figure is closed if pyplot holds it, so the notebook does not also show it."""
    buffer = io.BytesIO()
    # the figure's own layout, not bbox_inches="tight", which draws it twice
    figure.savefig(buffer, format="png", dpi=dpi, metadata={"Software": None})
    try:
        import matplotlib.pyplot as plt

        plt.close(figure)
    except Exception:  # a figure pyplot never held
        pass
    return buffer.getvalue()


def view_html(view: View) -> str:
    """A view as self-contained HTML: the figure as an inline PNG, then the lines, then the table."""
    parts = []
    if view.figure is not None:
        data = base64.b64encode(figure_png(view.figure)).decode("ascii")
        alt = html.escape(tex_to_text(view.lines[0]) if view.lines else "")
        parts.append(f'<img src="data:image/png;base64,{data}" alt="{alt}" style="max-width: 100%; height: auto;">')
    parts += [f'<p class="explore-line" style="margin: 0.2em 0;">{html.escape(line)}</p>' for line in view.lines]
    if view.table is not None:
        parts.append(view.table.to_html(index=False, na_rep="", border=0))
    return '<div class="explorer-view">' + "".join(parts) + "</div>"


def note_html(note: str = INTERACTIVE_NOTE) -> str:
    """The line under a static view that says where it is interactive."""
    style = "margin: 0.4em 0; font-size: 0.9em; opacity: 0.75;"
    return f'<p class="explore-note" style="{style}"><em>{html.escape(note)}</em></p>'


class Explorer:
    """Controls over a render function (see the module docstring).

    ``controls``: ``{name: ipywidgets value widget}``, the names being ``render``'s keyword arguments. The
    view is rendered at once (so a bad default fails where the explorer is made), then on every change.
    """

    def __init__(self, title: str, controls: dict, render: Callable[..., View]):
        import ipywidgets as widgets

        self.title = title
        self.controls = dict(controls)
        self.render = render
        self.default = self.values()
        self.output = widgets.Output()
        heading = widgets.HTML(f"<b>{html.escape(title)}</b>")
        boxes = widgets.Box(
            list(self.controls.values()), layout=widgets.Layout(display="flex", flex_flow="row wrap", gap="0 1em")
        )
        self.widget = widgets.VBox([heading, boxes, self.output])
        self.shown = view_html(render(**self.default))  # the HTML of the view on display
        self.static = self.shown + note_html()
        self.update(redraw=False)
        for control in self.controls.values():
            control.observe(self.update, names="value")

    def values(self) -> dict:
        """The controls' current values, by name."""
        return {name: control.value for name, control in self.controls.items()}

    def view(self) -> str:
        """The view at the controls' current values, as HTML (without the note)."""
        return view_html(self.render(**self.values()))

    def update(self, change=None, redraw: bool = True) -> None:
        """Redraw the view for the controls' current values (a control's observer)."""
        from IPython.display import HTML, clear_output, display

        if redraw:
            self.shown = self.view()
        with self.output:
            clear_output(wait=True)
            display(HTML(self.shown))

    def _repr_mimebundle_(self, include=None, exclude=None) -> dict:
        """The live widget for JupyterLab and, for every other reader, the view at the default values."""
        bundle = dict(self.widget._repr_mimebundle_(include=include, exclude=exclude) or {})
        bundle["text/html"] = self.static
        bundle["text/plain"] = f"{self.title} ({INTERACTIVE_NOTE})"
        return bundle
