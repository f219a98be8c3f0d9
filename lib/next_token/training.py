"""Training the one-layer attention model: batched GD and normalized GD on the log-loss, from a chosen start.

Optimizers (the public code's protocol is normalized GD, lr 0.01, 4000 steps, float64; ``next_token.public_code``):
    gd              W <- W - eta grad L
    normalized_gd   W <- W - eta grad L / ||grad L||_F

All datasets of a ``next_token.stacked.StackedDatasets`` are trained together in one batched computation.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from next_token.data import Dataset
from next_token.stacked import StackedDatasets, stack_datasets

OPTIMIZERS = ("gd", "normalized_gd")
INITS = ("zero", "uniform")


def initial_weights(stack: StackedDatasets, init: str = "zero", seed: int = 0) -> np.ndarray:
    """(B, d, d) starting points: 'zero', or 'uniform' = the public code's nn.Linear default U(-1/sqrt d, 1/sqrt d).

    Dataset b draws from numpy's generator seeded with (seed, b), so a dataset's start does not depend on which
    other datasets share its batch.
    """
    if init not in INITS:
        raise ValueError(f"init must be one of {INITS}, got {init!r}")
    B, n, T, K, d = stack.shape
    if init == "zero":
        return np.zeros((B, d, d))
    bound = 1.0 / np.sqrt(d)
    return np.stack([np.random.default_rng([seed, b]).uniform(-bound, bound, (d, d)) for b in range(B)])


def checkpoint_steps(steps: int, count: int = 200) -> np.ndarray:
    """About `count` step indices in [0, steps], log-spaced near 0 and linear later, always with 0 and steps."""
    log_part = np.unique(np.round(np.geomspace(1, max(steps, 1), count // 2)).astype(np.int64))
    lin_part = np.linspace(0, steps, count // 2).round().astype(np.int64)
    return np.unique(np.concatenate([[0, steps], log_part, lin_part]))


@dataclass
class Trajectory:
    """Iterates of a batched run at its checkpoints.

    Attributes:
        steps: (m,) step index of each checkpoint (0 = the start).
        W: (m, B, d, d) the iterates at the checkpoints.
        optimizer, learning_rate: the run's settings.
    """

    steps: np.ndarray
    W: np.ndarray
    optimizer: str
    learning_rate: float

    @property
    def final(self) -> np.ndarray:
        """(B, d, d) the last iterate."""
        return self.W[-1]


def train(
    stack: StackedDatasets,
    optimizer: str = "normalized_gd",
    learning_rate: float = 0.01,
    steps: int = 4000,
    W0: np.ndarray | None = None,
    checkpoints: np.ndarray | None = None,
) -> Trajectory:
    """Full-batch (normalized) gradient descent on the log-loss, all B datasets in one batched computation.

    Args:
        stack: the stacked datasets.
        optimizer: 'gd' (W -= eta g) or 'normalized_gd' (W -= eta g / ||g||_F, per dataset; a zero gradient stays).
        learning_rate: eta > 0.
        steps: number of steps.
        W0: (B, d, d) start (default zero).
        checkpoints: step indices to keep (default checkpoint_steps(steps)); 0 and steps are always kept.
    Returns:
        Trajectory with the iterates at the checkpoints.
    """
    if optimizer not in OPTIMIZERS:
        raise ValueError(f"optimizer must be one of {OPTIMIZERS}, got {optimizer!r}")
    if not learning_rate > 0:
        raise ValueError(f"learning_rate must be > 0, got {learning_rate}")
    B, n, T, K, d = stack.shape
    W = np.zeros((B, d, d)) if W0 is None else np.array(W0, dtype=np.float64)
    keep = checkpoint_steps(steps) if checkpoints is None else np.asarray(checkpoints, dtype=np.int64)
    keep = np.unique(np.concatenate([[0, steps], keep[(keep >= 0) & (keep <= steps)]]))
    is_kept = np.zeros(steps + 1, dtype=bool)
    is_kept[keep] = True
    saved = np.empty((keep.size, B, d, d))
    saved[0] = W
    slot = 1
    # the step, written out inline: at E1's size a function call per step costs as much as the arithmetic
    features, label_mask = stack.features, stack.label_mask
    features_t = np.ascontiguousarray(np.swapaxes(features, 1, 2))
    normalized = optimizer == "normalized_gd"
    w = W.reshape(B, d * d, 1)
    for step in range(1, steps + 1):
        a = (features @ w).reshape(B, n, T)
        e = np.exp(a - a.max(axis=2, keepdims=True))
        s = e / e.sum(axis=2, keepdims=True)
        el = e * label_mask
        label_sum = el.sum(axis=2, keepdims=True)
        if label_sum.min() < 1e-200:  # every label score far below the top one: renormalise on the labels alone
            al = np.where(label_mask, a, -np.inf)
            el = np.exp(al - al.max(axis=2, keepdims=True))
            label_sum = el.sum(axis=2, keepdims=True)
        r = (s - el / label_sum).reshape(B, n * T, 1)
        g = features_t @ r  # (B, d^2, 1), n times the gradient
        if normalized:
            norm = np.sqrt((g * g).sum(axis=1, keepdims=True))
            w = w - learning_rate * g / np.where(norm > 0, norm, 1.0)
        else:
            w = w - (learning_rate / n) * g
        if is_kept[step]:
            saved[slot] = w.reshape(B, d, d)
            slot += 1
    return Trajectory(keep, saved, optimizer, float(learning_rate))


def train_each(datasets: list[Dataset], **kwargs) -> list[Trajectory]:
    """The per-dataset loop (B = 1 each) that the batched trainer must reproduce exactly; for tests and timing."""
    W0 = kwargs.pop("W0", None)
    out = []
    for b, ds in enumerate(datasets):
        start = None if W0 is None else W0[b : b + 1]
        out.append(train(stack_datasets([ds]), W0=start, **kwargs))
    return out
