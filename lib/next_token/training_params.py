"""Parameter rules of the next-token notebooks 03-05 (dynamics), and their ``resolve``.

The paper's standard names (``num_samples`` ... ``dataset_file``, ``optimizer``, ``learning_rate``, ``steps``) are
declared by the paper's registration, :mod:`next_token.paper`, when it exists; this module adds the rules for any
of them that the registration does not (yet) declare, so notebooks 03-05 validate every parameter before work.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from theory_collection.papers import COMMON_CHECKS
from theory_collection.params import check_bool, check_choice, check_float, check_int
from theory_collection.params import resolve as resolve_with

from next_token.data import DATA_CLASSES, EMBEDDINGS, load_dataset
from next_token.dynamics import OPTIMIZERS


def check_dataset_file(value: Any) -> Path | None:
    """None, or the path of a readable, valid dataset file (loaded and validated here, before any work)."""
    if value is None or value == "":
        return None
    if not isinstance(value, str | Path):
        raise ValueError(f"dataset_file must be a path to a JSON dataset or None, got {value!r}")
    path = Path(value).expanduser().resolve()
    if not path.is_file():
        raise ValueError(f"dataset_file {str(value)!r} does not exist")
    try:
        load_dataset(path)
    except ValueError as err:
        raise ValueError(f"dataset_file {str(value)!r} is not a valid dataset: {err}") from err
    return path


TRAINING_CHECKS = {
    "num_samples": lambda v: check_int("num_samples", v, 1),
    "seq_len": lambda v: check_int("seq_len", v, 2),
    "vocab_size": lambda v: check_int("vocab_size", v, 2),
    "embed_dim": lambda v: check_int("embed_dim", v, 1),
    "data_class": lambda v: check_choice("data_class", v, DATA_CLASSES),
    "embeddings": lambda v: check_choice("embeddings", v, EMBEDDINGS),
    "repeats": lambda v: check_bool("repeats", v),
    "optimizer": lambda v: check_choice("optimizer", v, OPTIMIZERS),
    "learning_rate": lambda v: check_float("learning_rate", v, 0.0, low_open=True),
    "steps": lambda v: check_int("steps", v, 1),
    "num_datasets": lambda v: check_int("num_datasets", v, 1, 1000),
}


def cross_check(values: dict[str, Any]) -> None:
    """Distinct tokens need seq_len <= vocab_size; orthonormal embeddings need vocab_size <= embed_dim."""
    if values.get("repeats") is False and "seq_len" in values and "vocab_size" in values:
        if values["seq_len"] > values["vocab_size"]:
            raise ValueError(
                f"seq_len must be <= vocab_size when repeats is false (distinct tokens); got "
                f"seq_len={values['seq_len']} > vocab_size={values['vocab_size']}"
            )
    if values.get("embeddings") == "orthonormal" and "vocab_size" in values and "embed_dim" in values:
        if values["vocab_size"] > values["embed_dim"]:
            raise ValueError(
                f"vocab_size must be <= embed_dim for orthonormal embeddings; got "
                f"vocab_size={values['vocab_size']} > embed_dim={values['embed_dim']}"
            )


def _paper_rules():
    try:  # the paper's registration, written with part 1 of the paper; its rules win where it declares a name
        from next_token.paper import PAPER
    except ImportError:
        return {}, None
    return dict(PAPER.all_checks), PAPER.cross_check


def resolve(profiles: Mapping[str, Mapping[str, Any]], profile: str, **given: Any) -> SimpleNamespace:
    """Fill a dynamics notebook's ``None`` parameters from its profile and validate them all, the bad one named.

    ``dataset_file`` may be None (generate datasets from the other parameters) and is then kept as None.
    """
    paper_checks, paper_cross = _paper_rules()
    checks = {**COMMON_CHECKS, **TRAINING_CHECKS, "dataset_file": check_dataset_file, **paper_checks}
    dataset_file = given.pop("dataset_file", None)

    def both(values):
        cross_check(values)
        if paper_cross is not None:
            paper_cross(values)

    P = resolve_with(profiles, profile, checks, both, **given)
    P.dataset_file = checks["dataset_file"](dataset_file)
    return P
