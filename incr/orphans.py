"""The files of a step gone from its pipeline (a loop over data files that lost one, a step
deleted or renamed): a run from scratch does not make them, so ``incr repro`` removes them
before it runs the pipeline (``Runner``), and a step that reads one, or lists the folder
holding it, runs again (``removed step's file``). Before, a step globbing ``out/*.clean.txt``
kept reading what the removed step last wrote.

A file counts when the step's last run wrote it anew (seen, not appended to: ``incr.seenwrites``)
and it holds what that run left, or when it is a file the step listed in ``outs`` holding what
its lock entry records; and when no other step writes or lists it. Pure: the graphs, the lock
entries, what steps were seen writing and the files' digests are given.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from typing import Protocol

from incr.model import LISTING_PREFIX, LockEntry, PipelineGraph, Reason, learned_kind
from incr.plan import stale_locks


class Writes(Protocol):
    """What ``files`` reads of ``seenwrites.SeenWrites``."""

    @property
    def steps(self) -> Mapping[str, Sequence[str]]: ...

    @property
    def appends(self) -> Mapping[str, Sequence[str]]: ...

    @property
    def chains(self) -> Mapping[str, Sequence[str]]: ...


def gone_steps(graphs: Iterable[PipelineGraph], locks: Mapping[str, LockEntry]) -> list[str]:
    """The lock keys of the pipelines of ``graphs`` whose step is no longer in its graph."""
    graphs = list(graphs)
    keys = {n.key for g in graphs for n in g.steps}
    prefixes = tuple(f"{g.name}." for g in graphs)
    mine = [k for k in locks if k not in keys and k.startswith(prefixes)]  # (most: none)
    if not mine:
        return []
    live: dict[str, set[str] | None] = {g.name: {n.name for n in g.steps} for g in graphs}
    return stale_locks(mine, live)


def files(
    gone: Collection[str],
    left: Mapping[str, Collection[str]],
    writes: Writes,
    locks: Mapping[str, LockEntry],
    digest: Callable[[str], str],
) -> dict[str, str]:
    """The files of the ``gone`` steps (by key) to remove, each with its step's key: those
    it wrote anew that hold what its run left (``left``: by key), and its file ``outs`` that
    hold what its lock entry records (``digest``: a file's now); not one another step writes
    or that a lock entry of a live step lists as an output."""
    if not gone:
        return {}
    others = {p for k, paths in writes.steps.items() if k not in gone for p in paths}
    others |= {o for k, e in locks.items() if k not in gone for o in e.outputs}
    found: dict[str, str] = {}
    for key in sorted(gone):
        kept = {*writes.appends.get(key, ()), *writes.chains}
        for path in sorted(left.get(key, ())):
            if path not in kept and path not in others:
                found.setdefault(path, key)
        entry = locks.get(key)
        for name, artifact in (entry.outputs if entry is not None else {}).items():
            if artifact.kind == "file" and name not in others and digest(name) == artifact.digest:
                found.setdefault(name, key)
    return found


def readers_reasons(found: Mapping[str, str], entry: LockEntry | None) -> list[Reason]:
    """Why the step of lock entry ``entry`` runs again: it read one of the files ``found``
    (``files``), listed the folder holding one, or tracks one as a dep."""
    if not found or entry is None:
        return []
    hits: list[str] = []
    for key in (*entry.reads, *entry.facts.deps):
        kind = learned_kind(key)
        if kind == "file" and key in found:
            hits.append(key)
        elif kind == "listing":
            folder = key[len(LISTING_PREFIX) :].rstrip("/")
            hits += [p for p in found if p.rpartition("/")[0] == ("" if folder == "." else folder)]
        elif kind == "file":  # a folder dep: the files under it
            hits += [p for p in found if p.startswith(f"{key.rstrip('/')}/")]
    named = sorted(set(hits))
    return [Reason(Reason.REMOVED, f"{p}, of {found[p]}") for p in named]
