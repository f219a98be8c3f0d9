"""Running notebooks on Dask workers that share no disk with the client.

A sweep point or a report's notebook runs on a worker in a temporary folder of the worker's own
(:func:`run_remote`): the client sends the notebook's text and its parameters, the worker executes it
with papermill, and sends back every file the run wrote (executed notebook, ``claims.json``, figures,
data files) with the run's outcome. The client alone writes ``<out>`` (:func:`receive`). A kernel that
dies raises on the worker, so Dask runs the notebook again (on another worker when this one died).

**Every worker runs the client's collection.** Before any notebook runs, :func:`check_worker_versions`
asks each worker for its :func:`identity` (the collection's version and git commit, a hash of its
source files, the Python version) and refuses, naming the worker, one that differs; each run checks
again on its worker, which covers a worker that joins later. The kernel's working directory on a
worker is the notebook's folder in the worker's own checkout (the same path relative to the
repository), or the temporary folder for a notebook from outside the collection.
"""

from __future__ import annotations

import hashlib
import platform
import socket
import tempfile
from contextlib import contextmanager
from pathlib import Path, PurePosixPath

import nbformat

from theory_collection import execution
from theory_collection.claims import load_claims
from theory_collection.papers import REPO_ROOT, paper_of
from theory_collection.points import connect
from theory_collection.runs import NotebookRun, git_commit

# Kernels that died: the run is given to Dask again (another worker, when the worker died with it).
DEAD_KERNEL = ("DeadKernelError", "RuntimeError: Kernel died")


# ---------------------------------------------------------------------------------------------
# The same collection everywhere


