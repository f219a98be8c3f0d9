"""BERT-style masking (notebooks/topic_structure/THEORY.md §2).

Each real word is *chosen* for prediction with probability ``mask_prob``. A chosen position shows
``[MASK]`` with probability ``1 - keep_prob - random_prob``, keeps its correct word with
probability ``keep_prob`` (p_c), or shows a random content word (uniform over all V words, so
possibly the correct one) with probability ``random_prob`` (p_r). As in the paper's public code,
chosen positions are not attended to: they are removed from the attention keys.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

import numpy as np
import torch

from topic_structure.data import Documents, Seed, as_generator
from topic_structure.params import check_masking_probabilities

IGNORE_LABEL = -100  # torch's cross-entropy ignore_index


class QueryKind(IntEnum):
    """What a position shows to the model."""

    NOT_CHOSEN = 0
    MASK = 1
    KEEP = 2  # chosen, shows its correct word
    RANDOM = 3  # chosen, shows a uniformly random content word


@dataclass(frozen=True)
class MaskingConfig:
    """BERT-style masking: each position is chosen with ``mask_prob``; a chosen one keeps its word
    with ``keep_prob``, shows a random content word with ``random_prob``, else [MASK].
    ``attend_to_chosen=False`` hides chosen positions from the attention keys (the public code's choice).
    """

    mask_prob: float = 0.15
    keep_prob: float = 0.1
    random_prob: float = 0.1
    attend_to_chosen: bool = False

    def __post_init__(self) -> None:
        check_masking_probabilities(self.mask_prob, self.keep_prob, self.random_prob)


@dataclass(frozen=True)
class MaskedBatch:
    """Model inputs and targets for one batch of documents; every tensor is (num_docs, max_len).

    inputs: long, what the model sees.
    labels: long, the original word at chosen positions, ``IGNORE_LABEL`` elsewhere.
    chosen: bool, positions whose original word is predicted.
    key_visible: bool, positions a query may attend to (real words, and not chosen unless
        ``attend_to_chosen``).
    query_kind: uint8 :class:`QueryKind` of each position.
    """

    inputs: torch.Tensor
    labels: torch.Tensor
    chosen: torch.Tensor
    key_visible: torch.Tensor
    query_kind: torch.Tensor

    def __len__(self) -> int:
        return self.inputs.shape[0]

    def __getitem__(self, index) -> MaskedBatch:
        """The documents at ``index`` (an index array, list or slice), with their masking as it was drawn."""
        return MaskedBatch(*(tensor[index] for tensor in vars(self).values()))


def mask_documents(docs: Documents, config: MaskingConfig, seed: Seed) -> MaskedBatch:
    """Choose, corrupt and hide positions of ``docs`` as ``config`` says."""
    rng = as_generator(seed)
    vocab = docs.vocab
    shape = tuple(docs.tokens.shape)
    is_word = docs.is_word().numpy()
    tokens = docs.tokens.numpy()

    chosen = (rng.random(shape) < config.mask_prob) & is_word
    # One uniform draw splits the chosen positions into [MASK] | keep | random.
    split = rng.random(shape)
    keep = chosen & (split < config.keep_prob)
    random = chosen & (split >= config.keep_prob) & (split < config.keep_prob + config.random_prob)
    masked = chosen & ~keep & ~random

    inputs = np.where(masked, vocab.mask_id, tokens)
    inputs = np.where(random, rng.integers(0, vocab.num_words, size=shape), inputs)
    kind = np.zeros(shape, dtype=np.uint8)
    kind[masked], kind[keep], kind[random] = QueryKind.MASK, QueryKind.KEEP, QueryKind.RANDOM
    key_visible = is_word if config.attend_to_chosen else is_word & ~chosen
    return MaskedBatch(
        inputs=torch.from_numpy(inputs).long(),
        labels=torch.from_numpy(np.where(chosen, tokens, IGNORE_LABEL)).long(),
        chosen=torch.from_numpy(chosen),
        key_visible=torch.from_numpy(key_visible),
        query_kind=torch.from_numpy(kind),
    )
