"""A step's ``outs`` as a run from scratch finds them before the step executes: absent.

A step that writes fewer files into its outs folder than its last run (``out/part2.txt`` no
longer written) would otherwise leave the old ones there, stored as part of its new result.
So before it executes, what its outs hold is taken away (``clear``):

- a file (or link) that its last run left there, as the record (``recorded``: its lock entry,
  or its result earlier in this command) has it, and whose bytes the cache holds (or that the
  cache lacks while the file or folder out holds what the record says: a clone whose outputs
  are committed, stored first), is removed, and so is any file whose bytes the cache holds
  (another step's output before: a step split in two):
  it can be put back from the cache; so is an out in ``remove`` whatever it holds (a file
  that a step writing it after this one left, which runs again after it; what a failed run
  of the step wrote earlier in the same command);
- anything else (a file the user added, one edited by hand, one a failed run wrote, the outs of
  a step never run before) is moved aside into ``kept`` (``.pipecache/kept/TIMESTAMP/PATH``),
  never deleted; the moves are returned, for a warning each;
- folders are removed once empty. An out whose path leads out of the project is left alone,
  and so is a placeholder keeping a folder in the repository (``PLACEHOLDERS``: ``.gitkeep``,
  ``.keep``, ``.gitignore``): a clone has it, and a run from scratch finds it there.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Collection, Iterable, Mapping
from pathlib import Path

from incr import trees
from incr.hashing import StatCache
from incr.model import Artifact
from incr.store import ObjectCorrupt, ObjectMissing, Store
from incr.treerestore import UnsafePath, check_inside, move_aside


def clear(
    root: Path,
    outs: Iterable[str],
    recorded: Mapping[str, Artifact],
    store: Store,
    stats: StatCache,
    kept: Path,
    remove: Collection[str] = (),
) -> list[tuple[Path, Path]]:
    """Take away what the outs ``outs`` hold (see above); the (from, to) of each move aside."""
    moved: list[tuple[Path, Path]] = []
    for out in outs:
        path = root / out
        if not os.path.lexists(path):
            continue
        try:
            check_inside(path.parent, root)
            check_inside(path, root)
        except UnsafePath:
            continue  # a link out of the project: no restore writes there either
        artifact = recorded.get(out)
        if out in remove and path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        elif path.is_dir() and not path.is_symlink():
            entries = _entries(store, artifact) or _stored(out, artifact, store, stats, root)
            moved += _clear_folder(root, out, entries, store, stats, kept)
        elif (
            out in remove
            or _held(out, artifact, store, stats, path)
            or _cached(out, stats, store)  # the bytes of a run before, of another step
        ):
            path.unlink()
        else:
            moved.append((path, move_aside(path, root, kept)))
    return moved


def _cached(rel: str, stats: StatCache, store: Store) -> bool:
    """Whether the cache holds the bytes of file ``rel`` (another step's output of a run
    before: the step writing it now took it over, a step split in two): removing it loses
    nothing."""
    path = stats.root / rel
    return path.is_file() and not path.is_symlink() and store.has(stats.digest(rel))


def _kept_bytes(entry: trees.Entry, store: Store) -> bool:
    """``_cached`` for a file of an outs folder, by its listing's entry."""
    return entry.kind == trees.FILE and store.has(entry.digest)


#: Files that keep a folder in a clone (an empty folder is not committed): left in place, as
#: a run from scratch in a fresh clone finds them.
PLACEHOLDERS = frozenset({".gitkeep", ".keep", ".gitignore"})


def _held(out: str, artifact: Artifact | None, store: Store, stats: StatCache, path: Path) -> bool:
    """Whether the file (or link) ``out`` holds what ``artifact`` records, held by the cache:
    a file the cache lacks (a clone whose outputs are committed, no ``.pipecache/`` yet) is
    stored first, being the last run's."""
    if artifact is None or artifact.kind not in ("file", "dir"):
        return False
    if stats.digest(out).removeprefix("dir:") != artifact.digest:
        return False
    if artifact.kind == "file":
        if not store.has(artifact.digest) and path.is_file() and not path.is_symlink():
            with contextlib.suppress(OSError):
                store.put_file(path)
        return store.has(artifact.digest)
    entries = _entries(store, artifact)
    return bool(entries) and all(store.has(e.digest) for e in entries.values() if e.digest)


