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

How one step computes the R losses: :mod:`batched_loss`.
"""

from __future__ import annotations

import math

import torch

from topic_structure.batched_loss import (
    EmbeddedPairLoss,
    PairLoss,
    embedded_route_is_cheaper,
    pair_plan,
    stack_batches,
    uniform_losses,
)
from topic_structure.masking import MaskedBatch
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
        return keys, queries, values, self.token_tables_decoder()

    def token_tables_decoder(self) -> torch.Tensor | None:
        """(R, V, d) ``W_pred`` (tied: the embedding's content rows), None for the identity decoder."""
        if self.config.decoder == "identity":
            return None
        if self.config.decoder == "tied":
            return self.matrix("embedding")[:, : self.vocab.num_words]
        return self.matrix("W_pred")

    def losses(
        self,
        batches: list[MaskedBatch | None],
        score_by_table: bool | None = None,
        decode_by_table: bool | None = None,
        embedded: bool | None = None,
    ) -> torch.Tensor:
        """(R,) each run's mean loss on its batch (``batches[r]``; None: the run sits this step out, loss 0).

        Equal to ``models[r].loss(batches[r])`` at the stack's present values, up to float rounding; its
        gradient reaches ``flat``. Cross-entropy only. ``score_by_table``, ``decode_by_table``: the routes of
        :meth:`model.TopicTransformer.chosen_logits`; ``embedded``: :class:`batched_loss.EmbeddedPairLoss` (trained
        embeddings only) instead of token tables; None: the cheaper.
        """
        if len(batches) != self.runs:
            raise ValueError(f"one batch (or None) per run: got {len(batches)} for {self.runs} runs")
        if self.config.loss != "cross_entropy":
            raise ValueError(f"stacked runs train with the cross-entropy loss, got loss={self.config.loss!r}")
        config, stacked = self.config, stack_batches(batches, self.vocab.pad_id)
        value = self.matrix("W_V") if config.value == "trained" else None
        if config.attention == "uniform":
            decoder = self.token_tables_decoder()
            return uniform_losses(stacked, config, self.matrix("embedding"), value, decoder, self.runs)
        plan = pair_plan(stacked, self.runs, self.vocab.size, self.vocab.num_words, self.dtype)
        plan.score_by_table, plan.decode_by_table = score_by_table, decode_by_table
        if plan.row.numel() == 0:  # no chosen position in any batch: zero losses that still have a graph
            return sum(leaf.sum() for leaf in self.leaves.values()) * torch.zeros(self.runs, dtype=self.dtype)
        if embedded is None:
            pairs, trained_decoder = plan.row.numel(), config.decoder != "identity"
            sizes = (self.runs, pairs, self.vocab.size, config.width, self.vocab.num_words)
            embedded = config.embedding == "trained" and embedded_route_is_cheaper(
                *sizes, value is not None, trained_decoder
            )
        elif embedded and config.embedding != "trained":
            raise ValueError("the embedded route needs trained embeddings")
        empty = self.flat.new_zeros(0)
        if embedded:
            decoder = self.token_tables_decoder()
            parts = (self.matrix("embedding"), self.matrix("W_Q"), self.matrix("W_K"), value)
            return EmbeddedPairLoss.apply(*(empty if x is None else x for x in (*parts, decoder)), plan)
        keys, queries, values, decoder = self.token_tables()
        return PairLoss.apply(queries, keys, values, empty if decoder is None else decoder, plan)

    @torch.no_grad()
    def write_back(self, runs=None) -> None:
        """Copy the stack's present values into ``models[r]`` for each r in ``runs`` (default: every run)."""
        for r in range(self.runs) if runs is None else runs:
            parameters = dict(self.models[r].named_parameters())
            for name in self.names:
                parameters[name].copy_(self.leaves[name][r])
