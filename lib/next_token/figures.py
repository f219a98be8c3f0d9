"""The next-token notebooks' figures: token-priority graphs, the Graph-SVM's scores and path, training curves
(mean ± sd bands over the datasets of a batched run), the general head's local-SVM trajectories, and real text.

Each ``draw_*`` function returns a matplotlib figure; a notebook saves it with ``theory_collection.plots.save_figure``
(``band`` draws into a given axis).
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import networkx as nx
import numpy as np

from next_token.general_head import SOFTMAX_BACKWARDS
from next_token.graphs import TokenPriorityGraphs
from next_token.measurements import cosine


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
    """One ``draw_tpg`` panel per query (four per row; one panel saying so when no graph has an edge); returns the
    figure."""
    cols = min(4, max(1, len(queries)))
    rows = max(1, int(np.ceil(len(queries) / cols)))
    fig, axes = plt.subplots(rows, cols, figsize=(3.6 * cols, 3.0 * rows), squeeze=False)
    for ax, k in zip(axes.flat, queries):
        sizes = graphs.scc_sizes(k)
        draw_tpg(ax, graphs, k, title=f"G^({k}): {int((sizes >= 2).sum())} cyclic SCC(s)")
    for ax in list(axes.flat)[len(queries) :]:
        ax.set_axis_off()
    if not queries:
        axes[0, 0].text(0.5, 0.5, "no TPG has an edge", ha="center", va="center", transform=axes[0, 0].transAxes)
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


def draw_regularization_path(path, has_svm: bool, missing: str = ""):
    """The path's loss gap and its direction's distance from W^svm against ||W_mu|| (``path``: the DataFrame of
    ``next_token.verify.path_table``, or None with ``missing`` saying why there is none; the right panel stays empty
    when W^svm = 0). Returns the figure."""
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.6))
    if path is None:
        _say(axes[0], missing)
    else:
        axes[0].loglog(path["||W_mu||"], np.maximum(path["L(W_mu) - L*"], 1e-17), "o-")
    axes[0].set(xlabel="||W_mu||", ylabel="L(W_mu) - L*", title="The path's loss falls to L*")
    if path is not None and has_svm:
        axes[1].semilogx(path["||W_mu||"], 1 - path["cos(W_mu, W^svm)"], "o-")
        axes[1].set_yscale("log")
    elif path is not None:
        _say(axes[1], "W^svm = 0: no direction to approach")
    axes[1].set(xlabel="||W_mu||", ylabel="1 - cos(W_mu, W^svm)", title="...while its direction approaches W^svm")
    fig.tight_layout()
    return fig


def _say(ax, text: str) -> None:
    """A panel that says why it is empty."""
    ax.text(0.5, 0.5, text, ha="center", va="center", wrap=True, transform=ax.transAxes)


def draw_finite_component(composition: np.ndarray, retrieved: np.ndarray, label_mask: np.ndarray, rows: np.ndarray):
    """The attention of W^fin on the retrieved set C_i of each sample that retrieves more than its label (``rows``):
    one group of bars per sample, the label's positions dark. composition, retrieved, label_mask: (n, T). Returns the
    figure (one panel saying so when no sample composes: S_fin = {0})."""
    fig, ax = plt.subplots(figsize=(max(5.5, 0.5 * retrieved[rows].sum() + 2), 3.2))
    if not len(rows):
        _say(ax, "S_fin = {0}: every sample retrieves only its label's positions")
    x = 0
    for i in rows:
        for t in np.flatnonzero(retrieved[i]):
            ax.bar(x, composition[i, t], color="tab:blue" if label_mask[i, t] else "tab:orange")
            x += 1
        x += 1
    ax.set(ylabel="attention of W^fin", xticks=[], title="W^fin composes inside C_i (blue: the label's positions)")
    fig.tight_layout()
    return fig


def draw_toys(chain_column: np.ndarray, exact_column: np.ndarray, cyclic_attention: np.ndarray, frequencies):
    """The two hand-made cases: the chain toy's column 0 of W^svm (solver against sympy), and the cyclic toy's W^fin
    attention in its two contexts against the label frequencies. Returns the figure."""
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.4))
    x = np.arange(len(exact_column))
    axes[0].bar(x - 0.2, chain_column, width=0.4, label="solver")
    axes[0].bar(x + 0.2, exact_column, width=0.4, label="sympy")
    axes[0].set(xlabel="token", ylabel="W^svm[token, 0]", title="chain toy: the Graph-SVM's scores", xticks=x)
    axes[0].legend()
    for j, (row, name) in enumerate(zip(cyclic_attention, ("context (0, 1, 2)", "context (2, 1, 0)"))):
        positions = np.arange(len(row)) + 4 * j
        axes[1].bar(positions - 0.2, row, width=0.4, color="tab:blue", label="W^fin attention" if j == 0 else None)
        axes[1].bar(
            positions + 0.2, frequencies[j], width=0.4, color="tab:orange", label="label frequency" if j == 0 else None
        )
        axes[1].text(positions.mean(), 0.6, name, ha="center")
    axes[1].set(
        ylabel="probability", xticks=[], title="cyclic toy: W^fin reproduces the label frequencies", ylim=(0, 0.7)
    )
    axes[1].legend()
    fig.tight_layout()
    return fig


# ----------------------------------------------------------------------------------------------------------------
# training runs (notebooks 03-05)


def band(ax, x: np.ndarray, values: np.ndarray, label: str, color: str, logy: bool = False) -> None:
    """Plot the mean over datasets of values (m, B) against x (m,) with a ± sd band (clipped above 0 on log axes)."""
    mean, sd = np.nanmean(values, axis=1), np.nanstd(values, axis=1)
    ax.plot(x, mean, color=color, label=label)
    low = np.maximum(mean - sd, mean * 1e-3) if logy else mean - sd
    ax.fill_between(x, low, mean + sd, color=color, alpha=0.2, linewidth=0)


def draw_local_trajectories(trajectories: dict, diverging: dict, public_steps: int, budget: int):
    """cos(W_t, local W^svm) against the step for the diverging runs: one panel per loss, the standard softmax backward
    solid, the cancellation-free one dashed; trajectories[loss][backward] from ``local_svm_trajectory``, diverging[loss]
    the dataset indices. Returns the figure."""
    fig, axes = plt.subplots(1, len(trajectories), figsize=(6 * len(trajectories), 4), squeeze=False)
    for ax, (loss, by_backward) in zip(axes[0], trajectories.items()):
        for style, backward in zip(("-", "--"), SOFTMAX_BACKWARDS):
            frame = by_backward[backward]
            for j, b in enumerate(diverging[loss]):
                run = frame[(frame["dataset"] == b) & (frame["step"] > 0)]
                label = f"dataset {b}" if style == "-" else None
                ax.plot(run["step"], run["cos local"], ls=style, color=f"C{j}", label=label)
        ax.axvline(public_steps, color="grey", ls=":", label=f"public code's budget ({public_steps})")
        if budget != public_steps:
            ax.axvline(budget, color="k", ls=":", label=f"this profile's budget ({budget})")
        ax.set(
            xlabel="step",
            ylabel="cos(W_t, local W^svm at step t)",
            title=f"{loss}: solid standard, dashed cancellation-free",
        )
        ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def draw_authors_runs(runs: dict):
    """The public code's protocol on each data class (``runs``: {"acyclic": ProtocolRun, "cyclic": ProtocolRun}, from
    ``next_token.experiments``): cos(W, W^svm) and the distance to W^fin along the runs (mean ± sd over datasets).
    Returns the figure."""
    fig, axes = plt.subplots(1, 2, figsize=(12, 4))
    for j, (data_class, run) in enumerate(runs.items()):
        band(axes[0], run.steps, run.metrics.cos_svm, data_class, f"C{j}")
        used = np.any(run.exact.fin_basis != 0, axis=(1, 2))
        if used.any():
            band(axes[1], run.steps[1:], run.metrics.fin_dist[1:, used], data_class, f"C{j}", logy=True)
        else:
            axes[1].plot([], [], color=f"C{j}", label=f"{data_class}: S_fin = {{0}}, no finite component")
    axes[0].set(xlabel="iteration", ylabel="cos(W, W^svm)", ylim=(0, 1.01), title="N4 in the authors' setting")
    axes[1].set(xscale="log", yscale="log", xlabel="iteration", ylabel="||Π_Sfin W - W^fin||", title="N5")
    for ax in axes:
        ax.legend()
    fig.tight_layout()
    return fig


def draw_automaton(study: dict):
    """N8 on new contexts (``study`` from ``automaton.new_context_study``): the W^svm score gaps, the TV between the
    trained layer's attention and the automaton, and the attention on three new contexts of one dataset against the
    automaton's. Returns the figure (a panel says so when there is nothing to show)."""
    fig, axes = plt.subplots(1, 3, figsize=(16, 4))
    _histogram(axes[0], study["gaps"], "C0", "no new context has a token outside C_top")
    axes[0].axvline(1, color="k", ls="--", lw=0.8)
    axes[0].set(xlabel="min C_top score - max other score (W^svm)", ylabel="contexts", title="N8: score gaps (≥ 1)")
    tv = np.log10(np.maximum(study["tv_trained"], 1e-17))
    _histogram(axes[1], tv, "C1", "no new context has a unique top SCC")
    axes[1].set(
        xlabel="log10 TV(trained attention, automaton)", ylabel="contexts", title="N8: trained layer vs automaton"
    )
    if study["examples"]:
        b, tok, trained, predicted = study["examples"][0]
        x = np.arange(tok.shape[1])
        shown = min(3, tok.shape[0])
        for j in range(shown):
            axes[2].bar(x + 5 * j - 0.2, trained[j], width=0.4, color="C0", label="trained" if j == 0 else None)
            axes[2].bar(x + 5 * j + 0.2, predicted[j], width=0.4, color="C3", label="automaton" if j == 0 else None)
        ticks = np.concatenate([x + 5 * j for j in range(shown)])
        axes[2].set_xticks(ticks, [str(t) for row in tok[:shown] for t in row], fontsize=8)
        axes[2].set(title=f"dataset {b}: attention on new contexts")
        axes[2].legend()
    else:
        _say(axes[2], "no new context has a unique top SCC")
    axes[2].set(xlabel="token at each position (three new contexts)", ylabel="attention")
    fig.tight_layout()
    return fig


