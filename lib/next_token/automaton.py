"""N8: the trained layer as an automaton on new contexts, and sampling next tokens from it.

For a new sequence with last token k built from the nodes of G^(k), let C_top be its unique maximal SCC present
(every other SCC present is reachable from it in G^(k)). The theory predicts:
  - the W^svm scores x_u^T W^svm x_k of C_top's tokens exceed those of every other token of the sequence by >= 1
    (sum the margin constraints along a path), and are equal inside C_top (equality constraints);
  - the limiting attention is the softmax over C_top's positions of the W^fin scores (the residual rho of N9 is
    orthogonal to S_fin, so it shifts all of C_top's scores by the same amount).
Contexts with several maximal SCCs have no graph-determined limit and are left out.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from next_token.data import Dataset
from next_token.graphs import TokenPriorityGraphs, token_priority_graphs


@dataclass
class NewContexts:
    """Random new contexts of one dataset.

    Attributes:
        tok: (N, T) token ids, the last one the query.
        top: (N, T) bool, positions holding a token of the unique maximal SCC C_top.
        unique: (N,) bool, whether the context has a unique maximal SCC (only those are used).
    """

    tok: np.ndarray
    top: np.ndarray
    unique: np.ndarray


def new_contexts(
    ds: Dataset, graphs: TokenPriorityGraphs, count: int, seed: int = 0, repeats: bool = False
) -> NewContexts:
    """Draw `count` sequences of the dataset's length: a query among those of the dataset, then T - 1 other tokens
    (distinct and different from the query unless repeats), uniformly."""
    rng = np.random.default_rng(seed)
    K, T = ds.K, ds.T
    reach = {int(k): graphs.reaches(int(k)) for k in graphs.queries}
    tok = np.empty((count, T), dtype=np.int64)
    top = np.zeros((count, T), dtype=bool)
    unique = np.zeros(count, dtype=bool)
    for j in range(count):
        k = int(rng.choice(graphs.queries))
        if repeats or T > K:
            others = rng.integers(0, K, size=T - 1)
        else:
            others = rng.permutation(np.setdiff1d(np.arange(K), [k]))[: T - 1]
        tok[j] = np.concatenate([others, [k]])
        scc, R = graphs.scc[k], reach[k]
        present = np.unique(scc[tok[j]])
        members = {c: int(np.flatnonzero(scc == c)[0]) for c in present}
        maximal = [c for c in present if not any(R[members[o], members[c]] for o in present if o != c)]
        if len(maximal) == 1:
            unique[j] = True
            top[j] = scc[tok[j]] == maximal[0]
    return NewContexts(tok, top, unique)


def context_scores(E: np.ndarray, W: np.ndarray, tok: np.ndarray) -> np.ndarray:
    """(N, T) scores x_{tok_t}^T W x_{tok_T} of each context (query = last token)."""
    table = E @ W @ E.T
    return table[tok, tok[:, -1:]]


def score_gap(E: np.ndarray, W_svm: np.ndarray, contexts: NewContexts) -> tuple[np.ndarray, np.ndarray]:
    """Per used context: min C_top score minus max other score (inf when C_top fills the context), and the spread
    (max - min) of the scores inside C_top."""
    a = context_scores(E, W_svm, contexts.tok[contexts.unique])
    top = contexts.top[contexts.unique]
    inside_min = np.where(top, a, np.inf).min(1)
    inside_max = np.where(top, a, -np.inf).max(1)
    outside_max = np.where(top, -np.inf, a).max(1)
    return inside_min - outside_max, inside_max - inside_min


def attention(E: np.ndarray, W: np.ndarray, tok: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
    """(N, T) softmax of the context scores (over `mask` only, when given)."""
    a = context_scores(E, W, tok)
    if mask is not None:
        a = np.where(mask, a, -np.inf)
    e = np.exp(a - a.max(1, keepdims=True))
    return e / e.sum(1, keepdims=True)


def automaton_prediction(E: np.ndarray, W_fin: np.ndarray, contexts: NewContexts) -> np.ndarray:
    """(N_used, T) the predicted limiting attention: softmax over C_top of the W^fin scores, 0 elsewhere."""
    return attention(E, W_fin, contexts.tok[contexts.unique], contexts.top[contexts.unique])


def next_token_distribution(attn: np.ndarray, tok: np.ndarray, K: int) -> np.ndarray:
    """(N, K) p(v) = attention mass on the positions holding v (the aligned head)."""
    p = np.zeros((tok.shape[0], K))
    np.add.at(p, (np.repeat(np.arange(tok.shape[0]), tok.shape[1]), tok.ravel()), attn.ravel())
    return p


def sample_tokens(p: np.ndarray, draws: int, rng: np.random.Generator) -> np.ndarray:
    """(N, K) counts of `draws` next tokens sampled from each row of p (N, K)."""
    return np.stack([rng.multinomial(draws, row / row.sum()) for row in p])


def sampling_tv_null(p: np.ndarray, draws: int, replications: int, rng: np.random.Generator) -> np.ndarray:
    """(replications,) the mean over contexts of TV(empirical, p) when the tokens really are drawn from p."""
    out = np.empty(replications)
    for r in range(replications):
        counts = sample_tokens(p, draws, rng)
        out[r] = 0.5 * np.abs(counts / draws - p).sum(1).mean()
    return out


def new_context_study(
    datasets: list,
    exact,
    W_trained: np.ndarray,
    svm_coef: np.ndarray,
    new_contexts_per_dataset: int,
    sample_draws: int,
    seed: int,
    repeats: bool,
) -> dict:
    """N8 on new contexts for every dataset: the W^svm score gaps and spreads, the TV between the trained layer's
    attention (and the superposition at the run's reached coefficient) and the automaton, and next tokens sampled
    from the layer against the automaton's distribution with a Monte Carlo null.

    Args:
        datasets: the B datasets.   exact: stacked.ExactSolutions of their stack.
        W_trained: (B, d, d) the trained layers.   svm_coef: (B,) <W, W_hat> at the end of the run.
        new_contexts_per_dataset, sample_draws: contexts drawn per dataset; draws per context.
        seed: dataset b draws its contexts with seed + b; the sampling generator is seeded with seed.
        repeats: whether new contexts may repeat tokens.
    Returns:
        dict with gaps (contexts with a token outside C_top), spreads, tv_trained, tv_ray, top_tokens (distinct tokens
        of C_top) (one entry per used context, concatenated; empty when no context has a unique top SCC), used_counts
        (per dataset), sampled_tv, null (200 replications), layer_tv (nan without a used context), examples (b, tok,
        trained, predicted)[:3].
    """
    rng = np.random.default_rng(seed)
    gaps, spreads, tv_trained, tv_ray, top_tokens, used_counts = [], [], [], [], [], []
    p_layer, p_auto, examples = [np.zeros((0, datasets[0].K))], [np.zeros((0, datasets[0].K))], []
    for b, ds in enumerate(datasets):
        graphs = token_priority_graphs(ds)
        contexts = new_contexts(ds, graphs, new_contexts_per_dataset, seed=seed + b, repeats=repeats)
        used_counts.append(int(contexts.unique.sum()))
        if not contexts.unique.any():
            continue
        gap, spread = score_gap(ds.E, exact.W_svm[b], contexts)
        gaps.append(gap[np.isfinite(gap)])
        spreads.append(spread)
        tok = contexts.tok[contexts.unique]
        top_tokens.append([np.unique(row[mask]).size for row, mask in zip(tok, contexts.top[contexts.unique])])
        predicted = automaton_prediction(ds.E, exact.W_fin[b], contexts)
        trained = attention(ds.E, W_trained[b], tok)
        ray = attention(ds.E, svm_coef[b] * exact.direction[b] + exact.W_fin[b], tok)
        tv_trained.append(0.5 * np.abs(trained - predicted).sum(1))
        tv_ray.append(0.5 * np.abs(ray - predicted).sum(1))
        p_layer.append(next_token_distribution(trained, tok, ds.K))
        p_auto.append(next_token_distribution(predicted, tok, ds.K))
        examples.append((b, tok[:3], trained[:3], predicted[:3]))
    p_layer, p_auto = np.concatenate(p_layer), np.concatenate(p_auto)
    counts = sample_tokens(p_layer, sample_draws, rng) if len(p_layer) else np.zeros((0, p_layer.shape[1]))
    return dict(
        gaps=_joined(gaps),
        spreads=_joined(spreads),
        tv_trained=_joined(tv_trained),
        tv_ray=_joined(tv_ray),
        top_tokens=_joined(top_tokens).astype(np.int64),
        used_counts=used_counts,
        sampled_tv=float((0.5 * np.abs(counts / sample_draws - p_auto).sum(1)).mean()) if len(p_layer) else np.nan,
        # the sampling error of the layer's own draws
        null=sampling_tv_null(p_layer, sample_draws, 200, rng) if len(p_layer) else np.zeros(0),
        layer_tv=float((0.5 * np.abs(p_layer - p_auto).sum(1)).mean()) if len(p_layer) else np.nan,
        examples=examples,
    )


def _joined(parts: list) -> np.ndarray:
    """The per-dataset arrays end to end (empty when no dataset gave any)."""
    return np.concatenate([np.zeros(0), *(np.asarray(part, dtype=float) for part in parts)])
