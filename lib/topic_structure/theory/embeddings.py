"""Claim C1, the embeddings: the optimal Gram matrix ``E E^T`` under uniform attention, in closed form.

Setting (notebooks/topic_structure/THEORY.md §4): trained E, ``W_V = I``, decoder tied to E, uniform
attention, cross-entropy. The logits are ``G 1_S / (tau v)`` with the Gram matrix ``G = E E^T``
(positive semidefinite), the penalty is ``(lambda/2) tr G``, and the optimum has a closed form,
nonzero exactly when ``kappa < 1 - tau/T`` with ``kappa = lambda (T - 1) tau v / 2``.
"""

from __future__ import annotations

from functools import cache

import sympy as sp

from topic_structure.theory.algebra import IBJ, PRECISION, D, T, expected_loss, idempotents, lam, tau, topic_setting, v

gram_eigenvalues = sp.symbols("mu_1 mu_2 mu_3", nonnegative=True)
# kappa = lambda (T - 1) tau v / 2, the penalty against the gain of a topic contrast. Printed kappa_E: the stage-1
# rate of C4 (:data:`onset.kappa`) is another kappa.
PENALTY_RATIO = sp.Symbol("kappa_E", positive=True)


def embedding_objective() -> sp.Expr:
    """Cross-entropy population loss + (lambda/2) ||E||_F^2 as a function of the Gram eigenvalues.

    With ``W_V = I`` and the decoder tied to E, the logits are ``G 1_S / (tau v)`` with
    ``G = E E^T = mu_1 P_1 + mu_2 P_2 + mu_3 P_3`` (the :func:`idempotents`), every ``mu_i >= 0``
    because G is positive semidefinite, and ``||E||_F^2 = tr G`` (rows of the special tokens carry
    no loss and go to zero).
    """
    G = sum((mu * P for mu, P in zip(gram_eigenvalues, idempotents())), IBJ(0, 0, 0))
    margin, offset = G.on_topic_set()
    return expected_loss(margin, offset, "cross_entropy") + lam / 2 * G.trace()


@cache
def embedding_solution() -> dict:
    """The C1 optimum, symbolically (cross-entropy).

    KKT: the objective's slope in ``mu_1`` and ``mu_3`` is ``lambda/2 * multiplicity > 0`` (those
    directions do not change the loss), so both are 0; the slope in ``mu_2`` vanishes at
    ``1 - p_in(D) = kappa`` with ``D = mu_2 / (tau v)`` and ``kappa = lambda (T - 1) tau v / 2``,
    which has the closed form ``D = log((V - tau v)(1/kappa - 1) / (tau v))`` when it is positive;
    otherwise the optimum is G = 0. Returns the stationarity conditions, kappa, D, the block values
    and the condition for a nonzero optimum.
    """
    objective = embedding_objective()
    slopes = [sp.simplify(sp.diff(objective, mu)) for mu in gram_eigenvalues]
    mu_2 = gram_eigenvalues[1]
    kappa = PENALTY_RATIO
    kappa_value = sp.factor(lam * (T - 1) * tau * v / 2)
    margin_equation = sp.simplify(slopes[1].subs(mu_2, tau * v * D) * tau * v)  # = 0 at the optimum
    # The equation is linear in e^D: solve for it and take the log (real whenever kappa < 1).
    growth = sp.Symbol("X", positive=True)
    in_kappa = sp.numer(sp.together(margin_equation.subs(lam, 2 * kappa / ((T - 1) * tau * v)).subs(sp.exp(D), growth)))
    solved = sp.solve(in_kappa, growth)[0]
    readable = (T - tau) * (1 - kappa) / (kappa * tau)  # = (V - tau v)(1/kappa - 1)/(tau v), the same expression
    if sp.simplify(solved - readable) != 0:
        raise ArithmeticError(f"the solved e^D = {solved} differs from its readable form {readable}")
    margin = sp.log(readable)
    G = IBJ(0, 0, 0) + idempotents()[1] * (tau * v * D)
    return {
        "slopes": slopes,
        "kappa": kappa,
        "kappa_value": kappa_value,
        "margin_equation": margin_equation,
        "margin": margin,
        "blocks": {k: sp.factor(sp.simplify(e)) for k, e in G.blocks().items()},
        "nonzero_condition": sp.Lt(kappa, 1 - tau / T),
    }


def embedding_condition(
    num_topics: int, words_per_topic: int, topics_per_doc: int, weight_decay: float
) -> dict[str, float | bool]:
    """When is the C1 optimum nonzero? Returns ``{"kappa", "threshold", "nonzero", "margin"}``.

    ``kappa = weight_decay (T-1) tau v / 2``; the optimum is nonzero iff ``kappa < threshold =
    1 - tau/T``, which is the same as kappa < 1 together with a positive closed-form margin D.
    ``margin`` is that D (-inf when kappa >= 1); when it is <= 0 the optimum collapses to G = 0.
    """
    values = topic_setting(num_topics, words_per_topic, topics_per_doc, weight_decay)
    solution = embedding_solution()
    kappa = solution["kappa_value"].subs(values)
    threshold = 1 - sp.Rational(values[tau], values[T])
    margin = sp.N(solution["margin"].subs(values).subs(solution["kappa"], kappa), PRECISION) if kappa < 1 else -sp.oo
    return {
        "kappa": float(kappa),
        "threshold": float(threshold),
        "nonzero": bool(kappa < threshold),
        "margin": float(margin),
    }


def embedding_critical_weight_decay(num_topics: int, words_per_topic: int, topics_per_doc: int) -> float:
    """The largest weight decay with a nonzero C1 optimum: the root in lambda of ``kappa = 1 - tau/T``
    (``kappa = lambda (T-1) tau v / 2``), i.e. ``2 (1 - tau/T) / ((T-1) tau v)``; 0 when ``tau = T``."""
    values = topic_setting(num_topics, words_per_topic, topics_per_doc, 1.0)  # lambda is the unknown
    values.pop(lam)
    critical = sp.solve(sp.Eq(embedding_solution()["kappa_value"], 1 - tau / T), lam)[0]
    return float(sp.N(critical.subs(values), PRECISION))


def embedding_optimum(
    num_topics: int, words_per_topic: int, topics_per_doc: int, weight_decay: float
) -> dict[str, float]:
    """Block values of the optimal Gram matrix ``E E^T`` of C1 (trained E, ``W_V = I``, decoder
    tied to E, uniform attention, penalty ``(weight_decay/2) ||E||_F^2``, cross-entropy).

    Returns ``{"diagonal", "same_topic", "diff_topic"}``: ``diagonal = same_topic = b`` with
    ``b = D tau (T-1)/T`` and ``diff_topic = -b/(T-1)``; all zero when :func:`embedding_condition`
    says the optimum collapses. Needs an embedding dimension of at least ``T - 1``.
    """
    values = topic_setting(num_topics, words_per_topic, topics_per_doc, weight_decay)
    solution = embedding_solution()
    kappa = solution["kappa_value"].subs(values)
    if kappa < 1 - sp.Rational(values[tau], values[T]):
        margin = sp.N(solution["margin"].subs(values).subs(solution["kappa"], kappa), PRECISION)
    else:
        margin = sp.Integer(0)  # collapse: the constraint D >= 0 (G positive semidefinite) binds
    return {k: float(sp.N(e.subs(values).subs(D, margin), PRECISION)) for k, e in solution["blocks"].items()}
