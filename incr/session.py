"""A workspace: one project's lockfile, cache, stat cache and code index, opened together.

``Workspace`` opens one small object per job (``LockBook``, ``CodeSources``, ``StepFacts``,
``LearnedFacts``, ``OutputCheck``, ``KeptSources``, ``PackageVersions``) and keeps the methods
the rest of incr calls, delegating to them; the status walk stays here.

This is the seam between the pure core and the disk: it reads sources and files, asks
``fingerprint`` and ``plan`` for decisions, and hands execution to ``runner``.
"""

from __future__ import annotations

import functools
import os
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING

from incr import dag, entrypoints, gate, hooks, knownreads, statuswalk
from incr.errors import IncrError
from incr.facts import StepFacts, learned_notes
from incr.fingerprint import CodeClosure
from incr.graph import with_learned
from incr.hashing import StatCache
from incr.keptlocks import kept_pipelines
from incr.learned import LearnedFacts
from incr.learned import exists_value as exists_value  # imported from here by tests
from incr.learned import listing_value as listing_value
from incr.lockbook import LockBook
from incr.model import (
    Artifact,
    Facts,
    LockEntry,
    PipelineGraph,
    Reason,
    StepCode,
    StepNode,
    TracedPipeline,
    set_parts,
)
from incr.outputs import OutputCheck
from incr.overlaps import Overlap
from incr.packages import PackageVersions
from incr.plan import Verdict, upstream_inputs
from incr.project import Project
from incr.seenwrites import SeenWrites
from incr.sharedwrites import earlier_writers
from incr.sources import CodeSources
from incr.store import Store
from incr.writtenfiles import WrittenFiles

if TYPE_CHECKING:
    from incr.codeast import ModuleSource
    from incr.codeindex import CodeIndex
    from incr.deferred import Deferred
    from incr.importreads import ImportFacts
    from incr.keptsources import KeptSources
    from incr.setters import LaterUsers


