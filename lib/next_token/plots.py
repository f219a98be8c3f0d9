"""Pictures of token-priority graphs: SCCs coloured, priority order from left (highest) to right."""

from __future__ import annotations

import matplotlib.pyplot as plt
import networkx as nx
import numpy as np

from next_token.graphs import TokenPriorityGraphs


def tpg_layout(graphs: TokenPriorityGraphs, k: int, nodes: list[int]) -> dict[int, tuple[float, float]]:
    """Node positions: x = priority level of the node's SCC, y spread inside a level (SCC members adjacent)."""
    levels = graphs.priority_levels(k)
    comp = graphs.scc[k]
    pos = {}
    for level in np.unique(levels[nodes]):
        members = sorted((u for u in nodes if levels[u] == level), key=lambda u: (comp[u], u))
        for j, u in enumerate(members):
            pos[u] = (float(level), (len(members) - 1) / 2 - j)
    return pos


def draw_tpg(ax, graphs: TokenPriorityGraphs, k: int, title: str | None = None, cmap: str = "tab10") -> None:
    """Draw G^(k) on ax with networkx: nodes are the tokens with an edge, coloured by SCC (grey = singleton);
    the priority order runs left to right (level = longest path from a source SCC)."""
    adj = graphs.adjacency[k]
    nodes = sorted(set(np.flatnonzero(adj.any(axis=0) | adj.any(axis=1)).tolist()))
    G = nx.DiGraph()
    G.add_nodes_from(nodes)
    G.add_edges_from((int(u), int(v)) for u, v in zip(*np.nonzero(adj)))
    comp = graphs.scc[k]
    sizes = np.bincount(comp)
    palette = plt.get_cmap(cmap)
    big = {c: i for i, c in enumerate(sorted({comp[u] for u in nodes if sizes[comp[u]] >= 2}))}
    colours = [palette(big[comp[u]] % 10) if comp[u] in big else (0.8, 0.8, 0.8, 1.0) for u in nodes]
    pos = tpg_layout(graphs, k, nodes)
    same = [(u, v) for u, v in G.edges if comp[u] == comp[v]]
    cross = [(u, v) for u, v in G.edges if comp[u] != comp[v]]
    nx.draw_networkx_nodes(G, pos, ax=ax, node_color=colours, node_size=420, edgecolors="black", linewidths=0.8)
    nx.draw_networkx_labels(G, pos, ax=ax, font_size=9)
    nx.draw_networkx_edges(
        G,
        pos,
        edgelist=cross,
        ax=ax,
        edge_color="0.35",
        arrows=True,
        arrowsize=12,
        connectionstyle="arc3,rad=0.08",
        node_size=420,
    )
    nx.draw_networkx_edges(
        G,
        pos,
        edgelist=same,
        ax=ax,
        edge_color="tab:red",
        width=1.8,
        arrows=True,
        arrowsize=12,
        connectionstyle="arc3,rad=0.25",
        node_size=420,
    )
    ax.set_title(title if title is not None else f"G^({k}): priority left to right")
    ax.set_axis_off()


def shown_queries(graphs: TokenPriorityGraphs, max_panels: int = 8) -> list[int]:
    """The query tokens whose graph has an edge, at most ``max_panels``: graphs with a cyclic SCC first, then the
    ones with the most edges (ties by token)."""
    queries = [int(k) for k in graphs.queries if graphs.adjacency[k].any()]
    key = lambda k: (-int(graphs.scc_sizes(k).max() >= 2), -int(graphs.adjacency[k].sum()), k)  # noqa: E731
    return sorted(queries, key=key)[:max_panels]


