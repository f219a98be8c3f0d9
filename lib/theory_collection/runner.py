"""Run the notebooks of the collection through papermill, before anything checking what they are given.

A report directory holds one folder per paper, and in it one folder per notebook (the executed
notebook, its HTML export, ``claims.json`` and ``figures/``)::

    <out>/<paper>/NN_name/NN_name.ipynb, NN_name.html, claims.json, figures/*.png|svg

:mod:`theory_collection.report` writes the summaries (``index.html``, ``summary.md``) over them.

**Everything is checked before any kernel starts** (:func:`prepare`). For each notebook the runner
reads, without executing anything,

- its ``parameters`` cell (names and default values, as literals), and
- its profiles: the code cell that assigns ``PROFILES = {...}``. The right-hand side may use dict
  and list literals, ``dict(...)`` calls, numbers, strings and names assigned earlier *in the same
  cell* (``BASE = dict(...)``, ``GRID = [...]``); anything else (a function call, an import) makes
  the profiles unreadable, which is an error naming the notebook. A notebook without ``PROFILES``
  takes those its paper registers for it (``Paper.notebook_profiles``, resolved in the notebook by
  ``Paper.resolve``); the collection's notebooks do so.

Each parameter's value is the override, else its non-``None`` default, else the profile's value.
These values are validated by the paper's rules (:class:`theory_collection.papers.Paper`): the
standard names by ``checks``, the notebook's own names by ``notebook_checks[<stem>]``, or, when no
rule is declared, by the type of the profile value (an integer profile value makes it an integer);
then ``cross_check`` and ``notebook_cross_checks[<stem>]`` see them all, and the paper's
``memory_estimate`` must fit in :func:`theory_collection.params.memory_budget_bytes`. Any failure is
a ``ValueError`` naming the notebook and the parameter. A notebook author who adds a parameter adds
its rule to the paper's ``notebook_checks`` (for the topic paper: ``topic_structure.params``).
An exactly integral float given for an integer (``-p seed 1.0``, YAML ``1e1``) is converted to the
int, and the notebook receives the int; the conversion is reported.

A report run writes each notebook into a staging folder ``<out>/.staging/`` and, once every notebook
has run, replaces the notebooks' previous folders with the new ones (one rename each) and then
writes the summaries, so an interrupted run leaves the earlier report as it was; an interrupted
replacement leaves ``<out>/.incomplete.json`` naming the notebooks whose folders may not match the summaries.
"""

from __future__ import annotations

import copy
import json
import os
import re
import shutil
import signal
import sys
import tempfile
import threading
import time
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import yaml
from tqdm.auto import tqdm

from theory_collection import papers
from theory_collection.claims import OWN_KINDS, load_claims, verdict_of, write_atomic
from theory_collection.papers import Paper, paper_of
from theory_collection.params import (
    PROFILES,
    as_given,
    check_choice,
    check_int,
    format_bytes,
    like_profile,
    memory_budget_bytes,
)

KERNEL = "python3"
# The kernel's own log (a TCP-transport warning at every start, an interrupt at shutdown) is noise
# on the terminal; a notebook's errors and prints still reach the executed notebook.
QUIET_KERNEL = ["--IPKernelApp.log_level=CRITICAL"]

MAX_JOBS = 64  # notebooks run side by side (--jobs)
RUNS_FILE = "runs.json"  # what a report ran (written by theory_collection.report.write_runs)

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
    started: float = 0.0  # when it started, seconds since the epoch (0: not recorded)

    @property
    def executed(self) -> Path:
        """The executed notebook, ``<output_dir>/<stem>.ipynb``."""
        return self.output_dir / f"{self.notebook}.ipynb"

    @property
    def failed_claims(self) -> list[dict]:
        """Every claim whose verdict is ``fails``: the collection's own and the paper's."""
        return [c for c in self.claims if verdict_of(c) == "fails"]

    @property
    def broken_claims(self) -> list[dict]:
        """Failing derivations, predictions and checks: the collection itself is wrong somewhere."""
        return [c for c in self.failed_claims if c.get("kind", "prediction") in OWN_KINDS]

    @property
    def findings(self) -> list[dict]:
        """Failing paper claims and assumptions: findings about a paper or its formalisation (results, not problems)."""
        return [c for c in self.failed_claims if c.get("kind", "prediction") not in OWN_KINDS]

    @property
    def status(self) -> str:
        """ "error" (did not run through), "claims fail" (ran; one of the collection's own claims fails) or "ok".

        A notebook whose only failing claims are the paper's (findings) is "ok": it ran and it
        reports what the data say.
        """
        if self.error:
            return "error"
        return "claims fail" if self.broken_claims else "ok"

    @property
    def figures(self) -> list[Path]:
        """The run's PNG figures (each has an SVG twin)."""
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
    """The names and literal default values of a notebook's ``parameters`` cell (read, not run)."""
    return {name: default_of(spec, name) for spec in [read_notebook_spec(path)] for name in spec.defaults}


