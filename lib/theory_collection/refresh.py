"""Re-execute the committed notebooks in place, at their default profile, with clean outputs.

The notebooks of ``notebooks/<paper>/`` are committed with the outputs of their default (quick) profile.
This refreshes those outputs without touching anything else::

    python -m theory_collection.refresh                          # every notebook of every paper
    python -m theory_collection.refresh --paper next_token
    python -m theory_collection.refresh --notebook topic_structure/04 --notebook next_token/01
    make notebooks-refresh                                       # the same as the first line

Each notebook runs as the runner runs it (papermill, its own folder as working directory, one compute
thread, no parameter injected: the notebook writes where it writes when opened in JupyterLab). Only a
notebook that ran to its end is written back, and only its outputs and execution counts change:
sources, cell ids, tags and the notebook's metadata stay as committed, less what changes at every run
(papermill's timings, saved widget state); the notebook records how long the run took
(:func:`theory_collection.runner.committed_seconds`: a report with no earlier run starts the longest first).
The outputs are cleaned (:mod:`theory_collection.notebook_outputs`:
no progress bar, no widget view without its static fallback) and show the repository's paths relative to
it and the home folder as ``~``. A stderr output that is not a progress bar (a warning) stays, and is
named: fix it at its source (``tests/core/test_committed_notebooks.py`` fails while one is there).

Exit status: 0 when every notebook ran and was written back, 1 when one failed (it is left as it was),
2 on bad input.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from theory_collection import runner
from theory_collection.notebook_outputs import clean_outputs, leftovers, relativize_paths, repository_replacements

# Cell and notebook metadata that change at every run: not written back.
RUN_METADATA = ("papermill", "execution")


@dataclass
class Refreshed:
    """One notebook's refresh: its path, the error that stopped it ("" when written back), what was left out."""

    path: Path
    error: str = ""
    dropped: list[str] = field(default_factory=list)  # progress bars and widget views left out
    remaining: list[str] = field(default_factory=list)  # what still is not clean (a warning on stderr)
    seconds: float = 0.0


def refresh_notebook(path: str | Path, scratch: str | Path) -> Refreshed:
    """Execute ``path`` into ``scratch`` and, when it ran to its end, write its clean outputs back into ``path``."""
    path = Path(path).resolve()
    original = nbformat.read(path, as_version=4)
    run = runner.run_notebook(path, Path(scratch) / path.stem, parameters={})
    result = Refreshed(path, seconds=run.seconds)
    if run.error or not run.executed.is_file():
        result.error = run.error or "the executed notebook was not written"
        return result
    executed = nbformat.read(run.executed, as_version=4)
    result.error = merge_outputs(original, executed)
    if result.error:
        return result
    result.dropped = clean_outputs(original)
    relativize_paths(original, repository_replacements())
    for cell in original.cells:
        for key in RUN_METADATA:
            cell.metadata.pop(key, None)
    for key in RUN_METADATA:
        original.metadata.pop(key, None)
    record_seconds(original, run.seconds)
    result.remaining = leftovers(original)
    nbformat.write(original, path)
    return result


def record_seconds(notebook: nbformat.NotebookNode, seconds: float) -> None:
    """Record how long the notebook's run took (:func:`theory_collection.runner.committed_seconds`), in whole
    seconds, where none is recorded or the recorded time is off by more than a quarter and 5 s: so that a
    refresh rewrites it only where the time really changed, not for the jitter of one run to the next."""
    record = notebook.metadata.get(runner.TIMING_METADATA, {})
    recorded = record.get("default_profile_seconds") if isinstance(record, dict) else None
    if isinstance(recorded, int | float) and abs(seconds - recorded) <= max(0.25 * recorded, 5.0):
        return
    notebook.metadata[runner.TIMING_METADATA] = {"default_profile_seconds": round(seconds)}


def merge_outputs(original: nbformat.NotebookNode, executed: nbformat.NotebookNode) -> str:
    """Copy each code cell's outputs and execution count from ``executed`` into ``original``; "" on success,
    else why the two notebooks do not match cell for cell (nothing is copied then)."""
    if len(original.cells) != len(executed.cells):
        return f"the executed notebook has {len(executed.cells)} cells, the committed one {len(original.cells)}"
    for number, (mine, theirs) in enumerate(zip(original.cells, executed.cells)):
        if mine.cell_type != theirs.cell_type or mine.source != theirs.source:
            return f"cell {number} differs between the committed and the executed notebook"
    for mine, theirs in zip(original.cells, executed.cells):
        if mine.cell_type == "code":
            mine.outputs = theirs.outputs
            mine.execution_count = theirs.execution_count
    return ""


def refresh(paths: list[Path], out=None) -> list[Refreshed]:
    """Refresh each notebook in turn (:func:`refresh_notebook`), saying how each went on ``out`` (default
    stderr); return the results."""
    out = out or sys.stderr
    results = []
    with tempfile.TemporaryDirectory(prefix="refresh-") as scratch:
        for path in paths:
            print(f"{path.parent.name}/{path.stem}: running", file=out, flush=True)
            result = refresh_notebook(path, scratch)
            results.append(result)
            if result.error:
                print(f"  not written, left as it was: {result.error}", file=out)
                continue
            print(f"  written in {result.seconds:.0f} s; left out: {len(result.dropped)} output(s)", file=out)
            for line in result.remaining:
                print(f"  still there (fix it at its source): {line}", file=out)
    return results


def main(argv: list[str] | None = None) -> int:
    """The command line (see the module docstring)."""
    parser = argparse.ArgumentParser(
        prog="python -m theory_collection.refresh",
        description="Re-execute the committed notebooks in place at their default profile, with clean outputs.",
    )
    parser.add_argument("--paper", action="append", help="a paper's notebooks (repeatable; default: every paper)")
    parser.add_argument(
        "--notebook", action="append", help="a notebook: stem, NN or paper/NN (repeatable; default: all)"
    )
    args = parser.parse_args(argv)
    try:
        paths = runner.select_notebooks(args.notebook, paper_names=args.paper)
    except (ValueError, KeyError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    results = refresh(paths)
    failed = [r for r in results if r.error]
    print(f"{len(results) - len(failed)} of {len(results)} notebooks written back", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
