"""Hidden cases of topic_structure/04_attention (the instructor's course file; never handed out)."""

import numpy as np
import sympy as sp

from theory_collection.course.checks import Call, Custom, array, close, expression

x, p_r, p_c, Delta = sp.symbols("x p_r p_c Delta", positive=True)
T, v, tau = sp.symbols("T v tau", positive=True, integer=True)
_Z = v * sp.exp(Delta * x) + (tau - 1) * v * sp.exp(Delta * (1 - x) / (tau - 1)) + T * v - tau * v
NOTEBOOK_F = -p_c * Delta * x + (p_c + p_r * tau / T) * sp.log(_Z)
OBJECTIVES = {
    "the notebook's F": NOTEBOOK_F,
    "F with a p_r-weighted cost of concentrating": NOTEBOOK_F + p_r * Delta * (x - 1 / tau) ** 2,
    "F with a quartic cost of concentrating": NOTEBOOK_F + (p_c + 3 * p_r) * (x - 1 / tau) ** 4,
}
VALUES = ({"T": 5, "v": 4, "tau": 2, "p_c": 0.1, "Delta": 2.5}, {"T": 7, "v": 3, "tau": 3, "p_c": 0.2, "Delta": 4.0})


def boundary_answer(solution, case):
    """Runs in the solution's process: the student's boundary for the case's objective, at the case's numbers."""
    import sympy

    objective = case["F"]
    symbols = {str(s): s for s in objective.free_symbols}
    boundary = sympy.sympify(solution["boundary_random_prob"](objective, symbols["x"], symbols["p_r"]))
    unknown = sorted(str(s) for s in boundary.free_symbols if str(s) not in case["values"])
    if unknown:
        raise ValueError(f"the boundary still holds {unknown}")
    return float(boundary.subs({s: sympy.nsimplify(case["values"][str(s)]) for s in boundary.free_symbols}))


def boundary_reference(case):
    """F'(1) is linear in p_r: its root from the value and the slope at p_r = 0."""
    slope_at_one = sp.diff(case["F"], x).subs(x, 1)
    numbers = {sp.Symbol(k, **_assumptions(k)): sp.nsimplify(value) for k, value in case["values"].items()}
    at_zero = slope_at_one.subs(p_r, 0).subs(numbers)
    per_unit = sp.diff(slope_at_one, p_r).subs(numbers)
    return float(-at_zero / per_unit)


def _assumptions(name):
    return {"positive": True, "integer": True} if name in ("T", "v", "tau") else {"positive": True}


def mass_reference(scores, words_per_topic, topic_set, query):
    """The softmax over the document's words, written word by word."""
    V = len(scores)
    keys = [k for k in range(V) if k // words_per_topic in topic_set]
    weights = {k: np.exp(scores[k][query]) for k in keys}
    own = sum(w for k, w in weights.items() if k // words_per_topic == query // words_per_topic)
    return own / sum(weights.values())


def mass_case(seed, T, v, topic_set, query, scale):
    """A random score matrix, a topic set and a query of one of its topics."""
    rng = np.random.default_rng(seed)
    return (array(scale * rng.standard_normal((T * v, T * v))), v, list(topic_set), query)


CHECKS = [
    Custom(
        "boundary_random_prob",
        cases=[{"F": expression(F), "values": values} for F in OBJECTIVES.values() for values in VALUES],
        labels=[f"{name}, numbers {i + 1}" for name in OBJECTIVES for i in range(len(VALUES))],
        function=boundary_answer,
        reference=boundary_reference,
        compare=close(rel=1e-9),
        setup="import sympy",
        time_limit=60,
    ),
    Call(
        "own_topic_mass",
        cases=[
            mass_case(1, 4, 3, (0, 2), 7, 1.0),
            mass_case(2, 5, 2, (1, 3, 4), 3, 3.0),
            mass_case(3, 3, 4, (2,), 9, 0.5),
            mass_case(4, 6, 3, (0, 5), 1, 8.0),
        ],
        reference=mass_reference,
        compare=close(rel=1e-10),
        time_limit=30,
    ),
]