class Workspace:
    """Everything incr knows about one project on disk, loaded once per command."""

    def __init__(self, project: Project) -> None:
        self.project = project
        self.store = Store(project.cache)
        self.stats = StatCache(project.root, project.cache / "stat.json")
        self.lockbook = LockBook(project, self.stats)
        self.lockbook.before_write = self.store.sync  # objects a run stored unsynced
        self.locks: dict[str, LockEntry] = self.lockbook.entries
        self.packages = PackageVersions(project.cache / "packages.json", project.root)
        entrypoints.remember_in(project.cache / "entrypoints.json", project.root)
        self.sources = CodeSources(project, self.stats)
        self.closures = self.sources.closures
        self.facts = StepFacts(project, self.stats, self.sources, self.packages)
        self.learned = LearnedFacts(project, self.stats, dict(os.environ))
        self.learned.code_of = self.facts.ref_code  # what an unpickled class runs now
        self.learned.module_code = self.facts.local.code_at
        self.learned.covered = self.facts.ref_covered
        self.learned.parts_of = self.facts.ref_parts
        self.learned.locks = self.locks  # the outputs a step read through Repository()
        self.environ = self.learned.environ  # as the steps see it (``LearnedFacts.environ``)
        self.outputs = OutputCheck(self.stats, self.store)
        self._kept: KeptSources | None = None
        #: What discovery was seen to depend on (``LockEntry.reads`` keys), with the values
        #: it saw (``graphcache.valued``): as it ran, or as the graph cache says it did.
        self.discovered: dict[str, str] = {}
        self.deferred: Deferred | None = None  # modules left out of discovery (incr.deferred)
        self.bind: Callable[[TracedPipeline], TracedPipeline | None] | None = None  # bind_some
        #: The verdicts of a ``repro`` whose status pass found every step clean, by the key
        #: of their node: its run reuses them rather than deciding each step again.
        self.clean: dict[str, Verdict] = {}
        #: The steps that pass found clean (or only waiting on a dirty one) when some were
        #: not, by key, with the code it judged them by: see ``Preparer.known_clean``.
        #: ``changed`` is set by the first step of the run that changes the disk.
        self.clean_before: dict[str, tuple[Verdict, StepCode]] = {}
        self.changed = False
        #: The files each step was seen to write (they order the steps that read them).
        self.writes = SeenWrites(project.cache / "writes.json")
        found = (self.stats.digest, project.root, self.store.recorded_writes, project)
        self.written = WrittenFiles(self.writes, self.locks, *found)
        self.outputs.rewritten = lambda e, m: self.written.modified_outs(e, m, self.pipelines)
        self._later: dict[str, LaterUsers] = {}  # see ``judged_reads``
        self.pipelines: list[TracedPipeline] = []  # those the command judges or runs
        # skops loads the types [tool.incr] trusted_types names and the project's own
        hooks.skops_trust = (tuple(project.trusted_types), self.sources.is_project_module)

    @property
    def imports(self) -> ImportFacts:
        """What the project modules read while imported (see ``LearnedFacts.imports``)."""
        return self.learned.imports

    @imports.setter
    def imports(self, facts: ImportFacts) -> None:
        self.learned.imports = facts

    @property
    def kept(self) -> KeptSources:
        """Module texts kept for diffs (see ``KeptSources``), opened when first asked: a
        ``status`` that explains nothing reads none of them."""
        if self._kept is None:
            from incr.keptsources import KeptSources

            self._kept = KeptSources(self.project, self.store, self.sources)
        return self._kept

    @property
    def code(self) -> CodeIndex:
        """The code index (see ``CodeSources.code``)."""
        return self.sources.code

    def _load_source(self, name: str) -> ModuleSource | None:
        return self.sources.load_source(name)

    def closure(self, module: str, qualname: str) -> CodeClosure:
        """The code closure of a module-level definition (see ``CodeSources.closure``)."""
        return self.sources.closure(module, qualname)

    def object_refs(
        self, kind: str, parts: Sequence[bytes | memoryview], names: Iterable[tuple[str, str]] = ()
    ) -> tuple[str, ...]:
        """The project definitions a value stored as ``parts`` refers to (and, of ``names``,
        the ones that are project definitions: its materializer, the classes it names)."""
        return self.sources.object_refs(kind, parts, names)

    def input_identity(self, artifact: Artifact, values: Mapping[str, str] | None = None) -> str:
        """What a consumer's facts hold for an upstream output, given the module values set
        at run time (see ``StepFacts``)."""
        return self.facts.input_identity(artifact, values)

    def code_facts(self, traced: TracedPipeline, node: StepNode) -> dict[str, str]:
        """Code parts of a step (see ``StepFacts.code_facts``)."""
        return self.facts.code_facts(traced, node)

    def uncached(self, traced: TracedPipeline, node: StepNode) -> list[tuple[str, str]]:
        """(name, type) of each value the step captures that incr cannot digest."""
        return self.facts.uncached(traced, node)

    def dynamic_notes(self, traced: TracedPipeline, node: StepNode) -> list[str]:
        """What incr cannot follow in the step's code (see ``StepFacts.notes``)."""
        return self.facts.notes(traced, node)

    def native_reads(self, traced: TracedPipeline, node: StepNode) -> tuple[list[str], list[str]]:
        """Files the step opens through readers written in C (see ``StepFacts``)."""
        return self.facts.native_reads(traced, node)

    def static_facts(
        self,
        traced: TracedPipeline,
        node: StepNode,
        inputs: dict[str, str],
        native: tuple[list[str], list[str]] | None = None,
    ) -> Facts:
        """A step's facts with the given input digests (see ``StepFacts.static_facts``)."""
        return self.facts.static_facts(traced, node, inputs, native)

    def output_problems(self, entry: LockEntry | None) -> tuple[list[str], list[str]]:
        """Recorded outputs that are (missing, modified) (see ``OutputCheck.problems``)."""
        return self.outputs.problems(entry)

    def read_changes(
        self,
        reads: dict[str, str],
        expected: Iterable[str] = (),
        values: Mapping[str, str] | None = None,
    ) -> list[Reason]:
        """Why what a step was seen to depend on differs now (see ``LearnedFacts``)."""
        return self.learned.read_changes(reads, expected, values)

    def judged_reads(
        self, traced: TracedPipeline, graph: PipelineGraph, node: StepNode, reads: dict[str, str]
    ) -> dict[str, str]:
        """``reads`` (a lock entry's) as ``node`` is judged by them: without the ``sets:``
        keys of the values no step after it uses (``incr.setters``), nor the files every
        writer appends to that it is a writer of (``appendbase.chains``): what it read there
        is what the writers before it left, judged by their own facts."""
        if reads and (chains := self.writes.chains):
            reads = {k: v for k, v in reads.items() if node.key not in chains.get(k, ())}
        parts = set_parts(reads) if reads else None
        if not parts:
            return reads
        from incr import setters  # here: most steps set no module value

        if (users := self._later.get(graph.name)) is None:
            others = [t for t in self.pipelines if t.graph.name != graph.name]
            users = setters.later_users(graph, traced, others, self.facts, self.locks)
            self._later[graph.name] = users
        return setters.without_idle(reads, users.idle(node.name, parts))

    def written_changes(self, graph: PipelineGraph, node: StepNode) -> list[Reason]:
        """Why a step must run again to write its files anew (see ``WrittenFiles``)."""
        return self.written.changes(graph, node)

    def expected_reads(self, node: StepNode, code: dict[str, str]) -> dict[str, str]:
        """Learned facts a step has before it runs (see ``LearnedFacts.expected_reads``)."""
        return self.learned.expected_reads(node, code)

    def reads_to_record(
        self,
        node: StepNode,
        code: dict[str, str],
        seen: dict[str, str],
        values: Mapping[str, str] | None = None,
    ) -> dict[str, str]:
        """The ``LockEntry.reads`` of a step that ran (see ``LearnedFacts.reads_to_record``)."""
        return self.learned.reads_to_record(node, code, seen, values)

    def learned_value(self, key: str) -> str:
        """The value a ``LockEntry.reads`` key has now."""
        return self.learned.value(key)

    def expired(self, node: StepNode, entry: LockEntry | None, now: float) -> bool:
        """True when the step's cached result is older than its ``cache_expires``."""
        return self.outputs.expired(node, entry, now)

    # ------------------------------------------------------------------ status

    def status(
        self,
        pipelines: list[TracedPipeline],
        targets: Iterable[str] = (),
        run_override: bool | None = None,
        force: bool = False,
        lock_view: bool = False,
        save: bool = True,
    ) -> list[Verdict]:
        """What a ``repro`` of ``targets`` would do, step by step, without running anything.

        ``force`` marks the targeted steps (every step, without targets) as forced.
        ``lock_view`` judges every step against ``pipeline.lock`` (``incr status --check``): a
        step dirty only because this machine lacks its results (``gate.MACHINE_KINDS``) hands
        on the outputs its lock entry records, so the steps after it are judged on their own
        facts, still shown as waiting on it. ``save=False`` leaves the caches this pass filled
        for the caller to save (a ``repro`` saves them once its run is done: at 10,000 steps,
        an edit rewrites 3 MB of closures and code memo).
        """
        self.pipelines, self._later = list(pipelines), {}
        nodes = [n for t in pipelines for n in t.graph.steps] if lock_view else []
        absent = gate.absent_outs(self.locks, nodes, self.stats.digest)  # outs not on disk
        self.facts.declared_outs = {o for t in pipelines for n in t.graph.steps for o in n.outs}
        writes = self.step_writes(pipelines)  # by step key: the walk finds each file's writers
        known = knownreads.known_reads(self, pipelines, writes)  # read as modules are imported
        ordered = knownreads.run_order(self, pipelines, writes, known)
        shared = self.written.across([t.graph for t in ordered])  # files several write
        gathered = [
            self.pipeline_facts(traced, wanted, absent)
            for traced, wanted in dag.select(ordered, targets)
        ]
        verdicts = statuswalk.walk(
            gathered,
            force=force,
            lock_view=lock_view,
            run_override=run_override,
            writes=writes,
            shared=shared,
            known=known,
        )
        if save:
            self.save_stats()
        return verdicts

    def run_order(self, pipelines: list[TracedPipeline]) -> list[TracedPipeline]:
        """``pipelines`` in the order ``incr repro`` runs them (``knownreads.run_order``)."""
        return knownreads.run_order(self, pipelines)

    def step_writes(self, pipelines: list[TracedPipeline]) -> dict[str, list[str]]:
        """The files and folders each step (by key) writes: seen writing, or in its ``outs``."""
        found = {key: list(paths) for key, paths in self.writes.steps.items()}
        for node in (n for t in pipelines for n in t.graph.steps if n.outs):
            known = found.setdefault(node.key, [])
            known += [out for out in node.outs if out not in known]
        return found

    def learned_graph(self, traced: TracedPipeline) -> tuple[PipelineGraph, list[Overlap]]:
        """``traced``'s graph with the edges its steps' reads and writes order (what the lock
        entries record, what the steps were seen to write, what their readers written in C
        open at known paths, what their modules read as they were imported): see
        ``graph.with_learned``."""
        native = knownreads.step_reads(self, traced)  # and what its modules read at import
        return with_learned(traced.graph, self.locks, self.writes.steps, native)

    def pipeline_facts(
        self, traced: TracedPipeline, wanted: set[str] | None, absent: dict[str, str]
    ) -> statuswalk.PipelineFacts:
        """What the status walk needs of one pipeline (``wanted``: the targeted steps, None
        for all), gathered from the disk in run order; ``absent`` holds the outs missing from
        disk that ``incr status --check`` takes as recorded (see ``gate.as_recorded``)."""
        graph, overlaps = self.learned_graph(traced)
        self.facts.values.update(traced.values)  # what unpickled code reads (``ref_code``)
        self.learned.for_instance(traced.env)  # the variables as its .run() saw them
        judged = statuswalk.judged_steps(graph, wanted)
        now = time.time()
        observed = {node.name: self.observe(traced, node, absent, now, graph) for node in judged}
        rewrites = earlier_writers(graph, self.locks, self.writes.steps)
        return statuswalk.PipelineFacts(graph, judged, wanted, observed, overlaps, rewrites)

    def observe(
        self,
        traced: TracedPipeline,
        node: StepNode,
        absent: dict[str, str],
        now: float,
        graph: PipelineGraph,
    ) -> statuswalk.Observed:
        """What is known of one step before the status walk (see ``statuswalk.Observed``).
        Asked of every step a status judges: it calls the parts, not this class's methods."""
        facts_of, learned_of = self.facts, self.learned
        locked = self.locks.get(node.key)
        identity = functools.partial(facts_of.recorded_identity, traced.values, locked)
        inputs, _ = upstream_inputs(node, self.locks, set(), identity)
        native = facts_of.native_reads(traced, node)
        facts = facts_of.static_facts(traced, node, inputs, native)
        learned = locked.reads if locked else {}
        if absent:
            facts, learned = gate.as_recorded(facts, locked, absent)
        missing, modified = self.outputs.problems(locked, listed=True)
        reads: tuple[Reason, ...] = ()
        if locked:
            expected = learned_of.expected_reads(node, facts.code)
            changes = learned_of.read_changes(
                self.judged_reads(traced, graph, node, learned), expected
            )
            reads = (*changes, *self.written_changes(graph, node))  # with the learned pairs
        return statuswalk.Observed(
            facts,
            locked,
            checked=self.lockbook.checked(locked),
            missing=tuple(missing),
            modified=tuple(modified),
            reads=reads,
            expired=self.outputs.expired(node, locked, now),
            uncached=tuple(traced.code[node.name].uncached()),
            notes=tuple(facts_of.notes(traced, node, locked)),
            file_notes=(*native[1], *learned_notes(node, locked, graph)),
        )

    # ------------------------------------------------------------------ sources kept for diffs

    def keep_sources(self, code: dict[str, str]) -> None:
        """Keep the normalised source of each code part (see ``KeptSources.keep``)."""
        self.kept.keep(code)

    def part_source(self, part: str) -> str | None:
        """The normalised source of a code part (``pipelines/flow.py:double``) as it is now."""
        return self.sources.part_source(part)

    def kept_source(self, digest: str) -> str | None:
        """The kept source of a code part, or None when it is not kept."""
        return self.kept.kept(digest)

    def code_diffs(self, verdict: Verdict) -> list[tuple[str, str | None, str | None]]:
        """(part, source then, source now) for each code part that changed since the lockfile's
        run (see ``KeptSources.diffs``)."""
        return self.kept.diffs(self.locks.get(verdict.node.key), verdict)

    def commit(self, verdict: Verdict) -> LockEntry:
        """Record the step's current fingerprint for the outputs it has, without running it.

        Raises IncrError when it never ran, waits on a dirty upstream step, or its outputs are
        missing or modified.
        """
        node, locked = verdict.node, self.locks.get(verdict.node.key)
        if locked is None:
            raise IncrError(
                f"{node.key} has never run: there is nothing to commit",
                hint=f"run `incr repro {node.key}`",
            )
        if verdict.fingerprint is None or verdict.facts is None:
            waits = ", ".join(r.detail for r in verdict.reasons if r.kind == Reason.UPSTREAM)
            names = [n.strip() for n in waits.split(",") if n.strip()]
            keys = [n if "." in n else f"{node.pipeline}.{n}" for n in names]
            lacking = [
                k for k in keys if k in self.locks and any(self.output_problems(self.locks[k]))
            ]
            if lacking:  # their results are not here: a fresh clone
                raise IncrError(
                    f"{node.key} waits on {waits}, whose results are not on this machine (a "
                    f"fresh clone?): its inputs are not known",
                    hint="run `incr pull` (a shared remote) or `incr repro` to have them, "
                    "then commit",
                )
            raise IncrError(
                f"{node.key} waits on {waits}: its inputs are not known yet",
                hint=f"run `incr repro {waits}` first (or commit it, if only its code changed)",
            )
        missing, modified = self.output_problems(locked)
        if missing or modified:
            raise IncrError(
                f"{node.key}: outputs missing or modified ({', '.join(missing + modified)})",
                hint=f"run `incr repro {node.key}` to recompute them",
            )
        entry = replace(locked, fingerprint=verdict.fingerprint, facts=verdict.facts)
        self.locks[node.key] = entry
        self.store.record_run(entry.fingerprint, entry.outputs, entry.reads, time.time(), node.key)
        self.keep_sources(entry.facts.code)
        self.write_lock()
        self.save_stats()
        return entry

    def save_stats(self) -> None:
        """Persist the stat cache and the code memo (creating the cache folder with its
        .gitignore). Both only save work: a failed write costs a re-read next time."""
        try:
            if self.stats.dirty:
                self.store.ensure()
                self.stats.save()
            if self.packages.changed:
                self.store.ensure()
                self.packages.save()
            self.sources.save(self.store.ensure)
            if self._kept is not None:
                self._kept.save()
        except OSError:
            pass

    def prune(self, pipelines: Iterable[str]) -> list[str]:
        """Drop lock entries of pipelines that no longer exist (after a full, successful run);
        their keys. Entries of a pipeline that a module under the pipelines folder still
        defines stay (run from a script; see ``incr.keptlocks``)."""
        live = list(pipelines)
        return self.lockbook.prune([*live, *kept_pipelines(self.project, self.locks, live)])

    def write_lock(self, soon: bool = False) -> None:
        """Write the lockfile (see ``LockBook.write``)."""
        self.lockbook.write(soon)

    def flush_lock(self) -> None:
        """Write the lockfile if an entry is waiting for it."""
        self.lockbook.flush()
