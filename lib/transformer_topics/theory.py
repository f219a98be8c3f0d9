"""Symbolic theory of claims C1 (embeddings) and C2 (value matrix) under uniform attention.

Symmetry is the workhorse (notebooks/topic_structure/THEORY.md §4). The population loss is invariant under permuting
topics and permuting the words of a topic, and it is convex in the word x word matrix it depends on, so a
minimiser lies in the span of

    I  (identity),   B  (same-topic indicator, B_ij = 1 iff topic(i) = topic(j)),   J  (all ones),

an algebra closed under products: ``B^2 = v B``, ``B J = J B = v J``, ``J^2 = V J``. :class:`IBJ`
is one element ``x I + y B + z J`` of it with exact sympy coefficients.

Uniform attention over the words of a topic set ``S`` (``tau`` topics, ``tau v`` words) turns a
matrix ``W`` into the logit vector ``W 1_S / (tau v)``, and ``B 1_S = v 1_S``, ``J 1_S = tau v 1``,
so every logit takes one of two values: ``z_in`` on the words of ``S`` and ``z_out`` elsewhere.
The population loss thus becomes a function of a few scalars, solved here:

- C2 (one-hot E, ``W_pred = I``, trained ``W_V``): cross-entropy gives one transcendental equation
  in ``D = z_in - z_out``, solved by ``nsolve`` at 30 digits; the squared loss has a closed form.
- C1 (trained E, ``W_V = I``, decoder tied to E): the logits are ``G 1_S / (tau v)`` with the Gram
  matrix ``G = E E^T`` (positive semidefinite), the penalty is ``(lambda/2) tr G``, and the optimum
  has a closed form, nonzero exactly when ``kappa < 1 - tau/T``.

Block values follow :mod:`measurements`: ``diagonal = x + y + z``, ``same_topic = y + z`` (off the
diagonal), ``diff_topic = z``.

Training sees documents of finite length N, whose visible keys only approximate ``u_S``; the last
section computes the optimum that training on such documents actually targets
(:func:`fit_finite_length`), so notebooks can separate the finite-N bias from training error.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import numpy as np
import sympy as sp
import torch

from .data import Seed, Vocabulary, as_generator
from .model import LOSSES, TopicTransformer
from .params import check_choice, check_doc_length, check_float, check_int, check_topic_counts

PRECISION = 30  # decimal digits of every nsolve

# The symbols of the setting. V = T v is kept as a product so that expressions simplify.
T, v, tau = sp.symbols("T v tau", positive=True, integer=True)
lam = sp.Symbol("lambda", positive=True)
V = T * v
D = sp.Symbol("D", real=True)  # z_in - z_out: the logit margin of a document's own words


@dataclass(frozen=True)
class IBJ:
    """The V x V matrix ``x I + y B + z J`` over content words (V = T v, v words per topic)."""

    x: sp.Expr
    y: sp.Expr
    z: sp.Expr

    @classmethod
    def from_blocks(cls, diagonal, same_topic, diff_topic) -> IBJ:
        """The element whose diagonal, same-topic and different-topic entries are the given values."""
        return cls(sp.sympify(diagonal - same_topic), sp.sympify(same_topic - diff_topic), sp.sympify(diff_topic))

    def __add__(self, other: IBJ) -> IBJ:
        return IBJ(self.x + other.x, self.y + other.y, self.z + other.z)

    def __sub__(self, other: IBJ) -> IBJ:
        return self + (-1) * other

    def __mul__(self, other) -> IBJ:
        if not isinstance(other, IBJ):  # a scalar
            other = sp.sympify(other)
            return IBJ(other * self.x, other * self.y, other * self.z)
        # (x I + y B + z J)(x' I + y' B + z' J) with B^2 = v B, B J = J B = v J, J^2 = V J
        return IBJ(
            sp.expand(self.x * other.x),
            sp.expand(self.x * other.y + self.y * other.x + v * self.y * other.y),
            sp.expand(
                self.x * other.z + self.z * other.x + v * (self.y * other.z + self.z * other.y) + V * self.z * other.z
            ),
        )

    __rmul__ = __mul__  # scalars commute, and so do elements of this algebra

    def trace(self) -> sp.Expr:
        """tr I = tr B = tr J = V."""
        return sp.expand(V * (self.x + self.y + self.z))

    def blocks(self) -> dict[str, sp.Expr]:
        """The three block values: ``{"diagonal", "same_topic", "diff_topic"}``."""
        return {"diagonal": self.x + self.y + self.z, "same_topic": self.y + self.z, "diff_topic": self.z}

    def eigenvalues(self) -> dict[str, tuple[sp.Expr, sp.Expr]]:
        """Eigenvalue and multiplicity on each eigenspace (the ranges of :func:`idempotents`)."""
        return {
            "all_ones": (sp.expand(self.x + v * self.y + V * self.z), sp.Integer(1)),
            "topic_contrast": (sp.expand(self.x + v * self.y), T - 1),
            "within_topic": (self.x, V - T),
        }

    def on_topic_set(self) -> tuple[sp.Expr, sp.Expr]:
        """``W 1_S / (tau v)`` (uniform attention over the words of S) = ``z_in 1_S + z_out 1``.

        Returns ``(z_in - z_out, z_out)``: B 1_S = v 1_S and J 1_S = tau v 1 for a union S of topics.
        """
        return sp.expand((self.x + v * self.y) / (tau * v)), self.z

    def matrix(self, num_topics: int, words_per_topic: int) -> sp.Matrix:
        """The explicit (V, V) sympy matrix for given T and v (words of topic t are t v .. t v + v - 1)."""
        num_topics = check_int("num_topics", num_topics, 1)
        words_per_topic = check_int("words_per_topic", words_per_topic, 1)
        size = num_topics * words_per_topic
        values = {T: num_topics, v: words_per_topic}
        x, y, z = (sp.sympify(c).subs(values) for c in (self.x, self.y, self.z))
        same = sp.Matrix(size, size, lambda i, j: int(i // words_per_topic == j // words_per_topic))
        return x * sp.eye(size) + y * same + z * sp.ones(size, size)

    def simplify(self) -> IBJ:
        """Each coefficient simplified."""
        return IBJ(sp.simplify(self.x), sp.simplify(self.y), sp.simplify(self.z))

    def expr(self) -> sp.Expr:
        """``x I + y B + z J`` as a sympy expression in commuting symbols I, B, J (for display)."""
        return sum((sp.factor(c) * sp.Symbol(name) for c, name in zip((self.x, self.y, self.z), "IBJ")), sp.Integer(0))


def basis() -> tuple[IBJ, IBJ, IBJ]:
    """``I, B, J`` as algebra elements."""
    one, zero = sp.Integer(1), sp.Integer(0)
    return IBJ(one, zero, zero), IBJ(zero, one, zero), IBJ(zero, zero, one)


def idempotents() -> tuple[IBJ, IBJ, IBJ]:
    """Orthogonal projections onto the three eigenspaces, summing to I.

    ``J / V`` (constant vectors), ``B / v - J / V`` (topic contrasts, rank T - 1) and
    ``I - B / v`` (contrasts within a topic, rank V - T).
    """
    identity, B, J = basis()
    return J * (1 / V), B * (1 / v) - J * (1 / V), identity - B * (1 / v)


# ----- the population loss as a function of the logit margin ------------------------------------


def expected_loss(margin: sp.Expr, offset: sp.Expr, loss: str = "cross_entropy") -> sp.Expr:
    """Expected loss of logits ``z_out + margin`` on the tau v words of S and ``z_out`` elsewhere,
    the label uniform over the words of S (the population loss at uniform attention).

    Cross-entropy: ``-z_in + log(tau v e^{z_in} + (V - tau v) e^{z_out})``, which depends on the
    margin only. Squared: ``(1/2) E_y ||z - e_y||^2``.
    """
    check_choice("loss", loss, LOSSES)
    z_in, z_out = offset + margin, offset
    if loss == "cross_entropy":
        return -margin + sp.log(tau * v * sp.exp(margin) + V - tau * v)
    return sp.Rational(1, 2) * (tau * v * z_in**2 + (V - tau * v) * z_out**2 - 2 * z_in + 1)


def in_topic_probability(margin: sp.Expr) -> sp.Expr:
    """``p_in(D)``: the softmax mass on the document's own words."""
    return tau * v * sp.exp(margin) / (tau * v * sp.exp(margin) + V - tau * v)


