"""Recording what a run learned: an executed step's stored outputs (run cache, kept sources,
lockfile), the files it was seen to write, and the order those writes impose on the steps
that read them (a reader that read too early runs again; see ``incr/overlaps.py``)."""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

from incr import appendbase, freshouts, lazyfiles, leafwrites, overlaps, sharedwrites
from incr import graph as graphs
from incr.executors import StepOutcome
from incr.fingerprint import fingerprint
from incr.learned import own_paths
from incr.model import (
    ENV_PREFIX,
    SETS_PREFIX,
    Artifact,
    Facts,
    LockEntry,
    Reason,
    StepNode,
    set_parts,
    value_name,
)
from incr.overlaps import Overlap
from incr.runstate import Clock, RunState
from incr.session import Workspace

#: The ``reads`` value of a variable an earlier step of the run set: no environment has it,
#: so the step is found changed by the next status.
SET_BEFORE = "set by a step run before"
#: The ``reads`` value of a ``sets:`` key of a library's process-wide setting the step's code
#: makes (``StepFacts.process_settings``): never a value now.
PROCESS_SET = "set as it ran"


class ResultRecorder:
    def __init__(self, ws: Workspace, clock: Clock) -> None:
        self.ws = ws
        self.clock = clock
        self._index: tuple[RunState, dict[str, set[str]]] | None = None
        self.cleared: set[str] = set()  # the steps whose outs were cleared (``clear_outs``)

    def accept(self, run: RunState, node: StepNode, outcome: StepOutcome) -> None:
        """Record an executed step's stored outputs: run cache, kept sources, lockfile."""
        facts, fp = run.facts[node.name]
        if outcome.deps:  # rewritten by the step itself: its result stands for them as they are
            facts = replace(facts, deps={**facts.deps, **outcome.deps})
            fp = fingerprint(facts)
            run.facts[node.name] = (facts, fp)
        seen = {f"{ENV_PREFIX}{name}": "" for name in outcome.env}  # valued here
        seen.update(outcome.reads)
        settings = self.ws.facts.process_settings(run.traced, node)  # (for every step after it)
        seen.update({f"{SETS_PREFIX}{part}": PROCESS_SET for part in settings})
        run.forget_unset(node.key, {*settings, *set_parts(outcome.reads)})  # as its lock said
        run.note_set(settings, node.key, fp)  # as it ran, for the steps decided after it
        before = run.set_before(node.key)
        reads = self.ws.reads_to_record(node, facts.code, seen, before)
        if before:  # what its inputs' code reads of them (their identity holds it too)
            upstream = (run.outputs.get(r.step, {}).get(r.output) for r in node.inputs.values())
            inputs_read = self.ws.facts.values_read(upstream, before).items()
            reads.update({k: v for k, v in inputs_read if k not in facts.code})  # not its code's
        parts = set_parts(outcome.reads)
        if parts:
            run.set_by.update(dict.fromkeys(parts, node.key))  # for the steps decided after it
            run.values.update(outcome.values)
            for part in parts:  # a value that is not plain counts by the digest made of it
                run.value_digests.pop(part, None)
            run.value_digests.update(outcome.value_digests)
        for name in outcome.env_set_before:  # the process's value, not the environment's
            reads[f"{ENV_PREFIX}{name}"] = SET_BEFORE
        written = None
        if node.track_reads:  # what the files no outs lists hold as it left them
            anew = {path for path, _ in outcome.rewritten}  # (read, then written anew)
            appended = [path for path in outcome.appends if path not in anew]
            written = leafwrites.recorded(outcome.writes, appended, self.ws.stats.digest)
        artifacts = outcome.artifacts
        if outcome.lazy:  # lazy handles: with the files they read (``incr.lazyfiles``)
            files = lazyfiles.files_digest(facts.deps, reads, facts.inputs)
            artifacts = {
                **artifacts,
                **{n: replace(artifacts[n], files=files) for n in outcome.lazy},
            }
        store = self.ws.store
        store.record_run(fp, artifacts, reads, self.clock.wall(), node.key, written)
        self.ws.keep_sources(facts.code)
        self.record(node, fp, facts, artifacts, reads)
        run.outputs[node.name] = artifacts
        if node.name not in run.executed:  # once, even when it ran again (stale_readers)
            run.executed.add(node.name)
            run.result.executed.append(node.name)
        if node.track_reads:
            root, appends = self.ws.project.root, outcome.appends
            self.ws.writes.put(node.key, list(outcome.writes), fp, root, appends)
            base = (outcome.appended_from, outcome.writes, self.ws.writes, root)
            prior = (outcome.rewritten, self.ws.store)
            if doubtful := appendbase.recorded(node.key, *base, self.ws.locks, *prior):
                self.append_again(run, doubtful)
        if outcome.writes or node.outs:
            self.rewriters(run, node, (*outcome.writes, *node.outs))
        read = overlaps.file_reads(outcome.reads)
        wrote = (*outcome.writes, *node.outs)
        found = run.overlaps.finish(node.name, read, wrote, node.deps)
        self.stale_readers(run, [*found, *(self.early_users(run, node, parts) if parts else ())])

    def starting(self, key: str) -> None:
        """Step ``key`` is about to execute: the files every writer appends to that it writes
        first are put back as they were before (``appendbase.restore``)."""
        if self.ws.writes.chains:
            ws = self.ws
            appendbase.restore(key, ws.writes, ws.store, ws.project.root, ws.locks)

    def clear_outs(self, run: RunState, node: StepNode) -> list[tuple[Path, Path]]:
        """Step ``node`` is about to execute: its outs are taken away, as a run from scratch
        finds them (``freshouts``), but for files every writer appends to, put back by
        ``starting``; so are the files its last run wrote anew outside them
        (``freshouts.clear_written``). What was not from its last run is moved aside: the
        moves are returned. Run again in the same command, it finds only what it wrote then:
        removed."""
        ws, root = self.ws, self.ws.project.root
        entry = ws.locks.get(node.key)
        if node.key in ws.writes.steps and entry is not None:  # seen writing outside its outs
            writes, own = ws.writes, own_paths(ws.project)
            as_left = writes.as_left(node.key, entry.fingerprint, root)
            held = {*writes.appends.get(node.key, ()), *writes.chains}
            freshouts.clear_written(node.key, as_left, writes.steps, held, root, own)
        outs = [o for o in node.outs if o not in ws.writes.chains]
        if not any(os.path.lexists(root / o) for o in outs):
            return []
        recorded = run.outputs.get(node.name) or (entry.outputs if entry is not None else {})
        left: set[str] = set()
        if entry is not None and ws.outputs.rewritten is not None:
            left = set(outs) - set(ws.outputs.rewritten(entry, outs))
        if node.key in self.cleared:  # what a failed run of it wrote in this command
            left.update(outs)
        self.cleared.add(node.key)
        kept = ws.project.cache / "kept" / f"{self.clock.now():%Y%m%d-%H%M%S}"
        return freshouts.clear(root, outs, recorded, ws.store, ws.stats, kept, left)

    def append_again(self, run: RunState, paths: list[str]) -> None:
        """A step appended to ``paths`` after what an earlier run left (``appendbase.recorded``):
        the writers of each in this run's pipeline, and the steps whose writes are not known
        (one may be a writer), execute again, the file first made anew
        (``appended file not known``)."""
        graph, writes, own = run.traced.graph, self.ws.writes, f"{run.traced.graph.name}."
        found = (writes.steps, writes.appends, writes.guessed, writes.before)
        chains = appendbase.chains([graph], *found, self.ws.locks)
        for path in paths:
            if not (keys := chains.get(path, [])):
                continue
            writes.chains[path] = keys
            writes.written_now.discard(path)
            for name in (key.removeprefix(own) for key in keys):
                why = Reason(Reason.APPEND_UNKNOWN, path)
                reasons = run.reruns.setdefault(name, [])
                reasons += [why] if why not in reasons else []
                run.requeue += [name] if name not in run.requeue else []

    def put_back(self, run: RunState, node: StepNode) -> None:
        """The step's outs were put back from the cache: the files are written as this run
        goes (a reader that began before runs again), and the steps after it that write one
        of them too execute again (``shared file rewritten``)."""
        self.stale_readers(run, run.overlaps.finish(node.name, (), node.outs))
        self.rewriters(run, node, node.outs)

    def record(
        self,
        node: StepNode,
        fp: str,
        facts: Facts,
        outputs: dict[str, Artifact],
        reads: dict[str, str],
    ) -> None:
        self.ws.locks[node.key] = LockEntry(node.key, fp, facts, dict(outputs), dict(reads))
        self.ws.write_lock(soon=True)

    def stale_readers(self, run: RunState, found: list[overlaps.Overlap]) -> None:
        """Learn from the overlaps a finished step shows. A reader that saw what a writer wrote
        keeps running after it (an edge of this run's graph). A reader that began before a
        writer of a file it read had finished runs after that writer from now on, its result
        is forgotten (its run record dropped, its lock entry marked so that it stays dirty if
        it does not run again) and it is put back in the queue, unless the writer runs after
        it anyway (it depends on it, or on a file it writes): then it keeps what it saw, as in
        a serial run."""
        graph = run.traced.graph
        for o in overlaps.forward_first(graph, found):
            if o.writer in graphs.descendants(graph, o.reader):
                continue
            if o.reader not in graphs.descendants(graph, o.writer):
                graph = replace(graph, learned=(*graph.learned, (o.writer, o.reader)))
            if not o.early:
                continue
            why = Reason(Reason.READ_EARLY, f"{o.path}, written by {o.writer}")
            reasons = run.reruns.setdefault(o.reader, [])
            if why not in reasons:
                reasons.append(why)
            self.forget(graph.step(o.reader), o.path)
            if o.reader not in run.requeue:
                run.requeue.append(o.reader)
        if graph is not run.traced.graph:
            run.traced = replace(run.traced, graph=graphs.ordered(graph))

    def early_users(self, run: RunState, node: StepNode, parts: list[str]) -> list[Overlap]:
        """The steps after ``node`` in the body, decided before it finished (side by side,
        with ``--jobs``), whose code uses a module value it set as it ran (``parts``): each
        as a reader that began too early (``stale_readers`` runs it again after ``node``)."""
        names = [n.name for n in run.traced.graph.steps]
        found = []
        for name in names[names.index(node.name) + 1 :]:
            code = run.facts[name][0].code if name in run.facts else {}
            found += [
                Overlap(node.name, name, value_name(p), early=True) for p in parts if p in code
            ]
        return found

    def rewriters(self, run: RunState, node: StepNode, wrote: tuple[str, ...]) -> None:
        """The steps after ``node`` that write a file it wrote, which a step of any pipeline
        reads, execute again (``sharedwrites.rewriters``), unless they already did in this
        run. Looked for only when another step writes one of those files (most steps write
        none)."""
        if not wrote:
            return
        writers = self._writers(run)
        shared = False
        for path in {w.rstrip("/") for w in wrote}:
            shared = shared or bool(writers.get(path, set()) - {node.name})
            writers.setdefault(path, set()).add(node.name)
        if not shared:
            return
        graph, writes = run.traced.graph, self.ws.writes.steps
        found = sharedwrites.rewriters(graph, node.name, wrote, writes, self.ws.locks)
        for name, path in found.items():
            if name in run.executed:
                continue
            why = Reason(Reason.REWRITTEN, f"{path}, by {node.name}")
            reasons = run.reruns.setdefault(name, [])
            if why not in reasons:
                reasons.append(why)

    def _writers(self, run: RunState) -> dict[str, set[str]]:
        """The steps (by name) that write each file, as last seen or declared: made once a
        run."""
        if self._index is None or self._index[0] is not run:
            index: dict[str, set[str]] = {}
            for n in run.traced.graph.steps:
                for path in (*self.ws.writes.steps.get(n.key, ()), *n.outs):
                    index.setdefault(path.rstrip("/"), set()).add(n.name)
            self._index = (run, index)
        return self._index[1]

    def forget(self, node: StepNode, path: str) -> None:
        entry = self.ws.locks.get(node.key)
        if entry is None:
            return
        self.ws.store.forget_run(entry.fingerprint, entry.reads)
        if path in entry.reads:
            reads = {**entry.reads, path: overlaps.WRITTEN_AFTER_READ}
            self.ws.locks[node.key] = replace(entry, reads=reads)
            self.ws.write_lock(soon=True)