def collection_notebooks(paper_names: list[str] | None = None) -> list[Path]:
    """The notebooks of the chosen papers (default: every registered paper), papers in reading order."""
    chosen = (
        [papers.get(name) for name in dict.fromkeys(paper_names)] if paper_names else list(papers.registered().values())
    )
    chosen.sort(key=lambda paper: (paper.order, paper.name))
    if paper_names:
        return [path for paper in chosen for path in discover_notebooks(paper.notebook_dir)]
    # every paper: one whose notebooks are not written yet contributes none
    found = [path for paper in chosen for path in sorted(paper.notebook_dir.glob("[0-9][0-9]_*.ipynb"))]
    if not found:
        raise ValueError(f"no notebooks named NN_*.ipynb in the papers' folders under {papers.NOTEBOOK_ROOT}")
    return found


def select_notebooks(
    names: list[str] | None, directory: str | Path | None = None, paper_names: list[str] | None = None
) -> list[Path]:
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


@dataclass
class Prepared:
    """One notebook, checked and ready to run: the parameters it receives and what was converted."""

    path: Path
    parameters: dict  # the overrides this notebook declares, as it receives them (integral floats made ints)
    values: dict  # every parameter's checked value (override, default or profile value), normalised
    notes: list[str] = field(default_factory=list)  # conversions to tell the user about
    memory: int = 0  # the paper's memory estimate in bytes (0: none given)


def check_overrides(paths: list[Path], overrides: dict[str, object], profile: str = "quick") -> list[Prepared]:
    """Reject an override that no notebook declares, or any value a notebook would refuse; see :func:`prepare`."""
    return prepare(paths, overrides, profile)


def prepare(paths: list[Path], overrides: dict[str, object], profile: str = "quick") -> list[Prepared]:
    """Check every notebook's parameters at ``profile`` with ``overrides``, before any kernel starts.

    Returns one :class:`Prepared` per notebook. Raises ``ValueError`` naming the notebook and the
    parameter for an unknown name, a bad value, a broken rule between parameters (against the
    profile's values), or a size whose memory estimate exceeds the machine's budget.
    """
    check_choice("profile", profile, PROFILES)
    fixed = sorted(set(overrides) & set(RUNNER_PARAMETERS))
    if fixed:
        raise ValueError(f"parameter(s) {fixed} are set by the runner (--profile, --out), not by an override")
    specs = {path: read_notebook_spec(path) for path in paths}
    known = set().union(*(spec.defaults for spec in specs.values()))
    unknown = sorted(set(overrides) - known)
    if unknown:
        raise ValueError(f"unknown parameter(s) {unknown}; the notebooks take {sorted(known - set(RUNNER_PARAMETERS))}")
    return [_prepare_one(path, spec, overrides, profile) for path, spec in specs.items()]


