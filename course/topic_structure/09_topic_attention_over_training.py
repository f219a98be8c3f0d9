"""Hidden cases of topic_structure/09_topic_attention_over_training (the instructor's course file; never handed out)."""

import numpy as np

from theory_collection.course.checks import Call, array, close


def ratios_reference(attention, tokens, visible, queries, v):
    """Query by query, key by key."""
    sums = {kind: [0.0, 0.0] for kind in ("copy", "mate", "other")}
    B, N = tokens.shape
    for b in range(B):
        keys = [k for k in range(N) if visible[b, k]]
        for q in range(N):
            if not queries[b, q]:
                continue
            for k in keys:
                if k == q:
                    continue
                if tokens[b, k] == tokens[b, q]:
                    kind = "copy"
                elif tokens[b, k] // v == tokens[b, q] // v:
                    kind = "mate"
                else:
                    kind = "other"
                sums[kind][0] += attention[b, q, k]
                sums[kind][1] += 1.0 / len(keys)
    relative = {kind: a / u for kind, (a, u) in sums.items()}
    return [relative["mate"] / relative["other"], relative["copy"] / relative["other"]]


def paper_reference(attention, tokens, v):
    """Pair by pair."""
    values = {"word": [], "topic": [], "other": []}
    B, N = tokens.shape
    for b in range(B):
        for i in range(N):
            for j in range(N):
                if tokens[b, i] == tokens[b, j]:
                    values["word"].append(attention[b, i, j])
                elif tokens[b, i] // v == tokens[b, j] // v:
                    values["topic"].append(attention[b, i, j])
                else:
                    values["other"].append(attention[b, i, j])
    return [float(np.mean(values[k])) for k in ("word", "topic", "other")]


def documents(rng, B, N, T, v, topics_per_doc):
    """B documents of N words, each from topics_per_doc random topics."""
    tokens = np.empty((B, N), dtype=np.int64)
    for b in range(B):
        chosen = rng.choice(T, topics_per_doc, replace=False)
        tokens[b] = chosen[rng.integers(0, topics_per_doc, N)] * v + rng.integers(0, v, N)
    return tokens


def ratios_case(seed, B, N, T, v, mask_prob, sharpness):
    """Masked documents and attention that favours copies, zero on the keys that are not visible."""
    rng = np.random.default_rng(seed)
    tokens = documents(rng, B, N, T, v, 2)
    queries = rng.random((B, N)) < mask_prob
    queries[:, 0] = True
    visible = ~queries
    scores = sharpness * rng.standard_normal((B, N, N)) + np.where(tokens[:, :, None] == tokens[:, None, :], 1.0, 0.0)
    scores = np.where(visible[:, None, :], scores, -np.inf)
    attention = np.exp(scores - scores.max(-1, keepdims=True))
    attention /= attention.sum(-1, keepdims=True)
    return (array(attention), array(tokens, "int64"), array(visible, "bool"), array(queries, "bool"), v)


def paper_case(seed, B, N, T, v):
    """Whole documents and random attention rows."""
    rng = np.random.default_rng(seed)
    tokens = documents(rng, B, N, T, v, 3)
    attention = rng.dirichlet(np.ones(N), (B, N))
    return (array(attention), array(tokens, "int64"), v)


CHECKS = [
    Call(
        "topic_and_copy_ratios",
        cases=[
            ratios_case(1, 3, 20, 4, 3, 0.3, 1.0),
            ratios_case(2, 2, 30, 5, 2, 0.2, 2.0),
            ratios_case(3, 4, 12, 3, 4, 0.5, 0.3),
        ],
        reference=ratios_reference,
        compare=close(rel=1e-10),
        time_limit=30,
    ),
    Call(
        "paper_metric",
        cases=[paper_case(4, 2, 15, 4, 3), paper_case(5, 3, 25, 6, 2), paper_case(6, 1, 10, 3, 3)],
        reference=paper_reference,
        compare=close(rel=1e-10),
        time_limit=30,
    ),
]