def package_version() -> str:
    """The installed collection's version."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("theory-collection")
    except PackageNotFoundError:
        return "unknown"


def source_hash() -> str:
    """SHA-256 over the collection's Python sources (the core and every paper package beside it)."""
    lib = Path(__file__).resolve().parents[1]
    digest = hashlib.sha256()
    for path in sorted(lib.glob("*/**/*.py")):
        if (lib / path.relative_to(lib).parts[0] / "__init__.py").is_file():
            digest.update(path.relative_to(lib).as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def identity() -> dict[str, str]:
    """What must be the same on the client and every worker: version, commit, sources, Python."""
    return {
        "version": package_version(),
        "commit": git_commit(),
        "source": source_hash(),
        "python": platform.python_version(),
    }


def identity_text(found: dict) -> str:
    """``theory-collection 0.1.0 at commit abc123 (sources 1a2b3c4d5e6f, Python 3.11.9)``."""
    return (
        f"theory-collection {found.get('version', '?')} at commit {found.get('commit', '?')} "
        f"(sources {str(found.get('source', '?'))[:12]}, Python {found.get('python', '?')})"
    )


def mismatch(worker: str, found: dict, expected: dict) -> str:
    """One line naming the worker and what differs; "" when nothing does."""
    differs = [key for key in expected if found.get(key) != expected[key]]
    if not differs:
        return ""
    return (
        f"worker {worker} runs {identity_text(found)}, this client {identity_text(expected)} ({', '.join(differs)} "
        "differ): install the same commit of the collection on every machine"
    )


def check_worker_versions(client, timeout: float = 10.0) -> dict[str, str]:
    """The client's :func:`identity`, after checking that every worker of ``client`` has the same; else a
    one-line ValueError naming the first worker that differs (or saying that no worker joined)."""
    expected = identity()
    try:
        client.wait_for_workers(1, timeout=timeout)
    except TimeoutError:
        raise ValueError(f"no Dask worker joined the scheduler within {timeout:g} s") from None
    for worker, found in sorted(client.run(identity).items()):
        problem = mismatch(worker, found, expected)
        if problem:
            raise ValueError(problem)
    return expected


# ---------------------------------------------------------------------------------------------
# Files there and back


def pack(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` by its relative POSIX path."""
    files = sorted(path for path in folder.rglob("*") if path.is_file())
    return {path.relative_to(folder).as_posix(): path.read_bytes() for path in files}


def unpack(files: dict[str, bytes], folder: Path) -> None:
    """Write ``files`` (from :func:`pack`) under ``folder``; a path that would leave it is refused."""
    for name, content in files.items():
        relative = PurePosixPath(name)
        if relative.is_absolute() or ".." in relative.parts or not relative.parts:
            raise ValueError(f"a worker sent the file {name!r}, which is not inside its run's folder")
        target = folder.joinpath(*relative.parts)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(content)


def without_outputs(nb: nbformat.NotebookNode) -> str:
    """A notebook (changed in place) as text without its outputs: what a worker needs to run it, a fraction of a
    committed notebook's size."""
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    return nbformat.writes(nb)


def home_of(notebook: Path) -> str | None:
    """The notebook's folder relative to the repository (where a worker's kernel runs), None outside it."""
    try:
        return Path(notebook).resolve().parent.relative_to(REPO_ROOT).as_posix()
    except ValueError:
        return None


def run_remote(name: str, text: str, home: str | None, parameters: dict, expected: dict) -> dict:
    """On a worker: run the notebook ``text`` (file name ``name``) with ``parameters`` in a temporary folder
    and return its outcome and files: ``{"run": {...}, "files": {path: bytes}, "where": "host:folder"}``.

    Raises when the worker is not the client's collection (``expected``: :func:`identity`) and when the
    kernel died (so that Dask runs it again)."""
    problem = mismatch(f"on {socket.gethostname()}", identity(), expected)
    if problem:
        raise RuntimeError(problem)
    with tempfile.TemporaryDirectory(prefix="theory-collection-") as work:  # in the worker's TMPDIR
        work = Path(work)
        notebook = work / "input" / name
        notebook.parent.mkdir()
        notebook.write_text(text, encoding="utf-8")
        output = work / "output" / notebook.stem
        cwd = REPO_ROOT / home if home is not None and (REPO_ROOT / home).is_dir() else notebook.parent
        run = execution.run_notebook(notebook, output, {**parameters, "output_dir": str(output)}, cwd=cwd)
        if run.error.startswith(DEAD_KERNEL):
            raise RuntimeError(f"{notebook.stem}: {run.error}")
        outcome = {"error": run.error, "seconds": run.seconds, "started": run.started}
        return {"run": outcome, "files": pack(output), "where": f"{socket.gethostname()}:{work}"}


def receive(result: dict, folder: Path, notebook: Path, paper: str = "") -> NotebookRun:
    """Write a worker's result (:func:`run_remote`) into ``folder``, say in the executed notebook where it
    came from (its source is ``notebook``, as if it had run here), and return the run."""
    folder.mkdir(parents=True, exist_ok=True)
    unpack(result["files"], folder)
    run = NotebookRun(notebook.stem, folder, paper=paper, **result["run"])
    if run.executed.is_file():
        _point_to_source(run.executed, notebook)
    claims = folder / "claims.json"
    if claims.is_file():
        try:
            run.claims = load_claims(claims)
        except ValueError as error:
            run.error = run.error or str(error)
    return run


def _point_to_source(executed: Path, notebook: Path) -> None:
    """papermill recorded the worker's temporary copy as the input; the report finds the theory notes
    beside the notebook it names, so name the client's."""
    nb = nbformat.read(executed, as_version=4)
    record = nb.metadata.get("papermill", {})
    if "input_path" in record:
        record["input_path"] = str(notebook)
        nbformat.write(nb, executed)


@contextmanager
def session(scheduler: str | None, timeout: float = 10.0):
    """``(client, identity)`` of a checked cluster (:func:`connect`, :func:`check_worker_versions`) for the
    block; ``(None, None)`` without ``scheduler``. Nothing is written before it answers."""
    if scheduler is None:
        yield None, None
        return
    with connect(scheduler, 1, timeout) as client:
        yield client, check_worker_versions(client, timeout)


def run_report_notebooks(
    client, expected: dict, prepared: list, staging: Path, profile: str, order: list[int], progress: bool
) -> list[NotebookRun]:
    """Run a report's checked notebooks (:class:`theory_collection.runner.Prepared`) on the workers of
    ``client``'s cluster (checked to run the collection ``expected``, :func:`session`), starting in ``order``,
    and write each one's files into ``staging/<paper>/<stem>/`` as it comes back; returns the runs in
    ``prepared``'s order.

    A notebook whose kernel dies is run again once; one that still cannot be run is recorded with the error.
    Ctrl-C cancels the rest."""
    from distributed import as_completed
    from tqdm.auto import tqdm

    runs: list[NotebookRun | None] = [None] * len(prepared)
    futures = {}
    for rank, index in enumerate(order):
        path = prepared[index].path
        parameters = {"profile": profile, **prepared[index].parameters}
        text = without_outputs(nbformat.read(path, as_version=4))
        arguments = (path.name, text, home_of(path), parameters, expected)
        future = client.submit(run_remote, *arguments, retries=1, pure=False, priority=len(order) - rank)
        futures[future] = index
    try:
        bar = tqdm(
            as_completed(futures),
            total=len(futures),
            desc=f"notebooks ({profile}, on {client.scheduler.address})",
            unit="notebook",
            disable=not progress,
        )
        for future in bar:
            index = futures[future]
            path = prepared[index].path
            folder = staging / paper_of(path).name / path.stem
            if future.status == "finished":
                runs[index] = receive(future.result(), folder, path, paper_of(path).name)
            else:
                folder.mkdir(parents=True, exist_ok=True)
                error = future.exception()
                runs[index] = NotebookRun(
                    path.stem, folder, paper=paper_of(path).name, error=f"{type(error).__name__}: {error}"
                )
            if runs[index].status != "ok":
                bar.write(f"{path.stem}: {runs[index].status}: {runs[index].error}")
    except BaseException:
        client.cancel(list(futures))
        raise
    return runs


# ---------------------------------------------------------------------------------------------
# A function over a list of points (inside a notebook)
