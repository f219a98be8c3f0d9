"""Notebooks 08's and 09's independent runs on Dask workers and in the notebook's own process, side by side.

    python benchmarks/notebook_points.py [--profile paper] [--fraction 1.0] [--routes 08-main 09-optima ...]

Must be run on an idle machine for figures worth quoting (the README's come from one such run).

Each route is a cell of notebook 08 or 09 that maps a function over points with
``theory_collection.points.map_points``, built from the notebook's own profile as the notebook builds it
(training runs cut to ``--fraction`` of their steps). It runs twice: on a new local Dask cluster of one worker
per core (what a notebook does when a person runs it) and in this process with one worker (what it does in a
report, which already runs one notebook per core: ``points.NOTEBOOK_WORKERS``). The script prints wall and CPU
seconds of both, worker processes included, and the largest relative difference of their results (the same
computation in the same order: 0, or float rounding):

    08-main    08's main runs (decoders x seeds)    batched_runs.map_lda_runs
    08-grid    08's robustness grid                 the same
    09-main    09's main runs (seeds)               batched_runs.map_sweep_runs
    09-sweep   09's sweep                           the same
    09-optima  09's population optima (decays)      exchange.population_optima

On 2 cores the workers finish a route at most a little sooner when nothing else runs, at up to twice the CPU
time; beside a second notebook, as in a report, the CPU time is what decides.
"""

from __future__ import annotations

import argparse
import datetime
import os
import resource
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from notebook_routes import attention_points, curves_of, gap, lda_points  # noqa: E402

from theory_collection import points as dask_points  # noqa: E402
from topic_structure import batched_runs  # noqa: E402
from topic_structure.profiles import NOTEBOOK_PROFILES  # noqa: E402
from topic_structure.theory import exchange  # noqa: E402


def route_08(profile: str, fraction: float, grid: bool):
    points = lda_points(profile, fraction, grid)
    return lambda: curves_of(batched_runs.map_lda_runs(points))


def route_09_runs(profile: str, fraction: float, sweep: bool):
    points = attention_points(profile, fraction, sweep)
    return lambda: curves_of(batched_runs.map_sweep_runs(points), True)


def route_09_optima(profile: str, fraction: float):
    decays = NOTEBOOK_PROFILES["09_topic_attention_over_training"][profile]["decays"]
    return lambda: exchange.population_optima(decays, seed=0, progress=False).drop(columns="rule holds")


ROUTES: dict[str, Callable] = {
    "08-main": lambda profile, fraction: route_08(profile, fraction, grid=False),
    "08-grid": lambda profile, fraction: route_08(profile, fraction, grid=True),
    "09-main": lambda profile, fraction: route_09_runs(profile, fraction, sweep=False),
    "09-sweep": lambda profile, fraction: route_09_runs(profile, fraction, sweep=True),
    "09-optima": route_09_optima,
}


def cpu_seconds() -> float:
    """CPU time of this process and of its finished children (the Dask workers, once their cluster closed)."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def timed(function, workers: int) -> tuple[object, float, float]:
    os.environ[dask_points.NOTEBOOK_WORKERS] = str(workers)
    start, start_cpu = time.perf_counter(), cpu_seconds()
    result = function()
    return result, cpu_seconds() - start_cpu, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--profile", choices=("quick", "paper"), default="paper")
    parser.add_argument("--fraction", type=float, default=1.0, help="share of each training run's steps to run")
    parser.add_argument("--routes", nargs="+", choices=list(ROUTES), default=list(ROUTES))
    args = parser.parse_args()
    if not 0 < args.fraction <= 1:
        parser.error(f"--fraction must be in (0, 1], got {args.fraction}")
    torch.set_num_threads(1)  # as every notebook kernel runs
    workers = dask_points.max_workers()
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    now = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    print(
        f"{now}; {os.cpu_count()} cores, load average {load}; one torch thread; {args.profile} profile, runs at "
        f"{args.fraction:g} of their steps; Dask: a new local cluster of {workers} single-threaded workers"
    )
    print(
        f"{'route':10s} {'Dask CPU s':>10s} {'own CPU s':>10s} {'ratio':>6s}   {'Dask wall':>9s} {'own wall':>9s}   "
        "largest relative difference"
    )
    for name in args.routes:
        run = ROUTES[name](args.profile, args.fraction)
        spread, spread_cpu, spread_wall = timed(run, workers)
        own, own_cpu, own_wall = timed(run, 1)
        print(
            f"{name:10s} {spread_cpu:10.1f} {own_cpu:10.1f} {spread_cpu / own_cpu:5.1f}x   {spread_wall:8.1f}s "
            f"{own_wall:8.1f}s   {gap(spread, own):.1e}",
            flush=True,
        )


if __name__ == "__main__":
    main()
