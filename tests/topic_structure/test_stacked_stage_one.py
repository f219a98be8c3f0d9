"""Notebook 06's stage-one runs, the optimisers of each corpus trained as one stack
(:func:`data_assumptions.stage_one_runs`), against each run trained alone (:func:`data_assumptions.stage_one_run`):
the same frames, trained models and A4 windows up to float32 rounding; a run given another seed differs."""

import numpy as np
import pytest

from topic_structure import data_assumptions as da
from topic_structure.data import Vocabulary, sample_lda
from topic_structure.masking import MaskingConfig
from topic_structure.training import TrainConfig, corpus_batches, fresh_documents

MASKING = MaskingConfig(0.15, 0.1, 0.1)
RTOL, ATOL = 1e-4, 1e-6  # float32 runs: the stacked products round differently
SYNTHETIC, SMALL = Vocabulary(4, 5), Vocabulary(6, 3)
SOURCES = {
    "synthetic": (SYNTHETIC, fresh_documents(sample_lda, vocab=SYNTHETIC, alpha=0.1, doc_length=[10, 16])),
    "wikipedia": (SMALL, corpus_batches(sample_lda(SMALL, 60, 0.3, (2, 10), 0))),
}
OPTIMIZERS = {"sgd": ("sgd", 30.0, 13), "adam": ("adam", 0.01, 8)}  # 13: the last log has no snapshot


def _alone(data: str, key: str, seed: int = 0):
    vocab, source = SOURCES[data]
    name, rate, steps = OPTIMIZERS[key]
    every = max(1, steps // 4)
    config = TrainConfig(name, rate, 0.0, steps, 8, every, every, seed, progress=False)
    return da.stage_one_run(vocab, source, MASKING, config, 0.01)


def _assert_frames_close(a, b):
    assert list(a.columns) == list(b.columns) and len(a) == len(b)
    assert np.allclose(a.to_numpy(float), b.to_numpy(float), rtol=RTOL, atol=ATOL, equal_nan=True)


def test_stage_one_runs_equal_each_run_trained_alone():
    runs, trained, windows = da.stage_one_runs(SOURCES, OPTIMIZERS, MASKING, 8, 0.01, 0, 0.1, logs=4, progress=False)
    assert set(runs) == {(data, key) for data in SOURCES for key in OPTIMIZERS}
    for data, key in runs:
        frame, model = _alone(data, key)
        _assert_frames_close(runs[data, key], frame)
        assert np.isnan(runs[data, key]["entropy ratio"].iloc[-1]) == (key == "sgd")
        for name, value in da.stage_one_window(frame, 0.1).items():
            assert windows[data, key][name] == pytest.approx(value, rel=RTOL), name
        for p, q in zip(model.parameters(), trained[data, key].parameters()):
            assert np.allclose(q.detach(), p.detach(), rtol=RTOL, atol=ATOL)
    # the comparison can fail: another seed is another run
    other, _ = _alone("synthetic", "adam", seed=1)
    assert not np.allclose(other["loss"].iloc[1:], runs["synthetic", "adam"]["loss"].iloc[1:], rtol=RTOL)
