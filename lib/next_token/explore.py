"""An explorer of the next-token paper's structure (:mod:`theory_collection.explore`), for notebook 02.

Choose a small dataset (``n`` sequences of ``T`` tokens over a vocabulary of ``K``, a seed, cyclic or acyclic
data) and read, for it: its token-priority graphs with their strongly connected components (iterative Tarjan,
:mod:`next_token.graphs`), the Graph-SVM solution ``W^svm`` with its KKT certificate and the finite component
``W^fin`` with ``L*`` (exact solvers, :mod:`next_token.svm`), shown as the score tables ``E W E^T`` they put on
the tokens. Every change draws a dataset and solves it exactly (milliseconds at these sizes); nothing trains.

:func:`structure_view` is the pure part (tested without a browser); :func:`structure_explorer` adds the controls.
"""

from __future__ import annotations

from dataclasses import dataclass

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from next_token.data import DATA_CLASSES, generate_dataset
from next_token.figures import draw_tpg, shown_queries
from next_token.graphs import token_priority_graphs
from next_token.svm import solve_graph_svm, solve_w_fin
from theory_collection.explore import Explorer, View, control

MAX_DRAWS = 500  # rejection draws for the data class before a choice is called impossible (the notebooks: 10,000)


@dataclass(frozen=True)
class Sizes:
    """What the explorer holds fixed: the embedding dimension and kind, and whether tokens may repeat."""

    embed_dim: int = 8
    embeddings: str = "gaussian"
    repeats: bool = False


def solve(num_samples: int, seq_len: int, vocab_size: int, seed: int, data_class: str, sizes: Sizes = Sizes()):
    """The dataset of these sizes and its structure: ``(dataset, graphs, svm, fin)``; a ValueError says why
    there is none (no dataset of the class in :data:`MAX_DRAWS` draws, sizes the generator refuses)."""
    dataset = generate_dataset(
        num_samples,
        seq_len,
        vocab_size,
        sizes.embed_dim,
        data_class,
        sizes.embeddings,
        sizes.repeats,
        seed,
        max_tries=MAX_DRAWS,
    )
    graphs = token_priority_graphs(dataset)
    svm = solve_graph_svm(dataset, graphs)
    fin = solve_w_fin(dataset, graphs, svm.basis)
    return dataset, graphs, svm, fin


def components_text(graphs, k: int) -> str:
    """``G^(k)``'s tokens by SCC in priority order: ``{1, 2} ⇒ {3} ⇒ {0}`` (only tokens with an edge)."""
    adjacency = graphs.adjacency[k]
    present = set(np.flatnonzero(adjacency.any(axis=0) | adjacency.any(axis=1)).tolist())
    parts = [sorted(set(c) & present) for c in graphs.components(k)]
    return " ⇒ ".join("{" + ", ".join(map(str, c)) + "}" for c in parts if c)


def structure_view(
    num_samples: int, seq_len: int, vocab_size: int, seed: int, data_class: str, sizes: Sizes = Sizes()
) -> View:
    """The dataset's graphs (up to four, cyclic ones first), its SCCs, ``W^svm`` and ``W^fin`` (see the module
    docstring); sizes with no dataset of the class are said, not drawn."""
    try:
        dataset, graphs, svm, fin = solve(num_samples, seq_len, vocab_size, seed, data_class, sizes)
    except ValueError as error:
        return View(lines=[f"No dataset: {error}."])
    queries = shown_queries(graphs, max_panels=4)
    fig = plt.figure(figsize=(12, 6.2))
    # plain-text titles and a fixed layout: mathtext and tight_layout would take most of a change's time
    grid = fig.add_gridspec(2, 4, height_ratios=[1, 1.1], left=0.05, right=0.97, top=0.94, bottom=0.08, hspace=0.3)
    for column, k in enumerate(queries):
        draw_tpg(fig.add_subplot(grid[0, column]), graphs, k, title=f"G^({k})")
    scores = {name: dataset.E @ W @ dataset.E.T for name, W in (("W^svm", svm.W), ("W^fin", fin.W))}  # (K, K)
    bound = max(max(np.abs(table).max() for table in scores.values()), 1e-12)  # one colour scale for both
    for column, (name, table) in enumerate(scores.items()):
        ax = fig.add_subplot(grid[1, 2 * column : 2 * column + 2])
        image = ax.imshow(table, cmap="RdBu_r", vmin=-bound, vmax=bound)
        ax.set(xlabel="query token k", ylabel="token u", title=f"scores x_u^T {name} x_k")
        ax.set_xticks(range(dataset.K))
        ax.set_yticks(range(dataset.K))
        fig.colorbar(image, ax=ax, fraction=0.046)
    lines = [
        f"n = {dataset.n} sequences of T = {dataset.T} tokens over K = {dataset.K} (d = {dataset.d}, "
        f"{sizes.embeddings} embeddings, seed {seed}): {data_class}, found at draw {dataset.meta.get('draws', 1)}",
        *(f"G^({k}): {components_text(graphs, k)}" for k in graphs.queries if graphs.adjacency[k].any()),
        (
            f"W^svm: ‖W^svm‖_F = {svm.norm:.6g}, largest KKT violation {svm.certificate.worst():.2g}"
            if svm.feasible and svm.certificate is not None
            else "W^svm: infeasible (the embeddings are linearly dependent)"
        ),
        f"W^fin: S_fin of dimension {svm.basis.dim}, L* = {fin.loss_star:.6g}, ‖W^fin‖_F = "
        f"{np.linalg.norm(fin.W):.6g}, gradient norm {fin.grad_norm:.2g} after {fin.steps} Newton step(s)",
    ]
    columns = [f"t{t + 1}" for t in range(dataset.T)]
    table = pd.DataFrame(dataset.tok, columns=columns).assign(label=dataset.y)
    return View(figure=fig, lines=lines, table=table)


def structure_explorer(
    num_samples: int, seq_len: int, vocab_size: int, seed: int, data_class: str, sizes: Sizes = Sizes()
) -> Explorer:
    """Controls for ``n``, ``T``, ``K`` (at most the embedding dimension, so the embeddings stay independent), the
    seed and the data class over :func:`structure_view`, starting at the given dataset."""

    def slider(description, value, low, high):
        return control("IntSlider", value, min=low, max=high, description=description)

    controls = {
        "num_samples": slider("n", num_samples, 1, max(12, num_samples)),
        "seq_len": slider("T", seq_len, 2, max(8, seq_len)),
        "vocab_size": slider("K", vocab_size, 2, max(sizes.embed_dim, vocab_size)),
        "seed": slider("seed", seed, 0, 50),
        "data_class": control("Dropdown", data_class, options=list(DATA_CLASSES), description="data"),
    }
    return Explorer(
        "A small dataset: its token-priority graphs, their SCCs, W^svm and W^fin",
        controls,
        lambda **values: structure_view(sizes=sizes, **values),
    )
