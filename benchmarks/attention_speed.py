"""Side by side on the same batches: the collection's training step against the public code's dense computation.

    python benchmarks/attention_speed.py [--steps 40] [--repeats 5] [--threads 1]

Must be run on an idle machine for figures worth quoting (the README's come from one such run).

Configuration of the paper's public code: T = 10, v = 10 (one-hot embeddings of size 102), LDA alpha = 0.1,
documents of 100-150 words, batch 40, BERT masking 0.15 / 0.1 / 0.1, W_pred = I, Adam lr 0.01, W_V trained;
attention either frozen uniform or trained (W_K, W_Q).

For each attention setting the script trains copies of one model on the same ``--steps`` masked batches
(zero_grad, loss, backward, Adam step; batches made beforehand, so sampling and masking are not timed):

- the collection: ``TopicTransformer.loss`` with ``torch.optim.Adam`` (trained attention: rows only for the
  chosen queries, per token type; uniform: one bag of words per document);
- the collection's stacked route (``batched.RunStack`` with one run and ``batched_training.StackedOptimizer``:
  the same loss with its backward written out, the route the notebooks' training runs take);
- a dense reference doing what the public code's BERT computes: inputs as one-hot vectors multiplied by the
  embedding matrix, queries, keys and values at every position, (B, N, N) scores and softmax for every query,
  logits at every position, the loss read at the chosen ones.

It checks that every side gives the same loss on every batch (float32, relative gap printed), and prints input
positions (real words) per second of CPU time (medians over ``--repeats`` alternated repeats; wall-clock rates
beside them), the ratio to the dense reference, and how far each side is from the limit its work sets: the
step's floating-point operations in matrix products (``torch.utils.flop_counter``, forward and backward) at the
machine's matrix-product rate, measured here (the best of a few float32 products on ``--threads`` threads), give
the most positions per second the step could reach. Then the tensors each step keeps for its backward pass
(exact, for the sides that keep them through autograd), the peak resident memory of a separate process that runs
only that side, the rate of the library's whole ``train`` loop (sampling and masking included), the public code's
own figures as measured once elsewhere (an idle 2-core machine) and quoted, and each notebook's wall time from a report
(``--report``, default reports/latest and reports/paper: ``make report PROFILE=paper`` makes the latter). The
machine, its load and the date are printed: on a shared machine timings are noisy (CPU time less so than wall).
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import datetime
import math
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.flop_counter import FlopCounterMode

from theory_collection.runner import RUNS_FILE
from topic_structure.batched import RunStack
from topic_structure.batched_training import StackedOptimizer
from topic_structure.data import Vocabulary, sample_lda
from topic_structure.masking import IGNORE_LABEL, MaskedBatch, MaskingConfig, mask_documents
from topic_structure.model import ModelConfig, TopicTransformer
from topic_structure.training import TrainConfig, corpus_batches, make_optimizer, train

ROOT = Path(__file__).resolve().parents[1]
VOCAB = Vocabulary(10, 10)
MASKING = MaskingConfig(0.15, 0.1, 0.1)
BATCH_SIZE = 40
SIDES = ("collection", "collection, stacked", "dense reference")
# The paper's public code on its own configuration, one thread; quoted, never measured here.
PUBLIC_CODE_ONE_THREAD = {"uniform attention": 84_000, "trained attention": 73_000}


def make_batches(steps: int, seed: int = 0) -> list[MaskedBatch]:
    """``steps`` masked minibatches of 40 documents drawn from a fixed LDA corpus of 2,000."""
    corpus = sample_lda(VOCAB, 2000, alpha=0.1, doc_length=(100, 150), seed=seed)
    source, rng = corpus_batches(corpus), np.random.default_rng(seed)
    return [mask_documents(source(BATCH_SIZE, rng), MASKING, rng) for _ in range(steps)]


def make_model(attention: str) -> TopicTransformer:
    return TopicTransformer(
        ModelConfig(
            10,
            10,
            attention=attention,
            value="trained",
            decoder="identity",
            init_scale=0.01 if attention == "uniform" else 0.3,
        ),
        seed=0,
    )


def dense_reference_loss(model: TopicTransformer, batch: MaskedBatch) -> torch.Tensor:
    """The public code's computation: one-hot matmuls, (B, N, N) attention for every query, logits everywhere."""
    d = model.config.width
    x = F.one_hot(batch.inputs, VOCAB.size).to(model.embedding.dtype) @ model.embedding  # (B, N, d)
    if model.config.attention == "uniform":  # frozen W_K = W_Q = 0: every score is zero
        W_K = W_Q = torch.zeros(d, d, dtype=x.dtype)
    else:
        W_K, W_Q = model.W_K, model.W_Q
    queries, keys, values = x @ W_Q.T, x @ W_K.T, x @ model.W_V.T
    scores = (queries @ keys.transpose(1, 2) / math.sqrt(d)).masked_fill(~batch.key_visible[:, None, :], float("-inf"))
    attention = torch.softmax(scores, dim=-1).nan_to_num(0.0)  # (B, N, N) [query, key]
    logits = (attention @ values) @ model.decoder_weight().T  # (B, N, V) at every position
    return F.cross_entropy(logits.flatten(0, 1), batch.labels.flatten(), ignore_index=IGNORE_LABEL)


