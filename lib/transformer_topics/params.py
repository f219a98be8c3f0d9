"""Parameter validation and profiles shared by the library and every notebook.

Every public function validates its arguments with the ``check_*`` helpers, so a bad value fails
before any work with a ``ValueError`` that names the parameter and its allowed range. Notebooks
declare their profiles as plain dicts and call :func:`resolve` on their ``parameters`` cell.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import SimpleNamespace
from typing import Any

PROFILES = ("quick", "paper")
OPTIMIZERS = ("sgd", "adam", "adamw")

# The standard notebook parameters (DEVELOPERS.md); a notebook may add its own.
STANDARD_NAMES = (
    "profile", "num_topics", "words_per_topic", "topics_per_doc", "alpha", "doc_length",
    "mask_prob", "keep_prob", "random_prob", "weight_decay", "init_scale", "optimizer",
    "learning_rate", "steps", "seed", "output_dir",
)


def check_int(name: str, value: Any, low: int | None = None, high: int | None = None) -> int:
    """Return ``value`` as an int if it is an integer in ``[low, high]``; else raise ValueError."""
    if isinstance(value, bool) or not isinstance(value, int | float) or value != int(value):
        raise ValueError(f"{name} must be an integer{_range_text(low, high)}, got {value!r}")
    value = int(value)
    if (low is not None and value < low) or (high is not None and value > high):
        raise ValueError(f"{name} must be an integer{_range_text(low, high)}, got {value}")
    return value


def check_float(
    name: str,
    value: Any,
    low: float | None = None,
    high: float | None = None,
    *,
    low_open: bool = False,
    high_open: bool = False,
) -> float:
    """Return ``value`` as a float if it is finite and inside the (half-)open interval."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number{_interval_text(low, high, low_open, high_open)}, got {value!r}")
    value = float(value)
    too_low = low is not None and (value <= low if low_open else value < low)
    too_high = high is not None and (value >= high if high_open else value > high)
    if too_low or too_high:
        raise ValueError(f"{name} must be in {_interval_text(low, high, low_open, high_open).strip()}, got {value}")
    return value


def check_probability(name: str, value: Any) -> float:
    return check_float(name, value, 0.0, 1.0)


def check_choice(name: str, value: Any, choices: Sequence[str]) -> str:
    if value not in choices:
        raise ValueError(f"{name} must be one of {', '.join(map(repr, choices))}; got {value!r}")
    return value


def check_masking_probabilities(mask_prob: float, keep_prob: float, random_prob: float) -> None:
    check_float("mask_prob", mask_prob, 0.0, 1.0, low_open=True)
    check_probability("keep_prob", keep_prob)
    check_probability("random_prob", random_prob)
    if keep_prob + random_prob > 1:
        raise ValueError(
            f"keep_prob + random_prob must be at most 1 (the rest shows [MASK]); "
            f"got keep_prob={keep_prob} + random_prob={random_prob} = {keep_prob + random_prob}"
        )


def check_topic_counts(num_topics: int, words_per_topic: int, topics_per_doc: int | None = None) -> None:
    check_int("num_topics", num_topics, 1)
    check_int("words_per_topic", words_per_topic, 1)
    if topics_per_doc is not None:
        check_int("topics_per_doc", topics_per_doc, 1, num_topics)