def _entries(store: Store, artifact: Artifact | None) -> dict[str, trees.Entry]:
    """The entries of a folder out's manifest by path; none when it is not one or is gone."""
    if artifact is None or artifact.kind != "dir":
        return {}
    try:
        return {e.path: e for e in store.tree(artifact.digest)}
    except (ObjectMissing, ObjectCorrupt):
        return {}


def _stored(
    out: str, artifact: Artifact | None, store: Store, stats: StatCache, root: Path
) -> dict[str, trees.Entry]:
    """The entries of a folder out holding what ``artifact`` records, whose manifest the cache
    lacks (a clone whose outputs are committed, no ``.pipecache/`` yet): stored first, being
    the last run's. None for another folder."""
    if artifact is None or artifact.kind != "dir" or store.has(artifact.digest):
        return {}
    if stats.digest(out).removeprefix("dir:") != artifact.digest:
        return {}
    with contextlib.suppress(OSError, UnsafePath):
        if store.put_tree(root / out, root) == artifact.digest:
            return _entries(store, artifact)
    return {}


def _clear_folder(
    root: Path,
    out: str,
    recorded: Mapping[str, trees.Entry],
    store: Store,
    stats: StatCache,
    kept: Path,
) -> list[tuple[Path, Path]]:
    folder = root / out
    listed = [e for e in stats.listing(out) if e.kind != trees.DIR]
    found = [e for e in listed if e.path.rpartition("/")[2] not in PLACEHOLDERS]
    held = {e.path for e in found if _same(e, recorded.get(e.path), store) or _kept_bytes(e, store)}
    if found and not held and len(found) == len(listed):  # none from its last run: as one
        return [(folder, move_aside(folder, root, kept))]
    moved: list[tuple[Path, Path]] = []
    for entry in found:
        path = folder / entry.path
        if entry.path in held:
            path.unlink()
        else:
            moved.append((path, move_aside(path, root, kept)))
    for inner, _, _ in sorted(os.walk(folder), key=lambda w: w[0].count(os.sep), reverse=True):
        with contextlib.suppress(OSError):  # still holds a socket or a pipe: stays
            os.rmdir(inner)
    return moved


def _same(entry: trees.Entry, recorded: trees.Entry | None, store: Store) -> bool:
    """A file with the recorded bytes, which the cache holds, or a link as recorded."""
    if recorded is None or recorded.kind != entry.kind:
        return False
    if entry.kind == trees.LINK:
        return recorded.target == entry.target
    return recorded.digest == entry.digest and store.has(entry.digest)


def clear_written(
    key: str,
    left: Iterable[str],
    writers: Mapping[str, Iterable[str]],
    kept: Collection[str],
    root: Path,
    own: tuple[str, ...],
) -> list[str]:
    """Before step ``key`` executes: the files its last run was seen writing outside its outs
    that hold what that run left (``left``; one edited since is left alone), which a run from
    scratch does not find before it, removed. Not those it appended to or read first
    (``kept``, with the files every writer appends to: ``incr.appendbase`` keeps what they
    held), nor those another step writes too (``writers``: the files each step, by key, was
    seen writing), nor anything under incr's ``own`` paths (the cache folder, where an input
    of the step may have been written out for it). Otherwise a file of that run it does not
    write again would stay beside what it writes now: a part of a dataset named by a fresh
    id (``to_parquet(path, partition_cols=...)``), a report named by a tag; a reader listing
    the folder would read both. Returns the paths removed."""
    others = {p for k, paths in writers.items() if k != key for p in paths}
    removed = []
    for path in sorted(left):
        if path in kept or path in others:
            continue
        if any(path == o or path.startswith(f"{o}/") for o in own):
            continue
        full = root / path
        with contextlib.suppress(OSError, UnsafePath):
            check_inside(full, root)
            if full.is_file() or full.is_symlink():
                full.unlink()
                removed.append(path)
    return removed
