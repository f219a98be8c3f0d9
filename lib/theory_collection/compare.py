"""``compare``: two written reports side by side in Markdown (say the quick and the paper profile).

It says first what each report lacks: a notebook that failed, one whose folder or ``claims.json`` is
gone (``missing``), one a stopped run left ``incomplete``, and a newer attempt that failed beside a kept
result. Any of these makes ``compare`` exit with status 1, since a headline cell of such a report may
read "not tested" only because its notebook did not run. Then: what the data contradict in each, each
paper's headline with both verdicts where they differ (naming the claims behind them), the counts by
kind and verdict, every claim whose verdict differs with both measured values, and each notebook's
status and time in both. Every bad input (a folder that is not a report, a ``runs.json`` with missing
keys, an unusable ``--out``) is a one-line ValueError.
"""

from __future__ import annotations

import os
from pathlib import Path

from theory_collection.claims import VERDICTS, verdict_of, write_atomic
from theory_collection.formatting import value_text as _fmt
from theory_collection.runs import BuildInfo, NotebookRun, load_report
from theory_collection.verdicts import by_paper, counts_by_kind, failures_line, headline_head, paper_headline, time_text

Report = tuple[BuildInfo, list[NotebookRun]]


def check_out_file(path: str | Path) -> Path:
    """``--out FILE``: a file that can be written (its folder exists and is writable); else a one-line ValueError."""
    path = Path(path).expanduser().absolute()
    if path.is_dir():
        raise ValueError(f"--out {path}: is a directory, not a file")
    if not path.parent.is_dir():
        raise ValueError(f"--out {path}: its folder {path.parent} does not exist")
    if not os.access(path.parent, os.W_OK) or (path.exists() and not os.access(path, os.W_OK)):
        raise ValueError(f"--out {path}: not writable")
    return path


def unfinished(runs: list[NotebookRun]) -> list[tuple[NotebookRun, str]]:
    """(run, what went wrong) for each notebook without a clean result: failed, missing, incomplete, or a
    failed newer attempt beside a kept result."""
    found = []
    for run in runs:
        if run.status in ("error", "missing", "incomplete"):
            found.append((run, f"{'failed' if run.status == 'error' else run.status}: {run.error}"))
        if run.attempt is not None:
            found.append(
                (
                    run,
                    f"a newer attempt ({run.attempt.date}, commit {run.attempt.commit}) failed: {run.attempt.error}; "
                    f"the result shown is from {run.date}",
                )
            )
    return found


def report_names(first: BuildInfo, second: BuildInfo, folders: tuple[str, str] = ("", "")) -> tuple[str, str]:
    """The two reports' column names: their profiles (and overrides); when those are the same, with each
    report's date and commit, then its folder, so that the columns never share a name."""

    def base(info: BuildInfo) -> str:
        overrides = ", ".join(f"{k} = {v}" for k, v in info.overrides.items())
        return f"{info.profile} profile" + (f" ({overrides})" if overrides else "")

    names = [base(first), base(second)]
    if names[0] == names[1]:
        names = [
            f"{name} of {info.date or 'an unknown date'}, {info.commit or 'unknown commit'}"
            for name, info in zip(names, (first, second))
        ]
    if names[0] == names[1] and folders[0] != folders[1]:
        names = [f"{name} in {folder}" for name, folder in zip(names, folders)]
    if names[0] == names[1]:
        names = [f"{names[0]} (first)", f"{names[1]} (second)"]
    return names[0], names[1]


def compare_markdown(first: Report, second: Report, folders: tuple[str, str] = ("", "")) -> str:
    """Two reports side by side (see the module docstring); ``folders`` name them when all else is equal."""
    (info_a, runs_a), (info_b, runs_b) = first, second
    name_a, name_b = report_names(info_a, info_b, folders)
    lines = [
        f"# {name_a} and {name_b} side by side",
        "",
        f"- {name_a}: made {info_a.date} from commit {info_a.commit}, {time_text(runs_a)}",
        f"- {name_b}: made {info_b.date} from commit {info_b.commit}, {time_text(runs_b)}",
        "",
    ]
    lacking = [
        (name, run, what) for name, runs in ((name_a, runs_a), (name_b, runs_b)) for run, what in unfinished(runs)
    ]
    if lacking:
        lines += [
            "## Notebooks without a clean result",
            "",
            "The claims of a notebook that failed, is missing or incomplete are missing from the tables below (a "
            "cell may read *not tested* only for that); where a newer attempt failed, they are the earlier result's.",
            "",
            "| report | notebook | what |",
            "|---|---|---|",
        ]
        lines += [f"| {name} | {run.key} | {_cell(what)} |" for name, run, what in lacking]
        lines.append("")
    for name, runs in ((name_a, runs_a), (name_b, runs_b)):
        lines.append(f"- At the {name}: {failures_line(runs)}")
    lines += [
        "",
        f"A cell shows the verdict where both reports agree, and **{name_a} / {name_b}** where they differ; it "
        "names the claims that fail or are inconclusive in either.",
        "",
    ]
    lines += _headlines(runs_a, runs_b)
    lines += _counts(runs_a, runs_b, name_a, name_b)
    lines += _differing(runs_a, runs_b, name_a, name_b)
    lines += _times(runs_a, runs_b, name_a, name_b)
    return "\n".join(lines) + "\n"


