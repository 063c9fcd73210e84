"""``incr watch``: keep pipelines up to date while the user edits code and data.

Three parts, from pure to impure:

- ``incr.watchset`` decides which paths count (``WatchSet.affected``: no disk, no clock) and
  which folders to watch.
- ``Debouncer`` collects changed paths from watchdog's thread and hands the main thread one batch
  once files have been quiet for the debounce delay.
- ``Watcher`` is the loop. For each batch it forgets the project's own modules, rediscovers the
  pipelines, asks ``Workspace.status`` whether anything that matters changed, runs the targets
  like ``incr repro``, and reschedules watchdog's folder watches from what it just loaded.

Steps run in the main thread, as with ``incr repro``. Changes that arrive during a run wait in
the debouncer and make one follow-up run. With ``restart``, a relevant change during a run
cancels it: the watchdog thread sends SIGUSR1 to the main thread, whose handler raises
``RunCancelled`` (a BaseException: the runner does not take it for a step failure) while a run
is armed; the reporter also checks before each step (for platforms without ``pthread_kill``).
So a step in progress is interrupted as Ctrl-C interrupts it, and the lockfile, written
atomically after each finished step, stays valid and keeps those steps. Each cycle holds the
project lock, as ``incr repro`` does; an idle watcher holds nothing.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import time
import traceback
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from types import FrameType
from typing import Any

from watchdog.events import FileSystemEvent, FileSystemEventHandler
from watchdog.observers import Observer
from watchdog.observers.api import BaseObserver, ObservedWatch

from incr.api import TracedPipeline
from incr.daskconf import wanted
from incr.errors import DiscoveryError, IncrError
from incr.events import Event, Reporter, StepStarted
from incr.locking import project_lock
from incr.opening import open_pipelines
from incr.project import Project
from incr.report import Console
from incr.runner import repro_all
from incr.session import Workspace
from incr.watchset import (
    Change,
    WatchSet,
    describe,
    folders_to_watch,
    forget_local_modules,
    matters,
    summary,
    targeted_steps,
    watch_set,
)

DEFAULT_DEBOUNCE = 0.2


class RunCancelled(BaseException):
    """Raised in the main thread to cancel a run whose inputs changed (``--restart``)."""


class Terminated(BaseException):
    """Raised in the main thread by SIGTERM."""


# --------------------------------------------------------------------------- debouncing


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


# --------------------------------------------------------------------------- the loop


class _Handler(FileSystemEventHandler):
    """Watchdog's thread calls ``dispatch``; it forwards a plain ``Change``."""

    def __init__(self, callback: Callable[[Change], None]) -> None:
        self.callback = callback

    def dispatch(self, event: FileSystemEvent) -> None:
        src, dest = os.fsdecode(event.src_path), os.fsdecode(event.dest_path)
        self.callback(Change(event.event_type, src, dest, event.is_directory))


class _CancellingReporter:
    """Forwards events; before each step, cancels the run when ``cancelled()`` says so."""

    def __init__(self, inner: Reporter, cancelled: Callable[[], bool]) -> None:
        self.inner = inner
        self.cancelled = cancelled

    def emit(self, event: Event) -> None:
        if isinstance(event, StepStarted) and self.cancelled():
            raise RunCancelled
        self.inner.emit(event)


