"""The kernels the runner starts: one compute thread each, and known, so that an interrupted run can stop them.

Every kernel computes on one thread, however many notebooks run side by side: a notebook's numbers
then do not depend on ``--jobs`` (nor differ from nbval's, which runs the notebooks the same way), and
two multi-threaded kernels on two cores would slow each other down many times over. For the same reason a
kernel's Dask points (:func:`theory_collection.points.map_points`) run in its own process, unless the runner
has cores to spare for it (:func:`theory_collection.execution.run_side_by_side`).
"""

from __future__ import annotations

import os
import signal
import threading
import weakref

from jupyter_client.manager import AsyncKernelManager

from theory_collection.explore import HEADLESS
from theory_collection.points import NOTEBOOK_WORKERS

KERNEL_THREADS = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}
# what a kernel executing a notebook unattended has in its environment besides (explorers make no widgets there)
UNATTENDED = {**KERNEL_THREADS, HEADLESS: "1"}

_started: weakref.WeakSet = weakref.WeakSet()
_lock = threading.Lock()


class OneThreadKernelManager(AsyncKernelManager):
    """nbclient's kernel manager, starting the kernel with :data:`KERNEL_THREADS` in its environment and
    remembering it for :func:`kill_running_kernels` (nbclient still owns it and shuts it down)."""

    async def start_kernel(self, **kw):
        """Start the kernel with one compute thread, unattended (``env`` given by the caller is kept, thread counts
        and :data:`theory_collection.explore.HEADLESS` set), and its Dask points in its own process unless the
        caller's ``env`` gives it workers (:data:`theory_collection.points.NOTEBOOK_WORKERS`)."""
        kw["env"] = {NOTEBOOK_WORKERS: "1", **kw.get("env", os.environ), **UNATTENDED}
        await super().start_kernel(**kw)
        with _lock:
            _started.add(self)


def kill_running_kernels() -> int:
    """SIGKILL every kernel this process started that is still running; return how many.

    For an interrupted run whose notebooks execute on other threads: each one's nbclient then finds its
    kernel dead within about a second and returns, so those threads end.
    """
    with _lock:
        managers = list(_started)
    killed = 0
    for manager in managers:
        pid = getattr(manager.provisioner, "pid", None) if manager.has_kernel else None
        if pid:
            try:
                os.kill(pid, signal.SIGKILL)
                killed += 1
            except ProcessLookupError:
                pass
    return killed
