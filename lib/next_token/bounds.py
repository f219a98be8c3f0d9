"""What a next-token notebook costs at its resolved values: an upper estimate of its memory and of its time on one
core, and the time budget that bounds every run length.

The time model counts the heaviest loops of each notebook with a cost per unit of work measured once by
``benchmarks/next_token_cost_model.py`` (2026-12-06, on the 2-core development machine while other jobs ran, load
about 6 with one thread: the constants are larger than on an idle machine, which suits an upper estimate), times a
safety factor of 2. Sizes: B datasets (1 from a file), n samples, T positions, K tokens, d dimensions; E = min(n (T-1),
K^2 (K-1)) TPG edges per dataset (the Gram matrices of the exact solvers), r = min(E, d^2) the dimension of S_data
(the Newton Hessians). A dataset file's own sizes are used when one is given.

The budget: a notebook whose estimate exceeds :data:`TIME_BUDGET_SECONDS` is refused before any kernel starts,
naming the parameter behind its largest part. That is what bounds ``steps``, ``gd_steps``, ``ce_steps``,
``new_contexts``, ``sample_draws`` and the sizes together: at E1's shapes (B = 10, n = 6, T = 4, d = 8) a training
step costs about 0.1 ms, so ``steps`` up to 1,000,000 fits; at the largest shapes (B = 100, n = 200, T = 16, d = 64)
a step costs about 1.6 s, and some thousands of steps are the most the budget allows.
"""

from __future__ import annotations

import math
import warnings
from typing import Any

from next_token.data import EmbeddingRankWarning, load_dataset

SAFETY = 2.0
TIME_BUDGET_SECONDS = 7200.0  # two hours on one core: far past every profile (the slowest, 06 at paper, ~1 minute)
# measured costs (seconds): (fixed, per unit of work); the unit is in the comment
TRAIN_STEP = (2e-5, 6.0e-9)  # a batched training step; B n T d^2
MEASURE_CHECKPOINT = (1e-4, 1.8e-8)  # the metrics of one checkpoint; B n T d^2
HEAD_STEP = (2.5e-4, 3.7e-9)  # a general-head step (05); B n T (d^2 + K + T)
STRUCTURE = (0.05, 1.9e-10)  # the exact Graph-SVM and W^fin of one dataset; E^3
PATH_MU = (0.08, 6.1e-10)  # one mu of the exact regularization path of one dataset; n T r^2 + r^3
SAMPLE_ROW = 1.7e-5  # one multinomial draw of one new context in one Monte Carlo replication (04)
NEW_CONTEXT = 2.4e-4  # drawing and classifying one new context (04)
NUCLEAR = (0.05, 5.3e-8)  # the nuclear-norm Graph-SVM of one dataset by its two routes (05); (2 d^2)^3
KQ_PATH_POINT = (0.41, 1.0e-7)  # one point of the (K, Q) regularization path (05); (2 d^2)^3
TEXT_STEP = (3e-4, 9.7e-9)  # a real-text training step (06); n T + K^3
TEXT_SVM = 7.4e-9  # the real-text Graph-SVM and W^fin (06); m^3, m = K^2 kept constraints (0.53 K^2 measured at K = 32)
TEXT_FIXED = 60.0  # 06's corpus stages, whatever the values (20 s measured at the quick profile)
NOTEBOOK_FIXED = 5.0  # imports, tables and figures
BYTES = 8  # float64
TEXT_FIXED_BYTES = 2e9  # 06's corpus: every summary's words, windows and the K = 1024 graphs of every window
LOCAL_SVM_EVERY = 100  # notebook 05 rebuilds the local SVM every 100 steps of its trajectories


