"""Claim C4, the two-stage training dynamics: gradient flow on the population loss, reduced by symmetry.

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

**Two stages** (:func:`stage_one`, :func:`onset_theory`). At uniform attention the loss depends on
``W_V`` only through the margin ``delta`` (in-document minus out-of-document logit), which obeys
``d delta/dt = kappa (1 - p_in(delta))``; the score gradient is linear in ``W_V``, proportional to
``p_c`` (kept words), and its topic eigenvalue makes the topic modes of ``W_K, W_Q`` grow at rate
``r = p_c (tau - 1) delta / (v tau (T - 1) sqrt(d))``. Stage 2 starts when that growth, which starts
from ``init_scale^2``, lifts the same-topic attention mass ``excess`` above ``1 / tau``.
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
import torch
from scipy.integrate import solve_ivp
from scipy.optimize import brentq
from tqdm.std import tqdm  # text bars survive in committed notebook outputs

from topic_structure.data import Vocabulary
from topic_structure.measurements import BLOCKS, block_matrix
from topic_structure.model import ModelConfig, TopicTransformer
from topic_structure.params import (
    DEFAULT_MASK_PROB,
    check_choice,
    check_float,
    check_int,
    check_masking_probabilities,
    check_topic_counts,
)
from topic_structure.population import combine_terms, cross_entropy_loss_and_gradient, population_loss_terms
from topic_structure.theory.algebra import IBJ, T, V, p_c, p_r, tau, topic_setting, v
from topic_structure.theory.attention import same_topic_mass as population_same_topic_masses

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
        check_masking_probabilities(DEFAULT_MASK_PROB, self.keep_prob, self.random_prob)
        check_float("weight_decay", self.weight_decay, 0.0)

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
        """Frobenius norms of ``W_V, W_K, W_Q`` (special entries are 0 in :func:`embed` states)."""
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
        parts += [check_float(f"{name}[{i}]", x) for i, x in enumerate(blocks)]
    return np.array(parts)


def initial_state(init_scale: float, num_topics: int, words_per_topic: int, init: str = "symmetric") -> np.ndarray:
    """The symmetric starting point of the theory for an initialisation of scale ``init_scale``.

    "symmetric": every content block is ``init_scale * I`` (the state of :func:`embed` for the
    model this gives), so the reduced flow is exact.
    "random": entries i.i.d. N(0, init_scale^2) have no symmetric part on average; what matters is
    the energy in the key/query topic modes that grow. Summing ``(K_h + Q_h) . u`` over the d rows h
    gives ``E sum_h ((K_h + Q_h) . u)^2 / 4 = d init_scale^2 / 2`` per unit topic direction u, the
    same as ``K = Q = epsilon I`` with ``epsilon = init_scale sqrt(d / 2)``; ``W_V`` starts at 0.
    """
    scale = check_float("init_scale", init_scale, 0.0)
    check_choice("init", init, INITS)
    check_topic_counts(num_topics, words_per_topic)
    if init == "symmetric":
        return symmetric_state((scale, 0, 0), (scale, 0, 0), (scale, 0, 0))
    width = num_topics * words_per_topic + 2
    amplitude = scale * math.sqrt(width / 2)
    return symmetric_state((0, 0, 0), (amplitude, 0, 0), (amplitude, 0, 0))


def embed(state, vocab: Vocabulary) -> dict[str, torch.Tensor]:
    """The (d, d) float64 matrices ``W_V, W_K, W_Q`` of a state, special rows and columns 0."""
    state = as_state(state)
    matrices = {}
    for i, name in enumerate(("W_V", "W_K", "W_Q")):
        matrix = torch.zeros(vocab.size, vocab.size, dtype=torch.float64)
        matrix[: vocab.num_words, : vocab.num_words] = block_matrix(vocab, *state[3 * i : 3 * i + 3])
        matrices[name] = matrix
    return matrices


ORBITS = (
    "diagonal",
    "same_topic",
    "diff_topic",
    "mask_column",
    "mask_row",
    "pad_column",
    "pad_row",
    "mask_mask",
    "mask_pad",
    "pad_mask",
    "pad_pad",
)


def orbit_masks(vocab: Vocabulary) -> dict[str, torch.Tensor]:
    """(d, d) bool masks of the 11 orbits of entries of a d x d matrix under G (they partition it)."""
    size, V_, mask, pad = vocab.size, vocab.num_words, vocab.mask_id, vocab.pad_id
    same = vocab.same_topic()
    masks = {name: torch.zeros(size, size, dtype=torch.bool) for name in ORBITS}
    masks["diagonal"][:V_, :V_] = torch.eye(V_, dtype=torch.bool)
    masks["same_topic"][:V_, :V_] = same & ~torch.eye(V_, dtype=torch.bool)
    masks["diff_topic"][:V_, :V_] = ~same
    masks["mask_column"][:V_, mask] = True
    masks["mask_row"][mask, :V_] = True
    masks["pad_column"][:V_, pad] = True
    masks["pad_row"][pad, :V_] = True
    masks["mask_mask"][mask, mask] = True
    masks["mask_pad"][mask, pad] = True
    masks["pad_mask"][pad, mask] = True
    masks["pad_pad"][pad, pad] = True
    return masks


def project(matrix: torch.Tensor, vocab: Vocabulary) -> dict[str, float]:
    """Orthogonal projection of a (d, d) matrix on the G-fixed subspace: its mean on each orbit."""
    if matrix.shape != (vocab.size, vocab.size):
        raise ValueError(f"matrix must be ({vocab.size}, {vocab.size}), got {tuple(matrix.shape)}")
    return {name: float(matrix.detach()[m].double().mean()) for name, m in orbit_masks(vocab).items()}


def symmetrize(matrix: torch.Tensor, vocab: Vocabulary) -> torch.Tensor:
    """The projection of :func:`project` as a (d, d) float64 matrix."""
    means = project(matrix, vocab)
    out = torch.zeros(vocab.size, vocab.size, dtype=torch.float64)
    for name, m in orbit_masks(vocab).items():
        out[m] = means[name]
    return out


def symmetric_model(state, vocab: Vocabulary) -> TopicTransformer:
    """A float64 model (one-hot E, ``W_pred = I``, trained ``W_K, W_Q, W_V``) at ``state``."""
    config = ModelConfig(num_topics=vocab.num_topics, words_per_topic=vocab.words_per_topic, init_scale=0.0)
    model = TopicTransformer(config).double()
    with torch.no_grad():
        for name, matrix in embed(state, vocab).items():
            getattr(model, name).copy_(matrix)
    return model


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
    check_choice("method", method, ("rk45", "euler"))
    duration = check_float("duration", duration, 0.0, low_open=True)
    check_int("points", points, 2)
    state = as_state(state)
    if method == "rk45":
        times = np.linspace(0.0, duration, points)
        solution = solve_ivp(lambda _, y: flow.velocity(y), (0.0, duration), state, t_eval=times, rtol=rtol, atol=1e-12)
        if not solution.success:
            raise RuntimeError(f"the reduced flow did not integrate: {solution.message}")
        states, steps = solution.y.T, None
    else:
        eta = check_float("learning_rate", learning_rate, 0.0, low_open=True)
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


def population_same_topic_mass(score_matrix: torch.Tensor, vocab: Vocabulary, topics_per_doc: int) -> float:
    """Population average of the same-topic attention mass over word queries whose topic is in S."""
    return float(population_same_topic_masses(score_matrix.detach(), vocab, topics_per_doc).mean())


def population_gradient_descent(
    model: TopicTransformer,
    topics_per_doc: int,
    keep_prob: float,
    random_prob: float,
    learning_rate: float,
    steps: int,
    weight_decay: float = 0.0,
    record_every: int = 1,
    stop_excess: float | None = None,
    track_symmetry: bool = False,
    progress: bool = False,
) -> pd.DataFrame:
    """Full-batch gradient descent on the exact full-matrix population loss, no symmetry assumed.

    ``W <- W - learning_rate (grad L + weight_decay W)`` on every trained matrix of ``model`` (run it in
    float64). Records every ``record_every`` steps: step, time (= step * learning_rate), loss,
    norm.W_V/W_K/W_Q, change.W_V/W_K/W_Q (``||W - W(0)|| / ||W(0)||``) and the population same-topic
    mass of word queries; with ``track_symmetry`` also ``asymmetry``, the largest
    ``||W - symmetrize(W)|| / ||W||`` of the three matrices (0 inside the invariant subspace). Stops
    early once the mass exceeds ``1/tau + stop_excess``.
    """
    check_masking_probabilities(DEFAULT_MASK_PROB, keep_prob, random_prob)
    eta = check_float("learning_rate", learning_rate, 0.0, low_open=True)
    check_int("steps", steps, 1)
    check_int("record_every", record_every, 1)
    check_float("weight_decay", weight_decay, 0.0)
    if stop_excess is not None:
        check_float("stop_excess", stop_excess, 0.0, low_open=True)
    if model.config.embedding != "onehot" or model.config.attention != "trained" or model.config.value != "trained":
        raise ValueError(
            "population_gradient_descent needs one-hot embeddings and trained attention and value matrices"
        )
    vocab = model.vocab
    matrices = {"W_V": model.W_V, "W_K": model.W_K, "W_Q": model.W_Q}
    initial = {name: m.detach().clone() for name, m in matrices.items()}
    masks = list(orbit_masks(vocab).values())
    # the flat positions of each orbit, in the order a boolean mask reads them (so the same means), and the
    # orbit of every entry (the orbits partition the matrix): no mask search per step
    orbit_positions = [mask.flatten().nonzero().squeeze(1) for mask in masks]
    orbit_of_entry = torch.empty(masks[0].numel(), dtype=torch.long)
    for orbit, positions in enumerate(orbit_positions):
        orbit_of_entry[positions] = orbit

    def asymmetry(matrix: torch.Tensor) -> float:
        flat = matrix.reshape(-1)
        means = torch.stack([flat[positions].mean() for positions in orbit_positions])
        symmetric = means[orbit_of_entry].view_as(matrix)
        return float((matrix - symmetric).norm() / matrix.norm().clamp(min=1e-300))

    def record(step: int, loss: float, mass: float) -> dict:
        row = {"step": step, "time": step * eta, "loss": loss}
        for name, m in matrices.items():
            row[f"norm.{name}"] = float(m.detach().norm())
            row[f"change.{name}"] = float((m.detach() - initial[name]).norm() / initial[name].norm().clamp(min=1e-300))
        row[MASS] = mass
        row[UNIFORM_MASS] = 1 / topics_per_doc
        if track_symmetry:
            row["asymmetry"] = max(asymmetry(m.detach()) for m in matrices.values())
        return row

    parameters = [p for p in model.parameters() if p.requires_grad]
    records = []
    for step in tqdm(range(steps + 1), desc="population GD", disable=not progress, mininterval=1.0):
        scores, value_output = model.score_matrix(), model.value_output_matrix()
        if model.config.loss == "cross_entropy":  # the gradient written out: several times faster than autograd
            loss, *score_and_value_grads, mass = cross_entropy_loss_and_gradient(
                scores.detach(), value_output.detach(), vocab, topics_per_doc, keep_prob, random_prob
            )
        else:
            loss = combine_terms(
                population_loss_terms(scores, value_output, vocab, topics_per_doc), keep_prob, random_prob
            )
            score_and_value_grads = torch.autograd.grad(loss, [scores, value_output], retain_graph=True)
            loss, mass = float(loss.detach()), population_same_topic_mass(scores, vocab, topics_per_doc)
        if step % record_every == 0 or step == steps:
            records.append(record(step, loss, mass))
            if stop_excess is not None and records[-1][MASS] >= 1 / topics_per_doc + stop_excess:
                break
        if step == steps:
            break
        grads = torch.autograd.grad([scores, value_output], parameters, score_and_value_grads)
        with torch.no_grad():
            for p, g in zip(parameters, grads):
                p.sub_(eta * (g + weight_decay * p))
    return pd.DataFrame(records)


def onset_time(frame: pd.DataFrame, excess: float = 0.05, x: str = "time") -> float:
    """First ``x`` at which the same-topic mass exceeds its uniform value by ``excess`` (linear
    interpolation between records); NaN if it never does.

    frame: a trajectory with columns ``x``, attention.same_topic_mass and
    attention.uniform_same_topic_mass (:func:`integrate`, :func:`population_gradient_descent`,
    or :meth:`training.History.frame`).
    """
    check_float("excess", excess, 0.0, 1.0, low_open=True)
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


# ----- the two-timescale theory: stage 1 in closed form, the onset of stage 2 -------------------------


kappa, m = sp.symbols("kappa m", positive=True)  # stage-1 constants, values in stage_one()


@cache
def stage_one() -> dict[str, sp.Expr]:
    """Stage 1 in sympy, from :func:`reduced_loss` at uniform attention (``alpha = beta = gamma``).

    Returns
      margin: ``delta`` in the value blocks (the in-document minus out-of-document logit);
      margin_rate: ``d delta/dt`` of the flow (no weight decay), a function of ``delta`` only;
      kappa, m: values of the constants in ``d delta/dt = kappa m / (e^delta + m)`` =
        ``kappa (1 - p_in(delta))`` (checked against margin_rate in the tests);
      score_gradient: the score gradient per entry (diagonal, same topic, different topic), linear in
        ``W_V`` and proportional to ``p_c``;
      eigenvalues: its eigenvalues on the topic, within-topic and all-ones modes (topic in ``delta``);
      growth_rate: ``r(delta)``, the rate of the key/query topic mode, ``-topic eigenvalue / sqrt(d)``.
    """
    a, _, c = value_blocks
    reduced = reduced_loss()
    ell_in = logit_symbols[3]

    def at_uniform(expression):
        # A constant shift of the scores changes nothing, so take them 0; then every in-document
        # logit is ell_in = c + delta, and exp(c + delta) = e^c e^delta lets the e^c cancel.
        expression = expression.subs(dict.fromkeys(score_blocks, 0)).subs(dict.fromkeys(logit_symbols[:3], ell_in))
        return sp.expand(expression.subs(ell_in, c + delta), power_exp=True)

    margin = sp.expand(reduced.logits[ell_in] - c)
    velocity = [at_uniform(-total_derivative(reduced.loss, s)) / n for s, n in zip(value_blocks, orbit_sizes())]
    margin_rate = sp.factor(sp.cancel(sum(sp.diff(margin, s) * u for s, u in zip(value_blocks, velocity))))
    # The score gradient per entry; the softmax terms cancel by symmetry, leaving it linear in W_V.
    per_entry = [sp.factor(sp.cancel(at_uniform(g) / n)) for g, n in zip(score_partials(), orbit_sizes())]
    diagonal, same, other = per_entry
    topic = sp.factor(sp.cancel(diagonal + (v - 1) * same - v * other))
    topic = sp.factor(topic.subs(a, sp.solve(sp.Eq(margin, delta), a)[0]))
    return {
        "margin": margin,
        "margin_rate": margin_rate,
        "kappa": 1 / (tau**2 * v * (V - v)),
        "m": (V - tau * v) / (tau * v),
        "score_gradient": dict(zip(BLOCKS, per_entry)),
        "eigenvalues": {
            "topic": topic,
            "within_topic": sp.factor(sp.cancel(diagonal - same)),
            "all_ones": sp.cancel(diagonal + (v - 1) * same + (V - v) * other),
        },
        "growth_rate": sp.factor(-topic / sp.sqrt(d)),
    }


@cache
def onset_theory() -> dict[str, sp.Expr]:
    """The onset of stage 2 in sympy (no weight decay), with the stage-1 constants ``kappa, m``.

    Returns
      margin_solution: ``e^delta + m delta - (e^delta0 + m delta0) - kappa m t``, zero along stage 1
        (an implicit solution of ``d delta/dt = kappa m / (e^delta + m)``);
      threshold: the topic eigenvalue ``D_A*`` of the scores at which the same-topic mass is
        ``1/tau + Delta_x`` (same-topic minus different-topic score ``D_A / v``; the diagonal's own
        excess is of order ``epsilon^2`` and left out);
      log_growth: ``R* = (1/2) log(sqrt(d) D_A* / epsilon^2)``: the key/query topic modes start at
        ``epsilon`` and the scores' at ``epsilon^2 / sqrt(d)``, so they must grow by ``e^{R*}``;
      rate_per_margin: ``r / delta``;
      area: ``Lambda = R* / (r / delta)``, the integral of ``delta`` over stage 1 that provides it;
      area_of_margin, time_of_margin: ``int_0^t delta`` and ``t`` as functions of ``delta(t)``
        (``delta(0) = 0``; ``dt = (e^delta + m) / (kappa m) d delta``): the onset is where the first
        reaches ``Lambda``;
      dominant_ratios: ``F(delta)`` over ``(delta - 1) e^delta / (kappa m)`` and ``t(delta)`` over
        ``e^delta / (kappa m)`` as ``delta -> oo`` (both 1: the terms kept at leading order);
      margin_leading: ``delta* = 1 + W(kappa m Lambda / e)`` (Lambert W) solving the leading-order ``F = Lambda``;
      leading_order: ``t* ~ Lambda / W(kappa m Lambda / e)`` as ``Lambda -> oo``, hence
        ``t* ~ Lambda / log(kappa m Lambda)``;
      slope: ``dt*/d log(1/epsilon) = 1 / r(delta*)``, since ``R*`` grows one for one with it.
    """
    delta0 = sp.Symbol("delta_0", real=True)
    x_star = 1 / tau + excess
    threshold = v * sp.log((tau - 1) * x_star / (1 - x_star))
    log_growth = sp.log(sp.sqrt(d) * threshold / epsilon**2) / 2
    rate_per_margin = sp.simplify(stage_one()["growth_rate"] / delta)
    dt_ddelta = (sp.exp(delta) + m) / (kappa * m)
    s = sp.Symbol("s", real=True)
    Lambda = sp.Symbol("Lambda", positive=True)
    area_of_margin = sp.factor(sp.integrate(s * dt_ddelta.subs(delta, s), (s, 0, delta)))
    time_of_margin = sp.factor(sp.integrate(dt_ddelta.subs(delta, s), (s, 0, delta)))
    # Large delta: keep the dominant terms, solve F = Lambda for delta (Lambert W), and use
    # e^{W(y)} = y / W(y) to write t(delta*) = e^{delta*} / (kappa m) without the exponential.
    area_dominant, time_dominant = (delta - 1) * sp.exp(delta) / (kappa * m), sp.exp(delta) / (kappa * m)
    margin_leading = sp.solve(sp.Eq(area_dominant, Lambda), delta)[0]
    argument = kappa * m * Lambda / sp.E
    leading = sp.expand(time_dominant.subs(delta, margin_leading), power_exp=True)
    leading = sp.simplify(leading.subs(sp.exp(sp.LambertW(argument)), argument / sp.LambertW(argument)))
    return {
        "delta0": delta0,
        "margin_solution": sp.exp(delta) + m * delta - (sp.exp(delta0) + m * delta0) - kappa * m * t,
        "threshold": threshold,
        "log_growth": log_growth,
        "rate_per_margin": rate_per_margin,
        "area": log_growth / rate_per_margin,
        "area_of_margin": area_of_margin,
        "time_of_margin": time_of_margin,
        "Lambda": Lambda,
        "dominant_ratios": (
            sp.limit(area_of_margin / area_dominant, delta, sp.oo),
            sp.limit(time_of_margin / time_dominant, delta, sp.oo),
        ),
        "margin_leading": margin_leading,
        "leading_order": leading,
        "slope": 1 / (rate_per_margin * delta),
    }


@dataclass(frozen=True)
class OnsetPrediction:
    """Predicted onset of stage 2, in gradient-flow time and in steps of size ``learning_rate``."""

    time: float
    steps: float
    margin: float  # delta at the onset
    area: float  # Lambda, the stage-1 integral of delta that the onset needs
    slope: float  # d steps / d log(1/init_scale) at this point
    leading_order_time: float  # Lambda / W(kappa m Lambda / e)


def _numbers(num_topics, words_per_topic, topics_per_doc, keep_prob, init_scale, init, threshold_excess) -> dict:
    topic_setting(num_topics, words_per_topic, topics_per_doc, min_topics_per_doc=2)  # tau = 1: no other topic
    check_float("keep_prob", keep_prob, 0.0, 1.0)
    check_float("init_scale", init_scale, 0.0, low_open=True)
    check_float("excess", threshold_excess, 0.0, 1 - 1 / topics_per_doc, low_open=True, high_open=True)
    amplitude = initial_state(init_scale, num_topics, words_per_topic, init)[3]
    return {
        T: num_topics,
        v: words_per_topic,
        tau: topics_per_doc,
        p_c: keep_prob,
        epsilon: amplitude,
        excess: threshold_excess,
    }


def growth_rate_per_margin(num_topics: int, words_per_topic: int, topics_per_doc: int, keep_prob: float) -> float:
    """``r(delta) / delta = p_c (tau - 1) / (tau v (T - 1) sqrt(d))``: the stage-1 growth rate of the key/query
    topic modes per unit of value margin (:func:`stage_one`, ``growth_rate``); :func:`predicted_onset` reads it here."""
    values = {T: num_topics, v: words_per_topic, tau: topics_per_doc, p_c: keep_prob}
    return float(onset_theory()["rate_per_margin"].subs(values))


def predicted_onset(
    num_topics: int,
    words_per_topic: int,
    topics_per_doc: int,
    keep_prob: float,
    init_scale: float,
    init: str = "symmetric",
    learning_rate: float = 1.0,
    weight_decay: float = 0.0,
    excess: float = 0.05,
) -> OnsetPrediction:
    """The two-timescale prediction of the onset of stage 2 (:func:`onset_theory`).

    Stage 1 in closed form (``delta`` from 0, uniform attention), the key/query topic mode linearised,
    the onset when its growth ``int r dt`` reaches ``R*``. With weight decay ``lambda`` both
    ``delta`` and the topic mode also decay at rate ``lambda``: integrated numerically; the onset is
    infinite when ``r(delta)`` never exceeds ``lambda``. ``init``: see :func:`initial_state`.
    """
    values = _numbers(num_topics, words_per_topic, topics_per_doc, keep_prob, init_scale, init, excess)
    eta = check_float("learning_rate", learning_rate, 0.0, low_open=True)
    lam = check_float("weight_decay", weight_decay, 0.0)
    never = OnsetPrediction(float("inf"), float("inf"), float("nan"), float("inf"), float("nan"), float("inf"))
    if keep_prob == 0:  # no kept words, no first-order signal: the topic modes never grow
        return never
    theory = onset_theory()
    one = stage_one()
    constants = {kappa: one["kappa"].subs(values), m: one["m"].subs(values)}
    values = {**values, **constants}
    kappa_, m_ = float(constants[kappa]), float(constants[m])
    per_margin = growth_rate_per_margin(
        num_topics, words_per_topic, topics_per_doc, keep_prob
    )  # r = per_margin * delta
    log_growth = float(theory["log_growth"].subs(values))
    area = log_growth / per_margin
    leading = float(sp.N(theory["leading_order"].subs(values).subs(theory["Lambda"], area)))
    if log_growth <= 0:  # already past the threshold at the start
        return OnsetPrediction(0.0, 0.0, 0.0, area, float("nan"), 0.0)
    if lam == 0:
        area_of = sp.lambdify(delta, theory["area_of_margin"].subs(values), "math")
        time_of = sp.lambdify(delta, theory["time_of_margin"].subs(values), "math")
        high = 1.0
        while area_of(high) < area:
            high *= 2
        margin = brentq(lambda x: area_of(x) - area, 0.0, high, xtol=1e-14, rtol=1e-13)
        time = time_of(margin)
    else:

        def margin_rate(x: float) -> float:  # kappa m / (e^x + m), written to not overflow
            return kappa_ * m_ * math.exp(-x) / (1 + m_ * math.exp(-x)) - lam * x

        def rates(_, y):  # y = (delta, R)
            return [margin_rate(y[0]), per_margin * y[0] - lam]

        reached = lambda _, y: y[1] - log_growth  # noqa: E731
        reached.terminal = True
        # delta rises monotonically to its weight-decay equilibrium; if r stays below lambda there,
        # the key/query topic mode only decays and stage 2 never starts.
        settled = brentq(margin_rate, 0.0, kappa_ / lam + 1.0)
        if per_margin * settled <= lam:
            return never
        horizon = 100 * (1 / kappa_ + 1 / lam) + 10 * log_growth / (per_margin * settled - lam)
        solution = solve_ivp(rates, (0, horizon), [0.0, 0.0], events=reached, rtol=1e-10, atol=1e-12)
        if not solution.t_events[0].size:
            return never
        time, margin = float(solution.t_events[0][0]), float(solution.y_events[0][0][0])
    slope = 1 / (per_margin * margin - lam) if per_margin * margin > lam else float("inf")
    return OnsetPrediction(time, time / eta, margin, area, slope / eta, leading / eta)


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


def invariance_checks(
    flow: ReducedFlow, keep_prob: float, random_prob: float, rng: np.random.Generator, points: int = 3
) -> pd.DataFrame:
    """The reduced loss and its gradient against the full-matrix population loss at random points of S.

    At each point all 33 coordinates of S are random (special orbits included). Columns:
    ``|L_reduced - L_full|``, the largest off-subspace and special-orbit components of the full
    gradient and the largest difference between the reduced gradient and the full gradient summed
    over each orbit, each relative to the largest gradient entry (all 0 up to rounding).
    """
    from topic_structure.population import population_loss

    vocab = flow.vocab
    masks = orbit_masks(vocab)
    rows = []
    for point in range(points):
        state = rng.normal(size=9)
        model = symmetric_model(state, vocab)
        with torch.no_grad():
            for W in (model.W_V, model.W_K, model.W_Q):
                for name in ORBITS[3:]:
                    W[masks[name]] = float(rng.normal())
        loss = population_loss(model, flow.topics_per_doc, keep_prob, random_prob)
        loss.backward()
        grads = [model.W_V.grad, model.W_K.grad, model.W_Q.grad]
        scale = max(float(g.abs().max()) for g in grads)
        summed = np.array([float(g[masks[block]].sum()) for g in grads for block in BLOCKS])
        rows.append(
            {
                "point": point,
                "|L_reduced - L_full|": abs(flow.loss(state) - float(loss.detach())),
                "off-subspace gradient / max|grad|": max(float((g - symmetrize(g, vocab)).abs().max()) for g in grads)
                / scale,
                "special-orbit gradient / max|grad|": max(abs(project(g, vocab)[n]) for g in grads for n in ORBITS[3:])
                / scale,
                "|reduced grad - orbit sums| / max|grad|": float(np.abs(flow.gradient(state) - summed).max()) / scale,
            }
        )
    return pd.DataFrame(rows).set_index("point")


def left_subspace(frame: pd.DataFrame, tolerance: float = 1e-6) -> int | None:
    """First recorded step at which gradient descent from a symmetric start is measurably outside S
    (``asymmetry`` column of :func:`population_gradient_descent` with ``track_symmetry``), or None."""
    outside = frame.loc[frame["asymmetry"] > tolerance, "step"]
    return int(outside.iloc[0]) if len(outside) else None
