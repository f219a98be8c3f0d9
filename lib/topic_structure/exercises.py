"""The checks behind the exercises of notebooks 02-04 (their ``autograder`` cells call these).

Each check evaluates the reader's answer at settings the notebook never uses, against a condition
computed here from the definitions (not from the library's solution), so an answer copied from the
library's output for the notebook's own numbers, or typed in, does not pass. A failed check raises
``AssertionError`` naming the setting, which is what nbgrader scores.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Iterator

import sympy as sp

from topic_structure.theory import algebra, value_matrix
from topic_structure.theory.algebra import T, tau, v
from topic_structure.theory.attention import Delta, p_r, x

# Topic counts (T, v, tau) and, for the margin, lambda: none of them is a notebook's profile.
HIDDEN_TOPIC_COUNTS = ((7, 3, 2), (4, 6, 3), (9, 2, 4))
HIDDEN_MARGIN_SETTINGS = ((4, 3, 2, 0.02), (7, 5, 3, 0.003), (6, 2, 1, 0.05))


def check_critical_weight_decay(answer: sp.Expr) -> None:
    """Notebook 02: ``answer`` is the largest weight decay with a nonzero C1 optimum, as a sympy
    expression in ``T, v, tau``.

    At each hidden setting, ``kappa = lambda (T - 1) tau v / 2`` (its definition) must lie below
    ``1 - tau/T`` just under the answer (a nonzero optimum) and not just above it (collapse).
    """
    assert isinstance(answer, sp.Expr) and answer.free_symbols <= {T, v, tau}, (
        f"the answer must be a sympy expression in T, v, tau, got {answer!r}"
    )
    for topics, words, per_doc in HIDDEN_TOPIC_COUNTS:
        value = float(answer.subs({T: topics, v: words, tau: per_doc}))
        for factor, nonzero in ((0.999, True), (1.001, False)):
            kappa = factor * value * (topics - 1) * per_doc * words / 2
            assert (kappa < 1 - per_doc / topics) == nonzero, (topics, words, per_doc, value)


@contextlib.contextmanager
def library_margin_solvers_disabled() -> Iterator[None]:
    """Within the block the library's C2 margin solvers raise, so an answer must solve the condition itself."""

    def refuse(*args, **kwargs):
        raise RuntimeError("solve the stationarity condition yourself, not with the library's solver")

    patched = [(value_matrix, name) for name in ("value_margin", "value_optimum", "solve_margin")]
    patched.append((algebra, "solve_margin"))
    saved = [(module, name, getattr(module, name)) for module, name in patched]
    try:
        for module, name in patched:
            setattr(module, name, refuse)
        yield
    finally:
        for module, name, function in saved:
            setattr(module, name, function)


def margin_residual(margin: float, num_topics: int, words_per_topic: int, topics_per_doc: int, weight_decay: float):
    """``1 - p_in(D) - lambda v tau^2 (V - v) D`` in plain floating point: zero at the C2 margin."""
    V, v_, tau_ = num_topics * words_per_topic, words_per_topic, topics_per_doc
    p_in = tau_ * v_ * math.exp(margin) / (tau_ * v_ * math.exp(margin) + V - tau_ * v_)
    return 1 - p_in - weight_decay * v_ * tau_**2 * (V - v_) * margin


def check_optimal_margin(optimal_margin: Callable[[int, int, int, float], float]) -> None:
    """Notebook 03: ``optimal_margin(T, v, tau, lambda)`` returns the positive root of the C2 margin
    condition; checked in plain floating point (:func:`margin_residual` within 1e-12) at the hidden
    settings, with the library's solvers disabled while the answer is computed."""
    for hidden in HIDDEN_MARGIN_SETTINGS:
        with library_margin_solvers_disabled():
            margin = float(optimal_margin(*hidden))
        assert margin > 0 and abs(margin_residual(margin, *hidden)) <= 1e-12, (hidden, margin)


def check_boundary_random_prob(boundary_random_prob: Callable[[sp.Expr], sp.Expr], F: sp.Expr, values: dict) -> None:
    """Notebook 04: ``boundary_random_prob(F)`` solves ``F'(1) = 0`` for ``p_r`` (symbols of :mod:`theory.attention`).

    Checked on the notebook's objective ``F`` and on a different one (an extra ``p_r``-weighted cost of
    concentrating, whose boundary lies elsewhere), at the numbers ``values`` (every symbol but ``p_r``
    and ``x``): ``F'(1)`` vanishes at the answer, is positive 1% above it and negative 1% below.
    """
    for objective in (F, F + p_r * Delta * (x - 1 / tau) ** 2):
        candidate = boundary_random_prob(objective)

        def slope_at_one(random, objective=objective):
            return float(sp.diff(objective.subs({**values, p_r: random}), x).subs(x, 1))

        boundary = candidate.subs(values)
        assert abs(slope_at_one(boundary)) < 1e-12, ("F'(1) at the answer", boundary)
        assert slope_at_one(boundary * 1.01) > 0, ("F'(1) just above the answer", boundary)
        assert slope_at_one(boundary * 0.99) < 0, ("F'(1) just below the answer", boundary)