def _histogram(ax, values: np.ndarray, color: str, empty: str, bins: int = 40) -> None:
    """A histogram that also takes no values (the panel says ``empty``) and values all (nearly) equal."""
    if not values.size:
        _say(ax, empty)
        return
    low, high = float(values.min()), float(values.max())
    spread = max(high - low, 1e-9 * max(1.0, abs(low)))  # equal values: one visible bin around them
    ax.hist(values, bins=np.linspace(low - 0.05 * spread, high + 0.05 * spread, bins + 1), color=color)


def draw_kq_path(paths: list, nuclear: list, exact):
    """The (K, Q) regularization paths (``nuclear_svm.nuclear_path`` per dataset) against the nuclear-norm and the
    Frobenius Graph-SVM: 1 - cos(W_mu, W^nuc) (solid) and 1 - cos(W_mu, W^svm) (dashed) against ||W_mu||. nuclear:
    the ``NuclearSVMSolution`` of each dataset; exact: the stack's ExactSolutions. Returns the figure."""
    fig, ax = plt.subplots(figsize=(6.5, 4))
    for b, path in enumerate(paths):
        norms = np.linalg.norm(path.W, axis=(1, 2))
        for target, style in ((nuclear[b].W, "-"), (exact.W_svm[b], "--")):
            gap = 1 - cosine(path.W, target[None])
            ax.loglog(
                norms, np.maximum(gap, 1e-17), ls=style, color=f"C{b}", label=f"dataset {b}" if style == "-" else None
            )
    ax.set(xlabel="||W_mu||", ylabel="1 - cos", title="(K, Q) path: to W^nuc (solid), to W^svm (dashed)")
    ax.legend(fontsize=8)
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


