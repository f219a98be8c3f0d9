"""Claim C4, the two-stage training dynamics: the gradient flow of the population loss, reduced by symmetry to an ODE.

Setting (notebooks/topic_structure/THEORY.md §3-4): one-hot E, so ``d = V + 2`` (content words, [MASK], [PAD]);
``W_pred = [I | 0]``; trained ``W_K, W_Q, W_V`` (d x d); cross-entropy; chosen positions are not attended to;
equal-mixture documents in the population limit N -> infinity (:mod:`population`). Time ``t`` is gradient-flow
time: gradient descent with step ``eta`` reaches time ``t`` after ``t / eta`` steps.

**The invariant subspace.** Let G permute the topics and the words inside each topic, acting on both
indices of a d x d matrix and fixing [MASK] and [PAD]. Replacing every ``W`` by ``P W P^T`` maps the
scores ``A = W_K^T W_Q / sqrt(d)`` to ``P A P^T`` and the value logits the same way, and the population
loss averages over all topic sets and labels, so it is unchanged: its gradient is G-equivariant and the
G-fixed matrices (``P W P^T = W`` for all P in G) form a subspace that gradient flow, gradient descent
and weight decay never leave. A fixed matrix is constant on each of 11 orbits of entries: on the
content block ``a I + b (B - I) + c (J - B)`` (diagonal ``a``, same topic ``b``, different topic ``c``;
:func:`measurements.block_matrix`), plus one value each on the content part of the [MASK] column,
[MASK] row, [PAD] column, [PAD] row, and the four entries of the 2 x 2 special block.

**What moves.** Only the nine content-block values of ``W_V, W_K, W_Q`` (:data:`STATE_NAMES`):

- ``W_V``: logits read ``W_V[:V, k]`` for visible keys ``k``, which are content words, so its eight
  special orbits never enter the loss.
- ``W_K, W_Q``: their [MASK] and [PAD] rows add ``m_K m_Q + p_K p_Q`` to every content score, the same
  for every key, which the softmax ignores; the [MASK] column of ``W_Q`` gives a [MASK] query the same
  score on every key (a column sum of ``W_K`` times a constant), so [MASK] queries attend uniformly at
  every symmetric point. The softmax gradient sums to zero over the keys, so all these coordinates
  have zero gradient there; the rest (key columns of [MASK]/[PAD], the [PAD] query column) never
  enter. They keep their initial values (decay as ``e^{-lambda t}`` under weight decay); we start
  them at 0.

With the orbit indicator matrices as basis (disjoint supports, sizes ``n = (V, V(v-1), V(V-v))``),
``dW/dt = -grad L - lambda W`` reads ``d theta_i/dt = -(1/n_i) dL/dtheta_i - lambda theta_i``.

**The reduced loss.** At a symmetric point a word query ``q`` whose topic lies in the document's topic
set S puts ``e^alpha / Z`` on (the type of) ``q`` itself, ``e^beta / Z`` on each other word of its topic
and ``e^gamma / Z`` on each word of the other ``tau - 1`` topics of S (``alpha, beta, gamma``: the
diagonal, same-topic and different-topic scores); a [MASK] query, or a word outside S, attends
uniformly. The logit of a word ``y`` takes one of four values by how ``y`` relates to ``q`` (``q``
itself, same topic, another topic of S, outside S), and the population loss is a finite average over
those cases: :func:`reduced_loss`, derived in sympy, checked against :mod:`population` in the tests.

The full-matrix population gradient descent that the ODE is compared with, and the orbits of the
subspace, are :mod:`theory.population_descent`; stage 1 in closed form and the onset of stage 2 are
:mod:`theory.onset`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache, cached_property
from typing import NamedTuple

import numpy as np
import pandas as pd
import sympy as sp
from scipy.integrate import solve_ivp

from topic_structure import params
from topic_structure.data import Vocabulary
from topic_structure.measurements import BLOCKS
from topic_structure.theory.algebra import IBJ, T, V, p_c, p_r, tau, topic_setting, v

d = V + 2  # one-hot width: content words, [MASK], [PAD]
t = sp.Symbol("t", nonnegative=True)  # gradient-flow time
delta = sp.Symbol("delta", real=True)  # value margin: in-document minus out-of-document logit
epsilon = sp.Symbol("epsilon", positive=True)  # initial amplitude of the key/query topic mode (not C3's score shift)
excess = sp.Symbol("Delta_x", positive=True)  # onset: same-topic mass exceeds 1/tau by this

MATRICES = ("value", "key", "query")
STATE_NAMES = tuple(f"{matrix}.{block}" for matrix in MATRICES for block in BLOCKS)
value_blocks = sp.symbols("a_V b_V c_V", real=True)
key_blocks = sp.symbols("a_K b_K c_K", real=True)
query_blocks = sp.symbols("a_Q b_Q c_Q", real=True)
score_blocks = sp.symbols("alpha beta gamma", real=True)  # diagonal, same-topic, different-topic scores
# Logit of the label relative to a word query q in S: y = q, same topic, other topic of S; and the
# in-document logit of a uniformly attending query. Out-of-document words always get c_V.
logit_symbols = sp.symbols("ell_self ell_same ell_other ell_in", real=True)
score_partial_symbols = sp.symbols("g_alpha g_beta g_gamma", real=True)  # dL/dalpha, dL/dbeta, dL/dgamma

NORM_COLUMNS = {"value": "norm.W_V", "key": "norm.W_K", "query": "norm.W_Q"}
MASS, UNIFORM_MASS = "attention.same_topic_mass", "attention.uniform_same_topic_mass"
INITS = ("symmetric", "random")


def orbit_sizes() -> tuple[sp.Expr, sp.Expr, sp.Expr]:
    """Entries in the diagonal, same-topic and different-topic orbits of the content block."""
    return V, V * (v - 1), V * (V - v)


def score_blocks_of(key: tuple, query: tuple) -> dict[str, sp.Expr]:
    """Diagonal, same-topic, different-topic scores of ``W_K^T W_Q / sqrt(d)`` over content words.

    The content blocks are symmetric elements of the I, B, J algebra, so ``W_K^T W_Q`` is their
    product; the special rows only add a key-independent constant (left out: softmax ignores it).
    """
    product = IBJ.from_blocks(*key) * IBJ.from_blocks(*query)
    return {block: sp.expand(value / sp.sqrt(d)) for block, value in product.blocks().items()}


class ReducedLoss(NamedTuple):
    """The population loss at a symmetric point, in two levels (so that sympy stays fast).

    loss: in the score blocks, the value blocks, the logit symbols and ``p_c, p_r, T, v, tau``.
    logits: each logit symbol -> its expression in the score and value blocks.
    terms: the loss of each query kind ("mask", "keep", "random") in the same symbols.
    """

    loss: sp.Expr
    logits: dict[sp.Symbol, sp.Expr]
    terms: dict[str, sp.Expr]


@cache
def reduced_loss() -> ReducedLoss:
    """The population loss at a point of the symmetric subspace (see the module docstring)."""
    alpha, beta, gamma = score_blocks
    a, b, c = value_blocks
    ell_self, ell_same, ell_other, ell_in = logit_symbols
    Z = sp.exp(alpha) + (v - 1) * sp.exp(beta) + (tau - 1) * v * sp.exp(gamma)
    on_self, on_same, on_other = sp.exp(alpha) / Z, sp.exp(beta) / Z, sp.exp(gamma) / Z  # per key type
    logits = {
        ell_self: a * on_self + (v - 1) * b * on_same + (tau - 1) * v * c * on_other,
        ell_same: b * on_self + (a + (v - 2) * b) * on_same + (tau - 1) * v * c * on_other,
        ell_other: c * on_self + (v - 1) * c * on_same + (a + (v - 1) * b + (tau - 2) * v * c) * on_other,
        ell_in: (a + (v - 1) * b + (tau - 1) * v * c) / (tau * v),
    }
    log_z_word = sp.log(
        sp.exp(ell_self) + (v - 1) * sp.exp(ell_same) + (tau - 1) * v * sp.exp(ell_other) + (V - tau * v) * sp.exp(c)
    )
    uniform = -ell_in + sp.log(tau * v * sp.exp(ell_in) + (V - tau * v) * sp.exp(c))  # label uniform over S
    keep = -ell_self + log_z_word
    # A random word r ~ U(V) against a label y ~ U(S): r = y, same topic, another topic of S, outside S.
    random = (
        keep + (v - 1) * (-ell_same + log_z_word) + (tau - 1) * v * (-ell_other + log_z_word) + (V - tau * v) * uniform
    ) / V
    terms = {"mask": uniform, "keep": keep, "random": random}
    return ReducedLoss((1 - p_c - p_r) * uniform + p_c * keep + p_r * random, logits, terms)


def total_derivative(expression: sp.Expr, variable: sp.Symbol) -> sp.Expr:
    """d/d variable of an expression of the reduced loss's two levels (chain rule through the logits)."""
    logits = reduced_loss().logits
    return sp.diff(expression, variable) + sum(sp.diff(expression, s) * sp.diff(e, variable) for s, e in logits.items())


