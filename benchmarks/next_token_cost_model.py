"""Measure the constants of the next-token notebooks' time model (``next_token.bounds``), one thread.

Each heavy loop of the notebooks is timed at two sizes and its cost per unit of work is printed: seconds per step
and per element of the stacked feature tensor (B n T d^2) for the batched trainer and the general head, per cubed
constraint for the exact solvers, per row for the Monte Carlo sampling of notebook 04, per cubed variable for the
nuclear-norm solvers of notebook 05, per window and step for the real-text trainer. ``next_token.bounds`` holds the
values this script printed once, with the date; rerun it on an idle machine to refresh them (a shared machine gives
larger, noisier numbers).

Run:  OMP_NUM_THREADS=1 .venv/bin/python benchmarks/next_token_cost_model.py
"""

from __future__ import annotations

import os
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import torch  # noqa: E402

from next_token import automaton as au  # noqa: E402
from next_token import general_head as gh  # noqa: E402
from next_token import nuclear_svm as nu  # noqa: E402
from next_token import realtext_layer as nl  # noqa: E402
from next_token.data import Dataset, generate_dataset  # noqa: E402
from next_token.graphs import token_priority_graphs  # noqa: E402
from next_token.path import regularization_path  # noqa: E402
from next_token.stacked import stack_datasets  # noqa: E402
from next_token.svm import solve_graph_svm, solve_w_fin  # noqa: E402
from next_token.training import initial_weights, train  # noqa: E402


def seconds(work, *args, repeats: int = 3, **kwargs) -> float:
    """The fastest of ``repeats`` calls ``work(*args, **kwargs)`` (the least disturbed by other jobs)."""
    best = np.inf
    for _ in range(repeats):
        start = time.perf_counter()
        work(*args, **kwargs)
        best = min(best, time.perf_counter() - start)
    return best


def report(what: str, unit: str, points: list[tuple[float, float]]) -> None:
    """Print the fit of ``points`` (units, seconds)."""
    fixed, per_unit = fit(points)
    print(f"{what}: fixed {fixed:.3g} s, {per_unit:.3g} s per {unit}")


def stack_of(B, n, T, K, d, seed=0):
    """B generated cyclic datasets (tokens may repeat, so any T fits)."""
    return stack_datasets([generate_dataset(n, T, K, d, "cyclic", "gaussian", True, seed=seed + b) for b in range(B)])


def fit(points: list[tuple[float, float]]) -> tuple[float, float]:
    """(fixed, per unit) of a line through (units, seconds) points, by least squares, both clipped at 0."""
    units, times = np.array(points).T
    slope, intercept = np.polyfit(units, times, 1)
    return max(intercept, 0.0), max(slope, 0.0)


def exact_structure(ds, graphs):
    """The Graph-SVM and W^fin of one dataset."""
    return solve_w_fin(ds, graphs, solve_graph_svm(ds, graphs).basis)


def main() -> None:
    """Time each loop and print the constants."""
    torch.set_num_threads(1)
    points = []
    for shape, steps in (((10, 6, 4, 6, 8), 2000), ((10, 50, 8, 16, 32), 100), ((20, 100, 16, 32, 64), 10)):
        stack = stack_of(*shape)
        B, n, T, K, d = shape
        points.append((B * n * T * d * d, seconds(train, stack, "normalized_gd", 0.01, steps) / steps))
    report("train step", "B n T d^2", points)
    points = []
    for shape, steps in (((10, 6, 4, 6, 8), 500), ((10, 50, 8, 16, 32), 20)):
        stack = stack_of(*shape)
        B, n, T, K, d = shape
        W0 = initial_weights(stack, "uniform")
        each = seconds(gh.train_general_head, stack, 0.1, steps, W0, "ce", "cancellation_free") / steps
        points.append((B * n * T * (d * d + K + T), each))
    report("general-head step", "B n T (d^2 + K + T)", points)
    points = []
    for n, T, K in ((50, 8, 16), (200, 16, 64)):
        ds = generate_dataset(n, T, K, K, "cyclic", "gaussian", True, seed=0)
        graphs = token_priority_graphs(ds)
        edges = graphs.edges().shape[0]
        points.append((edges**3, seconds(exact_structure, ds, graphs, repeats=1)))
    report("exact structure", "edge^3", points)
    points = []
    for n, T, K, d in ((6, 4, 6, 8), (30, 8, 12, 16)):
        stack = stack_of(1, n, T, K, d)
        r = min(token_priority_graphs(stack.dataset(0)).edges().shape[0], d * d)
        mus = np.geomspace(1, 1e-10, 41)
        points.append((mus.size * (n * T * r * r + r**3), seconds(regularization_path, stack, mus, repeats=1)))
    report("regularization path", "mu (n T r^2 + r^3)", points)
    rng = np.random.default_rng(0)
    for rows, draws in ((200, 400), (2000, 400)):
        p = rng.dirichlet(np.ones(8), size=rows)
        each = seconds(au.sampling_tv_null, p, draws, 20, rng, repeats=1) / (20 * rows)
        print(f"sampling: {each:.3g} s per row and replication ({rows} rows, {draws} draws)")
    ds = generate_dataset(6, 4, 6, 8, "cyclic", seed=0)
    graphs = token_priority_graphs(ds)
    each = seconds(au.new_contexts, ds, graphs, 2000, seed=0, repeats=1) / 2000
    print(f"new contexts: {each:.3g} s per context")
    points = []
    for d in (6, 8, 10):
        ds = generate_dataset(6, 4, 6, d, "cyclic", seed=0)
        points.append(((2 * d * d) ** 3, seconds(nu.solve_nuclear_svm, ds, starts=3, repeats=1)))
    report("nuclear-norm Graph-SVM", "(2 d^2)^3", points)
    points = []
    for d in (6, 8, 10):
        ds = generate_dataset(6, 4, 6, d, "cyclic", seed=0)
        points.append(((2 * d * d) ** 3, seconds(nu.nuclear_path, ds, np.geomspace(0.1, 1e-6, 6), repeats=1) / 6))
    report("(K, Q) path point", "(2 d^2)^3", points)
    points = []
    for n, K in ((1000, 16), (8000, 64)):
        tok = rng.integers(0, K, size=(n, 8))
        y = tok[np.arange(n), rng.integers(0, 8, size=n)]
        ds = Dataset(np.eye(K), tok, y)
        each = seconds(nl.train_layer, ds, "gd", 1.0, 200, np.array([0, 200]), repeats=1) / 200
        points.append((n * 8 + K**3, each))
    report("real-text step", "(n T + K^3)", points)


if __name__ == "__main__":
    main()
