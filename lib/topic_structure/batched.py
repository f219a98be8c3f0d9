"""R independent runs of the topic model stepped as one tensor program: parameters stacked on a leading axis.

The runs of one notebook (seeds, decoders, grid points) are small models trained side by side. Stepped one at a
time, each step of each run pays Python and dispatch overhead that dwarfs its arithmetic. :class:`RunStack` holds
the trained matrices of R runs as one (R, P) leaf tensor (each run's matrices are views of its row), computes the
R masked-LM losses of R minibatches in one pass (:meth:`RunStack.losses`), and :class:`StackedOptimizer` steps
SGD, Adam or AdamW per run, each with its own learning rate and weight decay, in a handful of tensor operations.

Every run computes what :meth:`model.TopicTransformer.loss` computes for it, and its optimiser does what torch's
does, so a run's losses and parameters equal the one-run route's up to float rounding (tested). Runs share one
:class:`model.ModelConfig` shape (vocabulary, width, which matrices are trained); their initial values, batches,
masking and optimiser settings are their own. Runs that cannot share a shape go in separate stacks.

How one step goes (trained attention; :func:`_PairLoss`): a score depends on the two tokens only, so a chosen
query's attention is a softmax over token types weighted by the document's visible counts, as in
:meth:`model.TopicTransformer.chosen_logits`; the queries showing one token in one document share their logits,
so each (run, document, query token) pair is computed once and the cross-entropy of its queries is
``n lse(o) - o . Y`` with ``n`` its queries and ``Y`` their label counts. Forward and backward are written out
(one autograd node for the whole loss), and the per-run matrix products are batched products over the runs.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from topic_structure.masking import IGNORE_LABEL, MaskedBatch
from topic_structure.model import TopicTransformer

SHAPE_FIELDS = ("num_topics", "words_per_topic", "embedding", "d_model", "attention", "value", "decoder", "loss")


class RunStack:
    """The trained matrices of R runs of one model shape, stacked: ``flat`` holds their values, one (R, *shape)
    block per matrix (``matrix(name)``: a view, a leaf of autograd), and their gradients accumulate into the same
    views of ``grad``, so that an optimiser steps every matrix of every run at once.

    models: R :class:`model.TopicTransformer` of one shape (:data:`SHAPE_FIELDS` of their configs equal; init
    scales may differ), each in its initial state; their parameters that require grad are stacked, frozen ones
    kept as constants. :meth:`write_back` copies run r's present values into ``models[r]``, which can then be
    measured by every function written for one model.
    """

    def __init__(self, models: list[TopicTransformer]):
        if not models:
            raise ValueError("a RunStack needs at least one model")
        first = models[0].config
        for index, model in enumerate(models):
            differs = [f for f in SHAPE_FIELDS if getattr(model.config, f) != getattr(first, f)]
            if differs:
                raise ValueError(f"model {index} differs from model 0 in {differs}: runs of one stack share a shape")
        self.models, self.config = list(models), first
        self.vocab = first.vocab
        reference = dict(models[0].named_parameters())
        self.names = [name for name, p in reference.items() if p.requires_grad]
        for index, model in enumerate(models):
            trained = [name for name, p in model.named_parameters() if p.requires_grad]
            if trained != self.names:
                raise ValueError(f"model {index} trains {trained}, model 0 trains {self.names}")
        if not self.names:
            raise ValueError("the models have no trained matrices")
        shapes = {name: tuple(reference[name].shape) for name in self.names}
        self.dtype = reference[self.names[0]].dtype
        blocks = [torch.stack([dict(m.named_parameters())[n].detach() for m in models]) for n in self.names]
        self.flat = torch.cat([block.reshape(-1) for block in blocks])  # values, updated in place by the optimiser
        self.grad = torch.zeros_like(self.flat)  # where backward accumulates (never reallocated)
        self.leaves, self.blocks, start = {}, [], 0
        for name in self.names:
            size = len(models) * math.prod(shapes[name])
            self.blocks.append((start, start + size))
            leaf = self.flat[start : start + size].view(len(models), *shapes[name]).requires_grad_(True)
            leaf.grad = self.grad[start : start + size].view(len(models), *shapes[name])
            self.leaves[name] = leaf
            start += size
        # frozen parameters and buffers (one-hot E, identity W_V or W_pred), stacked per run
        self.constants = {
            name: torch.stack([getattr(m, name).detach() for m in models])
            for name in ("embedding", "W_K", "W_Q", "W_V", "W_pred")
            if name not in self.names and getattr(models[0], name, None) is not None
        }

    def zero_grad(self) -> None:
        """Zero ``grad`` in place (the leaves' gradients are its views)."""
        self.grad.zero_()

    @property
    def runs(self) -> int:
        """R, the number of runs."""
        return len(self.models)

    def run_values(self, r: int) -> torch.Tensor:
        """(P,) run r's trained matrices, flattened in the order of ``names``."""
        return torch.cat([self.leaves[name][r].detach().reshape(-1) for name in self.names])

    def matrix(self, name: str) -> torch.Tensor:
        """(R, *shape) run by run: the trained leaf (a view of ``flat``) or the stacked constant (frozen)."""
        return self.leaves[name] if name in self.leaves else self.constants[name]

    def token_tables(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor | None]:
        """(R, vocab, d) keys ``E W_K^T``, queries ``E W_Q^T``, values ``E W_V^T``, and the (R, V, d) decoder
        (None for the identity decoder ``[I_V | 0]``), as :meth:`model.TopicTransformer._token_tables` per run."""
        config = self.config
        embedding, onehot = self.matrix("embedding"), config.embedding == "onehot"

        def embed(name: str) -> torch.Tensor:
            W = self.matrix(name).transpose(1, 2)
            return W if onehot else torch.bmm(embedding, W)

        keys, queries = (embed(n) for n in ("W_K", "W_Q")) if config.attention == "trained" else (None, None)
        values = embedding if config.value == "identity" else embed("W_V")
        if config.decoder == "identity":
            decoder = None
        elif config.decoder == "tied":
            decoder = embedding[:, : self.vocab.num_words]
        else:
            decoder = self.matrix("W_pred")
        return keys, queries, values, decoder

    def losses(
        self,
        batches: list[MaskedBatch | None],
        score_by_table: bool | None = None,
        decode_by_table: bool | None = None,
    ) -> torch.Tensor:
        """(R,) each run's mean loss on its batch (``batches[r]``; None: the run sits this step out, loss 0).

        Equal to ``models[r].loss(batches[r])`` at the stack's present values, up to float rounding; its
        gradient reaches ``flat``. Cross-entropy only. ``score_by_table``, ``decode_by_table``: the routes of
        :meth:`model.TopicTransformer.chosen_logits` (None: the cheaper for the whole stack).
        """
        if len(batches) != self.runs:
            raise ValueError(f"one batch (or None) per run: got {len(batches)} for {self.runs} runs")
        if self.config.loss != "cross_entropy":
            raise ValueError(f"stacked runs train with the cross-entropy loss, got loss={self.config.loss!r}")
        stacked = stack_batches(batches, self.vocab.pad_id)
        keys, queries, values, decoder = self.token_tables()
        if self.config.attention == "uniform":
            return _uniform_losses(self, stacked, decoder, self.runs)
        plan = _pair_plan(stacked, self.runs, self.vocab.size, self.vocab.num_words, self.dtype)
        plan.score_by_table, plan.decode_by_table = score_by_table, decode_by_table
        if plan.row.numel() == 0:  # no chosen position in any batch: zero losses that still have a graph
            return sum(leaf.sum() for leaf in self.leaves.values()) * torch.zeros(self.runs, dtype=self.dtype)
        empty = values.new_zeros(0)
        return _PairLoss.apply(queries, keys, values, empty if decoder is None else decoder, plan)

    @torch.no_grad()
    def write_back(self, runs=None) -> None:
        """Copy the stack's present values into ``models[r]`` for each r in ``runs`` (default: every run)."""
        for r in range(self.runs) if runs is None else runs:
            parameters = dict(self.models[r].named_parameters())
            for name in self.names:
                parameters[name].copy_(self.leaves[name][r])


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
class _PairPlan:
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


def _pair_plan(stacked: StackedBatch, runs: int, vocab_size: int, num_words: int, dtype) -> _PairPlan:
    """The pairs of :class:`_PairPlan`, in (document, token) order, so grouped by run."""
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
    return _PairPlan(
        segments=_Segments(run, runs),
        row=run * vocab_size + token,
        log_counts=log_counts.index_select(0, pair_doc),
        live=~keyless.index_select(0, pair_doc) if keyless.any() else None,
        label_counts=label_counts,
        counts=label_counts.sum(1),
        weight=(1 / per_run.clamp(min=1)).index_select(0, run),
        num_words=num_words,
    )


class _PairLoss(torch.autograd.Function):
    """(R,) per-run mean cross-entropy of the chosen queries from the (R, vocab, d) token tables, with its backward
    written out (module docstring). decoder: (R, V, d), or empty for the identity decoder."""

    @staticmethod
    def forward(ctx, queries, keys, values, decoder, plan: _PairPlan):
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
        log_partition = torch.logsumexp(logits, dim=-1)  # (U,)
        per_pair = plan.counts * log_partition - (logits * plan.label_counts).sum(-1)
        losses = torch.zeros(runs, dtype=values.dtype).index_add_(0, segments.run, plan.weight * per_pair)
        ctx.plan, ctx.identity, ctx.mass = plan, identity, mass
        ctx.probabilities = torch.exp(logits - log_partition[:, None])
        ctx.save_for_backward(queries, keys, values, decoder)
        return losses

    @staticmethod
    def backward(ctx, grad_losses):
        queries, keys, values, decoder = ctx.saved_tensors
        plan, mass, segments = ctx.plan, ctx.mass, ctx.plan.segments
        runs, vocab_size, d = values.shape
        V = plan.num_words
        scale = grad_losses.index_select(0, segments.run) * plan.weight  # (U,)
        grad_logits = scale[:, None] * (plan.counts[:, None] * ctx.probabilities - plan.label_counts)  # (U, V)
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


def _uniform_losses(stack: RunStack, stacked: StackedBatch, decoder: torch.Tensor | None, runs: int) -> torch.Tensor:
    """(R,) per-run mean cross-entropy with attention frozen uniform: every query of a document gets the document's
    logits ``bag E W_V^T W_pred^T`` (bag: the visible keys' share per token type), as the one-run route computes."""
    inputs, key_visible, V = stacked.inputs, stacked.key_visible, stack.vocab.num_words
    dtype = stack.dtype
    weights = key_visible.to(dtype) / key_visible.sum(1, keepdim=True).clamp(min=1)
    bag = torch.zeros(inputs.shape[0], stack.vocab.size, dtype=dtype).scatter_add_(1, inputs, weights)  # (B, vocab)
    documents = _Segments(stacked.doc_run, runs)
    config = stack.config
    context = bag if config.embedding == "onehot" else documents.times(bag, stack.matrix("embedding"))
    if config.value == "trained":
        context = documents.times(context, stack.matrix("W_V").transpose(1, 2))
    logits = context[:, :V] if decoder is None else documents.times(context, decoder.transpose(1, 2))  # (B, V)
    labels, chosen = stacked.labels, stacked.chosen & (stacked.labels != IGNORE_LABEL)
    doc, position = chosen.nonzero(as_tuple=True)
    label_counts = torch.zeros(inputs.shape[0], V, dtype=dtype)
    label_counts.index_put_((doc, labels[doc, position]), torch.ones((), dtype=dtype), accumulate=True)
    per_run = torch.bincount(stacked.doc_run[doc], minlength=runs).to(dtype)
    per_doc = label_counts.sum(1) * torch.logsumexp(logits, -1) - (logits * label_counts).sum(-1)
    weight = (1 / per_run.clamp(min=1)).index_select(0, stacked.doc_run)
    return torch.zeros(runs, dtype=dtype).index_add(0, stacked.doc_run, weight * per_doc)
