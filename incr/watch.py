"""``incr watch``: keep pipelines up to date while the user edits code and data.

Three parts, from pure to impure:

- ``incr.watchset`` decides which paths count (``WatchSet.affected``: no disk, no clock) and
  which folders to watch.
- ``Debouncer`` (``incr.watchparts``) collects changed paths from watchdog's thread and hands
  the main thread one batch once files have been quiet for the debounce delay.
- ``Watcher`` is the loop. For each batch it forks a child process (where ``fork`` is), which
  imports the project afresh, rediscovers the pipelines, asks ``Workspace.status`` whether
  anything that matters changed, runs the targets like ``incr repro``, and sends back what
  to watch; the watcher reschedules watchdog's folder watches from it. The watcher itself
  never imports the project: what the project's modules set in libraries when imported
  (``np.set_printoptions``, ``os.environ[...] = ...``) is gone when the line is. It imports
  the installed modules a cycle used, so that the next child starts with them loaded, and
  keeps what the cycle saw them read as the project's modules imported them (scikit-learn's
  ``SKLEARN_*`` variables), which the next child counts as ``incr repro`` would.

Steps run in the child's main thread, as with ``incr repro``. Changes that arrive during a run
wait in the debouncer and make one follow-up run. With ``restart``, a relevant change during a
run cancels it: the watchdog thread sends SIGUSR1 to the child, whose handler raises
``RunCancelled`` (a BaseException: the runner does not take it for a step failure) while a run
is armed; the reporter also checks before each step (for platforms without ``pthread_kill``).
Ctrl-C and SIGTERM reach the child too (passed on by the watcher), which keeps every finished
step, as ``incr repro`` does.
So a step in progress is interrupted as Ctrl-C interrupts it, and the lockfile, written
atomically after each finished step, stays valid and keeps those steps. Each cycle holds the
project lock, as ``incr repro`` does; an idle watcher holds nothing.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import pickle
import signal
import sys
import threading
import traceback
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from types import FrameType
from typing import Any

from watchdog.events import FileSystemEvent, FileSystemEventHandler
from watchdog.observers import Observer
from watchdog.observers.api import BaseObserver, ObservedWatch

from incr import importreads, readrelay
from incr.api import TracedPipeline
from incr.daskconf import wanted
from incr.errors import DiscoveryError, IncrError
from incr.events import Event, Reporter, StepStarted
from incr.localmodules import forget_local_modules
from incr.locking import project_lock
from incr.opening import open_pipelines
from incr.project import Project
from incr.report import Console
from incr.runner import repro_all
from incr.session import Workspace
from incr.watchparts import DEFAULT_DEBOUNCE, Outcome, installed_modules, stop_child
from incr.watchparts import Debouncer as Debouncer
from incr.watchset import (
    Change,
    WatchSet,
    describe,
    folders_to_watch,
    matters,
    summary,
    targeted_steps,
    watch_set,
)


class RunCancelled(BaseException):
    """Raised in the main thread to cancel a run whose inputs changed (``--restart``)."""


class Terminated(BaseException):
    """Raised in the main thread by SIGTERM."""


# --------------------------------------------------------------------------- the loop


class _Handler(FileSystemEventHandler):
    """Watchdog's thread calls ``dispatch``; it forwards a plain ``Change``."""

    def __init__(self, callback: Callable[[Change], None]) -> None:
        self.callback = callback

    def dispatch(self, event: FileSystemEvent) -> None:
        src, dest = os.fsdecode(event.src_path), os.fsdecode(event.dest_path)
        self.callback(Change(event.event_type, src, dest, event.is_directory))


