"""The one-layer model on real windows: training through the score table, its measurements against the exact
solutions, and its held-out evaluation (retrieval of the automaton's top SCC, next-word prediction against a bigram
baseline and the automaton itself).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.stats import binomtest

from next_token.data import Dataset
from next_token.loss import attention as dataset_attention
from next_token.loss import log_loss
from next_token.measurements import Metrics
from next_token.realtext import Windows
from next_token.realtext_graphs import CorpusGraphs, reachability_tensor, top_scc_positions
from next_token.stacked import ExactSolutions


def attention(E: np.ndarray, W: np.ndarray, tok: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
    """(n, T) softmax over positions of x_{tok_t}^T W x_{query} (restricted to `mask` when given)."""
    a = (E @ W @ E.T)[tok, tok[:, -1:]]
    if mask is not None:
        a = np.where(mask, a, -np.inf)
    e = np.exp(a - a.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def label_probability(attn: np.ndarray, tok: np.ndarray, y: np.ndarray) -> np.ndarray:
    """(n,) the aligned head's probability of the label: attention mass on the positions holding it."""
    return (attn * (tok == y[:, None])).sum(axis=1)


def predicted_word(attn: np.ndarray, tok: np.ndarray, vocab_size: int) -> np.ndarray:
    """(n,) the word with the largest attention mass (summed over its positions)."""
    p = np.zeros((tok.shape[0], vocab_size))
    np.add.at(p, (np.repeat(np.arange(tok.shape[0]), tok.shape[1]), tok.ravel()), attn.ravel())
    return p.argmax(axis=1)


def bigram_probabilities(query: np.ndarray, label: np.ndarray, vocab_size: int, smoothing: float = 0.5) -> np.ndarray:
    """(K, K) add-`smoothing` estimate of p(next word v | previous word k), row k: the bigram baseline."""
    counts = np.zeros((vocab_size, vocab_size))
    np.add.at(counts, (query, label), 1.0)
    counts += smoothing
    return counts / counts.sum(axis=1, keepdims=True)


def train_layer(ds, optimizer: str, learning_rate: float, steps: int, checkpoints: np.ndarray) -> np.ndarray:
    """Full-batch (normalized) GD on the log-loss of one dataset from W = 0, through the (K, K) score table.

    Scores are gathered from A = E W E^T (a_it = A[tok_it, k_i]) and the gradient is E^T G E with G the (K, K)
    table of (s - q) summed per (token, query) pair (the formula of ``next_token.loss.loss_and_grad``, inlined):
    O(n T + K d^2) per step and no (n T, d^2) feature matrix, which at real-text sizes would not fit.
    Returns (len(checkpoints), d, d) iterates at the requested steps (0 = the start).
    """
    if optimizer not in ("gd", "normalized_gd"):
        raise ValueError(f"optimizer must be 'gd' or 'normalized_gd', got {optimizer!r}")
    E, K, n = ds.E, ds.K, ds.n
    checkpoints = np.asarray(checkpoints, dtype=np.int64)
    flat = ds.tok * K + ds.query[:, None]  # (n, T) index into the raveled score table A[u, k]
    # The softmax restricted to the label positions is uniform at every W: those positions hold one token, so their
    # scores are one entry of the table (a - max = 0 and exp(0) = 1 exactly); it is computed once, bit for bit the
    # value the per-step formula gives.
    label = ds.label_mask
    q = label / label.sum(axis=1, keepdims=True)
    W = np.zeros((ds.d, ds.d))
    saved = np.empty((checkpoints.size, ds.d, ds.d))
    saved[checkpoints == 0] = W
    for step in range(1, steps + 1):
        a = (E @ W @ E.T).ravel()[flat]
        e = np.exp(a - a.max(axis=1, keepdims=True))
        s = e / e.sum(axis=1, keepdims=True)
        r = s - q
        g = E.T @ (np.bincount(flat.ravel(), weights=r.ravel(), minlength=K * K).reshape(K, K) / n) @ E
        if optimizer == "normalized_gd":
            norm = np.linalg.norm(g)
            W = W - learning_rate * g / (norm if norm > 0 else 1.0)
        else:
            W = W - learning_rate * g
        saved[checkpoints == step] = W
    return saved


