"""Hidden cases of topic_structure/05_two_stage_dynamics (the instructor's course file; never handed out)."""

import math

import numpy as np
from scipy.integrate import solve_ivp

from theory_collection.course.checks import Call, close


def eigen_reference(a, b, c, T, v):
    """The eigenvalues of the explicit V x V matrix, read off by applying it to one vector of each eigenspace."""
    V = T * v
    topic = np.arange(V) // v
    M = np.where(topic[:, None] == topic[None, :], b, c) + (a - b) * np.eye(V)
    ones = np.ones(V)
    contrast = (topic == 0).astype(float) - (topic == 1).astype(float)
    within = np.zeros(V)
    within[0], within[1] = 1.0, -1.0
    return [float((M @ u)[np.argmax(np.abs(u))] / u[np.argmax(np.abs(u))]) for u in (ones, contrast, within)]


def onset_reference(kappa, m, area):
    """Integrate delta' = kappa m / (e^delta + m) with the area as a second state, until the area reaches `area`."""

    def flow(t, state):
        delta, _ = state
        return [kappa * m / (math.exp(delta) + m), delta]

    def reached(t, state):
        return state[1] - area

    reached.terminal = True
    solved = solve_ivp(flow, (0.0, 1e12), [0.0, 0.0], events=reached, rtol=1e-12, atol=1e-12, method="DOP853")
    return float(solved.t_events[0][0])


CHECKS = [
    Call(
        "block_eigenvalues",
        cases=[(1.5, 0.25, -0.75, 4, 3), (0.0, 2.0, 1.0, 3, 5), (-1.0, 0.5, 0.125, 6, 2), (3.0, 3.0, -0.5, 5, 4)],
        reference=eigen_reference,
        compare=close(rel=1e-10, abs=1e-12),
        time_limit=20,
    ),
    Call(
        "onset_time",
        cases=[(0.2, 1.5, 3.0), (0.05, 10.0, 500.0), (2.0, 0.5, 25.0), (0.1, 4.0, 2000.0)],
        reference=onset_reference,
        compare=close(rel=1e-7),
        time_limit=30,
    ),
]