def draw_tpg_panels(graphs: TokenPriorityGraphs, queries: list[int]):
    """One ``draw_tpg`` panel per query (four per row); returns the figure."""
    cols = min(4, max(1, len(queries)))
    rows = int(np.ceil(len(queries) / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(3.6 * cols, 3.0 * rows), squeeze=False)
    for ax, k in zip(axes.flat, queries):
        sizes = graphs.scc_sizes(k)
        draw_tpg(ax, graphs, k, title=f"G^({k}): {int((sizes >= 2).sum())} cyclic SCC(s)")
    for ax in list(axes.flat)[len(queries) :]:
        ax.set_axis_off()
    fig.suptitle("Token-priority graphs (SCCs coloured, priority left to right)")
    fig.tight_layout()
    return fig


def draw_hessian_eigenvalues(lows: np.ndarray, highs: np.ndarray):
    """Smallest and largest Hessian eigenvalue at each random W (log scale, floored at 1e-18); returns the figure."""
    fig, ax = plt.subplots(figsize=(5.5, 3.2))
    ax.semilogy(range(1, len(lows) + 1), np.maximum(lows, 1e-18), "o-", label="smallest eigenvalue")
    ax.semilogy(range(1, len(highs) + 1), highs, "s--", label="largest eigenvalue")
    ax.set(xlabel="random W", ylabel="Hessian eigenvalue on S_data", title="The Hessian is positive semidefinite")
    ax.legend()
    fig.tight_layout()
    return fig


def draw_svm_scores(E: np.ndarray, graphs: TokenPriorityGraphs, W_svm: np.ndarray):
    """Left: the scores x_u^T W^svm x_k of each G^(k)'s tokens against their priority level; right: the margins of
    W^svm on the cross-SCC edges. E: (K, d) embeddings, W_svm: (d, d). Returns the figure."""
    queries = [int(k) for k in graphs.queries if graphs.adjacency[k].any()]
    cross, _ = graphs.edge_kinds()
    table = E @ W_svm @ E.T
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.6))
    for k in queries:
        nodes = np.flatnonzero(graphs.adjacency[k].any(axis=0) | graphs.adjacency[k].any(axis=1))
        jitter = 0.06 * (k - np.mean(queries))
        axes[0].plot(graphs.priority_levels(k)[nodes] + jitter, table[nodes, k], "o", label=f"query {k}")
    axes[0].set(
        xlabel="priority level in G^(k) (0 = highest)", ylabel="score x_u^T W^svm x_k", title="W^svm scores by priority"
    )
    axes[0].legend(fontsize=8)
    margins = (table[cross[:, 1], cross[:, 0]] - table[cross[:, 2], cross[:, 0]]) if len(cross) else np.zeros(0)
    if len(margins):  # explicit bin edges: all margins can equal 1 exactly
        axes[1].hist(margins, bins=np.linspace(margins.min() - 0.05, margins.max() + 0.05, 31), color="tab:blue")
    axes[1].axvline(1.0, color="k", ls="--", lw=1, label="margin 1")
    axes[1].set(xlabel="margin on a cross-SCC edge", ylabel="edges", title="Margins of W^svm (support vectors at 1)")
    axes[1].legend()
    fig.tight_layout()
    return fig


def draw_regularization_path(path, has_svm: bool):
    """The path's loss gap and its direction's distance from W^svm against ||W_mu|| (``path``: the DataFrame of
    ``next_token.verify.path_table``; the right panel stays empty when W^svm = 0). Returns the figure."""
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.6))
    axes[0].loglog(path["||W_mu||"], np.maximum(path["L(W_mu) - L*"], 1e-17), "o-")
    axes[0].set(xlabel="||W_mu||", ylabel="L(W_mu) - L*", title="The path's loss falls to L*")
    if has_svm:
        axes[1].semilogx(path["||W_mu||"], 1 - path["cos(W_mu, W^svm)"], "o-")
        axes[1].set_yscale("log")
    axes[1].set(xlabel="||W_mu||", ylabel="1 - cos(W_mu, W^svm)", title="...while its direction approaches W^svm")
    fig.tight_layout()
    return fig


# ----------------------------------------------------------------------------------------------------------------
# notebook 06: real text


def draw_realizability(realizability, seq_len: int):
    """The realizable fraction against T by vocabulary (left) and by label class (right); ``realizability``: a
    ``next_token.realtext.Realizability``; seq_len: the notebook's T (dotted). Returns the figure."""
    grid = realizability.seq_lens
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.8))
    for name, (f, _) in realizability.curves.items():
        axes[0].plot(grid, f, marker="o", label=name)
    for (name, (f, _)), style in zip(realizability.by_class.items(), ("-", "-", "--", "--")):
        axes[1].plot(grid, f, marker="o", ls=style, label=name)
    titles = ("NA.realizable: next word in the window, by vocabulary", "content vs function-word labels")
    for ax, title in zip(axes, titles):
        ax.axhline(1.0, color="black", lw=0.8, ls="--")
        ax.axvline(seq_len, color="grey", lw=0.8, ls=":")
        ax.legend(fontsize=8)
        ax.set(xscale="log", xlabel="window length T", ylabel="realizable fraction", ylim=(0, 1.02), title=title)
    fig.suptitle("Realizability of real next-word windows (dashed: the assumption; dotted: the notebook's T)")
    fig.tight_layout()
    return fig