# ----- C2: the value matrix -----------------------------------------------------------------------

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
    values = _setting(num_topics, words_per_topic, topics_per_doc, weight_decay)
    check_choice("loss", loss, LOSSES)
    solution = value_solution(loss)
    if loss == "squared":
        return {k: float(sp.N(e.subs(values), PRECISION)) for k, e in solution["blocks"].items()}
    margin = solve_margin(solution["equation"].subs(values), _value_margin_bracket(values))
    return {k: float(sp.N(e.subs(values).subs(D, margin), PRECISION)) for k, e in solution["blocks"].items()}


def value_margin(num_topics: int, words_per_topic: int, topics_per_doc: int, weight_decay: float) -> sp.Float:
    """The optimal cross-entropy margin ``D`` of C2 at 30 digits."""
    values = _setting(num_topics, words_per_topic, topics_per_doc, weight_decay)
    return solve_margin(value_solution("cross_entropy")["equation"].subs(values), _value_margin_bracket(values))


def _value_margin_bracket(values: dict) -> tuple[float, float]:
    # 1 - p_in(D) falls from 1 - tau/T at D = 0 while the penalty slope rises linearly from 0, so
    # the root lies between 0 and the D where the penalty slope reaches 1 - tau/T.
    slope = value_solution("cross_entropy")["penalty_slope"].subs(values).subs(D, 1)
    start = 1 - values[tau] / values[T]
    return 0.0, float(start / slope) + 1.0


