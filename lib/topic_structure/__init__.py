"""Theory-verification library for 'How Do Transformers Learn Topic Structure' (Li, Li & Risteski, ICML 2023).

One module per concern:

* the paper's place in the collection: ``paper`` (its entry), ``params`` (the rule of every notebook parameter),
  ``profiles`` (each notebook's quick and paper profiles), ``estimates`` (how long a notebook runs, which bounds
  its run lengths);
* the setting: ``data`` (topic-model documents), ``masking`` (BERT-style masking), ``model`` (the one-layer
  transformer), ``population`` (the exact N -> infinity loss), ``measurements``, ``training`` (minibatch training,
  and training in rounds to a convergence criterion), ``realtext`` (Wikipedia summaries and their LDA topics);
* the theory, one module per claim: the package ``theory``;
* each notebook's runs: ``stage_runs`` (02-04), ``two_stage`` (05), ``data_assumptions`` (06), ``text_models``
  (07), ``lda_runs`` and ``attention_over_training`` (08, 09); ``figures`` (every notebook's figures);
* ``claims``: one module per notebook, named after it, with its claims declared as data (and their provenance)
  and the blocks that record them; nothing else records claims.

The claims tables, reports and command line are the
collection's core, :mod:`theory_collection`.
"""