def draw_scc_sizes(sources: dict, stats: dict, vocab_size: int):
    """Histograms of the largest SCC's share of each graph (corpus and sample scales) and of the sizes of every
    cyclic SCC of the sample, for real, random and shuffled windows (``next_token.realtext.graph_sources`` and their
    ``graph_statistics``). Returns the figure."""
    names = ("real", "random", "shuffled")
    fig, axes = plt.subplots(1, 3, figsize=(15, 4))
    for ax, scale in zip(axes, ("corpus", "sample")):
        for name in names:
            sizes = stats[name, scale]["largest_scc"] / np.maximum(stats[name, scale]["active_tokens"], 1)
            ax.hist(sizes, bins=np.linspace(0, 1, 21), histtype="step", lw=1.6, label=name)
        title = f"{scale} ({sources['real', scale][0].n} windows): largest SCC"
        ax.set(xlabel="largest SCC / words in the graph", ylabel="query words", title=title)
        ax.legend(fontsize=8)
    for name in names:
        sizes = stats[name, "sample"]["cyclic_scc_sizes"]
        bins = np.arange(1.5, vocab_size + 1.5)
        axes[2].hist(sizes, bins=bins, histtype="step", lw=1.6, label=f"{name} ({sizes.size} SCCs)")
    axes[2].set(xlabel="SCC size (words)", ylabel="SCCs of two words or more", title="sample: sizes of all cyclic SCCs")
    axes[2].legend(fontsize=8)
    fig.suptitle("SCC sizes of the priority graphs: real text vs random data and shuffled windows")
    fig.tight_layout()
    return fig


def draw_word_tpg(graphs: TokenPriorityGraphs, k: int, vocab, title: str):
    """``draw_tpg`` of G^(k) with each token id replaced by its word ``vocab[id]``. Returns the figure."""
    fig, ax = plt.subplots(figsize=(9, 4.2))
    draw_tpg(ax, graphs, k, title=title)
    for text in ax.texts:  # token ids -> words
        text.set_text(vocab[int(text.get_text())])
    return fig


def draw_real_training(checkpoints: np.ndarray, metrics, predicted: np.ndarray, title: str):
    """A run (B = 1) along its steps: 1 - cos(W, W^svm) against N4's predicted rate, ||Pi_Sfin W - W^fin||, and the
    min / mean attention mass on C_i. metrics: next_token.dynamics.Metrics (m, 1); predicted: (m,) rate."""
    m = metrics
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.6))
    steps_axis = np.maximum(checkpoints, 1)
    axes[0].plot(steps_axis, 1 - m.cos_svm[:, 0], label="1 - cos(W, W^svm)")
    axes[0].plot(steps_axis, predicted, ls="--", label="rate (||W^fin||² + ||ρ||²) / 2||W||²")
    axes[0].set(xscale="log", yscale="log", xlabel="step", title="N4: direction")
    axes[1].plot(steps_axis, m.fin_dist[:, 0])
    axes[1].set(xscale="log", yscale="log", xlabel="step", title="N5: ||Π_Sfin W − W^fin||")
    axes[2].plot(steps_axis, m.min_mass[:, 0], label="min over windows")
    axes[2].plot(steps_axis, 1 - m.one_minus_label_attention[:, 0], label="mean over windows")
    axes[2].set(xscale="log", xlabel="step", ylim=(0, 1.02), title="N6 (training): attention mass on C_i")
    for ax in (axes[0], axes[2]):
        ax.legend(fontsize=8)
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def draw_heldout_attention(held, retrieval, prediction, vocab, count: int = 5):
    """A few held-out windows (realizable, with a unique top SCC; any windows when there are none), the layer's
    attention on each word (bold: C_top) and the three predictions. held: realtext.Windows; retrieval:
    realtext.HeldoutRetrieval; prediction: realtext.NextWordPrediction. Returns the figure."""
    attn, top, unique = retrieval.attn, retrieval.top, retrieval.unique
    chosen = held.realizable & unique
    show = np.flatnonzero(chosen)[:: max(1, int(chosen.sum()) // count)][:count]
    if show.size == 0:  # tiny vocabularies: fall back to any held-out windows
        show = np.arange(min(count, held.n))
    fig, axes = plt.subplots(len(show), 1, figsize=(11, 1.25 * len(show) + 0.6), squeeze=False)
    for ax, i in zip(axes[:, 0], show):
        ax.imshow(attn[i][None, :], cmap="Blues", vmin=0, vmax=1, aspect="auto")
        for t, word in enumerate(held.tok[i]):
            weight, colour = ("bold" if top[i, t] else "normal"), ("black" if attn[i, t] < 0.6 else "white")
            text = f"{vocab[word]}\n{attn[i, t]:.2f}"
            ax.text(t, 0, text, ha="center", va="center", fontsize=9, fontweight=weight, color=colour)
        ax.set_xticks([]), ax.set_yticks([])
        words = (vocab[prediction.layer_word[i]], vocab[prediction.bigram_word[i]], vocab[prediction.auto_word[i]])
        ax.set_title(
            f"next word: '{vocab[held.y[i]]}'  layer: '{words[0]}'  bigram: '{words[1]}'"
            f"  automaton: '{words[2]}'   (bold: C_top)",
            fontsize=9,
        )
    fig.suptitle("Held-out windows: the trained layer's attention word by word (query last)")
    fig.tight_layout()
    return fig
