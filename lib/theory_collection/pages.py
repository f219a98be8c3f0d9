"""Notebook pages of a report: HTML that reads offline, anywhere the report folder is moved, on a desktop and
on a phone.

Each executed notebook ``<out>/<paper>/NN_name/NN_name.ipynb`` becomes ``NN_name.html`` beside it,
written with the ``report_page`` template (the JupyterLab template with nothing loaded from the
network) and cleaned up for a reader:

- maths is typeset by the MathJax that the ``jupyter_server_mathjax`` package ships, copied once
  into ``<out>/_static/mathjax/`` and linked relatively; a formula keeps its line (a wide one scrolls
  inside its own box, never the page);
- progress bars, widget state and widget views without a static fallback are left out
  (:mod:`theory_collection.notebook_outputs`);
- absolute paths of the build machine (the report folder, the repository, the home folder) are
  shown relative to the report (``output_dir = "topic_structure/01_x"``) or to the repository;
- headings get GitHub-style anchors (``## 6 · Value first`` -> ``#6--value-first``), the same
  anchors that ``THEORY.md#...`` links use, and every executed code cell the anchor of its execution
  count (``#cell-12`` for ``In [12]``) with the anchor of its section (:mod:`theory_collection.sections`);
  the paper's ``THEORY.md`` is rendered to ``<out>/<paper>/THEORY.html`` and links to it are
  rewritten; links to ``.ipynb`` files download;
- a bar at the top links back to the index, the notebook file and the theory notes, and shows or hides
  the code; a tap on a figure opens it at full size.

The styles and scripts the pages share with the index live in ``templates/assets/``.
"""

from __future__ import annotations

import html
import os
import re
import shutil
import sys
from pathlib import Path
from urllib.parse import quote, unquote, urlparse

import nbformat

from theory_collection.notebook_outputs import (
    clean_outputs,
    injected_output_dir,
    mark_injected_cell,
    path_replacements,
    relativize_paths,
)
from theory_collection.sections import CELL_ANCHOR, notebook_title, slug

TEMPLATE_DIR = Path(__file__).parent / "templates"
ASSETS = TEMPLATE_DIR / "assets"
STATIC = "_static"
MATHJAX_CONFIG = "TeX-AMS-MML_HTMLorMML-full"


def asset(*names: str) -> str:
    """The text of shared style sheets or scripts (``templates/assets/<name>``), one after the other."""
    return "\n".join((ASSETS / name).read_text(encoding="utf-8") for name in names)


# ---------------------------------------------------------------------------------------------
# Static assets: MathJax


def mathjax_source() -> Path:
    """The folder of the MathJax 2.7 distribution that the ``jupyter_server_mathjax`` package ships."""
    import jupyter_server_mathjax

    return Path(jupyter_server_mathjax.__file__).parent / "static"


def install_assets(root: str | Path) -> Path:
    """Copy MathJax into ``<root>/_static/mathjax`` unless it is there; return that folder."""
    target = Path(root) / STATIC / "mathjax"
    if not (target / "MathJax.js").is_file():
        shutil.rmtree(target, ignore_errors=True)
        shutil.copytree(mathjax_source(), target)
    return target


def mathjax_head(page_dir: str | Path, root: str | Path) -> str:
    """The ``<script>`` tags that load the report's MathJax from a page in ``page_dir`` (relative URL)."""
    url = relative_url(Path(root) / STATIC / "mathjax" / "MathJax.js", page_dir) + f"?config={MATHJAX_CONFIG}"
    # Only the STIX-Web fonts ship with the package: use them, never look for local or image fonts,
    # and point the @font-face rules of fonts that are not there (MathJax's TeX fonts for native
    # MathML, a test font at about:blank that file:// pages may not load) at nothing. A formula is
    # never broken over lines (in a narrow table cell that made three lines of one update rule): a wide
    # display scrolls in its own box (assets/page.css, index.css).
    native_fonts = (
        "{" + ", ".join(f'"@font-face /*{k}*/": {{src: "local(\'MathJax_None\')"}}' for k in range(1, 7)) + "}"
    )
    return f"""<script type="text/x-mathjax-config">
MathJax.Hub.Config({{
  tex2jax: {{inlineMath: [["$", "$"], ["\\\\(", "\\\\)"]], displayMath: [["$$", "$$"], ["\\\\[", "\\\\]"]],
            processEscapes: true, processEnvironments: true}},
  TeX: {{equationNumbers: {{autoNumber: "AMS", useLabelIds: true}}}},
  "HTML-CSS": {{availableFonts: [], preferredFont: null, webFont: "STIX-Web", imageFont: null,
               linebreaks: {{automatic: false}},
               styles: {{"@font-face": {{"font-family": "MathJax_Blank", src: "local('MathJax_Blank')"}}}}}},
  NativeMML: {{styles: {native_fonts}}},
  displayAlign: "center",
  messageStyle: "none",
  showMathMenu: false,
  menuSettings: {{zoom: "None"}}
}});
</script>
<script src="{html.escape(url)}"></script>"""


