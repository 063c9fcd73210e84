"""A file that every step writing it appends to (``open("work/log.csv", "a")`` in two steps),
which a step reads: a run from scratch leaves in it what it held before the first writer ran
(nothing, for a file the pipeline makes) followed by what each writer appends, in run order.

When one of the writers executes, they all do (``sharedwrites``: those before it first, those
after it then), and the file is first put back as it was before the first of them ran
(``restore``): removed, or given back the bytes it held then (a header committed with the
project), which the first run of the first writer found (``recorded``: their size, and the
bytes themselves kept in the store once a step is known to read the file;
``SeenWrites.before``). What it held is not known when an older incr ran the writers (no
record), or when the cache folder was deleted and a step appended to what an earlier run left
(its bytes were those a step read then): the writers run again (``appended file not known``),
with each step whose writes are not known in the second case (it may be one of them), the
file made again from nothing. ``chains`` and ``unknown`` are pure; the rest touches the file.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from incr.digests import digest_bytes
from incr.hashing import file_digest
from incr.model import LockEntry, PipelineGraph, Reason, paths_overlap
from incr.sharedwrites import is_read, reads
from incr.storage import atomic_write
from incr.store import ObjectCorrupt, ObjectMissing, Store

if TYPE_CHECKING:
    from incr.seenwrites import SeenWrites

#: In ``SeenWrites.before``: the file was absent before its first writer ran.
ABSENT = ""
#: In ``SeenWrites.before``: not known (a writer appended to what an earlier run left).
UNKNOWN = "?"
#: In ``SeenWrites.before``, before a size: the file's first bytes as its writers leave it,
#: that many, not stored yet (``restore`` stores them).
LEADING = "@"


def chains(
    graphs: Sequence[PipelineGraph],
    steps: Mapping[str, Iterable[str]],
    appends: Mapping[str, Collection[str]],
    guessed: Collection[str],
    before: Mapping[str, str],
    locks: Mapping[str, LockEntry],
) -> dict[str, list[str]]:
    """The files the steps of ``graphs`` (in run order) were seen writing (``steps``, by key)
    that every writer appends to (``appends``; not one of ``guessed``) and a step reads, each
    with its writers in run order. None when a step of another pipeline writes it too (what
    it appends is not this command's to put back), or when another step lists it in ``outs``
    (that one writes it anew). When what the file held is ``UNKNOWN``, its writers are not
    all known: each step with a lock entry and no known writes that does not read it is taken
    as one."""
    keys = [f"{graph.name}.{node.name}" for graph in graphs for node in graph.steps]
    writers: dict[str, list[str]] = {}
    for key in keys:
        for path in steps.get(key, ()):
            writers.setdefault(path, []).append(key)
    known = Counter(path for paths in steps.values() for path in paths)
    listed = {f"{g.name}.{n.name}": n.outs for g in graphs for n in g.steps if n.outs}
    found: dict[str, list[str]] = {}
    read: tuple[set[str], set[str]] | None = None
    for path, names in sorted(writers.items()):
        if known[path] != len(names):
            continue
        if any(key in guessed or path not in appends.get(key, ()) for key in names):
            continue
        if any(key not in names and path in outs for key, outs in listed.items()):
            continue
        if read is None:  # (most projects: no such file, no lock entry looked at)
            read = reads(locks, deps=(d for g in graphs for n in g.steps for d in n.deps))
        if not is_read(path, read) or (len(names) == 1 and _read_alone(path, names[0], locks)):
            continue
        if before.get(path) == UNKNOWN:
            names = [k for k in keys if k in names or _maybe_writer(k, path, steps, locks)]
        found[path] = names
    return found


def _read_alone(path: str, key: str, locks: Mapping[str, LockEntry]) -> bool:
    """Whether only its one writer ``key`` reads ``path``, as a step reading and rewriting a
    file of its own does (cleaned in place, a counter): its lock entry records the file as
    the step left it (``incr.leafwrites``), and it is no chain of writers."""
    return not any(
        path in entry.reads or any(paths_overlap(path, d) for d in entry.facts.deps)
        for other, entry in locks.items()
        if other != key
    )


def _maybe_writer(
    key: str, path: str, steps: Mapping[str, Iterable[str]], locks: Mapping[str, LockEntry]
) -> bool:
    entry = locks.get(key)
    return entry is not None and key not in steps and path not in entry.reads


def unknown(
    found: Mapping[str, Sequence[str]], before: Mapping[str, str]
) -> dict[str, list[Reason]]:
    """For the writers of the files of ``found`` (``chains``) whose first state is not known
    (``before``: no record, or ``UNKNOWN``): why they run again, by key."""
    reasons: dict[str, list[Reason]] = {}
    for path, keys in found.items():
        if before.get(path, UNKNOWN) == UNKNOWN:
            for key in keys:
                reasons.setdefault(key, []).append(Reason(Reason.APPEND_UNKNOWN, path))
    return reasons


def restore(
    key: str, writes: SeenWrites, store: Store, root: Path, locks: Mapping[str, LockEntry]
) -> None:
    """Before step ``key`` executes: each file it is the first writer of (``writes.chains``),
    not yet written in this command, put back as it was before its writers ran (see above)."""
    for path, keys in writes.chains.items():
        if keys[0] != key or path in writes.written_now:
            continue
        writes.written_now.add(path)
        full = root / path
        held = writes.before.get(path, UNKNOWN)
        if (
            held != UNKNOWN
            and full.is_file()
            and not _as_left(path, full, keys, writes, root, locks)
        ):
            writes.set_before(path, store.put(full.read_bytes()))  # what its writers start from
            continue
        data = b""
        if held.startswith(LEADING):  # its first bytes as its writers leave it: store them
            held, data = _leading(full, int(held[len(LEADING) :]), store)
        elif held not in (ABSENT, UNKNOWN):
            try:
                data = store.get(held)
            except (ObjectMissing, ObjectCorrupt):
                held = UNKNOWN  # judged again from what the file holds
        if held == UNKNOWN:
            held, data = _as_before(path, full, writes, store, root, locks)
        if held == ABSENT:
            full.unlink(missing_ok=True)
        elif not full.is_file() or file_digest(full) != held:
            full.parent.mkdir(parents=True, exist_ok=True)
            atomic_write(full, data, durable=False)
        writes.set_before(path, held)


def _as_left(
    path: str,
    full: Path,
    keys: Sequence[str],
    writes: SeenWrites,
    root: Path,
    locks: Mapping[str, LockEntry],
) -> bool:
    """Whether ``path`` holds what its writers' (``keys``) last run left there: the size and
    time one of them left it with, or what a step's lock entry records of it. Other bytes
    (an edit by hand, a row added to a file a step cleans in place) are what the writers
    start from next, never put back over."""
    for key in keys:
        fp = entry.fingerprint if (entry := locks.get(key)) else ""
        if path in writes.as_left(key, fp, root):
            return True
    digest = file_digest(full)
    return any(entry.reads.get(path) == digest for entry in locks.values())


def _leading(full: Path, size: int, store: Store) -> tuple[str, bytes]:
    """The first ``size`` bytes of ``full``, stored; ``UNKNOWN`` when it has fewer."""
    try:
        with open(full, "rb") as fh:
            data = fh.read(size)
    except OSError:
        return UNKNOWN, b""
    return (store.put(data), data) if len(data) == size else (UNKNOWN, b"")


def _as_before(
    path: str,
    full: Path,
    writes: SeenWrites,
    store: Store,
    root: Path,
    locks: Mapping[str, LockEntry],
) -> tuple[str, bytes]:
    """What ``path`` held before its writers ran, when not recorded: nothing when it is gone,
    or holds what a step read (the end of an earlier run) or what a writer left, or when a
    writer appended to what an earlier run left (``UNKNOWN``); else the bytes it holds."""
    if writes.before.get(path) == UNKNOWN or not full.is_file():
        return ABSENT, b""
    if _as_left(path, full, writes.chains.get(path, ()), writes, root, locks):
        return ABSENT, b""
    data = full.read_bytes()
    return store.put(data), data


def recorded(
    key: str,
    appended: Iterable[tuple[str, int]],
    written: Iterable[str],
    writes: SeenWrites,
    root: Path,
    locks: Mapping[str, LockEntry],
    rewritten: Iterable[tuple[str, bytes | None]] = (),
    store: Store | None = None,
) -> list[str]:
    """After step ``key`` executed, writing ``written``, appending to those of ``appended``
    (with their sizes before: -1 when absent): for each file not yet written in this command,
    what it held before (``SeenWrites.before``): forgotten when the step wrote it anew; kept
    when known, or as long as its first bytes are (``LEADING``); for one it read and then
    wrote anew (``rewritten``: with the bytes it held, kept in ``store``), those bytes. The
    files it appended to
    after what an earlier run left: ``UNKNOWN``, returned. Those are the files steps were
    known to write as the command started (``SeenWrites.written_then``: what such a file held
    before them is gone; a step that wrote it anew appends to it now), and, when nothing was
    known of what steps write (``SeenWrites.lost``: the cache folder deleted), those whose
    bytes then are what a step read in a run before this command."""
    sizes, prior = dict(appended), dict(rewritten)
    doubtful = []
    for path in written:
        if path in writes.written_now:
            continue
        writes.written_now.add(path)
        if path not in sizes:
            writes.set_before(path, None)
            continue
        if path in writes.before or _made_anew(path, key, writes):
            continue
        if sizes[path] < 0:
            writes.set_before(path, ABSENT)
        elif (
            (data := prior.get(path)) is not None
            and store is not None
            and not (
                path in writes.written_then
                or (writes.lost and _read_then(path, data, writes.locks_then))
            )
        ):
            writes.set_before(path, store.put(data))  # not the first bytes it leaves
        elif (
            path in prior
            or path in writes.written_then
            or (writes.lost and _left_by_run(path, root, sizes[path], writes.locks_then))
        ):
            writes.set_before(path, UNKNOWN)
            doubtful.append(path)
        else:  # stored once it is known that a step reads the file (``restore``)
            writes.set_before(path, f"{LEADING}{sizes[path]}")
    return doubtful


def _left_by_run(path: str, root: Path, size: int, locks: Mapping[str, LockEntry]) -> bool:
    """Whether the first ``size`` bytes of ``path`` are what a step read there in a run
    before this command (``locks``: the lock entries as it started): what that run left."""
    if not any(path in entry.reads for entry in locks.values()):
        return False  # (most files appended to: logs no step reads)
    try:
        with open(root / path, "rb") as fh:
            data = fh.read(size)
    except OSError:
        return False
    digest = digest_bytes(data)
    return any(entry.reads.get(path) == digest for entry in locks.values())


def _read_then(path: str, data: bytes, locks: Mapping[str, LockEntry]) -> bool:
    """Whether ``data`` is what a step read at ``path`` in a run before this command."""
    digest = digest_bytes(data)
    return any(entry.reads.get(path) == digest for entry in locks.values())


def _made_anew(path: str, key: str, writes: SeenWrites) -> bool:
    """Whether a step other than ``key`` writes ``path`` anew: what it held before does not
    count."""
    return any(
        path in paths and path not in writes.appends.get(other, ())
        for other, paths in writes.steps.items()
        if other != key
    )
