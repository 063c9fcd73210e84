"""``incr repro --jobs N``: independent steps at the same time, in forked worker processes.

The loop in the parent decides every step (fingerprint, cache, restore) exactly as a serial
run does and records every result in the lockfile; workers only run ``StepJob``s. Workers are
forked from the parent after discovery, so they inherit the imported pipeline modules (and the
steps' configs, which therefore need not pickle); a step's inputs travel as cache digests, and
each worker loads them through the verified store and stores what the step returns, so no value
is pickled between processes.

Where ``fork`` is not available, or the pipelines were not imported, steps run in process.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Iterable, Mapping
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import replace
from typing import Any

from incr.executors import StepJob, StepOutcome, load_inputs
from incr.jobrun import run_job
from incr.model import StepFunction
from incr.project import Project
from incr.session import Workspace

#: Jobs the pool takes at once: its queue has no bound.
QUEUED = 1 << 30

#: Set in the parent just before workers are forked; the workers inherit it.
_state: tuple[Mapping[str, StepFunction], Mapping[str, Any], Project] | None = None
_tools: Workspace | None = None  # a worker's own, made on its first job


def available() -> bool:
    return "fork" in multiprocessing.get_all_start_methods()


def _init_worker() -> None:
    """In a new worker: let go of the project lock the parent holds (a worker outliving a
    killed parent must not keep it), of a step recorder it may have inherited (forked while an
    in-process step ran: its steps are not that step's children), and ask Linux to end the
    worker when the parent dies."""
    import signal

    from incr.hashing import use_single_thread
    from incr.locking import close_inherited
    from incr.reads import forget_inherited

    close_inherited()
    forget_inherited()
    use_single_thread()
    from multiprocessing import util

    util.Finalize(None, _end_children, exitpriority=10)  # before the children are waited for
    signal.signal(signal.SIGINT, _interrupted)
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        pr_set_pdeathsig = 1
        libc.prctl(pr_set_pdeathsig, signal.SIGKILL)
    except (OSError, AttributeError):
        pass  # not Linux: a worker ends when it next finds the pool gone


def _end_children() -> None:
    """As the worker ends (with the run): end the processes its steps left running, which
    it would otherwise wait for (loky keeps its idle workers for 300 s)."""
    import multiprocessing

    for child in multiprocessing.active_children():
        child.terminate()
    for child in multiprocessing.active_children():
        child.join(5)


#: Whether this worker is running a step (see ``_interrupted``).
_busy = False


def _interrupted(signum: int, frame: object) -> None:
    """Ctrl-C in a worker: a running step stops as it would in the parent, and an idle worker,
    waiting for a job, ends. Either way the worker says nothing more: the parent says what
    the run kept, and a worker's traceback of the queue the parent is closing (reading it,
    or back at it after its step stopped) would only hide that line."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)  # what the process writes to stderr from now on, Python or not
    os.close(devnull)
    if _busy:
        raise KeyboardInterrupt
    raise SystemExit(1)


def run_in_worker(job: StepJob) -> StepOutcome:
    """Executed in a worker: load the inputs, run the step, store its outputs."""
    global _tools, _busy
    assert _state is not None
    functions, configs, project = _state
    if _tools is None:
        _tools = Workspace(project)
        _tools.store.start_packing()  # synced by the run, before its lockfile names them
    _busy = True
    try:
        values, damaged = load_inputs(_tools.store, job, {})
        if damaged is not None:
            return damaged
        job = replace(job, config=configs[job.step])
        outcome, _ = run_job(job, functions[job.step], values, _tools)
        return outcome
    finally:
        _busy = False


class PoolExecutor:
    """Up to ``jobs`` steps at once, each in a worker forked from this process.

    The pool queues what its workers cannot take yet, so every step that is ready is started
    (decided and queued) at once, as soon as the results it waits on are all handed back: two
    ready steps with the same fingerprint both run rather than one reusing the other's result.
    """

    executes = True

    def __init__(
        self,
        functions: Mapping[str, StepFunction],
        configs: Mapping[str, Any],
        project: Project,
        jobs: int,
    ) -> None:
        global _state
        _state = (functions, configs, project)  # before the first submit forks a worker
        self.jobs = jobs
        self.running: dict[Future[StepOutcome], StepJob] = {}
        #: Finished, not handed back yet: all of them are, before another job starts.
        self.finished: list[tuple[StepJob, StepOutcome]] = []
        #: Jobs a worker's death took down, to run again one at a time (``_broke``), and the
        #: jobs started meanwhile, held back until those are known.
        self.suspects: list[StepJob] = []
        self.held: list[StepJob] = []
        self.alone = False  # a suspect runs, alone
        self.pool = self._new_pool()

    def _new_pool(self) -> ProcessPoolExecutor:
        context = multiprocessing.get_context("fork")
        return ProcessPoolExecutor(
            max_workers=self.jobs, mp_context=context, initializer=_init_worker
        )

    def capacity(self) -> int:
        return 0 if self.finished else QUEUED

    def start(self, job: StepJob) -> None:
        if self.suspects or self.alone:
            self.held.append(job)
        else:
            self._submit(job)

    def _submit(self, job: StepJob) -> None:
        # The config comes from the forked state: it need not pickle.
        self.running[self.pool.submit(run_in_worker, replace(job, config=None))] = job

    def wait(self) -> tuple[StepJob, StepOutcome]:
        while not self.finished:
            if not self.running:  # suspects one at a time, then the jobs held back meanwhile
                self.alone = bool(self.suspects)
                for job in [self.suspects.pop(0)] if self.suspects else self.held:
                    self._submit(job)
                self.held = self.held if self.alone else []
            done, _ = wait(self.running, return_when=FIRST_COMPLETED)
            broken = []
            for future in [f for f in self.running if f in done]:  # in the order started
                try:
                    self.finished.append((self.running[future], future.result()))
                except BrokenProcessPool:
                    broken.append(self.running[future])
                del self.running[future]
            if broken:
                self._broke(broken)
            self.alone = False
        return self.finished.pop(0)

    def _broke(self, broken: list[StepJob]) -> None:
        """A worker died (a crash in C code, ``os._exit``, the kernel's out-of-memory killer):
        the pool fails every job it held. A job that ran alone is the one that died; several
        are run again one at a time in a new pool, to find which."""
        code = _exit_code(self.pool)
        broken += self.running.values()  # the pool failed them too
        self.running.clear()
        self.pool.shutdown(wait=False, cancel_futures=True)
        self.pool = self._new_pool()
        if len(broken) == 1:  # it ran alone
            died = "error: the worker process running this step died" + code
            self.finished.append((broken[0], StepOutcome(failure=died)))
        else:
            self.suspects = broken + self.suspects

    def release(self, digests: Iterable[str]) -> None:
        pass  # workers keep no values between steps

    def close(self) -> None:
        global _state
        self.pool.shutdown(wait=True)
        self.running.clear()
        _state = None


def _exit_code(pool: ProcessPoolExecutor) -> str:
    """How the worker of the broken ``pool`` that died ended (`` (exit code 3)``, `` (signal
    9)``), or "" (the pool ends the other workers with SIGTERM)."""
    import signal

    processes = getattr(pool, "_processes", None) or {}
    codes = [p.exitcode for p in list(processes.values()) if p.exitcode]
    for code in sorted(codes, key=lambda c: c == -signal.SIGTERM):
        return f" (signal {-code})" if code < 0 else f" (exit code {code})"
    return ""
