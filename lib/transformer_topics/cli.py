"""The ``transformer-topics`` command: ``report`` runs the collection and writes the claims summary."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import yaml

from . import report
from .params import PROFILES


def _parse_value(text: str):
    """``-p`` values are YAML scalars or lists: ``0.1``, ``20``, ``adam``, ``[100, 150]``."""
    return yaml.safe_load(text)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="transformer-topics", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("report", help="execute the notebooks in order and aggregate their claims")
    run.add_argument("--profile", default="quick", choices=PROFILES)
    run.add_argument("-p", "--parameter", nargs=2, action="append", default=[], metavar=("NAME", "VALUE"),
                     help="override a notebook parameter (repeatable)")
    run.add_argument("--out", default=str(report.REPO_ROOT / "reports" / "latest"), help="output directory")
    run.add_argument("--notebook", action="append", default=[], help="run only this notebook (name, stem or NN prefix)")
    run.add_argument("--no-figures", action="store_true", help="do not refresh the collection's figures/")
    return parser


def run_report(args) -> int:
    paths = report.select_notebooks(args.notebook)
    overrides = {name: _parse_value(value) for name, value in args.parameter}
    runs = report.run_notebooks(paths, args.out, args.profile, overrides)
    summary = report.summary_markdown(runs, args.profile)
    (Path(args.out) / "summary.md").write_text(summary)
    if args.profile == "quick" and not args.no_figures and not overrides:
        report.refresh_figures(runs)
    print(summary)
    failed = [r for r in runs if r.error or r.failed_claims]
    print(f"report written to {Path(args.out).resolve()}; {len(failed)} of {len(runs)} notebooks failed or have failing claims")
    return 1 if failed else 0


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return {"report": run_report}[args.command](args)
    except ValueError as error:
        print(f"transformer-topics: error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
