"""``summary.md``: the report in Markdown (headline first, then counts, problems, notebooks and their claims).

Written by :func:`theory_collection.report.write_summaries` with the same findings as ``index.html``
(:mod:`theory_collection.index_page`), in the same order.
"""

from __future__ import annotations

from pathlib import Path

from theory_collection.claims import VERDICTS, verdict_of
from theory_collection.formatting import value_text
from theory_collection.pages import relative_url
from theory_collection.runs import BuildInfo, NotebookRun
from theory_collection.verdicts import (
    CONTRADICTED_HEADING,
    FORMALISATION_HEADING,
    PROFILE_MEANING,
    attempt_text,
    by_paper,
    contradictions,
    counts_by_kind,
    formalisation_failures,
    headline_head,
    paper_headline,
    problems,
    run_text,
    time_text,
    verdict_counts,
)


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
        lines += [f"## What the data say: {paper.title}", "", *headline_head(paper)]
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
                value_text(c["theory"]),
                value_text(c["measured"]),
                c["tolerance"],
                c.get("data", ""),
                "**FAILS**" if verdict == "fails" else verdict,
            ]
            lines.append("| " + " | ".join(str(cell).replace("|", "\\|").replace("\n", " ") for cell in cells) + " |")
        if not run.claims:
            lines.append(f"| {linked} | | | {run.status} | | | | | |")
    return "\n".join(lines) + "\n"


def _md_cell(cell: dict) -> str:
    return cell["verdict"] + (f" ({', '.join(cell['ids'])})" if cell["ids"] else "")


def _md_link(run: NotebookRun, root) -> str:
    if root is not None and run.html is not None and run.html.exists():
        return f"[{run.notebook}]({relative_url(run.html, root)})"
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
