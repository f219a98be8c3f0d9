"""What the iterates of a run are measured by, against the exact solutions of their datasets.

For W = c W_hat + W^fin + rho with W_hat = W^svm / ||W^svm|| and c = <W, W_hat>:
    cos_svm     <W, W_hat> / ||W||                 (N4)
    fin_dist    ||Pi_Sfin W - W^fin||_F            (N5, N11)
    residual    ||rho||_F                          (N9: measured, not claimed to vanish)
    min_mass    min_i sum_{t in C_i} s_it          (N6)
    support     share of samples with {t : s_it > 1e-3} = C_i   (N6)
    tv          max_i TV(s_i, softmax_{C_i}(W^fin scores))      (N7)
    loss_gap    L(W) - L*                                       (N7)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from next_token.loss import lse, masked_softmax
from next_token.stacked import ExactSolutions, StackedDatasets, scores

SUPPORT_THRESHOLD = 1e-3  # attention above this counts as "in the support" (the N6 measurement)


@dataclass
class Metrics:
    """Metrics of iterates W (..., B, d, d) against the exact solutions; every field has shape (..., B).

    norm: ||W||_F.  svm_coef: c = <W, W_hat>.  cos_svm: c / ||W|| (nan where W^svm = 0).
    fin_dist: ||Pi_Sfin W - W^fin||.  residual: ||rho||, rho = W - c W_hat - W^fin.
    cos_superposition: cos(W, c W_hat + W^fin) (the public code's corr(W, W^fin + R W^svm)).
    min_mass: min_i attention mass on C_i.  support: share of samples whose support {s > 1e-3} equals C_i.
    tv: max_i total variation between s_i and the W^fin composition on C_i.  loss, loss_gap: L(W), L(W) - L*.
    one_minus_label_attention: mean_i (1 - attention on the label positions) (the code's "1 - Attn").
    """

    norm: np.ndarray
    svm_coef: np.ndarray
    cos_svm: np.ndarray
    fin_dist: np.ndarray
    residual: np.ndarray
    cos_superposition: np.ndarray
    min_mass: np.ndarray
    support: np.ndarray
    tv: np.ndarray
    loss: np.ndarray
    loss_gap: np.ndarray
    one_minus_label_attention: np.ndarray


def measure(stack: StackedDatasets, exact: ExactSolutions, W: np.ndarray) -> Metrics:
    """All metrics of the iterates W (..., B, d, d) in one batched computation."""
    d = stack.shape[4]
    W = np.asarray(W, dtype=np.float64)
    flat = W.reshape(*W.shape[:-2], d * d)
    norm = np.linalg.norm(flat, axis=-1)
    direction = exact.direction.reshape(-1, d * d)
    c = (flat * direction).sum(-1)
    has_svm = exact.svm_norm > 0
    cos = np.where(has_svm, c / np.where(norm > 0, norm, 1.0), np.nan)
    coords = np.einsum("...bj,bmj->...bm", flat, exact.fin_basis)
    projected = np.einsum("...bm,bmj->...bj", coords, exact.fin_basis)
    fin = exact.W_fin.reshape(-1, d * d)
    fin_dist = np.linalg.norm(projected - fin, axis=-1)
    superposition = c[..., None] * direction + fin
    rho = flat - superposition
    sup_norm = np.linalg.norm(superposition, axis=-1)
    cos_sup = (flat * superposition).sum(-1) / np.where(norm * sup_norm > 0, norm * sup_norm, 1.0)
    a = scores(stack, W)
    s = masked_softmax(a, np.ones_like(a, dtype=bool))
    mass = (s * exact.retrieved).sum(-1)
    support_ok = np.all((s > SUPPORT_THRESHOLD) == exact.retrieved, axis=-1)
    tv = 0.5 * np.abs(s - exact.composition).sum(-1)
    loss = (lse(a) - lse(a, stack.label_mask)).mean(-1)
    label_mass = (s * stack.label_mask).sum(-1)
    return Metrics(
        norm=norm,
        svm_coef=c,
        cos_svm=cos,
        fin_dist=fin_dist,
        residual=np.linalg.norm(rho, axis=-1),
        cos_superposition=cos_sup,
        min_mass=mass.min(-1),
        support=support_ok.mean(-1),
        tv=tv.max(-1),
        loss=loss,
        loss_gap=loss - exact.loss_star,
        one_minus_label_attention=(1.0 - label_mass).mean(-1),
    )


def predicted_one_minus_cos(fin_norm: np.ndarray, residual: np.ndarray, norm: np.ndarray) -> np.ndarray:
    """N4's rate: 1 - cos(W, W^svm) ~ (||W^fin||^2 + ||rho||^2) / (2 ||W||^2) at the norm ||W||."""
    return (fin_norm**2 + residual**2) / (2.0 * norm**2)


def superposition_ray(exact: ExactSolutions, radii: np.ndarray) -> np.ndarray:
    """(r, B, d, d) the superposition R W_hat + W^fin at each radius R (N9)."""
    radii = np.asarray(radii, dtype=np.float64)
    return radii[:, None, None, None] * exact.direction[None] + exact.W_fin[None]


def half_norm_index(norms: np.ndarray) -> np.ndarray:
    """(B,) index of the last checkpoint whose norm is at most half the final norm (per dataset; 0 if none).

    norms: (m, B) ||W|| at the checkpoints. Used to compare a quantity at the end with its value when the run had
    half the norm: a bounded residual shrinks relative to ||W||, a wrong direction does not.
    """
    below = norms <= 0.5 * norms[-1][None, :]
    idx = np.where(below, np.arange(norms.shape[0])[:, None], 0)
    return idx.max(axis=0)


def cosine(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Cosine <a, b> / (||a|| ||b||) of matrices a, b (..., d, d); nan where either is zero."""
    na, nb = np.linalg.norm(a, axis=(-2, -1)), np.linalg.norm(b, axis=(-2, -1))
    ok = (na > 0) & (nb > 0)
    return np.where(ok, (a * b).sum((-2, -1)) / np.where(ok, na * nb, 1.0), np.nan)
