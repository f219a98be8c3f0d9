"""Run the notebooks through papermill and aggregate their claims tables into a report.

A report directory holds one folder per notebook (the executed notebook, its HTML export,
``claims.json`` and ``figures/``) and two summaries that link into them with relative paths::

    <out>/index.html          open in a browser: verdicts, failures, figures, links
    <out>/summary.md          the same claims table in Markdown
    <out>/NN_name/NN_name.ipynb, NN_name.html, claims.json, figures/*.png|svg
"""

from __future__ import annotations

import html
import re
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

import yaml
from tqdm.auto import tqdm

from . import params
from .claims import load_claims
from .params import PROFILES, STANDARD_NAMES, check_choice

REPO_ROOT = Path(__file__).resolve().parents[2]
NOTEBOOK_DIR = REPO_ROOT / "notebooks"
FIGURE_DIR = REPO_ROOT / "figures"
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
    error: str = ""  # "" when the notebook ran to the end or was stopped only by its failing claims
    claims: list[dict] = field(default_factory=list)
    seconds: float = 0.0
    html: Path | None = None

    @property
    def executed(self) -> Path:
        return self.output_dir / f"{self.notebook}.ipynb"

    @property
    def failed_claims(self) -> list[dict]:
        return [c for c in self.claims if not c["holds"]]

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


def discover_notebooks(directory: str | Path = NOTEBOOK_DIR) -> list[Path]:
    """The collection's notebooks in reading order (``NN_name.ipynb``)."""
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
        chosen.extend(m for m in matches if m not in chosen)
    return chosen


def check_overrides(paths: list[Path], overrides: dict[str, object], profile: str = "quick") -> None:
    """Reject an override that no notebook declares, or a bad value of a standard parameter.

    Values of the standard names (``params.STANDARD_NAMES``) are validated here with the same rules
    the notebooks apply, so ``-p seed -1`` fails before any notebook starts; a notebook-specific
    parameter is validated by its notebook.
    """
    check_choice("profile", profile, PROFILES)
    fixed = sorted(set(overrides) & set(RUNNER_PARAMETERS))
    if fixed:
        raise ValueError(f"parameter(s) {fixed} are set by the runner (--profile, --out), not by an override")
    known = set().union(*(notebook_parameters(p) for p in paths))
    unknown = sorted(set(overrides) - known)
    if unknown:
        raise ValueError(f"unknown parameter(s) {unknown}; the notebooks take {sorted(known - set(RUNNER_PARAMETERS))}")
    check_values(overrides, profile)


def check_values(overrides: dict[str, object], profile: str = "quick") -> None:
    """Validate the values of the standard parameters among ``overrides`` as the notebooks would."""
    standard = {name: value for name, value in overrides.items() if name in STANDARD_NAMES and name not in RUNNER_PARAMETERS}
    params.resolve({profile: {}}, profile, **standard)


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


def export_html(notebook: str | Path) -> Path:
    """Write ``notebook`` as HTML next to it (lab template, figures inline); return the path."""
    import nbconvert

    notebook = Path(notebook)
    body, _ = nbconvert.HTMLExporter(template_name="lab").from_filename(str(notebook))
    target = notebook.with_suffix(".html")
    target.write_text(body, encoding="utf-8")
    return target


