"""Training R runs at once (:class:`batched.RunStack`): per-run optimisers and the stacked twin of ``training.train``.

:class:`StackedOptimizer` does, run by run, what ``torch.optim.SGD`` (no momentum), ``Adam`` and ``AdamW`` do with
their default betas and epsilon, each run with its own optimiser, learning rate and weight decay, on the stack's
one storage. :func:`train_runs` is :func:`training.train` for R runs: each run draws its minibatches and
maskings from its own generator exactly as ``train`` would, logs its own history and snapshots, and may stop
earlier than the others; only the arithmetic of the steps is shared.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np
import torch
from tqdm.std import tqdm

from topic_structure.batched import RunStack
from topic_structure.masking import MaskedBatch, MaskingConfig, mask_documents
from topic_structure.model import TopicTransformer
from topic_structure.training import DocumentSource, History, TrainConfig, measure

BETAS, EPSILON = (0.9, 0.999), 1e-8  # torch's Adam and AdamW defaults, which training.make_optimizer uses


class StackedOptimizer:
    """SGD, Adam or AdamW per run over a :class:`batched.RunStack`'s leaf (R, P).

    optimizers, learning_rates, weight_decays: one per run (``weight_decay``: the L2 term added to the gradient
    for SGD and Adam, decoupled decay for AdamW, as :func:`training.make_optimizer`). :meth:`step` updates the
    runs marked active from ``stack.grad`` and leaves the others untouched; every run counts its own steps.
    """

    def __init__(self, stack: RunStack, optimizers: Sequence[str], learning_rates, weight_decays):
        runs = stack.runs
        if not (len(optimizers) == len(learning_rates) == len(weight_decays) == runs):
            raise ValueError(f"one optimizer, learning rate and weight decay per run ({runs} runs)")
        for kind in optimizers:
            if kind not in ("sgd", "adam", "adamw"):
                raise ValueError(f"optimizer must be one of ['sgd', 'adam', 'adamw'], got {kind!r}")
        self.stack, self.kinds = stack, list(optimizers)
        self.learning_rates = [float(x) for x in learning_rates]
        self.weight_decays = [float(x) for x in weight_decays]
        flat = stack.flat
        self.exp_avg = torch.zeros_like(flat, requires_grad=False)
        self.exp_avg_sq = torch.zeros_like(flat, requires_grad=False)
        self.steps = [0] * runs
        self.groups = self._groups()
        # scratch space reused every step: fresh megabyte-sized temporaries cost page faults each time
        self.scratch = (torch.empty_like(flat), torch.empty_like(flat))

    def _groups(self) -> list[tuple[str, list[int]]]:
        """Runs grouped by optimiser (each group stepped with one set of operations)."""
        return [(kind, [r for r, k in enumerate(self.kinds) if k == kind]) for kind in dict.fromkeys(self.kinds)]

    def _column(self, values: list[float]) -> torch.Tensor | float:
        """Per-run values (computed in double, as torch computes its scalars) as an (n, 1) tensor, or one float
        when they agree (then torch's own scalar operations)."""
        if all(x == values[0] for x in values):
            return values[0]
        return torch.tensor(values, dtype=self.stack.dtype)[:, None]

    @torch.no_grad()
    def step(self, active: Sequence[int] | None = None) -> None:
        """One step of each active run (default: all), from the gradient in ``stack.grad``."""
        active = set(range(self.stack.runs)) if active is None else set(active)
        for r in active:
            self.steps[r] += 1
        for kind, rows in self.groups:
            rows = [r for r in rows if r in active]
            if not rows:
                continue
            # by step count, as Adam's bias correction depends on it (runs started together share it)
            for count in sorted({self.steps[r] for r in rows}):
                self._update(kind, [r for r in rows if self.steps[r] == count], count)

    def _update(self, kind: str, rows: list[int], step: int) -> None:
        """One step of the runs ``rows`` (one optimiser, one step count)."""
        rates = self._column([self.learning_rates[r] for r in rows])
        decays = self._column([self.weight_decays[r] for r in rows])
        factors = self._column([1 - self.learning_rates[r] * self.weight_decays[r] for r in rows])  # AdamW
        beta1, beta2 = BETAS
        bias_correction1, bias_correction2 = 1 - beta1**step, 1 - beta2**step
        step_sizes = self._column([self.learning_rates[r] / bias_correction1 for r in rows])
        shared = all(isinstance(x, float) for x in (rates, decays, factors, step_sizes))
        for param, grad, exp_avg, exp_avg_sq, work, work_grad, done in self._views(rows, whole=shared):
            if kind == "adamw":
                param.mul_(factors)
            elif _any(decays):
                grad = torch.mul(param, decays, out=work_grad).add_(grad)
            if kind == "sgd":
                if isinstance(rates, float):
                    param.add_(grad, alpha=-rates)
                else:
                    param.sub_(torch.mul(grad, rates, out=work))
            else:
                exp_avg.lerp_(grad, 1 - beta1)
                exp_avg_sq.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
                denominator = torch.sqrt(exp_avg_sq, out=work).div_(math.sqrt(bias_correction2)).add_(EPSILON)
                if isinstance(step_sizes, float):
                    param.addcdiv_(exp_avg, denominator, value=-step_sizes)
                else:
                    param.sub_(torch.div(exp_avg, denominator, out=work_grad).mul_(step_sizes))
            done(param, exp_avg, exp_avg_sq)

    def _views(self, rows: list[int], whole: bool):
        """(param, grad, exp_avg, exp_avg_sq, scratch, scratch, write back) for the runs ``rows``: the whole storage
        at once when every run steps with the same settings (``whole``), else each matrix's (n, size) rows (views
        where the rows are contiguous)."""
        stack = self.stack
        tensors = (stack.flat, stack.grad, self.exp_avg, self.exp_avg_sq, *self.scratch)
        if whole and rows == list(range(stack.runs)):
            yield (*tensors, lambda *_: None)
            return
        contiguous = rows == list(range(rows[0], rows[-1] + 1))
        index = slice(rows[0], rows[-1] + 1) if contiguous else torch.tensor(rows)
        for start, end in stack.blocks:
            blocks = [t[start:end].view(stack.runs, -1) for t in tensors]
            parts = [block[index] for block in blocks]  # views when contiguous, else copies

            def write_back(param, exp_avg, exp_avg_sq, blocks=blocks):
                if not contiguous:
                    blocks[0][index], blocks[2][index], blocks[3][index] = param, exp_avg, exp_avg_sq

            yield (*parts, write_back)


def _any(value) -> bool:
    """Whether a per-run value (float or (n, 1) tensor) is non-zero anywhere."""
    return bool((value != 0).any()) if isinstance(value, torch.Tensor) else value != 0


def train_runs(
    models: list,
    sources: Sequence[DocumentSource],
    maskings: Sequence[MaskingConfig],
    configs: Sequence[TrainConfig],
    probes: Sequence[MaskedBatch | None] | None = None,
    on_snapshot: Callable[[int, RunStack, list[int]], None] | None = None,
    measure_probe: bool = True,
    description: str = "training (stacked runs)",
    progress: bool = False,
    measure_state: Callable[[TopicTransformer, MaskedBatch], dict] = measure,
) -> list[History]:
    """:func:`training.train` for R runs of one shape at once; run r is ``train(models[r], sources[r],
    maskings[r], configs[r], probes[r], on_snapshot=..., measure_probe=...)``.

    Each run keeps its own generator (``configs[r].seed``), batch size, optimiser, learning rate, weight decay,
    number of steps, logging and snapshots; its history equals the one-run route's up to float rounding, and
    ``models[r]`` ends in its trained state. ``on_snapshot(step, stack, runs)``: called at a step where the runs
    ``runs`` take a snapshot, with the stack holding their present values (``stack.write_back(runs)`` puts them
    into their models); without it snapshots are stored in the histories as ``train`` stores them.
    ``measure_state(model, probe)``: what a logged record measures (default :func:`training.measure`).
    """
    runs = len(models)
    if not (len(sources) == len(maskings) == len(configs) == runs):
        raise ValueError(f"one source, masking and train config per model ({runs} models)")
    probes = list(probes) if probes is not None else [None] * runs
    generators = [np.random.default_rng(config.seed) for config in configs]
    for r, config in enumerate(configs):
        if probes[r] is None:
            probe_rng = np.random.default_rng([config.seed, 1])
            probes[r] = mask_documents(sources[r](16, probe_rng), maskings[r], probe_rng)
    stack = RunStack(models)
    optimizer = StackedOptimizer(
        stack, [c.optimizer for c in configs], [c.learning_rate for c in configs], [c.weight_decay for c in configs]
    )
    histories = [History() for _ in range(runs)]

    def record(r: int, step: int, loss: float) -> dict:
        if not measure_probe:
            return {"step": step, "loss": loss}
        stack.write_back([r])
        return {"step": step, "loss": loss, **measure_state(models[r], probes[r])}

    for r in range(runs):
        histories[r].records.append(record(r, 0, float("nan")))
    running, counted = [0.0] * runs, [0] * runs
    last = max(config.steps for config in configs)
    for step in tqdm(range(1, last + 1), desc=description, disable=not progress, mininterval=1.0):
        active = [r for r in range(runs) if step <= configs[r].steps]
        batches = [None] * runs
        for r in active:
            drawn = sources[r](configs[r].batch_size, generators[r])  # documents, or a batch masked already
            batches[r] = drawn if isinstance(drawn, MaskedBatch) else mask_documents(drawn, maskings[r], generators[r])
        losses = stack.losses(batches)
        stack.zero_grad()
        losses.sum().backward()
        optimizer.step(active)
        values = losses.detach().tolist()
        snapshot_runs = []
        for r in active:
            config = configs[r]
            running[r], counted[r] = running[r] + values[r], counted[r] + 1
            if step % config.log_every == 0 or step == config.steps:
                histories[r].records.append(record(r, step, running[r] / counted[r]))
                running[r], counted[r] = 0.0, 0
            if config.snapshot_every and step % config.snapshot_every == 0:
                snapshot_runs.append(r)
        if snapshot_runs:
            if on_snapshot is not None:
                on_snapshot(step, stack, snapshot_runs)
            else:
                stack.write_back(snapshot_runs)
                for r in snapshot_runs:
                    histories[r].snapshots[step] = {
                        name: p.detach().clone() for name, p in models[r].named_parameters()
                    }
    stack.write_back()
    return histories
