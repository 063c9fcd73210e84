"""``incr repro --jobs N``: independent steps at the same time, in worker processes.

The parent decides every step (fingerprint, cache, restore) exactly as a serial run does and
records every result in the lockfile; workers only execute. Workers are forked from the parent
after discovery, so they inherit the imported pipeline modules; a step's inputs travel as cache
digests, and each worker loads them through the verified store and stores what the step returns,
so no value is pickled between processes. Console lines are grouped per step.

Where ``fork`` is not available, or the pipelines were not imported, steps run serially.
"""

from __future__ import annotations

import multiprocessing
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from typing import TYPE_CHECKING, Any

from incr.errors import IncrError
from incr.events import Recorder, StepFinished, Warning_
from incr.executors import Outcome, StepFailure, load_artifact, user_traceback
from incr.model import Artifact, StepNode

if TYPE_CHECKING:
    from incr.runner import Runner, RunState

#: Set in the parent just before workers are forked; the workers inherit it.
_worker_state: tuple[Any, Any] | None = None
_worker_runner: Runner | None = None


def available() -> bool:
    return "fork" in multiprocessing.get_all_start_methods()


def _init_worker() -> None:
    """In a new worker: let go of the project lock the parent holds (a worker outliving a
    killed parent must not keep it), and ask Linux to end the worker when the parent dies."""
    from incr.hashing import use_single_thread
    from incr.locking import close_inherited

    close_inherited()
    use_single_thread()
    try:
        import ctypes
        import signal

        libc = ctypes.CDLL(None, use_errno=True)
        pr_set_pdeathsig = 1
        libc.prctl(pr_set_pdeathsig, signal.SIGKILL)
    except (OSError, AttributeError):
        pass  # not Linux: a worker ends when it next finds the pool gone


def run_step_in_worker(name: str, inputs: dict[str, tuple[str, str]]) -> Outcome:
    """Executed in a worker: load the inputs, run the step, store its outputs."""
    global _worker_runner
    from incr.runner import Runner
    from incr.session import Workspace
    from incr.store import ObjectCorrupt, ObjectMissing

    assert _worker_state is not None
    traced, project = _worker_state
    if _worker_runner is None:
        _worker_runner = Runner(Workspace(project), Recorder())
    runner = _worker_runner
    node, step = traced.graph.step(name), traced.steps[name]
    try:
        values = {p: load_artifact(runner.ws.store, Artifact(k, d)) for p, (k, d) in inputs.items()}
    except (ObjectMissing, ObjectCorrupt) as exc:
        return Outcome(failure=f"input:{exc}")
    try:
        with runner.watching_reads(node) as seen, runner.watching_env(node) as env:
            result = step.run_function(traced.configs[name], values)
    except (Exception, SystemExit) as exc:
        return Outcome(failure=user_traceback(exc, step.func.__code__))
    return runner.store_result(node, result, seen, env, step)


def run_parallel(
    runner: Runner, run: RunState, steps: list[StepNode], jobs: int, keep_going: bool
) -> set[str]:
    """Run ``steps`` (in dependency order) with up to ``jobs`` workers; the blocked steps.

    A step found to have read a file before a step of the run finished writing it is put back
    in the queue behind that writer, with the steps below it that already ran or are running.
    """
    global _worker_state
    ups = _ups(run.traced.graph, steps)
    pending = list(steps)
    done: set[str] = set()
    blocked: set[str] = set()
    running: dict[Future[Outcome], StepNode] = {}
    again: set[str] = set()  # running now, to be prepared again once they finish
    stopping = False
    _worker_state = (run.traced, runner.ws.project)
    context = multiprocessing.get_context("fork")
    with ProcessPoolExecutor(
        max_workers=jobs, mp_context=context, initializer=_init_worker
    ) as pool:
        while pending or running or run.requeue:
            if run.requeue:
                active = {n.name for n in running.values()}
                redo = {n.name for n in runner.again(run, done | active)}
                again |= redo & active
                done -= redo
                pending = _queued(steps, pending, redo - active)
                ups = _ups(run.traced.graph, steps)
            for node in [n for n in pending if ups[n.name] <= done or n.name in blocked]:
                pending.remove(node)
                if node.name in blocked or stopping:
                    blocked.add(node.name)
                    continue
                state = runner.prepare(run, node)
                if state is None:
                    running[pool.submit(run_step_in_worker, node.name, _inputs(run, node))] = node
                    run.overlaps.begin(node.name)
                    runner.let_go(run, node)
                elif state:
                    done.add(node.name)
                else:
                    stopping, blocked = _failed(
                        run.traced.graph, node, keep_going, stopping, blocked
                    )
            if run.requeue:
                continue
            if not running:
                if pending and not any(ups[n.name] <= done for n in pending):
                    blocked |= {n.name for n in pending}  # waiting on failed steps only
                    pending.clear()
                continue
            finished, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in finished:
                node = running.pop(future)
                if not _finish(runner, run, node, _result(future)):
                    stopping, blocked = _failed(
                        run.traced.graph, node, keep_going, stopping, blocked
                    )
                elif node.name in again:
                    again.discard(node.name)
                    pending = _queued(steps, pending, {node.name})
                else:
                    done.add(node.name)
    _worker_state = None
    return blocked


def _queued(steps: list[StepNode], pending: list[StepNode], more: set[str]) -> list[StepNode]:
    """``pending`` and the steps named in ``more``, in the order of ``steps``."""
    names = more | {n.name for n in pending}
    return [n for n in steps if n.name in names]


def _ups(graph: Any, steps: list[StepNode]) -> dict[str, set[str]]:
    """The steps (of ``steps``) each step waits on."""
    names = {n.name for n in steps}
    ups: dict[str, set[str]] = {n.name: set() for n in steps}
    for a, b in graph.edges():
        if a in names and b in names:
            ups[b].add(a)
    return ups


def _result(future: Future[Outcome]) -> Outcome:
    try:
        return future.result()
    except BrokenProcessPool:
        return Outcome(failure="error: the worker process running this step died")


def _inputs(run: RunState, node: StepNode) -> dict[str, tuple[str, str]]:
    artifacts = {p: run.outputs[r.step][r.output] for p, r in node.inputs.items()}
    return {p: (a.kind, a.digest) for p, a in artifacts.items()}


def _failed(
    graph: Any, node: StepNode, keep_going: bool, stopping: bool, blocked: set[str]
) -> tuple[bool, set[str]]:
    from incr.dag import descendants

    if keep_going:
        return stopping, blocked | descendants(graph, node.name)
    return True, blocked | descendants(graph, node.name)


def _finish(runner: Runner, run: RunState, node: StepNode, outcome: Outcome) -> bool:
    """Take a worker's outcome: record it, or report the failure; True when it succeeded."""
    pipeline, started = run.traced.graph.name, run.started[node.name]
    if outcome.failure is not None and outcome.failure.startswith("input:"):
        # An input object went missing or bad: the serial path recomputes its producer.
        runner.reporter.emit(Warning_(outcome.failure.removeprefix("input:")))
        try:
            runner.execute(run, node)
        except StepFailure:
            return False
        except IncrError as exc:
            runner.fail(run, node, runner.clock() - started, exc.format())
            return False
    elif outcome.failure is not None:
        runner.fail(run, node, runner.clock() - started, outcome.failure)
        return False
    else:
        runner.accept(run, node, outcome)
    runner.reporter.emit(StepFinished(pipeline, node.name, runner.clock() - started, True))
    return True