def loss_of(side: str, model: TopicTransformer, batch: MaskedBatch) -> torch.Tensor:
    return model.loss(batch) if side == "collection" else dense_reference_loss(model, batch)


def stacked_steps(model: TopicTransformer, batches: list[MaskedBatch]) -> list[float]:
    """The stacked route with one run: one Adam step per batch; returns the losses."""
    stack = RunStack([model])
    optimizer = StackedOptimizer(stack, ["adam"], [0.01], [0.0])
    losses = []
    for batch in batches:
        loss = stack.losses([batch])
        stack.zero_grad()
        loss.sum().backward()
        optimizer.step()
        losses.append(float(loss.detach()[0]))
    return losses


def train_steps(side: str, model: TopicTransformer, batches: list[MaskedBatch]) -> list[float]:
    """One Adam step per batch; returns the losses."""
    if side == "collection, stacked":
        return stacked_steps(model, batches)
    optimizer = make_optimizer("adam", [p for p in model.parameters() if p.requires_grad], 0.01, 0.0)
    losses = []
    for batch in batches:
        loss = loss_of(side, model, batch)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(float(loss.detach()))
    return losses


def step_flops(side: str, model: TopicTransformer, batch: MaskedBatch) -> float:
    """Floating-point operations of one step's matrix products, forward and backward (torch's flop counter)."""
    with FlopCounterMode(display=False) as counter:
        if side == "collection, stacked":
            RunStack([copy.deepcopy(model)]).losses([batch]).sum().backward()
        else:
            loss_of(side, copy.deepcopy(model), batch).backward()
    return float(counter.get_total_flops())


def matmul_rate(seconds: float = 1.0) -> float:
    """The machine's float32 matrix-product rate (flop/s) on the present threads: the best over a few sizes (and,
    where it is called twice, over both calls: on a shared machine the best is the least disturbed)."""
    best = 0.0
    for n in (256, 512, 1024):
        a, b = torch.randn(n, n), torch.randn(n, n)
        for _ in range(3):
            a @ b
        count, start = 0, time.perf_counter()
        while time.perf_counter() - start < seconds:
            a @ b
            count += 1
        best = max(best, 2 * n**3 * count / (time.perf_counter() - start))
    return best


def saved_for_backward_mib(side: str, model: TopicTransformer, batch: MaskedBatch) -> float:
    """MiB of the tensors one step keeps for its backward pass (distinct storages), NaN for the stacked route
    (its backward is written out: what it keeps are attributes of its autograd node, which no hook sees)."""
    if side == "collection, stacked":
        return float("nan")
    storages = {}

    def pack(tensor):
        storages[tensor.untyped_storage().data_ptr()] = tensor.untyped_storage().nbytes()
        return tensor

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor):
        loss_of(side, copy.deepcopy(model), batch).backward()
    return sum(storages.values()) / 2**20


def resident_mib(field: str) -> float:
    """VmRSS (now) or VmHWM (peak since the last reset) of this process, MiB."""
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith(field)) / 1024


