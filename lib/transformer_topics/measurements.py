"""Block averages of word x word matrices and topic statistics of attention.

A structured matrix over content words is summarised by three averages (notebooks/topic_structure/THEORY.md §3): the
diagonal, same topic off the diagonal, and different topic. ``block_matrix`` is the inverse: the
matrix ``a I + b (B - I) + c (J - B)`` in the span of ``I``, ``B`` (same-topic indicator) and ``J``.
"""

from __future__ import annotations

import torch

from .data import Vocabulary

BLOCKS = ("diagonal", "same_topic", "diff_topic")


def block_masks(vocab: Vocabulary) -> dict[str, torch.Tensor]:
    """(V, V) bool masks of the three blocks."""
    same = vocab.same_topic()
    diagonal = torch.eye(vocab.num_words, dtype=torch.bool)
    return {"diagonal": diagonal, "same_topic": same & ~diagonal, "diff_topic": ~same}


def block_averages(matrix: torch.Tensor, vocab: Vocabulary) -> dict[str, float]:
    """Average of the diagonal, same-topic and different-topic entries of ``matrix[:V, :V]``.

    A block with no entries (one word per topic, or a single topic) averages to NaN.
    """
    V = vocab.num_words
    if matrix.shape[0] < V or matrix.shape[1] < V:
        raise ValueError(f"matrix must be at least ({V}, {V}) for this vocabulary, got {tuple(matrix.shape)}")
    content = matrix.detach()[:V, :V].double()
    return {name: float(content[mask].mean()) if mask.any() else float("nan") for name, mask in block_masks(vocab).items()}


def block_matrix(vocab: Vocabulary, diagonal: float, same_topic: float, diff_topic: float) -> torch.Tensor:
    """(V, V) float64 matrix with the given block values."""
    masks = block_masks(vocab)
    out = torch.zeros(vocab.num_words, vocab.num_words, dtype=torch.float64)
    for name, value in zip(BLOCKS, (diagonal, same_topic, diff_topic)):
        out[masks[name]] = float(value)
    return out


def attention_by_topic(
    attention: torch.Tensor,
    inputs: torch.Tensor,
    key_visible: torch.Tensor,
    vocab: Vocabulary,
) -> dict[str, float]:
    """Topic statistics of (B, N, N) [query, key] attention, over queries that show a content word.

    Returns the average attention weight of a (query, key) pair with ``i != j`` among
    ``identical`` tokens, ``same_topic`` (different tokens of one topic) and ``diff_topic`` pairs;
    and per query, the attention mass on visible keys of its own topic (identical tokens and the
    query's own position included, when visible) ``same_topic_mass``, next to the share of such
    keys among its visible keys, ``uniform_same_topic_mass`` (what uniform attention gives).
    """
    B, N = inputs.shape
    if key_visible.shape != inputs.shape or attention.shape != (B, N, N):
        raise ValueError(f"attention must be (B, N, N) = ({B}, {N}, {N}) and key_visible (B, N) like inputs; "
                         f"got attention {tuple(attention.shape)}, key_visible {tuple(key_visible.shape)}")
    is_content = inputs < vocab.num_words
    topic = torch.where(is_content, inputs // vocab.words_per_topic, -1)  # (B, N)
    same_topic_key = is_content[:, :, None] & key_visible[:, None, :] & (topic[:, :, None] == topic[:, None, :])
    pair = is_content[:, :, None] & key_visible[:, None, :] & is_content[:, None, :] & ~torch.eye(N, dtype=torch.bool)
    identical = pair & (inputs[:, :, None] == inputs[:, None, :])
    groups = {"identical": identical, "same_topic": pair & same_topic_key & ~identical, "diff_topic": pair & ~same_topic_key}
    stats = {name: float(attention[mask].mean()) if mask.any() else float("nan") for name, mask in groups.items()}
    queries = is_content & key_visible.any(1, keepdim=True)  # (B, N) content queries that see some key
    mass = (attention * same_topic_key).sum(-1)[queries]
    share = same_topic_key.sum(-1)[queries] / key_visible.sum(1, keepdim=True).expand(B, N)[queries]
    stats["same_topic_mass"] = float(mass.mean()) if queries.any() else float("nan")
    stats["uniform_same_topic_mass"] = float(share.float().mean()) if queries.any() else float("nan")
    return stats
