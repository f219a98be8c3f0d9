"""The provenance table that opens each paper's ``THEORY.md``, generated from the paper's declared claims.

Every claim a notebook records is declared once as a :class:`theory_collection.claims.ClaimSpec` with its
provenance. A paper lists its declarations per notebook through the entry point group
``theory_collection.claim_specs`` (``pyproject.toml``: ``name = "package.claims:specs_by_notebook"``, a function
returning ``{notebook stem: {claim id: spec}}``). :func:`provenance_table` renders them as one Markdown table
(claim, kind, source, where a reader finds it, the conditions it is tested in, whether those are the paper's own),
which ``THEORY.md`` holds between :data:`TABLE_START` and :data:`TABLE_END`; a test keeps each paper's notes in step
with its declarations, and ``python -m theory_collection.provenance`` rewrites them.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Mapping
from functools import cache
from importlib.metadata import entry_points
from pathlib import Path

from theory_collection.claims import PAPER_SOURCES, ClaimSpec
from theory_collection.papers import registered

ENTRY_POINT_GROUP = "theory_collection.claim_specs"
TABLE_START = "<!-- provenance table: generated from the claim specs by python -m theory_collection.provenance -->"
TABLE_END = "<!-- end of the provenance table -->"
COLUMNS = ("claim", "kind", "source", "where a reader finds it", "conditions of the test", "the paper's conditions")


@cache
def specs_by_notebook(paper: str) -> dict[str, dict[str, ClaimSpec]]:
    """The claims ``paper`` declares, ``{notebook stem: {claim id: spec}}`` in notebook order ({} if none)."""
    for point in entry_points(group=ENTRY_POINT_GROUP):
        if point.name == paper:
            return point.load()()
    return {}


def in_paper_conditions(spec: ClaimSpec) -> str:
    """Whether a claim is tested in the paper's own conditions, as the table says it."""
    if spec.source not in PAPER_SOURCES:
        return "no: not a statement of the paper or its code"
    if spec.paper_conditions:
        return "yes, when the run is the configuration its source fixes (its conditions name any departure)"
    return "decided per run: yes only where the run is the configuration its source fixes"


def cell_text(text: str) -> str:
    """A spec's text in a table cell: on one line, pipes escaped, ``{name}`` fields (filled by the run) in code font."""
    text = re.sub(r"\{(\w+)(?:[:!][^}]*)?\}", r"`\1`", " ".join(str(text).split()))
    return text.replace("{{", "{").replace("}}", "}").replace("|", "\\|")


def provenance_table(by_notebook: Mapping[str, Mapping[str, ClaimSpec]]) -> str:
    """The Markdown table of every declared claim, between :data:`TABLE_START` and :data:`TABLE_END`."""
    lines = [TABLE_START, "", "| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    for notebook, specs in by_notebook.items():
        for spec in specs.values():
            cells = (
                f"`{spec.id}` ({notebook[:2]})",
                spec.kind,
                spec.source,
                cell_text(spec.location),
                cell_text(spec.conditions),
                in_paper_conditions(spec),
            )
            lines.append("| " + " | ".join(cells) + " |")
    return "\n".join([*lines, "", TABLE_END])


def table_in(notes: str) -> str:
    """The provenance table a ``THEORY.md`` text holds (ValueError when it holds none)."""
    start, end = notes.index(TABLE_START), notes.index(TABLE_END) + len(TABLE_END)
    return notes[start:end]


def write_provenance_table(path: str | Path, by_notebook: Mapping[str, Mapping[str, ClaimSpec]]) -> bool:
    """Replace the table in the notes at ``path`` by the one of ``by_notebook``; True when it changed."""
    path = Path(path)
    notes = path.read_text(encoding="utf-8")
    updated = notes.replace(table_in(notes), provenance_table(by_notebook))
    if updated != notes:
        path.write_text(updated, encoding="utf-8")
    return updated != notes


def main() -> int:
    """Rewrite the provenance table of every registered paper's ``THEORY.md``."""
    for paper in registered().values():
        by_notebook = specs_by_notebook(paper.name)
        if by_notebook:
            changed = write_provenance_table(paper.theory_notes, by_notebook)
            print(f"{paper.theory_notes}: {'rewritten' if changed else 'already in step'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
