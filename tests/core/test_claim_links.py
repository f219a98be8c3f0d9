"""Each claim of a report links to the cell that records it, to its section and to its figures, with plain-text
tooltips and no build message on the page (theory_collection.claim_links, sections, index_page)."""

import re

import matplotlib
import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from theory_collection import claim_links, plots, report, runner, sections
from theory_collection.formatting import tex_to_text

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402 - after choosing the backend


def claim(id, cell=None, **extra):
    return {
        "id": id,
        "kind": "prediction",
        "statement": f"statement of {id}",
        "theory": 1.0,
        "measured": 1.0,
        "tolerance": "rel 0.1",
        "verdict": "holds",
        "holds": True,
        "cell": cell,
        **extra,
    }


PAGE = (
    '<h1 id="01--a-notebook">01 · A notebook<a class="anchor-link" href="#01--a-notebook">¶</a></h1>'
    '<h2 id="2--two-things">2 · Two <em>things</em><a class="anchor-link" href="#x">¶</a></h2>'
    '<div class="jp-Cell jp-CodeCell" id="cell-3" data-section="2--two-things">In [3]</div>'
    '<h2 id="3--l-to-lstar">3 · $L \\to L^\\star$</h2>'
    '<div class="jp-Cell jp-CodeCell" id="cell-4" data-section="3--l-to-lstar">In [4]</div>'
    '<div class="jp-Cell jp-CodeCell" id="cell-5" data-section="3--l-to-lstar">In [5]</div>'
    '<h2 id="claims">Claims</h2>'
)


@pytest.fixture
def run(tmp_path, monkeypatch):
    """A notebook folder: a page with three anchored cells, figures saved by cells 3 and 4, and a notebook whose
    source records Y.legacy under "Claims" (for claims files written before claims named their cell)."""
    output_dir = tmp_path / "paper" / "01_nb"
    output_dir.mkdir(parents=True)
    nbformat.write(
        new_notebook(
            cells=[
                new_markdown_cell("# 01 · A notebook"),
                new_markdown_cell("## Claims"),
                new_code_cell('for k in keys:\n    table.observe(f"Y.{k}_legacy", "b", 1)'),
            ]
        ),
        output_dir / "01_nb.ipynb",
    )
    for name, title, cell in (("01_nb_one", "Two things, $x^2$", 3), ("01_nb_two", r"$L \to L^\star$", 4)):
        monkeypatch.setattr(plots, "recording_cell", lambda cell=cell: cell)
        fig, ax = plt.subplots()
        ax.set_title(title)
        plots.save_figure(fig, name, output_dir / "figures")
        plt.close(fig)
    (output_dir / "01_nb.html").write_text(PAGE)
    return runner.NotebookRun(
        "01_nb",
        output_dir,
        paper="paper",
        html=output_dir / "01_nb.html",
        claims=[
            claim("X.same_cell", cell=3),
            claim("X.same_section", cell=5),
            claim("X.declared", cell=5, section="2 · Two things", figure="01_nb_one"),
            claim("X.tex_section", cell=3, section="3 · L → L*"),
            claim("X.wrong", cell=3, section="Nowhere", figure="01_nb_missing"),
            claim("Y.a_legacy"),
            claim("Y.unknown"),
        ],
    )


def test_a_claim_links_its_cell_its_section_and_its_figures(run):
    links = claim_links.claim_links(run)
    assert sections.figure_cell(run.output_dir / "figures" / "01_nb_one.png") == 3
    same = links["X.same_cell"]
    assert (same.cell.anchor, same.count, same.section.anchor) == ("cell-3", 3, "2--two-things")
    assert [p.name for p in same.figures] == ["01_nb_one.png"], "the figure its own cell saved"
    beside = links["X.same_section"]
    assert beside.section.anchor == "3--l-to-lstar" and [p.name for p in beside.figures] == ["01_nb_two.png"], (
        "no figure of its own cell: those of its section"
    )
    declared = links["X.declared"]
    assert declared.section.anchor == "2--two-things" and [p.name for p in declared.figures] == ["01_nb_one.png"]
    assert declared.cell.anchor == "cell-5", "a declared section does not move the cell"
    assert links["X.tex_section"].section.anchor == "3--l-to-lstar", "TeX in a heading matches its plain spelling"
    assert not any(links[i].note for i in ("X.same_cell", "X.same_section", "X.declared", "X.tex_section"))


