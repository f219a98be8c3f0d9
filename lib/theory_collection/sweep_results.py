"""What a sweep leaves: each point's record and files, checked; ``results.csv`` and ``sweep_summary.png``.

A finished point's ``status.json`` (written last, atomically, by the client) holds its outcome, its
**fingerprint** (what its result depends on, :func:`theory_collection.sweep.fingerprint`) and the SHA-256
of every file the run wrote. A point counts as finished only while all of those are there and unchanged
and its ``claims.json`` reads (:func:`point_damage`); a damaged point (a file deleted, corrupted or
edited) is run again, and until then ``results.csv`` shows it as ``damaged``, with the reason and no
values.
"""

from __future__ import annotations

import hashlib
import json
import math
import warnings
from pathlib import Path

import pandas as pd

from theory_collection.claims import load_claims

STATUS_FILE = "status.json"
FINISHED = ("ok", "claims fail")  # a point with one of these statuses (and a matching fingerprint) is not run again


def point_status(point_dir: str | Path) -> dict | None:
    """The recorded outcome of a point, or None if it never completed a run."""
    try:
        status = json.loads((Path(point_dir) / STATUS_FILE).read_text())
    except (OSError, json.JSONDecodeError):
        return None
    return status if isinstance(status, dict) else None


def file_digest(path: Path) -> str:
    """SHA-256 of a file's contents."""
    with open(path, "rb") as stream:
        return hashlib.file_digest(stream, "sha256").hexdigest()


def manifest(point_dir: Path) -> dict[str, str]:
    """``relative path -> SHA-256`` of every file of a point but its ``status.json``."""
    files = sorted(p for p in point_dir.rglob("*") if p.is_file() and p.name != STATUS_FILE)
    return {path.relative_to(point_dir).as_posix(): file_digest(path) for path in files}


def point_damage(point_dir: str | Path, status: dict) -> str:
    """Why a finished point's files no longer match its record ("" when they do): a file missing or changed,
    a ``claims.json`` that does not read, or none although the point ran through."""
    point_dir = Path(point_dir)
    recorded = status.get("files")
    if isinstance(recorded, dict):
        for name, digest in recorded.items():
            path = point_dir / name
            if not path.is_file():
                return f"{name} is missing"
            if file_digest(path) != digest:
                return f"{name} was changed after the run"
    claims = point_dir / "claims.json"
    if status.get("status") in FINISHED and not claims.is_file():
        return "claims.json is missing"
    if claims.is_file():
        try:
            load_claims(claims)
        except ValueError as error:
            return str(error)
    return ""


def points_table(points: list, out: str | Path, expected: dict) -> pd.DataFrame:
    """One row per point, from what the runs left on disk: parameters, status, then per claim
    ``<id>.theory``, ``<id>.measured`` and ``<id>.verdict`` (holds / FAILS / inconclusive / observed).

    ``points`` are the grid's points and ``expected`` their fingerprints by name. Only a point whose
    ``status.json`` has its fingerprint and whose files are whole contributes claims; one run with other
    settings is ``stale``, one whose files changed ``damaged`` and one never run ``not run``, all without
    values."""
    rows = []
    for point in points:
        point_dir = Path(out) / point.name
        status = point_status(point_dir) or {"status": "not run"}
        row = {
            **point.parameters,
            "point": point.name,
            "status": status.get("status", "not run"),
            "seconds": status.get("seconds"),
            "error": status.get("error", ""),
        }
        wanted = expected[point.name]
        if row["status"] != "not run" and status.get("fingerprint") != wanted:  # a record of another run
            differs = sorted(
                k
                for k in {**wanted, **(status.get("fingerprint") or {})}
                if (status.get("fingerprint") or {}).get(k) != wanted.get(k)
            )
            row.update(
                status="stale",
                seconds=None,
                error=f"ran with other settings ({', '.join(differs)} differ); will run again",
            )
            rows.append(row)
            continue
        damage = point_damage(point_dir, status) if row["status"] in FINISHED else ""
        if damage:
            row.update(status="damaged", seconds=None, error=f"{damage}; will run again")
            rows.append(row)
            continue
        claims_path = point_dir / "claims.json"
        try:
            claims = load_claims(claims_path) if claims_path.exists() and row["status"] != "not run" else []
        except ValueError as error:  # the point's own output is broken: report it in its row
            claims, row["status"], row["error"] = [], "error", str(error)
        for claim in claims:
            row[f"{claim['id']}.theory"] = claim["theory"]
            row[f"{claim['id']}.measured"] = claim["measured"]
            row[f"{claim['id']}.verdict"] = claim["verdict"] if claim["verdict"] != "fails" else "FAILS"
        rows.append(row)
    return pd.DataFrame(rows)