def _prepare_one(path: Path, spec: NotebookSpec, overrides: dict[str, object], profile: str) -> Prepared:
    paper, stem = paper_of(path), path.stem
    profiles = spec.profiles if spec.profiles is not None else paper.notebook_profiles.get(stem)
    if profiles is not None and profile not in profiles:
        raise ValueError(f"{stem}: profile {profile!r} is not defined by this notebook; it defines {sorted(profiles)}")
    profile_values = (profiles or {}).get(profile, {})
    given = {name: value for name, value in overrides.items() if name in spec.defaults}
    values: dict[str, object] = {}
    for name, default in spec.defaults.items():
        if name in RUNNER_PARAMETERS:
            continue
        if name in given:
            values[name] = given[name]
        elif default is not None and default is not _UNREADABLE:
            values[name] = default
        elif name in profile_values:
            values[name] = profile_values[name]
    for name, value in profile_values.items():  # a profile value the parameters cell does not expose
        values.setdefault(name, value)
    checks = paper.checks_for(stem)
    normalised, notes = {}, []
    try:
        for name, value in values.items():
            if name in checks:
                normalised[name] = checks[name](value)
            else:
                normalised[name] = like_profile(name, value, profile_values.get(name, default_of(spec, name)))
            if (
                name in given
                and isinstance(value, float)
                and isinstance(normalised[name], int)
                and not isinstance(normalised[name], bool)
            ):
                notes.append(f"{name}: {value!r} taken as the integer {normalised[name]}")
        paper.cross_check_for(stem)(normalised)
    except ValueError as error:
        raise ValueError(f"{stem} ({profile} profile): {error}") from None
    needed = 0
    if paper.memory_estimate is not None:
        needed, budget = paper.memory_estimate(stem, dict(normalised)), memory_budget_bytes()
        if needed > budget:
            sizes = ", ".join(f"{name}={normalised[name]!r}" for name in given) or "its profile values"
            raise ValueError(
                f"{stem} ({profile} profile): at {sizes} it needs about {format_bytes(needed)} of memory, "
                f"more than the {format_bytes(budget)} this machine allows (3/4 of its memory); "
                "choose smaller sizes"
            )
    # a file is resolved once, here against the caller's working directory: the kernel receives the absolute path
    parameters = {
        name: normalised[name] if name in paper.file_parameters else as_given(value, normalised[name])
        for name, value in given.items()
    }
    return Prepared(path, parameters, normalised, notes, int(needed))


def default_of(spec: NotebookSpec, name: str):
    """The default of ``name`` in the notebook's parameters cell (``None`` when it cannot be read as a literal)."""
    default = spec.defaults.get(name)
    return None if default is _UNREADABLE else default


# ---------------------------------------------------------------------------------------------
# Reading a notebook without running it


_UNREADABLE = object()  # a parameters-cell default that is not a literal (an expression)


class _NotStatic(Exception):
    pass


@dataclass(frozen=True)
class NotebookSpec:
    """What the runner reads from a notebook without executing it."""

    defaults: dict  # the parameters cell: name -> literal default (``_UNREADABLE`` for an expression)
    profiles: dict | None  # ``PROFILES``: profile -> {name: value}; None when the notebook assigns none


def read_notebook_spec(path: str | Path) -> NotebookSpec:
    """The parameters cell and the ``PROFILES`` of a notebook, read statically (see the module docstring)."""
    path = Path(path)
    try:
        stat = path.stat()
    except OSError as error:
        raise ValueError(f"cannot read notebook {path}: {error.strerror}") from error
    return copy.deepcopy(_read_notebook_spec(path.resolve(), stat.st_mtime_ns, stat.st_size))


@lru_cache(maxsize=64)  # a grid checks every point against the same notebook
def _read_notebook_spec(path: Path, mtime_ns: int, size: int) -> NotebookSpec:
    import nbformat

    try:
        nb = nbformat.read(path, as_version=4)
    except Exception as error:  # not JSON, not a notebook, not there
        raise ValueError(f"cannot read notebook {path}: {type(error).__name__}: {error}") from error
    code = [cell for cell in nb.cells if cell.cell_type == "code"]
    tagged = [cell for cell in code if "parameters" in cell.get("metadata", {}).get("tags", [])]
    if len(tagged) != 1:
        raise ValueError(
            f"{path.stem}: a notebook needs exactly one code cell tagged 'parameters', found {len(tagged)}"
        )
    defaults = {}
    for name, node in _assignments(tagged[0].source, path.stem):
        try:
            defaults[name] = _static_value(node, {})
        except _NotStatic:
            defaults[name] = _UNREADABLE
    profiles = None
    for cell in code:
        if cell is tagged[0] or "PROFILES" not in cell.source:
            continue
        names: dict = {}
        for name, node in _assignments(cell.source, path.stem):
            try:
                names[name] = _static_value(node, names)
            except _NotStatic:
                names.pop(name, None)
                if name == "PROFILES":
                    raise ValueError(
                        f"{path.stem}: PROFILES cannot be read without running the notebook: write it with "
                        "literals, dict(...) and names assigned earlier in its cell"
                    ) from None
        if "PROFILES" in names:
            profiles = names["PROFILES"]
            if not isinstance(profiles, dict) or not all(isinstance(v, dict) for v in profiles.values()):
                raise ValueError(f"{path.stem}: PROFILES must map each profile name to a dict of values")
            break
    return NotebookSpec(defaults, profiles)