def _cell(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _headlines(runs_a: list[NotebookRun], runs_b: list[NotebookRun]) -> list[str]:
    lines = []
    groups_a = {paper.name: (paper, group) for paper, group in by_paper(runs_a)}
    groups_b = {paper.name: (paper, group) for paper, group in by_paper(runs_b)}
    for name in dict.fromkeys([*groups_a, *groups_b]):
        paper = (groups_a.get(name) or groups_b[name])[0]
        group_a, group_b = groups_a.get(name, (paper, []))[1], groups_b.get(name, (paper, []))[1]
        table_a, table_b = paper_headline(paper, group_a), paper_headline(paper, group_b)
        if not table_a and not table_b:
            continue
        lines += [f"## {paper.title}", "", *headline_head(paper)]
        verdicts: dict[str, set[str]] = {}  # claim id -> its verdicts in the two reports
        for claim in (c for group in (group_a, group_b) for run in group for c in run.claims):
            verdicts.setdefault(claim["id"], set()).add(verdict_of(claim))
        for subject in dict.fromkeys([*table_a, *table_b]):
            cells = []
            for data in paper.data_kinds:
                cell_a = table_a.get(subject, {}).get(data, {}) if group_a else {}
                cell_b = table_b.get(subject, {}).get(data, {}) if group_b else {}
                a, b = cell_a.get("verdict", "not run"), cell_b.get("verdict", "not run")
                ids = dict.fromkeys([*cell_a.get("ids", []), *cell_b.get("ids", [])])
                # the claims behind a verdict other than confirmed, in either report
                behind = [i for i in ids if verdicts.get(i, set()) & {"fails", "inconclusive"}]
                cell = a if a == b else f"**{a} / {b}**"
                cells.append(cell + (f" ({', '.join(behind)})" if behind else ""))
            lines.append(f"| **{subject}** {paper.headline_rows_text.get(subject, '')} | " + " | ".join(cells) + " |")
        lines.append("")
    return lines


def _counts(runs_a: list[NotebookRun], runs_b: list[NotebookRun], name_a: str, name_b: str) -> list[str]:
    counts_a = counts_by_kind([c for r in runs_a for c in r.claims])
    counts_b = counts_by_kind([c for r in runs_b for c in r.claims])
    lines = [
        f"## Claims by kind and verdict ({name_a} / {name_b})",
        "",
        "| kind | " + " | ".join(VERDICTS) + " |",
        "|---|" + "---|" * len(VERDICTS),
    ]
    for kind in dict.fromkeys([*counts_a, *counts_b]):
        row_a, row_b = counts_a.get(kind, {}), counts_b.get(kind, {})
        lines.append(f"| {kind} | " + " | ".join(f"{row_a.get(v, 0)} / {row_b.get(v, 0)}" for v in VERDICTS) + " |")
    return [*lines, ""]


def _differing(runs_a: list[NotebookRun], runs_b: list[NotebookRun], name_a: str, name_b: str) -> list[str]:
    claims_a = {(r.paper, c["id"]): c for r in runs_a for c in r.claims}
    claims_b = {(r.paper, c["id"]): c for r in runs_b for c in r.claims}
    differ = [key for key in claims_a if key in claims_b and verdict_of(claims_a[key]) != verdict_of(claims_b[key])]
    lines = ["## Claims whose verdict differs", ""]
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
    return lines


def _times(runs_a: list[NotebookRun], runs_b: list[NotebookRun], name_a: str, name_b: str) -> list[str]:
    def shown(run: NotebookRun | None) -> str:
        if run is None:
            return "not run"
        status = "" if run.status in ("ok", "claims fail") and run.attempt is None else f" ({run.status}"
        if run.attempt is not None:
            status += ("; " if status else " (") + "newer attempt failed"
        return f"{run.seconds:.0f} s" + (status + ")" if status else "")

    by_key_a, by_key_b = {r.key: r for r in runs_a}, {r.key: r for r in runs_b}
    lines = ["", "## Time per notebook", "", f"| notebook | {name_a} | {name_b} |", "|---|---|---|"]
    for key in dict.fromkeys([*by_key_a, *by_key_b]):
        lines.append(f"| {key} | {shown(by_key_a.get(key))} | {shown(by_key_b.get(key))} |")
    return lines


def compare_reports(first: str | Path, second: str | Path, out: str | Path | None = None) -> tuple[str, list[str]]:
    """Read two reports, set them side by side and (with ``out``) write the Markdown there; return the text and
    the notebooks without a clean result (:func:`unfinished`), as ``REPORT: paper/notebook (what)``.

    Every bad input is a one-line ValueError before anything is written."""
    target = check_out_file(out) if out is not None else None
    reports = load_report(first), load_report(second)
    text = compare_markdown(*reports, folders=(str(first), str(second)))
    if target is not None:
        write_atomic(target, text)
    lacking = [
        f"{folder}: {run.key} ({what.split(':')[0]})"
        for folder, (_, runs) in zip((first, second), reports)
        for run, what in unfinished(runs)
    ]
    return text, lacking
