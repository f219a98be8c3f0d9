"""The summaries of a report: ``index.html`` (open it in a browser) and ``summary.md``.

Both are written over the notebook folders that :mod:`theory_collection.runner` filled, and link
into them with relative paths, so the report folder can be zipped, moved and read offline::

    <out>/index.html          the headline, the claims of every notebook, figures, links
    <out>/summary.md          the same headline and claims tables in Markdown
    <out>/runs.json           what ran: profile, date, commit, each notebook's time and status (read back
                              by :func:`load_report`; ``compare`` sets two reports side by side)
    <out>/_static/mathjax/    MathJax, shared by every page (see pages)
    <out>/<paper>/THEORY.html the paper's theory notes
    <out>/<paper>/NN_name/    one notebook's run (see runner) and its page NN_name.html

Both open with what a reader came for: which of each paper's claims and assumptions the data
confirm, contradict or leave open (:func:`theory_collection.claims.headline`): first the statements of a paper
(or of its public code) that the data contradict under the paper's own conditions, then the failures of the
collection's formalisations and extensions, each with what holds beside it in the same runs;
then the counts by kind and verdict, the problems, and each notebook with its time.

The pages are rendered by :mod:`theory_collection.index_page` (``index.html``, each notebook collapsed
under its headline line, each claim linked to the cell that records it, its section and its figures:
:mod:`theory_collection.claim_links`) and :mod:`theory_collection.summary_page` (``summary.md``); this
module holds what they report and writes them.
"""

from __future__ import annotations

import bisect
import json
import subprocess
import sys
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from theory_collection import pages
from theory_collection.claims import (
    EVIDENCE_KINDS,
    VERDICTS,
    contradicts_paper,
    counts_by_kind,
    headline,
    load_claims,
    verdict_of,
)
from theory_collection.formatting import value_text
from theory_collection.notebook_outputs import clean_file
from theory_collection.papers import REPO_ROOT, Paper, generic_paper, registered
from theory_collection.runner import RUNS_FILE, NotebookRun

PROFILE_MEANING = {
    "quick": "small problems and short runs (minutes on 2 cores); tolerances include the finite-size error",
    "paper": "the sizes and run lengths of the paper's experiments",
}


def export_html(notebook: str | Path) -> Path:
    """Save the executed ``notebook`` without its progress bars and widget state, and write it as an offline
    HTML page next to it; return the page's path (see :mod:`pages`, :mod:`notebook_outputs`)."""
    clean_file(notebook)
    return pages.export_page(notebook)


# ---------------------------------------------------------------------------------------------
# What a report is about: its papers, its build, its claims


