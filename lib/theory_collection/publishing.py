"""Publishing a report run: private staging, folders swapped into place, failed attempts kept beside results.

A run (holding the folder's lock, :mod:`theory_collection.locks`) executes its notebooks into its own
staging folder ``<out>/.staging-XXXX/`` and writes each folder's ``run.json`` there. Once every notebook
has run, :func:`publish` moves each into ``<out>/<paper>/NN_name/``:

- a notebook that ran through (ok, or stopped by its failing claims) replaces the earlier folder. On
  Linux the two folders are exchanged in one ``renameat2(RENAME_EXCHANGE)``, so the folder is never
  absent; elsewhere two renames leave it absent for an instant, and the earlier folder waits in
  ``<out>/.retired-XXXX/`` until the swap is done;
- a notebook that failed does not replace an earlier folder whose run went through: it is kept inside
  it as ``failed_attempt/`` (its executed notebook and ``run.json``), and the report shows it beside the
  kept result. Without such an earlier result the failed run is published as any other.

``<out>/.incomplete.json`` names the notebooks being replaced, from before the first rename until the
summaries describe them (:func:`theory_collection.runner.write_report`). The next run into the folder
(:func:`clear_leftovers`) moves back any earlier folder a stopped swap left retired, removes the staging
and retired folders of runs that are gone, and keeps the marker until its own summaries are written.
"""

from __future__ import annotations

import ctypes
import errno
import json
import os
import shutil
import tempfile
from pathlib import Path

from theory_collection import papers
from theory_collection.claims import write_atomic
from theory_collection.runs import (
    ATTEMPT_DIR,
    INCOMPLETE,
    NotebookRun,
    incomplete_notebooks,
    load_report,
    read_folder,
    read_runs_file,
    run_from_record,
)

STAGING = ".staging"  # prefix of a run's private staging folder
RETIRED = ".retired"  # prefix of the folder holding replaced folders until a publish is done
_RENAME_EXCHANGE = 2
_AT_FDCWD = -100


def new_staging(out: Path) -> Path:
    """A staging folder of this run's own, ``<out>/.staging-XXXX/``."""
    return Path(tempfile.mkdtemp(dir=out, prefix=f"{STAGING}-"))


def clear_leftovers(out: Path, notify=print) -> None:
    """Tidy what runs that are gone left in ``out`` (call while holding its lock).

    An earlier folder that a stopped swap left in a retired folder goes back into place; then the
    staging and retired folders are removed. ``.incomplete.json`` stays until summaries are written."""
    marker = _read_marker(out)
    for retired in (Path(name) for name in marker.get("retired", [])):
        for folder in sorted(retired.glob("*/*")) if retired.is_dir() and retired.parent == out else []:
            final = out / folder.parent.name / folder.name
            if not folder.parent.name.startswith(".") and not final.exists():
                folder.rename(final)
                notify(f"restored {final.relative_to(out)}: a run stopped while it replaced it")
    for leftover in sorted(out.glob(f"{STAGING}*")) + sorted(out.glob(f"{RETIRED}*")):
        shutil.rmtree(leftover, ignore_errors=True)


