"""Dask for one notebook: connect to a cluster or start a local one, and map a function over points.

A notebook sweeps one experiment function (a training run, an optimum) over a list of points with
:func:`map_points`; the points run side by side on the workers and come back in their order. Reports and
sweeps of whole notebooks on a cluster are :mod:`theory_collection.cluster`. Kept apart from it because every
notebook's kernel imports this module, and it imports nothing of the collection's notebook machinery.
"""

from __future__ import annotations

import logging
import os
import re
from contextlib import contextmanager

from theory_collection.params import check_float, check_int

MAX_CONNECT_TIMEOUT = 3600.0  # seconds


# How many Dask workers a notebook's map_points starts by default, where the collection runs the notebook
# unattended (theory_collection.jupyter_kernels): there it runs beside others that already keep the cores busy
NOTEBOOK_WORKERS = "THEORY_COLLECTION_WORKERS"


def max_workers() -> int:
    """The most LocalCluster workers: one per CPU core (at least 2); more only queue for the cores."""
    return max(os.cpu_count() or 1, 2)


def notebook_workers() -> int:
    """The Dask workers :func:`map_points` starts when not told: :data:`NOTEBOOK_WORKERS` from the environment
    (at most :func:`max_workers`), else one per core.

    A report runs one notebook per core, so its kernels get 1: the points then run in the notebook's own
    process, which gives the same numbers and, with the cores already busy, sooner (workers only add their start
    and, for stacked runs, split a stack whose step costs little more than half of it)."""
    value = os.environ.get(NOTEBOOK_WORKERS, "")
    return min(int(value), max_workers()) if value.isdigit() and int(value) >= 1 else max_workers()


def check_workers(workers) -> int:
    """``--workers``: an integer in ``[1, max_workers()]``."""
    return check_int("--workers", workers, 1, max_workers())


def check_connect_timeout(seconds) -> float:
    """``--connect-timeout``: seconds in ``(0, 3600]``."""
    return check_float("--connect-timeout", seconds, 0.0, MAX_CONNECT_TIMEOUT, low_open=True)


def check_scheduler_address(scheduler: str) -> str:
    """A Dask scheduler address such as ``tcp://host:8786``; else ValueError."""
    if not isinstance(scheduler, str) or not re.fullmatch(r"(tcp|tls|ws|wss)://[^\s/:]+(:\d+)?/?", scheduler):
        raise ValueError(f"scheduler must be an address like tcp://host:8786, got {scheduler!r}")
    return scheduler


@contextmanager
def connect(scheduler: str | None, workers: int, timeout: float = 10.0):
    """A Dask client: to ``scheduler`` (``tcp://host:port``), or to a new ``LocalCluster`` of
    ``workers`` single-threaded worker processes that is shut down afterwards.

    An address that is malformed or does not answer within ``timeout`` seconds is a ValueError.
    """
    from distributed import Client, LocalCluster

    if scheduler is None:
        with (
            LocalCluster(
                n_workers=check_workers(workers),
                threads_per_worker=1,
                processes=True,
                # a free port chosen by the system: None still starts the dashboard on 8787, and warns when it is taken
                dashboard_address=":0",
                silence_logs=logging.ERROR,
            ) as cluster,
            Client(cluster) as client,
        ):
            yield client
        return
    check_scheduler_address(scheduler)
    try:
        client = Client(scheduler, timeout=f"{timeout}s")
    except (OSError, TimeoutError) as error:
        raise ValueError(f"cannot reach the Dask scheduler at {scheduler} within {timeout:g} s: {error}") from error
    with client:
        yield client


def map_points(
    function,
    points: list[dict],
    workers: int | None = None,
    scheduler: str | None = None,
    progress: bool = True,
    description: str = "points",
    timeout: float = 10.0,
) -> list:
    """``[function(**point) for point in points]``, the points run side by side on Dask workers.

    The finer grain of :func:`theory_collection.sweep.run_sweep`: a notebook sweeps one experiment function (a
    training run) over a list of points, and gets the results back in the points' order, whatever order they
    finish in.
    Deterministic as far as ``function`` is: each call sees only its point (seed it from the point), and
    the workers run one thread each (Dask sets ``OMP_NUM_THREADS=1`` in them), as a notebook does.
    ``workers``: a new ``LocalCluster`` of that many single-threaded processes (default: one per point, at
    most :func:`notebook_workers`); ``1`` or a single point runs in this process without a cluster, giving the
    same results. ``scheduler``: an existing cluster (``tcp://host:port``) instead. ``function`` is
    pickled to the workers: a library function, or one defined in the notebook (sent by value). A point
    that raises stops the map: the others are cancelled and the error is re-raised, naming the point.
    A progress bar counts finished points.
    """
    from tqdm.std import tqdm

    points = list(points)
    if not all(isinstance(point, dict) for point in points):
        raise ValueError("map_points needs a list of dicts: the keyword arguments of each call")
    workers = check_workers(workers) if workers is not None else min(max(len(points), 1), notebook_workers())
    timeout = check_connect_timeout(timeout)
    results: list = [None] * len(points)
    bar = tqdm(total=len(points), desc=description, unit="point", disable=not progress)
    try:
        if scheduler is None and (workers == 1 or len(points) <= 1):
            for index, point in enumerate(points):
                results[index] = _call_point(function, point)
                bar.update()
            return results
        from distributed import as_completed

        with connect(scheduler, workers, timeout) as client:
            futures = {client.submit(function, **point, pure=False): index for index, point in enumerate(points)}
            for future in as_completed(futures):
                index = futures[future]
                if future.status != "finished":
                    error = future.exception()  # before cancelling, which drops it
                    client.cancel(list(futures))
                    raise RuntimeError(f"point {points[index]} raised {type(error).__name__}: {error}") from error
                results[index] = future.result()
                bar.update()
        return results
    finally:
        bar.close()


def _call_point(function, point: dict):
    try:
        return function(**point)
    except Exception as error:
        raise RuntimeError(f"point {point} raised {type(error).__name__}: {error}") from error
