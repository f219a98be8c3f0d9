"""The summaries of a report: ``index.html`` (open it in a browser) and ``summary.md``.

Both are written over the notebook folders that :mod:`theory_collection.runner` filled, and link
into them with relative paths::

    <out>/index.html          open in a browser: verdicts, failures, figures, links
    <out>/summary.md          the same claims table in Markdown
    <out>/<paper>/NN_name/    one notebook's run (see runner)
"""

from __future__ import annotations

import html
from pathlib import Path
from urllib.parse import quote

from .claims import verdict_of
from .runner import NotebookRun


def export_html(notebook: str | Path) -> Path:
    """Write ``notebook`` as HTML next to it (lab template, figures inline); return the path."""
    import nbconvert

    notebook = Path(notebook)
    body, _ = nbconvert.HTMLExporter(template_name="lab").from_filename(str(notebook))
    target = notebook.with_suffix(".html")
    target.write_text(body, encoding="utf-8")
    return target


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
                     verdict_of(c) if verdict_of(c) != "fails" else "**FAILS**"]
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
                status = verdict_of(c) if verdict_of(c) != "fails" else "FAILS"
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
    return {"ok": "good", "holds": "good", "observed": "plain", "inconclusive": "open"}.get(status, "bad")


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
