"""Block averages of word x word matrices and topic statistics of attention.

A structured matrix over content words is summarised by three averages (notebooks/topic_structure/THEORY.md §3): the
diagonal, same topic off the diagonal, and different topic. ``block_matrix`` is the inverse: the
matrix ``a I + b (B - I) + c (J - B)`` in the span of ``I``, ``B`` (same-topic indicator) and ``J``.

**The attention ratio** (one implementation, used by training logs, notebook 07 and notebook 08).
For a query position ``q`` showing an analysed word, its keys of kind ``X`` (``identical``: other
copies of the query's word; ``same_topic``: other words of its topic; ``diff_topic``: words of
other topics) get the weight ``w_X(q, k) = 1 / |K_X(q)|``. With ``A_X = sum a_qk w_X(q, k)`` the
attention on kind ``X`` and ``U_X`` the same sum for uniform attention over the visible keys,

    R_X = (A_X / U_X) / (A_diff / U_diff),

exactly 1 for uniform attention whatever the documents' lengths and topic mix; ``R_same`` is the
topic ratio and ``R_identical`` the copy ratio. :func:`topic_pair_weights` builds the weights,
:func:`weighted_attention_sums` the per-document sums, :func:`ratio_of_sums` the ratio with a
bootstrap interval over documents.
"""

from __future__ import annotations

import functools
import math
from typing import NamedTuple

import numpy as np
import pandas as pd
import torch

from topic_structure.data import Vocabulary

BLOCKS = ("diagonal", "same_topic", "diff_topic")
PAIR_KINDS = ("identical", "same_topic", "diff_topic")


def block_masks(vocab: Vocabulary) -> dict[str, torch.Tensor]:
    """(V, V) bool masks of the three blocks (built once per vocabulary: every logged step of a run reads them;
    do not modify them)."""
    return dict(_block_masks(vocab))


@functools.lru_cache(maxsize=16)
def _block_masks(vocab: Vocabulary) -> dict[str, torch.Tensor]:
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
    return {
        name: float(content[mask].mean()) if mask.any() else float("nan") for name, mask in block_masks(vocab).items()
    }


def block_matrix(vocab: Vocabulary, diagonal: float, same_topic: float, diff_topic: float) -> torch.Tensor:
    """(V, V) float64 matrix with the given block values."""
    masks = block_masks(vocab)
    out = torch.zeros(vocab.num_words, vocab.num_words, dtype=torch.float64)
    for name, value in zip(BLOCKS, (diagonal, same_topic, diff_topic)):
        out[masks[name]] = float(value)
    return out


def topic_pair_weights(
    labels: torch.Tensor, tokens: torch.Tensor, key_visible: torch.Tensor
) -> dict[str, torch.Tensor]:
    """Per-query weights ``1 / |K_X(q)|`` on the keys of each kind (module docstring).

    labels: (..., B, N) topic of each position under one or more labelings (leading axes, e.g.
    permutations), -1 where the position is not analysed (padding, [MASK], words without a topic);
    tokens: (B, N) token ids (copies of one word share an id); key_visible: (B, N) keys a query may
    attend to. Returns ``{kind: (..., B, N, N) float64}`` [query, key] for ``PAIR_KINDS``; a query
    without keys of a kind has zero weights for it. A position is never its own key.
    """
    if tokens.shape != labels.shape[-2:] or key_visible.shape != tokens.shape:
        raise ValueError(
            f"labels must be (..., B, N) with tokens and key_visible (B, N); got labels "
            f"{tuple(labels.shape)}, tokens {tuple(tokens.shape)}, key_visible {tuple(key_visible.shape)}"
        )
    N = tokens.shape[-1]
    analysed = labels >= 0
    pair = analysed[..., :, None] & analysed[..., None, :] & key_visible[:, None, :] & ~torch.eye(N, dtype=torch.bool)
    identical = pair & (tokens[:, :, None] == tokens[:, None, :])
    same_label = labels[..., :, None] == labels[..., None, :]
    masks = {"identical": identical, "same_topic": pair & same_label & ~identical, "diff_topic": pair & ~same_label}
    return {kind: mask / mask.sum(-1, keepdim=True).clamp(min=1).double() for kind, mask in masks.items()}


def uniform_attention_over(key_visible: torch.Tensor) -> torch.Tensor:
    """(B, N, N) [query, key] float64 attention spread evenly over each document's visible keys."""
    weights = key_visible.double() / key_visible.sum(1, keepdim=True).clamp(min=1)
    return weights[:, None, :].expand(-1, key_visible.shape[1], -1)


