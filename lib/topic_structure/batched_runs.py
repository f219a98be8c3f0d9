"""The runs of notebooks 08 and 09 stacked (:mod:`batched`): the same curves, losses and trained models as
:func:`lda_runs.lda_run` and :func:`attention_over_training.sweep_run` point by point, in one process.

:func:`lda_runs` and :func:`sweep_runs` take the notebooks' lists of points (the keyword arguments of the one-run
functions) and return the same results in the same order. Points that share a vocabulary and a decoder are trained
as one :class:`batched.RunStack` (their seeds, data settings, optimisers and lengths are their own); every snapshot
is measured for all runs of a stack at once (:func:`structures`, :func:`paper_averages`): the matrices' block
averages and the attention ratios on each run's probe from the runs' token attention, as
:func:`lda_runs.structure` and :class:`attention_over_training.PaperPairs` compute them for one model.
:func:`map_lda_runs` and :func:`map_sweep_runs` (what the notebooks call) spread the stacks over Dask workers in bins of
about equal work, one worker per core, or as many as the runner gives the notebook (in a report, which already runs a
notebook on every core, one: the notebook's own process; :func:`theory_collection.points.notebook_workers`).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import torch

from theory_collection.points import map_points, notebook_workers
from topic_structure import attention_over_training as at
from topic_structure import lda_runs as lda
from topic_structure.batched import RunStack
from topic_structure.batched_training import train_runs
from topic_structure.measurements import BLOCKS, block_masks, masses_relative_to_uniform
from topic_structure.training import corpus_batches


def _block_means(matrices: torch.Tensor, vocab) -> torch.Tensor:
    """(n, 3) float64 means of the diagonal, same-topic and different-topic entries of (n, >=V, >=V) matrices
    (:func:`measurements.block_averages` of each)."""
    V = vocab.num_words
    masks = block_masks(vocab)
    selector = torch.stack([masks[name].reshape(-1) for name in BLOCKS], 1).double()  # (V^2, 3)
    content = matrices.detach()[:, :V, :V].double().reshape(len(matrices), V * V)
    return (content @ selector) / selector.sum(0)


class _PairWeights:
    """Token-pair weights of several runs' documents (:class:`measurements.TokenPairWeights`), kept as their non-zero
    (run, document, query token, key token) entries: a weighted sum of token attention then reads only the pairs
    the documents show, not every (vocab x vocab) pair of every document.

    weights: one ``TokenPairWeights`` per run; counts: per run the (B, vocab) visible keys per type of its documents.
    """

    def __init__(self, weights: list, counts: list[torch.Tensor], vocab_size: int):
        self.runs, self.documents = len(weights), counts[0].shape[0]
        if any(c.shape[0] != self.documents for c in counts):
            raise ValueError("every run's documents must be as many")
        self.counts = torch.stack(counts)  # (n, B, vocab)
        self.keyless = self.counts.sum(2) == 0  # (n, B): such a document's token attention is zero
        rows, values = [], []
        for run, w in enumerate(weights):
            folded = w.folded  # (B, vocab^2, K)
            document, pair = (folded != 0).any(2).nonzero(as_tuple=True)
            rows.append(torch.stack([torch.full_like(document, run), document, pair // vocab_size, pair % vocab_size]))
            values.append(folded[document, pair])
        run, document, query, key = torch.cat(rows, 1)
        self.values = torch.cat(values)  # (nnz, K)
        self.exponential_index = (run * vocab_size + query) * vocab_size + key
        self.normaliser_index = (run * self.documents + document) * vocab_size + query
        self.document_index = run * self.documents + document

    def sums(self, keys: torch.Tensor, queries: torch.Tensor) -> torch.Tensor:
        """(n, B, K) per-document ``sum_{t, u} A[b, t, u] W[b, t, u, k]`` with A each run's
        :meth:`model.TopicTransformer.token_attention` on its documents (its float64 score table, each row shifted by
        its largest score; zero for a document without a visible key). keys, queries: the runs' (n, vocab, d)
        token tables, in the order the weights were built for."""
        with torch.no_grad():
            table = torch.bmm(queries, keys.transpose(1, 2)) / math.sqrt(keys.shape[2])
        table = table.double()
        exponentials = torch.exp(table - table.amax(2, keepdim=True))  # (n, vocab, vocab)
        normaliser = torch.bmm(self.counts.double(), exponentials.transpose(1, 2))  # (n, B, vocab)
        normaliser = normaliser.masked_fill(self.keyless[..., None], 1.0)
        attention = exponentials.reshape(-1)[self.exponential_index] / normaliser.reshape(-1)[self.normaliser_index]
        sums = torch.zeros(self.runs * self.documents, self.values.shape[1], dtype=torch.float64)
        sums.index_add_(0, self.document_index, attention[:, None] * self.values)
        return sums.view(self.runs, self.documents, -1).masked_fill(self.keyless[..., None], 0.0)


class _Probes:
    """What :func:`structures` and :func:`paper_averages` need of each run's probe, stacked once per run set."""

    def __init__(self, vocab, probes: list, pairs: list | None = None):
        self.vocab, self.probes, self.pairs = vocab, probes, pairs
        self._stacked = {}

    def stacked(self, runs: tuple[int, ...], kind: str) -> _PairWeights:
        """The :class:`_PairWeights` of the probes (``"probe"``) or whole documents (``"pairs"``) of ``runs``."""
        if (runs, kind) not in self._stacked:
            weights, counts = [], []
            for r in runs:
                if kind == "probe":
                    inputs, visible, folding = self.probes[r].inputs, self.probes[r].key_visible, self.probes[r].weights
                else:
                    inputs, visible, folding = self.pairs[r].tokens, self.pairs[r].visible, self.pairs[r].counts
                counts.append(torch.zeros(len(inputs), self.vocab.size).scatter_add_(1, inputs, visible.float()))
                weights.append(folding)
            self._stacked[runs, kind] = _PairWeights(weights, counts, self.vocab.size)
        return self._stacked[runs, kind]


