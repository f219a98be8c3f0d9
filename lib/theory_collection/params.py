"""Parameter validation shared by every paper: typed checks and the resolution of a profile.

Every public function validates its arguments with the ``check_*`` helpers, so a bad value fails
before any work with a ``ValueError`` that names the parameter and its allowed range. A paper
declares the rules of its standard parameter names (:class:`theory_collection.papers.Paper`);
notebooks declare their profiles as plain dicts and resolve their ``parameters`` cell against them
with the paper's ``resolve``.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from types import SimpleNamespace
from typing import Any

PROFILES = ("quick", "paper")


def check_int(name: str, value: Any, low: int | None = None, high: int | None = None) -> int:
    """Return ``value`` as an int if it is an integer in ``[low, high]``; else raise ValueError.

    A float is accepted only when it is exactly integral (``1.0``, YAML's ``1e1``) and comes back as an int.
    """
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or (isinstance(value, float) and not value.is_integer())
    ):
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
        raise ValueError(
            f"{name} must be a finite number{_interval_text(low, high, low_open, high_open)}, got {value!r}"
        )
    value = float(value)
    too_low = low is not None and (value <= low if low_open else value < low)
    too_high = high is not None and (value >= high if high_open else value > high)
    if too_low or too_high:
        raise ValueError(f"{name} must be in {_interval_text(low, high, low_open, high_open).strip()}, got {value}")
    return value


def check_probability(name: str, value: Any) -> float:
    """A probability in ``[0, 1]``."""
    return check_float(name, value, 0.0, 1.0)


def check_choice(name: str, value: Any, choices: Sequence[str]) -> str:
    """One of ``choices``."""
    if value not in choices:
        raise ValueError(f"{name} must be one of {', '.join(map(repr, choices))}; got {value!r}")
    return value


def check_bool(name: str, value: Any) -> bool:
    """A boolean (``True`` / ``False``; not 0 / 1 or a string)."""
    if not isinstance(value, bool):
        raise ValueError(f"{name} must be true or false, got {value!r}")
    return value


class OutputDir(type(Path())):
    """An absolute output path that shows itself as it was given.

    Notebooks print their resolved parameters: a relative ``output_dir`` (the notebooks' default)
    stays relative in what they print, so committed notebooks carry no build-machine folders; an
    absolute one (a report run) is shown absolute, and the report rewrites it relative to itself.
    """

    shown: str | None = None

    def __repr__(self) -> str:
        return f"OutputDir({self.shown or str(self)!r})"


def check_output_dir(value: Any) -> Path:
    """An output directory may not exist yet, but its parent must (returned absolute, shown relative)."""
    if not isinstance(value, str | Path) or str(value) == "":
        raise ValueError(f"output_dir must be a path, got {value!r}")
    path = OutputDir(Path(value).expanduser().resolve())
    if not Path(value).expanduser().is_absolute():
        path.shown = str(value)
    if not path.parent.is_dir():
        raise ValueError(f"output_dir's parent directory {path.parent} does not exist (output_dir={value!r})")
    return path


def resolve(
    profiles: Mapping[str, Mapping[str, Any]],
    profile: str,
    checks: Mapping[str, Callable[[Any], Any]],
    cross_check: Callable[[dict[str, Any]], None] | None = None,
    **given: Any,
) -> SimpleNamespace:
    """Fill the ``None`` values of a notebook's parameters from its profile and validate them all.

    ``profiles`` maps each profile name to that notebook's defaults; a given value overrides the
    profile's. Each name in ``checks`` is validated by its rule and replaced by the value the rule
    returns (so ``output_dir`` becomes an absolute path, created here); then ``cross_check`` sees
    the whole dict. Names without a rule (a notebook's own parameters) are passed through.
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
        if name in checks:
            values[name] = checks[name](value)
    if cross_check is not None:
        cross_check(values)
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


def check_list(name: str, value: Any, check: Callable[[str, Any], Any], min_length: int = 1) -> list:
    """A list (or tuple) of at least ``min_length`` values, each validated by ``check(f"{name}[i]", item)``."""
    if not isinstance(value, list | tuple) or len(value) < min_length:
        raise ValueError(f"{name} must be a list of at least {min_length} value(s), got {value!r}")
    return [check(f"{name}[{i}]", item) for i, item in enumerate(value)]


def like_profile(name: str, value: Any, profile_value: Any) -> Any:
    """The fallback rule of a parameter without a declared rule: typed like its profile value.

    An integer in the profile makes the parameter an integer (a float is accepted only when it is
    exactly integral, and becomes an int); a float in the profile makes it a finite number; other
    values pass unchanged (the notebook validates them).
    """
    if isinstance(profile_value, bool) or value is None:
        return value
    if isinstance(profile_value, int) and isinstance(value, float):
        return check_int(name, value)
    if isinstance(profile_value, float) and isinstance(value, int | float) and not isinstance(value, bool):
        return check_float(name, value)
    return value


def as_given(value: Any, normalised: Any) -> Any:
    """What a notebook receives for a checked value: the given value, with exactly integral floats
    replaced by the ints the checks made of them (also inside lists), so ``seed=1.0`` arrives as ``1``.

    Other normalisations (a ``doc_length`` pair, a resolved path) are left to the notebook's own
    ``resolve``, which makes them again from the given value.
    """
    if isinstance(value, float) and isinstance(normalised, int) and not isinstance(normalised, bool):
        return normalised
    if isinstance(value, list | tuple) and isinstance(normalised, list | tuple) and len(value) == len(normalised):
        return type(value)(as_given(v, n) for v, n in zip(value, normalised))
    return value


def memory_budget_bytes() -> int:
    """The most memory one notebook may plan to use: 3/4 of the machine's physical memory.

    ``THEORY_COLLECTION_MEMORY_BYTES`` overrides it (a shared machine, a container with a smaller limit).
    """
    override = os.environ.get("THEORY_COLLECTION_MEMORY_BYTES")
    if override:
        return int(float(override))
    return int(0.75 * os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))


def format_bytes(count: float) -> str:
    """``1.5 GB`` style, powers of 1000."""
    for unit in ("B", "kB", "MB", "GB", "TB", "PB"):
        if abs(count) < 1000 or unit == "PB":
            return f"{count:.3g} {unit}"
        count /= 1000
    return f"{count:.3g} PB"
