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
"""