def solve_margin(equation: sp.Expr, bracket: tuple[float, float]) -> sp.Float:
    """The root in ``D`` of a scalar equation, by bracketed ``nsolve`` at :data:`PRECISION` digits."""
    if equation.free_symbols - {D}:
        raise ValueError(f"equation has unset symbols {sorted(map(str, equation.free_symbols - {D}))}")
    low, high = bracket
    if sp.N(equation.subs(D, low)) == 0:
        return sp.Float(low, PRECISION)
    return sp.nsolve(equation, D, (low, high), solver="anderson", prec=PRECISION)


# ----- C1: the embeddings -----------------------------------------------------------------------

gram_eigenvalues = sp.symbols("mu_1 mu_2 mu_3", nonnegative=True)


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
    kappa = sp.Symbol("kappa", positive=True)
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
    values = _setting(num_topics, words_per_topic, topics_per_doc, weight_decay)
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
    values = _setting(num_topics, words_per_topic, topics_per_doc, 1.0)  # lambda is the unknown
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
    values = _setting(num_topics, words_per_topic, topics_per_doc, weight_decay)
    solution = embedding_solution()
    kappa = solution["kappa_value"].subs(values)
    if kappa < 1 - sp.Rational(values[tau], values[T]):
        margin = sp.N(solution["margin"].subs(values).subs(solution["kappa"], kappa), PRECISION)
    else:
        margin = sp.Integer(0)  # collapse: the constraint D >= 0 (G positive semidefinite) binds
    return {k: float(sp.N(e.subs(values).subs(D, margin), PRECISION)) for k, e in solution["blocks"].items()}


def _setting(num_topics, words_per_topic, topics_per_doc, weight_decay) -> dict:
    """Validated numbers for the symbols; exact rationals so that sympy keeps full precision."""
    num_topics = check_int("num_topics", num_topics, 2)
    words_per_topic = check_int("words_per_topic", words_per_topic, 2)
    topics_per_doc = check_int("topics_per_doc", topics_per_doc, 1, num_topics)
    weight_decay = check_float("weight_decay", weight_decay, 0.0, low_open=True)
    return {T: num_topics, v: words_per_topic, tau: topics_per_doc, lam: sp.Rational(weight_decay)}


# ----- finite document length: what training on sampled documents actually optimises ------------


