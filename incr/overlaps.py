"""Steps ordered by the files they are seen to write and read.

A step may read a file that another step of its pipeline writes without either saying so (no
``deps``/``outs`` wiring). A serial run in body order may get it right by luck; ``--jobs N``
may run the reader first and keep what it read. incr learns such pairs from runs:

- what a step read is in its lock entry (``reads``, plain file keys), beside its ``deps``;
- what a step wrote is its ``outs`` and the files the read recorder saw it open for writing,
  kept in ``.pipecache/writes.json`` (``incr.seenwrites.SeenWrites``).

Each pair gives an edge writer -> reader in the scheduling graph of every later run, serial or
parallel, and of ``status`` (the reader waits on a dirty writer), unless it would close a cycle
(the writer depends on the reader). A file that a step reads and several steps write holds
what the last writer wrote: the writers run in body order (an edge between each two), and when
one executes, the writers after it in that order execute too, so that the file ends as a run
from scratch leaves it; so too for a file a step of another pipeline reads (see
``incr.sharedwrites``). Within a run, ``RunOverlaps`` finds a reader that began before a
writer of a file it read had finished (side by side, or before it in the order): the runner
forgets that reader's result and runs it again after the writer.

Written files are not kept in ``pipeline.lock``: they are no part of a fingerprint and make no
step dirty, only order steps, and scratch files would churn a committed file. Nor in the run
cache, which ``status`` would have to read once per step. When ``writes.json`` is lost (a fresh
clone, a deleted ``.pipecache``), the next run that executes both steps learns the pair again
and reruns the reader if it read too early.

A module value a step sets as it runs (``config.N_CLASSES = 3`` in its body: a ``sets:`` key
of its lock entry) orders it the same way before each step whose code uses the value.

Everything here is pure; the file is read and written by ``incr.seenwrites``.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import field, replace

from incr.model import (
    VALUE_PREFIX,
    LockEntry,
    PipelineGraph,
    StepNode,
    learned_kind,
    paths_overlap,
    set_parts,
)
from incr.plan import output_makers
from incr.sharedwrites import read_outside
from incr.valueclass import valueclass

#: The value a stale reader's lock entry gets for a file written after it was read: never a
#: digest, so the step stays dirty (``read changed``) until it runs again.
WRITTEN_AFTER_READ = "written after it was read"


@valueclass(frozen=True)
class Overlap:
    """Step ``reader`` reads ``path``, which step ``writer`` writes (``declared``: as an out;
    ``early``: within a run, the reader began before the writer had finished)."""

    writer: str
    reader: str
    path: str
    declared: bool = False
    early: bool = False


def file_reads(reads: Mapping[str, str]) -> list[str]:
    """The plain file keys of a ``LockEntry.reads`` (environment, imports, listings and
    existence tests left out)."""
    return [key for key in reads if learned_kind(key) == "file"]


def find(
    graph: PipelineGraph,
    reads: Mapping[str, Iterable[str]],
    writes: Mapping[str, Iterable[str]],
) -> list[Overlap]:
    """Every file a step of ``graph`` reads (``reads`` by step name, or its ``deps``) that
    another writes (its ``outs``, or ``writes`` by step name), except what outs -> deps wiring
    already orders; sorted by reader, then writer, in body order."""
    index = {node.name: i for i, node in enumerate(graph.steps)}
    outs = {out.rstrip("/"): node.name for node in graph.steps for out in node.outs}
    written: dict[str, list[str]] = {}
    for name, paths in writes.items():
        for path in paths if name in index else ():
            written.setdefault(path, []).append(name)
    found: set[Overlap] = set()
    for reader, paths in reads.items():
        for path in paths if reader in index else ():
            for folder in _self_and_parents(path) if outs else ():
                if folder in outs:
                    found.add(Overlap(outs[folder], reader, path, declared=True))
            found.update(Overlap(writer, reader, path) for writer in written.get(path, ()))
    deps: dict[str, list[str]] = {}
    for node in graph.steps:
        for dep in node.deps:
            deps.setdefault(dep.rstrip("/"), []).append(node.name)
    for path, writers in written.items() if deps else ():
        for folder in _self_and_parents(path):
            for reader in deps.get(folder, ()):
                found.update(Overlap(writer, reader, path) for writer in writers)
    mine = [o for o in found if o.writer != o.reader]
    return sorted(mine, key=lambda o: (index[o.reader], index[o.writer], o.path))


def _self_and_parents(path: str) -> list[str]:
    """``a/b/c``, ``a/b``, ``a``."""
    parts = path.rstrip("/").split("/")
    return ["/".join(parts[:i]) for i in range(len(parts), 0, -1)]


def learned_graph(
    graph: PipelineGraph,
    locks: Mapping[str, LockEntry],
    writes: Mapping[str, Sequence[str]],
    native: Callable[[StepNode], Sequence[str]] | None = None,
) -> tuple[PipelineGraph, list[Overlap]]:
    """``graph`` with the edges learned from its lock entries' reads and the files its steps
    were seen to write (``writes`` by step key), and the overlaps its own edges do not order.
    ``native`` gives the files a step's code opens through readers written in C
    (``pl.read_parquet("work/feat.parquet")``, see ``incr.creaders``), known before it runs:
    they order it after the step whose outs hold them, on its first run too. A module value
    a step set as it ran orders it before the steps whose code uses that value
    (``value_edges``), as a file it writes would.

    An overlap whose edge would close a cycle is left out of the graph (but not of the list).
    """
    learned, found = _file_edges(graph, locks, writes, native)
    valued = value_edges(graph, locks)
    if not valued:
        return learned, found
    down, added = _down(learned.edges()), []
    for pair in valued:
        if pair[1] not in down.get(pair[0], ()) and not _reaches(down, pair[1], pair[0]):
            down.setdefault(pair[0], set()).add(pair[1])
            added.append(pair)
    return (replace(learned, learned=(*learned.learned, *added)) if added else learned), found


def value_edges(graph: PipelineGraph, locks: Mapping[str, LockEntry]) -> list[tuple[str, str]]:
    """A pair for each module value a step's lock entry says it set as it ran (``sets:``
    keys) and each other step whose lock entry's code uses it (or code it unpickled read it:
    ``value:`` keys among its reads), in body order: (setter, user)
    when the setter comes first, else (user, setter), so that the user sees the value it sees
    when the pipeline runs as Python runs it, in any run (``--jobs`` too)."""
    setters: dict[str, list[str]] = {}
    for node in graph.steps:
        entry = locks.get(node.key)
        for part in set_parts(entry.reads) if entry is not None and entry.reads else ():
            setters.setdefault(part, []).append(node.name)
    if not setters:
        return []  # most pipelines, quickly
    index = {node.name: i for i, node in enumerate(graph.steps)}
    pairs = []
    for node in graph.steps:
        entry = locks.get(node.key)
        used = set(entry.facts.code) if entry is not None else set()
        if entry is not None and entry.reads:  # read by code it unpickled (``value:`` keys)
            used.update(k[len(VALUE_PREFIX) :] for k in entry.reads if k.startswith(VALUE_PREFIX))
        for part in sorted(used & setters.keys()):
            for setter in setters[part]:
                if setter != node.name:
                    first = index[setter] < index[node.name]
                    pairs.append((setter, node.name) if first else (node.name, setter))
    return pairs


def _file_edges(
    graph: PipelineGraph,
    locks: Mapping[str, LockEntry],
    writes: Mapping[str, Sequence[str]],
    native: Callable[[StepNode], Sequence[str]] | None,
) -> tuple[PipelineGraph, list[Overlap]]:
    seen = {n.name: writes[n.key] for n in graph.steps if n.key in writes} if writes else {}
    if not seen and not any(node.outs for node in graph.steps):
        return graph, []  # nothing is written: nothing to order (most pipelines, quickly)
    reads = {}
    for node in graph.steps:
        entry = locks.get(node.key)
        paths = file_reads(entry.reads) if entry is not None and entry.reads else []
        paths += native(node) if native is not None else ()
        if paths:
            reads[node.name] = paths
    found = find(graph, reads, seen)
    outside = read_outside(graph, locks, writes)  # read by a step of another pipeline
    if not found and not outside:
        return graph, []
    shared = _shared(found)
    learned_shared: list[tuple[str, str]] = []
    down = _down(graph.edges())
    found = [o for o in found if not _reaches(down, o.writer, o.reader)]
    found += [o for o in shared if o not in found]  # for their notes (see ``notes``)
    index = {node.name: i for i, node in enumerate(graph.steps)}
    for writers in [*_writers_of(shared).values(), *outside.values()]:
        in_order = sorted(writers, key=index.__getitem__)
        for first, then in itertools.pairwise(in_order):
            if then not in down.get(first, ()) and not _reaches(down, then, first):
                down.setdefault(first, set()).add(then)
                learned_shared.append((first, then))
    learned: list[tuple[str, str]] = learned_shared
    for o in forward_first(graph, found):
        pair = (o.writer, o.reader)
        if pair not in learned and not _reaches(down, o.reader, o.writer):
            down.setdefault(o.writer, set()).add(o.reader)
            learned.append(pair)
    if not learned:
        return graph, found
    return replace(graph, learned=(*graph.learned, *learned)), found


def _shared(found: Sequence[Overlap]) -> list[Overlap]:
    """The overlaps of a file a step reads that two steps or more write."""
    writers: dict[tuple[str, str], set[str]] = {}
    for o in found:
        writers.setdefault((o.reader, o.path), set()).add(o.writer)
    return [o for o in found if len(writers[(o.reader, o.path)]) > 1]


def _writers_of(found: Iterable[Overlap]) -> dict[str, set[str]]:
    """The steps writing each path of ``found``."""
    writers: dict[str, set[str]] = {}
    for o in found:
        writers.setdefault(o.path, set()).add(o.writer)
    return writers


def forward_first(graph: PipelineGraph, found: Iterable[Overlap]) -> list[Overlap]:
    """``found`` with the overlaps whose writer comes first in the pipeline's body before the
    others, each group in body order of reader, then writer: when two steps each read what
    the other writes, body order decides which runs first."""
    found = list(found)
    if not found:
        return []  # the common case, after every step of a run: no index of the whole body
    index = {node.name: i for i, node in enumerate(graph.steps)}
    return sorted(
        found,
        key=lambda o: (index[o.writer] > index[o.reader], index[o.reader], index[o.writer]),
    )


def learned_upstreams(graph: PipelineGraph, step: str, dirty: set[str]) -> list[str]:
    """The dirty steps (by name) that ``step`` waits on through learned edges; ``dirty``
    holds step keys."""
    pipeline = graph.name
    return sorted(w for w, r in graph.learned if r == step and f"{pipeline}.{w}" in dirty)


def notes(graph: PipelineGraph, found: Sequence[Overlap], step: str) -> list[str]:
    """``status`` notes for the overlaps where ``step`` is the reader."""
    lines = []
    mine = [o for o in found if o.reader == step]
    writers: dict[str, list[str]] = {}
    for o in mine:
        if o.writer not in writers.setdefault(o.path, []):  # an out it was seen writing too
            writers[o.path].append(o.writer)
    index = {node.name: i for i, node in enumerate(graph.steps)}
    for read, names in writers.items():
        if len(names) > 1:
            names = sorted(names, key=index.__getitem__)
            both = ", ".join(names[:-1]) + f" and {names[-1]}"
            verb = "both write" if len(names) == 2 else "all write"
            lines.append(
                f"reads {read}, which steps {both} {verb}: they run in that order, and when "
                "one executes, the ones after it execute too, and the ones before it when it "
                "appends to the file (it holds what a run from scratch leaves); let one step "
                "write it, or give each its own file"
            )
    for o in mine:
        if len(writers[o.path]) > 1:
            continue
        path = f'"{o.path}"'
        if (o.writer, o.reader) not in graph.learned:
            lines.append(
                f"reads {o.path}, which step {o.writer} writes, but {o.writer} runs after it "
                f"(through its inputs, or another file): it sees the file as it was before"
            )
        elif o.declared:
            lines.append(
                f"reads {o.path}, which step {o.writer} writes (outs); it runs after "
                f"{o.writer}: say so with deps=[{path}] here"
            )
        else:
            lines.append(
                f"reads {o.path}, which step {o.writer} writes; it runs after {o.writer}: "
                f"say so with outs=[{path}] on {o.writer} and deps=[{path}] here"
            )
    return lines


def _down(edges: Iterable[tuple[str, str]]) -> dict[str, set[str]]:
    down: dict[str, set[str]] = {}
    for a, b in edges:
        down.setdefault(a, set()).add(b)
    return down


def _reaches(down: Mapping[str, set[str]], start: str, goal: str) -> bool:
    """True when ``goal`` is ``start`` or below it."""
    todo, seen = [start], {start}
    while todo:
        name = todo.pop()
        if name == goal:
            return True
        for other in down.get(name, ()):
            if other not in seen:
                seen.add(other)
                todo.append(other)
    return False


@valueclass
class RunOverlaps:
    """One run's account of when each step began executing and finished (a counter, not a
    clock) and of the files it read and wrote.

    ``finish`` returns the overlaps it finds: ``early`` when the reader began before the writer
    had finished (they ran side by side, or the reader ran first), else the reader saw what
    the writer wrote, an order the rest of the run has to keep.
    """

    tick: int = 0
    began: dict[str, int] = field(default_factory=dict)
    reads: dict[str, tuple[str, ...]] = field(default_factory=dict)  # by reader, latest run
    readers: dict[str, set[str]] = field(default_factory=dict)  # by path read (or dep)
    read_in: dict[str, set[str]] = field(default_factory=dict)  # folder -> paths read in it
    writers: dict[str, dict[str, int]] = field(default_factory=dict)  # path -> writer -> tick
    within: dict[str, set[str]] = field(default_factory=dict)  # folder -> paths written in it

    def begin(self, step: str) -> None:
        """``step`` starts executing (again)."""
        self.tick += 1
        self.began[step] = self.tick

    def finish(
        self,
        step: str,
        read: Iterable[str],
        wrote: Iterable[str],
        deps: Iterable[str] = (),
    ) -> list[Overlap]:
        """``step`` finished, having read the files ``read`` and its ``deps`` (declared, files
        or folders) and written ``wrote`` (files or folders); the overlaps this shows, each
        once, in no useful order. What a step that did not execute (``begin``) read does not
        count."""
        self.tick += 1
        found: list[Overlap] = []
        began = self.began.get(step)
        if began is not None:
            paths = sorted({*read, *(d.rstrip("/") for d in deps)})
            for path in paths:
                for written in self._written(path):
                    for writer, tick in self.writers[written].items():
                        if writer != step:
                            found.append(Overlap(writer, step, path, early=tick > began))
            for path in self.reads.get(step, ()):
                self.readers[path].discard(step)
            self.reads[step] = tuple(paths)
            for path in paths:
                self.readers.setdefault(path, set()).add(step)
                for folder in _self_and_parents(path)[1:]:
                    self.read_in.setdefault(folder, set()).add(path)
        for path in sorted({w.rstrip("/") for w in wrote}):
            self.writers.setdefault(path, {})[step] = self.tick
            for folder in _self_and_parents(path)[1:]:
                self.within.setdefault(folder, set()).add(path)
            for reader, read in self._readers(path):
                if reader != step:
                    found.append(Overlap(step, reader, read, early=True))
        return list(dict.fromkeys(found))

    def _written(self, path: str) -> list[str]:
        """The paths written that overlap ``path``: itself, a folder holding it, or (when it
        is a folder) a path in it."""
        around = [p for p in _self_and_parents(path) if p in self.writers]
        return sorted({*around, *self.within.get(path, ())})

    def _readers(self, path: str) -> list[tuple[str, str]]:
        """(step, path it read) for each read of ``path``, of a folder holding it, or (when
        it is a folder) of a path in it."""
        paths = {*_self_and_parents(path), *self.read_in.get(path, ())}
        return sorted((r, p) for p in paths for r in self.readers.get(p, ()))


def pipeline_order(
    pipelines: Sequence[str],
    pipeline_of: Mapping[str, str],
    writes: Mapping[str, Iterable[str]],
    locks: Mapping[str, LockEntry],
    deps: Mapping[str, Iterable[str]] | None = None,
) -> list[str]:
    """The pipelines (by name) in the order ``incr repro`` runs them: as given, but a
    pipeline with a step that read (by its lock entry, or its ``deps``, by step key) a file a
    step of another pipeline was seen writing or declares in its ``outs`` (``writes``, by step
    key) runs after that other one, as does one with a step that read an output of another's
    step through the post-execution API. Pipelines caught in a cycle of such edges keep the
    order given. ``pipeline_of``: each step key's pipeline."""
    written: dict[str, set[str]] = {}  # each file to the pipelines writing it (all of them)
    for key, paths in writes.items():
        if key in pipeline_of:
            for path in paths:
                written.setdefault(path, set()).add(pipeline_of[key])
    after: dict[str, set[str]] = {name: set() for name in pipelines}
    for key, entry in locks.items():
        reader = pipeline_of.get(key)
        if reader is None:
            continue
        for maker in output_makers(entry.reads):  # an output it read through Repository()
            if pipeline_of.get(maker, reader) != reader and pipeline_of[maker] in after:
                after[reader].add(pipeline_of[maker])
        for path in written.keys() & entry.reads.keys():
            after[reader] |= {w for w in written[path] if w != reader and w in after}
    for key, paths in (deps or {}).items():
        reader = pipeline_of.get(key)
        for path, writers in written.items():
            if reader in after and any(paths_overlap(path, d) for d in paths):
                after[reader] |= {w for w in writers if w != reader and w in after}
    order: list[str] = []
    pending = list(pipelines)
    while pending:
        ready = next((p for p in pending if after[p] <= set(order)), None)
        if ready is None:  # a cycle: the rest as given
            return order + pending
        order.append(ready)
        pending.remove(ready)
    return order