def run_notebooks(
    paths: list[Path],
    out: str | Path,
    profile: str = "quick",
    overrides: dict[str, object] | None = None,
    progress: bool = True,
    html: bool = True,
) -> list[NotebookRun]:
    """Execute each notebook with ``profile`` and ``overrides`` into ``out/<stem>/``, in order.

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
        output_dir = (out / path.stem).resolve()
        declared = notebook_parameters(path)
        parameters = {"profile": profile, "output_dir": str(output_dir)}
        parameters.update({k: v for k, v in overrides.items() if k in declared})
        run = run_notebook(path, output_dir, parameters)
        if html and run.executed.exists():
            try:
                run.html = export_html(run.executed)
            except Exception as error:  # the report still links the .ipynb
                run.error = run.error or f"HTML export failed: {type(error).__name__}: {error}"
        if run.status != "ok":
            bar.write(f"{run.notebook}: {run.status}: {run.error or ', '.join(c['id'] for c in run.failed_claims)}")
        runs.append(run)
    return runs


def refresh_figures(runs: list[NotebookRun], destination: str | Path = FIGURE_DIR) -> int:
    """Copy each run's figures (PNG and SVG) into the collection's ``figures/``; return how many."""
    destination = Path(destination)
    destination.mkdir(exist_ok=True)
    copied = 0
    for run in runs:
        for figure in sorted((run.output_dir / "figures").glob("*.*")):
            shutil.copy2(figure, destination / figure.name)
            copied += 1
    return copied


# ---------------------------------------------------------------------------------------------
# Summaries


def problems(runs: list[NotebookRun]) -> list[tuple[str, str]]:
    """(what, why) for each notebook that failed and each claim that does not hold; empty when all is well."""
    found = [(f"{r.notebook} failed", r.error) for r in runs if r.error]
    found += [(f"{c['id']} does not hold ({r.notebook})",
               f"theory {_fmt(c['theory'])}, measured {_fmt(c['measured'])}, {c['tolerance']}"
               + (f"; {c['reason']}" if c.get("reason") else ""))
              for r in runs for c in r.failed_claims]
    return found


def summary_markdown(runs: list[NotebookRun], profile: str, root: str | Path | None = None) -> str:
    """The aggregated claims table of a report, failures listed first.

    With ``root`` (the report directory), notebook names link to their HTML relative to it.
    """
    lines = [f"# Claims summary ({profile} profile)", ""]
    issues = problems(runs)
    total = sum(len(r.claims) for r in runs)
    if issues:
        lines += [f"{len(issues)} problem(s) in {len(runs)} notebooks ({total} claims):", ""]
        lines += [f"- **{what}**: {why}" for what, why in issues]
    else:
        lines.append(f"All {total} claims of {len(runs)} notebooks hold.")
    silent = [r.notebook for r in runs if not r.error and not r.claims]
    if silent:
        lines += ["", f"Wrote no claims table: {', '.join(silent)}."]
    lines += ["", "| notebook | claim | statement | theory | measured | tolerance | verdict |",
              "|---|---|---|---|---|---|---|"]
    for run in runs:
        linked = run.notebook
        if root is not None and run.html is not None:
            linked = f"[{run.notebook}]({_href(run.html, root)})"
        for row, c in enumerate(run.claims):
            cells = [linked if row == 0 else run.notebook, c["id"], c["statement"], _fmt(c["theory"]), _fmt(c["measured"]), c["tolerance"],
                     "holds" if c["holds"] else "**FAILS**"]
            lines.append("| " + " | ".join(str(cell).replace("|", "\\|").replace("\n", " ") for cell in cells) + " |")
        if not run.claims:
            lines.append(f"| {linked} | | {run.status} | | | | |")
    return "\n".join(lines) + "\n"


def index_html(runs: list[NotebookRun], profile: str, root: str | Path) -> str:
    """A self-contained HTML index of a report; every link is relative to ``root``."""
    root = Path(root)
    issues = problems(runs)
    total = sum(len(r.claims) for r in runs)
    verdict = (f'<p class="bad">{len(issues)} problem(s):</p><ul>' + "".join(f"<li><b>{_e(what)}</b>: {_e(why)}</li>" for what, why in issues) + "</ul>"
               if issues else f'<p class="good">All {total} claims of {len(runs)} notebooks hold.</p>')
    overview = ["<table><tr><th>notebook</th><th>status</th><th>claims holding</th><th>time</th><th>files</th></tr>"]
    sections = []
    for run in runs:
        anchor = _e(run.notebook)
        files = [(label, target) for label, target in
                 [("HTML", run.html), ("notebook", run.executed), ("claims.json", run.output_dir / "claims.json")]
                 if target is not None and target.exists()]
        links = " · ".join(f'<a href="{_href(target, root)}">{label}</a>' for label, target in files)
        holding = f"{len(run.claims) - len(run.failed_claims)} / {len(run.claims)}"
        overview.append(f'<tr><td><a href="#{anchor}">{anchor}</a></td><td class="{_css(run.status)}">{_e(run.status)}</td>'
                        f"<td>{holding}</td><td>{run.seconds:.0f} s</td><td>{links}</td></tr>")
        body = [f'<h2 id="{anchor}">{anchor}</h2>', f"<p>{links}</p>"]
        if run.error:
            body.append(f'<pre class="bad">{_e(run.error)}</pre>')
        if run.claims:
            body.append("<table><tr><th>claim</th><th>statement</th><th>theory</th><th>measured</th><th>tolerance</th><th>verdict</th></tr>")
            for c in run.claims:
                status = "holds" if c["holds"] else "FAILS"
                reason = f'<br><small>{_e(c["reason"])}</small>' if c.get("reason") else ""
                body.append(f"<tr><td>{_e(c['id'])}</td><td>{_e(c['statement'])}{reason}</td>"
                            f"<td title=\"{_e(c['theory'])}\">{_e(_fmt(c['theory']))}</td>"  # full precision on hover
                            f"<td title=\"{_e(c['measured'])}\">{_e(_fmt(c['measured']))}</td>"
                            f"<td>{_e(c['tolerance'])}</td><td class=\"{_css(status)}\">{status}</td></tr>")
            body.append("</table>")
        if run.figures:
            body.append('<div class="figures">')
            for png in run.figures:
                svg = png.with_suffix(".svg")
                extra = f' (<a href="{_href(svg, root)}">SVG</a>)' if svg.exists() else ""
                body.append(f'<figure><a href="{_href(png, root)}"><img src="{_href(png, root)}" alt="{_e(png.stem)}"></a>'
                            f"<figcaption>{_e(png.stem)}{extra}</figcaption></figure>")
            body.append("</div>")
        sections.append("\n".join(body))
    overview.append("</table>")
    summary_link = f'<p><a href="{_href(root / "summary.md", root)}">summary.md</a></p>' if (root / "summary.md").exists() else ""
    return _PAGE.format(title=f"Claims summary ({_e(profile)} profile)", verdict=verdict, summary_link=summary_link,
                        overview="\n".join(overview), sections="\n".join(sections))


def write_summaries(runs: list[NotebookRun], profile: str, out: str | Path) -> tuple[Path, Path]:
    """Write ``summary.md`` and ``index.html`` into the report directory ``out``; return both paths."""
    out = Path(out)
    markdown = out / "summary.md"
    markdown.write_text(summary_markdown(runs, profile, root=out), encoding="utf-8")
    index = out / "index.html"
    index.write_text(index_html(runs, profile, out), encoding="utf-8")
    return markdown, index


def _relative(target: Path, root: str | Path) -> str:
    return Path(target).resolve().relative_to(Path(root).resolve()).as_posix()


def _href(target: Path, root: str | Path) -> str:
    return quote(_relative(target, root))


def _e(value) -> str:
    return html.escape(str(value))


def _css(status: str) -> str:
    return {"ok": "good", "holds": "good"}.get(status, "bad")


def _fmt(value) -> str:
    return f"{value:.6g}" if isinstance(value, float) else str(value)


_PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{title}</title>
<style>
body {{ font-family: system-ui, sans-serif; max-width: 72rem; margin: 2rem auto; padding: 0 1rem; color: #222; }}
table {{ border-collapse: collapse; margin: 0.5rem 0 1rem; }}
th, td {{ border: 1px solid #ccc; padding: 0.25rem 0.5rem; text-align: left; vertical-align: top; }}
th {{ background: #f3f3f3; }}
.good {{ color: #1a7f37; font-weight: 600; }}
.bad {{ color: #b42318; font-weight: 600; }}
pre.bad {{ white-space: pre-wrap; background: #fff4f2; padding: 0.5rem; }}
.figures {{ display: flex; flex-wrap: wrap; gap: 1rem; }}
figure {{ margin: 0; }}
figure img {{ max-width: 22rem; border: 1px solid #ddd; }}
figcaption {{ font-size: 0.85rem; }}
</style>
</head>
<body>
<h1>{title}</h1>
{verdict}
{summary_link}
{overview}
{sections}
</body>
</html>
"""
