"""Notebook 07's attention sums over many topic labelings, folded onto token pairs: the same numbers as
:func:`text_models.model_topic_attention_by_position` and :func:`text_models.pretrained_topic_attention_by_position`
without (P, B, N, N) weight arrays.

Both sum, per document and labeling p, ``sum_{q, k} a[q, k] w_X(q, k)`` with ``w_X(q, k) = 1 / |K_X(q)|`` on the
keys of kind X of query q (:func:`measurements.topic_pair_weights`): same topic (same label, another token) or
different topic. A position's label is a function of its token, so the kinds, and ``|K_X(q)|``, depend on the
query's and key's tokens only: with ``c(t)`` a token's analysed positions in the document and
``F[t, u] = sum over q showing t, k showing u, k != q of a[q, k]`` the attention folded onto token pairs,

    sum_{q, k} a[q, k] w_X(q, k) = sum_{t, u in X(t)} F[t, u] / n_X(t),   n_X(t) = sum_{u in X(t)} c(u),

a sum over the document's distinct analysed tokens, which are few, for every labeling at once. For the one-layer
model the attention itself depends on the tokens only (``F[t, u] = c(t) c(u) A[t, u]`` with
:meth:`model.TopicTransformer.token_attention`), so no position-level array is formed at all; for the pretrained
encoder F is formed once per document and head, then shared by the labelings. Uniform attention over the visible
positions gives ``sum_{t: n_X(t) > 0} c(t) / (visible positions)``.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from topic_structure.data import Documents
from topic_structure.measurements import topic_pair_weights
from topic_structure.model import TopicTransformer

KINDS = ("same_topic", "diff_topic")


def _pair_sums(
    labels: torch.Tensor, tokens: torch.Tensor, counts: torch.Tensor, folded: torch.Tensor, visible: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """One document: ``(attention sums (P, 2, *heads), uniform sums (P, 2))`` of :data:`KINDS`.

    labels: (P, U) label of each distinct token under each labeling (-1: not analysed); tokens: (U,) ids;
    counts: (U,) float64 c(t); folded: (U, U, *heads) float64 F[t, u] (zero on t = u: identical tokens are
    another kind); visible: the document's visible positions (uniform attention's denominator).
    """
    analysed = labels >= 0  # (P, U)
    pair = analysed[:, :, None] & analysed[:, None, :] & (tokens[:, None] != tokens[None, :])  # (P, U, U)
    same = pair & (labels[:, :, None] == labels[:, None, :])
    attention, uniform = [], []
    for mask in (same, pair & ~same):
        mask = mask.double()
        keys = mask @ counts  # (P, U) n_X(t)
        weight = mask / keys.clamp(min=1)[:, :, None]  # (P, U, U) 1 / n_X(t) on the keys of kind X
        attention.append(torch.tensordot(weight, folded, dims=([1, 2], [0, 1])))  # (P, *heads)
        uniform.append(((keys > 0).double() @ counts) / visible)  # (P,)
    return torch.stack(attention, 1), torch.stack(uniform, 1)


def _score_exponentials(net: TopicTransformer) -> torch.Tensor | None:
    """(vocab, vocab) ``exp(s[t, u] - max_u s[t, u])`` of the model's float64 score table [query, key], as
    :meth:`model.TopicTransformer.token_attention` forms it; None for uniform attention."""
    if net.config.attention == "uniform":
        return None
    keys, queries, _ = net._token_tables()  # the tables token_attention reads, for the same numbers
    table = ((queries @ keys.T) / math.sqrt(net.config.width)).double()
    return torch.exp(table - table.max(1, keepdim=True).values)


@torch.no_grad()
def model_topic_attention(
    net: TopicTransformer, docs: Documents, lookup: torch.Tensor
) -> dict[str, dict[str, torch.Tensor]]:
    """:func:`text_models.model_topic_attention_by_position`: ``{"attention" | "uniform": {kind: (P, D)}}`` for
    the kinds ``same_topic``, ``diff_topic``, from the model's (vocab, vocab) token attention per document.

    lookup: (P, vocabulary size) token id -> topic label (row 0 real, -1: none). Every word position is a query
    and a visible key (whole documents, nothing masked), as there.
    """
    visible = docs.is_word()
    exponentials = _score_exponentials(net)  # (vocab, vocab) float64, or None for uniform attention
    sums = {
        part: {kind: torch.zeros(lookup.shape[0], len(docs), dtype=torch.float64) for kind in KINDS}
        for part in ("attention", "uniform")
    }
    for d in range(len(docs)):
        tokens, counts = torch.unique(docs.tokens[d, : int(docs.lengths[d])], return_counts=True)
        counts = counts.double()
        if exponentials is None:  # uniform attention: one visible key weighs 1 / (visible positions)
            attention = torch.full((len(tokens), len(tokens)), 1 / float(counts.sum()), dtype=torch.float64)
        else:  # net.token_attention's rows for the document's tokens
            rows = exponentials[tokens[:, None], tokens[None, :]]  # (U, U)
            attention = rows / (rows @ counts)[:, None]
        folded = counts[:, None] * counts[None, :] * attention  # the position pairs of (t, u), t != u
        on_kind, on_uniform = _pair_sums(lookup[:, tokens], tokens, counts, folded, float(visible[d].sum()))
        for i, kind in enumerate(KINDS):
            sums["attention"][kind][:, d] = on_kind[:, i]
            sums["uniform"][kind][:, d] = on_uniform[:, i]
    return sums


@torch.no_grad()
def pretrained_topic_attention(
    tokenizer, model, texts, lookup: torch.Tensor, max_tokens: int, batch_size: int = 16
) -> dict:
    """:func:`text_models.pretrained_topic_attention_by_position`, with the labelings' sums folded onto token pairs.

    Same arguments and returns: ``attention`` {kind: (P, D, L, H)}, ``uniform`` {kind: (P, D)}, ``positional``
    {kind: (D, L, H)}, ``lengths`` (D,), ``mean_distance`` {kind: float}. The distance profile and the positional
    reference use the real labeling's position-level weights, as there.
    """
    config = model.config
    L, H, G = config.num_hidden_layers, config.num_attention_heads, max_tokens
    P, D = lookup.shape[0], len(texts)
    order = np.argsort([len(t) for t in texts], kind="stable")  # similar lengths per batch: less padding
    sums = {kind: torch.zeros(P, D, L, H, dtype=torch.float64) for kind in KINDS}
    uniform = {kind: torch.zeros(P, D, dtype=torch.float64) for kind in KINDS}
    gaps = {kind: torch.zeros(D, G, dtype=torch.float64) for kind in KINDS}
    lengths = torch.zeros(D, dtype=torch.long)
    profile_sum, profile_count = torch.zeros(L, H, G, dtype=torch.float64), torch.zeros(G, dtype=torch.float64)
    for start in range(0, D, batch_size):
        chosen = order[start : start + batch_size]
        batch = tokenizer(
            [texts[i] for i in chosen], return_tensors="pt", padding=True, truncation=True, max_length=max_tokens
        )
        attention = torch.stack(model(**batch, output_attentions=True).attentions, dim=1)  # (B, L, H, N, N)
        ids, visible = batch["input_ids"], batch["attention_mask"].bool()
        word_index = torch.tensor([[-1 if w is None else w for w in batch.word_ids(b)] for b in range(len(ids))])
        pieces = torch.stack(
            [torch.bincount(row[row >= 0], minlength=ids.shape[1])[row.clamp(min=0)] for row in word_index]
        )
        single = (word_index >= 0) & (pieces == 1)
        analysed = single & (lookup[:, ids] >= 0).any(0)  # (B, N) labelled under some labeling
        for b, doc in enumerate(chosen):
            positions = analysed[b].nonzero().squeeze(1)
            tokens, which, counts = torch.unique(ids[b, positions], return_inverse=True, return_counts=True)
            grouping = torch.zeros(len(positions), len(tokens), dtype=torch.float64)
            grouping[torch.arange(len(positions)), which] = 1.0  # (n, U) position -> its token
            between = attention[b][:, :, positions[:, None], positions[None, :]].double()  # (L, H, n, n)
            folded = (grouping.T @ between @ grouping).permute(2, 3, 0, 1)  # (U, U, L, H)
            on_kind, on_uniform = _pair_sums(
                lookup[:, tokens], tokens, counts.double(), folded, float(visible[b].sum())
            )
            for i, kind in enumerate(KINDS):
                sums[kind][:, doc] = on_kind[:, i]
                uniform[kind][:, doc] = on_uniform[:, i]
        lengths[chosen] = visible.sum(1)
        # the distance profile and the positional reference, from the real labeling's position-level weights
        labelled = torch.where(single, lookup[0][ids], -1)  # (B, N)
        real = topic_pair_weights(labelled[None], ids, visible)
        offsets = torch.arange(ids.shape[1])
        gap = (offsets[None, :] - offsets[:, None]).abs().reshape(-1)  # (N*N,) distance of each position pair
        both = (labelled >= 0)[:, :, None] & (labelled >= 0)[:, None, :]
        counted = both.reshape(len(ids), -1) & (gap > 0)  # (B, N*N) analysed pairs at a distance
        on_pairs = (attention.reshape(*attention.shape[:3], -1) * counted[:, None, None]).sum(0)
        profile_sum.index_add_(2, gap, on_pairs.double())
        profile_count.index_add_(0, gap, counted.sum(0).double())
        for kind in KINDS:
            weights = real[kind][0].flatten(1)  # (B, N*N)
            gaps[kind][chosen] = torch.zeros(len(ids), G, dtype=torch.float64).index_add_(1, gap, weights)
    profile = profile_sum / profile_count.clamp(min=1)  # (L, H, G) mean attention at each distance
    return {
        "attention": sums,
        "uniform": uniform,
        "lengths": lengths,
        "positional": {k: torch.einsum("dg,lhg->dlh", g, profile) for k, g in gaps.items()},
        "mean_distance": {k: float((g * torch.arange(G)).sum() / g.sum()) for k, g in gaps.items()},
    }
