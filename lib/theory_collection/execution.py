"""Executing notebooks through papermill, each kernel on one compute thread, each into a folder of its own.

:func:`run_notebook` is what a report (:mod:`theory_collection.runner`) and a sweep or a cluster worker
(:mod:`theory_collection.cluster`) call for each notebook; it never raises for a failing notebook.
:func:`run_side_by_side` runs a report's notebooks on this machine, several at a time.
"""

from __future__ import annotations

import contextvars
import shutil
import time
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from pathlib import Path

from tqdm.auto import tqdm

from theory_collection.claims import load_claims
from theory_collection.jupyter_kernels import OneThreadKernelManager, kill_running_kernels
from theory_collection.papers import paper_of
from theory_collection.params import memory_budget_bytes
from theory_collection.report import export_html
from theory_collection.runs import NotebookRun

KERNEL = "python3"
# The kernel's own log (a TCP-transport warning at every start, an interrupt at shutdown) is noise
# on the terminal; a notebook's errors and prints still reach the executed notebook.
QUIET_KERNEL = ["--IPKernelApp.log_level=CRITICAL"]


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
        # In a context of its own: nbclient keeps its event loop in a context variable, and a context copied from
        # another thread (a Dask worker's task carries its submitter's) would hand it a loop already running there.
        contextvars.Context().run(
            papermill.execute_notebook,
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


def export_page_of(run: NotebookRun, html: bool) -> None:
    """Write the run's HTML page beside its executed notebook (the report still links the .ipynb without)."""
    if html and run.executed.exists():
        try:
            run.html = export_html(run.executed)
        except Exception as error:
            run.error = run.error or f"HTML export failed: {type(error).__name__}: {error}"


def run_side_by_side(
    prepared: list, staging: Path, profile: str, order: list[int], jobs: int, progress: bool, html: bool
) -> list[NotebookRun]:
    """Run checked notebooks (:class:`theory_collection.runner.Prepared`: ``path``, ``parameters``, ``memory``)
    on this machine into ``staging/<paper>/<stem>/``, ``jobs`` side by side, starting in ``order``; a
    notebook waits while its memory estimate does not fit beside those running. Ctrl-C kills the kernels."""
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
        export_page_of(run, html)
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
        raise
    finally:
        bar.close()
    pool.shutdown()
    return runs


def _stop(pool: ThreadPoolExecutor, futures: dict) -> None:
    """Cancel the notebooks not started, kill the kernels of those running and wait for their threads."""
    pool.shutdown(wait=False, cancel_futures=True)
    deadline = time.monotonic() + 60
    while any(future.running() for future in futures) and time.monotonic() < deadline:
        kill_running_kernels()  # a kernel starting just now is caught on the next pass
        wait([f for f in futures if f.running()], timeout=0.5)
