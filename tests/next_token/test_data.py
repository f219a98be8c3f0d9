import json
import warnings

import numpy as np
import pytest

from next_token.data import (
    Dataset,
    DatasetError,
    EmbeddingRankWarning,
    generate_dataset,
    load_dataset,
    save_dataset,
)
from next_token.graphs import token_priority_graphs


@pytest.mark.parametrize("data_class", ["cyclic", "acyclic"])
def test_generator_meets_its_class(data_class):
    for seed in range(3):
        ds = generate_dataset(6, 4, 6, 8, data_class, seed=seed)
        assert token_priority_graphs(ds).is_cyclic == (data_class == "cyclic")


def test_generator_is_seeded_and_realizable():
    a = generate_dataset(10, 6, 8, 8, "cyclic", seed=5)
    b = generate_dataset(10, 6, 8, 8, "cyclic", seed=5)
    c = generate_dataset(10, 6, 8, 8, "cyclic", seed=6)
    assert np.array_equal(a.tok, b.tok) and np.array_equal(a.E, b.E) and np.array_equal(a.y, b.y)
    assert not np.array_equal(a.tok, c.tok)
    assert np.all(np.any(a.tok == a.y[:, None], axis=1))


def test_distinct_tokens_and_repeats():
    ds = generate_dataset(20, 6, 8, 8, "cyclic", repeats=False, seed=0)
    assert all(len(set(row)) == ds.T for row in ds.tok.tolist())
    rep = generate_dataset(8, 7, 5, 6, "cyclic", "orthonormal", repeats=True, seed=0)
    # T > K: the public code's construction holds every token at least once
    assert all(set(row) == set(range(5)) for row in rep.tok.tolist())
    with pytest.raises(ValueError, match="seq_len <= vocab_size"):
        generate_dataset(4, 7, 5, 6, "cyclic", repeats=False, seed=0)


def test_embeddings():
    gauss = generate_dataset(6, 4, 6, 8, "cyclic", "gaussian", seed=0)
    assert np.allclose(np.linalg.norm(gauss.E, axis=1), 1.0)
    ortho = generate_dataset(6, 4, 6, 8, "cyclic", "orthonormal", seed=0)
    assert np.allclose(ortho.E @ ortho.E.T, np.eye(6), atol=1e-14)
    with pytest.raises(ValueError, match="vocab_size <= embed_dim"):
        generate_dataset(6, 4, 9, 8, "cyclic", "orthonormal", seed=0)


def test_roundtrip(tmp_path):
    ds = generate_dataset(6, 4, 6, 8, "cyclic", seed=1)
    back = load_dataset(save_dataset(ds, tmp_path / "d.json"))
    assert np.array_equal(back.E, ds.E) and np.array_equal(back.tok, ds.tok) and np.array_equal(back.y, ds.y)


def _write(tmp_path, payload):
    path = tmp_path / "bad.json"
    path.write_text(payload if isinstance(payload, str) else json.dumps(payload))
    return path


GOOD = {"E": np.eye(3).tolist(), "tok": [[0, 1, 2], [2, 1, 2]], "y": [1, 2]}


@pytest.mark.parametrize(
    "change, message",
    [
        ({"y": [1, 0]}, "sample 1: label 0 does not occur"),  # realizability violated in sample 1
        ({"tok": [[0, 1, 2], [2, 1]]}, "tok has ragged rows: row 1 has 2 entries"),
        ({"tok": [[0, 1, 3], [2, 1, 0]]}, "sample 0: token id 3 at position 2 is outside"),
        ({"tok": [[0, 1, -1], [2, 1, 0]]}, "sample 0: token id -1"),
        ({"tok": [[0, 1, 2.5], [2, 1, 0]]}, r"tok\[0\]\[2\] = 2.5 is not an integer token id"),
        (
            {"tok": [[0, 1, 2.0], [2, 1, 0]]},
            r"tok\[0\]\[2\] = 2.0 is not an integer token id",
        ),  # a float, however round
        ({"tok": [[0, 1, True], [2, 1, 0]]}, "is not an integer token id"),
        ({"y": [1.0, 2]}, r"y\[0\] = 1.0 is not an integer label"),
        ({"y": [1, 7]}, "sample 1: label 7 is outside"),
        ({"y": [1]}, "y has 1 labels but tok has 2"),
        ({"E": [[1.0, 0.0], [0.0]]}, "E has ragged rows"),
        ({"E": [["a", 1.0]]}, r'E\[0\]\[0\] = "a" is not a finite number'),
        ({"E": "abc"}, 'E must be a non-empty list, got "abc"'),
        ({"E": [[float("nan"), 0, 0], [0, 1, 0], [0, 0, 1]]}, r"E\[0\]\[0\] = NaN is not a finite number"),
        ({"E": [[float("inf"), 0, 0], [0, 1, 0], [0, 0, 1]]}, r"E\[0\]\[0\] = Infinity is not a finite number"),
        ({"tok": [0, 1, 2]}, r"tok\[0\] must be a non-empty list of numbers"),
        ({"y": [[1], [2]]}, r"y\[0\] = \[1\] is not an integer label"),
    ],
)
def test_bad_files_refused(tmp_path, change, message):
    with pytest.raises(DatasetError, match=message):
        load_dataset(_write(tmp_path, {**GOOD, **change}))


def test_malformed_json_and_missing_keys(tmp_path):
    with pytest.raises(DatasetError, match="bad.json: not JSON"):
        load_dataset(_write(tmp_path, "{E: 1"))
    with pytest.raises(DatasetError, match="a JSON list where an object with keys E, tok, y is expected"):
        load_dataset(_write(tmp_path, [GOOD]))
    with pytest.raises(DatasetError, match=r"missing key\(s\) \['y'\]"):
        load_dataset(_write(tmp_path, {"E": GOOD["E"], "tok": GOOD["tok"]}))


def test_good_file_loads_without_warning(tmp_path):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ds = load_dataset(_write(tmp_path, GOOD))
    assert (ds.n, ds.T, ds.K, ds.d) == (2, 3, 3, 3)


def test_dependent_embeddings_warn_and_name_the_lost_guarantees():
    with pytest.warns(EmbeddingRankWarning, match="Graph-SVM may be infeasible, W\\^fin may not be unique"):
        Dataset(np.ones((3, 2)), [[0, 1, 2]], [1])


def test_describe_dataset_names_sizes_and_source():
    from types import SimpleNamespace

    from next_token.data import describe_dataset

    ds = generate_dataset(6, 4, 6, 8, "cyclic", "gaussian", False, seed=1)
    line = describe_dataset(ds, SimpleNamespace(dataset_file="", seed=1))
    assert line == "n = 6, T = 4, K = 6, d = 8 (generator, seed 1); embeddings independent: True"
    assert "(file data.json)" in describe_dataset(ds, SimpleNamespace(dataset_file="data.json", seed=1))
