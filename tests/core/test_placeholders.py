"""No notebook of the collection shows a reader an unfilled placeholder such as ``PAPER_TIME``.

A placeholder is an UPPER_CASE word with an underscore (``PAPER_TIME``, ``FILL_ME``; not a symbol
such as ``R_V``) or one of
TODO, FIXME, TBD, XXX, in the prose of a markdown cell: code spans, code blocks, maths and link
targets are left out (``[MASK]``, ``THEORY.md`` and ``BERT`` are words, not placeholders).
"""

import re

import nbformat
import pytest

from theory_collection.runner import collection_notebooks

# Words of two or more capitals joined by underscores; a symbol like R_V is maths, not a placeholder.
PLACEHOLDER = re.compile(r"\b(?:[A-Z][A-Z0-9]+(?:_[A-Z0-9]{2,})+|TODO|FIXME|TBD|XXX)\b")


def prose(markdown: str) -> str:
    """Markdown without code blocks, code spans, maths and link targets."""
    text = re.sub(r"```.*?```", " ", markdown, flags=re.DOTALL)
    text = re.sub(r"`[^`]*`", " ", text)
    text = re.sub(r"\$\$.*?\$\$", " ", text, flags=re.DOTALL)
    text = re.sub(r"\$[^$]*\$", " ", text)
    return re.sub(r"\]\([^)]*\)", "]", text)


def placeholders(markdown: str) -> list[str]:
    """The placeholders left in a markdown cell's prose."""
    return PLACEHOLDER.findall(prose(markdown))


def test_placeholder_pattern_finds_placeholders_and_spares_words():
    assert placeholders("it takes about PAPER_TIME on 2 cores; TODO: say why") == ["PAPER_TIME", "TODO"]
    assert placeholders("the criteria of R_V and R_A") == []
    spared = "BERT predicts [MASK]; see [THEORY.md §3](THEORY.md#3-model), `NUM_TOPICS`, $W_{KQ}$ and ICML."
    assert placeholders(spared) == []


@pytest.mark.parametrize("notebook", collection_notebooks(), ids=lambda path: f"{path.parent.name}/{path.stem}")
def test_no_placeholder_in_notebook_markdown(notebook):
    nb = nbformat.read(notebook, as_version=4)
    found = [
        (index, word)
        for index, cell in enumerate(nb.cells)
        if cell.cell_type == "markdown"
        for word in placeholders(cell.source)
    ]
    assert not found, f"{notebook.name}: unfilled placeholder(s) (cell, word): {found}"