def draw_scc_sizes(sources: dict, stats: dict, vocab_size: int, large: tuple | None = None):
    """Histograms of the largest SCC's share of each graph (corpus and sample scales) and of the sizes of every
    cyclic SCC of the sample, for real, random and shuffled windows (``next_token.realtext_graphs.graph_sources`` and
    their ``graph_statistics``); ``large``: (K, statistics) of every window at a large vocabulary, drawn in the corpus
    panel. Returns the figure."""
    names = ("real", "random", "shuffled")
    fig, axes = plt.subplots(1, 3, figsize=(15, 4))
    for ax, scale in zip(axes, ("corpus", "sample")):
        for name in names:
            sizes = stats[name, scale]["largest_scc"] / np.maximum(stats[name, scale]["active_tokens"], 1)
            ax.hist(sizes, bins=np.linspace(0, 1, 21), histtype="step", lw=1.6, label=name)
        if large is not None and scale == "corpus":
            shares = large[1]["largest_scc"] / np.maximum(large[1]["active_tokens"], 1)
            ax.hist(shares, bins=np.linspace(0, 1, 21), histtype="step", lw=1.6, ls=":", label=f"real, top {large[0]}")
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


def draw_random_embeddings(masses: dict):
    """The attention mass on C_i of the training windows after the run, one histogram per embedding (``masses``:
    name -> (n,) masses): what linearly dependent embeddings lose. Returns the figure."""
    fig, ax = plt.subplots(figsize=(6.5, 3.6))
    for name, mass in masses.items():
        ax.hist(mass, bins=np.linspace(0, 1, 41), histtype="step", lw=1.6, label=f"{name}: mean {np.mean(mass):.3f}")
    ax.set(
        xlabel="attention mass on C_i", ylabel="training windows", title="NA.independent: one-hot vs random embeddings"
    )
    ax.legend(fontsize=8)
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
    min / mean attention mass on C_i. metrics: next_token.measurements.Metrics (m, 1); predicted: (m,) rate."""
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
