"""Parameter validation shared by every paper: typed checks and the resolution of a profile.

Every public function validates its arguments with the ``check_*`` helpers, so a bad value fails
before any work with a ``ValueError`` that names the parameter and its allowed range. A paper
declares the rules of its standard parameter names (:class:`theory_collection.papers.Paper`);
notebooks declare their profiles as plain dicts and resolve their ``parameters`` cell against them
with the paper's ``resolve``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from types import SimpleNamespace
from typing import Any

PROFILES = ("quick", "paper")


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


def check_output_dir(value: Any) -> Path:
    """An output directory may not exist yet, but its parent must."""
    if not isinstance(value, str | Path) or str(value) == "":
        raise ValueError(f"output_dir must be a path, got {value!r}")
    path = Path(value).expanduser().resolve()
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
