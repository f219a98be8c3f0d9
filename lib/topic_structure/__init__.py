"""Theory-verification library for 'How Do Transformers Learn Topic Structure' (Li, Li & Risteski, ICML 2023).

One module per concern: ``params`` (the paper's parameter rules), ``paper`` (its entry in the
collection), ``data`` (topic-model documents), ``masking`` (BERT-style masking), ``model`` (the
one-layer transformer), ``training``, ``population`` (the exact N -> infinity loss),
``measurements``, ``realtext`` (Wikipedia), ``plots`` and the theory of each claim. The claims
tables, reports and command line are the collection's core, :mod:`theory_collection`.
"""
