"""The summaries of a report: ``index.html`` (open it in a browser) and ``summary.md``.

Both are written over the notebook folders that :mod:`theory_collection.runner` filled, and link
into them with relative paths, so the report folder can be zipped, moved and read offline::

    <out>/index.html          the headline, the claims of every notebook, figures, links
    <out>/summary.md          the same headline and claims tables in Markdown
    <out>/runs.json           what ran: profile, and each notebook's date, commit, time and status (read back
                              by :func:`theory_collection.runs.load_report`; ``compare`` sets two side by side)
    <out>/_static/mathjax/    MathJax, shared by every page (see pages)
    <out>/<paper>/THEORY.html the paper's theory notes
    <out>/<paper>/NN_name/    one notebook's run (see runner) and its page NN_name.html

Both open with what a reader came for: which of each paper's claims and assumptions the data
confirm, contradict or leave open (:func:`theory_collection.claims.headline`): first the statements of a paper
(or of its public code) that the data contradict under the paper's own conditions, then the failures of the
collection's formalisations and extensions, each with what holds beside it in the same runs;
then the counts by kind and verdict, the problems, and each notebook with its time.

A claim links to its figure and to the section of the notebook page where it is derived:
its ``figure`` field names the figure (``save_figure``'s name), its ``section`` field the heading
text; without them, the report takes the heading above the cell that records the claim and the
figures saved under that heading (:func:`theory_collection.pages.recorded_sections`).
"""

from __future__ import annotations

import bisect
import html
import re
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

from theory_collection import pages
from theory_collection.claims import (
    EVIDENCE_KINDS,
    VERDICTS,
    contradicts_paper,
    counts_by_kind,
    headline,
    verdict_of,
    write_atomic,
)
from theory_collection.papers import Paper, generic_paper, registered
from theory_collection.runs import BuildInfo, NotebookRun, write_runs

PROFILE_MEANING = {
    "quick": "small problems and short runs (minutes on 2 cores); tolerances include the finite-size error",
    "paper": "the sizes and run lengths of the paper's experiments",
}


def export_html(notebook: str | Path) -> Path:
    """Write the executed ``notebook`` as an offline HTML page next to it; return the path (see :mod:`pages`)."""
    return pages.export_page(notebook)


# ---------------------------------------------------------------------------------------------
# What a report is about: its papers, its build, its claims


def time_text(runs: list[NotebookRun]) -> str:
    """How long the notebooks took: their times summed and, where their start times are known, the wall time
    from the first start to the last end with the most notebooks that ran side by side."""
    total = f"{sum(r.seconds for r in runs):,.0f} s for {len(runs)} notebooks"
    if not runs or not all(r.started for r in runs):
        return total
    starts = sorted(r.started for r in runs)
    ends = sorted(r.started + r.seconds for r in runs)
    side_by_side = max(bisect.bisect_right(starts, t) - bisect.bisect_right(ends, t) for t in starts)
    wall = ends[-1] - starts[0]
    return f"{total}, {wall:,.0f} s ({wall / 60:.1f} min) of wall time with up to {side_by_side} side by side"


def paper_of_run(run: NotebookRun) -> Paper:
    """The registered paper a run belongs to (a generic one for a folder that no paper owns)."""
    return registered().get(run.paper) or generic_paper(run.paper or "notebooks")


def by_paper(runs: list[NotebookRun]) -> list[tuple[Paper, list[NotebookRun]]]:
    """The runs grouped by paper, papers in the order they first appear."""
    groups: dict[str, tuple[Paper, list[NotebookRun]]] = {}
    for run in runs:
        paper = paper_of_run(run)
        groups.setdefault(paper.name, (paper, []))[1].append(run)
    return list(groups.values())


def paper_headline(paper: Paper, runs: list[NotebookRun]) -> dict[str, dict[str, dict]]:
    """The paper's headline table over its runs' claims (empty when the paper declares no rows)."""
    records = [c for r in runs for c in r.claims]
    return headline(records, list(paper.headline_rows), list(paper.data_kinds)) if paper.headline_rows else {}


