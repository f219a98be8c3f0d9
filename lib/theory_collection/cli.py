"""theory-collection (alias: transformer-topics): run the notebook collection, sweep a notebook's parameters,
make assignments, compare two reports, for every paper of the collection.

Exit status: 0 when everything ran and none of the collection's own claims (derivations, predictions,
checks) fails - a failing paper claim or assumption is a finding, printed and reported
first, not a failure of the run; 1 when a notebook (or sweep point) failed or one of the collection's
own claims does not hold (report), or when a compared report has a notebook without a clean result
(compare); 2 on bad input (unknown notebook, parameter or profile, a value a notebook would refuse, a
size that does not fit in memory or a run longer than the time limit, malformed grid file, unusable
--out, an --out another run is writing, a report of another profile in --out, unreachable scheduler, a
worker that runs another version of the collection, a folder that is not a report), detected before any
work starts; 130 when interrupted (Ctrl-C).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from theory_collection import compare, papers, points, runner, verdicts
from theory_collection.course import cli as course_cli
from theory_collection.papers import REPO_ROOT
from theory_collection.params import PROFILES

EXAMPLES = """examples:
  theory-collection report                                   # every paper, quick profile -> reports/latest/index.html
  theory-collection report --paper topic_structure --profile paper --out reports/paper
  theory-collection report --paper topic_structure --notebook 03 -p weight_decay 0.03 -p seed 1 --out reports/wd
  theory-collection report --notebook next_token/01          # reruns one notebook; the report keeps the others
  theory-collection report --scheduler tcp://10.0.0.5:8786   # the notebooks run on a Dask cluster's workers
  theory-collection sweep value_matrix_grid.yaml             # local Dask cluster
  theory-collection sweep grid.yaml --scheduler tcp://10.0.0.5:8786
  theory-collection assignments --out reports/assignments
  theory-collection course init ~/teaching/course            # an nbgrader course (see `course --help`)
  theory-collection compare reports/latest reports/paper     # two reports side by side -> Markdown
"""

GRID_SCHEMA = """GRID.yaml:
  notebook: 03_value_matrix     # collection notebook (stem, paper/NN, file name) or path to an .ipynb
  profile: quick                # optional, default quick
  parameters:                   # swept: every combination is one point
    weight_decay: [0.01, 0.03]
    seed: [0, 1]
  fixed: {keep_prob: 0.1}       # optional: the same value at every point
  retries: 2                    # optional: reruns of a point whose run raised
