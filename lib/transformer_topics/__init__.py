"""Theory-verification library for 'How Do Transformers Learn Topic Structure' (Li, Li & Risteski, ICML 2023).

One module per concern: ``params`` (validation, profiles), ``data`` (topic-model documents),
``masking`` (BERT-style masking), ``model`` (the one-layer transformer), ``training``,
``population`` (the exact N -> infinity loss), ``measurements``, ``claims``, ``plots``, ``report``.
"""
