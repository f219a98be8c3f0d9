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

Controls are given as :class:`Control` specs and become ipywidgets only in a kernel a person can use. A kernel
the collection starts to execute a notebook (a report, a sweep, ``make notebooks-refresh``, nbval) has
:data:`HEADLESS` in its environment, and there an explorer makes no widget at all and shows its static view:
nbclient executing a cell that opens widget comms could wait for good on a reply it had already passed over (it
hung next-token 02's explorer cell now and then in CI), and nobody could move the controls there anyway.
"""

from __future__ import annotations

import base64
import html
import io
import os
from collections.abc import Callable
from dataclasses import dataclass, field

from theory_collection.formatting import tex_to_text

HEADLESS = "THEORY_COLLECTION_HEADLESS"  # set (to 1) in the environment of a kernel that executes unattended
INTERACTIVE_NOTE = (
    "Interactive in JupyterLab: run this cell with a kernel to move the controls. Shown here at its default."
)


@dataclass
class Control:
    """A control to be made: the ipywidgets class's name (``"FloatSlider"``, ``"IntSlider"``, ``"FloatLogSlider"``,
    ``"Dropdown"``, ``"Text"``), its starting value and its other keyword arguments."""

    kind: str
    value: object
    options: dict = field(default_factory=dict)

    def widget(self):
        """The ipywidgets control, at this value (on release of a slider)."""
        import ipywidgets as widgets

        options = dict(self.options)
        if self.kind.endswith("Slider"):
            options.setdefault("continuous_update", False)
        return getattr(widgets, self.kind)(value=self.value, **options)


def control(kind: str, value: object, **options) -> Control:
    """:class:`Control` with its options as keywords: ``control("IntSlider", 3, min=1, max=9, description="n")``."""
    return Control(kind, value, options)


def headless() -> bool:
    """Whether this process is a kernel executing a notebook unattended (see the module docstring)."""
    return os.environ.get(HEADLESS, "") not in ("", "0")


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

    ``controls``: ``{name: Control}``, the names being ``render``'s keyword arguments. The view is rendered at
    once (so a bad default fails where the explorer is made), then on every change; in a headless kernel there
    are no widgets, only that first view.
    """

    def __init__(self, title: str, controls: dict[str, Control], render: Callable[..., View]):
        self.title = title
        self.render = render
        self.default = {name: spec.value for name, spec in controls.items()}
        self.shown = view_html(render(**self.default))  # the HTML of the view on display
        self.static = self.shown + note_html()
        self.controls: dict = {}
        self.widget = None
        if headless():
            return
        import ipywidgets as widgets

        self.controls = {name: spec.widget() for name, spec in controls.items()}
        self.output = widgets.Output()
        heading = widgets.HTML(f"<b>{html.escape(title)}</b>")
        boxes = widgets.Box(
            list(self.controls.values()), layout=widgets.Layout(display="flex", flex_flow="row wrap", gap="0 1em")
        )
        self.widget = widgets.VBox([heading, boxes, self.output])
        self.update(redraw=False)
        for widget in self.controls.values():
            widget.observe(self.update, names="value")

    def values(self) -> dict:
        """The controls' current values, by name (the defaults in a headless kernel)."""
        return {name: widget.value for name, widget in self.controls.items()} or dict(self.default)

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
        live = self.widget._repr_mimebundle_(include=include, exclude=exclude) if self.widget is not None else None
        bundle = dict(live or {})
        bundle["text/html"] = self.static
        bundle["text/plain"] = f"{self.title} ({INTERACTIVE_NOTE})"
        return bundle