# ---------------------------------------------------------------------------------------------
# Exporting


def export_page(notebook: str | Path, root: str | Path | None = None) -> Path:
    """Write the executed ``notebook`` as ``<stem>.html`` beside it, for a report rooted at ``root``.

    ``root`` defaults to the report folder of the layout ``<root>/<paper>/<stem>/<stem>.ipynb`` (a
    staging folder with the same layout will do: every link is relative). The shared files the
    page links, ``<root>/_static/mathjax`` and ``<root>/<paper>/THEORY.html``, are written with the
    summaries (:func:`install_assets`, :func:`write_theory_page`). Returns the page's path.
    """
    from nbconvert import HTMLExporter

    notebook = Path(notebook).resolve()
    root = Path(root).resolve() if root is not None else notebook.parents[2]
    page_dir = notebook.parent
    nb = nbformat.read(notebook, as_version=4)
    title = notebook_title(nb, notebook.stem)
    nb.metadata["title"] = title
    clean_outputs(nb)
    relativize_paths(nb, path_replacements(page_dir, root, injected_output_dir(nb)))
    mark_injected_cell(nb)
    counts = {cell.get("id"): cell.get("execution_count") for cell in nb.cells if cell.cell_type == "code"}

    source = source_folder(nb)
    theory = page_dir.parent / "THEORY.html" if source is not None and (source / "THEORY.md").is_file() else None
    nav = [f'<a href="{relative_url(root / "index.html", page_dir)}">&larr; report index</a>']
    if theory is not None:
        nav.append(f'<a href="{relative_url(theory, page_dir)}">theory notes</a>')
    nav.append(f'<a href="{quote(notebook.name)}" download>download the notebook (.ipynb)</a>')
    nav.append('<button type="button" class="code-toggle" aria-pressed="false">hide code</button>')
    exporter = HTMLExporter(template_name="report_page", extra_template_basedirs=[str(TEMPLATE_DIR)])
    resources = {
        "report_mathjax": mathjax_head(page_dir, root),
        "report_css": asset("page.css", "zoom.css"),
        "report_script": asset("zoom.js", "maths.js", "page.js"),
        "report_dark_css": _lab_css("theme-dark.css"),
        "report_nav": " · ".join(nav),
        "metadata": {"name": title},
    }
    body, _ = exporter.from_notebook_node(nb, resources=resources)
    body = fix_page(body, theory_href=relative_url(theory, page_dir) if theory is not None else None, counts=counts)
    target = notebook.with_suffix(".html")
    target.write_text(body, encoding="utf-8")
    return target


def fix_page(body: str, theory_href: str | None, counts: dict | None = None) -> str:
    """Give headings GitHub-style anchors and code cells the anchor of their execution count (``counts``: cell id
    -> execution count; else read from the ``In [n]`` prompt), and point ``THEORY.md`` and ``.ipynb`` links where
    they resolve."""
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(body, "html.parser")
    _anchor_headings(soup)
    _anchor_cells(soup, counts or {})
    for link in soup.find_all("a", href=True):
        target = urlparse(link["href"])
        if target.scheme or target.netloc or link["href"].startswith("#"):
            continue
        name = Path(unquote(target.path)).name
        if name == "THEORY.md" and theory_href is not None:
            link["href"] = theory_href + (f"#{target.fragment}" if target.fragment else "")
        elif name.endswith(".ipynb"):
            link["download"] = ""
    return str(soup)


def _anchor_headings(soup) -> None:
    seen: dict[str, int] = {}
    for heading in soup.find_all(re.compile(r"^h[1-6]$")):
        for old in heading.find_all("a", class_="anchor-link"):
            old.decompose()
        text = heading.get_text(" ", strip=True)
        anchor = slug(text) or "section"
        if anchor in seen:
            seen[anchor] += 1
            anchor = f"{anchor}-{seen[anchor]}"
        else:
            seen[anchor] = 0
        heading["id"] = anchor
        link = soup.new_tag("a", attrs={"class": "anchor-link", "href": f"#{anchor}"})
        link.string = "¶"
        heading.append(link)


def _is_code_cell(tag) -> bool:
    return tag.name == "div" and "jp-CodeCell" in (tag.get("class") or [])


