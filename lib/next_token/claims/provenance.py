"""Every claim of the next-token notebooks with its provenance, as the table that opens ``THEORY.md``.

:data:`MODULES` maps each notebook to its claims module; :func:`all_specs` gathers their ``SPECS``;
:func:`provenance_table` renders them as the Markdown table that ``notebooks/next_token/THEORY.md`` holds between
:data:`TABLE_START` and :data:`TABLE_END` (a test keeps the two in step; :func:`update_theory_notes` rewrites it).
"""

from __future__ import annotations

import re
from pathlib import Path

from next_token.claims import (
    beyond_the_theorem,
    gradient_descent,
    graph_svm,
    real_text,
    retrieval_and_composition,
    token_priority_graphs,
)
from theory_collection.claims import PAPER_SOURCES, ClaimSpec

MODULES = {
    "01_token_priority_graphs": token_priority_graphs,
    "02_graph_svm": graph_svm,
    "03_gradient_descent": gradient_descent,
    "04_retrieval_and_composition": retrieval_and_composition,
    "05_beyond_the_theorem": beyond_the_theorem,
    "06_real_text": real_text,
}
TABLE_START = "<!-- provenance table: generated from the claim specs by next_token.claims.provenance -->"
TABLE_END = "<!-- end of the provenance table -->"


def all_specs() -> dict[str, list[ClaimSpec]]:
    """Each notebook's claim specs, in the order its module declares them."""
    return {notebook: list(module.SPECS.values()) for notebook, module in MODULES.items()}


def in_paper_conditions(spec: ClaimSpec) -> str:
    """Whether a claim is tested in the paper's conditions, as the table says it."""
    if spec.source not in PAPER_SOURCES:
        return "no: not a statement of the paper or its code"
    if spec.paper_conditions:
        return "yes: the public code's configuration"
    return "when the run is the public code's configuration (its conditions name every departure)"


def _cell(text: str) -> str:
    """Table-safe text: pipes escaped, run-time fields shown as ⟨field⟩."""
    return re.sub(r"\{([a-z_]+)(:[^}]*)?\}", r"⟨\1⟩", text).replace("{{", "{").replace("}}", "}").replace("|", "\\|")


def provenance_table() -> str:
    """The Markdown table of every claim: notebook, id, source, where a reader finds it, conditions, whether in the
    paper's conditions. Fields filled at run time (the data, the run) appear as ⟨name⟩."""
    lines = [
        TABLE_START,
        "",
        "| notebook | claim | source | where a reader finds it | conditions | in the paper's conditions |",
        "|---|---|---|---|---|---|",
    ]
    for notebook, specs in all_specs().items():
        for spec in specs:
            cells = (
                notebook[:2],
                f"`{spec.id}`",
                spec.source,
                spec.location,
                spec.conditions,
                in_paper_conditions(spec),
            )
            lines.append("| " + " | ".join(_cell(cell) for cell in cells) + " |")
    return "\n".join([*lines, "", TABLE_END])


def update_theory_notes(path) -> None:
    """Write the current :func:`provenance_table` into the notes at ``path`` (``THEORY.md``), between the markers."""
    notes = Path(path).read_text()
    start, end = notes.index(TABLE_START), notes.index(TABLE_END) + len(TABLE_END)
    Path(path).write_text(notes[:start] + provenance_table() + notes[end:])
