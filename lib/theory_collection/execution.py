"""Executing notebooks through papermill, each kernel on one compute thread, each into a folder of its own.

:func:`run_notebook` is what a sweep or a cluster worker (:mod:`theory_collection.cluster`) calls for each
notebook; it never raises for a failing notebook. :func:`run_side_by_side` runs a report's notebooks on this
machine, several at a time, each side running its notebooks one after another in a process of its own
(:class:`NotebookProcess`): papermill changes the whole process's working directory to the notebook's folder for as
long as it executes it, so two notebooks of two folders run from threads of one process would each start their
kernel, and resolve relative paths, in whichever folder the other had just changed to. ``python -m
theory_collection.execution`` is that process: it reads one notebook to run per line and answers each with a
line. One process per side, not per notebook: starting one costs about 2.5 s of imports (papermill, nbformat's
schema checks), which a report of 15 notebooks would otherwise pay 15 times on busy cores.
"""

from __future__ import annotations

import collections
import contextvars
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from pathlib import Path

from tqdm.auto import tqdm

from theory_collection.claims import load_claims
from theory_collection.jupyter_kernels import OneThreadKernelManager, kill_running_kernels
from theory_collection.papers import paper_of
from theory_collection.params import memory_budget_bytes
from theory_collection.points import NOTEBOOK_WORKERS
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


_children: set[subprocess.Popen] = set()
_children_lock = threading.Lock()
# The child's answer line starts with this, so that anything else a library prints on its stdout is passed over
ANSWER = "theory-collection-run "


class NotebookProcess:
    """A child process that runs notebooks one after another (:func:`_serve`), each exactly as
    :func:`run_notebook` runs it; started at the first :meth:`run`, and again after one that died.

    ``workers``: the Dask workers each notebook's points may start (:func:`theory_collection.points.notebook_workers`).
    """

    def __init__(self, workers: int = 1) -> None:
        self.workers = workers
        self._child: subprocess.Popen | None = None
        self._stderr: collections.deque[str] = collections.deque(maxlen=50)

    def run(self, path: str | Path, output_dir: str | Path, parameters: dict[str, object]) -> NotebookRun:
        """:func:`run_notebook` in the child; the same result, read back from the child's answer and
        ``claims.json``. A child that dies is this run's error, with the last line it wrote."""
        path, output_dir = Path(path), Path(output_dir)
        child = self._started()
        run = NotebookRun(path.stem, output_dir)
        try:
            child.stdin.write(json.dumps([str(path), str(output_dir), parameters]) + "\n")
            child.stdin.flush()
            answer = next((line for line in child.stdout if line.startswith(ANSWER)), None)
        except (BrokenPipeError, ValueError):  # the child ended, or was stopped, before it read the notebook
            answer = None
        if answer is None:
            self._forget(child)
            last = next((line for line in reversed(self._stderr) if line.strip()), "no message")
            run.error = f"the notebook's process ended with exit code {child.returncode}: {last.strip()}"
            return run
        record = json.loads(answer[len(ANSWER) :])
        run.error, run.seconds, run.started = record["error"], record["seconds"], record["started"]
        if (output_dir / "claims.json").exists():
            try:
                run.claims = load_claims(output_dir / "claims.json")
            except ValueError as error:
                run.error = run.error or str(error)
        return run

    def close(self) -> None:
        """End the child (it finishes the notebook it runs, if any, then reads the end of its input)."""
        if self._child is not None:
            try:
                self._child.stdin.close()
            except OSError:
                pass
            self._forget(self._child)

    def _started(self) -> subprocess.Popen:
        if self._child is None:
            environment = {**os.environ, NOTEBOOK_WORKERS: str(self.workers)}
            # a session of its own: Ctrl-C reaches the parent, which stops the child and its kernel (stop_children)
            child = subprocess.Popen(
                [sys.executable, "-m", "theory_collection.execution"],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                start_new_session=True,
                env=environment,
            )
            self._stderr.clear()
            # read its stderr as it comes, so that a chatty notebook run never fills the pipe and blocks the child
            threading.Thread(target=self._stderr.extend, args=(child.stderr,), daemon=True).start()
            with _children_lock:
                _children.add(child)
            self._child = child
        return self._child

    def _forget(self, child: subprocess.Popen) -> None:
        child.wait()
        self._child = None
        with _children_lock:
            _children.discard(child)


def stop_children() -> None:
    """Ask every child process of :class:`NotebookProcess` to stop: each kills its kernel and ends."""
    with _children_lock:
        children = list(_children)
    for child in children:
        try:
            child.terminate()
        except ProcessLookupError:
            pass


def _serve() -> None:
    """The child's side of :class:`NotebookProcess`: for each line ``[notebook, output_dir, parameters]`` read,
    run the notebook and print its outcome as one line, :data:`ANSWER` and JSON."""

    def stop(signum, frame):
        kill_running_kernels()
        os._exit(128 + signum)  # at once: the notebook's thread may be deep in nbclient's event loop

    signal.signal(signal.SIGTERM, stop)
    for line in sys.stdin:
        path, output_dir, parameters = json.loads(line)
        run = run_notebook(path, output_dir, parameters)
        answer = {"error": run.error, "seconds": run.seconds, "started": run.started}
        print(ANSWER + json.dumps(answer), flush=True)


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
    side_by_side = max(min(jobs, len(prepared)), 1)
    workers = max((os.cpu_count() or 1) // side_by_side, 1)  # each notebook's share of the cores for its points
    processes: list[NotebookProcess] = []
    per_thread = threading.local()  # each thread of the pool runs its notebooks in one process of its own

    def execute(index: int) -> NotebookRun:
        path = prepared[index].path
        running[index] = path.stem
        bar.set_postfix_str(", ".join(running.values()))
        output_dir = staging / paper_of(path).name / path.stem
        parameters = {"profile": profile, "output_dir": str(output_dir), **prepared[index].parameters}
        if not hasattr(per_thread, "process"):
            per_thread.process = NotebookProcess(workers)
            processes.append(per_thread.process)
        run = per_thread.process.run(path, output_dir, parameters)
        run.paper = paper_of(path).name
        export_page_of(run, html)
        running.pop(index, None)
        return run

    pool = ThreadPoolExecutor(max_workers=side_by_side, thread_name_prefix="notebook")
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
        for process in processes:
            process.close()
    pool.shutdown()
    return runs


def _stop(pool: ThreadPoolExecutor, futures: dict) -> None:
    """Cancel the notebooks not started, kill the kernels of those running and wait for their threads."""
    pool.shutdown(wait=False, cancel_futures=True)
    deadline = time.monotonic() + 60
    while any(future.running() for future in futures) and time.monotonic() < deadline:
        stop_children()  # a child starting just now is caught on the next pass
        wait([f for f in futures if f.running()], timeout=0.5)


if __name__ == "__main__":
    _serve()