@cache
def reduced_gradient() -> dict[str, sp.Expr]:
    """``dL/dtheta`` for the nine state coordinates (:data:`STATE_NAMES`), keyed by name.

    Value blocks directly; key and query blocks through the scores: ``dL/dK_i = sum_j dL/dA_j dA_j/dK_i``,
    written with the score partials as :data:`score_partial_symbols` (their expressions:
    :func:`score_partials`).
    """
    loss = reduced_loss().loss
    gradient = {f"value.{block}": total_derivative(loss, s) for block, s in zip(BLOCKS, value_blocks)}
    partials = score_partial_symbols
    scores = list(score_blocks_of(key_blocks, query_blocks).values())
    for matrix, symbols in (("key", key_blocks), ("query", query_blocks)):
        for block, s in zip(BLOCKS, symbols):
            gradient[f"{matrix}.{block}"] = sp.expand(sum(g * sp.diff(score, s) for g, score in zip(partials, scores)))
    return gradient


@cache
def score_partials() -> tuple[sp.Expr, sp.Expr, sp.Expr]:
    """``dL/dalpha, dL/dbeta, dL/dgamma`` (each sums the score gradient over its whole orbit)."""
    loss = reduced_loss().loss
    return tuple(total_derivative(loss, s) for s in score_blocks)


