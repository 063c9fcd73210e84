"""A step's ``outs`` on disk against what the lockfile records: equal, how they differ, and
whether putting them back from the cache is faithful.

A ``file`` out is its bytes and its mode (``Artifact.mode``); a ``dir`` out is its manifest
(``trees``: files with their modes, links, empty folders). Files are digested through the
stat cache, so an unchanged out costs a ``stat`` per file.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from incr import trees
from incr.hashing import MISSING, StatCache
from incr.model import Artifact
from incr.store import ObjectCorrupt, ObjectMissing, Store


def state(stats: StatCache, name: str, artifact: Artifact, store: Store) -> str:
    """``same``, ``missing`` or ``modified``: the ``outs`` path ``name`` against ``artifact``.
    Modes count by the permission bits they stand for here: an out stored on a machine with
    another umask, and put back here as it was, is the same (see ``trees.same_here``)."""
    digest = stats.digest(name)
    if digest == MISSING:
        return "missing"
    if artifact.kind == "file":
        if digest != artifact.digest:
            return "modified"
        now = _file_mode(stats.root / name)
        if now != artifact.mode and (now is None or _bits(now) != _bits(artifact.mode)):
            return "modified"
        return "same"
    if digest.removeprefix("dir:") == artifact.digest:
        return "same"
    try:
        recorded = store.tree(artifact.digest)
    except (ObjectMissing, ObjectCorrupt):
        return "modified"
    return "same" if trees.same_here(recorded, stats.listing(name)) else "modified"


def _bits(mode: str) -> int:
    return trees.mode_bits(mode, False)


def detail(stats: StatCache, store: Store, name: str, artifact: Artifact) -> str:
    """How the modified out ``name`` differs: ``models: b.bin changed, c.bin added``,
    ``run.sh: mode changed``, or its name alone when there is no more to say."""
    path = stats.root / name
    if artifact.kind == "file":
        if stats.digest(name) == artifact.digest and _file_mode(path) != artifact.mode:
            return f"{name}: mode changed"
        return name
    if not path.is_dir() or path.is_symlink():
        return name
    try:
        recorded = store.tree(artifact.digest)
    except (ObjectMissing, ObjectCorrupt):
        return name
    changes = trees.changes(recorded, stats.listing(name))
    return f"{name}: {changes}" if changes else name


def may_lack_metadata(stats: StatCache, store: Store, name: str, artifact: Artifact) -> bool:
    """True when the record may come from before modes and links were kept (nothing in it
    says otherwise) and the out has, where the record names a file, a mode or a link it could
    not hold: putting the record back could undo what the step made, so the step reruns."""
    path = stats.root / name
    if artifact.kind == "file":
        return not artifact.mode and _file_mode(path) not in ("", None)
    try:
        recorded = store.tree(artifact.digest)
    except (ObjectMissing, ObjectCorrupt):
        return False
    return trees.may_lack_metadata(recorded, stats.listing(name))


def _file_mode(path: Path) -> str | None:
    """The ``trees`` mode of a regular file (following a link), None when there is none."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return trees.mode_field(st.st_mode, False) if stat.S_ISREG(st.st_mode) else None