def peak_memory_child(side: str, attention: str, steps: int) -> None:
    """Run only ``side`` and print the resident memory before training and its peak while training (MiB)."""
    torch.set_num_threads(1)
    batches = make_batches(steps)
    # Two steps on two documents load every lazily loaded part of torch before the baseline is read.
    small = MaskedBatch(*(getattr(batches[0], f.name)[:2] for f in dataclasses.fields(MaskedBatch)))
    train_steps(side, make_model(attention), [small, small])
    model = make_model(attention)
    with open("/proc/self/clear_refs", "w") as clear:  # reset the peak (VmHWM) to the present resident size
        clear.write("5")
    before = resident_mib("VmRSS")
    train_steps(side, model, batches)
    print(f"{before:.1f} {resident_mib('VmHWM'):.1f}")


def peak_memory(side: str, attention: str, steps: int) -> tuple[float, float]:
    """(peak resident MiB, peak minus the resident memory just before training) of a process running ``side``."""
    command = [sys.executable, __file__, "--memory-child", side, attention, "--steps", str(steps)]
    output = subprocess.run(command, capture_output=True, text=True, check=True).stdout.split()
    before, peak = float(output[-2]), float(output[-1])
    return peak, peak - before


def machine() -> str:
    model_name = "unknown CPU"
    try:
        with open("/proc/cpuinfo") as info:
            model_name = next(line.split(":", 1)[1].strip() for line in info if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    return (
        f"{platform.node()}: {os.cpu_count()} cores ({model_name}), load average {load}; Python "
        f"{platform.python_version()}, torch {torch.__version__}"
    )


def compare(attention: str, batches: list[MaskedBatch], repeats: int) -> dict:
    positions = sum(int((b.inputs != VOCAB.pad_id).sum()) for b in batches)
    initial = make_model(attention)
    # Same loss on every batch: every side trained from one initialisation on the same batches.
    runs = {side: train_steps(side, copy.deepcopy(initial), batches) for side in SIDES}
    reference = runs["dense reference"]
    gap = max(abs(a - b) / abs(b) for side in SIDES[:2] for a, b in zip(runs[side], reference))
    cpu, wall = ({side: [] for side in SIDES} for _ in range(2))
    for _ in range(repeats):  # alternated, so that every side sees the same load on average
        for side in SIDES:
            model = copy.deepcopy(initial)
            start, start_cpu = time.perf_counter(), time.process_time()
            train_steps(side, model, batches)
            cpu[side].append(time.process_time() - start_cpu)
            wall[side].append(time.perf_counter() - start)
    return {
        "positions": positions,
        "gap": gap,
        "rates": {side: positions / statistics.median(cpu[side]) for side in SIDES},
        "wall_rates": {side: positions / statistics.median(wall[side]) for side in SIDES},
        "first_loss": runs["collection"][0],
        "last_loss": runs["collection"][-1],
        "spread": {s: (min(t), max(t)) for s, t in cpu.items()},
        "saved": {side: saved_for_backward_mib(side, initial, batches[0]) for side in SIDES},
        "flops": {side: statistics.mean(step_flops(side, initial, b) for b in batches[:4]) for side in SIDES},
        "step_positions": positions / len(batches),
    }


def train_loop_rate(steps: int) -> float:
    """Input positions per second of the library's own ``train`` loop (sampling and masking included)."""
    corpus = sample_lda(VOCAB, 2000, alpha=0.1, doc_length=(100, 150), seed=0)
    config = TrainConfig(
        optimizer="adam", learning_rate=0.01, steps=steps, batch_size=BATCH_SIZE, log_every=steps, progress=False
    )
    source, probe = corpus_batches(corpus), mask_documents(corpus[:8], MASKING, 0)
    rng, positions = np.random.default_rng(config.seed), 0
    for _ in range(steps):  # replay train's draws to count the positions it will see
        documents = source(BATCH_SIZE, rng)
        positions += int(documents.lengths.sum())
        mask_documents(documents, MASKING, rng)  # keeps the generator in step with train's
    warm_up = TrainConfig(steps=5, log_every=5, progress=False)
    train(make_model("trained"), source, MASKING, warm_up, probe=probe)
    start = time.perf_counter()
    train(make_model("trained"), source, MASKING, config, probe=probe)
    return positions / (time.perf_counter() - start)


def report_times(folder: Path) -> list[str]:
    """The build and each notebook's wall time of a report folder (its runs.json, read by the core's loader)."""
    from theory_collection.report import time_text
    from theory_collection.runs import load_report

    info, runs = load_report(folder)
    rows = [f"  {r.paper + '/' + r.notebook:50s} {r.seconds:8.0f} s   {r.status}" for r in runs]
    head = f"report {folder}: {info.profile} profile, made {info.date} from {info.commit}; {time_text(runs)}"
    return [head, *rows]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=40, help="batches per timed run")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument(
        "--report",
        type=Path,
        action="append",
        help="a report folder whose per-notebook wall times are printed; repeatable "
        "(default: reports/latest and reports/paper, those that exist)",
    )
    parser.add_argument("--memory-child", nargs=2, metavar=("SIDE", "ATTENTION"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.memory_child:
        peak_memory_child(*args.memory_child, args.steps)
        return
    torch.set_num_threads(args.threads)
    now = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    print(f"{now}; {machine()}; torch threads: {torch.get_num_threads()}")
    print("shared machine: timings are noisy (medians of alternated repeats; min-max in brackets)")
    batches = make_batches(args.steps)
    rate = matmul_rate()
    print(
        f"{args.steps} batches of {BATCH_SIZE} LDA documents (T = 10, v = 10, 100-150 words), "
        f"{args.repeats} repeats of {args.steps} Adam steps per side; float32 matrix products here: "
        f"{rate / 1e9:.1f} GFLOP/s\n"
    )
    results = {attention: compare(attention, batches, args.repeats) for attention in ("uniform", "trained")}
    rate = max(rate, matmul_rate())
    print(f"float32 matrix products, measured again after the runs: the best of both {rate / 1e9:.1f} GFLOP/s\n")
    for attention, result in results.items():
        rates, spread = result["rates"], result["spread"]
        print(
            f"{attention} attention: {result['positions']} input positions per run; loss {result['first_loss']:.4f} "
            f"-> {result['last_loss']:.4f}; largest relative loss gap to the dense reference over the run: "
            f"{result['gap']:.1e}"
        )
        for side in SIDES:
            low, high = (result["positions"] / t / 1e3 for t in reversed(spread[side]))
            peak, increase = peak_memory(side, attention, args.steps)
            flops = result["flops"][side]
            limit = result["step_positions"] * rate / flops  # positions/s if the step did only its products
            print(
                f"  {side:20s} {rates[side] / 1e3:8.1f}k positions/s of CPU time [{low:.1f}k-{high:.1f}k] "
                f"(wall {result['wall_rates'][side] / 1e3:.1f}k); {flops / 1e6:7.1f} MFLOP/step of products: limit "
                f"{limit / 1e3:.0f}k/s, reached {rates[side] / limit:.0%}; kept for backward "
                f"{result['saved'][side]:5.2f} MiB/step; peak RSS {peak:.0f} MiB (+{increase:.1f} MiB training)"
            )
        for side in SIDES[:2]:
            print(f"  ratio {side} / dense reference: {rates[side] / rates['dense reference']:.1f}x")
        print()
    print(
        f"library train() loop with trained attention (sampling, masking, two probe measurements included): "
        f"{train_loop_rate(4 * args.steps) / 1e3:.1f}k positions/s"
    )
    print(
        "the public code itself, one thread, measured elsewhere: "
        + ", ".join(f"{k} {v / 1e3:.0f}k words/s" for k, v in PUBLIC_CODE_ONE_THREAD.items())
    )
    folders = args.report or [ROOT / "reports" / "latest", ROOT / "reports" / "paper"]
    for folder in folders:
        if (folder / RUNS_FILE).is_file():
            print("\n" + "\n".join(report_times(folder)))
        else:
            print(f"\nno report in {folder}: its per-notebook wall times are not printed (make report [PROFILE=paper])")


if __name__ == "__main__":
    main()
