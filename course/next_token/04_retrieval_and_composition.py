"""Hidden cases of next_token/04_retrieval_and_composition (the instructor's course file; never handed out)."""

import math

import numpy as np

from theory_collection.course.checks import Call, array, close


def mass_reference(E, tokens, W, retrieved):
    """Sample by sample with math.exp on scores shifted by their maximum."""
    masses = []
    for sequence, chosen in zip(tokens, retrieved):
        a = [float(E[t] @ W @ E[sequence[-1]]) for t in sequence]
        top = max(a)
        weights = [math.exp(x - top) for x in a]
        masses.append(sum(w for w, c in zip(weights, chosen) if c) / sum(weights))
    return masses


def automaton_reference(components, context, scores, vocab_size):
    """Position by position."""
    present = set(context)
    top = next(set(c) for c in components if present & set(c))
    positions = [t for t, token in enumerate(context) if token in top]
    largest = max(scores[t] for t in positions)
    weights = {t: math.exp(scores[t] - largest) for t in positions}
    total = sum(weights.values())
    probabilities = [0.0] * vocab_size
    for t, w in weights.items():
        probabilities[context[t]] += w / total
    return probabilities


def mass_case(seed, n, T, K, d, scale):
    """A dataset, a large W and random retrieved sets (at least one position each)."""
    rng = np.random.default_rng(seed)
    tokens = rng.integers(0, K, (n, T))
    retrieved = rng.random((n, T)) < 0.4
    retrieved[:, 0] = True
    E = rng.standard_normal((K, d))
    return (array(E), array(tokens, "int64"), array(scale * rng.standard_normal((d, d))), array(retrieved, "bool"))


def automaton_case(seed, K, T):
    """A random priority order of random components, a context with repeats, random scores."""
    rng = np.random.default_rng(seed)
    order = rng.permutation(K)
    cuts = np.sort(rng.choice(np.arange(1, K), 3, replace=False))
    components = [sorted(part.tolist()) for part in np.split(order, cuts)]
    context = rng.choice(K, T).tolist()
    return (components, context, (3 * rng.standard_normal(T)).tolist(), K)


CHECKS = [
    Call(
        "retrieved_mass",
        cases=[mass_case(1, 6, 4, 6, 8, 1.0), mass_case(2, 10, 6, 8, 5, 30.0), mass_case(3, 3, 3, 4, 4, 0.1)],
        reference=mass_reference,
        compare=close(rel=1e-9, abs=1e-12),
        time_limit=20,
    ),
    Call(
        "automaton_next_token",
        cases=[automaton_case(4, 8, 6), automaton_case(5, 10, 9), automaton_case(6, 6, 5), automaton_case(7, 12, 8)],
        reference=automaton_reference,
        compare=close(rel=1e-10, abs=1e-12),
        time_limit=20,
    ),
]
