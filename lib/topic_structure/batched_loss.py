"""The masked-LM loss of R runs' minibatches in one pass, for :class:`batched.RunStack`.

:class:`PairLoss` (trained attention): a score depends on the two tokens only, so a chosen query's attention is a
softmax over token types weighted by the document's visible counts, as in
:meth:`model.TopicTransformer.chosen_logits`; the queries showing one token in one document share their logits, so
each (run, document, query token) pair (:class:`PairPlan`) is computed once and the cross-entropy of its queries is
``n lse(o) - o . Y`` with ``n`` its queries and ``Y`` their label counts. Forward and backward are written out (one
autograd node for the whole loss); the per-run matrix products are batched products over the runs
(:class:`_Segments`). :func:`uniform_losses`: attention frozen uniform, through autograd.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from topic_structure.masking import IGNORE_LABEL, MaskedBatch


@dataclass(frozen=True)
class StackedBatch:
    """R minibatches as one: documents of run 0, then run 1, ..., padded to one length; ``doc_run`` (B,) long."""

    inputs: torch.Tensor  # (B, N) long
    labels: torch.Tensor  # (B, N) long
    chosen: torch.Tensor  # (B, N) bool
    key_visible: torch.Tensor  # (B, N) bool
    doc_run: torch.Tensor  # (B,) long


def stack_batches(batches: list[MaskedBatch | None], pad_id: int) -> StackedBatch:
    """Concatenate the runs' batches (None: no documents for that run), padding with ``pad_id``, never visible."""
    present = [(r, b) for r, b in enumerate(batches) if b is not None]
    if not present:
        raise ValueError("every run sits this step out: nothing to stack")
    if len(present) == 1:
        r, b = present[0]
        doc_run = torch.full((len(b),), r, dtype=torch.long)
        return StackedBatch(b.inputs, b.labels, b.chosen, b.key_visible, doc_run)
    width = max(b.inputs.shape[1] for _, b in present)

    def padded(field: str, value) -> torch.Tensor:
        parts = []
        for _, b in present:
            part = getattr(b, field)
            if part.shape[1] < width:
                part = torch.nn.functional.pad(part, (0, width - part.shape[1]), value=value)
            parts.append(part)
        return torch.cat(parts)

    doc_run = torch.cat([torch.full((len(b),), r, dtype=torch.long) for r, b in present])
    return StackedBatch(
        padded("inputs", pad_id),
        padded("labels", IGNORE_LABEL),
        padded("chosen", False),
        padded("key_visible", False),
        doc_run,
    )


