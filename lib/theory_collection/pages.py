"""Notebook pages of a report: HTML that reads offline, anywhere the report folder is moved.

Each executed notebook ``<out>/<paper>/NN_name/NN_name.ipynb`` becomes ``NN_name.html`` beside it,
written with the ``report_page`` template (the JupyterLab template with nothing loaded from the
network) and cleaned up for a reader:

- maths is typeset by the MathJax that the ``jupyter_server_mathjax`` package ships, copied once
  into ``<out>/_static/mathjax/`` and linked relatively;
- progress bars (tqdm's stderr) are reduced to their final lines and shown as plain text;
- absolute paths of the build machine (the report folder, the repository, the home folder) are
  shown relative to the report (``output_dir = "topic_structure/01_x"``) or to the repository;
- headings get GitHub-style anchors (``## 6 · Value first`` -> ``#6--value-first``), the same
  anchors that ``THEORY.md#...`` links use; the paper's ``THEORY.md`` is rendered to
  ``<out>/<paper>/THEORY.html`` and links to it are rewritten; links to ``.ipynb`` files download;
- a bar at the top links back to the index, the notebook file and the theory notes.

The section of a claim is found here too (:func:`sections_of_page`, :func:`recorded_sections`):
the heading that a claim's ``section`` names, else the heading above the cell that records it.
"""

from __future__ import annotations

import html
import os
import re
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote, unquote, urlparse

import nbformat

from theory_collection.papers import REPO_ROOT

TEMPLATE_DIR = Path(__file__).parent / "templates"
STATIC = "_static"
MATHJAX_CONFIG = "TeX-AMS-MML_HTMLorMML-full"

