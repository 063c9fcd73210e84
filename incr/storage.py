"""Atomic file writes: a temp file in the same folder, flushed, fsynced, renamed into place."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path


def _current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


#: mkstemp creates files 0600; incr's files get the usual 0666 less the umask instead.
FILE_MODE = 0o666 & ~_current_umask()


def atomic_write(path: Path, data: bytes) -> None:
    """Replace ``path`` with ``data`` so readers see the old or the new file, never a part.

    On any error the temp file is removed and ``path`` is left as it was; the error propagates
    (an OSError carries ``path`` as its filename).
    """
    atomic_write_parts(path, (data,))


def atomic_write_parts(path: Path, parts: Sequence[bytes | memoryview]) -> None:
    """``atomic_write`` of the concatenation of ``parts``, written one after the other (a large
    array's own buffer is written without being copied first)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, FILE_MODE)
        with os.fdopen(fd, "wb") as fh:
            for part in parts:
                fh.write(part)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        if isinstance(exc, OSError) and exc.filename is None:
            exc.filename = str(path)  # ENOSPC from write or fsync names no file: say which
        raise


_GITIGNORE = b"# written by incr: the cache is local to this machine\n*\n"


def ensure_cache_dir(folder: Path) -> None:
    """Create the cache folder with a .gitignore that keeps all of it out of git."""
    folder.mkdir(parents=True, exist_ok=True)
    ignore = folder / ".gitignore"
    if not ignore.exists():
        atomic_write(ignore, _GITIGNORE)
