"""Notebooks 05 and 06's sampled runs stacked (batched_stage_one) against their one-run routes: the same frames
and A4 windows up to float32 rounding."""

import numpy as np
import pytest

from topic_structure import data_assumptions as da
from topic_structure import two_stage as ts
from topic_structure.batched_stage_one import sampled_runs, stage_one_runs
from topic_structure.data import Vocabulary, sample_equal_mixture, sample_lda
from topic_structure.masking import MaskingConfig
from topic_structure.training import corpus_batches, fresh_documents

MASKING = MaskingConfig(0.15, 0.1, 0.1)
RTOL, ATOL = 1e-4, 1e-6  # float32 runs: the stacked products round differently


def _assert_frames_close(a, b):
    assert list(a.columns) == list(b.columns) and len(a) == len(b)
    assert np.allclose(a.to_numpy(float), b.to_numpy(float), rtol=RTOL, atol=ATOL, equal_nan=True)


def test_stage_one_runs_equal_the_one_run_route():
    synthetic, small = Vocabulary(4, 5), Vocabulary(6, 3)
    sources = {
        "synthetic": (synthetic, fresh_documents(sample_lda, vocab=synthetic, alpha=0.1, doc_length=[10, 16])),
        "wikipedia": (small, corpus_batches(sample_lda(small, 60, 0.3, (2, 10), 0))),
    }
    optimizers = {"sgd": ("sgd", 30.0, 13), "adam": ("adam", 0.01, 8)}  # 13: the last log has no snapshot
    expected = da.stage_one_runs(sources, optimizers, MASKING, 8, 0.01, 0, 0.1, logs=4, progress=False)
    got = stage_one_runs(sources, optimizers, MASKING, 8, 0.01, 0, 0.1, logs=4, progress=False)
    for key, frame in expected[0].items():
        _assert_frames_close(got[0][key], frame)
        assert np.isnan(got[0][key]["entropy ratio"].iloc[-1]) == (key[1] == "sgd")
        for name, value in expected[2][key].items():
            assert got[2][key][name] == pytest.approx(value, rel=RTOL), name
        for p, q in zip(expected[1][key].parameters(), got[1][key].parameters()):
            assert np.allclose(q.detach(), p.detach(), rtol=RTOL, atol=ATOL)


def test_sampled_runs_equal_two_stage_sampled_run():
    vocab = Vocabulary(4, 3)
    configs = [ts.sampled_config("sgd", 10.0, 12, 0.0, 8, 0), ts.sampled_config("adam", 0.01, 9, 0.001, 8, 1)]
    runs = [
        (configs[0], sample_equal_mixture, [20, 30], {"topics_per_doc": 2}),
        (configs[1], sample_lda, [20, 30], {"alpha": 0.1}),
    ]
    expected = [ts.sampled_run(vocab, 0.01, MASKING, c, s, length, "run", **kw) for c, s, length, kw in runs]
    for frame, got in zip(expected, sampled_runs(vocab, 0.01, MASKING, runs)):
        _assert_frames_close(got, frame)
