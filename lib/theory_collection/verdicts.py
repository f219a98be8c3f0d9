"""What a report says, whatever it is rendered as: its findings, its problems, its times.

``index.html`` (:mod:`theory_collection.index_page`), ``summary.md`` (:mod:`theory_collection.summary_page`),
``compare`` (:mod:`theory_collection.compare`) and the command line read the same functions here, so they
cannot disagree. A failing claim of a paper, an assumption or a prediction is a :class:`Failure`; it
**contradicts** a paper only when its statement is the paper's (or its public code's) and it was tested in
the paper's own conditions (:func:`theory_collection.claims.contradicts_paper`); every other failure is a
failure of the collection's formalisation or extension. A notebook that did not run, or a failing claim of
the collection's own, is a problem (:func:`problems`).
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass
from pathlib import Path

from theory_collection.claims import KINDS, VERDICTS, contradicts_paper, verdict_of
from theory_collection.formatting import value_text
from theory_collection.papers import Paper, generic_paper, registered
from theory_collection.runs import NotebookRun

# ---------------------------------------------------------------------------------------------
# The headline: which of the paper's claims and assumptions the data confirm, contradict or leave open

# The kinds that count as evidence on data for a claim or assumption of the paper (derivations
# confirm the theory, checks the instruments; both are counted separately).
EVIDENCE_KINDS = ("paper", "assumption", "prediction")
# The headline's column for the theory itself: the derivations (symbolic or exact solver against an
# independent numeric route), whatever data they were made on.
THEORY_COLUMN = "theory"
# A cell is "contradicted" only by a paper's own statement failing under its conditions; any other failing
# evidence (the collection's formalisation, its own prediction, another paper's result, a test outside the
# paper's conditions) makes it "formalisation fails".
HEADLINE = ("confirmed", "contradicted", "formalisation fails", "inconclusive", "not tested")


def subject_of(claim_id: str) -> str:
    """The paper claim or assumption a claim id is about: ``"C3"`` for ``"C3.x_star.trained"``."""
    return claim_id.split(".", 1)[0]


def headline(records: list[dict], subjects: list[str], data_kinds: list[str]) -> dict[str, dict[str, dict]]:
    """For each subject (``C1`` ... ``A4``) and kind of data, the verdict of the evidence and its claim ids.

    A cell is ``contradicted`` when an evidence claim about it contradicts the paper
    (:func:`contradicts_paper`), else ``formalisation fails`` when any other evidence claim fails, else
    ``inconclusive`` when any is inconclusive, else ``confirmed`` when there is evidence and all of it holds,
    else ``not tested``. The evidence of a data column is the paper, assumption and prediction claims
    measured on that data; the evidence of the column :data:`THEORY_COLUMN` is the derivation claims.
    Returns ``{subject: {data: {"verdict": ..., "ids": [...]}}}``.
    """
    table = {}
    for subject in subjects:
        table[subject] = {}
        for data in data_kinds:
            evidence = [
                r
                for r in records
                if subject_of(r["id"]) == subject
                and (
                    r.get("kind") == "derivation"
                    if data == THEORY_COLUMN
                    else r.get("data", "") == data and r.get("kind", "prediction") in EVIDENCE_KINDS
                )
            ]
            verdicts = {verdict_of(r) for r in evidence}
            verdict = (
                "contradicted"
                if any(contradicts_paper(r) for r in evidence)
                else "formalisation fails"
                if "fails" in verdicts
                else "inconclusive"
                if "inconclusive" in verdicts
                else "confirmed"
                if evidence
                else "not tested"
            )
            table[subject][data] = {"verdict": verdict, "ids": [r["id"] for r in evidence]}
    return table


def counts_by_kind(records: list[dict]) -> dict[str, dict[str, int]]:
    """``{kind: {verdict: count}}`` over the records, kinds and verdicts in their canonical order."""
    counts = {kind: {verdict: 0 for verdict in VERDICTS} for kind in KINDS}
    for record in records:
        counts[record.get("kind", "prediction")][verdict_of(record)] += 1
    return {kind: row for kind, row in counts.items() if sum(row.values())}


PROFILE_MEANING = {
    "quick": "small problems and short runs (minutes on 2 cores); tolerances include the finite-size error",
    "paper": "the sizes and run lengths of the paper's experiments",
}


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
            else f"against {value_text(c.get('theory'))} ({c['tolerance']})"
            if c.get("theory") is not None
            else f"({c['tolerance']})"
        )
        why = c.get("reason") or c.get("criterion_reason") or c.get("tolerance_reason") or ""
        origin = ", ".join(x for x in (c.get("source", ""), c.get("location", "")) if x)
        parts = [f"{c['id']} ({c.get('kind', '')}; {origin or 'no source given'}): {c['statement']}"]
        parts.append(f"Measured {value_text(c.get('measured'))} {against}" + (f": {why}" if why else "") + ".")
        if c.get("conditions"):
            parts.append(f"Tested in: {c['conditions']}.")
        if self.beside:
            parts.append(
                "In the same runs: "
                + "; ".join(f"{b['id']} {verdict_of(b)} ({value_text(b.get('measured'))})" for b in self.beside)
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
            f"theory {value_text(c['theory'])}, measured {value_text(c['measured'])}, {c['tolerance']}"
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


def headline_head(paper: Paper) -> list[str]:
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
