"""Each paper's THEORY.md opens with the provenance table of every claim it declares, in step with the declarations."""

import dataclasses

import pytest

from theory_collection import papers, provenance
from theory_collection.claims import Provenance

PAPERS = list(papers.registered())


@pytest.mark.parametrize("paper", PAPERS)
def test_every_paper_declares_its_claims_with_complete_provenance(paper):
    by_notebook = provenance.specs_by_notebook(paper)
    assert sorted(by_notebook) == sorted(papers.get(paper).notebook_profiles), "one claims module per notebook"
    ids = [claim_id for specs in by_notebook.values() for claim_id in specs]
    assert ids and len(ids) == len(set(ids)), "a claim id is declared twice"
    for specs in by_notebook.values():
        for spec in specs.values():
            assert not Provenance(spec.source, spec.location, spec.conditions, spec.paper_conditions).problems(), (
                spec.id
            )


@pytest.mark.parametrize("paper", PAPERS)
def test_the_theory_notes_hold_the_table_of_the_declarations(paper):
    notes = papers.get(paper).theory_notes.read_text(encoding="utf-8")
    by_notebook = provenance.specs_by_notebook(paper)
    assert provenance.table_in(notes) == provenance.provenance_table(by_notebook), (
        "regenerate: python -m theory_collection.provenance"
    )


def test_a_changed_declaration_no_longer_matches_the_notes():
    paper = PAPERS[0]
    notes = papers.get(paper).theory_notes.read_text(encoding="utf-8")
    by_notebook = provenance.specs_by_notebook(paper)
    notebook, specs = next(iter(by_notebook.items()))
    claim_id, spec = next(iter(specs.items()))
    other = "collection" if spec.source != "collection" else "formalised"
    changed = {**by_notebook, notebook: {**specs, claim_id: dataclasses.replace(spec, source=other)}}
    assert provenance.provenance_table(changed) != provenance.table_in(notes)
    row = next(line for line in provenance.provenance_table(changed).splitlines() if f"`{claim_id}`" in line)
    assert f"| {other} |" in row


def test_a_row_shows_run_fields_in_code_font_and_escapes_pipes():
    assert (
        provenance.cell_text("T = {num_topics}, lr {learning_rate:g} | x")
        == "T = `num_topics`, lr `learning_rate` \\| x"
    )
