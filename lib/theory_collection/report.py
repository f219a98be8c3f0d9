"""Writing a report's summaries: ``index.html`` (open it in a browser) and ``summary.md``.

Both are written over the notebook folders that :mod:`theory_collection.runner` filled, and link
into them with relative paths, so the report folder can be zipped, moved and read offline::

    <out>/index.html          the headline, the claims of every notebook, figures, links
    <out>/summary.md          the same headline and claims tables in Markdown
    <out>/runs.json           what ran: profile, and each notebook's date, commit, time and status (read back
                              by :func:`theory_collection.runs.load_report`; ``compare`` sets two side by side)
    <out>/_static/mathjax/    MathJax, shared by every page (see pages)
    <out>/<paper>/THEORY.html the paper's theory notes
    <out>/<paper>/NN_name/    one notebook's run (see runner) and its page NN_name.html

Both open with what a reader came for (:mod:`theory_collection.verdicts`): first the statements of a paper
(or of its public code) that the data contradict under the paper's own conditions, then the failures of the
collection's formalisations and extensions, each with what holds beside it in the same runs; then the
headline per paper (:func:`theory_collection.verdicts.headline`), the counts by kind and verdict, the
problems, and each notebook with its time. The pages are rendered by :mod:`theory_collection.index_page`
(each notebook collapsed under its headline line, each claim linked to the cell that records it, its
section and its figures: :mod:`theory_collection.claim_links`) and :mod:`theory_collection.summary_page`.
"""

from __future__ import annotations

import sys
from pathlib import Path

import nbformat

from theory_collection import pages
from theory_collection.claim_links import claim_links
from theory_collection.claims import write_atomic
from theory_collection.index_page import index_html
from theory_collection.notebook_outputs import clean_file
from theory_collection.runs import BuildInfo, NotebookRun, write_runs
from theory_collection.summary_page import summary_markdown


def export_html(notebook: str | Path) -> Path:
    """Save the executed ``notebook`` without its progress bars and widget state, and write it as an offline
    HTML page next to it; return the page's path (see :mod:`pages`, :mod:`notebook_outputs`)."""
    clean_file(notebook)
    return pages.export_page(notebook)


# ---------------------------------------------------------------------------------------------
# Writing


def write_summaries(
    runs: list[NotebookRun], profile: str, out: str | Path, overrides: dict | None = None
) -> tuple[Path, Path]:
    """Write ``summary.md`` and ``index.html`` into ``out``, with what the pages share (MathJax, each
    paper's ``THEORY.html``); return both paths. ``overrides`` default to those the notebooks received.
    A claim whose declared section or figure the report cannot find is named on stderr (the page links it
    to its cell's section instead)."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    pages.install_assets(out)
    theory = write_theory_pages(runs, out)
    info = BuildInfo.now(profile, overrides_of(runs) if overrides is None else overrides)
    markdown = out / "summary.md"
    write_atomic(markdown, summary_markdown(runs, profile, root=out, info=info))
    index = out / "index.html"
    write_atomic(index, index_html(runs, profile, out, info=info))
    write_runs(runs, info, out)
    for page in [*theory, *(r.html for r in runs if r.html is not None and r.html.is_file())]:
        pages.relink(page)  # now that every page they may link is in place
    for run in runs:
        for claim_id, links in claim_links(run).items():
            if links.note:
                print(f"report: {claim_id} ({run.paper}/{run.notebook}): {links.note}", file=sys.stderr)
    return markdown, index


def write_theory_pages(runs: list[NotebookRun], out: Path) -> list[Path]:
    """Render each paper's ``THEORY.md`` (found next to the notebooks that ran) into ``<out>/<paper>/THEORY.html``."""
    written = {}
    for run in runs:
        if run.paper in written or not run.executed.is_file():
            continue
        source = pages.source_folder(nbformat.read(run.executed, as_version=4))
        written[run.paper] = pages.write_theory_page(source, out / run.paper, out)
    return [path for path in written.values() if path is not None]


def overrides_of(runs: list[NotebookRun]) -> dict:
    """The parameters the notebooks received besides the runner's own (from papermill's record)."""
    found = {}
    for run in runs:
        if run.executed.is_file():
            given = nbformat.read(run.executed, as_version=4).metadata.get("papermill", {}).get("parameters", {})
            found.update({k: v for k, v in given.items() if k not in ("profile", "output_dir")})
    return found
