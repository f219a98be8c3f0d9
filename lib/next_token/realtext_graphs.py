"""The token-priority graphs of real windows, built from sparse edge lists, and their statistics.

The edges (k, u, v) of every window are one vectorised expression, and the SCCs of all K graphs come from one call
to scipy's strong components on the block-diagonal graph whose node k K + u is token u in G^(k) (``corpus_tpgs``).
No Python loop runs per window. The baselines: random windows of matched size and the same windows shuffled
(``graph_sources``); the automaton's top SCC of a new window (``top_scc_positions``).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from next_token.data import Dataset, EmbeddingRankWarning
from next_token.graphs import reachability, token_priority_graphs
from next_token.realtext import Windows, random_windows, shuffle_within_windows


@dataclass(frozen=True)
class CorpusGraphs:
    """The K token-priority graphs of a set of windows, with their SCCs.

    Attributes:
        edges: (m, 3) int64 unique rows (k, u, v): edge u -> v of G^(k).
        scc: (K, K) int64 scc[k, u] = component of token u in G^(k), numbered from 0 within each query (tokens
            without an edge in G^(k) are singleton components).
        active: (K, K) bool, token u has an edge in G^(k).
        K: the number of tokens.
    """

    edges: np.ndarray
    scc: np.ndarray
    active: np.ndarray
    K: int  # noqa: N815 - the paper's symbol: the number of tokens

    def component_sizes(self) -> np.ndarray:
        """(K, K) sizes[k, c] = number of tokens in component c of G^(k) (0 for unused ids)."""
        K = self.K
        sizes = np.zeros((K, K), dtype=np.int64)
        np.add.at(sizes, (np.repeat(np.arange(K), K), self.scc.ravel()), 1)
        return sizes

    def token_scc_size(self) -> np.ndarray:
        """(K, K) size of the SCC holding token u in G^(k)."""
        return np.take_along_axis(self.component_sizes(), self.scc, axis=1)

    def dense_adjacency(self) -> np.ndarray:
        """(K, K, K) bool adjacency (for small K only)."""
        adj = np.zeros((self.K,) * 3, dtype=bool)
        adj[self.edges[:, 0], self.edges[:, 1], self.edges[:, 2]] = True
        return adj


def window_edges(tok: np.ndarray, y: np.ndarray) -> np.ndarray:
    """(m, 3) rows (k, u, v), with repeats: for each realizable window, label u = y to every other token v.

    Windows whose label is absent add no edge (the graph's definition uses realizable samples only).
    """
    n, T = tok.shape
    realizable = np.any(tok == y[:, None], axis=1)
    k = np.broadcast_to(tok[:, -1:], (n, T))
    u = np.broadcast_to(y[:, None], (n, T))
    keep = (tok != u) & realizable[:, None]
    return np.stack([k[keep], u[keep], tok[keep]], axis=1).astype(np.int64)


def corpus_tpgs(tok: np.ndarray, y: np.ndarray, vocab_size: int) -> CorpusGraphs:
    """All TPGs of the windows (tok (n, T), y (n,)) and their SCCs, vectorised (see the module docstring)."""
    K = vocab_size
    raw = window_edges(tok, y)
    code = np.unique((raw[:, 0] * K + raw[:, 1]) * K + raw[:, 2])
    edges = np.stack([code // (K * K), (code // K) % K, code % K], axis=1)
    src, dst = edges[:, 0] * K + edges[:, 1], edges[:, 0] * K + edges[:, 2]
    graph = coo_matrix((np.ones(src.size, dtype=np.int8), (src, dst)), shape=(K * K, K * K)).tocsr()
    _, labels = connected_components(graph, directed=True, connection="strong")
    labels = labels.reshape(K, K)
    # renumber within each query: 0, 1, ... in order of first token
    scc = np.empty((K, K), dtype=np.int64)
    for_query = np.argsort(labels, axis=1, kind="stable")
    sorted_labels = np.take_along_axis(labels, for_query, axis=1)
    new = np.concatenate([np.ones((K, 1), dtype=bool), sorted_labels[:, 1:] != sorted_labels[:, :-1]], axis=1)
    np.put_along_axis(scc, for_query, np.cumsum(new, axis=1) - 1, axis=1)
    active = np.zeros((K, K), dtype=bool)
    active[edges[:, 0], edges[:, 1]] = True
    active[edges[:, 0], edges[:, 2]] = True
    return CorpusGraphs(edges, scc, active, K)


def priority_depth(graphs: CorpusGraphs) -> np.ndarray:
    """(K,) depth of the priority order of each G^(k): the number of SCCs on the longest path of its condensation
    (1 for a graph that is one SCC, 0 for a graph without edges). Vectorised over all queries: longest-path levels
    relaxed along all condensation edges at once until they stop changing (at most K rounds)."""
    K = graphs.K
    e = graphs.edges
    a, b = graphs.scc[e[:, 0], e[:, 1]], graphs.scc[e[:, 0], e[:, 2]]
    cross = a != b
    src, dst = e[cross, 0] * K + a[cross], e[cross, 0] * K + b[cross]
    level = np.zeros(K * K, dtype=np.int64)
    for _ in range(K + 1):
        new = level.copy()
        np.maximum.at(new, dst, level[src] + 1)
        if np.array_equal(new, level):
            break
        level = new
    depth = level.reshape(K, K).max(axis=1) + 1
    return np.where(graphs.active.any(axis=1), depth, 0)


def graph_statistics(graphs: CorpusGraphs, windows: Windows) -> dict[str, np.ndarray | float]:
    """Per query word (over the queries whose graph has an edge): active tokens, SCCs among them, the largest SCC,
    the depth of the priority order; the sizes of every SCC of >= 2 tokens; and the share of realizable windows
    whose label sits in an SCC of >= 2 tokens (a cyclic SCC) of its query's graph."""
    sizes = graphs.component_sizes()
    used = graphs.active.any(axis=1)
    # components made of active tokens only (an inactive token is a singleton of its own)
    active_components = np.zeros((graphs.K, graphs.K), dtype=bool)
    rows = np.repeat(np.arange(graphs.K), graphs.K)
    active_components[rows, graphs.scc.ravel()] |= graphs.active.ravel()
    realizable = windows.take(windows.realizable)
    label_size = graphs.token_scc_size()[realizable.tok[:, -1], realizable.y]
    return dict(
        queries=np.flatnonzero(used),
        active_tokens=graphs.active.sum(axis=1)[used],
        num_sccs=active_components.sum(axis=1)[used],
        largest_scc=np.where(active_components, sizes, 0).max(axis=1)[used],
        depth=priority_depth(graphs)[used],
        cyclic_scc_sizes=sizes[active_components & (sizes >= 2)],
        label_in_cyclic=float(np.mean(label_size >= 2)) if label_size.size else float("nan"),
    )


def graph_sources(corpus: Windows, sample: Windows, seq_len: int, vocab_size: int, seed: int, timer=None) -> dict:
    """The priority graphs of real windows and their two baselines at two scales.

    corpus: every realizable training window; sample: the realizable training sample. For each scale, the real
    windows, random windows of matched size (``random_windows``) and the same windows shuffled
    (``shuffle_within_windows``), all seeded with ``seed``. Returns {(name, scale): (Windows, CorpusGraphs)} with
    name in real / random / shuffled and scale in corpus / sample. timer: a StageTimer for the real corpus graphs.
    """
    sources = {}
    if timer is not None:
        with timer("corpus TPGs (real, all training windows)"):
            sources["real", "corpus"] = (corpus, corpus_tpgs(corpus.tok, corpus.y, vocab_size))
    else:
        sources["real", "corpus"] = (corpus, corpus_tpgs(corpus.tok, corpus.y, vocab_size))
    for scale, base in (("corpus", corpus), ("sample", sample)):
        rand = random_windows(base.n, seq_len, vocab_size, seed)
        shuf = shuffle_within_windows(base, seed)
        if scale == "sample":
            sources["real", scale] = (base, corpus_tpgs(base.tok, base.y, vocab_size))
        sources["random", scale] = (rand, corpus_tpgs(rand.tok, rand.y, vocab_size))
        sources["shuffled", scale] = (shuf, corpus_tpgs(shuf.tok, shuf.y, vocab_size))
    return sources


def graph_summary(sources: dict, stats: dict):
    """pandas DataFrame, one row per (name, scale) of ``graph_sources``, of its ``graph_statistics`` means."""
    return pd.DataFrame(
        {
            f"{name}, {scale}": {
                "windows": sources[name, scale][0].n,
                "edges": len(sources[name, scale][1].edges),
                "queries with edges": len(s["queries"]),
                "mean words per graph": s["active_tokens"].mean(),
                "mean SCCs per graph": s["num_sccs"].mean(),
                "mean largest SCC": s["largest_scc"].mean(),
                "mean depth": s["depth"].mean(),
                "max depth": s["depth"].max(),
                "labels in a cyclic SCC": s["label_in_cyclic"],
            }
            for (name, scale), s in stats.items()
        }
    ).T


def largest_scc_share(stats: dict) -> float:
    """Mean over query words of the share of a graph's words in its largest SCC (``graph_statistics`` output)."""
    return float(np.mean(stats["largest_scc"] / np.maximum(stats["active_tokens"], 1)))


def small_graph(windows: Windows, vocab_size: int, seq_len: int, max_windows: int = 40):
    """A small real priority graph to draw: (score, query k, TokenPriorityGraphs, windows used).

    Among the graphs of each query built from its first 1, 2, ..., max_windows windows, with at most max(12, T)
    words, the one with a cyclic SCC and 5 words or more first, then the deepest priority order, then the most
    words. On a tiny vocabulary the preferred shape may not exist: then the best graph there is.
    """
    best = None
    for k in np.unique(windows.tok[:, -1]):
        rows = np.flatnonzero(windows.tok[:, -1] == k)[:max_windows]
        for count in range(1, rows.size + 1):
            sub = windows.take(rows[:count])
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", EmbeddingRankWarning)
                g = token_priority_graphs(Dataset(np.eye(vocab_size), sub.tok, sub.y))
            words = int(np.sum(g.adjacency[k].any(0) | g.adjacency[k].any(1)))
            if words > max(12, seq_len):
                break
            depth = int(g.priority_levels(k).max()) + 1
            score = (words >= 5 and g.scc_sizes(k).max() >= 2, depth, words)
            if best is None or score > best[0]:
                best = (score, k, g, count)
    return best


def reachability_tensor(graphs: CorpusGraphs) -> np.ndarray:
    """(K, K, K) bool R[k, u, v]: v is reachable from u in G^(k) (reflexive). For small K."""
    adj = graphs.dense_adjacency()
    return np.stack([reachability(adj[k]) for k in range(graphs.K)])


def top_scc_positions(reach: np.ndarray, tok: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The highest-priority SCC present in each window, as the automaton retrieves it.

    A token of the window is in its unique maximal SCC exactly when it reaches every token of the window in G^(k)
    (k the query). Returns top (n, T) bool, the positions holding such a token, and unique (n,) bool, whether the
    window has one (otherwise its top is empty and the graph leaves the limit undetermined).
    """
    reach_k = reach[tok[:, -1]]  # (n, K, K)
    n = tok.shape[0]
    pair = reach_k[np.arange(n)[:, None, None], tok[:, :, None], tok[:, None, :]]  # (n, T, T): t reaches t'
    top = pair.all(axis=2)
    return top, top.any(axis=1)
