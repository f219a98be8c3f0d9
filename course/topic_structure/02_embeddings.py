"""Hidden cases of topic_structure/02_embeddings (the instructor's course file; never handed out)."""

import math

from scipy.optimize import minimize_scalar

from theory_collection.course.checks import Call, Evaluate, close


def critical_reference(T, v, tau):
    """The weight decay at which kappa = lambda (T - 1) tau v / 2 reaches 1 - tau / T."""
    kappa_per_unit_decay = (T - 1) * tau * v / 2
    return (1 - tau / T) / kappa_per_unit_decay


def blocks_reference(T, v, tau, weight_decay):
    """Minimise the reduced objective over mu_2 >= 0 numerically: loss(D = mu_2 / (tau v)) + lambda/2 (T - 1) mu_2."""
    V = T * v

    def objective(mu):
        D = mu / (tau * v)
        return -D + math.log(tau * v * math.exp(D) + V - tau * v) + weight_decay / 2 * (T - 1) * mu

    slope_at_zero = (weight_decay * (T - 1) * tau * v / 2 - (1 - tau / T)) / (tau * v)
    if slope_at_zero >= 0:  # convex: no descent from G = 0
        return [0.0, 0.0]
    best = minimize_scalar(objective, bounds=(0.0, 200.0 * tau * v), method="bounded", options={"xatol": 1e-13})
    b = best.x / (tau * v) * tau * (T - 1) / T
    return [b, -b / (T - 1)]


CHECKS = [
    Evaluate(
        "critical_weight_decay",
        cases=[{"T": 7, "v": 3, "tau": 2}, {"T": 4, "v": 6, "tau": 3}, {"T": 9, "v": 2, "tau": 4}],
        reference=critical_reference,
        compare=close(rel=1e-12),
        setup="import sympy",
        time_limit=30,
    ),
    Call(
        "embedding_blocks",
        cases=[(7, 3, 2, 0.01), (5, 4, 1, 0.002), (6, 5, 3, 0.5), (12, 2, 2, 0.03)],
        reference=blocks_reference,
        compare=close(rel=1e-6, abs=1e-9),
        time_limit=30,
    ),
]
