"""The parts of ``incr watch`` around its loop (``incr.watch``): the debouncer that turns
watchdog's events into batches, and what a cycle run in a child process hands back."""

from __future__ import annotations

import contextlib
import os
import sys
import threading
import time
from collections.abc import Callable, Iterable

from incr.localmodules import local_modules, local_package_modules
from incr.project import Project

#: Seconds of quiet after the last change before a batch runs.
DEFAULT_DEBOUNCE = 0.2


class Debouncer:
    """Collects changed paths (from any thread); hands them out once they have settled.

    A batch is ready when no path was added for ``delay`` seconds, or when the first path of
    the batch waited ``max_delay`` seconds (so a file that never stops changing still runs).
    """

    def __init__(
        self,
        delay: float = DEFAULT_DEBOUNCE,
        clock: Callable[[], float] = time.monotonic,
        max_delay: float | None = None,
    ) -> None:
        self.delay = delay
        self.max_delay = max(1.0, 10 * delay) if max_delay is None else max_delay
        self.clock = clock
        self._paths: dict[str, None] = {}  # an ordered set
        self._first = self._last = 0.0
        self._cond = threading.Condition()

    def add(self, paths: Iterable[str]) -> None:
        with self._cond:
            now = self.clock()
            if not self._paths:
                self._first = now
            self._paths.update(dict.fromkeys(paths))
            self._last = now
            self._cond.notify_all()

    def pending(self) -> bool:
        with self._cond:
            return bool(self._paths)

    def due_in(self, now: float) -> float | None:
        """Seconds until the batch is ready (0: ready now); None when nothing is pending."""
        if not self._paths:
            return None
        quiet = self._last + self.delay - now
        capped = self._first + self.max_delay - now
        return max(0.0, min(quiet, capped))

    def wait(self, poll: float = 0.5) -> list[str]:
        """Block until a batch is ready, then return it and start a new one."""
        with self._cond:
            while True:
                left = self.due_in(self.clock())
                if left == 0.0:
                    paths, self._paths = list(self._paths), {}
                    return paths
                self._cond.wait(poll if left is None else min(left, poll))


class Outcome:
    """What a cycle's child told the watcher (see ``Watcher._receive``)."""

    def __init__(self) -> None:
        self.idle = False
        self.error: tuple[str, str | None, int] | None = None
        self.modules: list[str] = []


def stop_child(pid: int, sig: int, grace: float) -> None:
    """Pass ``sig`` on to a cycle's child unless it ends within ``grace`` seconds (a Ctrl-C at
    the terminal reaches it too), then wait for it: it keeps every finished step."""
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        if os.waitpid(pid, os.WNOHANG)[0]:
            return
        time.sleep(0.02)
    with contextlib.suppress(OSError):
        os.kill(pid, sig)
    with contextlib.suppress(ChildProcessError, KeyboardInterrupt):
        os.waitpid(pid, 0)


def installed_modules(project: Project) -> list[str]:
    """The top-level names of the modules this process imported that are neither the
    project's nor a local package's nor incr's (see ``Watcher._preload``)."""
    local = {*local_modules(project), *local_package_modules()}
    tops = {name.partition(".")[0] for name in sys.modules if name not in local}
    return sorted(tops - {"__main__", "__mp_main__", "incr"} - {n.partition(".")[0] for n in local})