"""


def build_parser() -> argparse.ArgumentParser:
    """The command line: report, sweep, assignments, course and compare, with their options."""
    parser = argparse.ArgumentParser(
        prog="theory-collection",
        description=__doc__,
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="{report,sweep,assignments,course,compare}")

    run = commands.add_parser(
        "report",
        help="execute the notebooks in order and aggregate their claims",
        description="Execute the notebooks in order through papermill, export HTML, and write "
        "summary.md and index.html (claims, verdicts, figures) into --out.",
    )
    run.add_argument("--profile", default="quick", choices=PROFILES, help="parameter profile (default: quick)")
    run.add_argument(
        "-p",
        "--parameter",
        nargs=2,
        action="append",
        default=[],
        metavar=("NAME", "VALUE"),
        help="override a notebook parameter, VALUE in YAML (0.01, 1e-3, adam, [100, 150]); repeatable; "
        "reaches the notebooks that declare NAME",
    )
    run.add_argument(
        "--out",
        default=str(REPO_ROOT / "reports" / "latest"),
        help="output directory (default: reports/latest); a run of some notebooks merges into the report there, "
        "which must be of the same profile",
    )
    add_selection(run)
    run.add_argument("--no-figures", action="store_true", help="do not refresh the collection's figures/")
    run.add_argument(
        "--jobs",
        type=int,
        metavar="N",
        help=f"notebooks run side by side, 1 to {runner.MAX_JOBS}, each kernel on one thread; the numbers are the "
        f"same for any N (default: the CPU cores, here {runner.default_jobs()})",
    )
    add_cluster_options(run, "run the notebooks on the workers of a running Dask scheduler, e.g. tcp://host:8786")

    sweep = commands.add_parser(
        "sweep",
        help="run one notebook over a YAML parameter grid through Dask",
        description="Run one notebook at every point of a YAML parameter grid, one papermill run "
        "per point, through Dask; a point that finished with the same notebook code, profile and values is "
        "skipped, any other runs again. Writes results.csv and sweep_summary.png (see the README) for the points "
        "that match the grid. Ctrl-C stops it tidily; the same command resumes.",
        epilog=GRID_SCHEMA,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sweep.add_argument("grid", metavar="GRID.yaml", help="the parameter grid")
    add_cluster_options(
        sweep, "address of a running Dask scheduler, e.g. tcp://host:8786 (default: start a LocalCluster)"
    )
    sweep.add_argument("--out", help="output directory (default: reports/sweeps/<grid file name>)")
    sweep.add_argument(
        "--workers", type=int, help="LocalCluster workers, 1 to the CPU cores (default: min(points, CPU cores))"
    )
    sweep.add_argument(
        "--notebooks",
        metavar="DIR",
        help="look the grid's notebook up in this folder (default: the collection's papers)",
    )

    course_cli.add_parsers(commands, add_selection)  # assignments, course {init,grade,check}

    compare = commands.add_parser(
        "compare",
        help="set two written reports side by side (say the quick and the paper profile)",
        description="Read two reports written by `report` and print, in Markdown, the notebooks of either without a "
        "clean result (failed, missing, incomplete, a failed newer attempt: exit status 1), each paper's headline "
        "with both verdicts per cell, the claims whose verdict differs (with both measured values) and the status "
        "and time of each notebook in both.",
    )
    compare.add_argument("first", metavar="REPORT", help="a report folder (e.g. reports/latest)")
    compare.add_argument("second", metavar="OTHER", help="another report folder (e.g. reports/paper)")
    compare.add_argument("--out", metavar="FILE", help="also write the Markdown into FILE")
    return parser


def add_cluster_options(command: argparse.ArgumentParser, scheduler_help: str) -> None:
    """--scheduler and --connect-timeout: where a command's notebooks run."""
    command.add_argument("--scheduler", metavar="ADDRESS", help=scheduler_help)
    command.add_argument(
        "--connect-timeout",
        type=float,
        default=10.0,
        metavar="SECONDS",
        help="how long to wait for --scheduler and its first worker, in (0, 3600] (default: 10)",
    )


def add_selection(command: argparse.ArgumentParser) -> None:
    """--paper, --notebook and --notebooks: which notebooks a command works on."""
    names = ", ".join(papers.registered())
    command.add_argument(
        "--paper",
        action="append",
        default=[],
        metavar="NAME",
        help=f"only this paper's notebooks ({names}); repeatable (default: every paper)",
    )
    command.add_argument(
        "--notebook",
        action="append",
        default=[],
        metavar="NAME",
        help="only this notebook (file name, stem, NN prefix within the chosen papers, or paper/NN); repeatable",
    )
    command.add_argument(
        "--notebooks", metavar="DIR", help="a folder of NN_*.ipynb notebooks instead of the collection's papers"
    )


def selected_notebooks(args) -> list[Path]:
    """The notebooks that --paper, --notebook and --notebooks name."""
    if args.notebooks and args.paper:
        raise ValueError("--notebooks and --paper exclude each other")
    return runner.select_notebooks(args.notebook, args.notebooks, args.paper)


