"""The scheduling loop of ``--executor dask`` inside today's runner: every dirty step is
submitted to the executor as soon as the steps it needs are done; the runner decides, records
and reports exactly as in a serial run."""

from __future__ import annotations

from typing import Any

from incr import dag, envreads
from incr.daskexec import DaskExecutor, DaskSettings
from incr.events import StepFinished
from incr.executors import Outcome, StepJob, StepOutcome
from incr.learned import own_paths
from incr.model import StepNode

#: ``runner.Runner`` and ``runner.RunState`` (not imported: the runner imports this module).
Runner = Any
RunState = Any


def run_dask(
    runner: Runner, run: RunState, steps: list[StepNode], keep_going: bool, settings: DaskSettings
) -> set[str]:
    """Run ``steps`` (in dependency order) on a Dask cluster; the blocked steps. A step found
    to have read a file before a step of the run finished writing it is put back in the queue
    behind that writer, as ``--jobs`` does."""
    ups = _ups(run.traced.graph, steps)
    pending = list(steps)
    done: set[str] = set()
    blocked: set[str] = set()
    running: dict[str, StepNode] = {}
    again: set[str] = set()  # running now, to be prepared again once they finish
    stopping = False
    executor = DaskExecutor.for_run(settings, runner.ws, run.traced)
    try:
        while pending or running or run.requeue:
            if run.requeue:
                redo = {n.name for n in runner.again(run, done | set(running))}
                again |= redo & set(running)
                done -= redo
                pending = _queued(steps, pending, redo - set(running))
                ups = _ups(run.traced.graph, steps)
            for node in [n for n in pending if ups[n.name] <= done or n.name in blocked]:
                pending.remove(node)
                if node.name in blocked or stopping:
                    blocked.add(node.name)
                    continue
                state = runner.prepare(run, node)
                if state is None:
                    executor.start(_job(runner, run, node))
                    running[node.name] = node
                    run.overlaps.begin(node.name)
                    runner.let_go(run, node)
                elif state:
                    done.add(node.name)
                else:
                    stopping = stopping or not keep_going
                    blocked |= dag.descendants(run.traced.graph, node.name)
            if run.requeue:
                continue
            if not running:
                if pending and not any(ups[n.name] <= done for n in pending):
                    blocked |= {n.name for n in pending}  # waiting on failed steps only
                    pending.clear()
                continue
            job, outcome = executor.wait()
            node = running.pop(job.step)
            if not _finish(runner, run, node, outcome):
                stopping = stopping or not keep_going
                blocked |= dag.descendants(run.traced.graph, node.name)
            elif node.name in again:
                again.discard(node.name)
                pending = _queued(steps, pending, {node.name})
            else:
                done.add(node.name)
    finally:
        executor.close()
    return blocked


def _ups(graph: Any, steps: list[StepNode]) -> dict[str, set[str]]:
    """The steps (of ``steps``) each step waits on."""
    names = {n.name for n in steps}
    ups: dict[str, set[str]] = {name: set() for name in names}
    for a, b in graph.edges():
        if a in names and b in names:
            ups[b].add(a)
    return ups


def _queued(steps: list[StepNode], pending: list[StepNode], more: set[str]) -> list[StepNode]:
    """``pending`` and the steps named in ``more``, in the order of ``steps``."""
    names = more | {n.name for n in pending}
    return [n for n in steps if n.name in names]


def _job(runner: Runner, run: RunState, node: StepNode) -> StepJob:
    code = run.traced.code[node.name].func
    inputs = {p: run.outputs[r.step][r.output] for p, r in node.inputs.items()}
    project = runner.ws.project
    return StepJob(
        pipeline=node.pipeline,
        step=node.name,
        key=node.key,
        module=code.module,
        qualname=code.qualname,
        config=None,
        inputs={p: (a.digest, a.kind) for p, a in inputs.items()},
        outputs=node.outputs,
        deps=node.deps,
        outs=node.outs,
        root=str(project.root),
        cache=str(project.cache),
        track_reads=node.track_reads,
        exclude=own_paths(project),
    )


def _finish(runner: Runner, run: RunState, node: StepNode, outcome: StepOutcome) -> bool:
    pipeline, started = run.traced.graph.name, run.started[node.name]
    if outcome.failure is not None:
        runner.fail(run, node, runner.clock() - started, outcome.failure)
        return False
    reads = dict(outcome.reads)
    reads.update({f"${n}": envreads.env_value(n, runner.ws.environ) for n in outcome.env})
    old = Outcome(outcome.artifacts, reads, deps=outcome.deps, writes=list(outcome.writes))
    runner.accept(run, node, old)
    runner.reporter.emit(StepFinished(pipeline, node.name, outcome.seconds, True))
    return True
