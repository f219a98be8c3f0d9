"""Each claim of a report linked to its evidence: the cell that records it, its section and its figures.

The rules (see :mod:`theory_collection.sections` for the anchors a page carries):

- **cell**: the code cell whose execution count the claim recorded (``Claim.cell``);
- **section**: the heading the claim's ``section`` field names, if the page has it; else the heading
  above its cell; else (a claims file without cells) the heading above the ``check``/``observe`` call
  that names the claim in the notebook's source;
- **figures**: the figure its ``figure`` field names; else the figures its cell saved; else those saved
  by the cells of its section.

What could not be linked as declared (a ``section`` that is no heading, a ``figure`` that was not
saved) is the developer's to fix: it is returned in :attr:`ClaimLinks.note` and printed when the report
is written, never shown on a page.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass, field
from pathlib import Path

from theory_collection.formatting import tex_to_text
from theory_collection.runs import NotebookRun
from theory_collection.sections import (
    PageCell,
    Section,
    figure_cell,
    find_section,
    png_text,
    read_page,
    recorded_sections,
)

# A figure at least this many pixels wide (several panels, at save_figure's 130 dpi) takes a whole row.
WIDE_FIGURE = 1000
SCREEN_SCALE = 96 / 130


@dataclass
class ClaimLinks:
    """Where a claim is shown: the cell that records it, its section of the notebook page, its figures."""

    cell: PageCell | None = None
    count: int | None = None  # the cell's execution count (In [n])
    section: Section | None = None
    figures: list[Path] = field(default_factory=list)
    note: str = ""  # what could not be linked as declared (for the developer; never shown on a page)


def claim_links(run: NotebookRun) -> dict[str, ClaimLinks]:
    """For each claim of a run, its cell, section and figures (see the module docstring for the rules)."""
    page = read_page(run.html) if run.html is not None and run.html.is_file() else None
    sections, cells = (page.sections, page.cells) if page is not None else ([], {})
    by_anchor = {s.anchor: s for s in sections}
    available = {png.stem: png for png in run.figures}
    saved_by = {stem: figure_cell(png) for stem, png in available.items()}
    legacy = _legacy(run) if any(c.get("cell") is None for c in run.claims) else ({}, {})
    links = {}
    for claim in run.claims:
        found, notes = ClaimLinks(count=claim.get("cell")), []
        found.cell = cells.get(found.count) if found.count is not None else None
        if found.count is not None and found.cell is None and page is not None:
            notes.append(f"its cell In [{found.count}] is not on the page")
        declared = claim.get("section") or ""
        if declared:
            found.section = find_section(sections, declared)
            if found.section is None and page is not None:
                notes.append(f"section {declared!r} is not a heading of the notebook")
        if found.section is None and found.cell is not None:
            found.section = by_anchor.get(found.cell.section)
        if found.section is None and found.count is None:
            heading = next((h for pattern, h in legacy[0].items() if re.fullmatch(pattern, claim["id"])), "")
            found.section = find_section(sections, heading) if heading else None
        if found.section is None and sections:
            notes.append("no section: neither a heading above its cell nor a section= that names one")
        if claim.get("figure"):
            if claim["figure"] in available:
                found.figures = [available[claim["figure"]]]
            else:
                notes.append(f"figure {claim['figure']!r} was not saved by this run")
        elif found.count is not None:
            found.figures = [png for stem, png in available.items() if saved_by[stem] == found.count]
            if not found.figures and found.section is not None:
                found.figures = [
                    png
                    for stem, png in available.items()
                    if saved_by[stem] in cells and cells[saved_by[stem]].section == found.section.anchor
                ]
        elif found.section is not None:
            heading = next((h for h in legacy[1] if find_section([found.section], h) is not None), None)
            patterns = legacy[1].get(heading, []) if heading is not None else []
            found.figures = [png for stem, png in available.items() if any(re.fullmatch(p, stem) for p in patterns)]
        found.note = "; ".join(notes)
        links[claim["id"]] = found
    return links


def _legacy(run: NotebookRun) -> tuple[dict[str, str], dict[str, list[str]]]:
    """:func:`recorded_sections` of the run's notebook; nothing for a notebook that cannot be read."""
    if not run.executed.is_file():
        return {}, {}
    try:
        return recorded_sections(run.executed)
    except Exception:  # an unreadable notebook still gets its claims table, without these links
        return {}, {}


def figure_caption(png: Path) -> str:
    """The title saved with a figure (PNG or SVG metadata), else its name without the notebook prefix."""
    title = png_text(png).get("Title", "")  # not a readable PNG: the SVG or the name still serve
    svg = png.with_suffix(".svg")
    if not title and svg.is_file():
        found = re.search(r"<dc:title>(.*?)</dc:title>", svg.read_text(encoding="utf-8", errors="replace"), re.DOTALL)
        title = html.unescape(found.group(1)) if found else ""
    if title:
        return title
    notebook = png.parent.parent.name
    name = png.stem[len(notebook) + 1 :] if png.stem.startswith(notebook + "_") else png.stem
    return name.replace("_", " ")


def image_size(png: Path) -> tuple[int, int]:
    """(width, height) of an image in pixels; (0, 0) when it cannot be read."""
    try:
        from PIL import Image

        with Image.open(png) as image:
            return image.size
    except Exception:  # an unreadable image is still linked; the browser test finds it broken
        return 0, 0


def alt_text(caption: str) -> str:
    """A caption without TeX markup, for ``alt`` and tooltips."""
    return tex_to_text(caption)