def _assignments(source: str, where: str):
    """``(name, value node)`` of the top-level assignments of a cell's source, in order."""
    import ast

    lines = [line for line in source.splitlines() if not line.lstrip().startswith(("%", "!"))]  # IPython magics
    try:
        tree = ast.parse("\n".join(lines))
    except SyntaxError as error:
        raise ValueError(f"{where}: cannot parse a cell: {error}") from error
    for statement in tree.body:
        if (
            isinstance(statement, ast.Assign)
            and len(statement.targets) == 1
            and isinstance(statement.targets[0], ast.Name)
        ):
            yield statement.targets[0].id, statement.value
        elif (
            isinstance(statement, ast.AnnAssign)
            and isinstance(statement.target, ast.Name)
            and statement.value is not None
        ):
            yield statement.target.id, statement.value


def _static_value(node, names: dict):
    """The value of an expression made of literals, ``dict(...)``, arithmetic and known names; else _NotStatic."""
    import ast

    if isinstance(node, ast.Constant):
        return node.value
    if isinstance(node, ast.List | ast.Tuple):
        items = [_static_value(item, names) for item in node.elts]
        return items if isinstance(node, ast.List) else tuple(items)
    if isinstance(node, ast.Dict):
        result = {}
        for key, value in zip(node.keys, node.values):
            if key is None:  # {**BASE, ...}
                result.update(_mapping(_static_value(value, names)))
            else:
                result[_static_value(key, names)] = _static_value(value, names)
        return result
    if isinstance(node, ast.Name):
        if node.id in names:
            return names[node.id]
        raise _NotStatic(node.id)
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub | ast.UAdd):
        operand = _static_value(node.operand, names)
        if isinstance(operand, int | float) and not isinstance(operand, bool):
            return -operand if isinstance(node.op, ast.USub) else operand
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add | ast.Sub | ast.Mult | ast.Div | ast.Pow):
        left, right = _static_value(node.left, names), _static_value(node.right, names)
        numbers = all(isinstance(x, int | float) and not isinstance(x, bool) for x in (left, right))
        if numbers and not (isinstance(node.op, ast.Pow) and abs(right) > 64):
            return {
                ast.Add: lambda: left + right,
                ast.Sub: lambda: left - right,
                ast.Mult: lambda: left * right,
                ast.Div: lambda: left / right,
                ast.Pow: lambda: left**right,
            }[type(node.op)]()
    if (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id == "dict"
        and "dict" not in names
        and len(node.args) <= 1
    ):
        result = _mapping(_static_value(node.args[0], names)) if node.args else {}
        for keyword in node.keywords:
            value = _static_value(keyword.value, names)
            if keyword.arg is None:
                result.update(_mapping(value))
            else:
                result[keyword.arg] = value
        return result
    raise _NotStatic(type(node).__name__)


def _mapping(value) -> dict:
    if not isinstance(value, dict):
        raise _NotStatic("not a mapping")
    return dict(value)


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


def run_notebook(
    path: str | Path,
    output_dir: str | Path,
    parameters: dict[str, object],
    kernel: str = KERNEL,
    cwd: str | Path | None = None,
) -> NotebookRun:
    """Execute ``path`` into ``output_dir/<stem>.ipynb`` with ``parameters``; never raises for a failing notebook.

    The kernel's working directory is ``cwd``, by default the notebook's own folder (as under nbval
    and JupyterLab).
    A notebook stopped by ``ClaimsTable.raise_if_any_fails`` is not an error: its failing claims
    are its result. Anything else that stops it is recorded as ``error`` with the cell and message.
    ``claims.json`` and ``figures/`` of an earlier run are removed first, so that what the report
    shows is this run's.
    """
    import papermill

    from theory_collection.jupyter_kernels import OneThreadKernelManager

    path, output_dir = Path(path), Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    claims_path = output_dir / "claims.json"
    claims_path.unlink(missing_ok=True)
    shutil.rmtree(output_dir / "figures", ignore_errors=True)
    run = NotebookRun(path.stem, output_dir)
    stopped_by_claims = False
    run.started = time.time()
    start = time.perf_counter()
    try:
        papermill.execute_notebook(
            str(path),
            str(run.executed),
            parameters=parameters,
            cwd=str(cwd or path.parent),
            kernel_name=kernel,
            progress_bar=False,
            log_output=False,
            extra_arguments=QUIET_KERNEL,
            kernel_manager_class=OneThreadKernelManager,
        )
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


