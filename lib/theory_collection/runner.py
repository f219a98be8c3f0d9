"""Run the notebooks of the collection through papermill, before anything checking what they are given.

A report directory holds one folder per paper, and in it one folder per notebook (the executed
notebook, its HTML export, ``claims.json`` and ``figures/``)::

    <out>/<paper>/NN_name/NN_name.ipynb, NN_name.html, claims.json, figures/*.png|svg

:mod:`theory_collection.report` writes the summaries (``index.html``, ``summary.md``) over them.
"""

from __future__ import annotations

import re
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

import yaml
from tqdm.auto import tqdm

from . import papers
from .claims import load_claims, verdict_of
from .papers import Paper, paper_of
from .params import PROFILES, check_choice

KERNEL = "python3"
# The kernel's own log (a TCP-transport warning at every start, an interrupt at shutdown) is noise
# on the terminal; a notebook's errors and prints still reach the executed notebook.
QUIET_KERNEL = ["--IPKernelApp.log_level=CRITICAL"]

# Set by the runner itself (``--profile``, ``--out``), never by a ``-p`` override.
RUNNER_PARAMETERS = ("profile", "output_dir")


@dataclass
class NotebookRun:
    """The outcome of executing one notebook into ``output_dir``."""

    notebook: str  # stem, e.g. "03_value_matrix"
    output_dir: Path
    paper: str = ""  # the paper's name (its folder), e.g. "topic_structure"
    error: str = ""  # "" when the notebook ran to the end or was stopped only by its failing claims
    claims: list[dict] = field(default_factory=list)
    seconds: float = 0.0
    html: Path | None = None

    @property
    def executed(self) -> Path:
        return self.output_dir / f"{self.notebook}.ipynb"

    @property
    def failed_claims(self) -> list[dict]:
        return [c for c in self.claims if verdict_of(c) == "fails"]

    @property
    def status(self) -> str:
        """"error" (did not run through), "claims fail" (ran; a claim does not hold) or "ok"."""
        if self.error:
            return "error"
        return "claims fail" if self.failed_claims else "ok"

    @property
    def figures(self) -> list[Path]:
        return sorted((self.output_dir / "figures").glob("*.png"))


# ---------------------------------------------------------------------------------------------
# Finding notebooks and checking parameters (all before any notebook runs)


def discover_notebooks(directory: str | Path) -> list[Path]:
    """The notebooks of one folder in reading order (``NN_name.ipynb``)."""
    paths = sorted(Path(directory).glob("[0-9][0-9]_*.ipynb"))
    if not paths:
        raise ValueError(f"no notebooks named NN_*.ipynb in {directory}")
    return paths


def notebook_parameters(path: str | Path) -> dict[str, object]:
    """The names and default values (as source text) of a notebook's ``parameters`` cell."""
    import papermill  # here, not at the top: papermill and nbconvert take seconds to import, --help should not

    try:
        inferred = papermill.inspect_notebook(str(path))
    except Exception as error:  # not JSON, not a notebook, not there
        raise ValueError(f"cannot read notebook {path}: {type(error).__name__}: {error}") from error
    return {name: spec["default"] for name, spec in inferred.items()}


def collection_notebooks(paper_names: list[str] | None = None) -> list[Path]:
    """The notebooks of the chosen papers (default: every registered paper), papers in reading order."""
    chosen = [papers.get(name) for name in dict.fromkeys(paper_names)] if paper_names else list(papers.registered().values())
    chosen.sort(key=lambda paper: (paper.order, paper.name))
    return [path for paper in chosen for path in discover_notebooks(paper.notebook_dir)]


def select_notebooks(names: list[str] | None, directory: str | Path | None = None,
                     paper_names: list[str] | None = None) -> list[Path]:
    """All notebooks, or those named (by file name, stem, NN prefix like ``03``, or ``paper/NN``).

    The notebooks come from ``directory`` when it is given, else from the chosen papers' folders
    (default: every paper); an unqualified ``03`` names the ``03`` notebook of each of them.
    """
    available = discover_notebooks(directory) if directory is not None else collection_notebooks(paper_names)
    if not names:
        return available
    chosen = []
    for name in names:
        folder, _, short = name.rpartition("/")
        matches = [p for p in available if short in (p.name, p.stem, p.stem[:2]) and folder in ("", p.parent.name)]
        if not matches:
            listing = ", ".join(f"{p.parent.name}/{p.stem}" for p in available)
            raise ValueError(f"unknown notebook {name!r}; available: {listing}")
        chosen.extend(m for m in matches if m not in chosen)
    return chosen


def notebook_output_dir(out: str | Path, notebook: Path) -> Path:
    """Where a report run puts one notebook's outputs: ``<out>/<paper>/<stem>/``."""
    return (Path(out) / paper_of(notebook).name / notebook.stem).resolve()


def check_overrides(paths: list[Path], overrides: dict[str, object], profile: str = "quick") -> None:
    """Reject an override that no notebook declares, or a bad value of a standard parameter.

    Values of each paper's standard names are validated here with the same rules its notebooks
    apply, so ``-p seed -1`` fails before any notebook starts; a notebook-specific parameter is
    validated by its notebook.
    """
    check_choice("profile", profile, PROFILES)
    fixed = sorted(set(overrides) & set(RUNNER_PARAMETERS))
    if fixed:
        raise ValueError(f"parameter(s) {fixed} are set by the runner (--profile, --out), not by an override")
    known = set().union(*(notebook_parameters(p) for p in paths))
    unknown = sorted(set(overrides) - known)
    if unknown:
        raise ValueError(f"unknown parameter(s) {unknown}; the notebooks take {sorted(known - set(RUNNER_PARAMETERS))}")
    for paper in {paper_of(path).name: paper_of(path) for path in paths}.values():
        check_values(overrides, paper, profile)