def metrics_along(ds: Dataset, W_path: np.ndarray, svm, fin, C: np.ndarray):
    """``next_token.measurements.Metrics`` (one dataset: every field (m, 1)) of the iterates W_path (m, d, d).

    Computed through the score table with the exact solutions ``svm`` (GraphSVMSolution) and ``fin`` (FinSolution)
    and the retrieved sets C (n, T); the fields this route does not compute (cos_superposition, support, tv) are nan.
    """
    direction = svm.W / svm.norm if svm.norm > 0 else np.zeros_like(svm.W)
    flat = W_path.reshape(len(W_path), -1)
    norm = np.linalg.norm(flat, axis=1)
    c = flat @ direction.ravel()
    proj = np.stack([svm.basis.project(W) for W in W_path]) if svm.basis.dim else np.zeros_like(W_path)
    fin_dist = np.linalg.norm((proj - fin.W).reshape(len(W_path), -1), axis=1)
    rho = W_path - c[:, None, None] * direction - fin.W
    masses = np.stack([(dataset_attention(ds, W) * C).sum(1) for W in W_path])
    loss = np.array([log_loss(ds, W) for W in W_path])
    nan = np.full((len(W_path), 1), np.nan)
    cos = np.where(norm > 0, c / np.where(norm > 0, norm, 1), np.nan)

    def col(x):
        return np.asarray(x, dtype=float)[:, None]

    return Metrics(
        norm=col(norm),
        svm_coef=col(c),
        cos_svm=col(cos),
        fin_dist=col(fin_dist),
        residual=col(np.linalg.norm(rho.reshape(len(W_path), -1), axis=1)),
        cos_superposition=nan,
        min_mass=col(masses.min(1)),
        support=nan,
        tv=nan,
        loss=col(loss),
        loss_gap=col(loss - fin.loss_star),
        one_minus_label_attention=col(1 - masses.mean(1)),
    )


def exact_solutions_of(ds: Dataset, svm, fin, C: np.ndarray):
    """``next_token.stacked.ExactSolutions`` (B = 1) of one dataset from its solved ``svm`` and ``fin``; C: (n, T)."""
    K = ds.K
    return ExactSolutions(
        W_svm=svm.W[None],
        W_fin=fin.W[None],
        loss_star=np.array([fin.loss_star]),
        svm_norm=np.array([svm.norm]),
        fin_basis=svm.basis.matrices.reshape(1, svm.basis.dim, -1) if svm.basis.dim else np.zeros((1, 1, K * K)),
        retrieved=C[None],
        composition=dataset_attention(ds, fin.W, restrict=C)[None],
        certificate_worst=np.array([svm.certificate.worst()]),
    )


def run_table(checkpoints: np.ndarray, metrics, rows: int = 8):
    """pandas DataFrame of a run's metrics (B = 1) at ``rows`` evenly spaced checkpoints."""
    m = metrics
    frame = pd.DataFrame(
        {
            "step": checkpoints,
            "||W||": m.norm[:, 0],
            "cos(W, W^svm)": m.cos_svm[:, 0],
            "fin_dist": m.fin_dist[:, 0],
            "mean mass on C_i": 1 - m.one_minus_label_attention[:, 0],
            "L - L*": m.loss_gap[:, 0],
        }
    )
    return frame.iloc[np.unique(np.linspace(0, len(checkpoints) - 1, rows).astype(int))]


RETRIEVED = 0.9  # a held-out window counts as retrieved when at least this share of the attention is on C_top


@dataclass(frozen=True)
class HeldoutRetrieval:
    """The automaton's top SCC on held-out windows and the attention the layer puts on it.

    Attributes:
        top: (n, T) bool positions in the unique highest-priority SCC (empty rows where there is none).
        unique: (n,) bool windows with a unique top SCC.
        attn: (n, T) the trained layer's attention.
        mass_top, mass_top_sup, uniform_mass: (u,) attention mass on C_top over the u windows with a unique top,
            of the layer, of the superposition c W_hat + W^fin at the layer's c = <W, W_hat>, of uniform attention.
        retrieved_share, share_sup, null_share: shares of those windows with mass >= RETRIEVED for each.
        interval: binomial 95% interval (low, high) of retrieved_share.
    """

    top: np.ndarray
    unique: np.ndarray
    attn: np.ndarray
    mass_top: np.ndarray
    mass_top_sup: np.ndarray
    uniform_mass: np.ndarray
    retrieved_share: float
    share_sup: float
    null_share: float
    interval: tuple[float, float]


