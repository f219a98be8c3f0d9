"""``index.html``: a report as a reader opens it, offline, on a desktop or a phone.

In reading order: the build (papers, date, commit, profile, overrides, time); the statements of the
papers that the data contradict, then the failures of the collection's formalisations and extensions
(their wording is :mod:`theory_collection.report`'s); one headline table per paper; the counts by kind
and verdict; the problems; then every notebook, **collapsed** under one line (its title, status, verdicts
and time; a tap opens its claims table and figures), so the whole index reads in a few screens.

Every claim row links to the cell of the notebook page that records it (``In [n]``), to that
section, and to its figures (:mod:`theory_collection.claim_links`); every tooltip is plain text (TeX
spelled out). A link to a claim or figure inside a collapsed notebook opens it (``assets/index.js``). A
tap on a figure opens it at full size (``assets/zoom.js``). Wide tables wrap their cells to fit the
window and scroll inside their own box on a phone; no page scrolls sideways.
"""

from __future__ import annotations

import html
from pathlib import Path
from urllib.parse import quote

from theory_collection import pages
from theory_collection.claim_links import (
    SCREEN_SCALE,
    WIDE_FIGURE,
    ClaimLinks,
    alt_text,
    claim_links,
    figure_caption,
    image_size,
)
from theory_collection.claims import VERDICTS, verdict_of
from theory_collection.claims_display import breakable
from theory_collection.formatting import full_text, tex_to_text, value_text
from theory_collection.papers import Paper
from theory_collection.runs import BuildInfo, NotebookRun
from theory_collection.sections import figure_cell, sections_of_page
from theory_collection.verdicts import (
    CONTRADICTED_HEADING,
    FORMALISATION_HEADING,
    PROFILE_MEANING,
    Failure,
    attempt_text,
    by_paper,
    contradictions,
    counts_by_kind,
    data_files,
    formalisation_failures,
    paper_headline,
    paper_of_run,
    problems,
    run_text,
    time_text,
    verdict_counts,
)

HEADLINE_CSS = {"confirmed": "good", "contradicted": "bad", "formalisation fails": "open", "inconclusive": "open"}


def index_html(runs: list[NotebookRun], profile: str, root: str | Path, info: BuildInfo | None = None) -> str:
    """A self-contained HTML index of a report; every link is relative to ``root``."""
    root = Path(root)
    info = info or BuildInfo("", "", profile)
    links = {id(run): claim_links(run) for run in runs}
    row_of = {(paper_of_run(r).name, c["id"]): _claim_anchor(r, c["id"]) for r in runs for c in r.claims}

    parts = ["<header><h1>Theory verification report</h1>", _build_html(runs, profile, info, root), "</header>"]
    parts.append(_failures_html(runs, row_of))
    for paper, group in by_paper(runs):
        table = paper_headline(paper, group)
        if table:
            parts.append(_headline_html(paper, table, row_of))
    parts.append(_counts_html(runs))
    parts.append(_problems_html(runs))
    parts.append(
        '<section><h2 id="notebooks">Notebooks</h2><p class="legend">Each notebook under one line: a tap opens '
        'its claims and figures. <button type="button" class="expand-all">open all</button></p>'
    )
    parts += [_notebook_html(run, root, links[id(run)]) for run in runs]
    parts.append("</section>")
    summary = root / "summary.md"
    footer = (
        f'<footer><a href="{_href(summary, root)}">summary.md</a> (the same in Markdown)</footer>'
        if summary.exists()
        else ""
    )
    return pages.standalone_page(
        f"Theory verification report ({profile} profile)",
        pages.asset("index.css", "zoom.css"),
        pages.mathjax_head(root, root),
        "\n".join(parts),
        pages.asset("zoom.js", "maths.js", "index.js"),
        after=footer,
    )


