"""Claims tables: every notebook ends with one, written to ``<output_dir>/claims.json``.

A claim compares a theory value with a measured value under a tolerance; the verdict is computed
here, never typed. ``reason`` says why a claim fails or what condition it needs.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path

import pandas as pd

COMPARISONS = ("relative", "absolute", "greater", "less", "true")


@dataclass
class Claim:
    id: str
    statement: str
    theory: float | str
    measured: float | str
    tolerance: float | str
    holds: bool
    reason: str = ""


def judge(theory, measured, tolerance, comparison: str) -> bool:
    """The verdict of one comparison.

    relative: ``|measured - theory| <= tolerance * |theory|``; absolute: ``<= tolerance``;
    greater / less: ``measured > theory + tolerance`` / ``measured < theory - tolerance``;
    true: ``measured`` is itself the verdict (a bool computed by the notebook).
    """
    if comparison not in COMPARISONS:
        raise ValueError(f"comparison must be one of {COMPARISONS}, got {comparison!r}")
    if comparison == "true":
        return bool(measured)
    theory, measured, tolerance = float(theory), float(measured), float(tolerance)
    if not (math.isfinite(theory) and math.isfinite(measured)):
        return False
    if comparison == "relative":
        return abs(measured - theory) <= tolerance * abs(theory)
    if comparison == "absolute":
        return abs(measured - theory) <= tolerance
    if comparison == "greater":
        return measured > theory + tolerance
    return measured < theory - tolerance


class ClaimsTable:
    """Collects a notebook's claims, shows them as a table, writes ``claims.json``."""

    def __init__(self, notebook: str):
        self.notebook = notebook
        self.claims: list[Claim] = []

    def check(self, id: str, statement: str, theory, measured, tolerance=0.0, comparison: str = "relative", reason: str = "") -> Claim:
        """Judge and record a claim; ``reason`` is shown when it fails (or as its condition)."""
        if any(c.id == id for c in self.claims):
            raise ValueError(f"claim id {id!r} is recorded twice")
        holds = judge(theory, measured, tolerance, comparison)
        claim = Claim(id, statement, _plain(theory), _plain(measured), _tolerance_text(tolerance, comparison), holds, reason)
        self.claims.append(claim)
        return claim

    def frame(self) -> pd.DataFrame:
        frame = pd.DataFrame([asdict(c) for c in self.claims], columns=list(Claim.__dataclass_fields__))
        frame["verdict"] = frame["holds"].map({True: "holds", False: "FAILS"})
        return frame.drop(columns="holds")

    def _repr_html_(self) -> str:
        return self.frame().to_html(index=False, float_format=lambda x: f"{x:.6g}")

    def __repr__(self) -> str:
        return self.frame().to_string(index=False)

    def write(self, output_dir: str | Path) -> Path:
        path = Path(output_dir) / "claims.json"
        records = [{"notebook": self.notebook, **asdict(c)} for c in self.claims]
        path.write_text(json.dumps(records, indent=2) + "\n")
        return path

    def failures(self) -> list[Claim]:
        return [c for c in self.claims if not c.holds]

    def raise_if_any_fails(self) -> None:
        """Stop the notebook (and so the test run) when a claim does not hold at this profile."""
        failed = self.failures()
        if failed:
            lines = "\n".join(f"  {c.id}: theory {c.theory}, measured {c.measured} ({c.tolerance}) {c.reason}" for c in failed)
            raise AssertionError(f"{len(failed)} claim(s) of {self.notebook} do not hold:\n{lines}")


def load_claims(path: str | Path) -> list[dict]:
    """Read a ``claims.json``; a malformed file is an error that names it."""
    path = Path(path)
    try:
        records = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as error:
        raise ValueError(f"cannot read claims file {path}: {error}") from error
    required = set(Claim.__dataclass_fields__) - {"reason"}
    if not isinstance(records, list) or not all(isinstance(r, dict) and required <= set(r) for r in records):
        raise ValueError(f"claims file {path} must be a JSON list of objects with keys {sorted(required)}")
    return records


def _tolerance_text(tolerance, comparison: str) -> str:
    if comparison == "true":
        return str(tolerance) if tolerance else "computed verdict"
    return {"relative": f"rel {tolerance:g}", "absolute": f"abs {tolerance:g}",
            "greater": f"> theory + {tolerance:g}", "less": f"< theory - {tolerance:g}"}[comparison]


def _plain(value):
    """JSON-friendly: numpy / torch scalars to float, bools kept."""
    if isinstance(value, bool | str) or value is None:
        return value
    try:
        return float(value)
    except (TypeError, ValueError):
        return str(value)
