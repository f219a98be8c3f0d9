"""Notebooks 08 and 09's stacked routes (batched_runs) against their one-run routes: same curves, losses, trained
models and copy ratios up to float32 rounding, in the points' order; a point given another seed differs."""

import numpy as np
import pytest
import torch

from topic_structure import attention_over_training as at
from topic_structure import lda_runs as lda
from topic_structure.batched import RunStack
from topic_structure.batched_runs import (
    _bins,
    _groups,
    _Probes,
    lda_runs,
    map_lda_runs,
    map_sweep_runs,
    paper_averages,
    structures,
    sweep_runs,
)
from topic_structure.params import GRID_NAMES
from topic_structure.profiles import NOTEBOOK_PROFILES

QUICK_08 = NOTEBOOK_PROFILES["08_synthetic_lda"]["quick"]  # notebook 08's settings, on a smaller vocabulary here
BASE = {**{name: QUICK_08[name] for name in GRID_NAMES}, "num_topics": 4, "words_per_topic": 3, "doc_length": [20, 30]}
COMMON = dict(num_docs=200, batch_size=16, log_every=3, probe_docs=8, data_seed=0)
# float32 training: the stacked products round differently, and a dozen Adam steps amplify it a little
RTOL, ATOL = 2e-4, 1e-6


def _points():
    main = [
        dict(settings=BASE, decoder=d, train_seed=s, steps=12, **COMMON) for d in ("tied", "trained") for s in (0, 1)
    ]
    grid = [
        dict(settings={**BASE, **change}, decoder="tied", train_seed=0, steps=steps, **COMMON)
        for change, steps in (
            ({"optimizer": "sgd", "learning_rate": 1.0}, 13),  # not a multiple of log_every: a last row is added
            ({"optimizer": "adamw", "weight_decay": 0.1, "keep_prob": 0.3}, 12),
            ({"num_topics": 3, "words_per_topic": 4, "alpha": 1.0}, 12),  # another vocabulary: another stack
        )
    ]
    return main + grid


def _assert_frames_close(a, b):
    assert list(a.columns) == list(b.columns) and len(a) == len(b)
    assert np.allclose(a.to_numpy(float), b.to_numpy(float), rtol=RTOL, atol=ATOL, equal_nan=True)


def test_lda_runs_equal_lda_run_point_by_point():
    points = _points()
    expected = [lda.lda_run(**p) for p in points]
    got = lda_runs(points)
    for (net, curves, loss), (net2, curves2, loss2) in zip(expected, got):
        _assert_frames_close(curves2, curves)
        assert loss2 == pytest.approx(loss, rel=RTOL)
        for p, q in zip(net.parameters(), net2.parameters()):
            assert torch.allclose(q, p, rtol=RTOL, atol=ATOL)
    # the check can fail: the results follow the points, so another seed is another curve
    swapped = lda_runs([points[1], points[0]])
    assert not np.allclose(swapped[0][1]["R_A"], expected[0][1]["R_A"], rtol=RTOL, atol=ATOL)
    _assert_frames_close(swapped[0][1], expected[1][1])


def test_sweep_runs_equal_sweep_run_point_by_point():
    settings = {**BASE, "decoder": "tied"}
    points = [
        dict(settings={**settings, **change}, train_seed=0, steps=10, **COMMON)
        for change in ({}, {"learning_rate": 0.003}, {"doc_length": [8, 12]}, {"decoder": "trained"})
    ]
    expected = [at.sweep_run(**p) for p in points]
    for (curves, copies), (curves2, copies2) in zip(expected, sweep_runs(points)):
        _assert_frames_close(curves2, curves)
        for key, value in copies.items():
            assert copies2[key] == pytest.approx(value, rel=RTOL)


def test_stacked_measurements_equal_the_one_model_measurements():
    """structures and paper_averages of three runs with their own probes, in float64 rounding of float32 models."""
    settings = [BASE, {**BASE, "alpha": 1.0}, {**BASE, "keep_prob": 0.3, "doc_length": [5, 9]}]
    data = [lda.lda_data(s, 100, 6, seed) for seed, s in enumerate(settings)]
    vocab = data[0][0].vocab
    models = [lda.lda_model(vocab, "trained", 1.0, seed) for seed in range(3)]
    probes = _Probes(
        vocab, [lda.attention_probe(p, vocab) for _, p, _, _ in data], [at.PaperPairs(w) for _, _, w, _ in data]
    )
    stack = RunStack(models)
    runs = [2, 0]
    for r, got, paper in zip(runs, structures(stack, runs, probes), paper_averages(stack, runs, probes)):
        expected = lda.structure(models[r], data[r][1])
        assert list(got) == list(expected)
        for key, value in expected.items():
            assert got[key] == pytest.approx(value, rel=1e-6, abs=1e-9), key
        for key, value in at.paper_attention_averages(models[r], data[r][2]).items():
            assert paper[key] == pytest.approx(value, rel=1e-6), key


def test_bins_partition_the_points_into_stackable_balanced_bins():
    points = _points()  # 4 main (2 decoders), 3 grid: 2 tied of the base vocabulary, 1 of another
    for workers in (1, 2, 3, 7):
        bins = _bins(points, lambda p: p["decoder"], workers)
        assert 1 <= len(bins) <= workers
        assert sorted(i for b in bins for i in b) == list(range(len(points)))
    two = _bins(points, lambda p: p["decoder"], 2)
    work = [sum(points[i]["steps"] for i in b) for b in two]
    assert max(work) - min(work) <= max(p["steps"] for p in points)  # the greedy deal is within one run of even
    # a stack never pads short documents to long ones: 20-30 words and 8-12 words are other stacks
    short = [dict(p, settings={**p["settings"], "doc_length": [8, 12]}) for p in points[:2]]
    assert _groups(short + points[:2], lambda p: p["decoder"]) == [[0, 1], [2, 3]]
    assert _bins(short + points[:2], lambda p: p["decoder"], 1) == [[0, 1, 2, 3]]


def test_mapped_runs_equal_the_stacked_runs_in_the_points_order():
    points = _points()
    expected = lda_runs(points)
    for workers in (1, 2):  # one bin runs here; two run on a local Dask cluster
        for (_, curves, loss), (_, curves2, loss2) in zip(expected, map_lda_runs(points, workers=workers)):
            _assert_frames_close(curves2, curves)
            assert loss2 == pytest.approx(loss, rel=RTOL)
    settings = {**BASE, "decoder": "tied"}
    sweep = [
        dict(settings={**settings, "learning_rate": rate}, train_seed=0, steps=6, **COMMON) for rate in (0.01, 0.1)
    ]
    for (curves, copies), (curves2, copies2) in zip(sweep_runs(sweep), map_sweep_runs(sweep, workers=2)):
        _assert_frames_close(curves2, curves)
        assert copies2 == pytest.approx(copies, rel=RTOL)