def run_report(args) -> int:
    """`report`: check everything, run the notebooks, write the report; return the exit status."""
    paths = selected_notebooks(args)
    overrides = {name: runner.parse_value(value) for name, value in args.parameter}
    out = runner.check_out_dir(args.out)
    jobs = None if args.jobs is None else runner.check_jobs(args.jobs)  # run_notebooks takes None as the cores
    if args.scheduler is not None:
        points.check_scheduler_address(args.scheduler)
    timeout = points.check_connect_timeout(args.connect_timeout)
    runner.prepare(paths, overrides, args.profile)  # every check, before anything is written
    runner.check_report_profile(out, args.profile)
    try:
        runs = runner.run_notebooks(
            paths, out, args.profile, overrides, jobs=jobs, scheduler=args.scheduler, timeout=timeout, summarise=True
        )
    except KeyboardInterrupt:
        print(
            f"theory-collection report: interrupted; the report in {out} is unchanged (this run's notebooks "
            "were discarded)",
            file=sys.stderr,
        )
        return INTERRUPTED
    summary, index = out / "summary.md", out / "index.html"
    if args.notebooks is None and args.profile == "quick" and not overrides and not args.no_figures:
        runner.refresh_figures([run for run in runs if run.attempt is None])
    print(summary.read_text())
    issues = verdicts.problems(runs)
    print(f"report: {index.resolve()}")
    print(verdicts.failures_line(runs))
    print(
        f"{len(issues)} problem(s) in the {len(runs)} notebooks of this run"
        if issues
        else f"all {len(runs)} notebooks of this run ran and none of the collection's own claims fails"
    )
    return 1 if issues else 0


def run_sweep(args) -> int:
    """`sweep`: run one notebook over a grid on Dask; return the exit status."""
    from theory_collection import sweep

    grid = sweep.load_grid(args.grid, args.notebooks)
    if args.scheduler is not None:
        points.check_scheduler_address(args.scheduler)
    timeout = points.check_connect_timeout(args.connect_timeout)
    workers = None if args.workers is None else sweep.check_workers(args.workers)
    out = runner.check_out_dir(args.out if args.out else REPO_ROOT / "reports" / "sweeps" / Path(args.grid).stem)
    table = sweep.run_sweep(grid, out, scheduler=args.scheduler, workers=workers, timeout=timeout)
    counts = table["status"].value_counts().to_dict()
    print(f"{len(table)} points of {grid.notebook.stem}: " + ", ".join(f"{n} {status}" for status, n in counts.items()))
    print(f"results: {(out / 'results.csv').resolve()}\nfigure:  {(out / 'sweep_summary.png').resolve()}")
    if table.attrs.get("interrupted"):
        finished = int(table["status"].isin(sweep.FINISHED).sum())
        print(
            f"theory-collection sweep: interrupted; {finished} of {len(table)} points finished and are in "
            "results.csv. Run the same command again to resume: finished points are skipped.",
            file=sys.stderr,
        )
        return INTERRUPTED
    errors = table[~table["status"].isin(sweep.FINISHED)]
    for _, row in errors.iterrows():
        print(f"  {row['point']}: {row['status']}: {row['error']}")
    return 1 if len(errors) else 0


def run_assignments(args) -> int:
    """`assignments`: write student and instructor copies; return the exit status."""
    return course_cli.run_assignments(args, selected_notebooks)


def run_course(args) -> int:
    """`course init|grade|check`: an nbgrader course; return the exit status."""
    return course_cli.run_course(args, selected_notebooks)


def run_compare(args) -> int:
    """`compare`: two reports side by side, in Markdown; return the exit status."""
    text, lacking = compare.compare_reports(args.first, args.second, args.out)
    print(text, end="")
    if lacking:
        print(f"theory-collection compare: notebooks without a clean result: {'; '.join(lacking)}", file=sys.stderr)
    return 1 if lacking else 0


COMMANDS = {
    "report": run_report,
    "sweep": run_sweep,
    "assignments": run_assignments,
    "course": run_course,
    "compare": run_compare,
}
INTERRUPTED = 130  # the shell's status for a command stopped by Ctrl-C


def main(argv: list[str] | None = None) -> int:
    """Run a command; bad input is one line on stderr and exit status 2, never a traceback."""
    args = build_parser().parse_args(argv)
    try:
        return COMMANDS[args.command](args)
    except ValueError as error:
        print(f"theory-collection {args.command}: error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
