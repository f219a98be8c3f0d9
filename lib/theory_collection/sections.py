"""Where a claim is shown on its notebook's page: the cell that records it, its section, its figures.

A notebook page (:mod:`theory_collection.pages`) anchors every executed code cell by its execution
count (``#cell-12`` for ``In [12]``) and marks it with the anchor of the heading above it
(``data-section``); every heading has a GitHub-style anchor. A claim records the execution count of
the cell that records it (``Claim.cell``), and a figure the cell that saved it (``save_figure``
writes it into the PNG's metadata), so the report links each claim to its cell, to that cell's
section, and to the figures of that cell (else of that section), whatever code the cell calls.
A claim's own ``section`` and ``figure`` fields, where given, take precedence.

For claims files written before claims named their cell, :func:`recorded_sections` reads the heading
above each literal claim id recorded by ``check``/``observe`` in the notebook's source.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path
from typing import TYPE_CHECKING

from theory_collection.formatting import tex_to_text

if TYPE_CHECKING:
    import nbformat

_HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
CELL_ANCHOR = "cell-{}"  # the anchor of the code cell In [n] on a notebook page
FIGURE_CELL_KEY = "Cell"  # the PNG text chunk in which save_figure records the cell that saved the figure


@dataclass(frozen=True)
class Section:
    """A heading of a notebook page: its anchor and its text."""

    anchor: str
    text: str


@dataclass(frozen=True)
class PageCell:
    """An executed code cell of a notebook page: its anchor and the anchor of the heading above it ("" if none)."""

    anchor: str
    section: str


class _PageParser(HTMLParser):
    """The headings (anchor, text without the anchor link) and the anchored code cells of a page."""

    def __init__(self):
        super().__init__()
        self.sections: list[Section] = []
        self.cells: dict[int, PageCell] = {}
        self._current: tuple[str, list[str]] | None = None
        self._skip = 0

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        found = re.fullmatch(CELL_ANCHOR.format(r"(\d+)"), attrs.get("id") or "")
        if found and tag == "div":
            self.cells[int(found.group(1))] = PageCell(attrs["id"], attrs.get("data-section") or "")
        if re.fullmatch(r"h[1-6]", tag) and attrs.get("id"):
            self._current = (attrs["id"], [])
        elif self._current is not None and tag == "a" and "anchor-link" in (attrs.get("class") or ""):
            self._skip += 1

    def handle_endtag(self, tag):
        if self._current is not None and re.fullmatch(r"h[1-6]", tag):
            self.sections.append(Section(self._current[0], " ".join("".join(self._current[1]).split())))
            self._current = None
        elif tag == "a" and self._skip:
            self._skip -= 1

    def handle_data(self, data):
        if self._current is not None and not self._skip:
            self._current[1].append(data)


def read_page(page: str | Path) -> _PageParser:
    """A page's headings and anchored code cells (read once while the file stays as it is: a report's summaries
    ask for each page several times, and parsing one is a tenth of a second)."""
    found = Path(page).stat()
    return _parsed_page(str(page), found.st_mtime_ns, found.st_size)


@functools.lru_cache(maxsize=64)
def _parsed_page(page: str, modified_ns: int, size: int) -> _PageParser:
    parser = _PageParser()
    parser.feed(Path(page).read_text(encoding="utf-8"))
    return parser


def sections_of_page(page: str | Path) -> list[Section]:
    """The headings of an exported page, in order, with their anchors."""
    return read_page(page).sections


def cells_of_page(page: str | Path) -> dict[int, PageCell]:
    """The anchored code cells of an exported page, by execution count."""
    return read_page(page).cells


def find_section(sections: list[Section], heading: str) -> Section | None:
    """The section whose heading text is ``heading``, or the only one that contains it; None when there is none
    or several. Markup, TeX (``$L \\to L^\\star$`` is ``L → L*``), case, punctuation and a leading number
    (``1 · ``) are ignored."""
    wanted = _normal(plain_text(heading.lstrip("#")))
    if not wanted:
        return None
    for key in (_normal, _unnumbered):
        exact = [s for s in sections if key(wanted) and key(s.text) == key(wanted)]
        if exact:
            return exact[0]
    partial = [s for s in sections if _unnumbered(wanted) and _unnumbered(wanted) in _normal(s.text)]
    if len(partial) > 1:  # "2 · Factorised attention" is the heading that starts so, not the title that says it
        partial = [s for s in partial if _normal(s.text).startswith(wanted)]
    return partial[0] if len(partial) == 1 else None


def plain_text(markdown: str) -> str:
    """Markdown inline text without its markup (links keep their text, code its content, TeX spelled out)."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", markdown)
    text = re.sub(r"(?<!\w)_([^_]+)_(?!\w)", r"\1", re.sub(r"[*`]", "", text))  # _emphasis_
    return tex_to_text(text)