@dataclass
class Failure:
    """A failing claim of a paper, an assumption or a prediction, with the claims of the same runs beside it."""

    paper: Paper
    run: NotebookRun
    claim: dict
    beside: list[dict]  # the claims its ``same_runs`` names, as recorded

    @property
    def contradicts(self) -> bool:
        """Whether it contradicts the paper (its statement, under its conditions; see ``contradicts_paper``)."""
        return contradicts_paper(self.claim)

    def text(self) -> str:
        """One paragraph: the claim, where it comes from, measured against what, why, and what holds beside it."""
        c = self.claim
        against = (
            f"against the criterion {c['tolerance']}"
            if c.get("criterion") is not None
            else f"against {_fmt(c.get('theory'))} ({c['tolerance']})"
            if c.get("theory") is not None
            else f"({c['tolerance']})"
        )
        why = c.get("reason") or c.get("criterion_reason") or c.get("tolerance_reason") or ""
        origin = ", ".join(x for x in (c.get("source", ""), c.get("location", "")) if x)
        parts = [f"{c['id']} ({c.get('kind', '')}; {origin or 'no source given'}): {c['statement']}"]
        parts.append(f"Measured {_fmt(c.get('measured'))} {against}" + (f": {why}" if why else "") + ".")
        if c.get("conditions"):
            parts.append(f"Tested in: {c['conditions']}.")
        if self.beside:
            parts.append(
                "In the same runs: "
                + "; ".join(f"{b['id']} {verdict_of(b)} ({_fmt(b.get('measured'))})" for b in self.beside)
                + "."
            )
        return " ".join(parts)


def failures(runs: list[NotebookRun]) -> list[Failure]:
    """Every failing paper, assumption or prediction claim, in report order, with what holds beside it."""
    found = []
    for paper, group in by_paper(runs):
        recorded = {c["id"]: c for run in group for c in run.claims}
        for run in group:
            for claim in run.claims:
                if verdict_of(claim) == "fails" and claim.get("kind", "prediction") in EVIDENCE_KINDS:
                    beside = [recorded[i] for i in claim.get("same_runs") or [] if i in recorded]
                    found.append(Failure(paper, run, claim, beside))
    return found


def contradictions(runs: list[NotebookRun]) -> list[Failure]:
    """The failures that contradict a paper: its own statement (or its code's), under its own conditions."""
    return [f for f in failures(runs) if f.contradicts]


def formalisation_failures(runs: list[NotebookRun]) -> list[Failure]:
    """Every other failure: a formalisation, a prediction or an extension of the collection's, or another paper's
    result, or a paper's statement tested outside the paper's conditions."""
    return [f for f in failures(runs) if not f.contradicts]


def failure_ids_text(found: list[Failure]) -> str:
    """ "C4.value_first.adam (topic_structure), ..." ("" when none)."""
    return ", ".join(f.claim["id"] for f in found)


def problems(runs: list[NotebookRun]) -> list[tuple[str, str]]:
    """(what, why) for each notebook that failed and each of the collection's own claims that fails.

    A failing paper claim or assumption is a finding, reported first (:func:`failures`), not here.
    """
    found = [(f"{r.notebook} {'failed' if r.status == 'error' else r.status}", r.error) for r in runs if r.error]
    found += [(f"{r.notebook}: a newer attempt failed", attempt_text(r)) for r in runs if r.attempt is not None]
    found += [
        (
            f"{c['id']} does not hold ({r.notebook})",
            f"theory {_fmt(c['theory'])}, measured {_fmt(c['measured'])}, {c['tolerance']}"
            + (f"; {c['reason']}" if c.get("reason") else ""),
        )
        for r in runs
        for c in r.broken_claims
    ]
    return found


def attempt_text(run: NotebookRun) -> str:
    """What a failed newer attempt beside a kept result says: when, from which commit, its error, and what is shown."""
    attempt = run.attempt
    if attempt is None:
        return ""
    return (
        f"{attempt.date}, commit {attempt.commit}: {attempt.error} (kept and shown: the earlier result of "
        f"{run.date or 'an unrecorded date'}, commit {run.commit or 'unknown'})"
    )


