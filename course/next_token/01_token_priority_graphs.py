"""Hidden cases of next_token/01_token_priority_graphs (the instructor's course file; never handed out)."""

import mpmath
import networkx as nx
import numpy as np

from theory_collection.course.checks import Call, array, close, equal


def edges_reference(tokens, labels, query):
    """Edges from the definition, sample by sample and position by position."""
    found = []
    for i in range(len(labels)):
        if tokens[i][-1] != query:
            continue
        for t in range(len(tokens[i])):
            edge = [int(labels[i]), int(tokens[i][t])]
            if edge[0] != edge[1] and edge not in found:
                found.append(edge)
    return sorted(found)


def sccs_reference(num_tokens, edges):
    """networkx's components and the edges, for a comparison that accepts every valid priority order."""
    graph = nx.DiGraph()
    graph.add_nodes_from(range(num_tokens))
    graph.add_edges_from(map(tuple, edges))
    components = sorted(sorted(c) for c in nx.strongly_connected_components(graph))
    return {"components": components, "edges": [list(e) for e in edges]}


def same_components_in_priority_order(expected, got):
    """The partition must match; every edge between two components must go forward in the answer's order."""
    if not isinstance(got, list) or not all(isinstance(c, list) for c in got):
        return "the answer is not a list of lists of tokens"
    if sorted(sorted(c) for c in got) != expected["components"]:
        return "the components differ from the strongly connected components"
    if any(c != sorted(c) for c in got):
        return "a component is not sorted"
    place = {token: index for index, component in enumerate(got) for token in component}
    backward = [e for e in expected["edges"] if place[e[0]] > place[e[1]]]
    if backward:
        return f"{len(backward)} edge(s) go from a later component to an earlier one"
    return None


def curvature_reference(scores, direction, label_positions):
    """A central second difference of the loss in 60-digit arithmetic."""
    mpmath.mp.dps = 60
    a = [mpmath.mpf(float(x)) for x in scores]
    d = [mpmath.mpf(float(x)) for x in direction]

    def loss(e):
        shifted = [x + e * y for x, y in zip(a, d)]
        all_ = mpmath.log(mpmath.fsum(mpmath.exp(x) for x in shifted))
        return all_ - mpmath.log(mpmath.fsum(mpmath.exp(shifted[t]) for t in label_positions))

    h = mpmath.mpf("1e-15")
    return float((loss(h) - 2 * loss(0) + loss(-h)) / h**2)


def graph_case(seed, K, m):
    """K tokens and m random edges."""
    rng = np.random.default_rng(seed)
    edges = {(int(u), int(v)) for u, v in rng.integers(0, K, (m, 2)) if u != v}
    return (K, [list(e) for e in sorted(edges)])


def dataset_case(seed, n, T, K, query):
    """A random dataset whose labels appear in their sequences."""
    rng = np.random.default_rng(seed)
    tokens = rng.integers(0, K, (n, T))
    tokens[: n // 2, -1] = query
    labels = tokens[np.arange(n), rng.integers(0, T, n)]
    return (array(tokens, "int64"), array(labels, "int64"), query)


def curvature_case(seed, T, labels):
    """Random scores and direction."""
    rng = np.random.default_rng(seed)
    return (array(2 * rng.standard_normal(T)), array(rng.standard_normal(T)), labels)


CHECKS = [
    Call(
        "tpg_edges",
        cases=[dataset_case(1, 8, 4, 6, 2), dataset_case(2, 15, 5, 8, 0), dataset_case(3, 6, 3, 4, 3)],
        reference=edges_reference,
        compare=equal(),
        time_limit=20,
    ),
    Call(
        "priority_sccs",
        cases=[graph_case(4, 6, 9), graph_case(5, 10, 25), graph_case(6, 8, 6), (5, []), graph_case(7, 12, 40)],
        labels=["a sparse graph", "a dense graph", "a nearly acyclic graph", "no edges", "a larger graph"],
        reference=sccs_reference,
        compare=same_components_in_priority_order,
        time_limit=30,
    ),
    Call(
        "sample_loss_curvature",
        cases=[curvature_case(8, 5, [0, 3]), curvature_case(9, 7, [6]), curvature_case(10, 4, [0, 1, 2])],
        reference=curvature_reference,
        compare=close(rel=1e-9, abs=1e-12),
        time_limit=20,
    ),
]
