"""Why a step must run again to write anew the files it was seen writing without listing them
in ``outs``, which other steps read: one is gone or no longer holds what its run left
(``learned.written_changes``), or one that steps before it write too holds what one of those
left, or was changed by hand (``sharedwrites.left_since``)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path

from incr import appendbase, dag, keptlocks, leafwrites, orphans
from incr.learned import readers_of, written_changes
from incr.model import LockEntry, PipelineGraph, Reason, StepNode, TracedPipeline
from incr.project import Project
from incr.seenwrites import SeenWrites
from incr.sharedwrites import Across, across, left_since


class WrittenFiles:
    """The files steps were seen writing (``writes``), judged by the lock entries as they are
    when asked (``locks``) and the files' digests now (``digest``)."""

    def __init__(
        self,
        writes: SeenWrites,
        locks: Mapping[str, LockEntry],
        digest: Callable[[str], str],
        root: Path,
        recorded: Callable[[str], list[dict[str, str] | None]] = lambda fp: [],
        project: Project | None = None,
    ) -> None:
        self.writes = writes
        self.project = project  # (what defines the pipelines not found: ``find_orphans``)
        #: The files no ``outs`` lists as each run of a fingerprint left them (``leafwrites``).
        self.recorded = recorded
        self.locks = locks
        self.digest = digest
        self.root = root
        self._readers: dict[str, dict[str, str]] | None = None  # made once, when first asked
        self._writers: Counter[str] = Counter()
        #: The files steps of several pipelines write, when known (``across``).
        self.shared: Across | None = None
        #: Why the writers of files every writer appends to run again (``across``).
        self.unknown: dict[str, list[Reason]] = {}
        #: The files of steps gone from their pipeline that a run from scratch does not make,
        #: each with its step's key (``incr.orphans``; found by ``across``).
        self.orphans: dict[str, str] = {}
        self._users: dict[str, set[str]] | None = None  # see ``_shared``

    def changes(self, graph: PipelineGraph, node: StepNode) -> list[Reason]:
        """Why ``node`` of ``graph`` must run again to write its files anew, or to read its
        folder without the files of a step gone from the pipeline (``orphans``); empty when
        none."""
        gone = orphans.readers_reasons(self.orphans, self.locks.get(node.key))
        written = self.writes.steps.get(node.key)
        if not written:
            return gone + list(self.unknown.get(node.key, ()))
        if self._readers is None:
            self._readers = readers_of(self.writes.steps, self.locks)
            self._writers = Counter(p for paths in self.writes.steps.values() for p in paths)
        own = f"{graph.name}."  # the steps after it, and the readers of other pipelines
        later = {f"{own}{n}" for n in dag.descendants(graph, node.name)}
        later |= {r for p in written for r in self._readers.get(p, {}) if not r.startswith(own)}
        reads = {k: entry.reads for k in later if (entry := self.locks.get(k)) is not None}
        found = (self._readers, self.digest, reads, self._writers, self._left(node.key))
        changes = written_changes(node.key, written, *found)
        if any(self._writers[path] > 1 for path in written):  # other steps write it too
            steps = self.writes.steps
            on_disk = (self._left, self.digest)
            changes += left_since(graph, node.name, self.locks, steps, *on_disk, self.shared)
        if (locked := self.locks.get(node.key)) is not None:  # a report no other step reads
            runs, mine = self.recorded(locked.fingerprint), (*locked.reads, *locked.facts.deps)
            changes += leafwrites.changes(runs, self.digest, self._shared(node.key, runs, mine))
        return gone + changes + self.unknown.get(node.key, [])

    def modified_outs(
        self, entry: LockEntry | None, modified: list[str], runs: Sequence[TracedPipeline]
    ) -> list[str]:
        """Of ``modified`` (outs of ``entry``'s step whose bytes differ from its record), those
        that no step run after it (``runs``: the pipelines, in run order) was seen writing since:
        a file such a step writes too (appends to) and that holds what that step's last run
        left is judged as its writers' are (``changes``: ``shared file rewritten``, ``written
        file changed``)."""
        after = [n.key for t in runs for n in t.graph.steps] if entry and modified else []
        if entry is None or entry.key not in after:
            return modified
        later = after[after.index(entry.key) + 1 :]
        steps = self.writes.steps
        others = [k for k in later if set(steps.get(k, ())) & {*modified}]
        left = {p for k in others for p in self._left(k)}
        return [m for m in modified if m not in left]

    def holds(self, key: str, writes: dict[str, str] | None, own: Iterable[str] = ()) -> bool:
        """Whether the files a run of step ``key`` wrote that no other step reads or writes
        hold what it left (``writes``: its record's, None when not known; ``own``: the files
        the run read and the step's ``deps``, whose changes count as reads)."""
        return leafwrites.holds(writes, self.digest, self._shared(key, [writes], own))

    def known_to_hold(self, key: str, fp: str) -> bool:
        """Whether a run of fingerprint ``fp`` of step ``key`` is known to have left those
        files as they are (put back from the cache, it needs no note that they were not)."""
        entry = self.locks.get(key)
        own = (*entry.reads, *entry.facts.deps) if entry is not None else ()
        return any(w is not None and self.holds(key, w, own) for w in self.recorded(fp))

    def _shared(
        self, key: str, runs: Iterable[Mapping[str, str] | None], own: Iterable[str] = ()
    ) -> set[str]:
        """The files of ``runs`` that another step writes, reads, lists in its ``outs`` or
        ``deps`` (or holds in a folder it lists), and those of ``own`` (the step's reads and
        ``deps``): ``written_changes``, ``left_since``, the outputs check and the reads'
        check judge those."""
        paths = {p for writes in runs if writes for p in writes}
        if not paths:
            return set()
        if self._users is None:  # once: each file with the steps that write or read it
            self._users = {}
            for k, ps in self.writes.steps.items():
                for p in ps:
                    self._users.setdefault(p, set()).add(k)
            for k, entry in self.locks.items():
                for p in (*entry.reads, *entry.outputs, *entry.facts.deps):
                    self._users.setdefault(p, set()).add(k)
        users, mine = self._users, set(own)
        return {
            p
            for p in paths
            if any(users.get(f, set()) - {key} or f in mine for f in _and_folders(p))
        }

    def _left(self, key: str) -> set[str]:
        """The files step ``key`` wrote that hold what the run its lock entry records left."""
        fp = locked.fingerprint if (locked := self.locks.get(key)) else ""
        return self.writes.as_left(key, fp, self.root)

    def across(self, graphs: Sequence[PipelineGraph]) -> Across:
        """What ``sharedwrites.across`` finds of the files the steps of ``graphs`` (in run
        order) write, by what each step was seen writing and appending to; kept for
        ``changes``, with the files every writer appends to (``appendbase.chains``)."""
        found = (self.writes.steps, self.writes.appends, self.writes.guessed)
        self.shared = across(graphs, self.locks, *found)
        before = self.writes.before
        self.writes.chains = appendbase.chains(graphs, *found, before, self.locks)
        self.unknown = appendbase.unknown(self.writes.chains, before)
        self.find_orphans(graphs)
        return self.shared

    def find_orphans(self, graphs: Sequence[PipelineGraph]) -> dict[str, str]:
        """The files of the steps gone from ``graphs`` (or with their pipeline, which no module
        defines any more: ``keptlocks.dead_keys``) that a run from scratch does not make, each
        with its step's key (``incr.orphans``); kept for ``changes``."""
        gone = orphans.gone_steps(graphs, self.locks)
        if self.project is not None:
            gone += keptlocks.dead_keys(self.project, self.locks, [g.name for g in graphs])
        left = {key: self._left(key) for key in gone if key in self.writes.steps}
        self.orphans = orphans.files(gone, left, self.writes, self.locks, self.digest)
        return self.orphans


def _and_folders(path: str) -> list[str]:
    """``path`` and the folders above it (``out/a/b.txt``: ``out/a``, ``out``)."""
    parts = path.split("/")
    return ["/".join(parts[:i]) for i in range(len(parts), 0, -1)]
