"""Executes a pipeline in dependency order: cached steps are skipped, dirty ones run.

After each finished step the lockfile is rewritten atomically, so an interrupted run keeps every
step that finished. Early cutoff falls out of the fingerprint: a step whose upstream reran but
produced the same bytes receives the same input digests, so it stays clean.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import os
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Any

from incr import dag, discovery, envreads, materializers, ondisk, overlaps, parallel, trees
from incr.api import PipelineInstance, TracedPipeline
from incr.consumers import Consumers
from incr.errors import IncrError
from incr.events import (
    Grouped,
    Note,
    PipelineFinished,
    PipelineStarted,
    Reporter,
    RunResult,
    StepCached,
    StepFailed,
    StepFinished,
    StepsSkipped,
    StepStarted,
    Warning_,
)
from incr.executors import Outcome, StepFailure, load_artifact, split_outputs, user_traceback
from incr.fingerprint import fingerprint
from incr.history import save_run
from incr.learned import own_paths
from incr.locking import held_here, project_lock
from incr.model import Artifact, Facts, LockEntry, Reason, StepNode, paths_overlap
from incr.notebook import project_for
from incr.overlaps import RunOverlaps
from incr.plan import cache_enabled, decide, stale_locks
from incr.postexec import Repository
from incr.reads import ReadRecorder, recording
from incr.report import Console, nested_run_line
from incr.scriptmain import adopt_main
from incr.session import Workspace, script_imports
from incr.stepcontext import running as step_running
from incr.store import ObjectCorrupt, ObjectMissing, RunRecord, UnsafePath


@dataclass
class RunState:
    traced: TracedPipeline
    run_override: bool | None
    force: set[str]
    result: RunResult
    outputs: dict[str, dict[str, Artifact]] = field(default_factory=dict)
    values: dict[tuple[str, str], Any] = field(default_factory=dict)
    facts: dict[str, tuple[Facts, str]] = field(default_factory=dict)
    started: dict[str, float] = field(default_factory=dict)
    #: Which values of ``values`` a step of the run still has to start with.
    consumers: Consumers = field(default_factory=Consumers)
    overlaps: RunOverlaps = field(default_factory=RunOverlaps)
    #: Steps found to have read a file too early, with why, until they are prepared again.
    reruns: dict[str, list[Reason]] = field(default_factory=dict)
    #: Those of them the scheduling loop has not put back in its queue yet.
    requeue: list[str] = field(default_factory=list)


class Runner:
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
        self.clock = clock  # for durations
        self.now = now  # for run names
        self.wall = wall  # for cache expiry

    def run(
        self,
        traced: TracedPipeline,
        *,
        run_override: bool | None = None,
        only: set[str] | None = None,
        force: bool | set[str] = False,
        keep_going: bool = False,
        jobs: int = 1,
    ) -> RunResult:
        """Bring ``traced`` (or the steps ``only`` names and what they need) up to date.

        ``force`` reruns every step (True) or the named ones. A failing step's dependents are
        skipped; without ``keep_going`` the run stops at the first failure, like Make. With
        ``jobs`` > 1, independent steps execute at the same time in worker processes.
        """
        traced = self._learned(traced)
        graph = traced.graph
        started = self.clock()
        run_name = f"{graph.name}-{self.now():%d_%b_%y-%H_%M_%S_%f}"
        self.reporter.emit(PipelineStarted(graph.name, graph.enable_cache, run_override))
        steps = dag.order(graph)
        if only is not None:
            keep = dag.ancestors(graph, only)
            steps = [n for n in steps if n.name in keep]
        forced = {n.name for n in steps} if force is True else set(force or ())
        run = RunState(
            traced, run_override, forced, RunResult(graph.name), consumers=Consumers(steps)
        )
        with _working_directory(self.ws.project.root), self._flushing_lock():
            if jobs > 1 and traced.executable and parallel.available():
                reporter, self.reporter = self.reporter, Grouped(self.reporter)
                try:
                    blocked = parallel.run_parallel(self, run, steps, jobs, keep_going)
                finally:
                    self.reporter = reporter
            else:
                blocked = self._run_serial(run, steps, keep_going)
        run.result.skipped = [n.name for n in steps if n.name in blocked - set(run.result.failed)]
        if run.result.skipped:
            because = f"{', '.join(run.result.failed)} failed"
            self.reporter.emit(StepsSkipped(graph.name, tuple(run.result.skipped), because))
        if only is None and not run.result.failed:
            self._prune(graph.name, {n.name for n in graph.steps})
        self.ws.save_stats()
        self.ws.writes.save(self.ws.locks)
        # The run's record, read back by the post-execution API (incr.postexec).
        save_run(self.ws.project.cache, run_name, graph, run.outputs, run.result, self.wall())
        seconds = self.clock() - started
        self.reporter.emit(PipelineFinished(graph.name, run_name, seconds, bool(run.result.failed)))
        return run.result

    @contextlib.contextmanager
    def _flushing_lock(self) -> Iterator[None]:
        """Write what the lockfile still lacks when the run ends, however it ends (Ctrl-C
        included)."""
        try:
            yield
        finally:
            self.ws.flush_lock()

    def _learned(self, traced: TracedPipeline) -> TracedPipeline:
        """``traced`` with the edges learned from earlier runs (a step that reads a file
        another writes runs after it; see ``incr/overlaps.py``)."""
        learned, _ = overlaps.learned_graph(traced.graph, self.ws.locks, self.ws.writes.steps)
        return traced if learned is traced.graph else replace(traced, graph=learned)

    def _run_serial(self, run: RunState, steps: list[StepNode], keep_going: bool) -> set[str]:
        """Run ``steps`` one after the other; the steps blocked by a failure. A step found to
        have read a file too early runs again right away, with what it had fed."""
        blocked: set[str] = set()
        queue = list(steps)
        index = 0
        while index < len(queue):
            node = queue[index]
            index += 1
            if node.name in blocked:
                self.let_go(run, node)
                continue
            if not self._step(run, node):
                rest = queue[index:]
                down = _descendants(run.traced.graph, node.name, rest) if keep_going else rest
                blocked |= {n.name for n in down}
            if run.requeue:
                queue[index:index] = self.again(run, {n.name for n in queue[:index]})
        return blocked

    def again(self, run: RunState, seen: set[str]) -> list[StepNode]:
        """The steps to prepare again, in order, once some step read a file too early: each
        such reader and, among ``seen``, the steps below it."""
        if not run.requeue:
            return []
        graph = run.traced.graph
        names = set(run.requeue)
        run.requeue.clear()
        for name in list(names):
            names |= dag.descendants(graph, name) & seen
        return [n for n in dag.order(graph) if n.name in names]

    # ------------------------------------------------------------------ one step

    def _step(self, run: RunState, node: StepNode) -> bool:
        """Bring one step up to date in this process; False when it (or a producer it
        needed) failed."""
        done = self.prepare(run, node)
        if done is not None:
            return done
        started = run.started[node.name]
        try:
            self.execute(run, node)
        except StepFailure:
            if node.name not in run.result.failed:  # a producer it needed failed first
                self.fail(run, node, self.clock() - started, "an upstream step it needed failed")
            return False
        graph = run.traced.graph
        self.reporter.emit(StepFinished(graph.name, node.name, self.clock() - started, True))
        return True

    def prepare(self, run: RunState, node: StepNode) -> bool | None:
        """Decide a step: True when its result is reused (cached, or restored from the cache),
        False when it cannot even be fingerprinted, None when it must execute."""
        graph = run.traced.graph
        identity = self.ws.input_identity
        inputs = {p: identity(run.outputs[r.step][r.output]) for p, r in node.inputs.items()}
        try:
            facts = self.ws.static_facts(run.traced, node, inputs)
        except IncrError as exc:
            return self.fail(run, node, 0.0, exc.format())
        fp = fingerprint(facts)
        run.facts[node.name] = (facts, fp)
        locked = self.ws.locks.get(node.key)
        missing, modified = self.ws.output_problems(locked)
        enabled = cache_enabled(node, graph.enable_cache, run.run_override)
        enabled = enabled and not self.ws.uncached(run.traced, node)
        expected = self.ws.expected_reads(node, facts.code)
        reasons = decide(
            node,
            locked,
            facts,
            enabled=enabled,
            forced=node.name in run.force,
            missing=missing,
            modified=modified,
            reads=self.ws.read_changes(locked.reads, expected) if locked else [],
            expired=self.ws.expired(node, locked, self.wall()),
        )
        early = run.reruns.pop(node.name, [])  # it read a file before a step wrote it
        reasons += early
        self.reporter.emit(StepStarted(graph.name, node.name, tuple(reasons)))
        started = run.started[node.name] = self.clock()
        if not reasons and locked is not None:
            return self._cached(run, node, locked.outputs, started, restored=False)
        if enabled and node.name not in run.force and not early:
            # Only files to put back: the result itself is the one the lockfile records.
            only_files = {r.kind for r in reasons} <= {Reason.OUT_MISSING, Reason.MODIFIED}
            if locked is not None and only_files and self._restore(node, locked.outputs):
                return self._cached(run, node, locked.outputs, started, restored=True)
            hit = self._run_cache_hit(node, fp, expected)
            if hit is not None and self._restore(node, hit.outputs):
                self._record(node, fp, facts, hit.outputs, hit.reads)
                return self._cached(run, node, hit.outputs, started, restored=True)
        return None

    def _run_cache_hit(self, node: StepNode, fp: str, expected: dict[str, str]) -> RunRecord | None:
        """The newest run-cache record of ``fp`` that has not expired and whose reads still
        match the files as they are now (and hold the ``expected`` ones)."""
        for hit in self.ws.store.lookup_runs(fp):
            if self.ws.read_changes(hit.reads, expected):
                continue
            if node.cache_expires is not None and self.wall() - hit.created > node.cache_expires:
                continue
            return hit
        return None

    def _restore(self, node: StepNode, outputs: dict[str, Artifact]) -> bool:
        """Put every file and folder output back as recorded; False when one cannot be (its
        objects are gone or damaged, or the record may predate modes and links) or when a
        value output is missing from the cache. Files found in a folder output that the
        record does not hold are moved aside, each with a warning."""
        root = self.ws.project.root
        for name, artifact in outputs.items():
            if artifact.kind not in ("file", "dir"):
                if not self.ws.store.has(artifact.digest):
                    return False
                continue
            if ondisk.state(self.ws.stats, name, artifact) == "same":
                continue
            if ondisk.may_lack_metadata(self.ws.stats, self.ws.store, name, artifact):
                return False  # the step runs: what it makes is what counts
            try:
                if artifact.kind == "dir":
                    kept = self.ws.project.cache / "kept" / f"{self.now():%Y%m%d-%H%M%S}"
                    moved = self.ws.store.restore_tree(artifact.digest, root / name, root, kept)
                    self._warn_moved(node, moved)
                else:
                    self.ws.store.restore_file(artifact.digest, root / name, root, artifact.mode)
            except ObjectMissing:
                return False  # not in this cache (a fresh clone): the step runs, no alarm
            except (ObjectCorrupt, UnsafePath) as exc:
                self.reporter.emit(Warning_(f"cannot restore {name}: {exc}"))
                return False
        return True

    def _warn_moved(self, node: StepNode, moved: list[tuple[Path, Path]]) -> None:
        root = self.ws.project.root
        for source, target in moved:
            text = f"{_shown(source, root)} is not an output of {node.key}"
            self.reporter.emit(Warning_(f"{text}: moved it to {_shown(target, root)}"))

    def _cached(
        self,
        run: RunState,
        node: StepNode,
        outputs: dict[str, Artifact],
        started: float,
        restored: bool,
    ) -> bool:
        self.let_go(run, node)
        run.outputs[node.name] = outputs
        run.result.cached.append(node.name)
        if restored and node.outs:  # files put back are written as this run goes
            self._stale_readers(run, run.overlaps.finish(node.name, (), node.outs))
        pipeline = run.traced.graph.name
        self.reporter.emit(StepCached(pipeline, node.name, restored))
        self.reporter.emit(StepFinished(pipeline, node.name, self.clock() - started, False))
        return True

    def execute(self, run: RunState, node: StepNode) -> None:
        """Run the step's function and store what it returns. Raises StepFailure."""
        started = self.clock()
        run.overlaps.begin(node.name)
        values = {p: self._value(run, r.step, r.output) for p, r in node.inputs.items()}
        self.let_go(run, node)
        facts, fp = run.facts[node.name]
        identity = self.ws.input_identity
        inputs = {p: identity(run.outputs[r.step][r.output]) for p, r in node.inputs.items()}
        if inputs != facts.inputs:  # a producer was recomputed on the way
            facts = replace(facts, inputs=inputs)
            fp = fingerprint(facts)
        if not run.traced.executable:
            raise IncrError(
                f"step {node.key} became dirty while incr was checking it",
                hint="run `incr repro` again",
            )
        step = run.traced.steps[node.name]
        try:
            with self.watching_reads(node) as seen, self.watching_env(node) as env:
                result = step.run_function(run.traced.configs[node.name], values)
        except (Exception, SystemExit) as exc:  # sys.exit() in a step is its failure
            text = user_traceback(exc, step.func.__code__)
            self.fail(run, node, self.clock() - started, text)
            raise StepFailure from None
        values.clear()  # its inputs: no longer held here while its outputs are stored
        outcome = self.store_result(node, result, seen, env, step)
        if outcome.failure is not None:
            self.fail(run, node, self.clock() - started, outcome.failure)
            raise StepFailure from None
        for name, value in split_outputs(node, result).items():
            if run.consumers.needed((node.name, name)):
                run.values[(node.name, name)] = value
        run.facts[node.name] = (facts, fp)
        self.accept(run, node, outcome)

    def store_result(
        self,
        node: StepNode,
        result: Any,
        seen: ReadRecorder | None,
        env: envreads.EnvRecorder | None = None,
        step: Any = None,
    ) -> Outcome:
        """Store what a step returned and wrote; the outcome names what failed, if anything.
        ``step`` (the ``@step`` object) chooses its outputs' materializers."""
        try:
            notes: list[str] = []
            artifacts = self.store_outputs(node, result, step, notes)
            reads, writes = self.reads_of(node, seen, env), self.writes_of(node, seen)
            deps = self.deps_written(node, seen)
            return Outcome(artifacts, reads, deps=deps, writes=writes, notes=notes)
        except IncrError as exc:
            return Outcome(failure=exc.format())
        except OSError as exc:  # the disk, not the step: say what could not be written
            text = f"error: step {node.key} ran, but its results could not be stored: {exc}"
            text += "\n  hint: free some space or fix permissions and run again; "
            text += "pipeline.lock keeps its last good state"
            return Outcome(failure=text)

    def accept(self, run: RunState, node: StepNode, outcome: Outcome) -> None:
        """Record an executed step's stored outputs: run cache, kept sources, lockfile."""
        facts, fp = run.facts[node.name]
        if outcome.deps:  # rewritten by the step itself: its result stands for them as they are
            facts = replace(facts, deps={**facts.deps, **outcome.deps})
            fp = fingerprint(facts)
            run.facts[node.name] = (facts, fp)
        for note in outcome.notes:
            self.reporter.emit(Note(note))
        reads = self.ws.reads_to_record(node, facts.code, outcome.reads)
        self.ws.store.record_run(fp, outcome.artifacts, reads, self.wall(), node.key)
        self.ws.keep_sources(facts.code)
        self._record(node, fp, facts, outcome.artifacts, reads)
        run.outputs[node.name] = outcome.artifacts
        if node.name not in run.result.executed:
            run.result.executed.append(node.name)
        if node.track_reads:
            self.ws.writes.put(node.key, outcome.writes)
        read = overlaps.file_reads(outcome.reads)
        wrote = (*outcome.writes, *node.outs)
        self._stale_readers(run, run.overlaps.finish(node.name, read, wrote, node.deps))

    def _stale_readers(self, run: RunState, found: list[overlaps.Overlap]) -> None:
        """Learn from the overlaps a finished step shows. A reader that saw what a writer wrote
        keeps running after it (an edge of this run's graph). A reader that began before a
        writer of a file it read had finished runs after that writer from now on, its result
        is forgotten (its run record dropped, its lock entry marked so that it stays dirty if
        it does not run again) and it is put back in the queue, unless the writer runs after
        it anyway (it depends on it, or on a file it writes): then it keeps what it saw, as in
        a serial run."""
        graph = run.traced.graph
        for o in overlaps.forward_first(graph, found):
            if o.writer in dag.descendants(graph, o.reader):
                continue
            if o.reader not in dag.descendants(graph, o.writer):
                graph = replace(graph, learned=(*graph.learned, (o.writer, o.reader)))
            if not o.early:
                continue
            why = Reason(Reason.READ_EARLY, f"{o.path}, written by {o.writer}")
            reasons = run.reruns.setdefault(o.reader, [])
            if why not in reasons:
                reasons.append(why)
            self._forget(graph.step(o.reader), o.path)
            if o.reader not in run.requeue:
                run.requeue.append(o.reader)
        if graph is not run.traced.graph:
            run.traced = replace(run.traced, graph=graph)

    def _forget(self, node: StepNode, path: str) -> None:
        entry = self.ws.locks.get(node.key)
        if entry is None:
            return
        self.ws.store.forget_run(entry.fingerprint, entry.reads)
        if path in entry.reads:
            reads = {**entry.reads, path: overlaps.WRITTEN_AFTER_READ}
            self.ws.locks[node.key] = replace(entry, reads=reads)
            self.ws.write_lock(soon=True)

    def store_outputs(
        self, node: StepNode, result: Any, step: Any = None, notes: list[str] | None = None
    ) -> dict[str, Artifact]:
        artifacts: dict[str, Artifact] = {}
        formats = materializers.output_formats(step)
        for name, value in split_outputs(node, result).items():
            where = f"step {node.key}, output {name}"
            stored = materializers.encode(value, where, *formats.get(name, (None, None)))
            refs = self.ws.object_refs(stored.kind, stored.parts, stored.names)
            artifacts[name] = Artifact(stored.kind, self.ws.store.put_parts(stored.parts), refs)
            if notes is not None:
                notes += stored.notes
        root = self.ws.project.root
        for out in node.outs:
            path = root / out
            if path.is_dir():
                artifacts[out] = Artifact("dir", self._put_tree(node, out))
            elif path.is_file():
                mode = trees.mode_field(path.stat().st_mode, False)
                artifacts[out] = Artifact("file", self.ws.store.put_file(path), mode=mode)
            else:
                raise IncrError(
                    f"step {node.key} did not write {out}, which it lists in outs",
                    hint="write the file in the step, or remove it from outs=[...]",
                )
        return artifacts

    def _put_tree(self, node: StepNode, out: str) -> str:
        root = self.ws.project.root
        try:
            return self.ws.store.put_tree(root / out, root)
        except UnsafePath as exc:
            raise IncrError(
                f"step {node.key} cannot store {out}: {exc}",
                hint="make the link point inside the project, or copy the file it leads to",
            ) from None

    @contextlib.contextmanager
    def watching_reads(self, node: StepNode) -> Iterator[ReadRecorder | None]:
        """Run the block as a step: in the project root (whatever folder an earlier step
        moved to), recording what it reads, lists and tests unless ``track_reads`` is off."""
        root = self.ws.project.root
        os.chdir(root)
        history = functools.partial(Repository, root, lock_runs=False)  # for a StepContext
        try:
            folder = self.ws.project.cache / "artifacts"
            with step_running(node.key, node.name, node.outputs, folder, history):
                if not node.track_reads:
                    yield None
                    return
                with recording(root, own_paths(self.ws.project)) as recorder:
                    yield recorder
        finally:
            os.chdir(root)

    @contextlib.contextmanager
    def watching_env(self, node: StepNode) -> Iterator[envreads.EnvRecorder | None]:
        """Record the environment variables the project's code reads while the step runs."""
        if not node.track_reads:
            yield None
            return
        with envreads.recording(self.ws.project.root) as recorder:
            yield recorder

    def reads_of(
        self, node: StepNode, seen: ReadRecorder | None, env: envreads.EnvRecorder | None = None
    ) -> dict[str, str]:
        """What the step was seen to depend on beyond what it declares: digests of the files
        it read (as it left them, when it rewrote them in place: see ``incr.reads``), its
        listings and existence tests (``ls:``/``exists:`` keys) and the environment variables
        its code read (``$NAME``)."""
        reads: dict[str, str] = {}
        if env is not None:
            reads = {f"${n}": envreads.env_value(n, self.ws.environ) for n in env.names}
        if seen is None:
            return reads
        declared = (*node.deps, *node.outs)
        paths = [p for p in seen.paths() if not any(paths_overlap(p, d) for d in declared)]
        reads.update({p: self.ws.stats.digest(p) for p in paths})
        for key, value in seen.learned().items():
            path = key.partition(":")[2]
            if not any(_within(path, d) for d in declared):
                reads[key] = value
        return reads

    def deps_written(self, node: StepNode, seen: ReadRecorder | None) -> dict[str, str]:
        """Declared deps the step wrote into, digested as it left them."""
        if seen is None or not node.deps:
            return {}
        written = [seen.relative(p) for p in seen.changed]
        deps = [d for d in node.deps if any(_within(w, d) for w in written)]
        return {d: self.ws.stats.digest(d) for d in deps}

    def writes_of(self, node: StepNode, seen: ReadRecorder | None) -> list[str]:
        """The files the step opened for writing, besides its outs."""
        if seen is None:
            return []
        return [p for p in seen.written_paths() if not any(paths_overlap(p, o) for o in node.outs)]

    def let_go(self, run: RunState, node: StepNode) -> None:
        """``node`` has started (or will not: cached, failed, skipped): drop the values no
        step of the run still has to start with."""
        for key in run.consumers.started(node.name):
            run.values.pop(key, None)

    def _value(self, run: RunState, step: str, output: str) -> Any:
        """An upstream output's value: from this run, else from the verified cache.

        A missing or damaged object is reported and its producer recomputed.
        """
        if (step, output) in run.values:
            return run.values[(step, output)]
        artifact = run.outputs[step][output]
        try:
            value = load_artifact(self.ws.store, artifact)
        except (ObjectMissing, ObjectCorrupt) as exc:
            self.reporter.emit(Warning_(f"{exc}; recomputing {step}"))
            self.execute(run, run.traced.graph.step(step))
            if (step, output) in run.values:
                return run.values[(step, output)]
            value = load_artifact(self.ws.store, run.outputs[step][output])
        if run.consumers.needed((step, output)):
            run.values[(step, output)] = value
        return value

    def _record(
        self,
        node: StepNode,
        fp: str,
        facts: Facts,
        outputs: dict[str, Artifact],
        reads: dict[str, str],
    ) -> None:
        self.ws.locks[node.key] = LockEntry(node.key, fp, facts, dict(outputs), dict(reads))
        self.ws.write_lock(soon=True)

    def fail(self, run: RunState, node: StepNode, seconds: float, text: str) -> bool:
        self.let_go(run, node)
        run.result.failed.append(node.name)
        self.reporter.emit(StepFailed(run.traced.graph.name, node.name, seconds, text))
        return False

    def _prune(self, pipeline: str, names: set[str]) -> None:
        own = [k for k in self.ws.locks if k.startswith(pipeline + ".")]
        stale = stale_locks(own, {pipeline: names})
        for key in stale:
            del self.ws.locks[key]
        if stale:
            self.ws.write_lock()


