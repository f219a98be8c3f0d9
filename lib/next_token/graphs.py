"""Token-priority graphs (TPGs), their strongly connected components and the priority order.

G^(k), one graph per query token k, has the K tokens as nodes and, for every sample i with query k_i = k,
an edge y_i -> v for every token v != y_i of the sequence tok_i (the query token included). Read u -> v as
"u has priority over v". Repeated samples add nothing: the graph is a set of edges.

SCC ids are numbered along a topological order of the condensation: every edge between two different SCCs goes
from a smaller id to a larger one, so id 0 is a source (highest priority) component.

The graphs read a dataset only through its token ids, labels and sizes (the structural type
:class:`LabelledSequences`), so this module imports nothing of the package: the generator in ``next_token.data``
builds graphs to draw a data class.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np


class LabelledSequences(Protocol):
    """What the graphs read of a dataset (a ``next_token.data.Dataset`` has it): the token ids ``tok`` (n, T) whose
    last column ``query`` (n,) holds the query tokens, the labels ``y`` (n,), and the sizes n, T, K."""

    tok: np.ndarray
    y: np.ndarray
    query: np.ndarray
    n: int
    T: int
    K: int


def tpg_adjacency(ds: LabelledSequences) -> np.ndarray:
    """(K, K, K) bool tensor A with A[k, u, v] = True when G^(k) has the edge u -> v."""
    K, T = ds.K, ds.T
    adj = np.zeros((K, K, K), dtype=bool)
    k = np.broadcast_to(ds.query[:, None], (ds.n, T))
    u = np.broadcast_to(ds.y[:, None], (ds.n, T))
    keep = ds.tok != u  # every other token of the sequence; realizability is checked by Dataset
    adj[k[keep], u[keep], ds.tok[keep]] = True
    return adj


def tarjan_scc(adjacency: np.ndarray) -> np.ndarray:
    """Strongly connected components of a directed graph by Tarjan's algorithm, without recursion.

    Args:
        adjacency: (N, N) bool, adjacency[u, v] = edge u -> v.
    Returns:
        (N,) int64 component ids, numbered along a topological order of the condensation (edges between
        components go from smaller to larger ids).
    """
    adjacency = np.asarray(adjacency, dtype=bool)
    N = adjacency.shape[0]
    successors = [np.flatnonzero(adjacency[u]).tolist() for u in range(N)]
    index = [-1] * N
    low = [0] * N
    on_stack = [False] * N
    stack: list[int] = []
    finished: list[list[int]] = []  # components in the order Tarjan closes them: reverse topological
    counter = 0
    for root in range(N):
        if index[root] != -1:
            continue
        work = [(root, 0)]  # (node, next successor position): the explicit call stack
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack[root] = True
        while work:
            node, pos = work[-1]
            succ = successors[node]
            if pos < len(succ):
                work[-1] = (node, pos + 1)
                nxt = succ[pos]
                if index[nxt] == -1:
                    index[nxt] = low[nxt] = counter
                    counter += 1
                    stack.append(nxt)
                    on_stack[nxt] = True
                    work.append((nxt, 0))
                elif on_stack[nxt]:
                    low[node] = min(low[node], index[nxt])
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack[member] = False
                    component.append(member)
                    if member == node:
                        break
                finished.append(component)
    labels = np.empty(N, dtype=np.int64)
    for order, component in enumerate(reversed(finished)):
        labels[component] = order
    return labels


def condensation(adjacency: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """(c, c) bool adjacency of the condensation DAG: C[a, b] when some edge goes from SCC a to SCC b != a."""
    c = int(labels.max()) + 1
    cond = np.zeros((c, c), dtype=bool)
    u, v = np.nonzero(adjacency)
    cond[labels[u], labels[v]] = True
    np.fill_diagonal(cond, False)
    return cond


def reachability(adjacency: np.ndarray) -> np.ndarray:
    """(N, N) bool transitive-reflexive closure: R[u, v] when v is reachable from u (u reaches itself)."""
    R = np.asarray(adjacency, dtype=bool) | np.eye(adjacency.shape[0], dtype=bool)
    while True:  # repeated squaring doubles the path length covered; at most log2(N) rounds
        nxt = (R.astype(np.int64) @ R.astype(np.int64)) > 0
        if np.array_equal(nxt, R):
            return R
        R = nxt


def transitive_reduction_dag(cond: np.ndarray) -> np.ndarray:
    """Edges of a DAG that are not implied by a path of length >= 2 (the unique transitive reduction)."""
    strict = reachability(cond) & ~np.eye(cond.shape[0], dtype=bool)
    implied = (cond.astype(np.int64) @ strict.astype(np.int64)) > 0
    return cond & ~implied


def priority_levels(cond: np.ndarray) -> np.ndarray:
    """(c,) level of each SCC in the condensation: the length of the longest path reaching it from a source.

    Ids follow a topological order, so one sweep in id order suffices.
    """
    c = cond.shape[0]
    level = np.zeros(c, dtype=np.int64)
    for b in range(c):
        parents = np.flatnonzero(cond[:, b])
        if parents.size:
            level[b] = level[parents].max() + 1
    return level


@dataclass(frozen=True)
class TokenPriorityGraphs:
    """All TPGs of a dataset with their SCCs.

    Attributes:
        adjacency: (K, K, K) bool, adjacency[k, u, v] = edge u -> v in G^(k).
        scc: (K, K) int64, scc[k, u] = id of the SCC of token u in G^(k) (topological numbering per k).
        queries: sorted (q,) int64 array of the query tokens that occur in the dataset.
    """

    adjacency: np.ndarray
    scc: np.ndarray
    queries: np.ndarray

    @property
    def K(self) -> int:  # noqa: N802
        """Number of tokens (nodes of every graph)."""
        return self.adjacency.shape[0]

    def scc_sizes(self, k: int) -> np.ndarray:
        """(c,) size of each SCC of G^(k)."""
        return np.bincount(self.scc[k])

    def components(self, k: int) -> list[list[int]]:
        """The SCCs of G^(k) as token lists, in topological order."""
        return [np.flatnonzero(self.scc[k] == c).tolist() for c in range(int(self.scc[k].max()) + 1)]

    @property
    def is_cyclic(self) -> bool:
        """Whether some TPG of a query that occurs has an SCC with at least two tokens."""
        return any(self.scc_sizes(k).max() >= 2 for k in self.queries)

    def condensation(self, k: int) -> np.ndarray:
        """(c, c) bool condensation DAG of G^(k)."""
        return condensation(self.adjacency[k], self.scc[k])

    def priority_levels(self, k: int) -> np.ndarray:
        """(K,) priority level of each token in G^(k): 0 for source SCCs, larger means lower priority."""
        return priority_levels(self.condensation(k))[self.scc[k]]

    def reaches(self, k: int) -> np.ndarray:
        """(K, K) bool reachability in G^(k)."""
        return reachability(self.adjacency[k])

    def edges(self) -> np.ndarray:
        """(m, 3) int64 rows (k, u, v) of every edge of every TPG."""
        return np.argwhere(self.adjacency)

    def edge_kinds(self) -> tuple[np.ndarray, np.ndarray]:
        """Edges split into cross-SCC edges (u => v) and within-SCC edges (u and v in one SCC), each (m, 3)."""
        e = self.edges()
        same = self.scc[e[:, 0], e[:, 1]] == self.scc[e[:, 0], e[:, 2]]
        return e[~same], e[same]


def token_priority_graphs(ds: LabelledSequences) -> TokenPriorityGraphs:
    """Build every G^(k) of the dataset and its SCCs (iterative Tarjan)."""
    adj = tpg_adjacency(ds)
    K = ds.K
    scc = np.tile(np.arange(K, dtype=np.int64), (K, 1))  # graphs without edges: singletons
    queries = np.unique(ds.query)
    for k in queries:
        if adj[k].any():
            scc[k] = tarjan_scc(adj[k])
    return TokenPriorityGraphs(adjacency=adj, scc=scc, queries=queries)


def retrieved_mask(ds: LabelledSequences, graphs: TokenPriorityGraphs) -> np.ndarray:
    """(n, T) bool: position t of sample i is in C_i, i.e. holds a token of the SCC of y_i in G^(k_i)."""
    scc_rows = graphs.scc[ds.query]  # (n, K)
    label_scc = scc_rows[np.arange(ds.n), ds.y]
    return np.take_along_axis(scc_rows, ds.tok, axis=1) == label_scc[:, None]


def label_reaches_sequence(ds: LabelledSequences, graphs: TokenPriorityGraphs) -> np.ndarray:
    """(n,) bool, claim N1 per sample: every token of tok_i is reachable from y_i in G^(k_i)."""
    ok = np.ones(ds.n, dtype=bool)
    for k in graphs.queries:
        rows = np.flatnonzero(ds.query == k)
        R = graphs.reaches(k)
        ok[rows] = np.all(R[ds.y[rows][:, None], ds.tok[rows]], axis=1)
    return ok


def top_scc_is_label_scc(ds: LabelledSequences, graphs: TokenPriorityGraphs) -> np.ndarray:
    """(n,) bool: SCC(y_i) is the only maximal SCC (reached by no other) among the SCCs present in tok_i."""
    ok = np.ones(ds.n, dtype=bool)
    for k in graphs.queries:
        comp = graphs.scc[k]
        cond_reach = reachability(graphs.condensation(k))  # (c, c) over SCC ids
        for i in np.flatnonzero(ds.query == k):
            present = np.unique(comp[ds.tok[i]])
            sub = cond_reach[np.ix_(present, present)] & ~np.eye(present.size, dtype=bool)
            maximal = present[~sub.any(axis=0)]
            ok[i] = maximal.size == 1 and maximal[0] == comp[ds.y[i]]
    return ok
