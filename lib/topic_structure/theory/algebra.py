"""The algebra every claim's theory shares: the symbols of the setting, the ``I, B, J`` algebra,
the population loss at uniform attention as a function of one logit margin, and one validator of
the topic-model setting.

Symmetry is the workhorse (notebooks/topic_structure/THEORY.md §4). The population loss is invariant under permuting
topics and permuting the words of a topic, and it is convex in the word x word matrix it depends on, so a
minimiser lies in the span of

    I  (identity),   B  (same-topic indicator, B_ij = 1 iff topic(i) = topic(j)),   J  (all ones),

an algebra closed under products: ``B^2 = v B``, ``B J = J B = v J``, ``J^2 = V J``. :class:`IBJ`
is one element ``x I + y B + z J`` of it with exact sympy coefficients.

Uniform attention over the words of a topic set ``S`` (``tau`` topics, ``tau v`` words) turns a
matrix ``W`` into the logit vector ``W 1_S / (tau v)``, and ``B 1_S = v 1_S``, ``J 1_S = tau v 1``,
so every logit takes one of two values: ``z_in`` on the words of ``S`` and ``z_out`` elsewhere, and
the population loss becomes a function of the margin ``D = z_in - z_out`` (:func:`expected_loss`).

Block values follow :mod:`measurements`: ``diagonal = x + y + z``, ``same_topic = y + z`` (off the
diagonal), ``diff_topic = z``.

The symbols shared by several claims are declared here once: ``T, v, tau`` (topics, words per topic,
topics per document), ``V = T v``, ``lam`` (weight decay), ``D`` (the logit margin), ``p_c, p_r``
(keep and random probabilities of a chosen position).
"""

from __future__ import annotations

from dataclasses import dataclass

import sympy as sp

from topic_structure.model import LOSSES
from topic_structure.params import check_choice, check_int, check_weight_decay

PRECISION = 30  # decimal digits of every nsolve

# The symbols of the setting. V = T v is kept as a product so that expressions simplify.
T, v, tau = sp.symbols("T v tau", positive=True, integer=True)
V = T * v
lam = sp.Symbol("lambda", positive=True)  # weight decay
D = sp.Symbol("D", real=True)  # z_in - z_out: the logit margin of a document's own words
p_c, p_r = sp.symbols("p_c p_r", nonnegative=True)  # keep_prob, random_prob of a chosen position


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


def products_match_matrices(shapes=((3, 2), (2, 4))) -> dict[tuple[int, int], bool]:
    """For each ``(T, v)`` in ``shapes``: whether all nine products of ``I, B, J`` computed by the
    algebra's rules (:meth:`IBJ.__mul__`) equal the products of the explicit 0/1 matrices."""
    elements = basis()
    return {
        (T_, v_): all((X * Y).matrix(T_, v_) == X.matrix(T_, v_) * Y.matrix(T_, v_) for X in elements for Y in elements)
        for T_, v_ in shapes
    }


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


def solve_margin(equation: sp.Expr, bracket: tuple[float, float]) -> sp.Float:
    """The root in ``D`` of a scalar equation, by bracketed ``nsolve`` at :data:`PRECISION` digits."""
    if equation.free_symbols - {D}:
        raise ValueError(f"equation has unset symbols {sorted(map(str, equation.free_symbols - {D}))}")
    low, high = bracket
    if sp.N(equation.subs(D, low)) == 0:
        return sp.Float(low, PRECISION)
    return sp.nsolve(equation, D, (low, high), solver="anderson", prec=PRECISION)


def topic_setting(
    num_topics: int,
    words_per_topic: int,
    topics_per_doc: int,
    weight_decay: float | None = None,
    *,
    min_words_per_topic: int = 2,
    min_topics_per_doc: int = 1,
) -> dict:
    """The validated numbers ``{T, v, tau}`` (and ``lam`` when ``weight_decay`` is given) of a
    topic-model setting: the one validator of every claim's theory.

    ``T >= 2`` topics (one topic has no topic structure), ``v >= min_words_per_topic`` words per topic,
    ``min_topics_per_doc <= tau <= T`` and ``weight_decay > 0`` (C1 and C2 have no optimum without a
    penalty), kept as an exact rational so that sympy keeps full precision. The defaults fit C1, C2
    and C4 (with ``v = 1`` the same-topic off-diagonal block of the ``I, B, J`` algebra is empty); C3
    allows ``v = 1`` but needs ``tau >= 2`` (with one topic per document every key is in the query's
    topic, whatever the scores).
    """
    num_topics = check_int("num_topics", num_topics, 2)
    words_per_topic = check_int("words_per_topic", words_per_topic, min_words_per_topic)
    topics_per_doc = check_int("topics_per_doc", topics_per_doc, min_topics_per_doc, num_topics)
    values = {T: num_topics, v: words_per_topic, tau: topics_per_doc}
    if weight_decay is not None:
        values[lam] = sp.Rational(check_weight_decay(weight_decay, positive=True))
    return values