# ----- numbers: the reduced flow ----------------------------------------------------------------------


@cache
def _compiled() -> dict[str, Callable]:
    """The sympy expressions as fast scalar functions (compiled once per process)."""
    setting = (T, v, tau, p_c, p_r)
    inner = score_blocks + value_blocks
    reduced = reduced_loss()
    # Level 1: logits from scores and values; level 2: loss and partials from logits too.
    logits = list(reduced.logits.values())
    level2 = score_blocks + value_blocks + logit_symbols
    partials = [sp.diff(reduced.loss, s) for s in level2]  # explicit partials; chain rule below
    logit_jacobian = [[sp.diff(e, s) for s in inner] for e in logits]
    scores = list(score_blocks_of(key_blocks, query_blocks).values())
    kq = reduced_gradient()
    return {
        "scores": sp.lambdify(key_blocks + query_blocks + (T, v), scores, "math"),
        "logits": sp.lambdify(inner + (T, v, tau), logits, "math", cse=True),
        "logit_jacobian": sp.lambdify(inner + (T, v, tau), logit_jacobian, "math", cse=True),
        "loss": sp.lambdify(level2 + setting, reduced.loss, "math", cse=True),
        "partials": sp.lambdify(level2 + setting, partials, "math", cse=True),
        "key_query": sp.lambdify(
            key_blocks + query_blocks + score_partial_symbols + (T, v),
            [kq[f"{m}.{b}"] for m in ("key", "query") for b in BLOCKS],
            "math",
        ),
    }