def _sizes(values: dict[str, Any]) -> dict[str, int]:
    """B, n, T, K, d, E, r at the resolved values (a dataset file's own sizes when one is given)."""
    if values.get("dataset_file"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", EmbeddingRankWarning)
            ds = load_dataset(values["dataset_file"])
        B, n, T, K, d = 1, ds.n, ds.T, ds.K, ds.d
    else:
        B = values.get("num_datasets", 1)
        n, T, K, d = (values.get(name, 1) for name in ("num_samples", "seq_len", "vocab_size", "embed_dim"))
    E = max(1, min(n * (T - 1), K * K * (K - 1)))
    return dict(B=B, n=n, T=T, K=K, d=d, E=E, r=min(E, d * d))


def _cost(pair: tuple[float, float], units: float) -> float:
    return pair[0] + pair[1] * units


def _parts(notebook: str, values: dict[str, Any]) -> list[tuple[float, str]]:
    """(seconds, the parameters it grows with) of each heavy part of ``notebook`` at ``values``, before SAFETY."""
    s = _sizes(values)
    B, n, T, K, d, E, r = (s[name] for name in ("B", "n", "T", "K", "d", "E", "r"))
    feature = B * n * T * d * d
    step, checkpoint = _cost(TRAIN_STEP, feature), _cost(MEASURE_CHECKPOINT, feature)
    structure = B * _cost(STRUCTURE, E**3)
    parts = [(NOTEBOOK_FIXED, ""), (structure, "num_samples, seq_len, vocab_size, num_datasets")]
    path_mu = B * _cost(PATH_MU, n * T * r * r + r**3)
    if notebook in ("01_token_priority_graphs", "02_graph_svm"):
        parts.append((11 * path_mu if r <= 600 else 0.0, "num_samples, seq_len, embed_dim"))
    elif notebook == "03_gradient_descent":
        mus = 8 * round(math.log10(1 / values["smallest_mu"])) + 1
        plateau = len(values["plateau_rates"]) * values["steps"]
        parts += [
            (values["steps"] * step + 200 * checkpoint, "steps"),
            (values["gd_steps"] * step + 200 * checkpoint, "gd_steps"),
            (plateau * step + (plateau / 10) * checkpoint, "steps, plateau_rates"),
            (mus * (path_mu + checkpoint), "smallest_mu"),
            (10.0, ""),  # the public code's experiments at their own shapes
        ]
    elif notebook == "04_retrieval_and_composition":
        rows = B * values["new_contexts"]
        draws = max(1.0, values["sample_draws"] / 1e4)
        parts += [
            (values["steps"] * step + 200 * checkpoint, "steps"),
            (41 * (path_mu + checkpoint), "num_datasets"),
            (rows * (NEW_CONTEXT + 201 * SAMPLE_ROW * draws), "new_contexts, sample_draws"),
        ]
    elif notebook == "05_beyond_the_theorem":
        ce_steps = values["ce_steps"]
        horizon = max(2 * ce_steps, 2000)
        head = _cost(HEAD_STEP, B * n * T * (d * d + K + T))
        local_svms = 8 * (horizon / LOCAL_SVM_EVERY) * structure
        points = round(math.log10(0.1 / values["nuclear_smallest_mu"])) + 1
        kq_path = min(values["path_datasets"], B) * points * _cost(KQ_PATH_POINT, (2 * d * d) ** 3)
        parts += [
            (2 * (2 * ce_steps + 2 * horizon) * head + local_svms, "ce_steps"),
            (values["steps"] * (2 * step + B * d**3 * TRAIN_STEP[1]), "steps"),
            (B * _cost(NUCLEAR, (2 * d * d) ** 3), "embed_dim, num_datasets"),
            (kq_path, "path_datasets, nuclear_smallest_mu, embed_dim"),
        ]
    elif notebook == "06_real_text":
        train = values["num_windows"] * (1 - values["heldout_fraction"])
        parts = [
            (NOTEBOOK_FIXED + TEXT_FIXED, ""),
            (2 * values["steps"] * _cost(TEXT_STEP, train * values["seq_len"] + values["vocab_size"] ** 3), "steps"),
            (TEXT_SVM * values["vocab_size"] ** 6, "vocab_size"),
        ]
    return parts


def time_estimate(notebook: str, values: dict[str, Any]) -> float:
    """Seconds ``notebook`` would take at the resolved ``values`` on one core: an upper estimate of its heaviest
    loops (the module docstring gives the model)."""
    return SAFETY * sum(seconds for seconds, _ in _parts(notebook, values))


def check_budget(notebook: str, values: dict[str, Any]) -> None:
    """Refuse ``values`` whose time estimate exceeds TIME_BUDGET_SECONDS, naming the parameters of the largest part.

    Only the values the model needs are read; a notebook's rule calls this after its other checks.
    """
    try:
        parts = _parts(notebook, values)
    except KeyError:  # a partial set of values (a rule applied to some names only): nothing to estimate yet
        return
    total = SAFETY * sum(seconds for seconds, _ in parts)
    if total > TIME_BUDGET_SECONDS:
        seconds, names = max(parts)
        raise ValueError(
            f"at these values {notebook} would take about {total / 3600:.3g} hours on one core (estimate), more than "
            f"the {TIME_BUDGET_SECONDS / 3600:g} hours allowed; most of it grows with {names} "
            f"({SAFETY * seconds / 3600:.3g} hours): choose smaller values"
        )


def memory_estimate(notebook: str, values: dict[str, Any]) -> int:
    """Bytes ``notebook`` needs at the resolved ``values``: an upper estimate of its largest arrays, float64.

    - the exact solvers of one dataset at a time: 4 E x E Gram matrices (NNLS and its factors), the S_data basis
      (r, d, d) and the Newton features (n, T, r) with the Hessian (r, r);
    - the batched training tensors: the stacked features (B, n T, d^2) and their transpose, the kept iterates
      (checkpoints, B, d, d) and 6 score-sized arrays (checkpoints, B, n, T) of their metrics; notebook 03 keeps a
      checkpoint every 10 steps of its plateau runs;
    - 04: the new contexts' distributions (B new_contexts, K), 4 copies; 05: the general head's token Gram (B, n, T, K)
      and its cancellation-free differences (B, n, T, T), 3 copies, and the nuclear solvers' (2 d^2)^2 matrices, 4
      copies; 06: the corpus (TEXT_FIXED_BYTES), 6 window-sized arrays, the Graph-SVM's Gram over about K^2 kept
      constraints (3 copies) and the S_fin basis (K^2, K, K).

    It is meant to refuse a size that cannot run, not to predict the peak.
    """
    if notebook == "06_real_text":
        K, T = values["vocab_size"], values["seq_len"]
        windows = 6 * values["num_windows"] * T
        return int(TEXT_FIXED_BYTES + BYTES * (windows + 3 * K**4 + K**4 + 80 * values["num_windows"]))
    s = _sizes(values)
    B, n, T, K, d, E, r = (s[name] for name in ("B", "n", "T", "K", "d", "E", "r"))
    structure = 4 * E * E + r * d * d + n * T * r + r * r
    checkpoints = 200 + (values.get("steps", 0) // 10 if notebook == "03_gradient_descent" else 0)
    training = 2 * B * n * T * d * d + checkpoints * B * (d * d + 6 * n * T)
    extra = 0
    if notebook == "04_retrieval_and_composition":
        extra = 4 * B * values["new_contexts"] * K
    elif notebook == "05_beyond_the_theorem":
        extra = 3 * B * n * T * (K + T) + 4 * (2 * d * d) ** 2
    if notebook in ("01_token_priority_graphs", "02_graph_svm"):
        training = 0
    return int(BYTES * (structure + training + extra))
