import pytest

from next_token.data import generate_dataset, save_dataset
from next_token.paper import PAPER
from next_token.profiles import E1_DATASET
from theory_collection import papers


def _resolve(tmp_path, **overrides):
    """Notebook 01's parameters (the E1 dataset) at the quick profile with ``overrides``, by the paper's one rule."""
    given = {"profile": "quick", "seed": 0, **dict.fromkeys(E1_DATASET), **overrides}
    given["output_dir"] = str(tmp_path / "out")
    return PAPER.resolve("01_token_priority_graphs", given)


def test_registered_with_the_standard_names():
    paper = papers.get("next_token")
    for name in (
        "profile",
        "num_samples",
        "seq_len",
        "vocab_size",
        "embed_dim",
        "data_class",
        "embeddings",
        "repeats",
        "seed",
        "dataset_file",
        "output_dir",
        "optimizer",
        "learning_rate",
        "steps",
    ):
        assert name in paper.standard_names


def test_defaults_resolve(tmp_path):
    P = _resolve(tmp_path)
    assert P.num_samples == 6 and P.dataset_file is None and P.output_dir.is_dir()


@pytest.mark.parametrize(
    "name, value, message",
    [
        ("num_samples", 0, "num_samples must be an integer in \\[1, 200\\]"),
        ("num_samples", 201, "num_samples"),
        ("seq_len", 2.5, "seq_len must be an integer"),
        ("vocab_size", 65, "vocab_size"),
        ("embed_dim", "8", "embed_dim"),
        ("data_class", "loopy", "data_class"),
        ("embeddings", "ortho", "embeddings"),
        ("repeats", 1, "repeats must be true or false"),
        ("seed", -1, "seed"),
        ("seed", 2**32, "seed"),
        ("dataset_file", "/nonexistent/file.json", "dataset_file"),
    ],
)
def test_bad_values_are_named(tmp_path, name, value, message):
    with pytest.raises(ValueError, match=message):
        _resolve(tmp_path, **{name: value})


def test_integral_float_becomes_int(tmp_path):
    assert _resolve(tmp_path, seed=3.0).seed == 3


@pytest.mark.parametrize(
    "overrides, message",
    [
        (dict(seq_len=7, vocab_size=5), "seq_len must be <= vocab_size"),
        (dict(embeddings="orthonormal", vocab_size=9, embed_dim=8), "vocab_size must be <= embed_dim"),
        (dict(num_samples=1), "num_samples must be >= 2 for data_class 'cyclic'"),
        (dict(data_class="acyclic", num_samples=200, vocab_size=2, seq_len=2), "data_class 'acyclic' cannot be drawn"),
    ],
)
def test_cross_rules(tmp_path, overrides, message):
    with pytest.raises(ValueError, match=message):
        _resolve(tmp_path, **overrides)


def test_dataset_file_replaces_the_generator_rules(tmp_path):
    path = save_dataset(generate_dataset(8, 7, 5, 6, "cyclic", "orthonormal", True, seed=0), tmp_path / "d.json")
    P = _resolve(tmp_path, dataset_file=str(path), seq_len=7, vocab_size=5)  # sizes ignored: the file decides
    assert P.dataset_file == str(path.resolve())


@pytest.mark.parametrize(
    "overrides, message",
    [
        (dict(embed_dim=32), "embed_dim must be < vocab_size = 32"),
        (dict(num_windows=99), "num_windows"),
        (dict(heldout_fraction=1.0), "heldout_fraction"),
        (dict(heldout_fraction=0.0), "heldout_fraction"),
    ],
)
def test_real_text_rules_refuse_by_name(tmp_path, overrides, message):
    namespace = {"profile": "quick", "seed": 0, "output_dir": str(tmp_path), **overrides}
    assert PAPER.resolve("06_real_text", {**namespace, **dict.fromkeys(overrides)}).embed_dim == 16
    with pytest.raises(ValueError, match=message):
        PAPER.resolve("06_real_text", namespace)