def notebook_title(nb: nbformat.NotebookNode, fallback: str) -> str:
    """The text of the notebook's first heading, without Markdown markup; ``fallback`` when it has none."""
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            for line in cell.source.splitlines():
                found = _HEADING.match(line)
                if found:
                    return plain_text(found.group(2))
    return fallback


def slug(text: str) -> str:
    """A heading's anchor as GitHub writes it: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"[^\w\- ]", "", text.strip().lower())
    return text.replace(" ", "-")


def recorded_sections(notebook: str | Path) -> tuple[dict[str, str], dict[str, list[str]]]:
    """For a notebook: the heading above each literal claim id recorded by ``check``/``observe`` (an
    f-string id becomes a pattern), and the figure names that ``save_figure`` writes under each heading.

    Returns ``({id_pattern: heading}, {heading: [figure name patterns]})``; patterns are regular expressions.
    """
    import nbformat  # here, not above: every notebook's kernel imports this module, and nbformat costs it a second

    nb = nbformat.read(Path(notebook), as_version=4)
    heading = ""
    claims: dict[str, str] = {}
    figures: dict[str, list[str]] = {}
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            for line in cell.source.splitlines():
                found = _HEADING.match(line)
                if found:
                    heading = found.group(2)
        elif cell.cell_type == "code":
            for prefix, literal in re.findall(r"""\.(?:check|observe)\(\s*(f?)["']([^"']+)["']""", cell.source):
                claims.setdefault(_pattern(literal, bool(prefix)), heading)
            for prefix, literal in re.findall(r"""save_figure\([^,]+,\s*(f?)["']([^"']+)["']""", cell.source):
                figures.setdefault(heading, []).append(_pattern(literal, bool(prefix)))
    return claims, figures


def recording_cell() -> int | None:
    """The execution count (the ``n`` of ``In [n]``) of the notebook cell running now; None outside IPython.

    IPython numbers a cell by its place in the input history, which it extends before running the cell,
    so the count is the one the executed notebook saves for this cell (the report links a claim to it).
    """
    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover - IPython is a dependency of the kernel
        return None
    shell = get_ipython()
    history = getattr(shell, "user_ns", {}).get("In") if shell is not None else None
    return len(history) - 1 if isinstance(history, list) and len(history) > 1 else None


def png_text(png: str | Path) -> dict[str, str]:
    """The text chunks a PNG holds before its image data (where ``save_figure`` writes them), without decoding the
    image (``Image.text`` decodes all of it to look for more: most of a report's summary time went there); empty
    for a file that is not a readable PNG."""
    try:
        from PIL import Image

        with Image.open(png) as image:
            return {key: value for key, value in image.info.items() if isinstance(value, str)}
    except Exception:
        return {}


def figure_cell(png: str | Path) -> int | None:
    """The execution count of the cell that saved a figure (from its PNG metadata); None when not recorded."""
    value = png_text(png).get(FIGURE_CELL_KEY, "")  # an unreadable PNG is still shown, only not tied to a cell
    return int(value) if value.isdigit() else None


def _pattern(literal: str, is_fstring: bool) -> str:
    if not is_fstring:
        return re.escape(literal)
    return "".join(".+" if part.startswith("{") else re.escape(part) for part in re.split(r"(\{[^}]*\})", literal))


def _normal(text: str) -> str:
    return re.sub(r"[\W_]+", "", tex_to_text(text).lower())


def _unnumbered(text: str) -> str:
    """The normal form without a leading section number (``1 · Why`` and ``Why`` are one heading)."""
    return re.sub(r"^\d+", "", _normal(text))