def claim_ids(table: pd.DataFrame) -> list[str]:
    """The claim ids of a results table (from its ``<id>.verdict`` columns)."""
    return [column.removesuffix(".verdict") for column in table.columns if column.endswith(".verdict")]


def number(value) -> float:
    """A value as a float for a ratio: real numbers only (NaN for a boolean, a string, a list, None, inf)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return math.nan
    return float(value) if math.isfinite(value) else math.nan


VERDICT_SHADE = {"holds": 1.0, "inconclusive": 0.5, "FAILS": 0.0}  # observed and missing values stay grey


def summary_figure(table: pd.DataFrame, title: str, swept: str, out: str | Path) -> list[Path]:
    """Save ``sweep_summary.png|svg``, two panels readable for any number of claims and points:

    - a verdict map, claims x points, green holds / amber inconclusive / red fails / grey no verdict
      (observed, or the point did not reach its claims); measured values written in when the map is small
      (a boolean reads true or false);
    - measured / theory of each numeric claim (1 means agreement) against the swept parameter ``swept``,
      averaged over the others (bars: their standard deviation). Claims whose values are booleans or text
      have no ratio; the verdict map shows them.
    """
    import matplotlib.pyplot as plt
    import seaborn as sns

    claims = claim_ids(table)
    points = list(table["point"])
    fig, (ax_map, ax_ratio) = plt.subplots(
        1,
        2,
        figsize=(min(4 + 0.6 * len(points), 14) + 7, max(3.8, 0.32 * len(claims) + 2.2)),
        gridspec_kw={"width_ratios": [max(1.0, 0.15 * len(points)), 1.4]},
    )
    if claims:
        verdicts = pd.DataFrame(
            [table[f"{c}.verdict"].map(VERDICT_SHADE).astype(float).to_numpy() for c in claims],
            index=claims,
            columns=points,
        )
        annotate = len(claims) * len(points) <= 48
        labels = (
            pd.DataFrame([[_fmt(v) for v in table[f"{c}.measured"]] for c in claims], index=claims, columns=points)
            if annotate
            else False
        )
        ax_map.set_facecolor("#d9d9d9")  # no verdict
        sns.heatmap(
            verdicts,
            ax=ax_map,
            annot=labels,
            fmt="",
            annot_kws={"fontsize": 8},
            cmap=sns.color_palette(["#d73027", "#fdae61", "#1a9850"]),
            vmin=0,
            vmax=1,
            cbar=False,
            linewidths=0.5,
            linecolor="white",
        )
        ax_map.set(
            title="verdicts",
            xlabel="point (green holds, amber inconclusive, red fails, grey: no verdict)",
            ylabel="claim",
        )
        ax_map.tick_params(axis="x", labelrotation=90)
    else:
        ax_map.text(0.5, 0.5, "no point wrote claims", ha="center", va="center")
        ax_map.set_axis_off()

    ratios = []
    for c in claims:
        theory, measured = table[f"{c}.theory"].map(number), table[f"{c}.measured"].map(number)
        ratio = (measured / theory).where(theory.abs() > 0)
        ratios.append(pd.DataFrame({swept: table[swept].map(_fmt), "claim": c, "measured / theory": ratio}).dropna())
    ratios = pd.concat(ratios) if ratios else pd.DataFrame()
    if len(ratios):
        sns.pointplot(
            data=ratios,
            x=swept,
            y="measured / theory",
            hue="claim",
            ax=ax_ratio,
            errorbar="sd",
            dodge=0.3 if ratios["claim"].nunique() > 1 else False,  # seaborn divides by (levels - 1)
            markersize=4,
            linewidth=1.2,
            order=list(dict.fromkeys(table[swept].map(_fmt))),
        )
        ax_ratio.axhline(1.0, color="k", lw=0.8, ls="--")
        ax_ratio.set(title="measured / theory per numeric claim (1 = agreement)", xlabel=swept)
        sns.move_legend(ax_ratio, "upper left", bbox_to_anchor=(1.02, 1), fontsize=8, title="claim")
    else:
        ax_ratio.text(0.5, 0.5, "no numeric claim with a nonzero theory value", ha="center", va="center")
        ax_ratio.set_axis_off()
    fig.suptitle(title)
    with warnings.catch_warnings():  # a tall verdict map cannot always get its margins; the figure is still whole
        warnings.simplefilter("ignore", UserWarning)
        fig.tight_layout()
    # As plots.save_figure, without importing torch into the client for one figure.
    paths = [Path(out) / "sweep_summary.png", Path(out) / "sweep_summary.svg"]
    fig.savefig(paths[0], dpi=130, bbox_inches="tight", metadata={"Software": None})
    fig.savefig(paths[1], bbox_inches="tight", metadata={"Date": None, "Creator": None})
    plt.close(fig)
    return paths


def _fmt(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    return f"{value:.6g}" if isinstance(value, float) else str(value)
