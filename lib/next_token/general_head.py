"""N10, beyond the theorem: cross-entropy with the general head, the local SVM, and factorised attention W = K Q^T.

General head (the public code's `cls_choice='gen'`): the logits of sample i are z_i = E X_i^T s_i (K,), i.e.
z_iv = sum_t s_it <x_v, x_{tok_it}>, and the loss is the cross-entropy of y_i (the code's commit 0d105ef) or the
squared loss (1 - p_iy)^2 with p_i = softmax(z_i) (the code's HEAD, experiment E4). With M = E E^T (B, K, K):
    CE:       dL/dz_i = p_i - e_{y_i};      squared:  dL/dz_i = 2 (1 - p_iy) p_iy (p_i - e_{y_i}),
    dL/ds_it = (M dL/dz_i)[tok_it] =: h_it,   dL/da_i = s_i * (h_i - <s_i, h_i>),
and grad W = (1/n) sum_it dL/da_it phi_it, as for the log-loss. Batched over datasets like ``next_token.training``.

Local SVM (the public code's local notebook): the Graph-SVM rebuilt from the tokens the trained attention selects
(attention > 1e-2): edges o -> v from every selected token o to every unselected token v of the sequence, and the
selected tokens of a sample made one SCC (equal scores), solved by part 1's exact solver.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from next_token.data import Dataset
from next_token.graphs import TokenPriorityGraphs, tarjan_scc
from next_token.measurements import cosine
from next_token.stacked import StackedDatasets, batched_grad
from next_token.svm import solve_graph_svm
from next_token.training import Trajectory, checkpoint_steps, initial_weights

SELECT_THRESHOLD = 1e-2  # the public code's: a token holding more than 1% of the final attention is selected
HEAD_LOSSES = ("ce", "squared")
# softmax backward dL/da_t: "standard" = s_t (h_t - <s, h>), the form autograd uses; once every unselected attention
# is below the float64 unit roundoff the selected term cancels to a rounding residue, and normalized GD (which divides
# the gradient by its norm) turns that residue into full-length steps. "cancellation_free" = s_t sum_j s_j (h_t - h_j)
# is the same number in exact arithmetic with no cancellation.
SOFTMAX_BACKWARDS = ("standard", "cancellation_free")
UNIT_ROUNDOFF = 2.0**-53
PUBLIC_CE_STEPS = 2000  # the public code's local notebook: normalized GD, lr 0.1, 2000 iterations
DIVERGING_GROWTH = 0.5  # a run whose second half grows ||W|| by at least half the distance travelled diverges


def _attention(stack: StackedDatasets, W: np.ndarray) -> np.ndarray:
    B, n, T, K, d = stack.shape
    a = (stack.features @ W.reshape(B, d * d, 1)).reshape(B, n, T)
    e = np.exp(a - a.max(2, keepdims=True))
    return e / e.sum(2, keepdims=True)


def _token_gram(stack: StackedDatasets) -> np.ndarray:
    """(B, n, T, K) M[v, tok_it] = <x_v, x_{tok_it}>."""
    M = stack.E @ np.swapaxes(stack.E, 1, 2)  # (B, K, K)
    B, n, T = stack.tok.shape
    return np.take_along_axis(M[:, None, None, :, :], stack.tok[:, :, :, None, None], axis=3)[:, :, :, 0, :]


def ce_loss_and_grad(
    stack: StackedDatasets,
    W: np.ndarray,
    gram: np.ndarray | None = None,
    loss: str = "ce",
    backward: str = "standard",
):
    """(B,) loss of the general head ('ce': cross-entropy; 'squared': (1 - p_y)^2) and its gradient (B, d, d) at W
    (B, d, d); ``backward`` selects the softmax backward formula (SOFTMAX_BACKWARDS)."""
    if loss not in HEAD_LOSSES:
        raise ValueError(f"loss must be one of {HEAD_LOSSES}, got {loss!r}")
    if backward not in SOFTMAX_BACKWARDS:
        raise ValueError(f"backward must be one of {SOFTMAX_BACKWARDS}, got {backward!r}")
    B, n, T, K, d = stack.shape
    gram = _token_gram(stack) if gram is None else gram
    s = _attention(stack, W)
    z = np.einsum("bnt,bntk->bnk", s, gram)
    z_max = z.max(-1, keepdims=True)
    lse = z_max[..., 0] + np.log(np.exp(z - z_max).sum(-1))
    gz = np.exp(z - lse[..., None])  # p_i
    p_label = np.take_along_axis(gz, stack.y[..., None], -1)  # (B, n, 1)
    np.put_along_axis(gz, stack.y[..., None], p_label - 1.0, -1)  # p_i - e_{y_i}
    if loss == "ce":
        value = (lse - np.take_along_axis(z, stack.y[..., None], -1)[..., 0]).mean(-1)
    else:
        value = ((1.0 - p_label[..., 0]) ** 2).mean(-1)
        gz = 2.0 * (1.0 - p_label) * p_label * gz
    h = np.einsum("bntk,bnk->bnt", gram, gz)
    if backward == "standard":
        da = s * (h - (s * h).sum(-1, keepdims=True))
    else:
        da = s * np.einsum("bnj,bntj->bnt", s, h[..., :, None] - h[..., None, :])
    grad = (da.reshape(B, 1, n * T) @ stack.features).reshape(B, d, d) / n
    return value, grad


def train_general_head(
    stack: StackedDatasets,
    learning_rate: float,
    steps: int,
    W0: np.ndarray,
    loss: str = "ce",
    backward: str = "standard",
) -> np.ndarray:
    """Normalized GD on the general-head loss ('ce' | 'squared'), all datasets batched; returns W (B, d, d)."""
    gram = _token_gram(stack)
    W = np.array(W0, dtype=np.float64)
    for _ in range(steps):
        _, g = ce_loss_and_grad(stack, W, gram, loss, backward)
        norm = np.sqrt((g * g).sum((1, 2), keepdims=True))
        W = W - learning_rate * g / np.where(norm > 0, norm, 1.0)
    return W


def local_graphs(ds: Dataset, attention: np.ndarray, threshold: float = SELECT_THRESHOLD) -> TokenPriorityGraphs:
    """The local TPGs of a trained attention (n, T): o -> v for selected o, unselected v; selected tokens one SCC."""
    K = ds.K
    adj = np.zeros((K, K, K), dtype=bool)
    for i in range(ds.n):
        k = ds.query[i]
        selected = np.unique(ds.tok[i][attention[i] > threshold])
        others = np.setdiff1d(np.unique(ds.tok[i]), selected)
        adj[k][np.ix_(selected, others)] = True
        adj[k][np.ix_(selected, selected)] = True
    for k in range(K):
        np.fill_diagonal(adj[k], False)
    scc = np.tile(np.arange(K, dtype=np.int64), (K, 1))
    queries = np.unique(ds.query)
    for k in queries:
        if adj[k].any():
            scc[k] = tarjan_scc(adj[k])
    return TokenPriorityGraphs(adjacency=adj, scc=scc, queries=queries)


def ambiguous_selection(attention: np.ndarray, threshold: float = SELECT_THRESHOLD) -> int:
    """Positions whose attention lies in [0.9, 1] x threshold, which the public code treats as ambiguous."""
    return int(np.sum((attention >= 0.9 * threshold) & (attention <= threshold)))


def train_factorised(
    stack: StackedDatasets,
    learning_rate: float,
    steps: int,
    K0: np.ndarray,
    Q0: np.ndarray,
    optimizer: str = "normalized_gd",
    checkpoints: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, Trajectory]:
    """GD or normalized GD on the log-loss with W = K Q^T, K and Q (B, d, d) trained jointly.

    grad_K L = G Q and grad_Q L = G^T K with G = grad_W L; normalized GD divides the joint gradient by its norm,
    per dataset. Returns the final (K, Q) and the Trajectory of the products K Q^T (m, B, d, d) at the checkpoints
    (default checkpoint_steps(steps)).
    """
    keep = checkpoint_steps(steps) if checkpoints is None else np.asarray(checkpoints, dtype=np.int64)
    keep = np.unique(np.concatenate([[0, steps], keep[(keep >= 0) & (keep <= steps)]]))
    is_kept = np.zeros(steps + 1, dtype=bool)
    is_kept[keep] = True
    Kf, Qf = np.array(K0, dtype=np.float64), np.array(Q0, dtype=np.float64)
    saved = [Kf @ np.swapaxes(Qf, 1, 2)]
    for step in range(1, steps + 1):
        G = batched_grad(stack, Kf @ np.swapaxes(Qf, 1, 2))
        gK, gQ = G @ Qf, np.swapaxes(G, 1, 2) @ Kf
        norm = np.sqrt((gK * gK).sum((1, 2)) + (gQ * gQ).sum((1, 2)))[:, None, None]
        norm = np.where(norm > 0, norm, 1.0) if optimizer == "normalized_gd" else 1.0
        Kf, Qf = Kf - learning_rate * gK / norm, Qf - learning_rate * gQ / norm
        if is_kept[step]:
            saved.append(Kf @ np.swapaxes(Qf, 1, 2))
    return Kf, Qf, Trajectory(keep, np.stack(saved), optimizer, float(learning_rate))


def local_svm_comparison(
    stack: StackedDatasets,
    W_svm: np.ndarray,
    learning_rate: float,
    steps: int,
    seed: int,
    loss: str = "ce",
    backward: str = "standard",
) -> pd.DataFrame:
    """Train the general head (normalized GD from the public code's U(+-1/sqrt d) start) and compare the direction
    with the global Graph-SVM W^svm (B, d, d) and the local SVM of the selected tokens, one row per dataset.

    The run is split in two halves to measure whether it diverges: the local SVM describes a run whose norm grows
    along a direction; a run that settles at a finite W (the CE optimum can be finite: the logits are bounded)
    travels its steps without growing its norm. Columns: cos global, cos local, local SVM certificate, ambiguous
    positions, selection changes (2nd half) (positions selected at one end of the second half and not at the other),
    ||W||, norm growth / distance (2nd half), diverging.
    """
    B = stack.shape[0]
    half = steps // 2
    W0 = initial_weights(stack, "uniform", seed=seed)
    W_mid = train_general_head(stack, learning_rate, half, W0, loss, backward)
    W_end = train_general_head(stack, learning_rate, steps - half, W_mid, loss, backward)  # the same run, continued
    norm_growth = (np.linalg.norm(W_end.reshape(B, -1), axis=1) - np.linalg.norm(W_mid.reshape(B, -1), axis=1)) / (
        learning_rate * max(steps - half, 1)
    )
    attention = _attention(stack, W_end)
    changed = ((_attention(stack, W_mid) > SELECT_THRESHOLD) != (attention > SELECT_THRESHOLD)).sum(axis=(1, 2))
    rows = []
    for b in range(B):
        ds = stack.dataset(b)
        local = solve_graph_svm(ds, local_graphs(ds, attention[b]))
        rows.append(
            {
                "dataset": b,
                "cos global": float(cosine(W_end[b], W_svm[b])),
                "cos local": float(cosine(W_end[b], local.W)) if local.feasible else float("nan"),
                "local SVM certificate": local.certificate.worst() if local.certificate else float("nan"),
                "ambiguous positions": ambiguous_selection(attention[b]),
                "selection changes (2nd half)": int(changed[b]),
                "||W||": float(np.linalg.norm(W_end[b])),
                "norm growth / distance (2nd half)": float(norm_growth[b]),
                "diverging": bool(norm_growth[b] >= DIVERGING_GROWTH),
            }
        )
    return pd.DataFrame(rows).set_index("dataset")


def local_svm_trajectory(
    stack: StackedDatasets,
    learning_rate: float,
    steps: int,
    seed: int,
    *,
    loss: str = "ce",
    backward: str = "standard",
    every: int = 100,
    freeze_step: int = 2000,
) -> pd.DataFrame:
    """cos(W_t, local W^svm) along one general-head run (the start and optimizer of ``local_svm_comparison``).

    Every ``every`` steps the local SVM is rebuilt from the tokens selected at that step ("cos local") and also
    taken from the selection frozen at ``freeze_step`` ("cos local frozen"; nan before it). One row per (dataset,
    step): ||W||, loss, the cosines, the selected positions, the positions whose selection differs from the frozen one,
    the smallest selected and the largest unselected attention, and the relative gradient norm ||grad|| / ||W||.
    """
    gram = _token_gram(stack)
    B = stack.shape[0]
    W = initial_weights(stack, "uniform", seed=seed)
    frozen_attention, frozen_svm = None, [None] * B
    rows = []
    for step in range(steps + 1):
        value, g = ce_loss_and_grad(stack, W, gram, loss, backward)
        if step % every == 0 or step == steps:
            attention = _attention(stack, W)
            if step == freeze_step:
                frozen_attention = attention
                frozen_svm = [
                    solve_graph_svm(stack.dataset(b), local_graphs(stack.dataset(b), attention[b])) for b in range(B)
                ]
            for b in range(B):
                ds, selected = stack.dataset(b), attention[b] > SELECT_THRESHOLD
                local = solve_graph_svm(ds, local_graphs(ds, attention[b]))
                frozen = frozen_svm[b]
                rows.append(
                    {
                        "dataset": b,
                        "step": step,
                        "||W||": float(np.linalg.norm(W[b])),
                        "loss": float(value[b]),
                        "cos local": float(cosine(W[b], local.W)) if local.feasible else float("nan"),
                        "cos local frozen": float(cosine(W[b], frozen.W)) if frozen is not None else float("nan"),
                        "selected": int(selected.sum()),
                        "selection changes": int((selected != (frozen_attention[b] > SELECT_THRESHOLD)).sum())
                        if frozen_attention is not None
                        else 0,
                        "min selected attention": float(attention[b][selected].min()),
                        "max unselected attention": float(attention[b][~selected].max()) if (~selected).any() else 0.0,
                        "||grad|| / ||W||": float(np.linalg.norm(g[b]) / max(np.linalg.norm(W[b]), 1e-300)),
                    }
                )
        if step < steps:
            norm = np.sqrt((g * g).sum((1, 2), keepdims=True))
            W = W - learning_rate * g / np.where(norm > 0, norm, 1.0)
    return pd.DataFrame(rows)


def trajectory_departure(standard: pd.DataFrame, exact: pd.DataFrame, tolerance: float = 1e-3) -> pd.DataFrame:
    """Where the standard-backward run leaves the cancellation-free one (two ``local_svm_trajectory`` frames of the
    same runs): per dataset, the first step at which their cos(W, local W^svm) differ by more than ``tolerance``, the
    largest unselected attention of the standard run there, and its smallest value over the whole run (nan / the
    run's values where they never part)."""
    merged = standard.merge(exact, on=["dataset", "step"], suffixes=("", " cf"))
    rows = []
    for b, frame in merged.groupby("dataset"):
        apart = frame[np.abs(frame["cos local"] - frame["cos local cf"]) > tolerance]
        first = apart.iloc[0] if len(apart) else None
        rows.append(
            {
                "dataset": b,
                "departure step": float(first["step"]) if first is not None else float("nan"),
                "max unselected attention at departure": float(first["max unselected attention"])
                if first is not None
                else float("nan"),
                "smallest max unselected attention (standard)": float(frame["max unselected attention"].min()),
                "smallest max unselected attention (cancellation-free)": float(
                    frame["max unselected attention cf"].min()
                ),
            }
        )
    return pd.DataFrame(rows).set_index("dataset")
