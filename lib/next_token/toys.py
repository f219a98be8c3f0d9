"""Two hand-made datasets with answers derived by hand (one-hot embeddings, so scores are entries of W).

toy_chain: K = 4, every query is token 0. Four samples (1, 2, 3, 0) with labels 1, 1, 1, 2 and one sample
(3, 0, 3, 0) with label 3. G^(0) has the SCC {1, 2} above {3} above {0}: a chain. The Graph-SVM puts scores
(a, a, b, c) on tokens (1, 2, 3, 0) with a - b >= 1, b - c >= 1 and minimises 2a^2 + b^2 + c^2; W^fin splits the
SCC {1, 2} in the ratio of its label counts, 3 : 1.

toy_cyclic: the public code's `manual_toy_case` (K = 3): six samples (0, 1, 2) with labels 0, 1, 1, 2, 2, 2 and six
samples (2, 1, 0) with labels 2, 1, 1, 0, 0, 0. Each TPG is one SCC {0, 1, 2}, so W^svm = 0, and W^fin reproduces
the label frequencies (1/6, 1/3, 1/2) in both contexts.
"""

from __future__ import annotations

import numpy as np

from next_token.data import Dataset


def toy_chain() -> Dataset:
    """The chain toy (see the module docstring)."""
    tok = [[1, 2, 3, 0]] * 4 + [[3, 0, 3, 0]]
    return Dataset(np.eye(4), tok, [1, 1, 1, 2, 3], meta={"name": "toy_chain"})


def toy_cyclic() -> Dataset:
    """The public code's cyclic toy (see the module docstring)."""
    tok = [[0, 1, 2]] * 6 + [[2, 1, 0]] * 6
    return Dataset(np.eye(3), tok, [0, 1, 1, 2, 2, 2, 2, 1, 1, 0, 0, 0], meta={"name": "toy_cyclic"})
