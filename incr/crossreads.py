"""Files that pass from one pipeline to another in an ``incr repro``: a step of pipeline
``report`` reads ``data/clean.csv``, which a step of pipeline ``prepare`` writes.

The run order puts a writer's pipeline first when it knows the writer (seen writing the file
on an earlier run, or declaring it in ``outs``: ``Workspace.run_order``). When it does not (the
cache folder deleted, a writer new to that file), the reader may run first, on the old bytes:
once a later pipeline's step has written a file that a step of a pipeline run before it read
(``stale_readers``), that pipeline runs again, and its reader reruns on the new bytes
(``read changed``), as within one pipeline a step that read a file too early does. And
``incr repro TARGET`` brings along, from the other pipelines, the steps that write what the
targeted steps read (``writers_of``), as it does within the targeted pipeline. A pipeline
whose step found no file that a pipeline after it may write runs again after those
(``waits_for_file``, ``running_again``). Pure: the graphs, the lock entries and the writes
are given.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from incr import dag, sharedwrites
from incr.events import RunResult
from incr.model import LockEntry, StepNode, TracedPipeline, learned_path, paths_overlap
from incr.plan import output_makers


def reads_of(node: StepNode, entry: LockEntry | None) -> list[str]:
    """The files and folders ``node`` reads: its ``deps``, and what its lock entry saw it read
    or list (a path tested counts too: it may appear)."""
    found = list(node.deps)
    if entry is not None:
        found += [path for key in entry.reads if (path := learned_path(key)) is not None]
    return found


def stale_readers(
    before: Sequence[tuple[TracedPipeline, set[str] | None]],
    written: Iterable[str],
    locks: Mapping[str, LockEntry],
    executed: Iterable[str] = (),
) -> list[int]:
    """The indices of the pipelines of ``before`` (run earlier in this repro, with the steps
    each ran for) with a step that read one of the files ``written`` (what a pipeline run
    after them wrote), or an output of one of the steps ``executed`` (by key) through the
    post-execution API."""
    paths, made = list(written), set(executed)
    if not paths and not made:
        return []
    found = []
    for i, (traced, only) in enumerate(before):
        nodes = [n for n in traced.graph.steps if only is None or n.name in only]
        entries = [e for n in nodes if (e := locks.get(n.key)) is not None]
        if any(
            paths_overlap(read, path)
            for node in nodes
            for read in reads_of(node, locks.get(node.key))
            for path in paths
        ) or any(output_makers(e.reads) & made for e in entries):
            found.append(i)
    return found


def writers_of(
    pipelines: Sequence[TracedPipeline],
    targets: list[str],
    writes: Mapping[str, Iterable[str]],
    locks: Mapping[str, LockEntry],
    known: Mapping[str, Iterable[str]] | None = None,
) -> list[str]:
    """``targets`` with, from the other pipelines, the steps (``pipeline.step``) that write a
    file the targeted steps and the steps they need read (``writes``: by step key, seen or
    declared; ``known``: by step key, files read before the step runs, as its modules are
    imported: ``incr.knownreads``), or write too while a step reads it (what it holds depends
    on every writer: ``incr.sharedwrites``), and so on for those."""
    known = known or {}
    by_key = {n.key: (t, n) for t in pipelines for n in t.graph.steps}
    wanted = list(targets)
    read: tuple[set[str], set[str]] | None = None  # what every step reads, once needed
    while True:
        reads: dict[str, set[str]] = {}  # path -> the pipelines reading it (or writing it)
        for traced, only in dag.select(list(pipelines), wanted):
            keep = dag.ancestors(traced.graph, only) if only is not None else None
            for node in traced.graph.steps:
                if keep is None or node.name in keep:
                    for path in (*reads_of(node, locks.get(node.key)), *known.get(node.key, ())):
                        reads.setdefault(path, set()).add(traced.graph.name)
                    if wrote := [p for p in writes.get(node.key, ()) if p not in reads]:
                        read = sharedwrites.reads(locks) if read is None else read
                        for path in (p for p in wrote if sharedwrites.is_read(p, read)):
                            reads.setdefault(path, set()).add(traced.graph.name)
        more = [
            key
            for key, paths in writes.items()
            if key in by_key and key not in wanted
            for path in paths
            if any(
                paths_overlap(path, read) and readers - {by_key[key][0].graph.name}
                for read, readers in reads.items()
            )
        ]
        if not more:
            return wanted
        wanted += list(dict.fromkeys(more))


def again(
    queue: Sequence[tuple[TracedPipeline, set[str] | None]],
    i: int,
    written: Iterable[str],
    locks: Mapping[str, LockEntry],
    done: set[str],
    executed: Iterable[str] = (),
) -> list[tuple[tuple[TracedPipeline, set[str] | None], str]]:
    """The pipelines of ``queue`` run before ``queue[i]`` to run again after it, each once
    (``done``, which this fills): those with a step that read one of the files ``written``
    (what ``queue[i]``'s executed steps wrote) or an output of one of those steps (by key,
    ``executed``), unless they are queued after it already; each with the note that says
    why."""
    name = queue[i][0].graph.name
    earlier = [entry for entry in queue[:i] if entry[0].graph.name != name]
    later = {t.graph.name for t, _ in queue[i + 1 :]}
    found = []
    for j in stale_readers(earlier, written, locks, executed):
        reader = earlier[j][0].graph.name
        if reader not in done and reader not in later:
            done.add(reader)
            found.append((earlier[j], f"pipeline {reader} runs again: {name} wrote what it read"))
    return found


def waits_for_file(result: RunResult) -> bool:
    """True when each step that failed in ``result`` failed to find a project file (a first
    run knows no file another pipeline writes: one run later may write it)."""
    return bool(result.failed) and all(name in result.missing for name in result.failed)


def running_again(
    traced: TracedPipeline, result: RunResult, after: list[tuple[TracedPipeline, set[str] | None]]
) -> str:
    step, missing = next(iter(result.missing.items()))
    later = ", ".join(t.graph.name for t, _ in after)
    which = "which" if len(after) == 1 else "one of them"
    return (
        f"step {step} found no {missing}: pipeline {traced.graph.name} runs again after "
        f"{later} ({which} may write it)"
    )
