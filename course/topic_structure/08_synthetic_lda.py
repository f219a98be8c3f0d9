"""Hidden cases of topic_structure/08_synthetic_lda (the instructor's course file; never handed out)."""

import math

import numpy as np

from theory_collection.course.checks import Call, array, close


def pairs(V, v):
    """The same-topic (i != j) and the different-topic index pairs of V words in topics of v."""
    same = [(i, j) for i in range(V) for j in range(V) if i != j and i // v == j // v]
    different = [(i, j) for i in range(V) for j in range(V) if i // v != j // v]
    return same, different


def distance_reference(gram, v):
    """From embeddings: a factor E with E E^T = G (eigendecomposition), then distances directly."""
    values, vectors = np.linalg.eigh(gram)
    E = vectors * np.sqrt(np.clip(values, 0, None))
    same, different = pairs(len(gram), v)

    def mean(kind):
        return np.mean([np.sum((E[i] - E[j]) ** 2) for i, j in kind])

    return mean(different) / mean(same)


def value_reference(M, v):
    """The ratio of geometric means of exp(M) over the two blocks."""
    same, different = pairs(len(M), v)
    log_mean_same = np.mean([M[i, j] for i, j in same])
    log_mean_different = np.mean([M[i, j] for i, j in different])
    return math.exp(log_mean_same - log_mean_different)


def gram_case(seed, T, v, d, spread):
    """The Gram matrix of embeddings clustered around one vector per topic."""
    rng = np.random.default_rng(seed)
    E = np.repeat(rng.standard_normal((T, d)), v, axis=0) + spread * rng.standard_normal((T * v, d))
    return (array(E @ E.T), v)


def value_case(seed, T, v):
    """A random value-output block with a same-topic excess."""
    rng = np.random.default_rng(seed)
    V = T * v
    return (array(rng.standard_normal((V, V)) + 0.7 * np.kron(np.eye(T), np.ones((v, v)))), v)


CHECKS = [
    Call(
        "squared_distance_ratio",
        cases=[gram_case(1, 4, 3, 8, 0.5), gram_case(2, 5, 2, 12, 2.0), gram_case(3, 3, 5, 20, 0.05)],
        reference=distance_reference,
        compare=close(rel=1e-7),
        time_limit=30,
    ),
    Call(
        "value_ratio",
        cases=[value_case(4, 4, 3), value_case(5, 6, 2), value_case(6, 3, 5)],
        reference=value_reference,
        compare=close(rel=1e-10),
        time_limit=30,
    ),
]
