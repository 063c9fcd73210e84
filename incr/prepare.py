"""Deciding one step of a run, for a real run and a dry run alike: its facts, fingerprint and
reasons (the ``plan.decide`` ladder), then reuse (clean, files restored, a run-cache hit) or a
``StepJob`` for the executor.

A dry run (``executes`` False) restores nothing and asks no run cache; a step whose upstream
would run waits on it, as in ``incr status``, and each decision is kept as a ``Verdict``.
"""

from __future__ import annotations

import functools
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from incr import ondisk, setters
from incr.errors import IncrError
from incr.events import Note, Reporter, StepCached, StepFinished, StepStarted, Warning_
from incr.executors import StepJob
from incr.learned import own_paths
from incr.model import Artifact, Facts, LockEntry, Reason, StepNode, set_parts
from incr.overlaps import learned_upstreams
from incr.overlaps import notes as overlap_notes
from incr.passes import held_failure
from incr.plan import (
    Verdict,
    after_upstreams,
    cache_enabled,
    decide,
    file_upstreams,
    read_values,
    recorded_values,
    upstream_inputs,
    with_values,
)
from incr.record import ResultRecorder
from incr.runstate import Clock, Held, RunState
from incr.seenwrites import restored_note
from incr.session import Workspace
from incr.store import ObjectCorrupt, ObjectMissing, RunRecord, UnsafePath

if TYPE_CHECKING:
    from incr.remotesync import RemoteRuns

#: Code keys that name no project definition: a package's version, a captured value.
_NOT_PARTS = ("pkg:", "captured:")


