"""Executes a pipeline in dependency order: cached steps are skipped, dirty ones run.

The hub: ``Runner.run`` picks an executor (in process, ``--jobs`` workers, or the dry run) and
drives it with the one scheduling loop (``incr.scheduler``); ``repro`` is the library call
behind ``incr repro`` (``dry_run=True`` included), ``run_instance`` behind ``.run()``.

As steps finish the lockfile is rewritten atomically (``LockBook.write``: at most so often), and
an interrupted run keeps every step that finished: its run record lets the next run restore it
without executing. Early cutoff falls out of the fingerprint: a step whose upstream reran but
produced the same bytes receives the same input digests, so it stays clean.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import field, replace
from datetime import datetime
from typing import TYPE_CHECKING, Any

from incr import crossreads, dag, envreads, keptlocks, orphans, setters, temppool
from incr import graph as graphs
from incr.consumers import Consumers
from incr.events import (
    Grouped,
    Note,
    PipelineFinished,
    PipelineStarted,
    Recorder,
    Reporter,
    RunResult,
    StepFailed,
    StepsSkipped,
    Warning_,
)
from incr.executors import Executor, load_artifact, working_directory
from incr.inprocess import InProcessExecutor
from incr.knownreads import with_writers
from incr.leftovers import remember as remember_outs
from incr.locking import project_lock
from incr.model import Reason, TracedPipeline
from incr.opening import open_for_repro, open_pipelines
from incr.passes import PASSES, again_line, changed_since, passes_left_line, reopen
from incr.plan import Verdict, stale_locks
from incr.prepare import Preparer
from incr.project import Project
from incr.record import ResultRecorder
from incr.runhistory import save_run
from incr.runstate import Clock, RunState
from incr.scheduler import Loop
from incr.session import Workspace
from incr.sharedruns import SharedRuns
from incr.statuswalk import judged_steps
from incr.valueclass import valueclass

if TYPE_CHECKING:
    from incr.daskconf import DaskSettings
    from incr.remotesync import RemoteRuns


class Runner:
    """Runs pipelines of one workspace through the scheduling loop (``incr.scheduler``)."""

    #: ``incr repro --pull``: results looked for on the remote before a step executes.
    remote: RemoteRuns | None = None
    #: ``--executor dask`` / ``--scheduler``: dirty steps run on a Dask cluster.
    dask: DaskSettings | None = None
    #: A step whose modules read a file that changed since waits for another pass (True),
    #: or fails (``incr.passes``).
    holds = True

    def __init__(
        self,
        workspace: Workspace,
        reporter: Reporter,
        clock: Callable[[], float] = time.perf_counter,
        now: Callable[[], datetime] = datetime.now,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self.ws = workspace
        self.reporter = reporter
        self.clock = Clock(clock, now, wall)
        #: The decisions of the dry runs made so far, step by step (as ``incr status``).
        self.verdicts: list[Verdict] = []
        #: The module values the steps of the pipelines run so far set as they ran, each to
        #: the setter's key, and what they left (``RunState.set_by``, ``RunState.values``):
        #: a step of a pipeline run after them that uses one is decided on its value.
        self.set_by: dict[str, str] = {}
        self.values: dict[str, Any] = {}
        self.value_digests: dict[str, str] = {}
        self.shared: SharedRuns | None = None  # files several steps write (``_repro`` sets it)
        #: What the pipelines are wired from that a step of this pass changed (``Loop.rewire``).
        self.rewired: list[str] = []
        #: The fingerprints of the steps that failed in this pass, and in the passes before
        #: (by key): a next pass does not run one again as it failed (``Loop.fill``).
        self.failed: dict[str, str] = {}
        self.failed_before: Mapping[str, str] = {}

    def run(
        self,
        traced: TracedPipeline,
        *,
        run_override: bool | None = None,
        only: set[str] | None = None,
        force: bool | set[str] = False,
        keep_going: bool = False,
        jobs: int = 1,
        dry_run: bool = False,
        executor: Executor | None = None,
        later: bool = False,
    ) -> RunResult:
        """Bring ``traced`` (or the steps ``only`` names and what they need) up to date.

        ``force`` reruns every step (True) or the named ones. A failing step's dependents are
        skipped; without ``keep_going`` the run stops at the first failure, like Make. With
        ``jobs`` > 1, independent steps execute at the same time in worker processes. A
        ``dry_run`` executes nothing and writes nothing but the stat cache: its decisions are
        in ``verdicts``. ``executor`` replaces the one these options choose. ``later``: other
        pipelines run after this one (a step that finds no file one of them may write
        fails quietly, to run again after them).
        """
        envreads.give_process(self.ws.learned.for_instance(traced.env))  # as its .run() saw
        graph, found = self.ws.learned_graph(traced)
        traced = traced if graph is traced.graph else replace(traced, graph=graph)
        run_override = graph.run_cache if run_override is None else run_override  # main block's
        self.ws.facts.values.update(traced.values)  # what unpickled code reads (``ref_code``)
        started = self.clock.perf()
        run_name = f"{graph.name}-{self.clock.now():%d_%b_%y-%H_%M_%S_%f}"
        self.reporter.emit(PipelineStarted(graph.name, graph.enable_cache, run_override))
        steps = dag.order(graph)
        if only is not None:
            keep = dag.ancestors(graph, only)
            steps = [n for n in steps if n.name in keep]
        forced = {n.name for n in steps} if force is True else set(force or ())
        run = RunState(
            traced,
            run_override,
            forced,
            RunResult(graph.name),
            consumers=Consumers(steps),
            set_by=dict(self.set_by),
            values=dict(self.values),
            value_digests=dict(self.value_digests),
        )
        self.shared = SharedRuns.started(self.shared, self.ws, run, steps, force is True)
        if dry_run:
            run.producers = {out: n.name for n in graph.steps for out in n.outs}
            run.order_found = found
        envreads.mark_run_start()  # before --jobs workers fork: they share it
        executor = executor or self.executor(traced, jobs, dry_run)
        reporter = Grouped(self.reporter) if executor.capacity() > 1 else self.reporter
        recorder = ResultRecorder(self.ws, self.clock)
        preparer = Preparer(self.ws, reporter, self.clock, recorder, executor.executes)
        preparer.remote, preparer.holds = self.remote, self.holds
        loop = Loop(run, steps, executor, preparer, recorder, reporter, self.clock, keep_going)
        loop.later, loop.rewired = later, self.rewired
        loop.failed, loop.failed_before = self.failed, self.failed_before
        with working_directory(self.ws.project.root), self._flushing_lock():
            try:
                # Steps an executor can tell now that it cannot run (Dask resources no worker
                # offers), said before any step starts rather than when their turn comes.
                check = getattr(executor, "preflight", None)
                for text in check([(n.name, n.key) for n in steps]) if check else ():
                    self.reporter.emit(Warning_(text))
                skipped = loop.go()
            finally:
                executor.close()
        self.verdicts += run.verdicts
        self.shared.done(run)
        self.set_by.update(run.set_by)  # for the pipelines this runner runs next
        self.values.update(run.values)
        self.value_digests = dict(run.value_digests)
        if held := run.result.held:  # they, and those below them, run in the next pass
            held_below = set(held).union(*(graphs.descendants(graph, n) for n in held))
            skipped = [name for name in skipped if name not in held_below]
        run.result.skipped = skipped
        if skipped:  # those below a failed step, then those the first failure stopped
            failed = run.result.failed
            below = set().union(*(graphs.descendants(graph, name) for name in failed))
            after = tuple(name for name in skipped if name in below)
            others = tuple(name for name in skipped if name not in below)
            if after:
                self.reporter.emit(StepsSkipped(graph.name, after, f"{', '.join(failed)} failed"))
            if others:
                because = "the run stops at the first failure (--keep-going runs them)"
                self.reporter.emit(StepsSkipped(graph.name, others, because))
        if only is None and not run.result.failed and executor.executes:
            self._prune(graph.name, {n.name for n in graph.steps})
        self.ws.save_stats()
        if executor.executes:
            self.ws.writes.save(self.ws.locks)
            # The run's record, read back by the post-execution API (incr.postexec).
            wall = self.clock.wall()
            save_run(self.ws.project.cache, run_name, graph, run.outputs, run.result, wall)
        seconds = self.clock.perf() - started
        self.reporter.emit(PipelineFinished(graph.name, run_name, seconds, bool(run.result.failed)))
        return run.result

    def executor(self, traced: TracedPipeline, jobs: int, dry_run: bool) -> Executor:
        """The executor the options ask for: forked workers only when the pipeline was
        imported (not read from the graph cache) and ``fork`` exists."""
        if dry_run:
            from incr.dryrun import DryRunExecutor

            return DryRunExecutor()
        if self.dask is not None and traced.executable:
            from incr.daskexec import DaskExecutor  # here: a local run loads no Dask

            return DaskExecutor.for_run(self.dask, self.ws, traced)
        if jobs > 1 and traced.executable:
            from incr import pool  # here: a serial run loads no multiprocessing

            if pool.available():
                return pool.PoolExecutor(traced.steps, traced.configs, self.ws.project, jobs)
        return InProcessExecutor(traced.steps, self.ws, self.clock.perf)

    @contextlib.contextmanager
    def _flushing_lock(self) -> Iterator[None]:
        """Store objects without an fsync each, synced together before each lockfile write
        (``Store.defer_sync``), the small ones appended to a pack (``Store.packing``; not for
        Dask, whose workers may share only the cache's files and read them as they come), and
        run records in the run cache's journal, folded into its shards at the end
        (``Store.batched``); write what the lockfile still lacks when the run ends, however it
        ends (Ctrl-C included)."""
        store = self.ws.store
        store.defer_sync = True
        packing = store.packing() if self.dask is None else contextlib.nullcontext()
        try:
            with temppool.pooled(store.dir), store.batched(), packing:
                yield
        finally:
            store.defer_sync = False
            self.ws.flush_lock()
            store.sync()  # objects only run records name
            store.end_packing()

    def _prune(self, pipeline: str, names: set[str]) -> None:
        own = [k for k in self.ws.locks if k.startswith(pipeline + ".")]
        stale = stale_locks(own, {pipeline: names})
        remember_outs(self.ws.project.cache, [self.ws.locks[key] for key in stale])
        for key in stale:
            del self.ws.locks[key]
        if stale:
            self.ws.write_lock()


@valueclass
class Repro:
    """What ``repro`` did: ``ok`` unless a step failed; each pipeline run; and for a dry run,
    each step's verdict (what ``incr status`` would say), in order."""

    ok: bool
    runs: list[RunResult] = field(default_factory=list)
    verdicts: list[Verdict] = field(default_factory=list)


def repro(
    project: Project,
    targets: Iterable[str] = (),
    *,
    force: bool = False,
    keep_going: bool = False,
    jobs: int = 1,
    dry_run: bool = False,
    reporter: Reporter | None = None,
    wait: bool = True,
    on_wait: Callable[[str], None] | None = None,
) -> Repro:
    """``incr repro``: bring the targeted pipelines (all without targets) up to date.

    A dry run decides every step through the same loop, executes none and writes nothing but
    the stat cache; it takes no project lock (like ``status``) and imports no pipeline module
    when the graph cache is up to date. ``reporter`` (default: none) receives the run's
    events. Raises IncrError for a user error (a broken pipeline, a lock held with
    ``wait=False``).
    """
    reporter = reporter or Recorder()
    if dry_run:
        workspace, pipelines = open_pipelines(project, executable=False)
        return _repro(workspace, pipelines, targets, reporter, force=force, dry_run=True)
    with project_lock(project.cache, "incr repro", wait=wait, on_wait=on_wait):
        workspace, pipelines = open_for_repro(project, targets, force)
        return _repro(
            workspace, pipelines, targets, reporter, force=force, keep_going=keep_going, jobs=jobs
        )


def repro_all(
    workspace: Workspace,
    pipelines: list[TracedPipeline],
    targets: Iterable[str],
    reporter: Reporter,
    *,
    force: bool = False,
    keep_going: bool = False,
    jobs: int = 1,
    pull: RemoteRuns | None = None,
    dask: DaskSettings | None = None,
) -> bool:
    """``incr repro`` on an open workspace: run the targeted pipelines (all without targets);
    False on a failure. A full run that succeeds also drops lock entries of pipelines that
    no longer exist. With ``pull``, a step's result is fetched from the remote rather than
    computed when the remote has it; with ``dask``, dirty steps run on a Dask cluster."""
    done = _repro(
        workspace,
        pipelines,
        targets,
        reporter,
        force=force,
        keep_going=keep_going,
        jobs=jobs,
        pull=pull,
        dask=dask,
    )
    return done.ok


def _repro(
    workspace: Workspace,
    pipelines: list[TracedPipeline],
    targets: Iterable[str],
    reporter: Reporter,
    *,
    force: bool = False,
    keep_going: bool = False,
    jobs: int = 1,
    dry_run: bool = False,
    pull: RemoteRuns | None = None,
    dask: DaskSettings | None = None,
    passes: int = PASSES,
    failed_before: Mapping[str, str] | None = None,
) -> Repro:
    """Run the targeted pipelines, in as many passes (at most ``passes``) as the steps'
    changes to what the pipelines were opened from ask for (``incr.passes``)."""
    targets = list(targets)
    if workspace.deferred is not None:  # modules to import once a step wrote their file
        reporter.emit(Note(workspace.deferred.note()))
    workspace.pipelines = pipelines = workspace.run_order(pipelines)  # readers after writers
    workspace.facts.declared_outs = {o for t in pipelines for n in t.graph.steps for o in n.outs}
    if targets:  # and the steps of other pipelines that write what they read
        targets = with_writers(workspace, pipelines, targets)
        left_out = setters.left_out(pipelines, dag.select(pipelines, targets), workspace.locks)
        for text in left_out.values():  # a value a step of a pipeline left out sets
            reporter.emit(Note(text))
    if not dry_run:  # a deps path gone is the user's to fix before anything runs
        for traced, only in dag.select(pipelines, targets):
            graph, _ = workspace.learned_graph(traced)
            workspace.facts.check_deps(traced, judged_steps(graph, only))
    if not dry_run and workspace.deferred is None:  # a run from scratch lacks the files
        remove_orphans(workspace, pipelines, reporter)  # of the steps gone
    runner = Runner(workspace, reporter)
    runner.remote, runner.dask = pull, dask
    if pull is not None:  # a fetched run's files outside outs, as if it ran here
        pull.writes = lambda key, writes: workspace.writes.put(key, list(writes or ()))
    runner.shared = SharedRuns.of(workspace, pipelines, targets, force)
    runner.holds, runner.failed_before = passes > 1, failed_before or {}
    # What the pipelines were opened from, valued as then: to see what the run changes of it.
    opened = workspace.learned.opened = {} if dry_run else dict(workspace.discovered)
    done = Repro(ok=True)
    queue = list(dag.select(pipelines, targets))
    first = len(queue)  # then the pipelines that wait for a file another one may write
    again: set[str] = set()  # the pipelines run again for a file a later one wrote
    for i, (traced, only) in enumerate(queue):  # (the list grows while it is walked)
        forced: bool | set[str] = (only or True) if force and i < first else False  # once
        later = i < first - 1
        result = runner.run(
            traced,
            only=only,
            force=forced,
            keep_going=keep_going,
            jobs=jobs,
            dry_run=dry_run,
            later=later,
        )
        done.runs.append(result)
        if later and crossreads.waits_for_file(result):
            queue.append((traced, only))  # a pipeline after it may write the file
            reporter.emit(Note(crossreads.running_again(traced, result, queue[i + 1 : first])))
            continue
        for step, (seconds, text) in result.unreported.items():  # it will not run again
            reporter.emit(StepFailed(traced.graph.name, step, seconds, text))
        if not dry_run and result.executed:  # a pipeline run before read what it wrote
            made = workspace.step_writes([traced])
            written = [p for s in result.executed for p in made.get(f"{traced.graph.name}.{s}", [])]
            keys = [f"{traced.graph.name}.{s}" for s in result.executed]
            for entry, text in crossreads.again(queue, i, written, workspace.locks, again, keys):
                queue.append(entry)
                reporter.emit(Note(text))
        done.ok = done.ok and not result.failed
        if result.failed and not keep_going:
            break  # (a pipeline that waited stays failed)
    full = done.ok and not targets and not dry_run and workspace.deferred is None
    if full and (dropped := workspace.prune(t.graph.name for t in pipelines)):
        reporter.emit(Note(keptlocks.dropped_line(dropped, workspace.project)))
    done.verdicts = runner.verdicts
    going = done.ok or keep_going  # (a failure stops the run without --keep-going)
    changed = changed_since(workspace, opened, done.runs) if opened and going else []
    if passes > 1 and going and (changed or any(r.held for r in done.runs)):
        reporter.emit(Note(again_line(changed, done.runs)))
        after = _repro(
            *reopen(workspace.project, targets),
            targets,
            reporter,
            keep_going=keep_going,
            jobs=jobs,
            pull=pull,
            dask=dask,
            passes=passes - 1,
            failed_before={**runner.failed_before, **runner.failed},
        )
        done = Repro(after.ok, [*done.runs, *after.runs])
    elif workspace.deferred is not None and going:  # no pass left to import them in
        raise workspace.deferred.first()
    elif changed:  # the last pass: they keep changing
        reporter.emit(Note(passes_left_line(changed)))
    elif not going:  # the steps held for a next pass that the failure stops
        graphs_of = {t.graph.name: t.graph for t in pipelines}
        for result in (r for r in done.runs if r.held and r.pipeline in graphs_of):
            graph = graphs_of[result.pipeline]
            held = set(result.held).union(*(graphs.descendants(graph, n) for n in result.held))
            names = tuple(n.name for n in graph.steps if n.name in held)
            because = "they waited for a next pass, which the failure stops (--keep-going runs it)"
            reporter.emit(StepsSkipped(result.pipeline, names, because))
    return done


def remove_orphans(ws: Workspace, pipelines: list[TracedPipeline], reporter: Reporter) -> None:
    """Remove the files of the steps gone from ``pipelines`` that a run from scratch does not
    make (``incr.orphans``), saying which, by step. An ``outs`` file stays unless a step
    reads it (a leftover no step reads: ``incr gc --outs`` removes it, as ``incr status``
    notes)."""
    by_step: dict[str, list[str]] = {}
    found = ws.written.find_orphans([t.graph for t in pipelines])
    gone = set(found.values())
    live = [e for k, e in ws.locks.items() if k not in gone] if found else []
    for path, key in found.items():
        read = any(orphans.readers_reasons({path: key}, entry) for entry in live)
        if path in ws.locks[key].outputs and not read:
            continue
        with contextlib.suppress(OSError):
            (ws.project.root / path).unlink()
            by_step.setdefault(key, []).append(path)
    for key, paths in by_step.items():
        more = f" and {len(paths) - 1} more" if len(paths) > 1 else ""
        text = f"removed {paths[0]}{more}, written by step {key}, which is no longer found"
        reporter.emit(Note(f"{text}: a run from scratch does not make {'them' if more else 'it'}"))


__all__ = ["Reason", "RunResult", "Runner", "load_artifact", "remove_orphans"]