_PAIRS = (("identical", "diagonal"), ("same", "same_topic"), ("diff", "diff_topic"))
_MASSES = (("identical", "identical"), ("same", "same_topic"), ("diff", "diff_topic"))


def _key_query_tables(stack: RunStack, index: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(n, vocab, d) keys ``E W_K^T`` and queries ``E W_Q^T`` of the runs ``index`` (their token tables alone)."""
    embedding = stack.matrix("embedding")[index].detach()
    return tuple(torch.bmm(embedding, stack.matrix(name)[index].detach().transpose(1, 2)) for name in ("W_K", "W_Q"))


@torch.no_grad()
def structures(stack: RunStack, runs: list[int], probes: _Probes) -> list[dict[str, float]]:
    """:func:`lda_runs.structure` of each run in ``runs`` at the stack's present values, on its own probe."""
    index, vocab = torch.tensor(runs), stack.vocab
    embedding = stack.matrix("embedding")[index].detach()
    content = embedding[:, : vocab.num_words]
    gram = _block_means(torch.bmm(content, content.transpose(1, 2)), vocab).tolist()
    decoder = stack.token_tables_decoder()[index]
    value_output = torch.bmm(torch.bmm(decoder, stack.matrix("W_V")[index]), embedding.transpose(1, 2))
    value = _block_means(value_output, vocab).tolist()
    sums = probes.stacked(tuple(runs), "probe").sums(*_key_query_tables(stack, index))  # (n, B, 3)
    norms = {
        name: torch.linalg.vector_norm(stack.matrix(name)[index].detach().flatten(1), dim=1).tolist()
        for name in ("embedding", "W_K", "W_Q", "W_V")
    }
    results = []
    for i, r in enumerate(runs):
        g, val = dict(zip(BLOCKS, gram[i])), dict(zip(BLOCKS, value[i]))
        weights = probes.probes[r]
        on_kind = {kind: sums[i, :, k] for k, kind in enumerate(weights.weights.kinds)}
        relative = masses_relative_to_uniform(on_kind, weights.uniform_sums)
        record = {
            "R_E": (g["diagonal"] - g["diff_topic"]) / (g["diagonal"] - g["same_topic"]),
            "R_V": math.exp(val["same_topic"] - val["diff_topic"]),
            "R_A": relative["same_topic"] / relative["diff_topic"],
            "R_I": relative["identical"] / relative["diff_topic"],
        }
        # lda_runs.structure's columns, in its order: block averages, relative masses, norms
        for prefix, blocks in (("gram", g), ("value", val)):
            record.update({f"{prefix}.{pair}": blocks[block] for pair, block in _PAIRS})
        record.update({f"attention.{pair}": relative[kind] for pair, kind in _MASSES})
        record.update({f"norm.{'E' if n == 'embedding' else n}": norms[n][i] for n in norms})
        results.append(record)
    return results


@torch.no_grad()
def paper_averages(stack: RunStack, runs: list[int], probes: _Probes) -> list[dict[str, float]]:
    """:func:`attention_over_training.paper_attention_averages` of each run in ``runs`` on its whole documents."""
    sums = probes.stacked(tuple(runs), "pairs").sums(*_key_query_tables(stack, torch.tensor(runs)))  # (n, B, K)
    results = []
    for i, r in enumerate(runs):
        pairs = probes.pairs[r].counts
        out = {
            kind: float(sums[i, :, k].sum() / pairs.totals[kind].sum()) if pairs.totals[kind].sum() > 0 else math.nan
            for k, kind in enumerate(pairs.kinds)
        }
        out["ratio"] = out["same_topic"] / out["diff_topic"]
        results.append(out)
    return results


def _groups(points: list[dict], decoder_of) -> list[list[int]]:
    """Indices of the points that share a stack: same vocabulary, decoder and longest document (a stack pads every
    run's batch to the longest, so short documents beside long ones would cost as much as long ones)."""
    keys = [
        (p["settings"]["num_topics"], p["settings"]["words_per_topic"], max(p["settings"]["doc_length"]), decoder_of(p))
        for p in points
    ]
    return [[i for i, k in enumerate(keys) if k == key] for key in dict.fromkeys(keys)]


def _bins(points: list[dict], decoder_of, workers: int) -> list[list[int]]:
    """The points' indices in at most ``workers`` bins of about equal work (training steps), each bin's runs
    stacked by :func:`_groups`: the largest stack is halved while it holds more than its share of the steps, then
    the stacks are dealt out, the largest first, each to the bin with the least work so far."""
    cost = [p["steps"] * (max(p["settings"]["doc_length"]) + 1) for p in points]

    def work(chunk: list[int]) -> int:
        return sum(cost[i] for i in chunk)

    chunks, share = _groups(points, decoder_of), sum(cost) / workers
    while True:
        largest = max(chunks, key=work)
        if len(largest) < 2 or work(largest) <= share:
            break
        chunks.remove(largest)
        chunks += [largest[: (len(largest) + 1) // 2], largest[(len(largest) + 1) // 2 :]]
    bins: list[list[int]] = [[] for _ in range(workers)]
    for chunk in sorted(chunks, key=work, reverse=True):
        min(bins, key=work).extend(chunk)
    return [sorted(b) for b in bins if b]


def _spread(run_points, points: list[dict], decoder_of, description: str, workers: int | None) -> list:
    """``run_points(points)`` with the points spread over Dask workers in :func:`_bins` (one bin per worker, the
    bin's runs stacked; :func:`theory_collection.points.map_points`), the results in the points' order."""
    bins = _bins(points, decoder_of, workers or notebook_workers())
    results: list = [None] * len(points)
    mapped = map_points(run_points, [{"points": [points[i] for i in b]} for b in bins], description=description)
    for chosen, outcome in zip(bins, mapped):
        for i, result in zip(chosen, outcome):
            results[i] = result
    return results


def map_lda_runs(points: list[dict], description: str = "runs", workers: int | None = None) -> list[tuple]:
    """:func:`lda_runs` with the points in ``workers`` bins (default one per core) that run side by side on Dask
    workers; the same results in the same order as ``[lda_runs.lda_run(**point) for point in points]``."""
    return _spread(lda_runs, points, lambda p: p["decoder"], description, workers)


def map_sweep_runs(points: list[dict], description: str = "runs", workers: int | None = None) -> list[tuple]:
    """:func:`sweep_runs` with the points in ``workers`` bins (default one per core) that run side by side on Dask
    workers; the same results in the same order as ``[attention_over_training.sweep_run(**point) for point in
    points]``."""
    return _spread(sweep_runs, points, lambda p: p["settings"]["decoder"], description, workers)


def _train_group(points: list[dict], decoders: list[str], measure, whole: bool) -> list[tuple]:
    """Train the points of one group as a stack, measuring every snapshot with ``measure(stack, runs, probes)``
    (a list of records per run). Returns per point (trained model, records, history, probe, data)."""
    data = [lda.lda_data(p["settings"], p["num_docs"], p["probe_docs"], p["data_seed"]) for p in points]
    configs = [
        lda.lda_train_config(p["settings"], p["steps"], p["batch_size"], p["log_every"], p["train_seed"])
        for p in points
    ]
    vocab = data[0][0].vocab
    models = [
        lda.lda_model(vocab, decoder, p["settings"]["init_scale"], c.seed)
        for p, decoder, c in zip(points, decoders, configs)
    ]
    weights = [lda.attention_probe(probe, vocab) for _, probe, _, _ in data]
    pairs = [at.PaperPairs(whole_docs) for _, _, whole_docs, _ in data] if whole else None
    probes = _Probes(vocab, weights, pairs)
    rows: list[list[dict]] = [[] for _ in points]
    everyone = list(range(len(points)))

    def on_snapshot(step: int, stack: RunStack, runs: list[int]) -> None:
        for r, record in zip(runs, measure(stack, runs, probes)):
            rows[r].append({"step": step, **record})

    first = RunStack(models)  # the initial states, measured before any step
    on_snapshot(0, first, everyone)
    histories = train_runs(
        models,
        [corpus_batches(corpus) for corpus, _, _, _ in data],
        [masking for _, _, _, masking in data],
        configs,
        probes=[probe for _, probe, _, _ in data],
        on_snapshot=on_snapshot,
        measure_probe=False,
    )
    unfinished = [r for r in everyone if rows[r][-1]["step"] != configs[r].steps]
    if unfinished:
        on_snapshot_final = RunStack([models[r] for r in unfinished])
        final = measure(on_snapshot_final, list(range(len(unfinished))), _Subset(probes, unfinished))
        for r, record in zip(unfinished, final):
            rows[r].append({"step": configs[r].steps, **record})
    return [(models[r], rows[r], histories[r], data[r]) for r in everyone]


class _Subset(_Probes):
    """The probes of some runs, renumbered 0, 1, ... (for a stack of those runs alone)."""

    def __init__(self, probes: _Probes, runs: list[int]):
        pairs = [probes.pairs[r] for r in runs] if probes.pairs is not None else None
        super().__init__(probes.vocab, [probes.probes[r] for r in runs], pairs)


def lda_runs(points: list[dict]) -> list[tuple]:
    """``[lda_runs.lda_run(**point) for point in points]``, the points stacked by vocabulary and decoder.

    Returns per point the trained model, its curves (one row per snapshot, :func:`lda_runs.structure`) and
    its mean training loss over the last three logged intervals, equal to the one-run route's up to float
    rounding.
    """
    results: list = [None] * len(points)
    for group in _groups(points, lambda p: p["decoder"]):
        chosen = [points[i] for i in group]
        trained = _train_group(chosen, [p["decoder"] for p in chosen], structures, whole=False)
        for i, (model, rows, history, _) in zip(group, trained):
            results[i] = (model, pd.DataFrame(rows), float(history.frame()["loss"].iloc[-3:].mean()))
    return results


def _attention_records(stack: RunStack, runs: list[int], probes: _Probes) -> list[dict]:
    """The records of :func:`attention_over_training.attention_run`: structure, value excess, the paper's metric."""
    records = []
    for record, paper in zip(structures(stack, runs, probes), paper_averages(stack, runs, probes)):
        record["value.excess"] = record["value.identical"] - record["value.same"]
        record.update({f"paper.{k}": value for k, value in paper.items()})
        records.append(record)
    return records


def sweep_runs(points: list[dict]) -> list[tuple[pd.DataFrame, dict[str, float]]]:
    """``[attention_over_training.sweep_run(**point) for point in points]``, the points stacked by vocabulary and
    decoder: per point its curves and :func:`attention_over_training.copy_over_topic` of the trained state."""
    results: list = [None] * len(points)
    for group in _groups(points, lambda p: p["settings"]["decoder"]):
        chosen = [points[i] for i in group]
        decoders = [p["settings"]["decoder"] for p in chosen]
        trained = _train_group(chosen, decoders, _attention_records, whole=True)
        for i, point, (model, rows, _, (_, probe, _, _)) in zip(group, chosen, trained):
            rng = np.random.default_rng([point["data_seed"], point["train_seed"]])
            results[i] = (pd.DataFrame(rows), at.copy_over_topic(model, probe, rng=rng))
    return results