class Preparer:
    def __init__(
        self,
        ws: Workspace,
        reporter: Reporter,
        clock: Clock,
        recorder: ResultRecorder,
        executes: bool = True,
    ) -> None:
        self.ws = ws
        self.reporter = reporter
        self.clock = clock
        self.recorder = recorder
        self.executes = executes
        #: ``incr repro --pull``: results looked for on the remote before a step executes.
        self.remote: RemoteRuns | None = None
        #: A step whose modules read a file that changed since is ``Held``; False: it fails.
        self.holds = True

    def prepare(self, run: RunState, node: StepNode) -> StepJob | Held | str | None:
        """Decide a step: None when its result is reused (it is then finished), the text of
        its failure when it cannot even be fingerprinted, ``Held`` when a file a module its
        code uses read as it was imported changed since, else the job that runs it. A dry
        run raises that IncrError instead, as ``incr status`` does."""
        graph = run.traced.graph
        if self.known_clean(run, node):
            return None
        if self.executes:
            run.decide(node.key)  # the values set before it, before it is noted as a setter
        inputs, waiting = self.inputs(run, node)
        native = self.ws.native_reads(run.traced, node)
        try:
            facts = self.ws.static_facts(run.traced, node, inputs, native)
        except IncrError as exc:
            if not self.executes:
                raise
            return exc.format()
        locked, notes = self.ws.locks.get(node.key), self.ws.dynamic_notes(run.traced, node)
        if used := run.used(node.key, facts.code, notes):  # set by a step before it
            # As those steps left them (one left unset counts by its module), or as recorded.
            if self.executes:
                before = run.set_before(node.key)
                facts = with_values(facts, {p: before[p] for p in used if p in before})
            else:
                facts = with_values(facts, recorded_values(used, locked))
        fp = None if waiting else self.ws.lockbook.fingerprint_of(facts, locked)
        missing, modified = self.ws.output_problems(locked)
        undigestable = tuple(self.ws.uncached(run.traced, node))
        enabled = cache_enabled(node, graph.enable_cache, run.run_override) and not undigestable
        expected = self.ws.expected_reads(node, facts.code)
        # What steps before it set as they ran, for the code it unpickles (a status: recorded).
        set_before = run.set_before(node.key) if self.executes else None
        reasons = decide(
            node,
            locked,
            facts,
            enabled=enabled,
            forced=node.name in run.force,
            missing=missing,
            modified=modified,
            reads=[
                *self.ws.read_changes(
                    self.ws.judged_reads(run.traced, graph, node, locked.reads),
                    expected,
                    set_before,
                ),
                *self.ws.written_changes(graph, node),
            ]
            if locked
            else [],
            expired=self.ws.expired(node, locked, self.clock.wall()),
            waiting_on=waiting,
            current=fp,
        )
        if locked is not None and locked.reads and (parts := set_parts(locked.reads)):
            run.note_set(parts, node.key, fp)  # for the steps after it
        run.note_seeds(node.key, notes, fp)  # for the steps drawing after it (``incr.seeds``)
        if not self.executes:
            return self.verdict(run, node, reasons, fp, facts, undigestable, native[1])
        assert fp is not None
        if reasons and (moved := self.ws.learned.moved_imports(expected, native[0])):
            return Held(tuple(moved)) if self.holds else held_failure(moved)  # incr.passes
        run.facts[node.name] = (facts, fp)
        early = run.reruns.pop(node.name, [])  # it read a file before a step wrote it
        reasons += [r for r in early if r not in reasons]  # a rewritten file: seen on disk too
        if reasons:
            self.ws.changed = True  # it executes or has its outputs put back
        self.reporter.emit(StepStarted(graph.name, node.name, tuple(reasons)))
        run.started[node.name] = self.clock.perf()
        reused = self.reused(run, node, locked, reasons, early, enabled, expected, set_before)
        if reused is not None:
            self.reuse(run, node, reused, restored=bool(reasons))
            return None
        return self.job(run, node)

    def known_clean(self, run: RunState, node: StepNode) -> bool:
        """Reuse a step that the status pass of this ``repro`` found clean, as that pass
        decided it (True), when nothing that step depends on can have changed since: the
        pass found every step clean (nothing executes in such a run); or the step was traced
        with the node and code that pass judged, and either no step of this command has
        changed anything on disk yet (executed, or had its outputs put back), or the step
        depends on nothing on disk and the inputs it receives now give the fingerprint its
        lock entry has (``untouched``: a step after one that executed and made the same
        result). A forced step, a run-level cache setting or a step to run again is decided
        as usual."""
        known = self.ws.clean.get(node.key)
        facts, fingerprint = (None, None) if known is None else (known.facts, known.fingerprint)
        if known is None:
            before = self.ws.clean_before.get(node.key)
            if before and before[0].node == node and before[1] == run.traced.code.get(node.name):
                known = before[0]
                facts, fingerprint = known.facts, known.fingerprint
                if self.ws.changed or fingerprint is None:
                    facts, fingerprint = self.untouched(run, node, known)
        locked = self.ws.locks.get(node.key)
        if (
            known is None
            or known.node != node
            or not self.executes
            or fingerprint is None
            or facts is None
            or locked is None
            or fingerprint != locked.fingerprint
            or run.run_override is not None
            or node.name in run.force
            or node.name in run.reruns
        ):
            return False
        # Every step clean (``ws.clean``): none executes, none needs the seeds set before it.
        notes = () if node.key in self.ws.clean else self.ws.dynamic_notes(run.traced, node)
        if run.used(node.key, facts.code, notes):
            return False
        run.facts[node.name] = (facts, fingerprint)
        run.note_seeds(node.key, notes, fingerprint)  # for the steps drawing after it
        self.reporter.emit(StepStarted(run.traced.graph.name, node.name, ()))
        run.started[node.name] = self.clock.perf()
        self.reuse(run, node, locked.outputs, restored=False)
        return True

    def untouched(
        self, run: RunState, node: StepNode, known: Verdict
    ) -> tuple[Facts | None, str | None]:
        """The facts and fingerprint of ``node`` with the inputs it receives now, for
        ``known``, a verdict of the status pass with no reason but waiting on upstream steps,
        when what steps of this run changed on disk cannot change it: the step declares no
        deps or outs, opens no file known before it runs, and was seen to read nothing (no
        file, listing, environment variable...) last time. Its code and config are those the
        pass judged. (None, None) otherwise."""
        locked, facts = self.ws.locks.get(node.key), known.facts
        if node.outs or facts is None or facts.deps:  # deps: declared and opened
            return None, None
        if locked is None or locked.reads or known.own_reasons or not self.executes:
            return None, None
        inputs = self.inputs(run, node)[0]
        if inputs == facts.inputs and known.fingerprint is not None:
            return facts, known.fingerprint
        facts = Facts(code=facts.code, config=facts.config, inputs=inputs, deps=facts.deps)
        return facts, self.ws.lockbook.fingerprint_of(facts, locked)

    def reused(
        self,
        run: RunState,
        node: StepNode,
        locked: LockEntry | None,
        reasons: list[Reason],
        early: list[Reason],
        enabled: bool,
        expected: dict[str, str],
        set_before: dict[str, str] | None = None,
    ) -> dict[str, Artifact] | None:
        """The outputs a step reuses: its own when clean, or put back (its files restored, or
        a run-cache hit, recorded here); None when it has to run."""
        if not reasons and locked is not None:
            return locked.outputs
        if not enabled or node.name in run.force or early:
            return None
        # Only files to put back: the result itself is the one the lockfile records.
        only_files = {r.kind for r in reasons} <= {Reason.OUT_MISSING, Reason.MODIFIED}
        if locked is not None and only_files and self.restore(node, locked.outputs):
            return locked.outputs
        facts, fp = run.facts[node.name]
        hit = self.run_cache_hit(node, fp, expected, set_before)
        if hit is not None and self.restore(node, hit.outputs):
            self.recorder.record(node, fp, facts, hit.outputs, hit.reads)
            return hit.outputs
        return None

    def inputs(self, run: RunState, node: StepNode) -> tuple[dict[str, str], list[str]]:
        """What the step's facts hold for its inputs, and the upstream steps it waits on (a
        dry run only: those whose outputs are not known)."""
        identity = self.ws.input_identity
        if values := self.input_values(run, node):  # an input's code may read them
            identity = functools.partial(identity, values=values)
        if self.executes:
            refs = node.inputs.items()
            return {p: identity(run.outputs[r.step][r.output]) for p, r in refs}, []
        inputs, waiting = upstream_inputs(node, self.ws.locks, run.unknown, identity)
        graph = run.traced.graph
        more = file_upstreams(node, run.producers, run.unknown) if node.deps else []
        more += after_upstreams(node, run.unknown) if node.after else []
        if graph.learned:
            more += learned_upstreams(graph, node.name, run.unknown)
        if more:
            waiting = sorted({*waiting, *more})
        return inputs, waiting

    def input_values(self, run: RunState, node: StepNode) -> dict[str, str]:
        """The digests of the module values set at run time that an input's code may read
        (``StepFacts.input_identity``): as importing the modules set them and, in a run, as
        the steps before ``node`` that set values left them (an object whose method reads
        ``core.SCALE`` pickles to the same bytes whatever a step set it to)."""
        values = run.traced.values
        if self.executes and (before := run.set_before(node.key)):
            values = {**values, **before}
        elif not self.executes and (recorded := read_values(self.ws.locks.get(node.key))):
            values = {**values, **recorded}  # as recorded, as a status takes them
        return values

    def verdict(
        self,
        run: RunState,
        node: StepNode,
        reasons: list[Reason],
        fp: str | None,
        facts: Facts,
        undigestable: tuple[tuple[str, str], ...],
        file_notes: list[str],
    ) -> StepJob | None:
        """A dry run's decision: kept as a verdict; a dirty step leaves its outputs unknown."""
        graph, found = run.traced.graph, run.order_found
        run.verdicts.append(
            Verdict(
                node,
                tuple(reasons),
                fp,
                facts,
                tuple(self.ws.dynamic_notes(run.traced, node)),
                uncached=undigestable,
                file_notes=tuple(file_notes),
                order_notes=tuple(overlap_notes(graph, found, node.name)) if found else (),
            )
        )
        if not reasons:
            locked = self.ws.locks.get(node.key)
            run.outputs[node.name] = locked.outputs if locked is not None else {}
            return None
        run.unknown.add(node.key)
        return self.job(run, node)

    def job(self, run: RunState, node: StepNode) -> StepJob:
        """The job that runs ``node`` with the outputs its upstream steps have now (a producer
        recomputed on the way may have changed them: its facts follow)."""
        if self.executes and not run.traced.executable:
            bound = self.ws.bind(run.traced) if self.ws.bind is not None else None
            if bound is None:
                raise IncrError(
                    f"step {node.key} became dirty while incr was checking it",
                    hint="run `incr repro` again",
                )
            run.traced.steps.update(bound.steps)  # in place: the run's executor holds them
            run.traced.configs.update(bound.configs)
        artifacts = {p: run.outputs.get(r.step, {}).get(r.output) for p, r in node.inputs.items()}
        inputs = {p: (a.digest, a.kind) for p, a in artifacts.items() if a is not None}
        shared = [p for p, r in node.inputs.items() if run.consumers.shared((r.step, r.output))]
        code: tuple[str, ...] = ()
        tracked: tuple[str, ...] = ()
        if node.name in run.facts:
            facts, _ = run.facts[node.name]
            code = tuple(k for k in facts.code if ":" in k and not k.startswith(_NOT_PARTS))
            if code and run.part_users is None:  # counted once per run
                run.part_users = setters.part_users(run.traced, self.ws.facts)
            tracked = tuple(d for d in facts.deps if d not in node.deps)
            values = self.input_values(run, node)
            identity = {p: self.ws.input_identity(a, values) for p, a in artifacts.items() if a}
            if identity != facts.inputs:
                facts = replace(facts, inputs=identity)
                run.facts[node.name] = (facts, self.ws.lockbook.fingerprint_of(facts, None))
        function = run.traced.steps.get(node.name)
        func = getattr(function, "func", None)
        project = self.ws.project
        return StepJob(
            pipeline=node.pipeline,
            step=node.name,
            key=node.key,
            module=getattr(func, "__module__", "") or "",
            qualname=getattr(func, "__qualname__", node.func_name),
            config=run.traced.configs.get(node.name),
            inputs=inputs,
            outputs=node.outputs,
            deps=node.deps,
            outs=node.outs,
            root=str(project.root),
            cache=str(project.cache),
            track_reads=node.track_reads,
            exclude=own_paths(project),
            keep=tuple(o for o in node.outputs if run.consumers.needed((node.name, o))),
            code=code,
            used_elsewhere=tuple(p for p in code if (run.part_users or {}).get(p, 0) > 1),
            shared=tuple(shared),
            tracked=tracked,
            sets=tuple(set_parts(locked.reads)) if (locked := self.ws.locks.get(node.key)) else (),
            values=run.values_for(node.key, code),
            packages=self.ws.facts.imported.get(node.key, ()),
        )

    def run_cache_hit(
        self,
        node: StepNode,
        fp: str,
        expected: dict[str, str],
        set_before: dict[str, str] | None = None,
    ) -> RunRecord | None:
        """The newest run-cache record of ``fp`` that has not expired and whose reads still
        match the files as they are now (and hold the ``expected`` ones; ``set_before``: the
        values steps before it set, see ``LearnedFacts.read_changes``). None for a step seen
        writing a file outside ``outs`` that another step read (a put back writes no file: it
        executes); a record whose such file no step reads differs is skipped (``leafwrites``)."""
        written = self.ws.writes.steps.get(node.key)
        if written and any(
            path in entry.reads or path in entry.facts.deps  # (a reader in C's: a dep)
            for entry in self.ws.locks.values()
            if entry.key != node.key
            for path in written
        ):
            return None
        if self.remote is not None:  # fetched into the local run cache when the remote has it
            self.remote.fill(
                node.key, fp, lambda r: not self.ws.read_changes(r.reads, expected, set_before)
            )
        for hit in self.ws.store.lookup_runs(fp):
            if self.ws.read_changes(hit.reads, expected, set_before):
                continue
            if not self.ws.written.holds(node.key, hit.writes, (*hit.reads, *node.deps)):
                continue  # a report it writes holds another run's: it executes to write it
            expires = node.cache_expires
            if expires is not None and self.clock.wall() - hit.created > expires:
                continue
            return hit
        return None

    def restore(self, node: StepNode, outputs: dict[str, Artifact]) -> bool:
        """Put every file and folder output back as recorded; False when one cannot be (its
        objects are gone or damaged, or the record may predate modes and links) or when a
        value output is missing from the cache. Files found in a folder output that the
        record does not hold are moved aside, each with a warning."""
        ws, root = self.ws, self.ws.project.root
        for name, artifact in outputs.items():
            if artifact.kind not in ("file", "dir"):
                if not ws.store.has(artifact.digest):
                    return False
                continue
            if ondisk.state(ws.stats, name, artifact, ws.store) == "same":
                continue
            if ondisk.may_lack_metadata(ws.stats, ws.store, name, artifact):
                return False  # the step runs: what it makes is what counts
            try:
                if artifact.kind == "dir":
                    kept = ws.project.cache / "kept" / f"{self.clock.now():%Y%m%d-%H%M%S}"
                    moved = ws.store.restore_tree(artifact.digest, root / name, root, kept)
                    self.warn_moved(node, moved)
                else:
                    ws.store.restore_file(artifact.digest, root / name, root, artifact.mode)
            except ObjectMissing:
                return False  # not in this cache (a fresh clone): the step runs, no alarm
            except (ObjectCorrupt, UnsafePath) as exc:
                self.reporter.emit(Warning_(f"cannot restore {name}: {exc}"))
                return False
        return True

    def warn_moved(self, node: StepNode, moved: list[tuple[Path, Path]]) -> None:
        root = self.ws.project.root
        for source, target in moved:
            text = f"{shown(source, root)} is not an output of {node.key}"
            self.reporter.emit(Warning_(f"{text}: moved it to {shown(target, root)}"))

    def reuse(
        self, run: RunState, node: StepNode, outputs: dict[str, Artifact], restored: bool
    ) -> None:
        run.outputs[node.name] = outputs
        run.result.cached.append(node.name)
        if restored and node.outs:  # files put back are written as this run goes
            self.recorder.put_back(run, node)
        written = self.ws.writes.steps.get(node.key, ()) if restored else ()
        entry = self.ws.locks.get(node.key) if written else None
        if entry is not None and self.ws.written.known_to_hold(node.key, entry.fingerprint):
            written = ()  # they hold what that run left
        if note := restored_note(node.key, node.outs, written):
            self.reporter.emit(Note(note))
        pipeline = run.traced.graph.name
        pulled = self.remote is not None and self.remote.took(node.key)
        self.reporter.emit(StepCached(pipeline, node.name, restored, pulled))
        seconds = self.clock.perf() - run.started[node.name]
        self.reporter.emit(StepFinished(pipeline, node.name, seconds, False))


def shown(path: Path, root: Path) -> str:
    """``path`` from the project root when it is inside, else as it is."""
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return str(path)