STAGING = ".staging"
INCOMPLETE = ".incomplete.json"


def check_out_dir(out: str | Path, option: str = "--out") -> Path:
    """An output folder that exists, or can be created, and is writable; else a one-line ValueError."""
    path = Path(out).expanduser().absolute()
    if path.exists() and not path.is_dir():
        raise ValueError(f"{option} {out}: exists and is not a directory")
    existing = path
    while not existing.exists():
        if existing.parent == existing:
            break
        existing = existing.parent
    if not existing.is_dir():
        raise ValueError(f"{option} {out}: {existing} is not a directory")
    try:  # the real test (also for root, read-only file systems, /proc): make and remove a folder there
        os.rmdir(tempfile.mkdtemp(dir=existing, prefix=".write-test-"))
    except OSError as error:
        raise ValueError(f"{option} {out}: {existing} is not writable ({error.strerror})") from None
    return path


def default_jobs() -> int:
    """How many notebooks a report runs side by side by default: one per CPU core this process may use."""
    try:
        return max(len(os.sched_getaffinity(0)), 1)
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def check_jobs(jobs) -> int:
    """``--jobs``: an integer in ``[1, MAX_JOBS]``."""
    return check_int("--jobs", jobs, 1, MAX_JOBS)


def run_notebooks(
    paths: list[Path],
    out: str | Path,
    profile: str = "quick",
    overrides: dict[str, object] | None = None,
    progress: bool = True,
    html: bool = True,
    jobs: int | None = None,
) -> list[NotebookRun]:
    """Execute each notebook with ``profile`` and ``overrides`` into ``out/<paper>/<stem>/``; runs in ``paths`` order.

    Everything is checked first (:func:`prepare`). ``jobs`` notebooks run side by side (default: one per
    CPU core, :func:`default_jobs`), each kernel on one compute thread (:mod:`theory_collection.jupyter_kernels`),
    so the numbers are the same for any ``jobs``. Those that took longest in this report's previous run of
    the same profile start first; a notebook waits while its memory estimate does not fit beside those
    running (:func:`theory_collection.params.memory_budget_bytes`). The notebooks run into
    ``out/.staging/``; when all have run, each replaces its previous folder (:func:`publish_runs`), so a
    run stopped before then (Ctrl-C, a kill) leaves the earlier report as it was. A failing notebook is
    recorded with its error and the rest still run. Each notebook gets the overrides it declares (so
    ``-p steps 100`` reaches only notebooks with a ``steps`` parameter). Write the summaries next, with
    :func:`write_report`.
    """
    prepared = prepare(paths, dict(overrides or {}), profile)
    jobs = default_jobs() if jobs is None else check_jobs(jobs)
    out = check_out_dir(out)
    for item in prepared:
        for note in item.notes:
            print(f"{item.path.stem}: {note}", file=sys.stderr)
    out.mkdir(parents=True, exist_ok=True)
    staging = out / STAGING
    shutil.rmtree(staging, ignore_errors=True)  # left by a run that was killed
    previous = previous_seconds(out, profile)
    order = sorted(range(len(prepared)), key=lambda i: -previous.get(_key(prepared[i].path), 0.0))
    runs: list[NotebookRun | None] = [None] * len(prepared)
    running: dict[int, str] = {}
    bar = tqdm(total=len(prepared), desc=f"notebooks ({profile})", unit="notebook", disable=not progress)

    def execute(index: int) -> NotebookRun:
        path = prepared[index].path
        running[index] = path.stem
        bar.set_postfix_str(", ".join(running.values()))
        output_dir = staging / paper_of(path).name / path.stem
        parameters = {"profile": profile, "output_dir": str(output_dir), **prepared[index].parameters}
        run = run_notebook(path, output_dir, parameters)
        run.paper = paper_of(path).name
        if html and run.executed.exists():
            try:
                from theory_collection.report import export_html  # report imports this module

                run.html = export_html(run.executed)
            except Exception as error:  # the report still links the .ipynb
                run.error = run.error or f"HTML export failed: {type(error).__name__}: {error}"
        running.pop(index, None)
        return run

    pool = ThreadPoolExecutor(max_workers=max(min(jobs, len(prepared)), 1), thread_name_prefix="notebook")
    futures: dict = {}  # future -> index into prepared
    active: set = set()
    waiting, budget = list(order), memory_budget_bytes()
    try:
        while waiting or active:
            in_use = sum(prepared[futures[f]].memory for f in active)
            while waiting and len(active) < jobs:
                # the next notebook whose memory estimate fits beside those running (any, when none runs)
                fits = [i for i in waiting if not active or in_use + prepared[i].memory <= budget]
                if not fits:
                    break
                waiting.remove(fits[0])
                future = pool.submit(execute, fits[0])
                futures[future] = fits[0]
                active.add(future)
                in_use += prepared[fits[0]].memory
            done, active = wait(active, return_when=FIRST_COMPLETED)
            for future in done:
                run = runs[futures[future]] = future.result()
                if run.status != "ok":
                    bar.write(
                        f"{run.notebook}: {run.status}: {run.error or ', '.join(c['id'] for c in run.failed_claims)}"
                    )
                bar.update()
                bar.set_postfix_str(", ".join(running.values()))
    except BaseException:
        _stop(pool, futures)
        shutil.rmtree(staging, ignore_errors=True)
        raise
    finally:
        bar.close()
    pool.shutdown()
    with uninterruptible():
        publish_runs(runs, out)
    return runs


