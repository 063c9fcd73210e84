"""What a listing or an existence test of a path answers now: the values a step's ``ls:DIR``
and ``exists:PATH`` reads are recorded and compared by (``incr.reads``, ``incr.learned``), and
the prefixes a recorder tells the project's paths and incr's own by (``prefixes``).

Both read the file system through the functions ``os`` had when incr was imported, never
through the wrappers ``incr.reads`` installs while a step runs: incr's own looks are no step's.
"""

from __future__ import annotations

import functools
import os
import stat as stat_module
from collections.abc import Collection
from pathlib import Path

from incr.fingerprint import digest_bytes
from incr.outside import TOOLING

_REAL_STAT = os.stat
_REAL_LISTDIR = os.listdir
MISSING = "missing"


def listing_digest(folder: str, skip: Collection[str] = ()) -> str:
    """What a listing of ``folder`` records: a digest of its sorted names (leaving out the
    absolute paths in ``skip``: incr's own cache and lockfile), or ``missing`` when it is not
    a folder."""
    try:
        names = _REAL_LISTDIR(folder)
    except OSError:
        return MISSING
    base = os.path.normpath(folder)
    kept = sorted(n for n in names if os.path.join(base, n) not in skip)
    return digest_bytes("\0".join(kept).encode("utf-8", "surrogateescape"), 32)


def existence(path: str) -> str:
    """``file``, ``dir`` or ``missing``: what an existence test of ``path`` answers (links
    followed)."""
    try:
        st = _REAL_STAT(path)
    except (OSError, ValueError):
        return MISSING
    return "dir" if stat_module.S_ISDIR(st.st_mode) else "file"


def entry_of(path: str, folder: str) -> bool:
    """True when changing ``path`` may change the names listed in ``folder``."""
    return os.path.dirname(path) == folder or within(folder, path)


def within(path: str, other: str) -> bool:
    return path == other or path.startswith(os.path.join(other, ""))


def stamp(path: str) -> tuple[int, ...] | None:
    """What tells a file's bytes changed without reading them: size, times, inode; None when
    there is no such file, and ``()`` for a folder (opened to list or remove what it holds:
    ``shutil.rmtree``), which has no bytes a step reads."""
    try:
        st = _REAL_STAT(path)
    except OSError:
        return None
    if stat_module.S_ISDIR(st.st_mode):
        return ()
    return (st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino)


@functools.cache
def prefixes(
    root: str, exclude: tuple[str, ...]
) -> tuple[str, tuple[str, ...], frozenset[str], tuple[str, ...]]:
    """``root/``, each ``root/EXCLUDED/``, the excluded paths themselves, and each
    ``root/EXCLUDED/artifacts/`` (the folders ``StepContext.get_output_artifact_uri`` gives
    steps: what a step reads there counts). Computed once per root: a recorder is made for
    each step."""
    own = frozenset(os.path.normpath(os.path.join(root, e)) for e in exclude)
    folders = tuple(os.path.join(root, e, "") for e in exclude)
    return os.path.join(root, ""), folders, own, tuple(f + "artifacts" + os.sep for f in folders)


_VENVS, _METADATA = frozenset({".venv", ".tox", ".nox"}), (".egg-info", ".dist-info")


def is_tooling(root: str, full: str, venvs: dict[str, bool]) -> bool:
    """True for a path under ``root/`` inside version control, a virtualenv (named so, or
    holding a ``pyvenv.cfg``: ``venvs`` remembers the folders asked), installed packages or
    package metadata: read by Python's machinery (importlib.metadata, entry points)."""
    parts = Path(full[len(root) :]).parts if full.startswith(root) else ()
    folder = root
    for part in parts:
        if part in TOOLING or part in _VENVS or part.endswith(_METADATA):
            return True
        folder = os.path.join(folder, part)
        known = venvs.get(folder)
        if known is None:
            try:
                _REAL_STAT(os.path.join(folder, "pyvenv.cfg"))
                known = True
            except OSError:
                known = False
            venvs[folder] = known
        if known:
            return True
    return False
