"""Empty temp files made ahead, on a thread, for the atomic writes of a run.

An atomic write creates a temp file, writes it and renames it into place (``storage``). On
some file systems creating the file is by far its dearest part: on the ext4 virtual disks
incr is measured on, creating an empty file takes from 0.01 ms to 0.5 ms of system time
depending on the moment, against 0.02 ms to write 60 bytes into it, close it and rename it
into another folder. A run that executes many quick steps creates two files per step (the
result object and its run record).

While a run goes on (``pooled``) and making a file is slow (``SLOW``), a thread keeps a few
empty files ready in ``tmp/0`` and ``tmp/1`` of the cache folder, on the other core, and
``take`` hands one to a write bound for a folder of the same file system. A write that finds
none ready, or that goes elsewhere, creates its own as before, so the pool never makes a
write wait. The files are made as ``storage`` makes its own (``O_EXCL``, mode 0666 less the
umask, named ``.pool.PID-N.tmp`` so that ``incr gc`` removes those a killed run left
behind); those left unused are removed when the run ends.
"""

from __future__ import annotations

import collections
import contextlib
import itertools
import os
import threading
import time
from collections.abc import Iterable, Iterator

#: Files kept ready at most; the pool grows to it as writes take files (few for a short run).
KEEP_MAX = 16
#: Files made ahead of the writes so far: a run that writes two files makes about four.
LEAD = 2
#: Folders the files are made in, in turn. Creating a file holds its folder's lock for the
#: whole of its slow part, and renaming a file out of a folder waits for that lock: a write
#: takes a file from a folder the thread is not making one in (measured: 490 µs per write
#: with the files made in the folder the writes take them from, 120 µs otherwise).
SIDES = 2
#: The thread makes files only while making one is slow: from this many seconds on (a moving
#: average), until it is under ``FAST``. Where it is quick, handing files from a thread to
#: the writes costs more than it saves (the thread takes Python's lock for each file): with
#: the thread always on, a 10,000-step first ``repro`` took 1.05 and 1.12 times as long (two
#: runs of three pairs) while a file took 0.01 to 0.06 ms to make.
SLOW = 150e-6
FAST = 75e-6
#: Seconds a ready file is handed out for. ``incr gc`` removes temp files older than an hour
#: from the cache (those a killed run left), and a run whose steps take hours may hold its
#: files that long: older ones are removed rather than taken.
FRESH_FOR = 600.0

#: How a temp file is made, here and by ``storage``: new (``O_EXCL``), no link followed, not
#: inherited by child processes.
TEMP_FLAGS = os.O_RDWR | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
TEMP_FLAGS |= getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_BINARY", 0)


