"""Throughput and memory of the library on the paper's public-code configuration.

    python benchmarks/throughput.py [--steps 2000] [--threads 1 2]

Prints, for each thread count: training input tokens per second with the library's own ``train``
loop (T = 10, v = 10, LDA alpha = 0.1, a fixed corpus of 10,000 documents of 100-150 words,
batch 40, one-hot embeddings of size V + special tokens, uniform attention frozen, W_pred = I,
Adam lr 0.01, BERT masking 0.15 / 0.1 / 0.1); the time to sample and mask 10,000 such documents;
the time of one population-loss gradient at T = 10, v = 10, tau = 3 with every matrix trained;
and the peak resident memory of the process. The reference figure for the paper's public code
(164k tokens/s with 2 threads, 84k with 1, on an idle 2-core machine; 10 s to load and mask its
30,000 documents; 590 MiB peak) was measured once on another idle 2-core machine; it is quoted,
not re-measured, so compare ratios only on a similar machine.
"""

from __future__ import annotations

import argparse
import resource
import time

import numpy as np
import torch

from topic_structure.data import Vocabulary, sample_lda
from topic_structure.masking import MaskingConfig, mask_documents
from topic_structure.model import ModelConfig, TopicTransformer
from topic_structure.population import population_loss
from topic_structure.training import TrainConfig, corpus_batches, train

PUBLIC_CODE_TOKENS_PER_SECOND = {1: 84_000, 2: 164_000}
VOCAB = Vocabulary(10, 10)
MASKING = MaskingConfig(0.15, 0.1, 0.1)


def sample_and_mask(num_docs: int = 10_000, seed: int = 0) -> float:
    start = time.perf_counter()
    docs = sample_lda(VOCAB, num_docs, alpha=0.1, doc_length=(100, 150), seed=seed)
    mask_documents(docs, MASKING, seed)
    return time.perf_counter() - start


def training_tokens_per_second(steps: int, corpus) -> float:
    model_config = ModelConfig(10, 10, attention="uniform", value="trained", decoder="identity", init_scale=0.01)
    model = TopicTransformer(model_config, seed=0)
    config = TrainConfig(
        optimizer="adam", learning_rate=0.01, steps=steps, batch_size=40, log_every=steps, progress=False
    )
    source = corpus_batches(corpus)
    # Count the input tokens the loop will see: replay the same minibatch draws.
    rng = np.random.default_rng(config.seed)
    tokens = 0
    for _ in range(steps):
        batch = source(config.batch_size, rng)
        tokens += int(batch.lengths.sum())
        mask_documents(batch, MASKING, rng)  # keep the generator in step with train()
    probe = mask_documents(corpus[:8], MASKING, 0)
    warm_up = TrainConfig(optimizer="adam", steps=20, batch_size=40, log_every=20, progress=False, seed=1)
    train(TopicTransformer(model.config, seed=1), source, MASKING, warm_up, probe=probe)  # one-off lazy imports
    start = time.perf_counter()
    train(model, source, MASKING, config, probe=probe)
    return tokens / (time.perf_counter() - start)


def population_gradient_seconds(repeats: int = 5) -> float:
    config = ModelConfig(
        10,
        10,
        embedding="trained",
        d_model=VOCAB.size,
        attention="trained",
        value="trained",
        decoder="trained",
        init_scale=0.1,
    )
    model = TopicTransformer(config, seed=0)
    times = []
    for _ in range(repeats):
        model.zero_grad()
        start = time.perf_counter()
        population_loss(model, 3, 0.1, 0.1, weight_decay=0.01).backward()
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    args = parser.parse_args()

    corpus = sample_lda(VOCAB, 10_000, alpha=0.1, doc_length=(100, 150), seed=0)
    print(f"sample + mask 10,000 documents: {sample_and_mask():.3f} s   (public code: ~10 s for 30,000)")
    for threads in args.threads:
        torch.set_num_threads(threads)
        rate = training_tokens_per_second(args.steps, corpus)
        reference = PUBLIC_CODE_TOKENS_PER_SECOND.get(threads)
        ratio = f"   {rate / reference:5.1f}x the public code's {reference / 1000:.0f}k" if reference else ""
        print(f"training, {threads} thread(s): {rate / 1e6:6.2f} M input tokens/s{ratio}")
        print(
            f"population loss + gradient (T=10, v=10, tau=3, all matrices trained), {threads} thread(s): "
            f"{population_gradient_seconds() * 1000:.1f} ms"
        )
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak resident memory: {peak_mib:.0f} MiB   (public code: ~590 MiB)")


if __name__ == "__main__":
    main()