# tqdm's bar: "name:  41%|████      | 299/730 [00:01<00:01, 297.37it/s]"
_PROGRESS = re.compile(r"\d+%\|.*\|\s*\d+/\d+|\d+/\d+ \[\d")
_HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")


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
    url = _relative_url(Path(root) / STATIC / "mathjax" / "MathJax.js", page_dir) + f"?config={MATHJAX_CONFIG}"
    # Only the STIX-Web fonts ship with the package: use them, never look for local or image fonts,
    # and point the @font-face rules of fonts that are not there (MathJax's TeX fonts for native
    # MathML, a test font at about:blank that file:// pages may not load) at nothing.
    native_fonts = (
        "{" + ", ".join(f'"@font-face /*{k}*/": {{src: "local(\'MathJax_None\')"}}' for k in range(1, 7)) + "}"
    )
    return f"""<script type="text/x-mathjax-config">
MathJax.Hub.Config({{
  tex2jax: {{inlineMath: [["$", "$"], ["\\\\(", "\\\\)"]], displayMath: [["$$", "$$"], ["\\\\[", "\\\\]"]],
            processEscapes: true, processEnvironments: true}},
  TeX: {{equationNumbers: {{autoNumber: "AMS", useLabelIds: true}}}},
  "HTML-CSS": {{availableFonts: [], preferredFont: null, webFont: "STIX-Web", imageFont: null,
               linebreaks: {{automatic: true}},
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
# Cleaning a notebook for reading


def progress_to_text(nb: nbformat.NotebookNode) -> int:
    """Replace each cell's progress-bar stderr by the final line of each bar, as plain output; return how many.

    Consecutive stream outputs of one kind are merged first; carriage returns are applied as a
    terminal would (what follows the last ``\\r`` of a line is what the reader saw). A stderr
    output that holds anything besides progress bars (a warning) stays stderr; one with nothing
    left on the screen (bars that cleared themselves) is dropped.
    """
    changed = 0
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        merged = []
        for output in cell.get("outputs", []):
            if (
                output.output_type == "stream"
                and merged
                and merged[-1].output_type == "stream"
                and merged[-1].name == output.name
            ):
                merged[-1].text += output.text
            else:
                merged.append(output)
        kept = []
        for output in merged:
            if output.output_type == "stream" and output.name == "stderr":
                lines = [line.rsplit("\r", 1)[-1].rstrip() for line in output.text.replace("\r\n", "\n").split("\n")]
                lines = [line for line in lines if line.strip()]
                if not lines:  # bars that cleared themselves (leave=False): nothing was left on the screen
                    changed += 1
                    continue
                if all(_PROGRESS.search(line) for line in lines):
                    output.name = "stdout"
                    output.text = "\n".join(lines) + "\n"
                    changed += 1
            kept.append(output)
        merged = kept
        cell.outputs = merged
    return changed


def relativize_paths(nb: nbformat.NotebookNode, replacements: list[tuple[str, str]]) -> None:
    """Replace each absolute path in ``replacements`` (longest first) in every source and text output."""
    pairs = sorted(((old, new) for old, new in replacements if old), key=lambda pair: -len(pair[0]))

    def fix(text):
        if isinstance(text, list):
            return [fix(item) for item in text]
        if not isinstance(text, str):
            return text
        for old, new in pairs:
            text = text.replace(old, new)
        return text

    for cell in nb.cells:
        cell.source = fix(cell.source)
        for output in cell.get("outputs", []):
            if "text" in output:
                output.text = fix(output.text)
            for mime in ("text/plain", "text/html", "text/markdown", "text/latex"):
                if mime in output.get("data", {}):
                    output.data[mime] = fix(output.data[mime])
            if output.output_type == "error":
                output.evalue = fix(output.evalue)
                output.traceback = fix(output.traceback)


def path_replacements(output_dir: Path, root: Path, injected: str | None) -> list[tuple[str, str]]:
    """(absolute, shown) pairs: the notebook's output folder and the report relative to the report,
    the repository relative to itself, the home folder as ``~``."""
    relative = output_dir.resolve().relative_to(root.resolve()).as_posix()
    pairs = [
        (str(output_dir.resolve()), relative),
        (str(root.resolve()) + os.sep, ""),
        (str(root.resolve()), "."),
        (str(REPO_ROOT) + os.sep, ""),
        (str(Path.home()), "~"),
    ]
    if injected and os.path.isabs(injected):  # the folder papermill was given (a staging folder, say)
        pairs.insert(0, (injected, relative))
    if root.name.startswith("."):  # a staging folder inside the report
        pairs += [(str(root.resolve().parent) + os.sep, ""), (str(root.resolve().parent), ".")]
    return [(old, new) for old, new in pairs if len(old) > 1]


def injected_output_dir(nb: nbformat.NotebookNode) -> str | None:
    """The ``output_dir`` value papermill injected, or None."""
    for cell in nb.cells:
        if "injected-parameters" in cell.get("metadata", {}).get("tags", []):
            found = re.search(r"""^output_dir\s*=\s*(["'])(.*)\1""", cell.source, re.MULTILINE)
            if found:
                return found.group(2)
    return None


def mark_injected_cell(nb: nbformat.NotebookNode) -> None:
    """Say in the injected parameters cell that its paths are relative to the report folder."""
    for cell in nb.cells:
        if "injected-parameters" in cell.get("metadata", {}).get("tags", []):
            cell.source = cell.source.replace("# Parameters", "# Parameters (paths relative to the report folder)", 1)


def notebook_title(nb: nbformat.NotebookNode, fallback: str) -> str:
    """The text of the notebook's first heading, without Markdown markup; ``fallback`` when it has none."""
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            for line in cell.source.splitlines():
                found = _HEADING.match(line)
                if found:
                    return plain_text(found.group(2))
    return fallback


def plain_text(markdown: str) -> str:
    """Markdown inline text without its markup (links keep their text, code its content)."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", markdown)
    return re.sub(r"[*_`]", "", text).strip()


def slug(text: str) -> str:
    """A heading's anchor as GitHub writes it: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"[^\w\- ]", "", text.strip().lower())
    return text.replace(" ", "-")


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
    progress_to_text(nb)
    relativize_paths(nb, path_replacements(page_dir, root, injected_output_dir(nb)))
    mark_injected_cell(nb)

    source = source_folder(nb)
    theory = page_dir.parent / "THEORY.html" if source is not None and (source / "THEORY.md").is_file() else None
    nav = [f'<a href="{_relative_url(root / "index.html", page_dir)}">&larr; report index</a>']
    if theory is not None:
        nav.append(f'<a href="{_relative_url(theory, page_dir)}">theory notes</a>')
    nav.append(f'<a href="{quote(notebook.name)}" download>download the notebook (.ipynb)</a>')
    exporter = HTMLExporter(template_name="report_page", extra_template_basedirs=[str(TEMPLATE_DIR)])
    resources = {
        "report_mathjax": mathjax_head(page_dir, root),
        "report_css": PAGE_CSS,
        "report_dark_css": _lab_css("theme-dark.css"),
        "report_nav": " · ".join(nav),
        "metadata": {"name": title},
    }
    body, _ = exporter.from_notebook_node(nb, resources=resources)
    body = fix_page(body, theory_href=_relative_url(theory, page_dir) if theory is not None else None)
    target = notebook.with_suffix(".html")
    target.write_text(body, encoding="utf-8")
    return target


def fix_page(body: str, theory_href: str | None) -> str:
    """Give headings GitHub-style anchors and point ``THEORY.md`` and ``.ipynb`` links where they resolve."""
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(body, "html.parser")
    _anchor_headings(soup)
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
                return f'<a {before}href="{_relative_url(notebook_page, page.parent)}{fragment}"{after}>{text}</a>'
        return f'<span class="unlinked" title="not in this report">{text}</span>'

    body = _LINK.sub(fix, page.read_text(encoding="utf-8"))
    if changed:
        page.write_text(body, encoding="utf-8")
    return changed


def write_theory_page(source: Path | None, paper_dir: Path, root: Path) -> Path | None:
    """Render ``<source>/THEORY.md`` to ``<paper_dir>/THEORY.html`` (maths, heading anchors); None if absent."""
    if source is None or not (source / "THEORY.md").is_file():
        return None
    from nbconvert.filters.markdown_mistune import markdown2html_mistune

    text = (source / "THEORY.md").read_text(encoding="utf-8")
    body = markdown2html_mistune(text)
    target = paper_dir / "THEORY.html"
    title = notebook_title(nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell(text)]), "Theory notes")
    page = THEORY_PAGE.format(
        title=html.escape(title),
        mathjax=mathjax_head(paper_dir, root),
        css=PAGE_CSS,
        index=_relative_url(root / "index.html", paper_dir),
        body=body,
    )
    from bs4 import BeautifulSoup

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