@dataclass(frozen=True)
class ReducedFlow:
    """Gradient flow of the population loss (+ weight decay) on the nine symmetric coordinates.

    A state is a (9,) float array in the order of :data:`STATE_NAMES`: diagonal, same-topic and
    different-topic values of the content blocks of ``W_V``, ``W_K``, ``W_Q``.
    """

    num_topics: int
    words_per_topic: int
    topics_per_doc: int
    keep_prob: float
    random_prob: float
    weight_decay: float = 0.0

    def __post_init__(self) -> None:
        topic_setting(self.num_topics, self.words_per_topic, self.topics_per_doc)
        params.check_masking_probabilities(params.DEFAULT_MASK_PROB, self.keep_prob, self.random_prob)
        params.check_weight_decay(self.weight_decay)

    @property
    def vocab(self) -> Vocabulary:
        """The vocabulary of this setting."""
        return Vocabulary(self.num_topics, self.words_per_topic)

    @cached_property
    def orbit_sizes(self) -> np.ndarray:
        """(9,) entries per coordinate: ``(V, V(v-1), V(V-v))`` for each matrix."""
        sizes = [float(n.subs({T: self.num_topics, v: self.words_per_topic})) for n in orbit_sizes()]
        return np.array(sizes * 3)

    def scores(self, state) -> tuple[float, float, float]:
        """Diagonal, same-topic, different-topic scores ``(alpha, beta, gamma)``."""
        state = as_state(state)
        return tuple(_compiled()["scores"](*state[3:], self.num_topics, self.words_per_topic))

    def _level2(self, state) -> tuple:
        state = as_state(state)
        inner = (*self.scores(state), *state[:3])
        logits = _compiled()["logits"](*inner, self.num_topics, self.words_per_topic, self.topics_per_doc)
        return (*inner, *logits)

    def _setting(self) -> tuple:
        return self.num_topics, self.words_per_topic, self.topics_per_doc, self.keep_prob, self.random_prob

    def loss(self, state) -> float:
        """The population loss (without the penalty)."""
        return float(_compiled()["loss"](*self._level2(state), *self._setting()))

    def gradient(self, state) -> np.ndarray:
        """(9,) ``dL/dtheta``: the full-matrix gradient summed over each orbit (penalty excluded)."""
        state = as_state(state)
        level2 = self._level2(state)
        explicit = np.array(_compiled()["partials"](*level2, *self._setting()))
        jacobian = np.array(_compiled()["logit_jacobian"](*level2[:6], *self._setting()[:3]))  # (4, 6)
        inner = explicit[:6] + explicit[6:] @ jacobian  # chain rule through the logits
        key_query = _compiled()["key_query"](*state[3:], *inner[:3], self.num_topics, self.words_per_topic)
        return np.concatenate([inner[3:], key_query])

    def velocity(self, state) -> np.ndarray:
        """(9,) ``d theta/dt = -(1/n) dL/dtheta - lambda theta``."""
        state = as_state(state)
        return -self.gradient(state) / self.orbit_sizes - self.weight_decay * state

    def same_topic_mass(self, state) -> float:
        """Attention of a word query (topic in the document) on the words of its own topic."""
        alpha, beta, gamma = self.scores(state)
        own = math.exp(alpha - gamma) + (self.words_per_topic - 1) * math.exp(beta - gamma)
        return own / (own + (self.topics_per_doc - 1) * self.words_per_topic)

    def norms(self, state) -> dict[str, float]:
        """Frobenius norms of ``W_V, W_K, W_Q`` (special entries 0, as in :func:`theory.population_descent.embed`)."""
        state = as_state(state)
        squares = (self.orbit_sizes * state**2).reshape(3, 3).sum(1)
        return {NORM_COLUMNS[m]: float(math.sqrt(s)) for m, s in zip(MATRICES, squares)}


