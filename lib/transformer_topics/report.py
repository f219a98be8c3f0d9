"""Run the notebooks through papermill and aggregate their claims tables into a report."""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path

import papermill
from tqdm.auto import tqdm

from .claims import load_claims
from .params import PROFILES, check_choice

REPO_ROOT = Path(__file__).resolve().parents[2]
NOTEBOOK_DIR = REPO_ROOT / "notebooks"
FIGURE_DIR = REPO_ROOT / "figures"


@dataclass
class NotebookRun:
    notebook: str
    output_dir: Path
    error: str = ""  # "" when the notebook ran to the end
    claims: list[dict] = field(default_factory=list)

    @property
    def failed_claims(self) -> list[dict]:
        return [c for c in self.claims if not c["holds"]]


def discover_notebooks(directory: str | Path = NOTEBOOK_DIR) -> list[Path]:
    """The collection's notebooks in reading order (``NN_name.ipynb``)."""
    paths = sorted(Path(directory).glob("[0-9][0-9]_*.ipynb"))
    if not paths:
        raise ValueError(f"no notebooks named NN_*.ipynb in {directory}")
    return paths


def notebook_parameters(path: str | Path) -> dict[str, object]:
    """The names and default values of a notebook's ``parameters`` cell."""
    inferred = papermill.inspect_notebook(str(path))
    return {name: spec["default"] for name, spec in inferred.items()}


def select_notebooks(names: list[str] | None, directory: str | Path = NOTEBOOK_DIR) -> list[Path]:
    """All notebooks, or those named (by file name, stem, or number prefix like ``03``)."""
    available = discover_notebooks(directory)
    if not names:
        return available
    chosen = []
    for name in names:
        matches = [p for p in available if name in (p.name, p.stem, p.stem[:2])]
        if not matches:
            raise ValueError(f"unknown notebook {name!r}; available: {', '.join(p.stem for p in available)}")
        chosen.extend(matches)
    return chosen


def check_overrides(paths: list[Path], overrides: dict[str, object]) -> None:
    """Every override must be a parameter of at least one notebook that runs."""
    known = set().union(*(notebook_parameters(p) for p in paths))
    unknown = sorted(set(overrides) - known)
    if unknown:
        raise ValueError(f"unknown parameter(s) {unknown}; the notebooks take {sorted(known)}")


def run_notebooks(
    paths: list[Path],
    out: str | Path,
    profile: str = "quick",
    overrides: dict[str, object] | None = None,
    progress: bool = True,
) -> list[NotebookRun]:
    """Execute each notebook with ``profile`` and ``overrides`` into ``out/<stem>/``.

    A failing notebook is recorded with its error and the rest still run. Each notebook gets the
    overrides it declares (so ``-p steps 100`` reaches only notebooks with a ``steps`` parameter).
    """
    check_choice("profile", profile, PROFILES)
    overrides = dict(overrides or {})
    check_overrides(paths, overrides)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    runs = []
    for path in tqdm(paths, desc=f"notebooks ({profile})", disable=not progress):
        output_dir = (out / path.stem).resolve()
        output_dir.mkdir(exist_ok=True)
        declared = notebook_parameters(path)
        parameters = {"profile": profile, "output_dir": str(output_dir)}
        parameters.update({k: v for k, v in overrides.items() if k in declared})
        run = NotebookRun(path.stem, output_dir)
        try:
            papermill.execute_notebook(str(path), str(output_dir / path.name), parameters=parameters,
                                       cwd=str(path.parent), progress_bar=False, kernel_name="python3")
        except papermill.PapermillExecutionError as error:
            run.error = f"cell {error.exec_count}: {error.ename}: {error.evalue}"
        except Exception as error:  # a kernel that dies, a missing notebook dependency
            run.error = f"{type(error).__name__}: {error}"
        claims_path = output_dir / "claims.json"
        if claims_path.exists():
            run.claims = load_claims(claims_path)
        runs.append(run)
    return runs


def refresh_figures(runs: list[NotebookRun], destination: str | Path = FIGURE_DIR) -> int:
    """Copy each run's figures into the collection's ``figures/``; return how many were copied."""
    destination = Path(destination)
    destination.mkdir(exist_ok=True)
    copied = 0
    for run in runs:
        for figure in sorted((run.output_dir / "figures").glob("*.*")):
            shutil.copy2(figure, destination / figure.name)
            copied += 1
    return copied


def summary_markdown(runs: list[NotebookRun], profile: str) -> str:
    """The aggregated claims table of a report, with failures listed first."""
    lines = [f"# Claims summary ({profile} profile)", ""]
    failures = [(r.notebook, c) for r in runs for c in r.failed_claims]
    broken = [r for r in runs if r.error]
    if not failures and not broken:
        lines += [f"All {sum(len(r.claims) for r in runs)} claims of {len(runs)} notebooks hold.", ""]
    for run in broken:
        lines.append(f"- **{run.notebook} failed**: {run.error}")
    for notebook, claim in failures:
        lines.append(f"- **{claim['id']} does not hold** ({notebook}): {claim.get('reason', '')}")
    lines += ["", "| notebook | claim | statement | theory | measured | tolerance | verdict |", "|---|---|---|---|---|---|---|"]
    for run in runs:
        for c in run.claims:
            cells = [run.notebook, c["id"], c["statement"], _fmt(c["theory"]), _fmt(c["measured"]), str(c["tolerance"]), "holds" if c["holds"] else "FAILS"]
            lines.append("| " + " | ".join(str(cell).replace("|", "\\|") for cell in cells) + " |")
    return "\n".join(lines) + "\n"


def _fmt(value) -> str:
    return f"{value:.6g}" if isinstance(value, float) else str(value)
