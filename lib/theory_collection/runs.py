"""What a report ran: each notebook's run, its record on disk, and the report read back.

Below :mod:`theory_collection.runner` (which makes runs) and :mod:`theory_collection.report` (which
renders them); both import this module, neither imports the other's internals through it.

Every notebook folder of a report describes itself: ``<out>/<paper>/NN_name/run.json`` holds that
run's paper, notebook, profile, overrides, date, commit, start, time and error, written before the
folder is published. ``<out>/runs.json`` is the aggregate over every folder of the report (what
``compare`` and the next run read): a partial run (``--notebook``, ``--paper``) replaces only its
notebooks' entries, so the report keeps listing every notebook, each with the date and commit of its
own run. A newer attempt that failed while an earlier run of the same notebook had run through is
kept beside that earlier result, in ``<out>/<paper>/NN_name/failed_attempt/`` (its executed notebook
and ``run.json``), and shown with it.

:func:`load_report` reads a report back for ``compare`` and refuses, with one line, anything that is
not one: no ``runs.json``, missing keys, a name that is not a folder name. A notebook listed there
whose folder or ``claims.json`` is gone is ``missing``; one named by ``.incomplete.json`` (a run
stopped while it replaced folders) is ``incomplete``.
"""

from __future__ import annotations

import json
import re
import subprocess
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from theory_collection.claims import OWN_KINDS, load_claims, verdict_of, write_atomic
from theory_collection.papers import REPO_ROOT

RUNS_FILE = "runs.json"  # the report's aggregate: every notebook's run
RUN_FILE = "run.json"  # one notebook folder's own run
INCOMPLETE = ".incomplete.json"  # names the notebooks whose folders were being replaced
ATTEMPT_DIR = "failed_attempt"  # a failed newer attempt, kept inside the folder of the result it did not replace
RUNS_FORMAT = 2  # runs.json with each run's own date, commit, profile and overrides
DEFECTS = ("missing", "incomplete")  # a listed notebook whose files are not (all) there


@dataclass
class NotebookRun:
    """The outcome of executing one notebook into ``output_dir``."""

    notebook: str  # stem, e.g. "03_value_matrix"
    output_dir: Path
    paper: str = ""  # the paper's name (its folder), e.g. "topic_structure"
    error: str = ""  # "" when the notebook ran to the end or was stopped only by its failing claims
    claims: list[dict] = field(default_factory=list)
    seconds: float = 0.0
    html: Path | None = None
    started: float = 0.0  # when it started, seconds since the epoch (0: not recorded)
    date: str = ""  # when it ran ("2026-12-06 06:45 UTC"; "" when not recorded)
    commit: str = ""  # the collection's commit it ran from
    profile: str = ""
    overrides: dict = field(default_factory=dict)  # the parameters it received besides profile and output_dir
    attempt: NotebookRun | None = None  # a newer attempt that failed, kept beside this result
    defect: str = ""  # "missing" or "incomplete" (see DEFECTS) for a run read back whose files are not all there

    @property
    def executed(self) -> Path:
        """The executed notebook, ``<output_dir>/<stem>.ipynb``."""
        return self.output_dir / f"{self.notebook}.ipynb"

    @property
    def key(self) -> str:
        """``paper/notebook``, as a report names a run."""
        return f"{self.paper}/{self.notebook}"

    @property
    def failed_claims(self) -> list[dict]:
        """Every claim whose verdict is ``fails``: the collection's own and the paper's."""
        return [c for c in self.claims if verdict_of(c) == "fails"]

    @property
    def broken_claims(self) -> list[dict]:
        """Failing derivations, predictions and checks: the collection itself is wrong somewhere."""
        return [c for c in self.failed_claims if c.get("kind", "prediction") in OWN_KINDS]

    @property
    def findings(self) -> list[dict]:
        """Failing paper claims and assumptions: findings about a paper or its formalisation (results, not problems)."""
        return [c for c in self.failed_claims if c.get("kind", "prediction") not in OWN_KINDS]

    @property
    def status(self) -> str:
        """ "missing" or "incomplete" (a run read back whose files are not all there), "error" (did not run
        through), "claims fail" (ran; one of the collection's own claims fails) or "ok".

        A notebook whose only failing claims are the paper's (findings) is "ok": it ran and it
        reports what the data say.
        """
        if self.defect:
            return self.defect
        if self.error:
            return "error"
        return "claims fail" if self.broken_claims else "ok"

    @property
    def ran_through(self) -> bool:
        """Whether this is a result worth keeping: the notebook ran to its end (or to its failing claims)."""
        return not self.defect and not self.error

    @property
    def figures(self) -> list[Path]:
        """The run's PNG figures (each has an SVG twin)."""
        return sorted((self.output_dir / "figures").glob("*.png"))


# ---------------------------------------------------------------------------------------------
# When and from what