def check_values(overrides: dict[str, object], paper: Paper, profile: str = "quick") -> None:
    """Validate the values of ``paper``'s standard parameters among ``overrides`` as its notebooks would."""
    checks = paper.all_checks
    standard = {name: value for name, value in overrides.items() if name in checks and name not in RUNNER_PARAMETERS}
    values = {name: checks[name](value) for name, value in standard.items()}
    if paper.cross_check is not None:
        paper.cross_check(values)


class _Loader(yaml.SafeLoader):
    """YAML 1.1 reads ``1e-3`` as a string; parameters mean the number."""


_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:\d[\d_]*)?(?:\.\d*)?[eE][-+]?\d+$"),
    list("-+0123456789."),
)


def load_yaml(text: str):
    """Parse YAML, reading ``1e-3`` as a float. Raises ``yaml.YAMLError`` on malformed text."""
    return yaml.load(text, Loader=_Loader)


def parse_value(text: str):
    """A ``-p`` value is a YAML scalar or list: ``0.1``, ``1e-3``, ``20``, ``adam``, ``[100, 150]``."""
    try:
        return load_yaml(text)
    except yaml.YAMLError as error:
        raise ValueError(f"cannot parse parameter value {text!r}: {error}") from error


# ---------------------------------------------------------------------------------------------
# Running


def run_notebook(path: str | Path, output_dir: str | Path, parameters: dict[str, object], kernel: str = KERNEL,
                 cwd: str | Path | None = None) -> NotebookRun:
    """Execute ``path`` into ``output_dir/<stem>.ipynb`` with ``parameters``; never raises for a failing notebook.

    The kernel's working directory is ``cwd``, by default the notebook's own folder (as under nbval
    and JupyterLab).
    A notebook stopped by ``ClaimsTable.raise_if_any_fails`` is not an error: its failing claims
    are its result. Anything else that stops it is recorded as ``error`` with the cell and message.
    ``claims.json`` and ``figures/`` of an earlier run are removed first, so that what the report
    shows is this run's.
    """
    import papermill

    path, output_dir = Path(path), Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    claims_path = output_dir / "claims.json"
    claims_path.unlink(missing_ok=True)
    shutil.rmtree(output_dir / "figures", ignore_errors=True)
    run = NotebookRun(path.stem, output_dir)
    stopped_by_claims = False
    start = time.perf_counter()
    try:
        papermill.execute_notebook(str(path), str(run.executed), parameters=parameters, cwd=str(cwd or path.parent),
                                   kernel_name=kernel, progress_bar=False, log_output=False, extra_arguments=QUIET_KERNEL)
    except papermill.PapermillExecutionError as error:
        first_line = next((line for line in error.source.splitlines() if line.strip()), "")
        run.error = f"cell In [{error.exec_count}] `{first_line.strip()}`: {error.ename}: {error.evalue}"
        stopped_by_claims = error.ename == "AssertionError" and "raise_if_any_fails" in error.source
    except Exception as error:  # a kernel that dies, a notebook that cannot be read
        run.error = f"{type(error).__name__}: {error}"
    run.seconds = time.perf_counter() - start
    if claims_path.exists():
        try:
            run.claims = load_claims(claims_path)
        except ValueError as error:
            run.error = run.error or str(error)
    if stopped_by_claims and run.failed_claims:
        run.error = ""
    return run


def run_notebooks(
    paths: list[Path],
    out: str | Path,
    profile: str = "quick",
    overrides: dict[str, object] | None = None,
    progress: bool = True,
    html: bool = True,
) -> list[NotebookRun]:
    """Execute each notebook with ``profile`` and ``overrides`` into ``out/<paper>/<stem>/``, in order.

    A failing notebook is recorded with its error and the rest still run. Each notebook gets the
    overrides it declares (so ``-p steps 100`` reaches only notebooks with a ``steps`` parameter).
    """
    overrides = dict(overrides or {})
    check_overrides(paths, overrides, profile)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    runs = []
    bar = tqdm(paths, desc=f"notebooks ({profile})", unit="notebook", disable=not progress)
    for path in bar:
        bar.set_postfix_str(path.stem)
        output_dir = notebook_output_dir(out, path)
        declared = notebook_parameters(path)
        parameters = {"profile": profile, "output_dir": str(output_dir)}
        parameters.update({k: v for k, v in overrides.items() if k in declared})
        run = run_notebook(path, output_dir, parameters)
        run.paper = paper_of(path).name
        if html and run.executed.exists():
            try:
                from .report import export_html  # report imports this module

                run.html = export_html(run.executed)
            except Exception as error:  # the report still links the .ipynb
                run.error = run.error or f"HTML export failed: {type(error).__name__}: {error}"
        if run.status != "ok":
            bar.write(f"{run.notebook}: {run.status}: {run.error or ', '.join(c['id'] for c in run.failed_claims)}")
        runs.append(run)
    return runs


def refresh_figures(runs: list[NotebookRun], destination: str | Path = papers.FIGURE_ROOT) -> int:
    """Copy each run's figures (PNG and SVG) into ``<destination>/<paper>/``; return how many."""
    copied = 0
    for run in runs:
        folder = Path(destination) / run.paper
        folder.mkdir(parents=True, exist_ok=True)
        for figure in sorted((run.output_dir / "figures").glob("*.*")):
            shutil.copy2(figure, folder / figure.name)
            copied += 1
    return copied


