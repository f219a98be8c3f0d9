"""Every next-token claim says where it comes from: a complete provenance, a section that is a heading of its notebook,
a figure its notebook saves, the table that opens THEORY.md, and nothing outside the claims modules records a claim."""

import re
from pathlib import Path

import nbformat
import pytest

from next_token import public_code
from next_token.claims import provenance
from next_token.paper import PAPER
from theory_collection.claims import PAPER_SOURCES, SOURCES, Provenance

ROOT = Path(__file__).resolve().parents[2]
SPECS = [(notebook, spec) for notebook, specs in provenance.all_specs().items() for spec in specs]
IDS = [spec.id for _, spec in SPECS]


def _notebook(stem: str):
    return nbformat.read(PAPER.notebook_dir / f"{stem}.ipynb", as_version=4)


def _normal(text: str) -> str:
    return re.sub(r"[\W_]+", "", re.sub(r"[*`]", "", text).lower())


def test_every_notebook_has_its_claims_module():
    assert sorted(provenance.MODULES) == sorted(PAPER.notebook_profiles)
    for notebook, module in provenance.MODULES.items():
        assert module.__name__ == f"next_token.claims.{notebook[3:]}"
    assert len(IDS) == len(set(IDS)), "a claim id is declared twice"


@pytest.mark.parametrize("notebook, spec", SPECS, ids=IDS)
def test_provenance_is_complete(notebook, spec):
    assert spec.source in SOURCES
    assert not Provenance(spec.source, spec.location, spec.conditions, spec.paper_conditions).problems()
    if spec.source in PAPER_SOURCES:
        assert "abstract" in spec.location or re.search(r"\w+\.(py|ipynb)", spec.location), spec.location
    if spec.source == "paper code":
        assert re.search(r"\w+\.(py|ipynb)", spec.location), "a claim of the code cites its file"
    if spec.source == "other work":
        assert re.search(r"\(\d{4}\)", spec.location), "another paper is cited with its year"
    if spec.paper_conditions:
        assert spec.source in PAPER_SOURCES


@pytest.mark.parametrize("notebook, spec", SPECS, ids=IDS)
def test_section_is_a_heading_and_figure_is_saved_by_its_notebook(notebook, spec):
    nb = _notebook(notebook)
    headings = [
        _normal(line.lstrip("#"))
        for cell in nb.cells
        if cell.cell_type == "markdown"
        for line in cell.source.splitlines()
        if line.startswith("#")
    ]
    assert _normal(spec.section) in headings, f"{spec.id}: {spec.section!r} is no heading of {notebook}"
    saved = set()
    for cell in nb.cells:
        if cell.cell_type == "code":
            for name in re.findall(r"""save_figure\([^,]+,\s*f?["']([^"']+)["']""", cell.source):
                saved.add(name.replace("{NAME}", notebook))
    assert spec.figure in saved, f"{spec.id}: figure {spec.figure!r} is not saved by {notebook}"


def test_theory_notes_open_with_the_provenance_table():
    notes = PAPER.theory_notes.read_text()
    start, end = notes.index(provenance.TABLE_START), notes.index(provenance.TABLE_END) + len(provenance.TABLE_END)
    assert notes[start:end] == provenance.provenance_table(), "regenerate: provenance.update_theory_notes"
    assert notes.index("## Provenance of every claim") < notes.index("## 1. Setting and notation")


def test_the_acyclic_assumption_is_cited_and_tested_on_both_sides():
    assert "data_utils.py:17" in public_code.ACYCLIC_ASSUMPTION
    specs = dict((spec.id, spec) for _, spec in SPECS)
    assert specs["N4.authors_acyclic"].paper_conditions
    assert specs["N5.authors_acyclic"].kind == "observation"  # S_fin = {0} on acyclic data: nothing to test
    for claim in ("N4", "N5"):
        assert not specs[f"{claim}.authors_cyclic"].paper_conditions
        assert "acyclic assumption" in specs[f"{claim}.authors_cyclic"].conditions


def test_only_the_claims_modules_record_claims():
    recording = re.compile(r"\.(check|observe|record)\(|ClaimSpec\(")
    for path in (ROOT / "lib" / "next_token").rglob("*.py"):
        if path.parent.name != "claims":
            assert not recording.search(path.read_text()), f"{path.name} records claims"
    for notebook in PAPER.notebook_dir.glob("*.ipynb"):
        for cell in nbformat.read(notebook, as_version=4).cells:
            if cell.cell_type == "code":
                assert not recording.search(cell.source), f"{notebook.name} records a claim itself"