def heldout_retrieval(graphs: CorpusGraphs, held: Windows, E: np.ndarray, W: np.ndarray, svm, fin, svm_coef: float):
    """N6 on held-out windows: the top SCC of each window in the training graphs and the layer's mass on it.

    graphs: the training sample's CorpusGraphs; E (K, d), W (d, d) the trained layer; svm, fin the exact solutions;
    svm_coef: c = <W, W_hat> at the end of the run (the superposition's coefficient).
    """
    top, unique = top_scc_positions(reachability_tensor(graphs), held.tok)
    attn = attention(E, W, held.tok)
    direction = svm.W / svm.norm if svm.norm > 0 else np.zeros_like(svm.W)
    attn_sup = attention(E, float(svm_coef) * direction + fin.W, held.tok)
    mass_top, mass_top_sup = (attn * top).sum(1)[unique], (attn_sup * top).sum(1)[unique]
    retrieved = int(np.sum(mass_top >= RETRIEVED))
    interval = binomtest(retrieved, int(unique.sum())).proportion_ci(0.95) if unique.any() else None
    uniform_mass = top.mean(1)[unique]  # W = 0: uniform attention
    return HeldoutRetrieval(
        top=top,
        unique=unique,
        attn=attn,
        mass_top=mass_top,
        mass_top_sup=mass_top_sup,
        uniform_mass=uniform_mass,
        retrieved_share=float(np.mean(mass_top >= RETRIEVED)),
        share_sup=float(np.mean(mass_top_sup >= RETRIEVED)),
        null_share=float(np.mean(uniform_mass >= RETRIEVED)) if unique.any() else float("nan"),
        interval=(interval.low, interval.high) if interval is not None else (0.0, 1.0),
    )


@dataclass(frozen=True)
class NextWordPrediction:
    """Held-out next-word predictions of the layer, the bigram baseline and the automaton.

    Attributes:
        layer_word, bigram_word, auto_word: (n,) predicted words.
        table: pandas DataFrame of accuracies and log-losses on four subsets of the held-out windows.
        agree: share of the windows with a unique top SCC on which layer and automaton predict the same word.
    """

    layer_word: np.ndarray
    bigram_word: np.ndarray
    auto_word: np.ndarray
    table: object
    agree: float


def next_word_prediction(
    train: Windows, held: Windows, retrieval: HeldoutRetrieval, E: np.ndarray, W_fin: np.ndarray, vocab_size: int
) -> NextWordPrediction:
    """Compare the layer's next word (largest attention mass) with the bigram baseline (most frequent next word after
    the query in ``train``, add-1/2 probabilities) and the automaton (the word of C_top with the largest W^fin
    composition), on all held-out windows, those with a unique top SCC, the realizable ones and both.

    The aligned head's log-loss is finite only on realizable windows (inf elsewhere); the automaton is defined on
    windows with a unique top SCC only (nan elsewhere) and its probability of the label can be 0.
    """
    attn, top, unique = retrieval.attn, retrieval.top, retrieval.unique
    bigram = bigram_probabilities(train.tok[:, -1], train.y, vocab_size)
    layer_word = predicted_word(attn, held.tok, vocab_size)
    bigram_word = bigram[held.tok[:, -1]].argmax(1)
    attn_auto = np.zeros_like(attn)
    attn_auto[unique] = attention(E, W_fin, held.tok[unique], mask=top[unique])
    auto_word = predicted_word(attn_auto, held.tok, vocab_size)
    real = held.realizable
    p_layer = label_probability(attn, held.tok, held.y)
    p_bigram = bigram[held.tok[:, -1], held.y]
    p_auto = label_probability(attn_auto, held.tok, held.y)
    rows = {}
    for name, subset in (
        ("all held-out", np.ones(held.n, bool)),
        ("unique top SCC", unique),
        ("realizable", real),
        ("realizable, unique top", real & unique),
    ):
        rows[name] = {
            "windows": int(subset.sum()),
            "accuracy: layer": np.mean(layer_word[subset] == held.y[subset]),
            "accuracy: bigram": np.mean(bigram_word[subset] == held.y[subset]),
            "accuracy: automaton": (
                np.mean(auto_word[subset] == held.y[subset]) if (subset <= unique).all() else np.nan
            ),
            "log-loss: layer": -np.log(p_layer[subset]).mean() if (subset <= real).all() else np.inf,
            "log-loss: bigram": -np.log(p_bigram[subset]).mean(),
            "automaton: p(label) = 0": np.mean(p_auto[subset] == 0) if (subset <= unique).all() else np.nan,
        }
    agree = float(np.mean(layer_word[unique] == auto_word[unique]))
    return NextWordPrediction(layer_word, bigram_word, auto_word, pd.DataFrame(rows).T, agree)
