"""Why a step must run again to write anew the files it was seen writing without listing them
in ``outs``, which other steps read: one is gone or no longer holds what its run left
(``learned.written_changes``), or one that steps before it write too holds what one of those
left, or was changed by hand (``sharedwrites.left_since``)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from incr import appendbase, dag
from incr.learned import readers_of, written_changes
from incr.model import LockEntry, PipelineGraph, Reason, StepNode
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
    ) -> None:
        self.writes = writes
        self.locks = locks
        self.digest = digest
        self.root = root
        self._readers: dict[str, dict[str, str]] | None = None  # made once, when first asked
        self._writers: Counter[str] = Counter()
        #: The files steps of several pipelines write, when known (``across``).
        self.shared: Across | None = None
        #: Why the writers of files every writer appends to run again (``across``).
        self.unknown: dict[str, list[Reason]] = {}

    def changes(self, graph: PipelineGraph, node: StepNode) -> list[Reason]:
        """Why ``node`` of ``graph`` must run again to write its files anew; empty when none."""
        written = self.writes.steps.get(node.key)
        if not written:
            return list(self.unknown.get(node.key, ()))
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
        return changes + self.unknown.get(node.key, [])

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
        return self.shared