def _failures_html(runs: list[NotebookRun], row_of: dict) -> str:
    def items(found: list[Failure]) -> str:
        return "".join(
            f"<li>{_id_link(row_of, f.paper.name, f.claim['id'])} {_e(f.text().split(' ', 1)[1])}</li>" for f in found
        )

    against, other = contradictions(runs), formalisation_failures(runs)
    first = (
        f'<p class="bad">{len(against)} statement(s) of the papers fail on data under the papers\' own conditions:'
        f"</p><ul>{items(against)}</ul>"
        if against
        else "<p>None: no statement of a paper's abstract, introduction, figures or public code fails under the "
        "paper's own conditions.</p>"
    )
    second = (
        f"<p>{len(other)} claim(s) whose statement is the collection's (a formalisation of a qualitative "
        "statement, its own prediction, another paper's result) or that were tested outside the paper's "
        f"conditions:</p><ul>{items(other)}</ul>"
        if other
        else "<p>None.</p>"
    )
    return (
        f'<section class="callout" aria-label="contradicted"><h2 id="contradicted">{CONTRADICTED_HEADING}</h2>'
        f"{first}</section>"
        f'<section class="callout soft" aria-label="formalisation"><h2 id="formalisation">'
        f"{_e(FORMALISATION_HEADING)}</h2>{second}</section>"
    )


def _build_html(runs, profile, info: BuildInfo, root) -> str:
    rows = []
    for paper, _ in by_paper(runs):
        title = f'<a href="{_e(paper.url)}">{_e(paper.title)}</a>' if paper.url else _e(paper.title)
        notes = root / paper.name / "THEORY.html"
        theory = f' · <a href="{_href(notes, root)}">theory notes</a>' if notes.is_file() else ""
        rows.append(
            f"<dt>Paper</dt><dd><cite>{title}</cite>"
            + (f"<br>{_e(paper.citation)}" if paper.citation else "")
            + f"{theory}</dd>"
        )
    if info.date:
        rows.append(f"<dt>Made</dt><dd>{_e(info.date)}, commit <code>{_e(info.commit)}</code></dd>")
    meaning = f" &mdash; {_e(PROFILE_MEANING[profile])}" if profile in PROFILE_MEANING else ""
    rows.append(f"<dt>Profile</dt><dd><b>{_e(profile)}</b>{meaning}</dd>")
    overrides = ", ".join(f"<code>{_e(k)} = {_e(v)}</code>" for k, v in info.overrides.items()) or "none"
    rows.append(f"<dt>Overrides</dt><dd>{overrides}</dd>")
    rows.append(f"<dt>Time</dt><dd>{_e(time_text(runs))}</dd>")
    return f'<dl class="meta">{"".join(rows)}</dl>'


def _headline_html(paper: Paper, table, row_of) -> str:
    head = "".join(f"<th>{_e(data)}</th>" for data in paper.data_kinds)
    rows = []
    for subject, row in table.items():
        cells = []
        for data in paper.data_kinds:
            cell = row[data]
            ids = ", ".join(_id_link(row_of, paper.name, i) for i in cell["ids"])
            css = HEADLINE_CSS.get(cell["verdict"], "plain")
            cells.append(
                f'<td class="{css}"><span class="verdict">{cell["verdict"]}</span>'
                + (f"<br><small>{ids}</small>" if ids else "")
                + "</td>"
            )
        text = _e(paper.headline_rows_text.get(subject, ""))
        rows.append(f'<tr><th scope="row">{_e(subject)}<br><small>{text}</small></th>{"".join(cells)}</tr>')
    legend = (
        "Each cell: <b>contradicted</b> when a statement of the paper (or of its public code) fails on that data "
        "under the paper's own conditions; else <b>formalisation fails</b> when other evidence fails (the "
        "collection's formalisation of a qualitative statement, its own prediction, another paper's result, or a "
        "test outside the paper's conditions); else <b>inconclusive</b> when any is inconclusive, else "
        "<b>confirmed</b> when all holds; <b>not tested</b> when there is none. The evidence is the paper, "
        "assumption and prediction claims on that data (the theory column: the derivations)."
    )
    return (
        f'<section><h2 id="headline-{_e(paper.name)}">What the data say: {_e(paper.title)}</h2>'
        f'<div class="scroll"><table class="headline"><thead><tr><th>claim or assumption</th>{head}</tr></thead>'
        f'<tbody>{"".join(rows)}</tbody></table></div><p class="legend">{legend}</p></section>'
    )


