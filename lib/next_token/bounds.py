"""Bounds on what a next-token notebook may cost: its memory and time estimates at the resolved values."""

from __future__ import annotations

from typing import Any


def memory_estimate(notebook: str, values: dict[str, Any]) -> int:
    """Bytes (provisional)."""
    return 0


def time_estimate(notebook: str, values: dict[str, Any]) -> float:
    """Seconds (provisional)."""
    return 0.0


def check_budget(notebook: str, values: dict[str, Any]) -> None:
    """Refuse values whose time estimate exceeds the budget (provisional)."""