def weighted_attention_sums(attention: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """Per document ``sum_{q, k} a[q, k] w[q, k]`` for every head and every labeling.

    attention: (B, *heads, N, N) [query, key] (``heads`` may be empty, or layers and heads);
    weights: (P, B, N, N) from :func:`topic_pair_weights` (P labelings). Returns (P, B, *heads) float64.
    """
    B, N = attention.shape[0], attention.shape[-1]
    heads = attention.shape[1:-2]
    if weights.shape[-3:] != (B, N, N) or weights.dim() != 4:
        raise ValueError(f"weights must be (P, B, N, N) = (P, {B}, {N}, {N}), got {tuple(weights.shape)}")
    flat = weights.permute(1, 2, 3, 0).reshape(B, N * N, -1).to(torch.float64)  # (B, N*N, P)
    sums = attention.reshape(B, -1, N * N).to(torch.float64) @ flat  # (B, prod(heads), P): one batched product
    return sums.permute(2, 0, 1).reshape(weights.shape[0], B, *heads)


def ratio_of_sums(
    numerator: tuple[torch.Tensor, torch.Tensor],
    denominator: tuple[torch.Tensor, torch.Tensor],
    num_bootstrap: int = 0,
    rng: np.random.Generator | None = None,
    level: float = 0.95,
) -> dict:
    """``(sum a / sum b) / (sum c / sum d)`` over documents, with a percentile bootstrap over documents.

    numerator = (a, b), denominator = (c, d): per-document sums, each (D, ...) (trailing axes kept:
    one ratio per layer and head). Returns ``ratio`` and, with ``num_bootstrap > 0``, ``low`` and
    ``high`` (numpy arrays, or floats when there are no trailing axes).
    """
    (a, b), (c, d) = numerator, denominator

    def ratio(weights: torch.Tensor) -> torch.Tensor:  # weights: (R, D) document multiplicities
        total = [torch.einsum("rd,d...->r...", weights, x.double()) for x in (a, b, c, d)]
        return (total[0] / total[1]) / (total[2] / total[3])

    documents = a.shape[0]
    point = ratio(torch.ones(1, documents, dtype=torch.float64))[0]
    result = {"ratio": point}
    if num_bootstrap > 0:
        if rng is None:
            raise ValueError("a bootstrap needs an rng")
        counts = torch.from_numpy(rng.multinomial(documents, np.full(documents, 1 / documents), size=num_bootstrap))
        resampled = ratio(counts.double())
        tail = (1 - level) / 2
        result.update(low=resampled.quantile(tail, dim=0), high=resampled.quantile(1 - tail, dim=0))
    return {key: (float(value) if value.dim() == 0 else value.numpy()) for key, value in result.items()}


def relative_attention_masses(
    attention: torch.Tensor, labels: torch.Tensor, tokens: torch.Tensor, key_visible: torch.Tensor
) -> dict[str, float]:
    """``A_X / U_X`` for each kind of key: the attention on it relative to uniform attention (1 when uniform).

    attention: (B, N, N) [query, key]; labels: (B, N) topic per position, -1 where not analysed;
    tokens, key_visible: (B, N). NaN for a kind that no query has. For many states of one model on one
    batch, :class:`TokenPairProbe` gives the same numbers without the (B, N, N) attention.
    """
    weights = topic_pair_weights(labels[None], tokens, key_visible)
    uniform = uniform_attention_over(key_visible)
    return masses_relative_to_uniform(
        {kind: weighted_attention_sums(attention, w)[0] for kind, w in weights.items()},
        {kind: weighted_attention_sums(uniform, w)[0] for kind, w in weights.items()},
    )


def masses_relative_to_uniform(
    on_kind: dict[str, torch.Tensor], on_kind_uniform: dict[str, torch.Tensor]
) -> dict[str, float]:
    """``A_X / U_X`` from per-document sums (B,) of the attention and of uniform attention on each kind of key.

    NaN for a kind that no query has (its uniform sum is 0).
    """
    masses = {}
    for kind, sums in on_kind.items():
        total, total_uniform = sums.sum(), on_kind_uniform[kind].sum()
        masses[kind] = float(total / total_uniform) if total_uniform > 0 else float("nan")
    return masses


def fold_onto_token_pairs(weights: torch.Tensor, tokens: torch.Tensor, vocab_size: int) -> torch.Tensor:
    """Position-pair weights summed by token pair: (..., B, N, N) [query, key] -> (..., B, vocab, vocab) float64.

    ``out[..., b, t, u] = sum of weights[..., b, q, k]`` over query positions q showing token t and key
    positions k showing u. Attention depends on tokens only (no positions in the model), so a weighted
    sum of attention over positions equals ``sum over (t, u)`` of this times the attention one query of
    type t gives one key of type u (:meth:`model.TopicTransformer.token_attention`).
    """
    B, N = tokens.shape
    if weights.shape[-3:] != (B, N, N):
        raise ValueError(f"weights must be (..., B, N, N) = (..., {B}, {N}, {N}), got {tuple(weights.shape)}")
    lead = weights.shape[:-3]
    flat = weights.reshape(-1, B, N * N).double()
    index = (tokens[:, :, None] * vocab_size + tokens[:, None, :]).reshape(1, B, N * N).expand(flat.shape[0], -1, -1)
    folded = torch.zeros(flat.shape[0], B, vocab_size * vocab_size, dtype=torch.float64).scatter_add_(2, index, flat)
    return folded.reshape(*lead, B, vocab_size, vocab_size)


class TokenPairWeights:
    """Position-pair weights of several kinds on one batch, folded onto token pairs once, for many attention states.

    weights: ``{kind: (B, N, N)}`` [query, key]; tokens: (B, N). :meth:`sums` gives, per document, what
    :func:`weighted_attention_sums` gives for the position-level attention, from (B, vocab, vocab) token
    attention (:meth:`model.TopicTransformer.token_attention`) in one batched product.
    """

    def __init__(self, weights: dict[str, torch.Tensor], tokens: torch.Tensor, vocab_size: int):
        self.kinds = list(weights)
        folded = torch.stack([fold_onto_token_pairs(w, tokens, vocab_size) for w in weights.values()], -1)
        self.folded = folded.reshape(tokens.shape[0], vocab_size * vocab_size, len(self.kinds))  # (B, vocab^2, K)
        self.totals = {kind: self.folded[..., i].sum(1) for i, kind in enumerate(self.kinds)}  # (B,) total weight

    def sums(self, token_attention: torch.Tensor) -> dict[str, torch.Tensor]:
        """Per document ``sum_{t, u} A[b, t, u] W_kind[b, t, u]`` (B,) float64 for each kind.

        token_attention: (B, vocab, vocab), finite everywhere (entries for tokens a document does not show
        meet zero weights).
        """
        B = self.folded.shape[0]
        flat = token_attention.detach().double().reshape(B, 1, -1)
        sums = torch.bmm(flat, self.folded)[:, 0]  # (B, K)
        return {kind: sums[:, i] for i, kind in enumerate(self.kinds)}


class TokenPairProbe:
    """A fixed masked batch on which :func:`relative_attention_masses` is read for many states of a model.

    The weights of :func:`topic_pair_weights` and the uniform sums depend on the batch only, so they are
    built once and folded onto token pairs (:func:`fold_onto_token_pairs`); each state then needs only its
    (B, vocab, vocab) token attention instead of the (B, N, N) attention map. Same estimator, same numbers
    up to float rounding (tested against the dense route).

    inputs, key_visible: (B, N); labels: (B, N) topic per position, -1 where not analysed.
    """

    def __init__(self, inputs: torch.Tensor, key_visible: torch.Tensor, labels: torch.Tensor, vocab_size: int):
        self.inputs, self.key_visible = inputs, key_visible
        weights = topic_pair_weights(labels[None], inputs, key_visible)  # kind -> (1, B, N, N)
        uniform = uniform_attention_over(key_visible)
        self.uniform_sums = {kind: weighted_attention_sums(uniform, w)[0] for kind, w in weights.items()}  # (B,)
        self.weights = TokenPairWeights({kind: w[0] for kind, w in weights.items()}, inputs, vocab_size)

    def sums(self, token_attention: torch.Tensor) -> dict[str, torch.Tensor]:
        """Per-document attention sums (B,) on each kind of key, from (B, vocab, vocab) token attention."""
        return self.weights.sums(token_attention)

    def relative_masses(self, token_attention: torch.Tensor) -> dict[str, float]:
        """``A_X / U_X`` for each kind, as :func:`relative_attention_masses` of the same attention."""
        return masses_relative_to_uniform(self.sums(token_attention), self.uniform_sums)


def topic_attention_ratios(
    attention: torch.Tensor, labels: torch.Tensor, tokens: torch.Tensor, key_visible: torch.Tensor
) -> dict[str, float]:
    """The topic ratio ``R_same`` and the copy ratio ``R_identical`` of (B, N, N) attention on one batch.

    Arguments as :func:`relative_attention_masses`. Returns ``{"same_topic": ..., "identical": ...}``.
    """
    return ratios_to_other_topics(relative_attention_masses(attention, labels, tokens, key_visible))


def ratios_to_other_topics(masses: dict[str, float]) -> dict[str, float]:
    """``{"same_topic": ..., "identical": ...}``: the relative mass on each kind over that on other topics' keys."""
    return {kind: masses[kind] / masses["diff_topic"] for kind in ("same_topic", "identical")}


def content_topics(inputs: torch.Tensor, vocab: Vocabulary) -> torch.Tensor:
    """(B, N) topic of each position that shows a content word, -1 elsewhere ([MASK], [PAD])."""
    return torch.where(inputs < vocab.num_words, inputs // vocab.words_per_topic, -1)


def attention_by_topic(
    attention: torch.Tensor,
    inputs: torch.Tensor,
    key_visible: torch.Tensor,
    vocab: Vocabulary,
) -> dict[str, float]:
    """Topic statistics of (B, N, N) [query, key] attention, over queries that show a content word.

    Returns the topic ratio ``same_topic_ratio`` and the copy ratio ``copy_ratio`` of
    :func:`topic_attention_ratios` (1 for uniform attention); and per query, the attention mass on
    visible keys of its own topic (identical tokens and the query's own position included, when
    visible) ``same_topic_mass``, next to the share of such keys among its visible keys,
    ``uniform_same_topic_mass`` (what uniform attention gives).
    """
    B, N = inputs.shape
    if key_visible.shape != inputs.shape or attention.shape != (B, N, N):
        raise ValueError(
            f"attention must be (B, N, N) = ({B}, {N}, {N}) and key_visible (B, N) like inputs; "
            f"got attention {tuple(attention.shape)}, key_visible {tuple(key_visible.shape)}"
        )
    probe = _probe_topics(inputs, key_visible, vocab)
    on_kind = {kind: weighted_attention_sums(attention, w)[0] for kind, w in probe.weights.items()}
    ratios = ratios_to_other_topics(masses_relative_to_uniform(on_kind, probe.uniform_sums))
    stats = {"same_topic_ratio": ratios["same_topic"], "copy_ratio": ratios["identical"]}
    mass = (attention * probe.same_topic_key).sum(-1)[probe.queries]
    stats["same_topic_mass"] = float(mass.mean()) if probe.queries.any() else float("nan")
    stats["uniform_same_topic_mass"] = float(probe.share.float().mean()) if probe.queries.any() else float("nan")
    return stats


class _ProbeTopics(NamedTuple):
    """What :func:`attention_by_topic` needs of a batch besides its attention."""

    weights: dict[str, torch.Tensor]  # topic_pair_weights of the content topics, (1, B, N, N) per kind
    uniform_sums: dict[str, torch.Tensor]  # (B,) uniform attention's sums on each kind
    same_topic_key: torch.Tensor  # (B, N, N) keys of the query's topic, [query, key]
    queries: torch.Tensor  # (B, N) content queries that see some key
    share: torch.Tensor  # (queries,) share of their visible keys in their topic


_last_probe: list = []  # [(inputs, key_visible, their versions, vocab), _ProbeTopics]: the last batch seen


def _probe_topics(inputs: torch.Tensor, key_visible: torch.Tensor, vocab: Vocabulary) -> _ProbeTopics:
    """:class:`_ProbeTopics` of a batch, kept for the last batch seen: a training run measures one fixed probe at
    every logged step, and these (B, N, N) weights cost more than the attention itself. The same tensors changed
    in place (their version counters) or another batch are computed afresh."""
    key = (inputs, key_visible, inputs._version, key_visible._version, vocab)
    if _last_probe and all(a is b for a, b in zip(_last_probe[0][:2], key[:2])) and _last_probe[0][2:] == key[2:]:
        return _last_probe[1]
    B, N = inputs.shape
    is_content = inputs < vocab.num_words
    topic = content_topics(inputs, vocab)
    weights = topic_pair_weights(topic[None], inputs, key_visible)
    uniform = uniform_attention_over(key_visible)
    same_topic_key = is_content[:, :, None] & key_visible[:, None, :] & (topic[:, :, None] == topic[:, None, :])
    queries = is_content & key_visible.any(1, keepdim=True)
    share = same_topic_key.sum(-1)[queries] / key_visible.sum(1, keepdim=True).expand(B, N)[queries]
    structure = _ProbeTopics(
        weights,
        {kind: weighted_attention_sums(uniform, w)[0] for kind, w in weights.items()},
        same_topic_key,
        queries,
        share,
    )
    _last_probe[:] = [key, structure]
    return structure


# ----- same vs different topic over a word x word matrix, and over seeds -----------------------------


def same_and_different_topic_means(matrix: np.ndarray, topics: np.ndarray) -> tuple[float, float]:
    """Mean of a (W, W) matrix over distinct same-topic word pairs, and over different-topic pairs.

    topics: (W,) integer topic of each word (need not be sorted).
    """
    same = topics[:, None] == topics[None, :]
    distinct = ~np.eye(len(topics), dtype=bool)
    return float(matrix[same & distinct].mean()), float(matrix[~same].mean())


def pair_statistics(
    matrix: np.ndarray,
    topics: np.ndarray,
    num_bootstrap: int,
    num_permutations: int,
    rng: np.random.Generator,
    level: float = 0.95,
) -> dict:
    """Same/different-topic means of a (W, W) matrix, their ratio and contrast, with intervals and a baseline.

    The intervals are percentile bootstraps over words: a resample draws word ``w`` ``c_w`` times and
    weighs its pairs of distinct words by ``c_w c_w'`` (copies of one word are never paired). The
    permutation baseline shuffles the labels across words (topic sizes kept, structure destroyed).
    Returns same, diff, ratio, ratio_ci, contrast, contrast_ci, baseline_ratio (mean over shuffles),
    baseline_ratio_range, baseline_ratio_se, baseline_contrast.
    """
    same_mean, diff_mean = same_and_different_topic_means(matrix, topics)
    words = len(topics)
    counts = rng.multinomial(words, np.full(words, 1 / words), size=num_bootstrap).astype(float)  # (R, W)

    def quadratic(c, m):  # (R,) c_r^T m c_r
        return ((c @ m) * c).sum(1)

    # same topic = topic blocks minus the diagonal; different topic = everything minus the blocks
    blocks = [np.flatnonzero(topics == k) for k in np.unique(topics)]
    total, total_n = quadratic(counts, matrix), counts.sum(1) ** 2
    block = sum(quadratic(counts[:, b], matrix[np.ix_(b, b)]) for b in blocks)
    block_n = sum(counts[:, b].sum(1) ** 2 for b in blocks)
    diagonal, diagonal_n = (counts**2) @ np.diag(matrix), (counts**2).sum(1)
    boot_same = (block - diagonal) / (block_n - diagonal_n)
    boot_diff = (total - block) / (total_n - block_n)
    permuted = np.array(
        [same_and_different_topic_means(matrix, rng.permutation(topics)) for _ in range(num_permutations)]
    )
    quantiles = [100 * (1 - level) / 2, 100 * (1 + level) / 2]
    shuffled_ratio = permuted[:, 0] / permuted[:, 1]
    return {
        "same": same_mean,
        "diff": diff_mean,
        "ratio": same_mean / diff_mean,
        "ratio_ci": tuple(np.percentile(boot_same / boot_diff, quantiles)),
        "contrast": same_mean - diff_mean,
        "contrast_ci": tuple(np.percentile(boot_same - boot_diff, quantiles)),
        "baseline_ratio": float(shuffled_ratio.mean()),
        "baseline_ratio_range": tuple(np.percentile(shuffled_ratio, quantiles)),
        "baseline_ratio_se": float(shuffled_ratio.std(ddof=1) / np.sqrt(len(permuted))),
        "baseline_contrast": float((permuted[:, 0] - permuted[:, 1]).mean()),
    }


def geometric_mean_interval(
    values, resamples: int = 10_000, level: float = 0.95, rng: np.random.Generator | None = None
) -> tuple[float, float, float]:
    """Geometric mean of positive values (one per seed) and its percentile-bootstrap interval over them."""
    logs = np.log(np.asarray(values, dtype=float))
    rng = rng or np.random.default_rng(0)
    means = logs[rng.integers(0, len(logs), size=(resamples, len(logs)))].mean(1)
    low, high = np.quantile(means, [(1 - level) / 2, (1 + level) / 2])
    return float(np.exp(logs.mean())), float(np.exp(low)), float(np.exp(high))


def topic_ratio_with_baseline(
    attention: dict[str, torch.Tensor],
    reference: dict[str, torch.Tensor],
    pool: tuple[int, ...] = (),
    num_bootstrap: int = 0,
    rng: np.random.Generator | None = None,
) -> dict:
    """The topic ratio ``(A_same / U_same) / (A_diff / U_diff)`` of per-document sums, pooled, with intervals.

    attention: ``{"same_topic", "diff_topic"}`` -> (P, D, *heads) sums (labeling 0 real, the others
    shuffled; :func:`weighted_attention_sums`); reference: the same kinds -> (P, D) or (P, D, *heads)
    sums of the reference attention (uniform attention; or, for the real labeling only, (1, D, *heads)
    sums of another attention, which makes the result ``R / R_reference``). pool: axes of ``heads``
    summed over. Returns ratio, low, high (bootstrap over documents, real labeling) and, with
    shuffled labelings, baseline (mean ratio over them), baseline_low, baseline_high (their 2.5%
    and 97.5% quantiles), baseline_se.
    """

    def pooled(x: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
        x = x.double().reshape(*x.shape, *([1] * (like.dim() - x.dim()))).expand(x.shape[0], *like.shape[1:])
        return x.sum(dim=tuple(2 + a for a in pool)) if pool else x

    same, diff = attention["same_topic"], attention["diff_topic"]
    parts = [
        pooled(same, same),
        pooled(reference["same_topic"], same),
        pooled(diff, diff),
        pooled(reference["diff_topic"], diff),
    ]
    result = ratio_of_sums((parts[0][0], parts[1][0]), (parts[2][0], parts[3][0]), num_bootstrap, rng)
    if same.shape[0] > 1 and parts[1].shape[0] == same.shape[0]:  # shuffled labelings with their own reference
        totals = [p[1:].sum(1) for p in parts]
        shuffled = (totals[0] / totals[1]) / (totals[2] / totals[3])  # (P - 1, ...)
        result.update(
            baseline=shuffled.mean(0).numpy(),
            baseline_low=shuffled.quantile(0.025, dim=0).numpy(),
            baseline_high=shuffled.quantile(0.975, dim=0).numpy(),
            baseline_se=(shuffled.std(0) / np.sqrt(len(shuffled))).numpy(),
        )
        result = {k: (float(v) if np.ndim(v) == 0 else v) for k, v in result.items()}
    return result


def extrapolate_to_infinite_length(frame: pd.DataFrame) -> dict[str, float]:
    """Weighted least-squares fit ``mean(N) = limit + slope / N`` to Monte-Carlo means at several lengths.

    frame: one row per document length with columns ``N``, ``monte_carlo`` (mean) and ``standard_error``
    (of that mean, independent across rows). A smooth function of the empirical key distribution has an
    expectation ``f(limit) + O(1/N)`` (delta method: the key frequencies have covariance ``O(1/N)``), so
    the intercept is the ``N -> infinity`` limit. Returns ``limit``, its ``standard_error`` (from the
    fit's covariance, scaled up by ``sqrt(chi2 / dof)`` when the residuals exceed their standard errors,
    which is how a missing ``O(1/N^2)`` term would show), ``slope`` and ``chi2`` with ``dof``.
    """
    if len(frame) < 3:
        raise ValueError(f"extrapolation needs at least 3 lengths (2 parameters and a residual), got {len(frame)}")
    inverse = 1 / frame["N"].to_numpy(dtype=float)
    means = frame["monte_carlo"].to_numpy(dtype=float)
    weights = 1 / frame["standard_error"].to_numpy(dtype=float) ** 2
    design = np.stack([np.ones_like(inverse), inverse], axis=1)  # (lengths, 2)
    covariance = np.linalg.inv(design.T @ (weights[:, None] * design))
    coefficients = covariance @ design.T @ (weights * means)
    chi2 = float((weights * (means - design @ coefficients) ** 2).sum())
    dof = len(frame) - 2
    inflation = max(1.0, math.sqrt(chi2 / dof))
    return {
        "limit": float(coefficients[0]),
        "standard_error": inflation * math.sqrt(covariance[0, 0]),
        "slope": float(coefficients[1]),
        "chi2": chi2,
        "dof": dof,
    }
