"""Hidden cases of topic_structure/03_value_matrix (the instructor's course file; never handed out)."""

import itertools
import math

import numpy as np
from scipy.optimize import brentq

from theory_collection.course.checks import Call, close


def margin_reference(T, v, tau, weight_decay):
    """The root of 1 - p_in(D) - lambda v tau^2 (V - v) D by Brent's method, in plain floating point."""
    V = T * v
    slope = weight_decay * v * tau**2 * (V - v)

    def condition(D):
        return 1 - tau * v * math.exp(D) / (tau * v * math.exp(D) + V - tau * v) - slope * D

    return brentq(condition, 0.0, 1.0 / slope, xtol=1e-15, rtol=1e-15)


def training_reference(T, v, tau, weight_decay, learning_rate, steps):
    """Population gradient descent, written topic set by topic set."""
    V = T * v
    topic = np.arange(V) // v
    sets = list(itertools.combinations(range(T), tau))
    W = np.zeros((V, V))
    for _ in range(steps):
        gradient = weight_decay * W
        for S in sets:
            u = np.where(np.isin(topic, S), 1.0 / (tau * v), 0.0)
            logits = W @ u
            p = np.exp(logits - logits.max())
            p /= p.sum()
            gradient += np.outer(p - u, u) / len(sets)
        W = W - learning_rate * gradient
    same = (topic[:, None] == topic[None, :]) & ~np.eye(V, dtype=bool)
    different = topic[:, None] != topic[None, :]
    return [np.diag(W).mean(), W[same].mean(), W[different].mean()]


CHECKS = [
    Call(
        "optimal_margin",
        cases=[(4, 3, 2, 0.02), (7, 5, 3, 0.003), (6, 2, 1, 0.05), (12, 4, 5, 0.0007)],
        reference=margin_reference,
        compare=close(rel=1e-10),
        time_limit=40,
    ),
    Call(
        "train_value_matrix",
        cases=[
            (4, 3, 2, 0.02, 5.0, 40),
            (5, 2, 3, 0.005, 8.0, 25),
            (3, 4, 1, 0.05, 2.0, 60),
            (5, 3, 2, 0.01, 6.0, 800),
        ],
        reference=training_reference,
        compare=close(rel=1e-8, abs=1e-12),
        time_limit=60,
    ),
]
