"""Full-matrix gradient descent on the exact population loss (claim C4's independent route), and the orbits of S.

The reduced flow of :mod:`theory.two_stage_ode` lives on the subspace S of matrices fixed by the symmetry group G
(topics permuted, words permuted inside each topic). Here the d x d matrices themselves: the 11 orbits of entries
that a G-fixed matrix is constant on, the projection onto S, a model at a point of S, and gradient descent on the
exact population loss (:mod:`population`) with no symmetry assumed, which the ODE must reproduce from a symmetric
start (and which may leave S from a random one).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch
from tqdm.std import tqdm  # text bars survive in committed notebook outputs

from topic_structure.data import Vocabulary
from topic_structure.measurements import BLOCKS, block_matrix
from topic_structure.model import ModelConfig, TopicTransformer
from topic_structure.params import (
    DEFAULT_MASK_PROB,
    check_float,
    check_int,
    check_learning_rate,
    check_masking_probabilities,
    check_steps,
    check_weight_decay,
)
from topic_structure.population import combine_terms, population_loss, population_loss_terms
from topic_structure.population_gradient import cross_entropy_loss_and_gradient
from topic_structure.theory.attention import same_topic_mass as population_same_topic_masses
from topic_structure.theory.two_stage_ode import MASS, UNIFORM_MASS, ReducedFlow, as_state


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
    *,
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
    eta = check_learning_rate(learning_rate)
    check_steps(steps)
    check_int("record_every", record_every, 1)
    check_weight_decay(weight_decay)
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


def invariance_checks(
    flow: ReducedFlow, keep_prob: float, random_prob: float, rng: np.random.Generator, points: int = 3
) -> pd.DataFrame:
    """The reduced loss and its gradient against the full-matrix population loss at random points of S.

    At each point all 33 coordinates of S are random (special orbits included). Columns:
    ``|L_reduced - L_full|``, the largest off-subspace and special-orbit components of the full
    gradient and the largest difference between the reduced gradient and the full gradient summed
    over each orbit, each relative to the largest gradient entry (all 0 up to rounding).
    """
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
