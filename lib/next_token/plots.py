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