@dataclass
class BuildInfo:
    """When and from what a report (or one notebook's run) was made."""

    date: str
    commit: str
    profile: str
    overrides: dict = field(default_factory=dict)

    @classmethod
    def now(cls, profile: str, overrides: dict | None = None) -> BuildInfo:
        """The current time (UTC) and git commit of the repository."""
        return cls(now_text(), git_commit(), profile, dict(overrides or {}))


def now_text(seconds: float = 0.0) -> str:
    """A time as reports show it, ``2026-12-06 06:45 UTC``: ``seconds`` since the epoch, or now (0)."""
    return (datetime.fromtimestamp(seconds, UTC) if seconds else datetime.now(UTC)).strftime("%Y-%m-%d %H:%M UTC")


def git_commit(repository: Path = REPO_ROOT) -> str:
    """The short commit hash, with "+ uncommitted changes" when tracked files differ; "unknown" outside git."""

    def git(*arguments: str) -> str:
        command = ["git", "-C", str(repository), *arguments]
        return subprocess.run(command, capture_output=True, text=True, check=True, timeout=30).stdout.strip()

    try:
        commit = git("rev-parse", "--short=12", "HEAD")
        dirty = git("status", "--porcelain", "--untracked-files=no")
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return f"{commit} + uncommitted changes" if dirty else commit


# ---------------------------------------------------------------------------------------------
# Records: one notebook's run.json, the report's runs.json


def run_record(run: NotebookRun) -> dict:
    """What ``run.json`` and each entry of ``runs.json`` say about one run."""
    record = {
        "paper": run.paper,
        "notebook": run.notebook,
        "status": run.status,
        "profile": run.profile,
        "overrides": run.overrides,
        "date": run.date,
        "commit": run.commit,
        "seconds": round(run.seconds, 3),
        "started": round(run.started, 3),
        "error": run.error,
        # how many claims its claims.json held; None: the notebook wrote none (a missing file is then no defect)
        "claims": len(run.claims) if (run.output_dir / "claims.json").is_file() else None,
    }
    if run.attempt is not None:
        record["failed_attempt"] = run_record(run.attempt)
    return record


def write_run_record(run: NotebookRun) -> Path:
    """``<output_dir>/run.json``: the folder describes its own run (written before it is published)."""
    path = run.output_dir / RUN_FILE
    record = run_record(run)
    record.pop("failed_attempt", None)  # an attempt lives in its own folder, with its own run.json
    write_atomic(path, json.dumps(record, indent=1, default=str) + "\n")
    return path


def write_runs(runs: list[NotebookRun], info: BuildInfo, out: str | Path) -> Path:
    """``<out>/runs.json``: the report's build (profile, when its summaries were written and from which commit,
    every override any notebook received) and each notebook's own run (:func:`run_record`)."""
    record = {
        "format": RUNS_FORMAT,
        "profile": info.profile,
        "date": info.date,
        "commit": info.commit,
        "overrides": info.overrides,
        "runs": [run_record(r) for r in runs],
    }
    path = Path(out) / RUNS_FILE
    write_atomic(path, json.dumps(record, indent=1, default=str) + "\n")
    return path


_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.+-]*")  # a paper's or notebook's folder name (no separators, no "..")
_ENTRY_KEYS = {"paper": str, "notebook": str, "seconds": (int, float), "error": str}


def _checked_entry(entry, where: str) -> dict:
    if not isinstance(entry, dict):
        raise ValueError(f"{where} is not an object")
    for key, kind in _ENTRY_KEYS.items():
        if key not in entry:
            raise ValueError(f"{where} has no {key!r}")
        if not isinstance(entry[key], kind) or isinstance(entry[key], bool):
            raise ValueError(f"{where}: {key!r} is {entry[key]!r}")
    for key in ("paper", "notebook"):
        if not _NAME.fullmatch(entry[key]):
            raise ValueError(f"{where}: {key!r} {entry[key]!r} is not a folder name")
    if not isinstance(entry.get("overrides", {}), dict):
        raise ValueError(f"{where}: 'overrides' is not an object")
    return entry


def run_from_record(entry: dict, folder: Path, build: BuildInfo | None = None) -> NotebookRun:
    """A run read back from its record, with the claims of ``<folder>/claims.json`` when it is there.

    ``build`` fills what a record written before runs had their own date and commit does not say.
    """
    build = build or BuildInfo("", "", "")
    claims_file, html_page = folder / "claims.json", folder / f"{entry['notebook']}.html"
    run = NotebookRun(
        entry["notebook"],
        folder,
        paper=entry["paper"],
        error=entry["error"],
        seconds=float(entry["seconds"]),
        html=html_page if html_page.is_file() else None,
        started=float(entry.get("started") or 0.0),  # not recorded before reports ran notebooks side by side
        date=str(entry.get("date") or build.date),
        commit=str(entry.get("commit") or build.commit),
        profile=str(entry.get("profile") or build.profile),
        overrides=dict(entry.get("overrides") or {}),
    )
    if not folder.is_dir():
        failed = f"; it had failed: {run.error}" if run.error else ""
        run.defect, run.error = "missing", f"its folder {folder.name}/ is not in the report{failed}"
        return run
    if claims_file.is_file():
        try:
            run.claims = load_claims(claims_file)
        except ValueError as error:
            run.error = run.error or str(error)
    elif not run.error and entry.get("claims", 0) is not None:  # a record from before "claims" counts as one
        run.defect, run.error = "missing", "it ran through, but its claims.json is not in its folder"
    return run