def _counts_html(runs) -> str:
    counts = counts_by_kind([c for r in runs for c in r.claims])
    if not counts:
        return ""
    head = "".join(f"<th>{v}</th>" for v in VERDICTS)
    rows = "".join(
        f'<tr><th scope="row">{kind}</th>'
        + "".join(f'<td class="{_css(v) if row[v] else ""}">{row[v]}</td>' for v in VERDICTS)
        + "</tr>"
        for kind, row in counts.items()
    )
    return (
        f'<section><h2 id="counts">Claims by kind and verdict</h2><div class="scroll"><table class="counts">'
        f"<thead><tr><th>kind</th>{head}</tr></thead><tbody>{rows}</tbody></table></div></section>"
    )


def _problems_html(runs) -> str:
    issues = problems(runs)
    total = sum(len(r.claims) for r in runs)
    if not issues:
        return f'<p class="good">Every notebook ran; no claim of the {total} fails.</p>'
    items = "".join(f"<li><b>{_e(what)}</b>: {_e(why)}</li>" for what, why in issues)
    heading = '<h2 id="problems">Problems</h2>'
    return f'<section>{heading}<p class="bad">{len(issues)} problem(s):</p><ul>{items}</ul></section>'


def _file_links(run: NotebookRun, root) -> str:
    files = [
        (label, target, download)
        for label, target, download in [
            ("page", run.html, False),
            (".ipynb", run.executed, True),
            ("claims.json", run.output_dir / "claims.json", False),
        ]
        if target is not None and target.exists()
    ]
    files += [(path.name, path, False) for path in data_files(run)]
    return " · ".join(
        f'<a href="{_href(target, root)}"{" download" if download else ""}>{_e(label)}</a>'
        for label, target, download in files
    )


def _verdicts_line(run: NotebookRun) -> str:
    """ "12 claims: 10 holds, 1 FAILS, 1 inconclusive" with each count in its verdict's colour."""
    counts = verdict_counts(run)
    if not run.claims:
        return "no claims"
    shown = [f'<span class="{_css(v)}">{n} {"FAILS" if v == "fails" else v}</span>' for v, n in counts.items() if n]
    return f"{len(run.claims)} claims: " + ", ".join(shown)


def _notebook_html(run: NotebookRun, root: Path, links: dict[str, ClaimLinks]) -> str:
    title = run.notebook
    if run.html is not None and run.html.is_file():
        sections = sections_of_page(run.html)
        title = sections[0].text if sections else title
    body = [
        f'<section class="notebook" id="{_e(_notebook_anchor(run))}"><details><summary>'
        f'<h3>{_e(title)}</h3><span class="line"><span class="{_css(run.status)}">{_e(run.status)}</span> · '
        f"{_verdicts_line(run)} · {run.seconds:.1f} s"
        + ('<span class="bad"> · a newer attempt failed</span>' if run.attempt is not None else "")
        + "</span></summary>",
        f'<p class="files">{_e(run_text(run))} · {_file_links(run, root)}</p>',
    ]
    if run.error:
        body.append(f'<pre class="bad">{_e(run.error)}</pre>')
    if run.attempt is not None:
        notebook = run.attempt.executed
        link = f' · <a href="{_href(notebook, root)}" download>its notebook</a>' if notebook.is_file() else ""
        body.append(f'<p class="bad">A newer attempt failed{link}:</p><pre class="bad">{_e(attempt_text(run))}</pre>')
    if run.claims:
        body.append(
            '<div class="scroll"><table class="claims"><thead><tr><th>claim</th><th>statement</th>'
            "<th>theory</th><th>measured</th><th>tolerance / criterion</th><th>verdict</th>"
            "</tr></thead><tbody>"
        )
        body += [_claim_row(run, c, links.get(c["id"], ClaimLinks()), root) for c in run.claims]
        body.append("</tbody></table></div>")
    if run.figures:
        body.append('<div class="figures">')
        body += [_figure_html(run, png, root) for png in run.figures]
        body.append("</div>")
    body.append("</details></section>")
    return "\n".join(body)