def check_doc_length(value: Any) -> tuple[int, int]:
    """A document length is an int ``N >= 1`` or a range ``[low, high]`` with ``1 <= low <= high``."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        n = check_int("doc_length", value, 1)
        return n, n
    if isinstance(value, Sequence) and not isinstance(value, str) and len(value) == 2:
        low = check_int("doc_length[0]", value[0], 1)
        high = check_int("doc_length[1]", value[1], low)
        return low, high
    raise ValueError(f"doc_length must be an integer >= 1 or a pair [low, high] with 1 <= low <= high, got {value!r}")


def check_output_dir(value: Any) -> Path:
    """An output directory may not exist yet, but its parent must."""
    if not isinstance(value, str | Path) or str(value) == "":
        raise ValueError(f"output_dir must be a path, got {value!r}")
    path = Path(value).expanduser().resolve()
    if not path.parent.is_dir():
        raise ValueError(f"output_dir's parent directory {path.parent} does not exist (output_dir={value!r})")
    return path


_STANDARD_CHECKS = {
    "profile": lambda v: check_choice("profile", v, PROFILES),
    "num_topics": lambda v: check_int("num_topics", v, 1),
    "words_per_topic": lambda v: check_int("words_per_topic", v, 1),
    "topics_per_doc": lambda v: check_int("topics_per_doc", v, 1),
    "alpha": lambda v: check_float("alpha", v, 0.0, low_open=True),
    "doc_length": check_doc_length,
    "mask_prob": lambda v: check_float("mask_prob", v, 0.0, 1.0, low_open=True),
    "keep_prob": lambda v: check_probability("keep_prob", v),
    "random_prob": lambda v: check_probability("random_prob", v),
    "weight_decay": lambda v: check_float("weight_decay", v, 0.0),
    "init_scale": lambda v: check_float("init_scale", v, 0.0, low_open=True),
    "optimizer": lambda v: check_choice("optimizer", v, OPTIMIZERS),
    "learning_rate": lambda v: check_float("learning_rate", v, 0.0, low_open=True),
    "steps": lambda v: check_int("steps", v, 1),
    "seed": lambda v: check_int("seed", v, 0),
    "output_dir": check_output_dir,
}


def resolve(profiles: Mapping[str, Mapping[str, Any]], profile: str, **given: Any) -> SimpleNamespace:
    """Fill the ``None`` values of a notebook's parameters from its profile and validate them all.

    ``profiles`` maps each profile name to that notebook's defaults. A given value overrides the
    profile's. Standard names are checked by their rule; ``doc_length`` becomes a ``(low, high)``
    pair and ``output_dir`` an absolute :class:`~pathlib.Path` (created). Cross-parameter rules:
    ``topics_per_doc <= num_topics`` and ``keep_prob + random_prob <= 1``.
    """
    check_choice("profile", profile, PROFILES)
    if profile not in profiles:
        raise ValueError(f"profile {profile!r} is not defined by this notebook; it defines {sorted(profiles)}")
    values = {name: (value if value is not None else profiles[profile].get(name)) for name, value in given.items()}
    values["profile"] = profile
    missing = [name for name, value in values.items() if value is None]
    if missing:
        raise ValueError(f"parameters {missing} have no value: pass them or define them in profile {profile!r}")
    for name, value in values.items():
        if name in _STANDARD_CHECKS:
            checked = _STANDARD_CHECKS[name](value)
            values[name] = checked if name in ("doc_length", "output_dir") else value
    if "num_topics" in values and "topics_per_doc" in values:
        check_int("topics_per_doc", values["topics_per_doc"], 1, values["num_topics"])
    if "keep_prob" in values and "random_prob" in values:
        check_masking_probabilities(values.get("mask_prob", 0.15), values["keep_prob"], values["random_prob"])
    if "output_dir" in values:
        values["output_dir"].mkdir(parents=False, exist_ok=True)
    return SimpleNamespace(**values)


def _range_text(low: int | None, high: int | None) -> str:
    if low is not None and high is not None:
        return f" in [{low}, {high}]"
    if low is not None:
        return f" >= {low}"
    if high is not None:
        return f" <= {high}"
    return ""


def _interval_text(low: float | None, high: float | None, low_open: bool, high_open: bool) -> str:
    if low is None and high is None:
        return ""
    left = "(" if (low_open or low is None) else "["
    right = ")" if (high_open or high is None) else "]"
    return f" {left}{'-inf' if low is None else low}, {'inf' if high is None else high}{right}"