def as_state(state) -> np.ndarray:
    """Validate a state: a (9,) float array in the order of :data:`STATE_NAMES`."""
    state = np.asarray(state, dtype=float)
    if state.shape != (9,):
        raise ValueError(f"state must have shape (9,) (the coordinates {STATE_NAMES}), got {state.shape}")
    return state


def symmetric_state(value=(0.0, 0.0, 0.0), key=(0.0, 0.0, 0.0), query=(0.0, 0.0, 0.0)) -> np.ndarray:
    """(9,) state from the (diagonal, same-topic, different-topic) values of each content block."""
    parts = []
    for name, blocks in (("value", value), ("key", key), ("query", query)):
        if len(blocks) != 3:
            raise ValueError(f"{name} must be 3 block values (diagonal, same_topic, diff_topic), got {blocks!r}")
        parts += [params.check_float(f"{name}[{i}]", x) for i, x in enumerate(blocks)]
    return np.array(parts)


def initial_state(init_scale: float, num_topics: int, words_per_topic: int, init: str = "symmetric") -> np.ndarray:
    """The symmetric starting point of the theory for an initialisation of scale ``init_scale``.

    "symmetric": every content block is ``init_scale * I`` (the state of :func:`theory.population_descent.embed` for the
    model this gives), so the reduced flow is exact.
    "random": entries i.i.d. N(0, init_scale^2) have no symmetric part on average; what matters is
    the energy in the key/query topic modes that grow. Summing ``(K_h + Q_h) . u`` over the d rows h
    gives ``E sum_h ((K_h + Q_h) . u)^2 / 4 = d init_scale^2 / 2`` per unit topic direction u, the
    same as ``K = Q = epsilon I`` with ``epsilon = init_scale sqrt(d / 2)``; ``W_V`` starts at 0.
    """
    scale = params.check_float("init_scale", init_scale, 0.0)
    params.check_choice("init", init, INITS)
    params.check_topic_counts(num_topics, words_per_topic)
    if init == "symmetric":
        return symmetric_state((scale, 0, 0), (scale, 0, 0), (scale, 0, 0))
    width = num_topics * words_per_topic + 2
    amplitude = scale * math.sqrt(width / 2)
    return symmetric_state((0, 0, 0), (amplitude, 0, 0), (amplitude, 0, 0))


# ----- trajectories: the ODE and full-matrix population gradient descent -------------------------------