def _anchor_cells(soup, counts: dict) -> None:
    """Each executed code cell: ``id="cell-<n>"`` and ``data-section`` (the anchor of the heading above it)."""
    section = ""
    for tag in soup.find_all(lambda t: re.fullmatch(r"h[1-6]", t.name) is not None or _is_code_cell(t)):
        if tag.name != "div":
            section = tag.get("id", section)
            continue
        count = counts.get(str(tag.get("id", "")).removeprefix("cell-id="))
        if count is None:
            prompt = tag.find("div", class_="jp-InputPrompt")
            found = re.search(r"\[(\d+)\]", prompt.get_text() if prompt else "")
            count = int(found.group(1)) if found else None
        if count is not None:
            tag["id"] = CELL_ANCHOR.format(count)
            tag["data-section"] = section


_LINK = re.compile(r"<a\s([^>]*?)href=\"([^\"]*)\"([^>]*)>(.*?)</a>", re.DOTALL)


def relink(page: str | Path) -> int:
    """Point a page's links to notebooks at their pages in the report, and unlink what is not there.

    Run once the report's folders are in place (:func:`theory_collection.report.write_summaries`):
    a link to ``NN_name.ipynb`` (from the theory notes, or from one notebook to another) becomes a
    link to ``<paper>/NN_name/NN_name.html`` when that notebook is in the report; a relative link
    whose target is not in the report becomes plain text. Returns how many links changed.
    """
    page = Path(page)
    paper_dir = page.parent if page.name == "THEORY.html" else page.parent.parent
    changed = 0

    def fix(match: re.Match) -> str:
        nonlocal changed
        before, href, after, text = match.groups()
        target = urlparse(html.unescape(href))
        if target.scheme or target.netloc or not target.path or href.startswith("/"):
            return match.group(0)
        path = Path(unquote(target.path))
        if (page.parent / path).is_file():
            return match.group(0)
        changed += 1
        if path.suffix == ".ipynb":
            notebook_page = paper_dir / path.stem / f"{path.stem}.html"
            if notebook_page.is_file():
                fragment = f"#{target.fragment}" if target.fragment else ""
                return f'<a {before}href="{relative_url(notebook_page, page.parent)}{fragment}"{after}>{text}</a>'
        return f'<span class="unlinked" title="not in this report">{text}</span>'

    body = _LINK.sub(fix, page.read_text(encoding="utf-8"))
    if changed:
        page.write_text(body, encoding="utf-8")
    return changed


def write_theory_page(source: Path | None, paper_dir: Path, root: Path) -> Path | None:
    """Render ``<source>/THEORY.md`` to ``<paper_dir>/THEORY.html`` (maths, heading anchors); None if absent."""
    if source is None or not (source / "THEORY.md").is_file():
        return None
    from bs4 import BeautifulSoup
    from nbconvert.filters.markdown_mistune import markdown2html_mistune

    text = (source / "THEORY.md").read_text(encoding="utf-8")
    target = paper_dir / "THEORY.html"
    title = notebook_title(nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell(text)]), "Theory notes")
    index = relative_url(root / "index.html", paper_dir)
    page = standalone_page(
        title,
        asset("page.css", "zoom.css"),
        mathjax_head(paper_dir, root),
        markdown2html_mistune(text),
        asset("zoom.js", "maths.js"),
        before=f'<nav class="report-nav"><a href="{index}">&larr; report index</a></nav>',
        body_class="theory",
    )
    soup = BeautifulSoup(page, "html.parser")
    _anchor_headings(soup)
    paper_dir.mkdir(parents=True, exist_ok=True)
    target.write_text(str(soup), encoding="utf-8")
    return target


def source_folder(nb: nbformat.NotebookNode) -> Path | None:
    """The folder of the notebook papermill executed (from its metadata), or None."""
    source = nb.metadata.get("papermill", {}).get("input_path")
    return Path(source).resolve().parent if source else None


def _lab_css(name: str) -> str:
    import nbconvert

    for base in (Path(nbconvert.__file__).parents[4] / "share", Path(sys.prefix) / "share"):
        path = base / "jupyter" / "nbconvert" / "templates" / "lab" / "static" / name
        if path.is_file():
            return path.read_text(encoding="utf-8")
    return ""


def relative_url(target: str | Path, start: str | Path) -> str:
    """The URL of ``target`` relative to the folder ``start`` (quoted; ``../x/a%20b.html``)."""
    return quote(Path(os.path.relpath(Path(target).resolve(), Path(start).resolve())).as_posix())


def standalone_page(
    title: str, css: str, mathjax: str, body: str, script: str, before: str = "", after: str = "", body_class: str = ""
) -> str:
    """A complete HTML page of the report (the index, the theory notes): ``before`` and ``after`` go around
    ``<main>``; ``title`` is escaped, the rest is HTML."""
    classes = f' class="{body_class}"' if body_class else ""
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{html.escape(title)}</title>
<style>{css}</style>
{mathjax}
</head>
<body{classes}>
{before}
<main>
{body}
</main>
{after}
<script>{script}</script>
</body>
</html>
"""
