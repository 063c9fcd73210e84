"""Atomic file writes: a temp file in the same folder, flushed, fsynced, renamed into place."""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import BinaryIO


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
    with _replacing(path) as (fh, _):
        for part in parts:
            fh.write(part)


def atomic_copy(src: Path, dest: Path, check: Callable[[str], object] | None = None) -> None:
    """Replace ``dest`` with a copy of file ``src``, atomically as ``atomic_write`` does.

    The kernel copies the bytes (``sendfile``): however large the file, none of it passes
    through this process's memory. ``check(temp path)`` runs on the finished copy before it is
    moved into place; when it raises, ``dest`` is left as it was.
    """
    with open(src, "rb") as source, _replacing(dest) as (fh, tmp):
        _copy_bytes(source, fh)
        if check is not None:
            check(tmp)


@contextlib.contextmanager
def _replacing(path: Path) -> Iterator[tuple[BinaryIO, str]]:
    """A new temp file beside ``path`` to write, and its path. Once the block ends, the file
    is flushed, fsynced and renamed onto ``path``; on any error it is removed and ``path``
    stays as it was."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, FILE_MODE)
        with open(fd, "wb") as fh:
            yield fh, tmp
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        if isinstance(exc, OSError) and exc.filename is None:
            exc.filename = str(path)  # ENOSPC from write or fsync names no file: say which
        raise


def _copy_bytes(source: BinaryIO, target: BinaryIO) -> None:
    """Copy the rest of ``source`` to ``target`` in the kernel where it can, else through a
    small buffer."""
    out, done = target.fileno(), 0
    try:
        while sent := os.sendfile(out, source.fileno(), None, 1 << 30):
            done += sent
    except OSError as exc:
        if done or exc.errno not in (errno.EINVAL, errno.ENOSYS, errno.ENOTSUP):
            raise
        shutil.copyfileobj(source, target, 1 << 20)
    except AttributeError:  # no os.sendfile on this system
        shutil.copyfileobj(source, target, 1 << 20)


_GITIGNORE = b"# written by incr: the cache is local to this machine\n*\n"


def ensure_cache_dir(folder: Path) -> None:
    """Create the cache folder with a .gitignore that keeps all of it out of git."""
    folder.mkdir(parents=True, exist_ok=True)
    ignore = folder / ".gitignore"
    if not ignore.exists():
        atomic_write(ignore, _GITIGNORE)