def sample_key_bags(
    vocab: Vocabulary,
    topics_per_doc: int,
    doc_length,
    mask_prob: float,
    num_docs: int,
    seed: Seed,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Key bags of ``num_docs`` equal-mixture documents of finite length.

    At uniform attention a document enters the model only through the frequencies of its visible
    (unchosen) words. Each of its N words is chosen with probability ``mask_prob``; the remaining
    ``K ~ Binomial(N, 1 - mask_prob)`` keys are i.i.d. uniform over the ``tau v`` words of S.
    Returns ``bags`` (num_docs, V) float64 word frequencies (rows sum to 1; a document with no
    visible key gets a zero row, as in the model) and ``in_set`` (num_docs, V) bool, the words of S.
    """
    check_topic_counts(vocab.num_topics, vocab.words_per_topic, topics_per_doc)
    low, high = check_doc_length(doc_length)
    check_float("mask_prob", mask_prob, 0.0, 1.0, low_open=True, high_open=True)
    check_int("num_docs", num_docs, 1)
    rng = as_generator(seed)
    v = vocab.words_per_topic
    topic_sets = np.argsort(rng.random((num_docs, vocab.num_topics)), axis=1)[:, :topics_per_doc]
    words = (topic_sets[:, :, None] * v + np.arange(v)).reshape(num_docs, -1)  # (n, tau v)
    keys = rng.binomial(rng.integers(low, high + 1, size=num_docs), 1 - mask_prob)
    counts = rng.multinomial(keys, np.full(words.shape[1], 1 / words.shape[1]))  # (n, tau v)
    bags = np.zeros((num_docs, vocab.num_words))
    np.put_along_axis(bags, words, counts / np.maximum(keys, 1)[:, None], axis=1)
    in_set = np.zeros((num_docs, vocab.num_words), dtype=bool)
    np.put_along_axis(in_set, words, True, axis=1)
    return torch.from_numpy(bags), torch.from_numpy(in_set)


def finite_length_loss(
    word_matrix: torch.Tensor, bags: torch.Tensor, in_set: torch.Tensor, loss: str = "cross_entropy"
) -> torch.Tensor:
    """Expected loss at uniform attention over sampled key bags, exact in the label.

    word_matrix: (V, V) logit of word y per unit attention on word k (``W_V`` for C2, ``E E^T``
    for C1); bags, in_set: (n, V) from :func:`sample_key_bags`. The chosen word is a fresh uniform
    draw from S, independent of the keys, so its expectation is taken exactly; only the keys are
    sampled. As the length grows this tends to the population loss (:mod:`population`).
    """
    check_choice("loss", loss, LOSSES)
    logits = bags.to(word_matrix.dtype) @ word_matrix.T  # (n, V)
    in_set = in_set.to(word_matrix.dtype)
    set_size = in_set.sum(1)
    if loss == "cross_entropy":
        per_doc = torch.logsumexp(logits, dim=1) - (logits * in_set).sum(1) / set_size
    else:  # (1/2) E_y ||z - e_y||^2
        per_doc = 0.5 * ((logits**2).sum(1) - 2 * (logits * in_set).sum(1) / set_size + 1)
    return per_doc.mean()


def fit_finite_length(
    model: TopicTransformer,
    bags: torch.Tensor,
    in_set: torch.Tensor,
    weight_decay: float,
    steps: int = 50,
    tolerance: float = 1e-12,
) -> list[float]:
    """Minimise :func:`finite_length_loss` + ``(weight_decay/2) sum ||W||^2`` over the model's
    trained matrices with L-BFGS: the optimum that training on documents of that length targets.

    Only uniform-attention models are meaningful here (their logits depend on the keys' bag alone).
    """
    if model.config.attention != "uniform":
        raise ValueError(
            f"model.config.attention must be 'uniform' for a bag-of-keys loss, got {model.config.attention!r}"
        )
    check_float("weight_decay", weight_decay, 0.0)
    check_int("steps", steps, 1)
    V = model.vocab.num_words
    parameters = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.LBFGS(
        parameters,
        lr=1.0,
        max_iter=20,
        history_size=50,
        tolerance_grad=tolerance,
        tolerance_change=tolerance,
        line_search_fn="strong_wolfe",
    )

    def closure() -> torch.Tensor:
        optimizer.zero_grad()
        objective = (
            finite_length_loss(model.value_output_matrix()[:, :V], bags, in_set, model.config.loss)
            + weight_decay * model.l2_penalty()
        )
        objective.backward()
        return objective

    losses: list[float] = []
    for _ in range(steps):
        losses.append(float(optimizer.step(closure).detach()))
        if len(losses) > 1 and abs(losses[-2] - losses[-1]) <= tolerance * max(1.0, abs(losses[-1])):
            break
    return losses