class _Segments:
    """Rows (pairs or documents) sorted by run: per-run matrix products as batched products over the runs.

    run: (n,) long, non-decreasing. Rows are laid into an (R, width, k) array (width: the most rows of a run,
    the slots of shorter runs zero), multiplied run by run, and read back.
    """

    def __init__(self, run: torch.Tensor, runs: int):
        self.run, self.runs = run, runs
        sizes = torch.bincount(run, minlength=runs)
        self.width = int(sizes.max()) if run.numel() else 0
        starts = torch.cumsum(sizes, 0) - sizes
        self.slot = run * self.width + torch.arange(run.numel()) - starts[run]  # (n,) row -> slot of (R * width)
        self.dense = runs == 1 or bool((sizes == self.width).all())  # slots are 0..n-1: no gathering needed

    def pad(self, x: torch.Tensor) -> torch.Tensor:
        """(n, k) -> (R, width, k)."""
        if self.dense:
            return x.reshape(self.runs, self.width, x.shape[1])
        out = x.new_zeros(self.runs * self.width, x.shape[1]).index_copy_(0, self.slot, x)
        return out.view(self.runs, self.width, x.shape[1])

    def unpad(self, y: torch.Tensor) -> torch.Tensor:
        """(R, width, k) -> (n, k)."""
        flat = y.reshape(self.runs * self.width, y.shape[2])
        return flat if self.dense else flat.index_select(0, self.slot)

    def times(self, x: torch.Tensor, matrices: torch.Tensor) -> torch.Tensor:
        """(n, k) rows times their run's (R, k, m) matrix: (n, m)."""
        return self.unpad(torch.bmm(self.pad(x), matrices))

    def outer_sums(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """``sum over the rows of run r of x_i^T y_i`` for each run: (n, k), (n, m) -> (R, k, m)."""
        return torch.bmm(self.pad(x).transpose(1, 2), self.pad(y))


@dataclass
class PairPlan:
    """The distinct (run, document, query token) pairs of a stacked batch and what the loss needs of them."""

    segments: _Segments
    row: torch.Tensor  # (U,) run * vocab + query token: the pair's row of a (R * vocab, ...) table
    log_counts: torch.Tensor  # (U, vocab) log of its document's visible keys per type (-inf: none)
    live: torch.Tensor | None  # (U,) bool: its document has a visible key (None: all have)
    label_counts: torch.Tensor  # (U, V) how many of its queries have each label
    counts: torch.Tensor  # (U,) its labelled queries
    weight: torch.Tensor  # (U,) 1 / labelled queries of its run (the loss is a mean per run)
    num_words: int
    score_by_table: bool | None = None  # None: the cheaper route
    decode_by_table: bool | None = None


def pair_plan(stacked: StackedBatch, runs: int, vocab_size: int, num_words: int, dtype) -> PairPlan:
    """The pairs of :class:`PairPlan`, in (document, token) order, so grouped by run."""
    inputs, key_visible = stacked.inputs, stacked.key_visible
    doc, position = stacked.chosen.nonzero(as_tuple=True)  # (M,) each
    pairs, which = torch.unique(doc * vocab_size + inputs[doc, position], return_inverse=True)
    pair_doc, token = pairs // vocab_size, pairs % vocab_size
    run = stacked.doc_run.index_select(0, pair_doc)
    counts = torch.zeros(inputs.shape[0], vocab_size, dtype=torch.long).scatter_add_(1, inputs, key_visible.long())
    keyless = counts.sum(1) == 0  # (B,) documents without a visible key: zero logits, as in the one-run route
    log_counts = torch.arange(inputs.shape[1] + 1, dtype=dtype).log()[counts].masked_fill(keyless[:, None], 0.0)
    labels = stacked.labels[doc, position]
    labelled = labels != IGNORE_LABEL
    label_counts = torch.zeros(len(pairs), num_words, dtype=dtype)
    label_counts.index_put_((which[labelled], labels[labelled]), torch.ones((), dtype=dtype), accumulate=True)
    per_run = torch.bincount(stacked.doc_run[doc[labelled]], minlength=runs).to(dtype)  # labelled queries per run
    return PairPlan(
        segments=_Segments(run, runs),
        row=run * vocab_size + token,
        log_counts=log_counts.index_select(0, pair_doc),
        live=~keyless.index_select(0, pair_doc) if keyless.any() else None,
        label_counts=label_counts,
        counts=label_counts.sum(1),
        weight=(1 / per_run.clamp(min=1)).index_select(0, run),
        num_words=num_words,
    )


class PairLoss(torch.autograd.Function):
    """(R,) per-run mean cross-entropy of the chosen queries from the (R, vocab, d) token tables, with its backward
    written out (module docstring). decoder: (R, V, d), or empty for the identity decoder."""

    @staticmethod
    def forward(ctx, queries, keys, values, decoder, plan: PairPlan):
        """(R,) losses from the (R, vocab, d) key, query and value tables and the (R, V, d) decoder (or empty)."""
        runs, vocab_size, d = values.shape
        V, segments, identity = plan.num_words, plan.segments, decoder.numel() == 0
        pairs, root = plan.row.numel(), math.sqrt(d)
        # the cheaper route, as the one-run loss chooses it (vocab^2 d per run against vocab d per pair)
        ctx.score_by_table = runs * vocab_size <= pairs if plan.score_by_table is None else plan.score_by_table
        if ctx.score_by_table:
            scores = (torch.bmm(queries, keys.transpose(1, 2)) / root).reshape(-1, vocab_size).index_select(0, plan.row)
            ctx.query_rows = None
        else:
            ctx.query_rows = queries.reshape(-1, d).index_select(0, plan.row)  # (U, d)
            scores = segments.times(ctx.query_rows, keys.transpose(1, 2)) / root
        mass = torch.softmax(scores + plan.log_counts, dim=-1)  # (U, vocab) attention mass per key type
        if plan.live is not None:
            mass = mass * plan.live[:, None]
        table_cost = runs * (0 if identity else vocab_size * d) + pairs * vocab_size
        ctx.decode_by_table = plan.decode_by_table
        if ctx.decode_by_table is None:
            ctx.decode_by_table = table_cost * V <= pairs * (vocab_size + V) * d
        if ctx.decode_by_table:
            ctx.outputs = values[..., :V] if identity else torch.bmm(values, decoder.transpose(1, 2))  # (R, vocab, V)
            logits, ctx.context = segments.times(mass, ctx.outputs), None
        else:
            ctx.context = segments.times(mass, values)  # (U, d)
            logits = ctx.context[:, :V] if identity else segments.times(ctx.context, decoder.transpose(1, 2))
        losses, ctx.probabilities = _losses(plan, logits)
        ctx.plan, ctx.identity, ctx.mass = plan, identity, mass
        ctx.save_for_backward(queries, keys, values, decoder)
        return losses

    @staticmethod
    def backward(ctx, grad_losses):
        """Gradients of the tables and the decoder from the (R,) gradient of the losses."""
        queries, keys, values, decoder = ctx.saved_tensors
        plan, mass, segments = ctx.plan, ctx.mass, ctx.plan.segments
        runs, vocab_size, d = values.shape
        V = plan.num_words
        grad_logits = _logit_gradient(plan, grad_losses, ctx.probabilities)  # (U, V)
        grad_decoder = None
        if ctx.decode_by_table:
            grad_outputs = segments.outer_sums(mass, grad_logits)  # (R, vocab, V)
            grad_mass = segments.times(grad_logits, ctx.outputs.transpose(1, 2))
            if ctx.identity:
                grad_values = torch.nn.functional.pad(grad_outputs, (0, d - V))
            else:
                grad_values = torch.bmm(grad_outputs, decoder)
                grad_decoder = torch.bmm(grad_outputs.transpose(1, 2), values)
        else:
            if ctx.identity:
                grad_context = torch.nn.functional.pad(grad_logits, (0, d - V))
            else:
                grad_context = segments.times(grad_logits, decoder)  # (U, d)
                grad_decoder = segments.outer_sums(grad_logits, ctx.context)
            grad_values = segments.outer_sums(mass, grad_context)
            grad_mass = segments.times(grad_context, values.transpose(1, 2))
        # softmax backward; a keyless document's row has zero mass, hence zero score gradient
        grad_scores = mass * (grad_mass - (mass * grad_mass).sum(-1, keepdim=True)) / math.sqrt(d)
        if ctx.score_by_table:
            grad_table = torch.zeros(runs * vocab_size, vocab_size, dtype=values.dtype)
            grad_table = grad_table.index_add_(0, plan.row, grad_scores).view(runs, vocab_size, vocab_size)
            grad_queries = torch.bmm(grad_table, keys)
            grad_keys = torch.bmm(grad_table.transpose(1, 2), queries)
        else:
            grad_rows = segments.times(grad_scores, keys)  # (U, d)
            grad_keys = segments.outer_sums(grad_scores, ctx.query_rows)
            grad_queries = torch.zeros(runs * vocab_size, d, dtype=values.dtype).index_add_(0, plan.row, grad_rows)
            grad_queries = grad_queries.view(runs, vocab_size, d)
        return grad_queries, grad_keys, grad_values, grad_decoder, None


def _losses(plan: PairPlan, logits: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(R,) per-run mean cross-entropy of the pairs' (U, V) logits, and their softmax (for the backward)."""
    log_partition = torch.logsumexp(logits, dim=-1)  # (U,)
    per_pair = plan.counts * log_partition - (logits * plan.label_counts).sum(-1)
    losses = torch.zeros(plan.segments.runs, dtype=logits.dtype).index_add_(
        0, plan.segments.run, plan.weight * per_pair
    )
    return losses, torch.exp(logits - log_partition[:, None])


def _logit_gradient(plan: PairPlan, grad_losses: torch.Tensor, probabilities: torch.Tensor) -> torch.Tensor:
    """(U, V) gradient of the losses with respect to the pairs' logits."""
    scale = grad_losses.index_select(0, plan.segments.run) * plan.weight  # (U,)
    return scale[:, None] * (plan.counts[:, None] * probabilities - plan.label_counts)


class EmbeddedPairLoss(torch.autograd.Function):
    """:class:`PairLoss` computed in the embedding space, for trained embeddings of a large vocabulary and few
    pairs: each pair's query ``q = W_Q e``, its scores ``(q W_K) E^T``, its context ``W_V (mass E)`` and logits
    ``W_pred context``; no (vocab, d) table of keys, queries or values is formed (their ``vocab d^2`` products
    cost more than the pairs' ``U d (vocab + d)``). The same losses and gradients up to float rounding.

    embedding (R, vocab, d); query, key (R, d, d); value (R, d, d) or empty (identity); decoder (R, V, d) or
    empty (identity).
    """

    @staticmethod
    def forward(ctx, embedding, query, key, value, decoder, plan: PairPlan):
        """(R,) losses from the stacked matrices."""
        runs, vocab_size, d = embedding.shape
        segments, root, V = plan.segments, math.sqrt(d), plan.num_words
        rows = embedding.reshape(-1, d).index_select(0, plan.row)  # (U, d) e of each pair's query token
        queries = segments.times(rows, query.transpose(1, 2))  # (U, d) W_Q e
        reached = segments.times(queries, key)  # (U, d) q W_K: its score on key e_k is (q W_K) . e_k
        scores = segments.times(reached, embedding.transpose(1, 2)) / root  # (U, vocab)
        mass = torch.softmax(scores + plan.log_counts, dim=-1)
        if plan.live is not None:
            mass = mass * plan.live[:, None]
        mixed = segments.times(mass, embedding)  # (U, d) sum_k mass_k e_k
        context = mixed if value.numel() == 0 else segments.times(mixed, value.transpose(1, 2))
        logits = context[:, :V] if decoder.numel() == 0 else segments.times(context, decoder.transpose(1, 2))
        losses, ctx.probabilities = _losses(plan, logits)
        ctx.plan, ctx.mass, ctx.parts = plan, mass, (rows, queries, reached, mixed, context)
        ctx.save_for_backward(embedding, query, key, value, decoder)
        return losses

    @staticmethod
    def backward(ctx, grad_losses):
        """Gradients of the stacked matrices from the (R,) gradient of the losses."""
        embedding, query, key, value, decoder = ctx.saved_tensors
        plan, mass, segments = ctx.plan, ctx.mass, ctx.plan.segments
        rows, queries, reached, mixed, context = ctx.parts
        d = embedding.shape[2]
        grad_logits = _logit_gradient(plan, grad_losses, ctx.probabilities)  # (U, V)
        grad_decoder = grad_value = None
        if decoder.numel() == 0:
            grad_context = torch.nn.functional.pad(grad_logits, (0, d - plan.num_words))
        else:
            grad_context = segments.times(grad_logits, decoder)
            grad_decoder = segments.outer_sums(grad_logits, context)
        if value.numel() == 0:
            grad_mixed = grad_context
        else:
            grad_mixed = segments.times(grad_context, value)
            grad_value = segments.outer_sums(grad_context, mixed)
        grad_mass = segments.times(grad_mixed, embedding.transpose(1, 2))  # (U, vocab)
        grad_embedding = segments.outer_sums(mass, grad_mixed)  # (R, vocab, d)
        grad_scores = mass * (grad_mass - (mass * grad_mass).sum(-1, keepdim=True)) / math.sqrt(d)
        grad_reached = segments.times(grad_scores, embedding)  # (U, d)
        grad_embedding += segments.outer_sums(grad_scores, reached)
        grad_queries = segments.times(grad_reached, key.transpose(1, 2))
        grad_key = segments.outer_sums(queries, grad_reached)
        grad_rows = segments.times(grad_queries, query)
        grad_query = segments.outer_sums(grad_queries, rows)
        grad_embedding.view(-1, d).index_add_(0, plan.row, grad_rows)
        return grad_embedding, grad_query, grad_key, grad_value, grad_decoder, None


def embedded_route_is_cheaper(
    runs: int, pairs: int, vocab_size: int, d: int, V: int, value: bool, decoder: bool
) -> bool:
    """Whether :class:`EmbeddedPairLoss` multiplies less than :class:`PairLoss` (forward products, each route as
    it would choose its own score and decode routes); value, decoder: whether W_V and W_pred are products."""
    tables = (2 + value) * runs * vocab_size * d * d
    tables += min(runs * vocab_size * vocab_size * d, pairs * vocab_size * d)
    context = pairs * vocab_size * d + (pairs * d * V if decoder else 0)
    tables += min(runs * vocab_size * d * V * decoder + pairs * vocab_size * V, context)
    embedded = pairs * d * d * (2 + value) + 2 * pairs * vocab_size * d + (pairs * d * V if decoder else 0)
    return embedded < tables


def uniform_losses(
    stacked: StackedBatch,
    config,
    embedding: torch.Tensor,
    value: torch.Tensor | None,
    decoder: torch.Tensor | None,
    runs: int,
) -> torch.Tensor:
    """(R,) per-run mean cross-entropy with attention frozen uniform: every query of a document gets the document's
    logits ``bag E W_V^T W_pred^T`` (bag: the visible keys' share per token type), as the one-run route computes.

    config: the runs' :class:`model.ModelConfig`; embedding (R, vocab, d); value: (R, d, d) ``W_V`` or None
    (identity); decoder: (R, V, d) or None (identity).
    """
    inputs, key_visible, vocab = stacked.inputs, stacked.key_visible, config.vocab
    V, dtype = vocab.num_words, embedding.dtype
    weights = key_visible.to(dtype) / key_visible.sum(1, keepdim=True).clamp(min=1)
    bag = torch.zeros(inputs.shape[0], vocab.size, dtype=dtype).scatter_add_(1, inputs, weights)  # (B, vocab)
    documents = _Segments(stacked.doc_run, runs)
    context = bag if config.embedding == "onehot" else documents.times(bag, embedding)
    if value is not None:
        context = documents.times(context, value.transpose(1, 2))
    logits = context[:, :V] if decoder is None else documents.times(context, decoder.transpose(1, 2))  # (B, V)
    labels, chosen = stacked.labels, stacked.chosen & (stacked.labels != IGNORE_LABEL)
    doc, position = chosen.nonzero(as_tuple=True)
    label_counts = torch.zeros(inputs.shape[0], V, dtype=dtype)
    label_counts.index_put_((doc, labels[doc, position]), torch.ones((), dtype=dtype), accumulate=True)
    per_run = torch.bincount(stacked.doc_run[doc], minlength=runs).to(dtype)
    per_doc = label_counts.sum(1) * torch.logsumexp(logits, -1) - (logits * label_counts).sum(-1)
    weight = (1 / per_run.clamp(min=1)).index_select(0, stacked.doc_run)
    return torch.zeros(runs, dtype=dtype).index_add(0, stacked.doc_run, weight * per_doc)
