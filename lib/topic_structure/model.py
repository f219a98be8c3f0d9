"""The one-layer, one-head transformer of THEORY.md §3, with every switch the claims use.

    scores(k, q) = (W_K e_k) . (W_Q e_q) / sqrt(d)          softmax over the visible keys k
    logits(q)    = W_pred W_V sum_k attn(k, q) e_k            no residual, LayerNorm or MLP

Shapes follow ``nn.Linear``: ``E`` is (vocab, d) with ``e_w = E[w]``; ``W_K, W_Q, W_V`` are (d, d);
``W_pred`` is (V, d) and predicts content words only (labels are always content words).

Two ways to the same numbers: :meth:`TopicTransformer.forward` builds the full (B, N, N) attention (for
measurements and figures); the training loss, :meth:`TopicTransformer.loss`, goes through
:meth:`TopicTransformer.chosen_logits`, which attends only from the chosen queries and groups the keys by token
type (a score depends on the two tokens only), so it never forms a query x key tensor.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from topic_structure.data import Vocabulary
from topic_structure.masking import IGNORE_LABEL, MaskedBatch
from topic_structure.params import check_choice, check_float, check_int, check_seed

EMBEDDINGS = ("onehot", "trained")
ATTENTIONS = ("trained", "uniform")
VALUES = ("trained", "identity")
DECODERS = ("identity", "tied", "trained")
LOSSES = ("cross_entropy", "squared")


@dataclass(frozen=True)
class ModelConfig:
    """Which parts are trained, and how each trained matrix starts (entries ~ N(0, scale^2))."""

    num_topics: int = 10
    words_per_topic: int = 10
    embedding: str = "onehot"  # "onehot": frozen identity, d = vocabulary size | "trained"
    d_model: int | None = None  # required for trained embeddings
    attention: str = "trained"  # "trained" | "uniform": W_K = W_Q = 0, frozen
    value: str = "trained"  # "trained" | "identity": frozen
    decoder: str = "identity"  # "identity": [I_V | 0], frozen | "tied": E's content rows | "trained"
    init_scale: float = 0.01
    embedding_init: float | None = None  # None: init_scale
    key_init: float | None = None
    query_init: float | None = None
    value_init: float | None = None
    decoder_init: float | None = None
    loss: str = "cross_entropy"  # "cross_entropy" | "squared": 0.5 ||logits - onehot(label)||^2

    def __post_init__(self) -> None:
        _ = self.vocab  # validates the topic counts
        check_choice("embedding", self.embedding, EMBEDDINGS)
        check_choice("attention", self.attention, ATTENTIONS)
        check_choice("value", self.value, VALUES)
        check_choice("decoder", self.decoder, DECODERS)
        check_choice("loss", self.loss, LOSSES)
        for name in ("init_scale", "embedding_init", "key_init", "query_init", "value_init", "decoder_init"):
            if getattr(self, name) is not None:
                check_float(name, getattr(self, name), 0.0)
        if self.embedding == "trained":
            if self.d_model is None:
                raise ValueError("d_model must be given (an integer >= 1) when embedding='trained'")
            check_int("d_model", self.d_model, 1)
        elif self.d_model not in (None, self.vocab.size):
            raise ValueError(
                f"d_model must be None or {self.vocab.size} (the vocabulary size) for one-hot embeddings, "
                f"got {self.d_model}"
            )
        if self.decoder == "identity" and self.width < self.vocab.num_words:
            raise ValueError(f"decoder='identity' needs d_model >= V = {self.vocab.num_words}, got {self.width}")

    @property
    def vocab(self) -> Vocabulary:
        """The vocabulary of ``num_topics`` x ``words_per_topic`` content words and the special tokens."""
        return Vocabulary(self.num_topics, self.words_per_topic)

    @property
    def width(self) -> int:
        """d, the embedding dimension."""
        return self.vocab.size if self.embedding == "onehot" else self.d_model

    def scale(self, name: str) -> float:
        """Initial entry scale of the matrix ``name`` ("embedding", "key", ...): its own, else ``init_scale``."""
        own = getattr(self, f"{name}_init")
        return self.init_scale if own is None else own


class ModelOutput(NamedTuple):
    """What :meth:`TopicTransformer.forward` returns."""

    logits: torch.Tensor  # (M, V) at the queried positions, or (B, N, V) at every position
    attention: torch.Tensor | None  # (M, N) or (B, N, N) [query, key]; None for uniform attention


class TopicTransformer(nn.Module):
    """The one-layer, one-head model of the module docstring; ``seed`` draws the trained matrices."""

    def __init__(self, config: ModelConfig, seed: int = 0):
        super().__init__()
        self.config = config
        vocab, d = config.vocab, config.width
        generator = torch.Generator().manual_seed(check_seed(seed))

        def trained(shape, name):
            return nn.Parameter(torch.randn(shape, generator=generator) * config.scale(name))

        if config.embedding == "trained":
            self.embedding = trained((vocab.size, d), "embedding")
        else:
            self.register_buffer("embedding", torch.eye(vocab.size))
        if config.attention == "trained":
            self.W_K = trained((d, d), "key")
            self.W_Q = trained((d, d), "query")
        else:
            self.W_K = self.W_Q = None
        if config.value == "trained":
            self.W_V = trained((d, d), "value")
        else:
            self.register_buffer("W_V", torch.eye(d))
        if config.decoder == "trained":
            self.W_pred = trained((vocab.num_words, d), "decoder")
        elif config.decoder == "identity":
            self.register_buffer("W_pred", torch.eye(vocab.num_words, d))
        else:
            self.W_pred = None  # tied: read from the embedding at use

    @property
    def vocab(self) -> Vocabulary:
        """The model's vocabulary."""
        return self.config.vocab

    def decoder_weight(self) -> torch.Tensor:
        """(V, d) W_pred."""
        return self.embedding[: self.vocab.num_words] if self.config.decoder == "tied" else self.W_pred

    def forward(
        self, inputs: torch.Tensor, key_visible: torch.Tensor, query_mask: torch.Tensor | None = None
    ) -> ModelOutput:
        """inputs, key_visible, query_mask: (B, N). Logits only at ``query_mask`` positions if given.

        A query with no visible key gets a zero context vector (its softmax has nothing to normalise).
        """
        if self.config.attention == "uniform":
            doc_logits = self._document_logits(inputs, key_visible)  # (B, V)
            if query_mask is None:
                return ModelOutput(doc_logits[:, None, :].expand(-1, inputs.shape[1], -1), None)
            # index_select, not [ ]: the same rows, and its backward (index_add) is much faster than index_put's
            return ModelOutput(doc_logits.index_select(0, query_mask.nonzero()[:, 0]), None)
        x = self.embedding[inputs]  # (B, N, d)
        queries, keys, values = x @ self.W_Q.T, x @ self.W_K.T, x @ self.W_V.T
        scores = queries @ keys.transpose(1, 2) / math.sqrt(self.config.width)  # (B, Nq, Nk)
        scores = scores.masked_fill(~key_visible[:, None, :], float("-inf"))
        attention = torch.softmax(scores, dim=-1).nan_to_num(0.0)
        context = attention @ values  # (B, N, d)
        if query_mask is not None:
            context, attention = context[query_mask], attention[query_mask]
        return ModelOutput(context @ self.decoder_weight().T, attention)

    def _document_logits(self, inputs: torch.Tensor, key_visible: torch.Tensor) -> torch.Tensor:
        """Uniform attention: (B, V) logits of each document's queries, from inputs and key_visible (B, N).

        Every query of a document sees the same average of its visible keys' value vectors, so one bag of words
        per document replaces the N x N attention, and the logits are decoded once per document."""
        dtype = self.embedding.dtype
        weights = key_visible.to(dtype) / key_visible.sum(1, keepdim=True).clamp(min=1)  # (B, N)
        bag = torch.zeros(inputs.shape[0], self.vocab.size, dtype=dtype).scatter_add_(1, inputs, weights)
        # bag: (B, vocab) attention mass per token type
        return (bag @ self.embedding) @ self.W_V.T @ self.decoder_weight().T

    def _uniform_loss(self, batch: MaskedBatch) -> torch.Tensor:
        """:meth:`loss` under uniform attention, per document: its chosen positions all have its logits, so the
        mean over the M chosen positions is a sum over (document, label) pairs weighted by how often the label is
        chosen there, without the (M, V) logits (the same loss and gradients up to float rounding)."""
        logits = self._document_logits(batch.inputs, batch.key_visible)  # (B, V)
        scored = batch.chosen & (batch.labels != IGNORE_LABEL)  # (B, N)
        counts = torch.zeros_like(logits).scatter_add_(
            1, batch.labels.clamp(min=0), scored.to(logits.dtype)
        )  # (B, V): how often each label is chosen in each document
        chosen = counts.sum()
        if chosen == 0:  # nothing chosen: a zero loss that still has a graph
            return logits.sum() * 0.0
        if self.config.loss == "cross_entropy":
            return (counts * (torch.logsumexp(logits, 1, keepdim=True) - logits)).sum() / chosen
        # 0.5 ||logits - e_y||^2 summed over the chosen labels y of each document
        chosen_per_document = counts.sum(1)  # (B,)
        per_document = chosen_per_document * (logits**2).sum(1) - 2 * (counts * logits).sum(1) + chosen_per_document
        return 0.5 * per_document.sum() / chosen

    def loss(self, batch: MaskedBatch, dense: bool = False) -> torch.Tensor:
        """Mean loss over the chosen positions of ``batch``: what the optimiser sees.

        By default the logits come from :meth:`chosen_logits` (attention rows only for the chosen
        queries, aggregated per token type), or per document under uniform attention (:meth:`_uniform_loss`);
        ``dense=True`` reads them from :meth:`forward` instead. All give the same loss and gradients up to float
        rounding.
        """
        if dense:
            logits = self(batch.inputs, batch.key_visible, batch.chosen).logits  # (M, V)
        elif self.config.attention == "uniform":
            return self._uniform_loss(batch)
        else:
            logits = self.chosen_logits(batch.inputs, batch.key_visible, batch.chosen)  # (M, V)
        labels = batch.labels[batch.chosen]
        return prediction_loss(logits, labels, self.config.loss)

    def chosen_logits(
        self,
        inputs: torch.Tensor,
        key_visible: torch.Tensor,
        query_mask: torch.Tensor,
        score_by_table: bool | None = None,
        decode_by_table: bool | None = None,
    ) -> torch.Tensor:
        """(M, V) logits at the M ``query_mask`` positions (row-major order), without the N x N attention.

        inputs, key_visible, query_mask: (B, N). Equal to ``forward(inputs, key_visible, query_mask).logits``
        up to float rounding, gradients included. A score depends on the tokens only, not on positions, so
        a query's softmax over its document's visible keys is a softmax over token types weighted by their
        visible counts ``c`` (B, vocab): the attention mass on type k is ``c_k exp(s_k) / sum_k' c_k' exp(s_k')``,
        and the context vector is that mass times the (vocab, d) value rows ``W_V e_k``. Queries showing the
        same token in the same document (most are [MASK]) have the same logits: each such pair is computed once.

        score_by_table: take the scores as rows of the (vocab, vocab) table ``E W_Q^T W_K E^T`` (True) or as
            queries times the (vocab, d) keys (False); None: whichever costs fewer multiplications.
        decode_by_table: decode through the (vocab, V) table ``E W_V^T W_pred^T`` (True) or through context
            vectors (False); None: the cheaper.
        A query with no visible key gets zero logits, as in :meth:`forward`.
        """
        if self.config.attention == "uniform":
            return self(inputs, key_visible, query_mask).logits
        dtype, d, vocab_size, V = self.embedding.dtype, self.config.width, self.vocab.size, self.vocab.num_words
        doc, position = query_mask.nonzero(as_tuple=True)  # (M,) each: where the queries are
        pairs, which = torch.unique(doc * vocab_size + inputs[doc, position], return_inverse=True)
        doc, query_tokens = pairs // vocab_size, pairs % vocab_size  # (U,) distinct (document, query token) pairs
        num_queries = query_tokens.shape[0]
        counts = torch.zeros(inputs.shape[0], vocab_size, dtype=torch.long).scatter_add_(1, inputs, key_visible.long())
        # log c_k folds the key counts into the softmax: log 0 = -inf masks the absent types like invisible keys.
        # A document without any visible key gets a finite row, and its queries' mass is zeroed below, so that
        # no NaN reaches the gradient. The logs are looked up: log(0) is slow to evaluate elementwise.
        keyless = counts.sum(1) == 0  # (B,)
        log_counts = torch.arange(inputs.shape[1] + 1, dtype=dtype).log()[counts]  # (B, vocab), constant
        log_counts = log_counts.masked_fill(keyless[:, None], 0.0)
        keys, queries, values = self._token_tables()  # (vocab, d) each: row k is W e_k
        if score_by_table is None:
            score_by_table = vocab_size <= num_queries  # vocab^2 d against U vocab d multiplications
        # index_select rather than [ ]: its backward (index_add) is much faster than index_put's
        if score_by_table:
            scores = ((queries @ keys.T) / math.sqrt(d)).index_select(0, query_tokens)  # (U, vocab) [query, key type]
        else:
            scores = (queries.index_select(0, query_tokens) @ keys.T) / math.sqrt(d)
        mass = torch.softmax(scores + log_counts.index_select(0, doc), dim=-1)  # (U, vocab) attention mass per type
        if keyless.any():
            mass = mass * ~keyless[doc, None]
        decoder = self.decoder_weight()  # (V, d)
        identity_decoder = self.config.decoder == "identity"
        if decode_by_table is None:
            table_cost = (0 if identity_decoder else vocab_size * d) + num_queries * vocab_size
            context_cost = num_queries * (vocab_size + V)
            decode_by_table = table_cost * V <= context_cost * d
        if decode_by_table:
            # W_pred = [I_V | 0]: multiplying by it only selects the first V coordinates
            outputs = values[:, :V] if identity_decoder else values @ decoder.T  # (vocab, V)
            logits = mass @ outputs
        else:
            logits = (mass @ values) @ decoder.T
        return logits.index_select(0, which)  # (M, V)

    def attention_map(self, inputs: torch.Tensor, key_visible: torch.Tensor) -> torch.Tensor:
        """(B, N, N) [query, key] attention of every position, as :meth:`forward` returns it, without values or logits.

        inputs, key_visible: (B, N). Scores are read from the (vocab, vocab) table ``E W_Q^T W_K E^T / sqrt(d)``
        instead of (B, N, N, d) products; uniform attention gives each visible key ``1 / (number visible)``.
        A query with no visible key gets a zero row. For measurements and figures, which need every row.
        """
        if self.config.attention == "uniform":
            weights = key_visible.to(self.embedding.dtype) / key_visible.sum(1, keepdim=True).clamp(min=1)  # (B, N)
            return weights[:, None, :].expand(-1, inputs.shape[1], -1)
        keys, queries, _ = self._token_tables()
        table = (queries @ keys.T) / math.sqrt(self.config.width)  # (vocab, vocab) [query token, key token]
        scores = table[inputs[:, :, None], inputs[:, None, :]]  # (B, N, N)
        scores = scores.masked_fill(~key_visible[:, None, :], float("-inf"))
        return torch.softmax(scores, dim=-1).nan_to_num(0.0)

    def token_attention(self, inputs: torch.Tensor, key_visible: torch.Tensor) -> torch.Tensor:
        """(B, vocab, vocab) [query token, key token]: the weight a query showing token t in document b gives
        to one visible key showing token u, i.e. :meth:`attention_map`'s entries grouped by type.

        inputs, key_visible: (B, N). Scores depend on tokens only, so with ``c_b(u)`` the visible keys of type
        u in document b the weight is ``exp(s_tu) / sum_u' c_b(u') exp(s_tu')``, computed in float64 from the
        model's score table. Entries for types a document does not show are finite but meaningless; a document
        without a visible key gets zeros.
        """
        dtype = self.embedding.dtype
        counts = torch.zeros(inputs.shape[0], self.vocab.size, dtype=dtype).scatter_add_(
            1, inputs, key_visible.to(dtype)
        )
        keyless = counts.sum(1) == 0  # (B,)
        if self.config.attention == "uniform":
            weights = 1.0 / counts.sum(1).clamp(min=1)  # (B,)
            out = weights[:, None, None].expand(-1, self.vocab.size, self.vocab.size)
            return out.masked_fill(keyless[:, None, None], 0.0)
        keys, queries, _ = self._token_tables()
        table = ((queries @ keys.T) / math.sqrt(self.config.width)).double()  # (vocab, vocab) [query, key token]
        # Shifting each row by its largest score leaves the softmax unchanged; float64 keeps every visible key's
        # exponential far above underflow (a row would need score gaps above 700).
        exponentials = torch.exp(table - table.max(1, keepdim=True).values)  # (vocab, vocab)
        normaliser = counts.double() @ exponentials.T  # (B, vocab): sum over visible keys, per query token
        normaliser = normaliser.masked_fill(keyless[:, None], 1.0)  # nothing to normalise
        return (exponentials[None] / normaliser[:, :, None]).masked_fill(keyless[:, None, None], 0.0)

    def _token_tables(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(vocab, d) key, query and value vectors of every token: ``E W_K^T``, ``E W_Q^T``, ``E W_V^T``.

        Products with a one-hot embedding (E = I) or an identity value matrix are skipped: they would
        only copy entries.
        """
        embedding, onehot = self.embedding, self.config.embedding == "onehot"

        def embed(W):
            return W.T if onehot else embedding @ W.T

        values = embedding if self.config.value == "identity" else embed(self.W_V)
        return embed(self.W_K), embed(self.W_Q), values

    def l2_penalty(self) -> torch.Tensor:
        """``(1/2) sum ||W||_F^2`` over the trained matrices (SGD weight_decay = lambda adds lambda W)."""
        return 0.5 * sum((p**2).sum() for p in self.parameters())

    # Token-space views: what the claims are stated about.

    def gram(self) -> torch.Tensor:
        """(V, V) ``E E^T`` over content words (the identity for one-hot embeddings, without the product)."""
        content = self.embedding[: self.vocab.num_words]
        if self.config.embedding == "onehot":
            return torch.eye(self.vocab.num_words, dtype=content.dtype)
        return content @ content.T

    def score_matrix(self) -> torch.Tensor:
        """(vocab, vocab) attention score of key token k for query token q, indexed [k, q]."""
        if self.config.attention == "uniform":
            return torch.zeros(self.vocab.size, self.vocab.size, dtype=self.embedding.dtype)
        if self.config.embedding == "onehot":  # E = I: the products would only copy entries
            keys, queries = self.W_K.T.contiguous(), self.W_Q.T.contiguous()  # the layout of the products
        else:
            keys, queries = self.embedding @ self.W_K.T, self.embedding @ self.W_Q.T
        return keys @ queries.T / math.sqrt(self.config.width)

    def value_output_matrix(self) -> torch.Tensor:
        """(V, vocab) ``W_pred W_V E^T``: the logit of word y per unit of attention on token k.

        For one-hot embeddings and ``W_pred = I`` this is ``W_V`` itself (restricted to V rows).
        """
        if self.config.embedding == "onehot" and self.config.decoder == "tied":  # W_pred = E[:V] = I: rows of W_V
            return self.W_V[: self.vocab.num_words]
        value_output = self.decoder_weight() @ self.W_V
        return value_output if self.config.embedding == "onehot" else value_output @ self.embedding.T

    def matrix_norms(self) -> dict[str, float]:
        """Frobenius norms of E, W_K, W_Q, W_V (frozen ones included, for a complete record)."""
        norms = {"E": self.embedding, "W_K": self.W_K, "W_Q": self.W_Q, "W_V": self.W_V}
        return {name: (0.0 if m is None else float(m.detach().norm())) for name, m in norms.items()}


def prediction_loss(logits: torch.Tensor, labels: torch.Tensor, loss: str = "cross_entropy") -> torch.Tensor:
    """Mean cross-entropy or squared loss of (M, V) logits against (M,) labels, ignoring IGNORE_LABEL."""
    check_choice("loss", loss, LOSSES)
    keep = labels != IGNORE_LABEL
    if not keep.all():
        logits, labels = logits[keep], labels[keep]
    if labels.numel() == 0:  # nothing chosen: a zero loss that still has a graph
        return logits.sum() * 0.0
    if loss == "cross_entropy":
        return F.cross_entropy(logits, labels)
    return 0.5 * ((logits - F.one_hot(labels, logits.shape[-1]).float()) ** 2).sum(-1).mean()