def _figure_html(run: NotebookRun, png: Path, root: Path) -> str:
    caption = figure_caption(png)
    svg = png.with_suffix(".svg")
    extra = f' · <a href="{_href(svg, root)}">SVG</a>' if svg.exists() else ""
    count = figure_cell(png)
    if count is not None and run.html is not None:
        extra += f' · saved by <a href="{_href(run.html, root)}#cell-{count}">In [{count}]</a>'
    width, height = image_size(png)
    wide = ' class="wide"' if width >= WIDE_FIGURE else ""
    # shown at the figure's physical size (save_figure's 130 dpi on a 96 px-per-inch screen)
    size = f' width="{round(width * SCREEN_SCALE)}" height="{round(height * SCREEN_SCALE)}"' if width else ""
    return (
        f'<figure id="{_e(_figure_anchor(run, png))}"{wide}><a class="zoom" href="{_href(png, root)}">'
        f'<img src="{_href(png, root)}" alt="{_e(alt_text(caption))}"{size}></a>'
        f"<figcaption>{_e(caption)} <small>({_e(png.stem)}.png{extra})</small></figcaption></figure>"
    )


def _claim_row(run: NotebookRun, c: dict, links: ClaimLinks, root: Path) -> str:
    verdict = verdict_of(c)
    to = []
    page = _href(run.html, root) if run.html is not None else None
    where = f"under “{tex_to_text(links.section.text)}”" if links.section is not None else ""
    if page is not None and links.cell is not None:
        to.append(
            f'<a href="{page}#{_e(links.cell.anchor)}" title="{_e(f"the cell that records it {where}".strip())}">'
            f"In&nbsp;[{links.count}]</a>"
        )
    if page is not None and links.section is not None:
        section = f"{page}#{quote(links.section.anchor)}"
        to.append(f'<a href="{section}" title="{_e(tex_to_text(links.section.text))}">§</a>')
    for number, png in enumerate(links.figures, 1):
        label = "figure" if len(links.figures) == 1 else f"fig.&nbsp;{number}"
        to.append(f'<a href="#{_e(_figure_anchor(run, png))}" title="{_e(alt_text(figure_caption(png)))}">{label}</a>')
    kind = " · ".join(_e(x) for x in (c.get("kind", ""), c.get("data", "")) if x)
    reason = f"<br><small>{_e(c['reason'])}</small>" if c.get("reason") else ""
    origin = ": ".join(_e(x) for x in (c.get("source", ""), c.get("location", "")) if x)
    origin = f'<br><small class="origin">{origin}</small>' if origin else ""
    measured = _e(value_text(c["measured"]))
    if c.get("interval"):
        measured += f"<br><small>[{_e(value_text(c['interval'][0]))}, {_e(value_text(c['interval'][1]))}]</small>"
    tolerance = _e(c.get("tolerance") or "")
    why = [c.get("tolerance_reason", ""), c.get("criterion_reason", "")]
    tolerance += "".join(f"<br><small>{_e(w)}</small>" for w in why if w)
    shown = "FAILS" if verdict == "fails" else verdict
    return (
        f'<tr id="{_e(_claim_anchor(run, c["id"]))}"><td class="id"><code>{breakable(c["id"])}</code>'
        + (f"<br><small>{kind}</small>" if kind else "")
        + (f'<br><small class="to">{" · ".join(to)}</small>' if to else "")
        + f"</td><td>{_e(c['statement'])}{reason}{origin}</td>"
        f'<td class="value" title="{_e(full_text(c["theory"]))}">{_e(value_text(c["theory"]))}</td>'
        f'<td class="value" title="{_e(full_text(c["measured"]))}">{measured}</td><td>{tolerance}</td>'
        f'<td class="verdict {_css(verdict)}">{shown}</td></tr>'
    )


def _notebook_anchor(run: NotebookRun) -> str:
    return f"{run.paper}/{run.notebook}" if run.paper else run.notebook


def _figure_anchor(run: NotebookRun, png: Path) -> str:
    return f"figure:{run.paper}/{png.stem}"


def _claim_anchor(run: NotebookRun, claim_id: str) -> str:
    return f"claim:{_notebook_anchor(run)}/{claim_id}"


def _id_link(row_of: dict, paper: str, claim_id: str) -> str:
    anchor = row_of.get((paper, claim_id))
    return f'<a href="#{_e(anchor)}"><code>{_e(claim_id)}</code></a>' if anchor else f"<code>{_e(claim_id)}</code>"


def _href(target: Path, root: str | Path) -> str:
    return pages.relative_url(target, root)


def _e(value) -> str:
    return html.escape(str(value))


def _css(status: str) -> str:
    return {"ok": "good", "holds": "good", "observed": "plain", "inconclusive": "open"}.get(status, "bad")
