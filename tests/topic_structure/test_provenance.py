"""Every claim of the topic paper is declared once, with a complete provenance, and the THEORY.md table says so.

The declarations (:mod:`topic_structure.claims`) are checked without running a notebook: each has a source, a
location and conditions; only a statement of the paper or its code may be in the paper's conditions, and such a
statement says where a reader finds it; every section and figure a claim links to exists in its notebook; the
provenance table at the top of THEORY.md is the one the declarations generate.
"""

import ast
import dataclasses
import re
from pathlib import Path

import nbformat
import pytest

from theory_collection.claims import PAPER_SOURCES, SOURCES, Provenance
from topic_structure import claims
from topic_structure.paper import PAPER

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "lib" / "topic_structure"
SPECS = claims.all_specs()


def notebook_text(stem: str) -> tuple[set[str], str]:
    """The headings (without their #) and the code of a notebook of the paper."""
    notebook = nbformat.read(PAPER.notebook_dir / f"{stem}.ipynb", as_version=4)
    headings = {
        line.lstrip("#").strip()
        for cell in notebook.cells
        if cell.cell_type == "markdown"
        for line in cell.source.splitlines()
        if line.startswith("#")
    }
    return headings, "\n".join(cell.source for cell in notebook.cells if cell.cell_type == "code")


def test_every_notebook_has_one_claims_module_named_after_it():
    notebooks = sorted(path.stem for path in PAPER.notebook_dir.glob("[0-9][0-9]_*.ipynb"))
    assert sorted(claims.MODULES) == notebooks
    for notebook, module in claims.MODULES.items():
        assert notebook[3:] == module, f"{notebook}: its claims module must be named after it"
    modules = {path.stem for path in (PACKAGE / "claims").glob("*.py")} - {"__init__", "__main__"}
    assert modules == set(claims.MODULES.values())


def test_no_module_outside_claims_records_a_claim():
    for path in PACKAGE.rglob("*.py"):
        if path.parent.name == "claims":
            continue
        tree = ast.parse(path.read_text())
        calls = {
            node.func.attr
            for node in ast.walk(tree)
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
        }
        assert not calls & {"check", "observe", "record"}, f"{path.name} records claims"


@pytest.mark.parametrize("claim_id", sorted(SPECS))
def test_every_claim_has_a_complete_provenance(claim_id):
    spec = SPECS[claim_id]
    assert Provenance(spec.source, spec.location, spec.conditions, spec.paper_conditions).problems() == []
    assert spec.source in SOURCES and spec.section and spec.figure, claim_id
    if spec.source in PAPER_SOURCES:
        assert len(spec.location) > 40, f"{claim_id}: a paper's statement says where a reader finds it"
    if spec.source == "paper code":
        assert "github.com/YuchenLi01/transformer_topic_model_LDA" in spec.location
        assert re.search(r"line \d+|lines \d+-\d+", spec.location), f"{claim_id}: cite the file and the line"
    if spec.paper_conditions:
        assert spec.source in PAPER_SOURCES


@pytest.mark.parametrize("notebook", sorted(claims.MODULES))
def test_every_section_and_figure_a_claim_links_to_exists_in_its_notebook(notebook):
    headings, code = notebook_text(notebook)
    saved = set(re.findall(r'save_figure\(\s*fig,\s*"([^"]+)"', code))
    for spec in claims.specs_by_notebook()[notebook].values():
        assert spec.section in headings, f"{spec.id}: no heading {spec.section!r} in {notebook}"
        assert spec.figure in saved, f"{spec.id}: {notebook} saves no figure {spec.figure!r}"


def test_only_the_public_code_stage_one_claims_are_in_the_paper_conditions():
    in_conditions = {claim_id for claim_id, spec in SPECS.items() if spec.paper_conditions}
    assert in_conditions == {"C2.code.uniform_attention", "C2.code.value_diagonal", "C2.code.value_contrast"}


def test_the_assumption_claims_are_the_collection_formalisation():
    for claim_id, spec in SPECS.items():
        if spec.kind == "assumption":
            assert spec.source == "formalised" and "the collection" in spec.location, claim_id
    assert "short" in SPECS["A3.wikipedia"].reason and "median" in SPECS["A3.wikipedia"].conditions


def test_the_a4_tests_of_one_run_name_each_other():
    for claim_id, spec in SPECS.items():
        if claim_id.startswith("A4") and claim_id.endswith(("_entropy", "_norms")):
            (other,) = spec.same_runs
            assert claim_id in SPECS[other].same_runs


def test_c6_says_it_is_not_the_paper_pretrained_bert():
    for claim_id, spec in SPECS.items():
        if claim_id.startswith("C6.scratch_") and spec.kind == "paper":
            assert spec.source == "formalised" and "pretrained BERT" in spec.conditions
    assert "not the paper's pretrained BERT" in PAPER.headline_rows_text["C6"]


def test_the_theory_notes_open_with_the_provenance_table_in_step():
    notes = PAPER.theory_notes.read_text()
    start, end = notes.index(claims.TABLE_START), notes.index(claims.TABLE_END) + len(claims.TABLE_END)
    assert notes[start:end] == claims.provenance_table(), "run python -m topic_structure.claims"
    assert start < notes.index("## 1. Data"), "the table opens the notes"
    rows = {line.split("`")[1]: line for line in notes[start:end].splitlines() if line.startswith("| `")}
    assert set(rows) == set(SPECS)
    for claim_id, spec in SPECS.items():
        assert f"| {spec.source} |" in rows[claim_id]


def test_the_table_follows_the_declarations(monkeypatch):
    """A changed source would no longer match the notes: the in-step test above can fail."""
    original = claims.specs_by_notebook()
    changed = dataclasses.replace(original["02_embeddings"]["C1.same_topic"], source="paper")
    edited = {**original, "02_embeddings": {**original["02_embeddings"], "C1.same_topic": changed}}
    monkeypatch.setattr(claims, "specs_by_notebook", lambda: edited)
    notes = PAPER.theory_notes.read_text()
    table = claims.provenance_table()
    assert table not in notes
    row = next(line for line in table.splitlines() if line.startswith("| `C1.same_topic`"))
    assert "| paper |" in row