def test_what_cannot_be_linked_as_declared_is_a_note_and_the_cell_still_links(run):
    links = claim_links.claim_links(run)
    wrong = links["X.wrong"]
    assert wrong.section.anchor == "2--two-things", "a section that is no heading falls back to the cell's"
    assert "'Nowhere' is not a heading" in wrong.note and "figure '01_nb_missing' was not saved" in wrong.note
    assert links["Y.a_legacy"].section.anchor == "claims", "a claims file without cells: the source's heading"
    assert links["Y.unknown"].section is None and "no section" in links["Y.unknown"].note
    run.claims.append(claim("X.gone", cell=99))
    assert "In [99] is not on the page" in claim_links.claim_links(run)["X.gone"].note


def test_the_index_links_cells_with_plain_tooltips_and_shows_no_build_message(run, tmp_path):
    index = report.index_html([run], "quick", tmp_path)
    assert 'href="paper/01_nb/01_nb.html#cell-3"' in index and 'href="paper/01_nb/01_nb.html#2--two-things"' in index
    assert 'href="#figure:paper/01_nb_one"' in index and 'id="figure:paper/01_nb_one"' in index
    assert 'saved by <a href="paper/01_nb/01_nb.html#cell-3">In [3]</a>' in index
    assert 'alt="Two things, x^2"' in index
    titles = re.findall(r'title="([^"]*)"', index)
    assert "L → L*" in titles and not [t for t in titles if "\\" in t or "$" in t], "tooltips are plain text"
    for message in ("is not a heading", "was not saved", "no section", "not on the page"):
        assert message not in index, f"a build message is on the page: {message!r}"
    assert claim_links.figure_caption(run.output_dir / "figures" / "01_nb_one.png") == "Two things, $x^2$"


def test_a_claim_recorded_in_a_kernel_names_its_cell(tmp_path):
    """Run through a real kernel: a claim's cell and a saved figure's cell are the execution counts that the
    executed notebook saves for the cells that recorded and saved them."""
    import nbclient

    record = (
        "import matplotlib\nmatplotlib.use('Agg')\nimport matplotlib.pyplot as plt\n"
        f"fig, ax = plt.subplots()\nplots.save_figure(fig, 'f', {str(tmp_path)!r})\n"
        "table = ClaimsTable('t')\n"
        "table.check('A.b', 'a', 1.0, 1.0, kind='check', source='collection', location='x', conditions='y')\n"
        "table.observe('A.c', 'seen', 1.0, source='collection', location='x', conditions='y')"
    )
    nb = new_notebook(
        cells=[
            new_code_cell("from theory_collection.claims import ClaimsTable\nfrom theory_collection import plots"),
            new_markdown_cell("## A section"),
            new_code_cell("x = 1"),
            new_code_cell(record),
            new_code_cell("print(table.claims[0].cell, table.claims[1].cell)"),
        ]
    )
    nbclient.NotebookClient(nb, kernel_name="python3", timeout=120).execute()
    recording = nb.cells[3].execution_count
    assert recording == 3 and nb.cells[4].outputs[0]["text"].split() == ["3", "3"]
    assert sections.figure_cell(tmp_path / "f.png") == recording


def test_tex_is_spelled_out_for_tooltips():
    assert tex_to_text(r"3 · N7 · soft composition, $L \to L^\star$") == "3 · N7 · soft composition, L → L*"
    assert tex_to_text(r"$\mathrm{W}_{fin}$, $\Delta = b - c$, $\frac{1}{\tau}$") == "W_fin, Δ = b - c, 1/τ"
    assert tex_to_text("plain text") == "plain text"
