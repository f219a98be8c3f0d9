"""The claims of the next-token notebooks: one module per notebook, named after it, and nothing else records claims.

=====================================  =========================================================================
module                                 notebook
=====================================  =========================================================================
``token_priority_graphs``              01: N1 (the label tops its sequence), N2 (convexity)
``graph_svm``                          02: N3 (the Graph-SVM), N5.fin_norm, N7.loss_star, the hand-made toys
``gradient_descent``                   03: N4, N5, N9, N11 on training runs; the public code's experiments
``retrieval_and_composition``          04: N6, N7, N8 on the trained layer
``beyond_the_theorem``                 05: N10 / E4 (general head, local SVM), factorised attention
``real_text``                          06: the assumptions and N3-N8 on Wikipedia windows
=====================================  =========================================================================

Each module declares its claims once as data (``SPECS``, :class:`theory_collection.claims.ClaimSpec`: id, kind,
source, location, statement, conditions, comparison, tolerance or criterion with its reason, section, figure) and
records each with one function per notebook block, from the measured objects. ``conditions`` builds the setting a
claim was tested in and says where it departs from the paper's own.
:func:`specs_by_notebook` lists them for the provenance table that opens ``THEORY.md``
(:mod:`theory_collection.provenance`).
"""

from __future__ import annotations

import importlib

from theory_collection.claims import ClaimSpec

MODULES = {
    "01_token_priority_graphs": "token_priority_graphs",
    "02_graph_svm": "graph_svm",
    "03_gradient_descent": "gradient_descent",
    "04_retrieval_and_composition": "retrieval_and_composition",
    "05_beyond_the_theorem": "beyond_the_theorem",
    "06_real_text": "real_text",
}


def specs_by_notebook() -> dict[str, dict[str, ClaimSpec]]:
    """Each notebook's declared claims, ``{notebook stem: {claim id: spec}}``, in notebook order."""
    return {
        notebook: importlib.import_module(f"next_token.claims.{module}").SPECS for notebook, module in MODULES.items()
    }