def integrate(
    flow: ReducedFlow,
    state,
    duration: float,
    method: str = "rk45",
    learning_rate: float | None = None,
    points: int = 400,
    rtol: float = 1e-8,
) -> pd.DataFrame:
    """Integrate the reduced flow from ``state`` for ``duration`` (gradient-flow time).

    method "rk45": scipy's adaptive Runge-Kutta (the continuous flow), recorded at ``points`` times.
    method "euler": the fixed step ``learning_rate``, which is gradient descent restricted to the
    subspace, step for step (every step recorded up to ``points`` records).
    Columns: step (euler only), time, norm.W_V/W_K/W_Q, attention.same_topic_mass,
    attention.uniform_same_topic_mass (= 1/tau), loss, and the nine state coordinates.
    """
    params.check_choice("method", method, ("rk45", "euler"))
    duration = params.check_float("duration", duration, 0.0, low_open=True)
    params.check_int("points", points, 2)
    state = as_state(state)
    if method == "rk45":
        times = np.linspace(0.0, duration, points)
        solution = solve_ivp(lambda _, y: flow.velocity(y), (0.0, duration), state, t_eval=times, rtol=rtol, atol=1e-12)
        if not solution.success:
            raise RuntimeError(f"the reduced flow did not integrate: {solution.message}")
        states, steps = solution.y.T, None
    else:
        eta = params.check_learning_rate(learning_rate)
        num_steps = math.ceil(duration / eta - 1e-9)  # a whole number of steps, not one more by rounding
        every = max(1, num_steps // points)
        states, steps = [state], [0]
        for step in range(1, num_steps + 1):
            state = state + eta * flow.velocity(state)
            if step % every == 0 or step == num_steps:
                states.append(state)
                steps.append(step)
        times = np.array(steps) * eta
    records = []
    for time, y in zip(times, states):
        records.append(
            {
                "time": float(time),
                **flow.norms(y),
                MASS: flow.same_topic_mass(y),
                UNIFORM_MASS: 1 / flow.topics_per_doc,
                "loss": flow.loss(y),
                **dict(zip(STATE_NAMES, y)),
            }
        )
    frame = pd.DataFrame(records)
    if steps is not None:
        frame.insert(0, "step", steps)
    return frame


def onset_time(frame: pd.DataFrame, excess: float = 0.05, x: str = "time") -> float:
    """First ``x`` at which the same-topic mass exceeds its uniform value by ``excess`` (linear
    interpolation between records); NaN if it never does.

    frame: a trajectory with columns ``x``, attention.same_topic_mass and
    attention.uniform_same_topic_mass (:func:`integrate`, :func:`theory.population_descent.population_gradient_descent`,
    or :meth:`training.History.frame`).
    """
    params.check_float("excess", excess, 0.0, 1.0, low_open=True)
    for column in (x, MASS, UNIFORM_MASS):
        if column not in frame:
            raise ValueError(f"frame has no column {column!r}; it has {list(frame.columns)}")
    gap = (frame[MASS] - frame[UNIFORM_MASS] - excess).to_numpy()
    xs = frame[x].to_numpy(dtype=float)
    above = np.flatnonzero(gap >= 0)
    if len(above) == 0:
        return float("nan")
    i = above[0]
    if i == 0:
        return float(xs[0])
    return float(xs[i - 1] + (xs[i] - xs[i - 1]) * (-gap[i - 1]) / (gap[i] - gap[i - 1]))


def equivalent_relative_changes(
    ode: pd.DataFrame, flow: ReducedFlow, init_scale: float, initial_norms: dict[str, float]
) -> pd.DataFrame:
    """Relative changes ``||W(t) - W(0)|| / ||W(0)||`` that the reduced flow predicts for a random start.

    ode: :func:`integrate` from ``initial_state(init_scale, T, v, "random")`` (the equivalent
    symmetric start, amplitude ``eps0``); initial_norms: ``{"W_V", "W_K", "W_Q"}`` Frobenius norms of
    the random model at step 0. ``W_V`` starts at 0 in the flow, so its change is its norm,
    ``(sum_i n_i theta_V,i^2)^(1/2)``; every hidden row of ``W_K`` (and ``W_Q``) has ``T - 1`` topic-contrast
    components ``N(0, init_scale^2)``, whose sum grows as ``e^R`` and difference decays as ``e^-R``
    with ``R = log(D_K(t) / eps0)``, so the change is
    ``init_scale (d (T - 1) / 2 [(e^R - 1)^2 + (e^-R - 1)^2])^(1/2)``. Columns: time, change.W_V/W_K/W_Q.
    """
    T_, v_ = flow.num_topics, flow.words_per_topic
    d_ = T_ * v_ + 2
    amplitude = initial_state(init_scale, T_, v_, "random")[3]
    sizes = flow.orbit_sizes[:3]
    value_change = np.sqrt((ode[list(STATE_NAMES[:3])].to_numpy() ** 2 * sizes).sum(1))
    topic_mode = ode["key.diagonal"] + (v_ - 1) * ode["key.same_topic"] - v_ * ode["key.diff_topic"]
    R = np.log(topic_mode.to_numpy() / amplitude)
    key_change = init_scale * np.sqrt(d_ * (T_ - 1) / 2 * ((np.exp(R) - 1) ** 2 + (np.exp(-R) - 1) ** 2))
    return pd.DataFrame(
        {
            "time": ode["time"],
            "change.W_V": value_change / initial_norms["W_V"],
            "change.W_K": key_change / initial_norms["W_K"],
            "change.W_Q": key_change / initial_norms["W_Q"],
        }
    )
