"""One writer per output folder: a report or a sweep holds ``<out>/.lock`` while it writes there.

The lock is an advisory ``flock`` on ``<out>/.lock``, which also records who holds it (process id,
host, start time, command). The operating system releases a ``flock`` when its process ends, however
it ends, so a lock is never held by a process that is gone; the record it left behind (a run that was
killed) is *stale*, and the next run takes it over and says so. A second run into a folder that is
held refuses at once (a ``ValueError``, exit status 2), naming the run that holds it.

Locks are reentrant within a process (``report`` holds the folder across running and summarising).
"""

from __future__ import annotations

import fcntl
import json
import os
import shlex
import socket
import sys
import threading
from contextlib import contextmanager
from pathlib import Path

from theory_collection.runs import now_text

LOCK_FILE = ".lock"

_held: dict[Path, int] = {}  # folder -> how many times this process holds it
_guard = threading.Lock()


class FolderLocked(ValueError):
    """Another run holds the folder (one line, exit status 2)."""


def holder_text(record: dict) -> str:
    """``process 1234 on host, started 2026-12-06 06:45 UTC: theory-collection report ...``."""
    return (
        f"process {record.get('pid', '?')} on {record.get('host', '?')}, started {record.get('started', '?')}: "
        f"{record.get('command', '?')}"
    )


def _read(handle) -> dict:
    handle.seek(0)
    try:
        record = json.loads(handle.read() or "{}")
    except ValueError:
        return {"command": "(an unreadable lock record)"}
    return record if isinstance(record, dict) else {}


def check_free(folder: str | Path, what: str = "run") -> None:
    """Refuse (:class:`FolderLocked`) when a live process of this host holds ``folder`` now, by its lock record;
    takes no lock and creates nothing. A check before slow preparations (a cluster to start); :func:`hold` is
    what excludes other runs."""
    folder = Path(folder).absolute()
    if folder in _held:
        return
    try:
        record = json.loads((folder / LOCK_FILE).read_text(encoding="utf-8") or "{}")
    except (OSError, ValueError):
        return
    if not isinstance(record, dict) or record.get("host") != socket.gethostname():
        return
    try:
        os.kill(int(record.get("pid")), 0)
    except (ProcessLookupError, TypeError, ValueError):
        return  # stale: its process is gone
    except PermissionError:
        pass  # alive, another user's
    try:  # a live process of that number may be another one: is the lock held?
        with open(folder / LOCK_FILE, encoding="utf-8") as handle:
            fcntl.flock(handle.fileno(), fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        raise FolderLocked(_refusal(folder, what, record)) from None
    except OSError:
        return


def _refusal(folder: Path, what: str, record: dict) -> str:
    return (
        f"{folder} is in use by another run ({holder_text(record)}); wait for it to finish before this {what}, "
        "or choose another --out"
    )


@contextmanager
def hold(folder: str | Path, what: str = "run", notify=None):
    """Hold ``folder`` (created if needed) for the duration of the block; refuse at once if another run holds it.

    ``notify`` gets one line when a stale lock (its process gone) is taken over (default: stderr).
    """
    folder = Path(folder).absolute()
    with _guard:
        if folder in _held:
            _held[folder] += 1
            reentered = True
        else:
            reentered = False
    if reentered:
        try:
            yield folder
        finally:
            with _guard:
                _held[folder] -= 1
        return
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / LOCK_FILE
    while True:
        handle = open(path, "a+", encoding="utf-8")  # noqa: SIM115 - held open for the whole block
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            record = _read(handle)
            handle.close()
            raise FolderLocked(_refusal(folder, what, record)) from None
        try:  # the file may have been removed by the holder we waited on: then lock the new one
            if os.fstat(handle.fileno()).st_ino == os.stat(path).st_ino:
                break
        except FileNotFoundError:
            pass
        handle.close()
    stale = _read(handle)
    if stale.get("pid"):
        (notify or _stderr)(f"took over a stale lock of {folder} ({holder_text(stale)}): its process is gone")
    record = {
        "pid": os.getpid(),
        "host": socket.gethostname(),
        "started": now_text(),
        "command": shlex.join([Path(sys.argv[0]).name, *sys.argv[1:]]),
    }
    handle.seek(0)
    handle.truncate()
    handle.write(json.dumps(record) + "\n")
    handle.flush()
    with _guard:
        _held[folder] = 1
    try:
        yield folder
    finally:
        with _guard:
            del _held[folder]
        try:
            path.unlink()  # while still locked: a run waiting on this file finds it gone and locks a new one
        finally:
            handle.close()


def _stderr(line: str) -> None:
    print(line, file=sys.stderr)