def run_text(run: NotebookRun) -> str:
    """``2026-12-06 06:45 UTC, commit abc123`` with the run's overrides: when and from what a notebook ran."""
    overrides = ", ".join(f"{k} = {v}" for k, v in run.overrides.items())
    text = ", commit ".join(x for x in (run.date, run.commit) if x)
    return text + (f"; {overrides}" if overrides else "")


def verdict_counts(run: NotebookRun) -> dict[str, int]:
    """How many of a run's claims have each verdict."""
    counts = {verdict: 0 for verdict in VERDICTS}
    for claim in run.claims:
        counts[verdict_of(claim)] += 1
    return counts


def data_files(run: NotebookRun) -> list[Path]:
    """The files a notebook wrote besides its notebook, page, claims and figures (CSV tables, say)."""
    skip = {run.executed.name, run.executed.with_suffix(".html").name, "claims.json"}
    if not run.output_dir.is_dir():
        return []
    return sorted(
        p for p in run.output_dir.iterdir() if p.is_file() and p.name not in skip and not p.name.startswith(".")
    )


# ---------------------------------------------------------------------------------------------
# Claims to figures and sections


@dataclass
class ClaimLinks:
    """Where a claim is shown: its figures (PNG paths) and its section of the notebook page."""

    figures: list[Path] = field(default_factory=list)
    section: pages.Section | None = None
    note: str = ""  # what could not be found


def claim_links(run: NotebookRun) -> dict[str, ClaimLinks]:
    """For each claim of a run, its figures and its section (see the module docstring for the rules)."""
    page_sections = pages.sections_of_page(run.html) if run.html is not None and run.html.is_file() else []
    recorded, figures_under = ({}, {})
    if run.executed.is_file():
        try:
            recorded, figures_under = pages.recorded_sections(run.executed)
        except Exception:  # an unreadable notebook still gets its claims table, without links
            pass
    available = {png.stem: png for png in run.figures}
    links = {}
    for claim in run.claims:
        found = ClaimLinks()
        heading = claim.get("section") or next((h for p, h in recorded.items() if re.fullmatch(p, claim["id"])), "")
        notes = []
        if heading:
            found.section = pages.find_section(page_sections, heading)
            if found.section is None and page_sections:
                notes.append(f"section {heading!r} is not a heading of the notebook")
        elif page_sections:
            notes.append("no section: record the claim with section= (the heading where it is derived)")
        if claim.get("figure"):
            if claim["figure"] in available:
                found.figures = [available[claim["figure"]]]
            else:
                notes.append(f"figure {claim['figure']!r} was not saved by this run")
        elif heading:
            patterns = figures_under.get(heading, [])
            found.figures = [png for stem, png in available.items() if any(re.fullmatch(p, stem) for p in patterns)]
        found.note = "; ".join(notes)
        links[claim["id"]] = found
    return links


def figure_caption(png: Path) -> str:
    """The title saved with a figure (PNG or SVG metadata), else its name without the notebook prefix."""
    try:
        from PIL import Image

        with Image.open(png) as image:
            title = (getattr(image, "text", {}) or {}).get("Title", "")
    except Exception:  # not a readable PNG: the SVG or the name still serve
        title = ""
    svg = png.with_suffix(".svg")
    if not title and svg.is_file():
        found = re.search(r"<dc:title>(.*?)</dc:title>", svg.read_text(encoding="utf-8", errors="replace"), re.DOTALL)
        title = html.unescape(found.group(1)) if found else ""
    if title:
        return title
    notebook = png.parent.parent.name
    name = png.stem[len(notebook) + 1 :] if png.stem.startswith(notebook + "_") else png.stem
    return name.replace("_", " ")


# A figure at least this many pixels wide (several panels, at save_figure's 130 dpi) takes a whole row.
WIDE_FIGURE = 1000
SCREEN_SCALE = 96 / 130


def image_size(png: Path) -> tuple[int, int]:
    """(width, height) of an image in pixels; (0, 0) when it cannot be read."""
    try:
        from PIL import Image

        with Image.open(png) as image:
            return image.size
    except Exception:  # an unreadable image is still linked; the browser test finds it broken
        return 0, 0