def read_folder(folder: Path) -> NotebookRun | None:
    """The run a notebook folder describes (``run.json``), with its failed newer attempt; None without a
    readable ``run.json`` (a folder of a report written before folders described themselves)."""
    try:
        entry = _checked_entry(json.loads((folder / RUN_FILE).read_text(encoding="utf-8")), str(folder / RUN_FILE))
    except (OSError, ValueError):
        return None
    run = run_from_record(entry, folder)
    attempt = read_folder(folder / ATTEMPT_DIR) if (folder / ATTEMPT_DIR).is_dir() else None
    if attempt is not None:
        attempt.defect = ""  # an attempt keeps its notebook, never its claims
        run.attempt = attempt
    return run


def read_runs_file(out: str | Path) -> dict:
    """``<out>/runs.json``, checked: a ValueError in one line for anything that is not a report's."""
    out = Path(out)
    path = out / RUNS_FILE
    if not out.is_dir():
        raise ValueError(f"{out} is not a report folder (not a directory)")
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        reason = getattr(error, "strerror", None) or str(error)
        raise ValueError(f"{out} is not a report written by `report` (no readable {RUNS_FILE}: {reason})") from None
    if not isinstance(record, dict):
        raise ValueError(f"{path} is not a report's {RUNS_FILE}: not a JSON object")
    for key, kind in (("profile", str), ("runs", list)):
        if not isinstance(record.get(key), kind):
            raise ValueError(f"{path} is not a report's {RUNS_FILE}: {key!r} is missing or not a {kind.__name__}")
    if not isinstance(record.get("overrides", {}), dict):
        raise ValueError(f"{path}: 'overrides' is not an object")
    for index, entry in enumerate(record["runs"]):
        _checked_entry(entry, f"{path}: run {index + 1}")
    return record


def incomplete_notebooks(out: str | Path) -> list[str]:
    """The ``paper/notebook`` names ``.incomplete.json`` lists (a run stopped while it replaced folders)."""
    try:
        record = json.loads((Path(out) / INCOMPLETE).read_text(encoding="utf-8"))
        return [str(name) for name in record.get("notebooks", [])]
    except (OSError, ValueError, AttributeError, TypeError):
        return ["(unreadable marker)"] if (Path(out) / INCOMPLETE).exists() else []


def load_report(out: str | Path, marked: bool = True) -> tuple[BuildInfo, list[NotebookRun]]:
    """A written report read back: its build and its runs, each with the claims of its ``claims.json`` and
    its failed newer attempt; a run whose files are gone is ``missing``, and (``marked``) one that
    ``.incomplete.json`` names is ``incomplete``. Raises a one-line ValueError when ``out`` is not a report."""
    out = Path(out)
    record = read_runs_file(out)
    info = BuildInfo(
        str(record.get("date", "")), str(record.get("commit", "")), record["profile"], record.get("overrides", {})
    )
    unsettled = set(incomplete_notebooks(out)) if marked else set()
    runs = []
    for entry in record["runs"]:
        folder = out / entry["paper"] / entry["notebook"]
        run = run_from_record(entry, folder, info)
        attempt = entry.get("failed_attempt")
        if isinstance(attempt, dict):
            try:
                run.attempt = run_from_record(_checked_entry(attempt, "failed attempt"), folder / ATTEMPT_DIR, info)
                run.attempt.defect, run.attempt.error = "", attempt["error"]  # its own error, whatever is left of it
            except ValueError:
                pass
        if (run.key in unsettled or "(unreadable marker)" in unsettled) and not run.defect:
            run.defect = "incomplete"
            run.error = run.error or "a run was stopped while it replaced this folder; the summaries may not match it"
        runs.append(run)
    return info, runs


def report_profile(out: str | Path) -> str | None:
    """The profile of the report in ``out`` (from ``runs.json``); None when there is none yet.

    Raises a one-line ValueError for a ``runs.json`` that cannot be read: a run must not merge into it."""
    if not (Path(out) / RUNS_FILE).exists():
        return None
    try:
        return read_runs_file(out)["profile"]
    except ValueError as error:
        raise ValueError(
            f"{error}; cannot merge into it: repair or remove {Path(out) / RUNS_FILE}, or choose another --out"
        ) from None
