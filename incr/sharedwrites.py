"""Files that several steps write and a step reads, in their pipeline or in another
(``prep.write_a`` writes ``work/table.csv``, ``prep.append_b`` adds to it, ``report.total``
reads it): a run from scratch leaves the file as the writers, run in body order and their
pipelines in run order, leave it. So the writers run in that order (``overlaps.learned_graph``,
``overlaps.pipeline_order``), and when one executes, the writers after it execute too
(``rewriters``; of other pipelines, ``across``: ``shared file rewritten``) before any reader,
wherever the reader is; ``incr status`` says so beforehand (``earlier_writers``). A writer
that appends to the file (``SeenWrites.appends``) adds to what the writers before it left:
when it executes, they execute first, back to the last one that writes the file anew
(``across``, ``appended_onto``: ``shared file appended``), or all of them when none does (the
file is first put back as it was before them: ``incr.appendbase``); a writer writing it anew
spares the writers before it. A file no step reads (a log two steps append to) orders and reruns
nothing. Pure: the graphs, the lock entries and the writes are given.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import field

from incr.model import (
    MISSING,
    LockEntry,
    PipelineGraph,
    Reason,
    learned_kind,
    paths_overlap,
)
from incr.valueclass import valueclass


def several_writers(
    graph: PipelineGraph, writes: Mapping[str, Iterable[str]]
) -> dict[str, list[str]]:
    """The files two steps or more of ``graph`` write (``writes``: by step key, as seen; or
    their ``outs``), each with its writers (by name) in body order."""
    writers = _writers(graph, writes)
    return {path: names for path, names in writers.items() if len(names) > 1}


def _writers(graph: PipelineGraph, writes: Mapping[str, Iterable[str]]) -> dict[str, list[str]]:
    """The files the steps of ``graph`` write, each with its writers (by name) in body order."""
    writers: dict[str, list[str]] = {}
    for node in graph.steps:
        seen = writes.get(node.key, ())
        if not seen and not node.outs:
            continue
        for path in sorted({*seen, *(o.rstrip("/") for o in node.outs)}):
            writers.setdefault(path, []).append(node.name)
    return writers


def reads(
    locks: Mapping[str, LockEntry], skip: str = "", deps: Iterable[str] = ()
) -> tuple[set[str], set[str]]:
    """The files the steps' lock entries record as read, and the files and folders they
    declare in ``deps`` (with ``deps``), leaving out the steps of pipeline ``skip``."""
    files: set[str] = set()
    declared = {d.rstrip("/") for d in deps}
    own = f"{skip}." if skip else None
    for key, entry in locks.items():
        if own is None or not key.startswith(own):
            files.update(k for k in entry.reads if learned_kind(k) == "file")
            declared.update(d.rstrip("/") for d in entry.facts.deps)
    return files, declared


def is_read(path: str, read: tuple[set[str], set[str]]) -> bool:
    """Whether ``path`` is among the files ``read`` (see ``reads``), or a declared one holds it."""
    files, declared = read
    return path in files or any(paths_overlap(path, d) for d in declared)


def read_outside(
    graph: PipelineGraph, locks: Mapping[str, LockEntry], writes: Mapping[str, Iterable[str]]
) -> dict[str, list[str]]:
    """The files two steps or more of ``graph`` write that a step of another pipeline reads,
    each with its writers in body order."""
    several = several_writers(graph, writes)
    if not several:
        return {}  # most pipelines, quickly: no lock entry is looked at
    read = reads(locks, skip=graph.name)
    return {path: names for path, names in several.items() if is_read(path, read)}


def shared_read(
    graph: PipelineGraph, locks: Mapping[str, LockEntry], writes: Mapping[str, Iterable[str]]
) -> dict[str, list[str]]:
    """The files two steps or more of ``graph`` write, which a step of any pipeline reads
    (``reads``, with the deps of ``graph``'s steps), each with its writers in body order."""
    several = several_writers(graph, writes)
    if not several:
        return {}
    read = reads(locks, deps=(d for n in graph.steps for d in n.deps))
    return {path: names for path, names in sorted(several.items()) if is_read(path, read)}


def earlier_writers(
    graph: PipelineGraph, locks: Mapping[str, LockEntry], writes: Mapping[str, Iterable[str]]
) -> dict[str, list[tuple[str, str]]]:
    """For each step (by name) writing a file that steps before it in body order write too,
    which a step of any pipeline reads (``shared_read``): those earlier writers, each with the
    file. When one of them executes, the step does too."""
    found: dict[str, list[tuple[str, str]]] = {}
    for path, names in shared_read(graph, locks, writes).items():
        for i, name in enumerate(names[1:], 1):
            found.setdefault(name, []).extend((first, path) for first in names[:i])
    return found


def left_since(
    graph: PipelineGraph,
    step: str,
    locks: Mapping[str, LockEntry],
    writes: Mapping[str, Iterable[str]],
    left: Callable[[str], Collection[str]],
    now: Callable[[str], str],
    shared: Across | None = None,
) -> list[Reason]:
    """Why ``step`` must run again for the files it writes that other steps of ``graph``
    write too and a step reads (``shared_read``; with ``shared``, the writers of the other
    pipelines too: ``Across.writers``), as they are on disk (``left``: the files a step, by
    key, holds as its last run left them; ``now``: a file's digest). A file holding what a
    writer before it left, which ran after it (``incr repro`` of that one alone): it writes
    the file anew after it (``shared file rewritten``). For the first writer, a file that no
    writer left as it is, which a step read with other bytes (an edit by hand, a checkout
    of another branch): it writes the file anew (``written file changed``), and the writers
    after it do too."""
    key = f"{graph.name}.{step}"
    writers = {
        path: [f"{graph.name}.{name}" for name in names]
        for path, names in shared_read(graph, locks, writes).items()
        if step in names
    }
    if shared is not None:
        writers |= {path: list(keys) for path, keys in shared.writers.items() if key in keys}
    found = []
    for path, keys in sorted(writers.items()):
        before = keys[: keys.index(key)]
        held = [k for k in keys if path in left(k)]
        if held and held[-1] in before:
            found.append(Reason(Reason.REWRITTEN, f"{path}, by {named(held[-1], key)}"))
        elif not held and not before and _read_otherwise(path, now(path), locks):
            found.append(Reason(Reason.WRITTEN_CHANGED, path))
    return found


def rewriters(
    graph: PipelineGraph,
    step: str,
    wrote: Iterable[str],
    writes: Mapping[str, Sequence[str]],
    locks: Mapping[str, LockEntry],
) -> dict[str, str]:
    """The steps after ``step`` in ``graph``'s body that write a file it just wrote (``writes``
    by step key, as seen), which a step of any pipeline reads (see ``earlier_writers``): the
    file a run from scratch leaves is theirs, so they execute again. By step name, with the
    file."""
    wrote = {w.rstrip("/") for w in wrote}
    found: dict[str, str] = {}
    for name, pairs in earlier_writers(graph, locks, writes).items():
        paths = sorted(path for first, path in pairs if first == step and path in wrote)
        if paths:
            found[name] = paths[0]
    return found


def _read_otherwise(path: str, digest: str, locks: Mapping[str, LockEntry]) -> bool:
    """Whether a lock entry records a read of ``path`` with bytes other than ``digest`` (a
    file gone is ``written file missing``, not this)."""
    if digest == MISSING:
        return False
    return any(entry.reads.get(path, digest) != digest for entry in locks.values())


@valueclass(frozen=True)
class Across:
    """The files steps of several pipelines write, or that a step appends to after other
    writers, which a step reads (see ``across``); by step key, with the file.

    ``earlier``: for a writer, the writers of other pipelines run before its own: when one
    executes, it writes the file anew after it (``shared file rewritten``). ``onto``: for a
    writer that appends to the file (``SeenWrites.appends``), the writers before it back to
    the last one that writes it anew: what it appends to is theirs, so when it executes they
    execute first (``shared file appended``). When each writer before it appends, they all
    execute, the file put back first as it was before the first of them ran
    (``incr.appendbase``)."""

    earlier: Mapping[str, Sequence[tuple[str, str]]] = field(default_factory=dict)
    onto: Mapping[str, Sequence[tuple[str, str]]] = field(default_factory=dict)
    writers: Mapping[str, Sequence[str]] = field(default_factory=dict)  # file -> keys, in order


def across(
    graphs: Sequence[PipelineGraph],
    locks: Mapping[str, LockEntry],
    writes: Mapping[str, Iterable[str]],
    appends: Mapping[str, Iterable[str]],
    guessed: Collection[str] = (),
) -> Across:
    """The files several steps of ``graphs`` (in the order ``incr repro`` runs them) write,
    which a step reads, each with its writers in the order a run from scratch runs them
    (pipeline after pipeline, each in body order): what ``Across`` holds of them. The steps
    of ``guessed`` (by key) are taken as appending to every file they write (not known:
    ``SeenWrites.guessed``)."""
    writers: dict[str, list[tuple[str, str]]] = {}  # file -> (pipeline, step key)
    for graph in graphs:
        for path, names in _writers(graph, writes).items():
            writers.setdefault(path, []).extend((graph.name, f"{graph.name}.{n}") for n in names)
    several = {path: found for path, found in writers.items() if len(found) > 1}
    if not several:
        return Across()
    read = reads(locks, deps=(d for g in graphs for n in g.steps for d in n.deps))
    earlier: dict[str, list[tuple[str, str]]] = {}
    onto: dict[str, list[tuple[str, str]]] = {}
    ordered: dict[str, list[str]] = {}
    for path, found in sorted(several.items()):
        if not is_read(path, read):
            continue
        keys = ordered[path] = [key for _, key in found]
        for i, (pipeline, key) in enumerate(found):
            if before := [(k, path) for p, k in found[:i] if p != pipeline]:
                earlier.setdefault(key, []).extend(before)
            if not i or path not in appends.get(key, ()):
                continue
            anew = [j for j in range(i) if path not in appends.get(keys[j], ())]
            start = anew[-1] if anew else 0  # none: all, from the file as it was before them
            onto.setdefault(key, []).extend((k, path) for k in keys[start:i])
    return Across(earlier, onto, ordered)


def appended_onto(
    onto: Mapping[str, Sequence[tuple[str, str]]],
    reasons: Mapping[str, Sequence[Reason]],
) -> dict[str, list[Reason]]:
    """For the writers a dirty step appends after (``Across.onto``; ``reasons``: each
    judged step's, by key) that have no reason of their own to run: why they run now. Not
    for a step dirty only because one of them rewrites the file, or rewrote it last (``shared
    file rewritten``), or while it waits on them: it then appends to what they leave."""
    found: dict[str, list[Reason]] = {}
    for key, pairs in onto.items():
        if not _appends_now(key, pairs, reasons.get(key, ())):
            continue
        for writer, path in pairs:
            if writer not in reasons or any(r.kind != Reason.UPSTREAM for r in reasons[writer]):
                continue
            why = Reason(Reason.APPENDED, f"{path}, by {named(key, writer)}")
            if why not in found.get(writer, ()):
                found.setdefault(writer, []).append(why)
    return found


def _appends_now(key: str, pairs: Sequence[tuple[str, str]], reasons: Sequence[Reason]) -> bool:
    """Whether step ``key``, with ``reasons``, executes for reasons other than the writers
    of ``pairs`` it appends after."""
    chain = {named(writer, key) for writer, _ in pairs}
    for reason in reasons:
        if reason.kind == Reason.UPSTREAM:
            if set(reason.detail.split(", ")) - chain:
                return True  # a step it waits on may change what it appends
        elif reason.kind != Reason.REWRITTEN:
            return True
    return False


def named(key: str, seen_from: str) -> str:
    """Step ``key`` as a step (by key) ``seen_from`` names it: by name in its own pipeline."""
    own = f"{seen_from.rpartition('.')[0]}."
    return key.removeprefix(own) if key.startswith(own) else key