def alt_text(caption: str) -> str:
    """A caption without TeX markup, for ``alt``."""
    text = re.sub(r"\\(mathrm|mathcal|mathbf|operatorname|text)\{([^}]*)\}", r"\2", caption)
    return re.sub(r"[$\\{}]", "", text)


# ---------------------------------------------------------------------------------------------
# summary.md


def summary_markdown(
    runs: list[NotebookRun], profile: str, root: str | Path | None = None, info: BuildInfo | None = None
) -> str:
    """The report in Markdown: headline first, then counts, problems, notebooks and their claims.

    With ``root`` (the report directory), notebook names link to their HTML relative to it.
    """
    info = info or BuildInfo("", "", profile)
    lines = [f"# Theory verification report ({profile} profile)", ""]
    for paper, _ in by_paper(runs):
        citation = f" ({paper.citation})" if paper.citation else ""
        lines.append(f"- Paper: **{paper.title}**{citation}" + (f", <{paper.url}>" if paper.url else ""))
    if info.date:
        lines.append(f"- Made {info.date} from commit {info.commit}")
    lines.append(f"- Profile: {profile}" + (f" ({PROFILE_MEANING[profile]})" if profile in PROFILE_MEANING else ""))
    lines.append("- Overrides: " + (", ".join(f"{k} = {v}" for k, v in info.overrides.items()) or "none"))
    lines.append(f"- Time: {time_text(runs)}")
    lines.append("")
    lines += _failures_markdown(runs)
    for paper, group in by_paper(runs):
        table = paper_headline(paper, group)
        if not table:
            continue
        lines += [f"## What the data say: {paper.title}", "", *_headline_head(paper)]
        for subject, row in table.items():
            text = paper.headline_rows_text.get(subject, "")
            cells = [_md_cell(row[data]) for data in paper.data_kinds]
            lines.append(f"| **{subject}** {text} | " + " | ".join(cells) + " |")
        lines.append("")
    lines += _counts_markdown(runs)
    issues = problems(runs)
    total = sum(len(r.claims) for r in runs)
    lines += ["## Problems", ""]
    if issues:
        lines += [f"{len(issues)} problem(s) in {len(runs)} notebooks ({total} claims):", ""]
        lines += [f"- **{what}**: {why}" for what, why in issues]
    else:
        lines.append(f"None: every notebook ran; no claim of the {total} fails.")
    silent = [r.notebook for r in runs if not r.error and not r.claims]
    if silent:
        lines += ["", f"Wrote no claims table: {', '.join(silent)}."]
    lines += [
        "",
        "## Notebooks",
        "",
        "| notebook | status | holds | fails | inconclusive | observed | time | run |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for run in runs:
        counts = verdict_counts(run)
        attempt = f" (a newer attempt failed: {attempt_text(run)})" if run.attempt is not None else ""
        ran = (run_text(run) + attempt).replace("|", "\\|").replace("\n", " ")
        lines.append(
            f"| {_md_link(run, root)} | {run.status} | "
            + " | ".join(str(counts[v]) for v in VERDICTS)
            + f" | {run.seconds:.1f} s | {ran} |"
        )
    lines += [
        "",
        "## Claims",
        "",
        "| notebook | claim | kind | statement | theory | measured | tolerance | data | verdict |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for run in runs:
        linked = _md_link(run, root)
        for row, c in enumerate(run.claims):
            verdict = verdict_of(c)
            cells = [
                linked if row == 0 else run.notebook,
                c["id"],
                c.get("kind", ""),
                c["statement"],
                _fmt(c["theory"]),
                _fmt(c["measured"]),
                c["tolerance"],
                c.get("data", ""),
                "**FAILS**" if verdict == "fails" else verdict,
            ]
            lines.append("| " + " | ".join(str(cell).replace("|", "\\|").replace("\n", " ") for cell in cells) + " |")
        if not run.claims:
            lines.append(f"| {linked} | | | {run.status} | | | | | |")
    return "\n".join(lines) + "\n"


def _headline_head(paper: Paper) -> list[str]:
    """The two Markdown lines that open a paper's headline table: its columns are the kinds of data."""
    return ["| claim or assumption | " + " | ".join(paper.data_kinds) + " |", "|---|" + "---|" * len(paper.data_kinds)]


def _md_cell(cell: dict) -> str:
    return cell["verdict"] + (f" ({', '.join(cell['ids'])})" if cell["ids"] else "")


def _md_link(run: NotebookRun, root) -> str:
    if root is not None and run.html is not None and run.html.exists():
        return f"[{run.notebook}]({_href(run.html, root)})"
    return run.notebook


def _counts_markdown(runs: list[NotebookRun]) -> list[str]:
    counts = counts_by_kind([c for r in runs for c in r.claims])
    if not counts:
        return []
    lines = [
        "## Claims by kind and verdict",
        "",
        "| kind | " + " | ".join(VERDICTS) + " |",
        "|---|" + "---|" * len(VERDICTS),
    ]
    lines += [f"| {kind} | " + " | ".join(str(row[v]) for v in VERDICTS) + " |" for kind, row in counts.items()]
    return [*lines, ""]


CONTRADICTED_HEADING = "The data contradict the papers"
FORMALISATION_HEADING = "Where the collection's formalisation or extension fails"
HEADLINE_CSS = {"confirmed": "good", "contradicted": "bad", "formalisation fails": "open", "inconclusive": "open"}


def failures_line(runs: list[NotebookRun]) -> str:
    """One line for ``compare`` and the command line: the contradictions, then the other failures."""
    against, other = contradictions(runs), formalisation_failures(runs)
    return (
        (f"**the data contradict** {failure_ids_text(against)}" if against else "the data contradict no paper")
        + "; "
        + (
            f"the collection's formalisation or extension fails in {failure_ids_text(other)}."
            if other
            else "no formalisation or extension of the collection fails."
        )
    )


def _failures_markdown(runs: list[NotebookRun]) -> list[str]:
    against, other = contradictions(runs), formalisation_failures(runs)
    lines = [f"## {CONTRADICTED_HEADING}", ""]
    lines += [f"- {f.text()}" for f in against] or [
        "None: no statement of a paper's abstract, introduction, figures or public code fails under the "
        "paper's own conditions."
    ]
    lines += ["", f"## {FORMALISATION_HEADING}", ""]
    lines += [f"- {f.text()}" for f in other] or ["None."]
    return [*lines, ""]


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


# ---------------------------------------------------------------------------------------------
# index.html


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
    parts.append(_link_notes_html(runs, links))
    parts.append(_overview_html(runs, root))
    for run in runs:
        parts.append(_notebook_html(run, root, links[id(run)]))
    summary = root / "summary.md"
    footer = (
        f'<footer><a href="{_href(summary, root)}">summary.md</a> (the same in Markdown)</footer>'
        if summary.exists()
        else ""
    )
    return _PAGE.format(
        title=f"Theory verification report ({_e(profile)} profile)",
        css=_CSS,
        script=_SCRIPT,
        mathjax=pages.mathjax_head(root, root),
        body="\n".join(parts),
        footer=footer,
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


def _link_notes_html(runs, links) -> str:
    """The claims the report could not link to their section or figure (a convention not followed)."""
    items = [
        f"<li><code>{_e(claim_id)}</code> ({_e(run.notebook)}): {_e(found.note)}</li>"
        for run in runs
        for claim_id, found in links[id(run)].items()
        if found.note
    ]
    if not items:
        return ""
    return (
        f'<section><h2 id="links">Claims without their section or figure</h2><p class="open">{len(items)} '
        f"claim(s) the report cannot link (see the report module for the convention):</p><ul>{''.join(items)}</ul>"
        "</section>"
    )


def _overview_html(runs, root) -> str:
    rows = []
    for run in runs:
        counts = verdict_counts(run)
        cells = "".join(
            f'<td class="{_css(v) if counts[v] and v != "holds" else ""}">{counts[v]}</td>' for v in VERDICTS
        )
        rows.append(
            f'<tr><td><a href="#{_e(_notebook_anchor(run))}">{_e(run.notebook)}</a></td>'
            f'<td class="{_css(run.status)}">{_e(run.status)}</td>{cells}'
            f'<td class="num">{run.seconds:.1f} s</td><td>{_file_links(run, root)}</td>'
            f"<td>{_e(run_text(run))}"
            + ('<br><span class="bad">newer attempt failed</span>' if run.attempt is not None else "")
            + "</td></tr>"
        )
    head = "".join(f"<th>{v}</th>" for v in VERDICTS)
    return (
        f'<section><h2 id="notebooks">Notebooks</h2><div class="scroll"><table class="overview"><thead><tr>'
        f"<th>notebook</th><th>status</th>{head}<th>time</th><th>files</th><th>run</th></tr></thead>"
        f"<tbody>{''.join(rows)}</tbody></table></div></section>"
    )


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


def _notebook_html(run: NotebookRun, root: Path, links: dict[str, ClaimLinks]) -> str:
    title = run.notebook
    if run.html is not None and run.html.is_file():
        sections = pages.sections_of_page(run.html)
        title = sections[0].text if sections else title
    body = [
        f'<section class="notebook"><h2 id="{_e(_notebook_anchor(run))}">{_e(title)}</h2>',
        f'<p class="files"><span class="{_css(run.status)}">{_e(run.status)}</span> · {run.seconds:.1f} s · '
        f"{_e(run_text(run))} · {_file_links(run, root)}</p>",
    ]
    if run.error:
        body.append(f'<pre class="bad">{_e(run.error)}</pre>')
    if run.attempt is not None:
        notebook = run.attempt.executed
        link = f' · <a href="{_href(notebook, root)}" download>its notebook</a>' if notebook.is_file() else ""
        body.append(f'<p class="bad">A newer attempt failed{link}:</p><pre class="bad">{_e(attempt_text(run))}</pre>')
    if run.claims:
        body.append(
            '<div class="scroll"><table class="claims"><thead><tr><th>claim</th><th>kind</th><th>statement</th>'
            "<th>theory</th><th>measured</th><th>tolerance / criterion</th><th>data</th><th>verdict</th>"
            "</tr></thead><tbody>"
        )
        for c in run.claims:
            body.append(_claim_row(run, c, links.get(c["id"], ClaimLinks()), root))
        body.append("</tbody></table></div>")
    if run.figures:
        body.append('<div class="figures">')
        for png in run.figures:
            caption = figure_caption(png)
            svg = png.with_suffix(".svg")
            extra = f' <a href="{_href(svg, root)}">SVG</a>' if svg.exists() else ""
            width, height = image_size(png)
            wide = ' class="wide"' if width >= WIDE_FIGURE else ""
            # shown at the figure's physical size (save_figure's 130 dpi on a 96 px-per-inch screen)
            size = f' width="{round(width * SCREEN_SCALE)}" height="{round(height * SCREEN_SCALE)}"' if width else ""
            body.append(
                f'<figure id="{_e(_figure_anchor(run, png))}"{wide}><a class="zoom" href="{_href(png, root)}">'
                f'<img src="{_href(png, root)}" alt="{_e(alt_text(caption))}"{size}></a>'
                f"<figcaption>{_e(caption)} <small>({_e(png.stem)}.png{extra})</small></figcaption></figure>"
            )
        body.append("</div>")
    body.append("</section>")
    return "\n".join(body)


def _claim_row(run: NotebookRun, c: dict, links: ClaimLinks, root: Path) -> str:
    verdict = verdict_of(c)
    to = []
    if links.section is not None and run.html is not None:
        to.append(
            f'<a href="{_href(run.html, root)}#{quote(links.section.anchor)}" '
            f'title="{_e(links.section.text)}">derivation</a>'
        )
    to += [f'<a href="#{_e(_figure_anchor(run, png))}">figure</a>' for png in links.figures]
    note = f'<br><small class="open">{_e(links.note)}</small>' if links.note else ""
    reason = f"<br><small>{_e(c['reason'])}</small>" if c.get("reason") else ""
    measured = _e(_fmt(c["measured"]))
    if c.get("interval"):
        measured += f"<br><small>[{_e(_fmt(c['interval'][0]))}, {_e(_fmt(c['interval'][1]))}]</small>"
    tolerance = f'<span class="nowrap">{_e(c["tolerance"])}</span>' if c.get("tolerance") else ""
    why = [c.get("tolerance_reason", ""), c.get("criterion_reason", "")]
    tolerance += "".join(f"<br><small>{_e(w)}</small>" for w in why if w)
    shown = "FAILS" if verdict == "fails" else verdict
    return (
        f'<tr id="{_e(_claim_anchor(run, c["id"]))}"><td><code>{_e(c["id"])}</code>'
        + (f"<br><small>{' · '.join(to)}</small>" if to else "")
        + f"{note}</td>"
        f"<td>{_e(c.get('kind', ''))}</td><td>{_e(c['statement'])}{reason}</td>"
        f'<td title="{_e(_full(c["theory"]))}">{_e(_fmt(c["theory"]))}</td>'
        f'<td title="{_e(_full(c["measured"]))}">{measured}</td><td>{tolerance}</td><td>{_e(c.get("data", ""))}</td>'
        f'<td class="{_css(verdict)}">{shown}</td></tr>'
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


# ---------------------------------------------------------------------------------------------
# Writing


def write_summaries(
    runs: list[NotebookRun], profile: str, out: str | Path, overrides: dict | None = None
) -> tuple[Path, Path]:
    """Write ``summary.md`` and ``index.html`` into ``out``, with what the pages share (MathJax, each
    paper's ``THEORY.html``); return both paths. ``overrides`` default to those the notebooks received."""
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
    return markdown, index


def write_theory_pages(runs: list[NotebookRun], out: Path) -> list[Path]:
    """Render each paper's ``THEORY.md`` (found next to the notebooks that ran) into ``<out>/<paper>/THEORY.html``."""
    written = {}
    for run in runs:
        if run.paper in written or not run.executed.is_file():
            continue
        import nbformat

        source = pages.source_folder(nbformat.read(run.executed, as_version=4))
        written[run.paper] = pages.write_theory_page(source, out / run.paper, out)
    return [path for path in written.values() if path is not None]


def overrides_of(runs: list[NotebookRun]) -> dict:
    """The parameters the notebooks received besides the runner's own (from papermill's record)."""
    import nbformat

    found = {}
    for run in runs:
        if run.executed.is_file():
            given = nbformat.read(run.executed, as_version=4).metadata.get("papermill", {}).get("parameters", {})
            found.update({k: v for k, v in given.items() if k not in ("profile", "output_dir")})
    return found


def _relative(target: Path, root: str | Path) -> str:
    return Path(target).resolve().relative_to(Path(root).resolve()).as_posix()


def _href(target: Path, root: str | Path) -> str:
    return quote(_relative(target, root))


def _e(value) -> str:
    return html.escape(str(value))


def _css(status: str) -> str:
    return {"ok": "good", "holds": "good", "observed": "plain", "inconclusive": "open"}.get(status, "bad")


def _full(value) -> str:
    """A value at full precision (shown on hover)."""
    return _fmt(value) if isinstance(value, bool) or value is None else str(value)


def _fmt(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return ""
    return f"{value:.6g}" if isinstance(value, float) else str(value)


_CSS = """
:root { color-scheme: light dark; --fg: #1f2328; --bg: #ffffff; --muted: #59636e; --line: #d0d7de; --head: #f6f8fa;
  --good: #1a7f37; --bad: #b42318; --open: #9a6700; --link: #0969da; --callout: #fff4f2; }
@media (prefers-color-scheme: dark) {
  :root { --fg: #e6edf3; --bg: #0d1117; --muted: #9198a1; --line: #3d444d; --head: #161b22;
    --good: #3fb950; --bad: #ff7b72; --open: #d29922; --link: #4493f8; --callout: #2d1214; }
  figure img { background: #fff; }
}
* { box-sizing: border-box; }
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; line-height: 1.5; color: var(--fg);
  background: var(--bg); max-width: 80rem; margin: 0 auto; padding: 1rem; }
a { color: var(--link); }
h1 { margin: 0.5rem 0; font-size: 1.8rem; }
h2 { margin-top: 2.5rem; border-bottom: 1px solid var(--line); padding-bottom: 0.25rem; }
dl.meta { display: grid; grid-template-columns: max-content 1fr; gap: 0.2rem 1rem; margin: 0.5rem 0 1rem; }
dl.meta dt { font-weight: 600; color: var(--muted); }
dl.meta dd { margin: 0; }
.scroll { overflow-x: auto; -webkit-overflow-scrolling: touch; max-width: 100%; }
table { border-collapse: collapse; margin: 0.5rem 0 1rem; font-size: 0.92rem; }
th, td { border: 1px solid var(--line); padding: 0.3rem 0.5rem; text-align: left; vertical-align: top; }
thead th { background: var(--head); }
tbody th { font-weight: 600; }
td.num { text-align: right; white-space: nowrap; }
table.claims td:nth-child(4), table.claims td:nth-child(5) { white-space: nowrap; }
table.claims td:nth-child(3) { min-width: 16rem; }
table.claims td:nth-child(6) { min-width: 10rem; }
.nowrap { white-space: nowrap; }
small { color: var(--muted); }
.good { color: var(--good); font-weight: 600; }
.bad { color: var(--bad); font-weight: 600; }
.open { color: var(--open); font-weight: 600; }
.plain { color: var(--muted); }
table.headline td .verdict { font-weight: 700; }
.callout { border-left: 4px solid var(--bad); background: var(--callout); padding: 0.5rem 1rem; margin: 1rem 0; }
.callout.soft { border-left-color: var(--open); background: var(--head); }
.callout h2 { margin-top: 0.5rem; border: none; }
.callout ul { margin: 0.25rem 0; }
.legend { font-size: 0.85rem; color: var(--muted); }
pre.bad { white-space: pre-wrap; background: var(--callout); padding: 0.5rem; }
.figures { display: grid; grid-template-columns: repeat(auto-fill, minmax(min(100%, 34rem), 1fr)); gap: 1.5rem;
  align-items: start; }
figure { margin: 0; }
figure.wide { grid-column: 1 / -1; }
figure img { display: block; max-width: 100%; height: auto; border: 1px solid var(--line); cursor: zoom-in; }
figcaption { font-size: 0.9rem; margin-top: 0.3rem; }
dialog.zoom { padding: 0; border: none; max-width: 98vw; max-height: 98vh; background: #fff; }
dialog.zoom img { display: block; max-width: 98vw; max-height: 96vh; cursor: zoom-out; }
dialog.zoom::backdrop { background: rgba(0, 0, 0, 0.8); }
footer { margin: 3rem 0 1rem; color: var(--muted); }
:target { outline: 2px solid var(--open); }
@media (max-width: 40rem) {
  body { padding: 0.5rem; }
  h1 { font-size: 1.4rem; }
  h2 { font-size: 1.2rem; }
  dl.meta { grid-template-columns: 1fr; }
}
"""

# Click a figure to see it at full size in a dialog (without script, the link opens the PNG).
_SCRIPT = """
document.addEventListener("click", function (event) {
  var link = event.target.closest("a.zoom");
  if (!link || typeof HTMLDialogElement !== "function") return;
  event.preventDefault();
  var dialog = document.createElement("dialog");
  dialog.className = "zoom";
  var image = document.createElement("img");
  image.src = link.getAttribute("href");
  image.alt = link.querySelector("img").alt;
  dialog.appendChild(image);
  dialog.addEventListener("click", function () { dialog.close(); });
  dialog.addEventListener("close", function () { dialog.remove(); });
  document.body.appendChild(dialog);
  dialog.showModal();
});
"""

_PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<style>{css}</style>
{mathjax}
</head>
<body>
<main>
{body}
</main>
{footer}
<script>{script}</script>
</body>
</html>
"""
