"""Saved notebook outputs as a reader should find them: no progress bars, no widget state, no build paths.

Progress shows while a notebook runs (tqdm's text bars on stderr, its widget bars in JupyterLab) and
means nothing afterwards, so every saved copy drops it: the notebooks the runner executes (before
their page is written), the pages, and the committed notebooks (``theory_collection.refresh``).
:func:`clean_outputs` does it in place:

- consecutive stream outputs of one kind are merged and carriage returns applied as a terminal
  would (what follows a line's last ``\\r`` is what was on the screen);
- progress-bar lines leave stderr; a stderr output with nothing else in it is dropped, one with
  anything else (a warning) keeps that, and stays stderr, so that it is seen and fixed at its source;
- a widget output (``application/vnd.jupyter.widget-view+json``) keeps only its static fallback:
  a tqdm widget bar is dropped, an interactive explorer keeps the figure or table it carries for
  readers without a kernel (:mod:`theory_collection.explore`), a widget with no fallback is dropped;
- the notebook's saved widget state (random model ids at every run) is dropped.

:func:`relativize_paths` and its helpers show the build machine's absolute paths relative to the
report or the repository.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import nbformat

from theory_collection.papers import REPO_ROOT

WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
WIDGET_STATE = "widgets"  # the notebook metadata key of saved widget state
# tqdm's bar: "name:  41%|████      | 299/730 [00:01<00:01, 297.37it/s]" (or without a total: "299it [00:01, ...]")
PROGRESS = re.compile(r"\d+%\|.*\|\s*\d+/\d+|\d+/\d+ \[\d|\d+(?:it|[a-z]+/s)? \[\d\d:\d\d")
_WIDGET_REPR = re.compile(r"^\w+\((children|value|layout|description)=")


def is_progress_line(line: str) -> bool:
    """Whether one screen line is a tqdm progress bar."""
    return bool(PROGRESS.search(line))


def screen_lines(text: str) -> list[str]:
    """The non-blank lines a terminal shows for ``text`` (each line's text after its last carriage return)."""
    lines = [line.rsplit("\r", 1)[-1].rstrip() for line in text.replace("\r\n", "\n").split("\n")]
    return [line for line in lines if line.strip()]


def clean_outputs(nb: nbformat.NotebookNode) -> list[str]:
    """Drop the progress bars and widget state of ``nb`` in place (module docstring); return what was dropped,
    one line per output (empty when the notebook was clean)."""
    dropped = []
    for number, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        kept = []
        for output in _merged_streams(cell.get("outputs", [])):
            where = f"cell {number} (In [{cell.get('execution_count') or ' '}])"
            if output.output_type == "stream" and output.name == "stderr":
                lines = screen_lines(output.text)
                rest = [line for line in lines if not is_progress_line(line)]
                if len(rest) < len(lines) or not rest:
                    dropped.append(f"{where}: {len(lines) - len(rest)} progress line(s) on stderr")
                if not rest:
                    continue
                output.text = "\n".join(rest) + "\n"
            elif output.output_type in ("display_data", "execute_result") and WIDGET_VIEW in output.get("data", {}):
                del output.data[WIDGET_VIEW]
                plain = str(output.data.get("text/plain", ""))
                fallback = set(output.data) - {"text/plain"}
                if not fallback and (is_progress_line(plain) or _WIDGET_REPR.match(plain) or not plain.strip()):
                    dropped.append(f"{where}: a widget with no static view ({plain[:40]!r})")
                    continue
                dropped.append(f"{where}: a widget, kept as its static view")
            kept.append(output)
        cell.outputs = kept
    if WIDGET_STATE in nb.metadata:
        del nb.metadata[WIDGET_STATE]
        dropped.append("the notebook's saved widget state")
    return dropped


def clean_file(notebook: str | Path) -> list[str]:
    """:func:`clean_outputs` on a notebook file, rewritten only when something was dropped; returns what was."""
    notebook = Path(notebook)
    nb = nbformat.read(notebook, as_version=4)
    dropped = clean_outputs(nb)
    if dropped:
        nbformat.write(nb, notebook)
    return dropped


def leftovers(nb: nbformat.NotebookNode) -> list[str]:
    """What a clean notebook must not hold, one line each: stderr outputs, progress bars in any text output,
    widget outputs and saved widget state."""
    found = []
    for number, cell in enumerate(nb.cells):
        for output in cell.get("outputs", []) if cell.cell_type == "code" else []:
            where = f"cell {number} (In [{cell.get('execution_count') or ' '}])"
            texts = [output.get("text", "")] if output.output_type == "stream" else []
            texts += [str(output.get("data", {}).get(m, "")) for m in ("text/plain", "text/html")]
            if output.output_type == "stream" and output.name == "stderr":
                found.append(f"{where}: stderr output {screen_lines(output.text)[:1]}")
            elif any(is_progress_line(line) for text in texts for line in screen_lines(str(text))):
                found.append(f"{where}: a progress bar")
            if WIDGET_VIEW in output.get("data", {}):
                found.append(f"{where}: a widget output")
    if WIDGET_STATE in nb.metadata:
        found.append("saved widget state in the notebook's metadata")
    return found


def _merged_streams(outputs: list) -> list:
    merged = []
    for output in outputs:
        previous = merged[-1] if merged else None
        if (
            output.output_type == "stream"
            and previous is not None
            and previous.output_type == "stream"
            and previous.name == output.name
        ):
            previous.text += output.text
        else:
            merged.append(output)
    return merged


# ---------------------------------------------------------------------------------------------
# Paths of the build machine


def relativize_paths(nb: nbformat.NotebookNode, replacements: list[tuple[str, str]]) -> None:
    """Replace each absolute path in ``replacements`` (longest first) in every source and text output."""
    pairs = sorted(((old, new) for old, new in replacements if old), key=lambda pair: -len(pair[0]))

    def fix(text):
        if isinstance(text, list):
            return [fix(item) for item in text]
        if not isinstance(text, str):
            return text
        for old, new in pairs:
            text = text.replace(old, new)
        return text

    for cell in nb.cells:
        cell.source = fix(cell.source)
        for output in cell.get("outputs", []):
            if "text" in output:
                output.text = fix(output.text)
            for mime in ("text/plain", "text/html", "text/markdown", "text/latex"):
                if mime in output.get("data", {}):
                    output.data[mime] = fix(output.data[mime])
            if output.output_type == "error":
                output.evalue = fix(output.evalue)
                output.traceback = fix(output.traceback)


def path_replacements(output_dir: Path, root: Path, injected: str | None) -> list[tuple[str, str]]:
    """(absolute, shown) pairs: the notebook's output folder and the report relative to the report,
    the repository relative to itself, the home folder as ``~``."""
    relative = output_dir.resolve().relative_to(root.resolve()).as_posix()
    pairs = [
        (str(output_dir.resolve()), relative),
        (str(root.resolve()) + os.sep, ""),
        (str(root.resolve()), "."),
        *repository_replacements(),
    ]
    if injected and os.path.isabs(injected):  # the folder papermill was given (a staging folder, say)
        pairs.insert(0, (injected, relative))
    if root.name.startswith("."):  # a staging folder inside the report
        pairs += [(str(root.resolve().parent) + os.sep, ""), (str(root.resolve().parent), ".")]
    return [(old, new) for old, new in pairs if len(old) > 1]


def repository_replacements() -> list[tuple[str, str]]:
    """The repository shown relative to itself, the home folder as ``~``."""
    return [(str(REPO_ROOT) + os.sep, ""), (str(REPO_ROOT), "."), (str(Path.home()), "~")]


def injected_output_dir(nb: nbformat.NotebookNode) -> str | None:
    """The ``output_dir`` value papermill injected, or None."""
    for cell in nb.cells:
        if "injected-parameters" in cell.get("metadata", {}).get("tags", []):
            found = re.search(r"""^output_dir\s*=\s*(["'])(.*)\1""", cell.source, re.MULTILINE)
            if found:
                return found.group(2)
    return None


def mark_injected_cell(nb: nbformat.NotebookNode) -> None:
    """Say in the injected parameters cell that its paths are relative to the report folder."""
    for cell in nb.cells:
        if "injected-parameters" in cell.get("metadata", {}).get("tags", []):
            cell.source = cell.source.replace("# Parameters", "# Parameters (paths relative to the report folder)", 1)
