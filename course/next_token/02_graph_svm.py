"""Hidden cases of next_token/02_graph_svm (the instructor's course file; never handed out)."""

import math

import numpy as np

from theory_collection.course.checks import Call, array, close


def row_reference(E, u, v, k):
    """Entry by entry: g[a, b] = (E[u, a] - E[v, a]) E[k, b]."""
    d = E.shape[1]
    return [[(E[u, a] - E[v, a]) * E[k, b] for b in range(d)] for a in range(d)]


def certificate_reference(E, W, cross, within):
    """Edge by edge, through the constraint row's inner product with W."""

    def margin(edge):
        k, u, v = (int(x) for x in edge)
        return float(np.sum(np.outer(E[u] - E[v], E[k]) * W))

    smallest = min((margin(e) for e in cross), default=math.inf)
    largest = max((abs(margin(e)) for e in within), default=0.0)
    return [smallest, largest]


def row_case(seed, K, d, u, v, k):
    """Gaussian embeddings."""
    rng = np.random.default_rng(seed)
    return (array(rng.standard_normal((K, d))), u, v, k)


def certificate_case(seed, K, d, cross, within):
    """Gaussian embeddings, a random W and random edges."""
    rng = np.random.default_rng(seed)
    E, W = rng.standard_normal((K, d)), rng.standard_normal((d, d))
    cross_edges = rng.integers(0, K, (cross, 3))
    within_edges = rng.integers(0, K, (within, 3))
    return (array(E), array(W), array(cross_edges, "int64"), array(within_edges, "int64"))


CHECKS = [
    Call(
        "constraint_row",
        cases=[row_case(1, 5, 4, 0, 3, 2), row_case(2, 6, 8, 5, 1, 5), row_case(3, 3, 3, 2, 0, 1)],
        reference=row_reference,
        compare=close(rel=1e-12, abs=1e-14),
        time_limit=20,
    ),
    Call(
        "svm_certificate",
        cases=[
            certificate_case(4, 6, 8, 10, 4),
            certificate_case(5, 5, 5, 7, 0),
            certificate_case(6, 4, 6, 0, 3),
            certificate_case(7, 8, 8, 25, 12),
        ],
        reference=certificate_reference,
        compare=close(rel=1e-10, abs=1e-12),
        time_limit=20,
    ),
]
