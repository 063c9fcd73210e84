"""Files that several steps of one pipeline write and a step reads, in that pipeline or in
another (``prep.write_a`` writes ``work/table.csv``, ``prep.append_b`` adds to it, ``report.total``
reads it): a run from scratch leaves the file as the last writer in body order left it. So the
writers run in body order (``overlaps.learned_graph``), and when one executes, the writers
after it execute too (``rewriters``: ``shared file rewritten``) before any reader, wherever the
reader is; ``incr status`` says so beforehand (``earlier_writers``). A file no step reads (a
log two steps append to) orders and reruns nothing. Pure: the graph, the lock entries and the
writes are given.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Mapping, Sequence

from incr.model import (
    MISSING,
    LockEntry,
    PipelineGraph,
    Reason,
    learned_kind,
    paths_overlap,
)


def several_writers(
    graph: PipelineGraph, writes: Mapping[str, Iterable[str]]
) -> dict[str, list[str]]:
    """The files two steps or more of ``graph`` write (``writes``: by step key, as seen; or
    their ``outs``), each with its writers (by name) in body order."""
    writers: dict[str, list[str]] = {}
    for node in graph.steps:
        seen = writes.get(node.key, ())
        if not seen and not node.outs:
            continue
        for path in sorted({*seen, *(o.rstrip("/") for o in node.outs)}):
            writers.setdefault(path, []).append(node.name)
    return {path: names for path, names in writers.items() if len(names) > 1}


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
) -> list[Reason]:
    """Why ``step`` must run again for the files it writes that other steps of ``graph``
    write too and a step reads (``shared_read``), as they are on disk (``left``: the files a
    step, by key, holds as its last run left them; ``now``: a file's digest). A file holding
    what a writer before it left, which ran after it (``incr repro`` of that one alone): it
    writes the file anew after it (``shared file rewritten``). For the first writer, a file
    that no writer left as it is, which a step read with other bytes (an edit by hand, a
    checkout of another branch): it writes the file anew (``written file changed``), and the
    writers after it do too."""
    found = []
    for path, names in shared_read(graph, locks, writes).items():
        if step not in names:
            continue
        before = names[: names.index(step)]
        held = [name for name in names if path in left(f"{graph.name}.{name}")]
        if held and held[-1] in before:
            found.append(Reason(Reason.REWRITTEN, f"{path}, by {held[-1]}"))
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
