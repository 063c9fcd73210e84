"""The current value of a learned listing or existence fact (``ls:DIR``, ``exists:PATH``),
and the paths of incr's own that no listing or read counts."""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from incr.project import Project
from incr.reads import listing_digest


def listing_value(root: Path, rel: str, ignore: Iterable[str] = ()) -> str:
    """A digest of the sorted names in folder ``rel`` (``missing`` when it is not a folder),
    leaving out the paths ``ignore`` (relative to the root: incr's cache and lockfile)."""
    skip = {os.path.normpath(root / p) for p in ignore}
    return listing_digest(os.fspath(root / rel), skip)


def own_paths(project: Project) -> tuple[str, ...]:
    """incr's own paths in a project (cache folder, lockfile): never a step's reads, and left
    out of the listings recorded and compared."""
    return (project.cache_dir, project.lockfile_name)


def exists_value(root: Path, rel: str) -> str:
    """``file``, ``dir`` or ``missing``: the answer of an existence test on ``rel``."""
    path = root / rel
    if path.is_dir():
        return "dir"
    return "file" if path.exists() else "missing"