def _stop(pool: ThreadPoolExecutor, futures: dict) -> None:
    """Cancel the notebooks not started, kill the kernels of those running and wait for their threads."""
    from theory_collection.jupyter_kernels import kill_running_kernels

    pool.shutdown(wait=False, cancel_futures=True)
    deadline = time.monotonic() + 60
    while any(future.running() for future in futures) and time.monotonic() < deadline:
        kill_running_kernels()  # a kernel starting just now is caught on the next pass
        wait([f for f in futures if f.running()], timeout=0.5)


def _key(path: Path) -> str:
    """``paper/notebook``, as a report's ``runs.json`` names a run."""
    return f"{paper_of(path).name}/{path.stem}"


def previous_seconds(out: Path, profile: str) -> dict[str, float]:
    """``paper/notebook -> seconds`` from the report in ``out`` if it was written with ``profile``; else empty.

    Reads only ``runs.json`` (not the claims, as :func:`theory_collection.report.load_report` does)."""
    try:
        record = json.loads((Path(out) / RUNS_FILE).read_text(encoding="utf-8"))
        if record.get("profile") != profile:
            return {}
        return {f"{r['paper']}/{r['notebook']}": float(r["seconds"]) for r in record["runs"]}
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return {}


@contextmanager
def uninterruptible():
    """Ctrl-C is ignored inside (a few renames and writes that must not stop half-way); main thread only."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def publish_runs(runs: list[NotebookRun], out: str | Path) -> None:
    """Move each staged run into ``out/<paper>/<stem>/``, replacing that notebook's earlier folder.

    ``out/.incomplete.json`` names the notebooks being replaced until :func:`write_report` has written
    the summaries over them; each replacement is two renames on one file system.
    """
    out = Path(out)
    staging, retired = out / STAGING, out / STAGING / ".retired"
    write_atomic(
        out / INCOMPLETE,
        json.dumps(
            {
                "notebooks": [f"{r.paper}/{r.notebook}" for r in runs],
                "meaning": "these notebooks were being replaced; the summaries may not describe them",
            },
            indent=2,
        )
        + "\n",
    )
    for run in runs:
        final = out / run.paper / run.notebook
        final.parent.mkdir(parents=True, exist_ok=True)
        if final.exists():
            (retired / run.paper).mkdir(parents=True, exist_ok=True)
            final.rename(retired / run.paper / run.notebook)
        run.output_dir.rename(final)
        if run.html is not None:
            run.html = final / run.html.name
        run.output_dir = final
    shutil.rmtree(staging, ignore_errors=True)


def write_report(runs: list[NotebookRun], out: str | Path, profile: str) -> tuple[Path, Path]:
    """Write the summaries (``summary.md``, ``index.html``) of published runs, then clear the incomplete marker."""
    from theory_collection.report import write_summaries  # report imports this module

    with uninterruptible():
        summary, index = write_summaries(runs, profile, out)
        (Path(out) / INCOMPLETE).unlink(missing_ok=True)
    return summary, index


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