def _relative_url(target: str | Path, start: str | Path) -> str:
    return quote(Path(os.path.relpath(Path(target).resolve(), Path(start).resolve())).as_posix())


# ---------------------------------------------------------------------------------------------
# Where a claim is derived: the sections of a page and of a notebook


@dataclass(frozen=True)
class Section:
    """A heading of a notebook page: its anchor and its text."""

    anchor: str
    text: str


def sections_of_page(page: str | Path) -> list[Section]:
    """The headings of an exported page, in order, with their anchors."""
    from html.parser import HTMLParser

    class Headings(HTMLParser):
        def __init__(self):
            super().__init__()
            self.found: list[Section] = []
            self._current: tuple[str, list[str]] | None = None
            self._skip = 0

        def handle_starttag(self, tag, attrs):
            attrs = dict(attrs)
            if re.fullmatch(r"h[1-6]", tag) and attrs.get("id"):
                self._current = (attrs["id"], [])
            elif self._current is not None and tag == "a" and "anchor-link" in (attrs.get("class") or ""):
                self._skip += 1

        def handle_endtag(self, tag):
            if self._current is not None and re.fullmatch(r"h[1-6]", tag):
                self.found.append(Section(self._current[0], " ".join("".join(self._current[1]).split())))
                self._current = None
            elif tag == "a" and self._skip:
                self._skip -= 1

        def handle_data(self, data):
            if self._current is not None and not self._skip:
                self._current[1].append(data)

    parser = Headings()
    parser.feed(Path(page).read_text(encoding="utf-8"))
    return parser.found


def find_section(sections: list[Section], heading: str) -> Section | None:
    """The section whose heading text is ``heading`` (markup, case and punctuation ignored), or the
    only one that contains it; None when there is none or several."""
    wanted = _normal(plain_text(heading.lstrip("#")))
    if not wanted:
        return None
    exact = [s for s in sections if _normal(s.text) == wanted]
    if exact:
        return exact[0]
    partial = [s for s in sections if wanted in _normal(s.text)]
    return partial[0] if len(partial) == 1 else None


def recorded_sections(notebook: str | Path) -> tuple[dict[str, str], dict[str, list[str]]]:
    """For a notebook: the heading above each literal claim id recorded by ``check``/``observe`` (an
    f-string id becomes a pattern), and the figure names that ``save_figure`` writes under each heading.

    Returns ``({id_pattern: heading}, {heading: [figure name patterns]})``; patterns are regular expressions.
    """
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


def _pattern(literal: str, is_fstring: bool) -> str:
    if not is_fstring:
        return re.escape(literal)
    return "".join(".+" if part.startswith("{") else re.escape(part) for part in re.split(r"(\{[^}]*\})", literal))


def _normal(text: str) -> str:
    return re.sub(r"[\W_]+", "", text.lower())


PAGE_CSS = """
.report-nav { font-family: system-ui, sans-serif; font-size: 0.95rem; padding: 0.5rem 1rem;
  border-bottom: 1px solid var(--jp-border-color2, #ccc); margin-bottom: 1rem; }
.report-nav a { color: var(--jp-content-link-color, #1a5fb4); }
.jp-RenderedImage img, .jp-RenderedMarkdown img { max-width: 100%; height: auto; }
.jp-OutputArea-output pre, .jp-RenderedHTMLCommon table { overflow-x: auto; }
.jp-RenderedHTMLCommon { overflow-x: auto; }
body.theory { font-family: system-ui, sans-serif; max-width: 50rem; margin: 0 auto; padding: 0 1rem 3rem;
  line-height: 1.55; color: #1f2328; background: #fff; }
body.theory table { border-collapse: collapse; display: block; overflow-x: auto; }
body.theory th, body.theory td { border: 1px solid #d0d7de; padding: 0.25rem 0.5rem; }
body.theory pre { overflow-x: auto; background: #f6f8fa; padding: 0.5rem; }
body.theory a.anchor-link { visibility: hidden; margin-left: 0.3em; text-decoration: none; }
body.theory :hover > a.anchor-link { visibility: visible; }
@media (prefers-color-scheme: dark) {
  body.theory { color: #e6edf3; background: #0d1117; }
  body.theory a { color: #58a6ff; }
  body.theory pre { background: #161b22; }
  body.theory th, body.theory td { border-color: #30363d; }
}
"""

THEORY_PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<style>{css}</style>
{mathjax}
</head>
<body class="theory">
<nav class="report-nav"><a href="{index}">&larr; report index</a></nav>
<main>
{body}
</main>
</body>
</html>
"""