class Watcher:
    """One ``incr watch`` session: call ``serve()`` once, from the main thread if possible."""

    def __init__(
        self,
        project: Project,
        targets: Iterable[str] = (),
        *,
        debounce: float = DEFAULT_DEBOUNCE,
        restart: bool = False,
        console: Console | None = None,
    ) -> None:
        self.project = project
        self.targets = tuple(targets)
        self.restart = restart
        self.console = console or Console(explain=True)
        self.debouncer = Debouncer(debounce)
        self.watched = watch_set(project, [], {})
        self.observer: BaseObserver = Observer()
        self.handler = _Handler(self._on_change)
        self.scheduled: dict[tuple[Path, bool, int], ObservedWatch] = {}
        self.busy = False  # a cycle (load, status, run) is in progress
        self.armed = False  # RunCancelled may be raised in the main thread
        self.announced = False

    def serve(self) -> int:
        """Run once, then on every settled change until SIGINT or SIGTERM.

        Returns the exit code: 0 when stopped while idle or by SIGTERM, 130 for SIGINT during
        a cycle. Step failures and IncrErrors are printed and watching goes on; only at start,
        an IncrError other than a module failing to import (a damaged lockfile, an unknown
        target, a cycle) is raised, as ``incr repro`` would.
        """
        self.observer.start()
        try:
            with self._signals():
                self._cycle(None)
                while True:
                    self._cycle(self.debouncer.wait())
        except KeyboardInterrupt:
            return self._stopped(130 if self.busy else 0)
        except Terminated:
            return self._stopped(0)
        finally:
            self.observer.stop()
            with contextlib.suppress(RuntimeError):
                self.observer.join(timeout=5)

    def _stopped(self, code: int) -> int:
        if self.busy:
            self.console.line("interrupted: every step that finished is kept in the lockfile")
        else:
            self.console.line("stopped watching")
        return code

    # ------------------------------------------------------------------ one cycle

    def _cycle(self, changed: list[str] | None) -> None:
        """Load, decide, run. ``changed`` is None for the first run, which always runs.

        ``busy`` stays True when SIGINT or SIGTERM ends the cycle, for the exit code.
        """
        self.busy = True
        try:
            with project_lock(self.project.cache, "incr watch", on_wait=self.console.line):
                self._load_decide_run(changed)
        except RunCancelled:
            self.console.line("restarting: a watched file changed during the run")
        except IncrError as exc:
            if changed is None and not isinstance(exc, DiscoveryError):
                raise
            self._rewatch_after_error()
            self.console.line(exc.format(), err=True)
            self._idle()
        except Exception:  # a bug in incr: show it, keep watching
            self.console.line(traceback.format_exc().rstrip("\n"), err=True)
            self._idle()
        self.busy = False

    def _load_decide_run(self, changed: list[str] | None) -> None:
        forget_local_modules(self.project)
        workspace, pipelines = open_pipelines(self.project)
        self._rewatch(workspace, pipelines)
        if changed is not None:
            if not matters(workspace.status(pipelines, self.targets)):
                self.busy = False
                self.console.line(f"no change that matters ({describe(changed)})")
                return
            self.console.line(f"changed: {describe(changed)}")
        self._run(workspace, pipelines)
        self._rewatch(workspace, pipelines)  # the run may have recorded new deps
        self._idle()

    def _run(self, workspace: Workspace, pipelines: list[TracedPipeline]) -> None:
        """Run the targets with ``repro_all``, as ``incr repro`` does (same lines, same
        stop at the first failure); ``RunCancelled`` can end it only here."""
        reporter = _CancellingReporter(self.console, self._cancel_requested)
        dask = wanted(None, None, self.project)  # [tool.incr] executor / scheduler
        with self._armed():
            repro_all(workspace, pipelines, self.targets, reporter, dask=dask)

    def _idle(self) -> None:
        self.busy = False  # before the line: a Ctrl-C right after it is a stop while idle
        self.console.line(f"waiting for changes (watching {summary(self.watched)})")

    # ------------------------------------------------------------------ watches

    def _rewatch(self, workspace: Workspace, pipelines: list[TracedPipeline]) -> None:
        nodes = targeted_steps(pipelines, self.targets)
        found = watch_set(self.project, nodes, workspace.locks, workspace.discovered)
        self._set_watched(found)

    def _rewatch_after_error(self) -> None:
        """Keep what was watched, and add the modules imported before the error."""
        now, old = watch_set(self.project, [], {}), self.watched
        paths, ignored = old.paths | now.paths, old.ignored | now.ignored
        self._set_watched(WatchSet(now.root, now.sources, paths, ignored, old.listed, old.tested))

    def _set_watched(self, watched: WatchSet) -> None:
        """Watch ``watched`` from now on; the first time, print the banner."""
        self.watched = watched
        self._schedule(folders_to_watch(watched))
        if not self.announced:
            self.announced = True
            self.console.line(f"watching {summary(watched)}; press Ctrl-C to stop")

    def _schedule(self, folders: dict[Path, bool]) -> None:
        """Make watchdog watch exactly ``folders``; a folder replaced on disk is watched anew."""
        wanted = {(path, recursive, _inode(path)) for path, recursive in folders.items()}
        for key in set(self.scheduled) - wanted:
            with contextlib.suppress(Exception):  # its folder may be gone already
                self.observer.unschedule(self.scheduled[key])
            del self.scheduled[key]
        for key in sorted(wanted - set(self.scheduled)):
            path, recursive, _ = key
            try:
                watch = self.observer.schedule(self.handler, str(path), recursive=recursive)
            except OSError as exc:
                self.console.line(f"warning: cannot watch {path}: {exc}", err=True)
            else:
                self.scheduled[key] = watch

    def _on_change(self, change: Change) -> None:
        """Watchdog's thread: queue what matters; with restart, cancel a run in progress."""
        paths = self.watched.affected(change)
        if not paths:
            return
        self.debouncer.add(self.watched.relative(p) for p in paths)
        main = threading.main_thread().ident
        if self.restart and self.armed and main and hasattr(signal, "pthread_kill"):
            with contextlib.suppress(OSError):
                signal.pthread_kill(main, signal.SIGUSR1)

    # ------------------------------------------------------------------ cancelling, signals

    def _cancel_requested(self) -> bool:
        return self.restart and self.debouncer.pending()

    @contextlib.contextmanager
    def _armed(self) -> Iterator[None]:
        self.armed = True
        try:
            if self._cancel_requested():
                raise RunCancelled
            yield
        finally:
            self.armed = False

    def _on_usr1(self, signum: int, frame: FrameType | None) -> None:
        if self.armed and self._cancel_requested():  # runs in the main thread: no race
            raise RunCancelled

    @contextlib.contextmanager
    def _signals(self) -> Iterator[None]:
        """SIGTERM raises Terminated; with restart, SIGUSR1 cancels. Main thread only."""
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        wanted: dict[int, Any] = {signal.SIGTERM: _raise_terminated}
        if self.restart and hasattr(signal, "SIGUSR1"):
            wanted[signal.SIGUSR1] = self._on_usr1
        previous = {sig: signal.signal(sig, handler) for sig, handler in wanted.items()}
        try:
            yield
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)


def _raise_terminated(signum: int, frame: FrameType | None) -> None:
    raise Terminated


def _inode(path: Path) -> int:
    try:
        return path.stat().st_ino
    except OSError:
        return -1


def watch(
    project: Project,
    targets: Iterable[str] = (),
    *,
    debounce: float = DEFAULT_DEBOUNCE,
    restart: bool = False,
    console: Console | None = None,
) -> int:
    """Bring ``targets`` (default: every pipeline) up to date, then keep them up to date on
    every save until SIGINT or SIGTERM. Returns the exit code (see ``Watcher.serve``)."""
    watcher = Watcher(project, targets, debounce=debounce, restart=restart, console=console)
    return watcher.serve()