def repro_all(
    workspace: Workspace,
    pipelines: list[TracedPipeline],
    targets: Iterable[str],
    reporter: Reporter,
    *,
    force: bool = False,
    keep_going: bool = False,
    jobs: int = 1,
) -> bool:
    """``incr repro``: run the targeted pipelines (all without targets); False on a failure.

    A full run that succeeds also drops lock entries of pipelines that no longer exist.
    """
    targets = list(targets)
    failed = False
    for traced, only in dag.select(pipelines, targets):
        forced: bool | set[str] = (only or True) if force else False
        result = Runner(workspace, reporter).run(
            traced, only=only, force=forced, keep_going=keep_going, jobs=jobs
        )
        failed = failed or bool(result.failed)
        if result.failed and not keep_going:
            break
    if not failed and not targets:
        workspace.prune(t.graph.name for t in pipelines)
    return not failed


def run_instance(instance: PipelineInstance, enable_cache: bool | None) -> Any:
    """``PipelineInstance.run()``: find the project of the file defining the pipeline, trace
    the instance, then run it with the seed's console lines."""
    func = instance.definition.func
    project = project_for(inspect.getsourcefile(func) or func.__code__.co_filename)
    reporter = Console()
    if held_here(project.cache):  # a pipeline module imported again while this process runs
        reporter.line(nested_run_line(instance.name), err=True)
        return None
    adopt_main(project.root)
    with project_lock(project.cache, f"{instance.name}.run()", on_wait=reporter.line):
        workspace = Workspace(project)
        workspace.imports = script_imports(project, workspace)
        traced = discovery.trace(instance, project.root)
        result = Runner(workspace, reporter).run(traced, run_override=enable_cache)
    if result.failed:
        raise RuntimeError(f"pipeline {instance.name}: step {', '.join(result.failed)} failed")
    return result


def _descendants(graph: Any, name: str, steps: list[StepNode]) -> list[StepNode]:
    below = dag.descendants(graph, name)
    return [n for n in steps if n.name in below]


def _shown(path: Path, root: Path) -> str:
    """``path`` from the project root when it is inside, else as it is."""
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return str(path)


def _within(path: str, other: str) -> bool:
    """True when ``path`` is ``other`` or inside it (root-relative POSIX paths)."""
    a, b = path.rstrip("/"), other.rstrip("/")
    return a == b or a.startswith(b + "/") or b == "."


@contextlib.contextmanager
def _working_directory(path: Path) -> Iterator[None]:
    previous = os.getcwd()
    os.chdir(path)
    try:
        yield
    finally:
        os.chdir(previous)


__all__ = ["Reason", "RunResult", "Runner"]
