"""This paper's notebook parameters: their rules, the rules between them, the dataset file's check, and the bounds.

Size bounds. The exact structure solvers form Gram matrices over the TPG edges (at most n (T - 1) of them) and
Newton Hessians over S_data (dimension at most d^2); the benchmark covers K = d <= 64, n <= 200, T <= 16, where
the largest Gram matrix is about 3,000 x 3,000 and the largest Hessian 4,096 x 4,096 (134 MB). The bounds below
are that benchmarked range, and a dataset file obeys the same bounds as generated data. Run lengths (``steps``,
``gd_steps``, ``ce_steps``, ...) are bounded through the time estimate (:mod:`next_token.bounds`): a combination of
values whose estimate exceeds the time budget is refused, naming the parameter that costs most.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

from next_token.bounds import check_budget
from next_token.data import DATA_CLASSES, EMBEDDINGS, DatasetError, EmbeddingRankWarning, generate_dataset, load_dataset
from next_token.profiles import NOTEBOOK_PROFILES as NOTEBOOKS
from theory_collection.params import check_bool, check_choice, check_float, check_int

MAX_SAMPLES = 200
MAX_SEQ_LEN = 16
MAX_VOCAB = 64
MAX_EMBED_DIM = 64
MAX_STEPS = 1_000_000  # the time budget (next_token.bounds) refuses long runs at large sizes first
MAX_DATASETS = 100  # datasets trained together in one batched computation
OPTIMIZERS = ("gd", "normalized_gd")
GENERATOR_TRIES = 1_000  # draws the generator may use to meet data_class before the parameters are refused
# A dataset file's sizes obey the bounds of generated data: (name in the message, lowest, highest).
FILE_BOUNDS = {
    "n": ("num_samples", 1, MAX_SAMPLES),
    "T": ("seq_len", 2, MAX_SEQ_LEN),
    "K": ("vocab_size", 2, MAX_VOCAB),
    "d": ("embed_dim", 1, MAX_EMBED_DIM),
}


def check_dataset_file(value: Any) -> str | None:
    """None (generate a dataset) or the absolute path of a valid JSON dataset file.

    A relative path is resolved against the working directory. The file is read by ``next_token.data.load_dataset``
    (the reader the notebooks use) and its sizes are held to the bounds of generated data; any fault is a
    ValueError of one line naming the file and the fault.
    """
    if value is None or value == "":
        return None
    if not isinstance(value, str | Path):
        raise ValueError(f"dataset_file must be a path or None, got {value!r}")
    path = Path(value).expanduser().resolve()
    if not path.is_file():
        raise ValueError(f"dataset_file {str(value)!r} does not exist ({path})")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", EmbeddingRankWarning)  # dependent embeddings are valid data
            ds = load_dataset(path)
    except DatasetError as error:
        raise ValueError(f"dataset_file {error}") from None
    sizes = {"n": ds.n, "T": ds.T, "K": ds.K, "d": ds.d}
    for symbol, (name, low, high) in FILE_BOUNDS.items():
        if not low <= sizes[symbol] <= high:
            raise ValueError(
                f"dataset_file {path}: {symbol} = {sizes[symbol]}, outside [{low}, {high}], the bounds of generated "
                f"data ({name})"
            )
    return str(path)


STANDARD_CHECKS = {
    "num_samples": lambda v: check_int("num_samples", v, 1, MAX_SAMPLES),
    "seq_len": lambda v: check_int("seq_len", v, 2, MAX_SEQ_LEN),
    "vocab_size": lambda v: check_int("vocab_size", v, 2, MAX_VOCAB),
    "embed_dim": lambda v: check_int("embed_dim", v, 1, MAX_EMBED_DIM),
    "data_class": lambda v: check_choice("data_class", v, DATA_CLASSES),
    "embeddings": lambda v: check_choice("embeddings", v, EMBEDDINGS),
    "repeats": lambda v: check_bool("repeats", v),
    "dataset_file": check_dataset_file,
    "optimizer": lambda v: check_choice("optimizer", v, OPTIMIZERS),
    "learning_rate": lambda v: check_float("learning_rate", v, 0.0, 10.0, low_open=True),
    "steps": lambda v: check_int("steps", v, 1, MAX_STEPS),
}


def cross_check(values: dict[str, Any]) -> None:
    """Rules between parameters (only those present are checked).

    - distinct tokens (repeats=False) need seq_len <= vocab_size;
    - orthonormal embeddings need vocab_size <= embed_dim;
    - a cyclic dataset needs at least two samples (a cycle needs two labels for one query);
    - the requested data_class must be drawable: the generator is run (milliseconds) and a combination for which
      it finds no dataset of the class in GENERATOR_TRIES draws is refused, naming data_class.
    A dataset_file replaces the generator, so then only the file is checked (by its own rule).
    """
    if values.get("dataset_file"):
        return
    if values.get("repeats") is False and {"seq_len", "vocab_size"} <= set(values):
        if values["seq_len"] > values["vocab_size"]:
            raise ValueError(
                f"seq_len must be <= vocab_size = {values['vocab_size']} when repeats is false "
                f"(each sequence holds distinct tokens), got {values['seq_len']}"
            )
    if values.get("embeddings") == "orthonormal" and {"vocab_size", "embed_dim"} <= set(values):
        if values["vocab_size"] > values["embed_dim"]:
            raise ValueError(
                f"vocab_size must be <= embed_dim = {values['embed_dim']} for orthonormal embeddings, "
                f"got {values['vocab_size']}"
            )
    if values.get("data_class") == "cyclic" and values.get("num_samples", 2) < 2:
        raise ValueError("num_samples must be >= 2 for data_class 'cyclic' (a cycle needs two labels for one query)")
    needed = ("num_samples", "seq_len", "vocab_size", "embed_dim", "data_class", "embeddings", "repeats", "seed")
    if set(needed) <= set(values):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", EmbeddingRankWarning)
            try:
                generate_dataset(*(values[name] for name in needed), max_tries=GENERATOR_TRIES)
            except ValueError as err:
                raise ValueError(f"data_class {values['data_class']!r} cannot be drawn: {err}") from err


# ---------------------------------------------------------------------------------------------
# Each notebook's own parameters (keyed by notebook stem); the runner and ``PAPER.resolve`` apply them

NOTEBOOK_CHECKS: dict[str, dict[str, Callable[[Any], Any]]] = {}
NOTEBOOK_CROSS_CHECKS: dict[str, Callable[[dict[str, Any]], None]] = {}


# 06_real_text: the window sample and the held-out share; the random-embedding variant needs d < K
MIN_WINDOWS, MAX_WINDOWS = 100, 1_000_000


def _real_text_cross_check(values: dict[str, Any]) -> None:
    """06_real_text: embed_dim < vocab_size (its variant with random embeddings is the dependent case)."""
    if {"embed_dim", "vocab_size"} <= set(values) and values["embed_dim"] >= values["vocab_size"]:
        raise ValueError(
            f"embed_dim must be < vocab_size = {values['vocab_size']} (the variant with dependent embeddings), "
            f"got {values['embed_dim']}"
        )


def _check_plateau_rates(value: Any) -> list[float]:
    """A non-empty list of normalized-GD step sizes in (0, 1] (notebook 03's N11 plateau runs)."""
    if not isinstance(value, list | tuple) or not value:
        raise ValueError(f"plateau_rates must be a non-empty list of step sizes, got {value!r}")
    return [check_float("plateau_rates[]", r, 0.0, 1.0, low_open=True) for r in value]


NOTEBOOK_CHECKS["06_real_text"] = {
    "num_windows": lambda v: check_int("num_windows", v, MIN_WINDOWS, MAX_WINDOWS),
    "heldout_fraction": lambda v: check_float("heldout_fraction", v, 0.0, 1.0, low_open=True, high_open=True),
}
NOTEBOOK_CHECKS["03_gradient_descent"] = {
    "num_datasets": lambda v: check_int("num_datasets", v, 1, MAX_DATASETS),
    "gd_learning_rate": lambda v: check_float("gd_learning_rate", v, 0.0, 10.0, low_open=True),
    "gd_steps": lambda v: check_int("gd_steps", v, 1, MAX_STEPS),
    "plateau_rates": _check_plateau_rates,
    "smallest_mu": lambda v: check_float("smallest_mu", v, 1e-14, 1e-2),
}
NOTEBOOK_CHECKS["04_retrieval_and_composition"] = {
    "num_datasets": lambda v: check_int("num_datasets", v, 1, MAX_DATASETS),
    "new_contexts": lambda v: check_int("new_contexts", v, 1, 100_000),
    "sample_draws": lambda v: check_int("sample_draws", v, 10, 1_000_000),
}
NOTEBOOK_CHECKS["05_beyond_the_theorem"] = {
    "num_datasets": lambda v: check_int("num_datasets", v, 1, MAX_DATASETS),
    "ce_learning_rate": lambda v: check_float("ce_learning_rate", v, 0.0, 10.0, low_open=True),
    "ce_steps": lambda v: check_int("ce_steps", v, 1, MAX_STEPS),
    "path_datasets": lambda v: check_int("path_datasets", v, 0, MAX_DATASETS),  # 0: no (K, Q) path
    "nuclear_smallest_mu": lambda v: check_float("nuclear_smallest_mu", v, 1e-10, 1e-2),
}


def _real_text_rules(values: dict[str, Any]) -> None:
    """06_real_text: embed_dim < vocab_size, and the time budget."""
    _real_text_cross_check(values)
    check_budget("06_real_text", values)


# every notebook's run must fit the time budget (next_token.bounds); 06 has its own rule besides
NOTEBOOK_CROSS_CHECKS.update({stem: partial(check_budget, stem) for stem in NOTEBOOKS if stem != "06_real_text"})
NOTEBOOK_CROSS_CHECKS["06_real_text"] = _real_text_rules
