"""One writer per project: ``incr repro``, ``incr watch`` runs and ``.run()`` take a lock.

The lock is an advisory ``flock`` on ``.pipecache/lock``. The kernel drops it when its holder
exits, however it exits (SIGKILL included), so a lock left by a killed process is never stale:
the next command simply gets it. The holder writes who it is into the file, so a waiter can say
whom it waits for. ``incr status`` reads without taking the lock.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from incr.errors import IncrError
from incr.storage import ensure_cache_dir

#: Descriptors of the locks this process holds (a forked child closes its copies).
_held: set[int] = set()
#: The lock files this process holds (a nested ``.run()`` must not wait on its own process).
_held_paths: set[Path] = set()


def held_here(cache_dir: Path) -> bool:
    """True when this process holds the lock of the project whose cache is ``cache_dir``."""
    return (cache_dir / "lock").resolve() in _held_paths


def close_inherited() -> None:
    """In a forked child: close the copies of the parent's lock descriptors. The lock lasts
    while any copy is open, so a child that outlives its parent would otherwise keep it."""
    for fd in list(_held):
        with contextlib.suppress(OSError):
            os.close(fd)
    _held.clear()  # _held_paths stays: the child works for the holder, never waits on it


class LockBusy(IncrError):
    """Another incr holds the project lock and the caller chose not to wait."""


def _holder(path: Path) -> str:
    try:
        info = json.loads(path.read_text(encoding="utf-8"))
        started = time.time() - float(info["started"])
        return f"pid {info['pid']}, `{info['command']}`, running for {started:.0f}s"
    except (OSError, ValueError, KeyError, TypeError):
        return "a process that has not said who it is yet"


@contextlib.contextmanager
def project_lock(
    cache_dir: Path,
    command: str,
    *,
    wait: bool = True,
    on_wait: Callable[[str], None] | None = None,
    poll: float = 0.1,
) -> Iterator[None]:
    """Hold the project's write lock inside the block.

    When another process holds it: with ``wait``, call ``on_wait`` once with a line naming the
    holder and block until it is free; without, raise LockBusy at once.
    """
    ensure_cache_dir(cache_dir)
    path = cache_dir / "lock"
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
    _held.add(fd)
    try:
        told = False
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                holder = _holder(path)
                if not wait:
                    raise LockBusy(
                        f"another incr is running in this project ({holder})",
                        hint="wait for it, or run again without --no-wait to queue behind it",
                    ) from None
                if not told and on_wait is not None:
                    on_wait(f"waiting for another incr to finish ({holder})")
                    told = True
                time.sleep(poll)
        info = json.dumps({"pid": os.getpid(), "command": command, "started": time.time()})
        # padded over what an earlier holder wrote (JSON ends in spaces): truncating the file
        # takes 2 ms on some disks, a tenth of a cached ``.run()`` of 100 steps
        os.pwrite(fd, info.encode().ljust(os.fstat(fd).st_size), 0)
        _held_paths.add(path.resolve())
        yield
    finally:
        _held_paths.discard(path.resolve())
        _held.discard(fd)
        os.close(fd)  # closing the last descriptor of the lock file releases the flock
