"""Claim C2, the value matrix: the optimal ``W_V`` under uniform attention, symbolically.

Setting (notebooks/topic_structure/THEORY.md §4): one-hot E, ``W_pred = I``, trained ``W_V``, uniform
attention. With ``W_V = x I + y B + z J`` (:class:`algebra.IBJ`) the logits on a document's own
words exceed the rest by ``D = z_in - z_out`` and the population loss is a function of ``D``
(:func:`algebra.expected_loss`). Cross-entropy gives one transcendental equation in ``D``, solved by
``nsolve`` at :data:`algebra.PRECISION` digits; the squared loss has a closed form.
"""

from __future__ import annotations

from functools import cache

import sympy as sp

from topic_structure.model import LOSSES
from topic_structure.params import check_choice
from topic_structure.theory.algebra import IBJ, PRECISION, D, T, expected_loss, lam, solve_margin, tau, topic_setting

value_coefficients = sp.symbols("x y z", real=True)


def value_objective(loss: str = "cross_entropy") -> sp.Expr:
    """Population loss + (lambda/2) ||W_V||_F^2 for ``W_V = x I + y B + z J`` (one-hot E, W_pred = I).

    ``||W||_F^2 = tr(W^T W) = tr(W^2)`` since every element of the algebra is symmetric.
    """
    W = IBJ(*value_coefficients)
    margin, offset = W.on_topic_set()
    return expected_loss(margin, offset, loss) + lam / 2 * (W * W).trace()


@cache
def value_solution(loss: str = "cross_entropy") -> dict:
    """The C2 optimum, symbolically.

    Cross-entropy: the stationarity conditions in (x, y, z) are linear once the derivative of the
    loss in the margin is named ``g``; solving them expresses the optimum through the margin ``D``
    and leaves one scalar equation in ``D``. Returns ``{"equation": expr (= 0 at the optimum),
    "blocks": {block: expr in D}, "stationarity": [three expressions], ...}``.
    Squared loss: the stationarity conditions are linear; returns ``{"blocks": closed forms}``.
    """
    check_choice("loss", loss, LOSSES)
    objective = value_objective(loss)
    stationarity = [sp.diff(objective, c) for c in value_coefficients]
    if loss == "squared":
        solution = sp.solve(stationarity, value_coefficients, dict=True)[0]
        W = IBJ(*(sp.factor(sp.simplify(solution[c])) for c in value_coefficients))
        return {
            "stationarity": stationarity,
            "coefficients": W,
            "blocks": {k: sp.factor(sp.simplify(e)) for k, e in W.blocks().items()},
        }
    g = sp.Symbol("g", real=True)  # the loss's slope in the margin at the optimum
    W = IBJ(*value_coefficients)
    margin, _ = W.on_topic_set()
    penalty = lam / 2 * (W * W).trace()
    linear = [g * sp.diff(margin, c) + sp.diff(penalty, c) for c in value_coefficients]
    in_g = sp.solve(linear, value_coefficients, dict=True)[0]  # (x, y, z) proportional to g
    # The margin of that solution is proportional to g; invert it to write everything through D.
    g_of_D = sp.solve(sp.Eq(margin.subs(in_g), D), g)[0]
    coefficients = IBJ(*(sp.simplify(in_g[c].subs(g, g_of_D)) for c in value_coefficients))
    loss_slope = sp.simplify(sp.diff(expected_loss(D, 0, loss), D))
    penalty_slope = sp.factor(-g_of_D)
    return {
        "stationarity": stationarity,
        "in_g": in_g,
        "coefficients": coefficients,
        "blocks": {k: sp.factor(sp.simplify(e)) for k, e in coefficients.blocks().items()},
        "loss_slope": loss_slope,
        "penalty_slope": penalty_slope,
        "equation": loss_slope + penalty_slope,  # = 0 at the optimum
    }


def value_optimum(
    num_topics: int, words_per_topic: int, topics_per_doc: int, weight_decay: float, loss: str = "cross_entropy"
) -> dict[str, float]:
    """Block values of the optimal ``W_V`` of C2 (one-hot E, ``W_pred = I``, uniform attention,
    penalty ``(weight_decay/2) ||W_V||_F^2`` on the population loss averaged over chosen positions).

    Returns ``{"diagonal", "same_topic", "diff_topic"}``. The query kind ([MASK], kept, random)
    does not matter at uniform attention, so keep_prob and random_prob do not enter.
    """
    values = topic_setting(num_topics, words_per_topic, topics_per_doc, weight_decay)
    check_choice("loss", loss, LOSSES)
    solution = value_solution(loss)
    if loss == "squared":
        return {k: float(sp.N(e.subs(values), PRECISION)) for k, e in solution["blocks"].items()}
    margin = solve_margin(solution["equation"].subs(values), _value_margin_bracket(values))
    return {k: float(sp.N(e.subs(values).subs(D, margin), PRECISION)) for k, e in solution["blocks"].items()}


def value_margin(num_topics: int, words_per_topic: int, topics_per_doc: int, weight_decay: float) -> sp.Float:
    """The optimal cross-entropy margin ``D`` of C2 at 30 digits."""
    values = topic_setting(num_topics, words_per_topic, topics_per_doc, weight_decay)
    return solve_margin(value_solution("cross_entropy")["equation"].subs(values), _value_margin_bracket(values))


def _value_margin_bracket(values: dict) -> tuple[float, float]:
    # 1 - p_in(D) falls from 1 - tau/T at D = 0 while the penalty slope rises linearly from 0, so
    # the root lies between 0 and the D where the penalty slope reaches 1 - tau/T.
    slope = value_solution("cross_entropy")["penalty_slope"].subs(values).subs(D, 1)
    start = 1 - values[tau] / values[T]
    return 0.0, float(start / slope) + 1.0