class TempPool:
    """Empty files made ahead in ``folder`` by a thread, started by the first ``take`` made
    while making a file is slow (``made``)."""

    def __init__(self, folder: str) -> None:
        self.folder = folder
        #: Where the files are made, in turn (see ``SIDES``).
        self.sides = [os.path.join(folder, str(side)) for side in range(SIDES)]
        self.pid = os.getpid()  # a forked child must not write the parent's files
        #: The files made and not taken yet: (descriptor, path, side, when made).
        self.ready: collections.deque[tuple[int, str, int, float]] = collections.deque()
        self._making: int | None = None  # the side the thread is making a file in
        self._wanted = threading.Condition()
        self._taken = 0
        #: Set when the run ends, or when the thread could not make a file.
        self.stopped = False
        self._thread: threading.Thread | None = None
        self._numbers = itertools.count()
        self._devices: dict[str, bool] = {}
        self._device: int | None = None
        #: What making a file costs lately (seconds, a moving average), and whether that is
        #: slow enough for the thread to make them (see ``SLOW``).
        self.cost: float | None = None
        self.active = False

    def made(self, seconds: float) -> None:
        """Count one file made (by the thread, or by a write that found none ready)."""
        if os.getpid() != self.pid:  # a child forked while the thread held the lock
            return
        with self._wanted:
            self.cost = seconds if self.cost is None else self.cost + (seconds - self.cost) / 8
            if self.active != (self.cost > (FAST if self.active else SLOW)):
                self.active = not self.active
                self._wanted.notify()

    def take(self, folder: str) -> tuple[int, str] | None:
        """A ready file (descriptor, path) for a write whose destination is in ``folder``;
        None when none is ready, or when ``folder`` is on another file system."""
        if self.stopped or os.getpid() != self.pid or not self._same_device(folder):
            return None
        with self._wanted:
            if self.active:
                self._taken += 1
                if self._thread is None:
                    self._thread = threading.Thread(
                        target=self._fill, name="incr-temps", daemon=True
                    )
                    self._thread.start()
                if len(self.ready) <= self._target() // 2:  # woken for a few at a time
                    self._wanted.notify()
            now = time.monotonic()
            stale = [entry for entry in self.ready if now - entry[3] > FRESH_FOR]
            for entry in stale:
                self.ready.remove(entry)
            chosen = next((entry for entry in self.ready if entry[2] != self._making), None)
            if chosen is not None:
                self.ready.remove(chosen)
        _drop(stale)
        return None if chosen is None else (chosen[0], chosen[1])

    def refuse(self, folder: str) -> None:
        """Hand no more files to writes into ``folder``: a rename from the pool into it
        failed (a bind mount shares the device number of the file system it shows)."""
        self._devices[folder] = False

    def close(self) -> None:
        """Stop the thread and remove the files nobody took."""
        with self._wanted:
            self.stopped = True
            self._wanted.notify()
        if self._thread is not None:
            with contextlib.suppress(RuntimeError):  # an interrupt cut its start short: it
                self._thread.join()  # stops on its own, seeing ``stopped``
        _drop(self.ready)
        self.ready.clear()

    def _fill(self) -> None:
        for number in self._numbers:
            side = number % SIDES
            with self._wanted:
                while not self.stopped and (not self.active or len(self.ready) >= self._target()):
                    self._wanted.wait()
                if self.stopped:
                    return
                self._making = side
            path = os.path.join(self.sides[side], f".pool.{self.pid}-{number}.tmp")
            start = time.perf_counter()
            try:
                fd = os.open(path, TEMP_FLAGS, 0o666)
            except FileExistsError:  # left by a process that had this pid: the next number
                continue
            except OSError:  # a full disk, no permission: the writes make their own and say
                with self._wanted:
                    self.stopped = True
                return
            finally:
                with self._wanted:
                    self._making = None
            self.made(time.perf_counter() - start)
            with self._wanted:
                self.ready.append((fd, path, side, time.monotonic()))

    def _target(self) -> int:
        return min(KEEP_MAX, self._taken + LEAD)

    def _same_device(self, folder: str) -> bool:
        """Whether ``folder`` (or, while it does not exist, its nearest existing parent) is
        on the pool's file system: a rename between file systems fails."""
        known = self._devices.get(folder)
        if known is None:
            device = _device(folder)
            known = self._devices[folder] = device is not None and device == self._pool_device()
        return known

    def _pool_device(self) -> int | None:
        if self._device is None:
            self._device = _device(self.folder)
        return self._device


def _drop(entries: Iterable[tuple[int, str, int, float]]) -> None:
    for fd, path, _, _ in entries:
        with contextlib.suppress(OSError):
            os.close(fd)
        with contextlib.suppress(OSError):
            os.unlink(path)


def _device(folder: str) -> int | None:
    while True:
        try:
            return os.stat(folder).st_dev
        except FileNotFoundError:
            parent = os.path.dirname(folder)
            if parent == folder:
                return None
            folder = parent
        except OSError:
            return None


#: The pool of the run under way in this process, if any.
_current: TempPool | None = None


def current() -> TempPool | None:
    """The pool of the run under way in this process, if any."""
    return _current


def take(folder: str) -> tuple[int, str] | None:
    """A ready empty file for a write into ``folder`` while a run is ``pooled``, else None."""
    pool = _current
    return None if pool is None else pool.take(folder)


def refuse(folder: str) -> None:
    """Tell the pool of the run under way (if any) that renaming its files into ``folder``
    fails."""
    pool = _current
    if pool is not None:
        pool.refuse(folder)


def made(seconds: float) -> None:
    """Tell the pool of the run under way (if any) that a write made its own file in
    ``seconds``: what decides whether the thread makes them (``SLOW``)."""
    pool = _current
    if pool is not None:
        pool.made(seconds)


@contextlib.contextmanager
def pooled(cache: str | os.PathLike[str]) -> Iterator[None]:
    """Keep empty files ready in ``CACHE/tmp`` for the writes made inside the block; the
    files left unused are removed when it ends, however it ends. Nested, the outer pool
    stays."""
    global _current
    if _current is not None:
        yield
        return
    pool = TempPool(os.path.join(os.path.abspath(cache), "tmp"))  # steps may change folder
    try:
        for side in pool.sides:
            os.makedirs(side, exist_ok=True)
    except OSError:  # no pool: each write makes its own file, and says what went wrong
        yield
        return
    _current = pool
    try:
        yield
    finally:
        _current = None
        pool.close()