def _read_marker(out: Path) -> dict:
    try:
        record = json.loads((out / INCOMPLETE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return record if isinstance(record, dict) else {}


def mark_incomplete(out: Path, keys: list[str], retired: Path | None = None) -> None:
    """Name ``keys`` (and where replaced folders wait) in ``.incomplete.json``, beside what it already names."""
    marker = _read_marker(out)
    notebooks = list(dict.fromkeys([*incomplete_notebooks(out), *keys]))
    notebooks = [name for name in notebooks if not name.startswith("(")]
    held = list(dict.fromkeys([*marker.get("retired", []), *([str(retired)] if retired else [])]))
    record = {
        "notebooks": notebooks,
        "retired": held,
        "meaning": "these notebooks were being replaced; the summaries may not describe them",
    }
    write_atomic(out / INCOMPLETE, json.dumps(record, indent=2) + "\n")


def exchange(first: Path, second: Path) -> bool:
    """Swap two folders in one step (Linux ``renameat2``); False where the system cannot."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
        return False
    result = renameat2(_AT_FDCWD, os.fsencode(first), _AT_FDCWD, os.fsencode(second), _RENAME_EXCHANGE)
    if result == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.EINVAL, errno.ENOSYS, errno.ENOTSUP):
        return False
    raise OSError(code, os.strerror(code), str(second))


def earlier_result(final: Path, key: str, listed: dict[str, NotebookRun]) -> NotebookRun | None:
    """The run in the published folder ``final``, if it went through (from its ``run.json``, else from the
    report's ``runs.json`` entry for a folder written before folders described themselves)."""
    if not final.is_dir():
        return None
    run = read_folder(final) or listed.get(key)
    return run if run is not None and run.ran_through else None


def listed_runs(out: Path) -> dict[str, NotebookRun]:
    """The runs ``runs.json`` lists, by ``paper/notebook`` (none when there is no readable one)."""
    try:
        record = read_runs_file(out)
    except ValueError:
        return {}
    runs = [run_from_record(entry, out / entry["paper"] / entry["notebook"]) for entry in record["runs"]]
    return {run.key: run for run in runs}


def publish(runs: list[NotebookRun], out: Path, staging: Path) -> list[NotebookRun]:
    """Move each staged run into ``out/<paper>/<stem>/`` (see the module docstring); return what the report
    now holds for each: the new run, or the earlier result with the failed new run as its ``attempt``."""
    retired = Path(tempfile.mkdtemp(dir=out, prefix=f"{RETIRED}-"))
    mark_incomplete(out, [run.key for run in runs], retired)
    listed = listed_runs(out)
    published = []
    for run in runs:
        final = out / run.paper / run.notebook
        final.parent.mkdir(parents=True, exist_ok=True)
        kept = None if run.ran_through else earlier_result(final, run.key, listed)
        if kept is not None:
            attempt = final / ATTEMPT_DIR
            if attempt.exists():
                (retired / ".attempts" / run.paper).mkdir(parents=True, exist_ok=True)
                attempt.rename(retired / ".attempts" / run.paper / run.notebook)  # a newer attempt replaces it
            if run.html is not None:  # its links were made for the notebook's own folder
                run.html.unlink(missing_ok=True)
                run.html = None
            run.output_dir.rename(attempt)
            run.output_dir = attempt
            kept.attempt = run
            published.append(kept)
            continue
        if final.exists():
            (retired / run.paper).mkdir(parents=True, exist_ok=True)
            if exchange(run.output_dir, final):
                run.output_dir.rename(retired / run.paper / run.notebook)  # now the earlier folder
            else:
                final.rename(retired / run.paper / run.notebook)
                run.output_dir.rename(final)
        else:
            run.output_dir.rename(final)
        if run.html is not None:
            run.html = final / run.html.name
        run.output_dir = final
        published.append(run)
    shutil.rmtree(staging, ignore_errors=True)
    shutil.rmtree(retired, ignore_errors=True)
    marker = _read_marker(out)
    if marker:  # nothing waits in the retired folder any more
        marker["retired"] = [name for name in marker.get("retired", []) if name != str(retired)]
        write_atomic(out / INCOMPLETE, json.dumps(marker, indent=2) + "\n")
    return published


def report_runs(out: Path, published: list[NotebookRun]) -> list[NotebookRun]:
    """Every notebook of the report in ``out`` after ``published`` joined it, in reading order: those
    ``runs.json`` lists, every folder that describes itself (``run.json``), and the published runs."""
    found: dict[str, NotebookRun] = {}
    if (out / "runs.json").exists():
        found.update((run.key, run) for run in load_report(out, marked=False)[1])
    for folder in sorted(out.glob("[!._]*/[!._]*")):
        run = read_folder(folder) if folder.is_dir() else None
        if run is not None:
            found[run.key] = run
    found.update((run.key, run) for run in published)
    order = {name: index for index, name in enumerate(papers.registered())}
    return sorted(found.values(), key=lambda run: (order.get(run.paper, len(order)), run.paper, run.notebook))