class _CancellingReporter:
    """Forwards events; before each step, ``cancel_if_asked()`` (which raises RunCancelled
    when the run is to be cancelled)."""

    def __init__(self, inner: Reporter, cancel_if_asked: Callable[[], None]) -> None:
        self.inner = inner
        self.cancel_if_asked = cancel_if_asked

    def emit(self, event: Event) -> None:
        if isinstance(event, StepStarted):
            self.cancel_if_asked()
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
        self.child = 0  # the process running the cycle, while one does
        self.out: Any = None  # in that child: where it tells the watcher what it learned
        self.cancelled = False  # in that child: the watcher asked to cancel its run

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
        """Load, decide, run, in a child process forked for the cycle (where ``fork`` is): the
        project's modules, and the state they set in libraries at their top level
        (``np.set_printoptions``, ``sklearn.set_config``, a variable in ``os.environ``), start
        afresh each time, as with ``incr repro``; a line removed from a module is gone. This
        process only watches. ``changed`` is None for the first run, which always runs.

        ``busy`` stays True when SIGINT or SIGTERM ends the cycle, for the exit code.
        """
        self.busy = True
        if not hasattr(os, "fork"):
            self._cycle_here(changed)
            return
        read, write = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.close(read)
            self._child_cycle(changed, write)
        os.close(write)
        self.child = pid
        outcome = Outcome()
        try:
            with os.fdopen(read, "rb") as messages:
                self._receive(messages, outcome)
        except KeyboardInterrupt:
            stop_child(pid, signal.SIGINT, grace=0.5)  # the terminal may have sent it one
            raise
        except Terminated:
            stop_child(pid, signal.SIGTERM, grace=0.0)
            raise
        finally:
            self.child = 0
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, 0)
        self._preload(outcome.modules)
        if outcome.error is not None:
            message, hint, code = outcome.error
            error = IncrError(message, hint)
            error.exit_code = code
            raise error
        if outcome.idle:
            self._idle()
        self.busy = False

    def _child_cycle(self, changed: list[str] | None, write: int) -> None:
        """The cycle, in the forked child: what it learns goes to the watcher through
        ``write``; it never returns."""
        code = 0
        self.out = os.fdopen(write, "wb")
        os.register_at_fork(after_in_child=_plain_signals)  # a step's pool: not the watcher's
        try:
            self._cycle_here(changed)
        except KeyboardInterrupt:
            code = 130
        except Terminated:
            code = 143
        except IncrError as exc:
            self._send(("error", exc.message, exc.hint, exc.exit_code))
            code = exc.exit_code
        except BaseException:
            traceback.print_exc()
            code = 1
        finally:
            with contextlib.suppress(BaseException):
                self._send(("modules", installed_modules(self.project)))
                self._send(("imports", importreads.seen_here()))
                self.out.close()
                readrelay.for_this_process().close()  # its atexit would not run
                sys.stdout.flush()
                sys.stderr.flush()
            os._exit(code)

    def _send(self, message: tuple[Any, ...]) -> None:
        assert self.out is not None
        pickle.dump(message, self.out)
        self.out.flush()

    def _receive(self, messages: Any, outcome: Outcome) -> None:
        """Take in what the child learns while its cycle runs, until it exits."""
        while True:
            try:
                message = pickle.load(messages)
            except EOFError:
                return
            if message[0] == "watch":
                self._set_watched(message[1])
            elif message[0] == "idle":
                outcome.idle = True
            elif message[0] == "error":
                outcome.error = message[1:]
            elif message[0] == "modules":
                outcome.modules = message[1]
            elif message[0] == "imports":  # for the next child: its libraries come preloaded
                importreads.seen_here(message[1])

    def _preload(self, modules: list[str]) -> None:
        """Import here the installed modules the cycle used, so that the next child starts
        with them loaded (untouched: the project's code runs only in the children)."""
        for name in modules:
            if name not in sys.modules:
                with contextlib.suppress(Exception):
                    importlib.import_module(name)

    def _cycle_here(self, changed: list[str] | None) -> None:
        """Load, decide, run, in this process."""
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
        reporter = _CancellingReporter(self.console, self._cancel_if_asked)
        dask = wanted(None, None, self.project)  # [tool.incr] executor / scheduler
        with self._armed():
            repro_all(workspace, pipelines, self.targets, reporter, dask=dask)

    def _idle(self) -> None:
        self.busy = False  # before the line: a Ctrl-C right after it is a stop while idle
        if self.out is not None:  # a cycle's child: the watcher says it once the child is done
            self._send(("idle",))
            return
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
        if self.out is not None:  # a cycle's child: the watcher watches
            self._send(("watch", watched))
            return
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
        if self.restart and self.child:  # a cycle runs in a child: it cancels its run
            with contextlib.suppress(OSError):
                os.kill(self.child, signal.SIGUSR1)
            return
        main = threading.main_thread().ident
        if self.restart and self.armed and main and hasattr(signal, "pthread_kill"):
            with contextlib.suppress(OSError):
                signal.pthread_kill(main, signal.SIGUSR1)

    # ------------------------------------------------------------------ cancelling, signals

    def _cancel_requested(self) -> bool:
        return self.restart and (self.cancelled or self.debouncer.pending())

    @contextlib.contextmanager
    def _armed(self) -> Iterator[None]:
        self.armed = True
        try:
            self._cancel_if_asked()
            yield
        finally:
            self.armed = False

    def _cancel_if_asked(self) -> None:
        """Raise RunCancelled when the run is to be cancelled, once: the run's cleanup (the
        journal folded, the lockfile written) is not cut short by the next change's signal,
        which a save of several events sends while it goes on."""
        if self.armed and self._cancel_requested():
            self.armed = False
            raise RunCancelled

    def _on_usr1(self, signum: int, frame: FrameType | None) -> None:
        self.cancelled = self.out is not None  # a cycle's child: the watcher saw a change
        self._cancel_if_asked()  # runs in the main thread: no race

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


def _plain_signals() -> None:
    """In a process a cycle's step forks (a ``multiprocessing`` pool): SIGTERM and SIGUSR1 as
    Python has them, so that ``pool.terminate()`` ends a worker quietly."""
    for sig in (signal.SIGTERM, getattr(signal, "SIGUSR1", None)):
        if sig is not None:
            signal.signal(sig, signal.SIG_DFL)


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