@dataclass
class BuildInfo:
    """When and from what a report was made."""

    date: str
    commit: str
    profile: str
    overrides: dict = field(default_factory=dict)

    @classmethod
    def now(cls, profile: str, overrides: dict | None = None) -> BuildInfo:
        """The current time (UTC) and git commit of the repository."""
        return cls(datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"), git_commit(), profile, dict(overrides or {}))


def git_commit(repository: Path = REPO_ROOT) -> str:
    """The short commit hash, with "+ uncommitted changes" when tracked files differ; "unknown" outside git."""
    try:
        commit = subprocess.run(
            ["git", "-C", str(repository), "rev-parse", "--short=12", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
            timeout=10,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(repository), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            check=True,
            timeout=30,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return f"{commit} + uncommitted changes" if dirty else commit


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
    found = [(f"{r.notebook} failed", r.error) for r in runs if r.error]
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


def _headline_head(paper: Paper) -> list[str]:
    """The two Markdown lines that open a paper's headline table: its columns are the kinds of data."""
    return ["| claim or assumption | " + " | ".join(paper.data_kinds) + " |", "|---|" + "---|" * len(paper.data_kinds)]


CONTRADICTED_HEADING = "The data contradict the papers"
FORMALISATION_HEADING = "Where the collection's formalisation or extension fails"


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


# ---------------------------------------------------------------------------------------------
# Writing


def write_summaries(
    runs: list[NotebookRun], profile: str, out: str | Path, overrides: dict | None = None
) -> tuple[Path, Path]:
    """Write ``summary.md`` and ``index.html`` into ``out``, with what the pages share (MathJax, each
    paper's ``THEORY.html``); return both paths. ``overrides`` default to those the notebooks received.
    A claim whose declared section or figure the report cannot find is named on stderr (the page links it
    to its cell's section instead)."""
    from theory_collection.claim_links import claim_links

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    pages.install_assets(out)
    theory = write_theory_pages(runs, out)
    info = BuildInfo.now(profile, overrides_of(runs) if overrides is None else overrides)
    markdown = out / "summary.md"
    markdown.write_text(summary_markdown(runs, profile, root=out, info=info), encoding="utf-8")
    index = out / "index.html"
    index.write_text(index_html(runs, profile, out, info=info), encoding="utf-8")
    write_runs(runs, info, out)
    for page in [*theory, *(r.html for r in runs if r.html is not None and r.html.is_file())]:
        pages.relink(page)  # now that every page they may link is in place
    for run in runs:
        for claim_id, links in claim_links(run).items():
            if links.note:
                print(f"report: {claim_id} ({run.paper}/{run.notebook}): {links.note}", file=sys.stderr)
    return markdown, index


def index_html(runs: list[NotebookRun], profile: str, root: str | Path, info: BuildInfo | None = None) -> str:
    """The report's ``index.html`` (:func:`theory_collection.index_page.index_html`)."""
    from theory_collection.index_page import index_html as render  # index_page reads this module

    return render(runs, profile, root, info)


def summary_markdown(
    runs: list[NotebookRun], profile: str, root: str | Path | None = None, info: BuildInfo | None = None
) -> str:
    """The report's ``summary.md`` (:func:`theory_collection.summary_page.summary_markdown`)."""
    from theory_collection.summary_page import summary_markdown as render  # summary_page reads this module

    return render(runs, profile, root, info)


def write_runs(runs: list[NotebookRun], info: BuildInfo, out: Path) -> Path:
    """``<out>/runs.json``: the build (profile, date, commit, overrides) and each notebook's paper, time, start
    (seconds since the epoch) and error."""
    record = {
        "profile": info.profile,
        "date": info.date,
        "commit": info.commit,
        "overrides": info.overrides,
        "runs": [
            {
                "paper": r.paper,
                "notebook": r.notebook,
                "seconds": round(r.seconds, 3),
                "started": round(r.started, 3),
                "error": r.error,
            }
            for r in runs
        ],
    }
    path = Path(out) / RUNS_FILE
    path.write_text(json.dumps(record, indent=1, default=str) + "\n", encoding="utf-8")
    return path


def load_report(out: str | Path) -> tuple[BuildInfo, list[NotebookRun]]:
    """A written report read back: its build and its runs, each with the claims of its ``claims.json``."""
    out = Path(out)
    try:
        record = json.loads((out / RUNS_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise ValueError(f"{out} is not a report written by `report` (no readable {RUNS_FILE}): {error}") from None
    runs = []
    for entry in record["runs"]:
        folder = out / entry["paper"] / entry["notebook"]
        claims_file = folder / "claims.json"
        claims = load_claims(claims_file) if claims_file.is_file() else []
        html_page = folder / f"{entry['notebook']}.html"
        runs.append(
            NotebookRun(
                entry["notebook"],
                folder,
                paper=entry["paper"],
                error=entry["error"],
                claims=claims,
                seconds=entry["seconds"],
                html=html_page if html_page.is_file() else None,
                started=entry.get("started", 0.0),  # not recorded before reports ran notebooks side by side
            )
        )
    info = BuildInfo(record["date"], record["commit"], record["profile"], record.get("overrides", {}))
    return info, runs


def compare_markdown(first: tuple[BuildInfo, list[NotebookRun]], second: tuple[BuildInfo, list[NotebookRun]]) -> str:
    """Two reports side by side (say the quick and the paper profile): what the data contradict in each, each
    paper's headline with both verdicts where they differ, the counts by kind and verdict, every claim whose
    verdict differs (with both measured values), and the time of every notebook in each."""
    (info_a, runs_a), (info_b, runs_b) = first, second
    name_a, name_b = _report_name(info_a), _report_name(info_b)
    lines = [
        f"# {name_a} and {name_b} side by side",
        "",
        f"- {name_a}: made {info_a.date} from commit {info_a.commit}, {time_text(runs_a)}",
        f"- {name_b}: made {info_b.date} from commit {info_b.commit}, {time_text(runs_b)}",
        "",
    ]
    for name, runs in ((name_a, runs_a), (name_b, runs_b)):
        lines.append(f"- At the {name}: {failures_line(runs)}")
    lines += [
        "",
        f"A cell shows the verdict where both reports agree, and **{name_a} / {name_b}** where they differ; it "
        "names the claims that fail or are inconclusive in either.",
        "",
    ]
    papers_b = dict((paper.name, group) for paper, group in by_paper(runs_b))
    for paper, group_a in by_paper(runs_a):
        table_a, table_b = paper_headline(paper, group_a), paper_headline(paper, papers_b.get(paper.name, []))
        if not table_a:
            continue
        lines += [f"## {paper.title}", "", *_headline_head(paper)]
        verdicts: dict[str, set[str]] = {}  # claim id -> its verdicts in the two reports
        for claim in (c for group in (group_a, papers_b.get(paper.name, [])) for run in group for c in run.claims):
            verdicts.setdefault(claim["id"], set()).add(verdict_of(claim))
        for subject, row in table_a.items():
            cells = []
            for data in paper.data_kinds:
                a, b = row[data]["verdict"], table_b.get(subject, {}).get(data, {}).get("verdict", "not run")
                ids = dict.fromkeys([*row[data]["ids"], *table_b.get(subject, {}).get(data, {}).get("ids", [])])
                # the claims behind a verdict other than confirmed, in either report
                behind = [i for i in ids if verdicts.get(i, set()) & {"fails", "inconclusive"}]
                cell = a if a == b else f"**{a} / {b}**"
                cells.append(cell + (f" ({', '.join(behind)})" if behind else ""))
            lines.append(f"| **{subject}** {paper.headline_rows_text.get(subject, '')} | " + " | ".join(cells) + " |")
        lines.append("")
    counts_a = counts_by_kind([c for r in runs_a for c in r.claims])
    counts_b = counts_by_kind([c for r in runs_b for c in r.claims])
    lines += [
        f"## Claims by kind and verdict ({name_a} / {name_b})",
        "",
        "| kind | " + " | ".join(VERDICTS) + " |",
        "|---|" + "---|" * len(VERDICTS),
    ]
    for kind in dict.fromkeys([*counts_a, *counts_b]):
        row_a, row_b = counts_a.get(kind, {}), counts_b.get(kind, {})
        lines.append(f"| {kind} | " + " | ".join(f"{row_a.get(v, 0)} / {row_b.get(v, 0)}" for v in VERDICTS) + " |")
    lines.append("")
    claims_a = {(r.paper, c["id"]): c for r in runs_a for c in r.claims}
    claims_b = {(r.paper, c["id"]): c for r in runs_b for c in r.claims}
    differ = [key for key in claims_a if key in claims_b and verdict_of(claims_a[key]) != verdict_of(claims_b[key])]
    lines += ["## Claims whose verdict differs", ""]
    if differ:
        lines += [f"| claim | kind | {name_a} | {name_b} |", "|---|---|---|---|"]
        for key in differ:
            a, b = claims_a[key], claims_b[key]
            lines.append(
                f"| {key[1]} | {a.get('kind', '')} | {verdict_of(a)} ({_fmt(a.get('measured'))}) | "
                f"{verdict_of(b)} ({_fmt(b.get('measured'))}) |"
            )
    else:
        lines.append("None.")
    only = sorted({key[1] for key in claims_a.keys() ^ claims_b.keys()})
    if only:
        lines += ["", "In one report only: " + ", ".join(only) + "."]
    times_b = {(r.paper, r.notebook): r for r in runs_b}
    lines += ["", "## Time per notebook", "", f"| notebook | {name_a} | {name_b} |", "|---|---|---|"]
    for run in runs_a:
        other = times_b.get((run.paper, run.notebook))
        lines.append(
            f"| {run.paper}/{run.notebook} | {run.seconds:.0f} s | "
            + (f"{other.seconds:.0f} s" if other else "not run")
            + " |"
        )
    return "\n".join(lines) + "\n"


def _report_name(info: BuildInfo) -> str:
    overrides = ", ".join(f"{k} = {v}" for k, v in info.overrides.items())
    return f"{info.profile} profile" + (f" ({overrides})" if overrides else "")


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


def _fmt(value) -> str:
    return value_text(value)
