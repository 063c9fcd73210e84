"""Atomic file writes: a temp file in the same folder (or, while a run goes on, one made ahead
on the same file system: ``temppool``), flushed, fsynced, renamed into place; or written
unsynced and made durable later, many at once (``sync_written``)."""

from __future__ import annotations

import contextlib
import errno
import functools
import itertools
import os
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import BinaryIO

from incr import temppool
from incr.valueclass import valueclass


def _current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


#: What a new file gets: 0666 less the umask.
FILE_MODE = 0o666 & ~_current_umask()
#: What ``mkdir`` gives a folder (and ``chmod +x`` a new file): 0777 less the umask.
DIR_MODE = 0o777 & ~_current_umask()


def atomic_write(path: Path, data: bytes, durable: bool = True) -> None:
    """Replace ``path`` with ``data`` so readers see the old or the new file, never a part.

    On any error the temp file is removed and ``path`` is left as it was; the error propagates
    (an OSError carries ``path`` as its filename). ``durable=False`` skips the fsync: for files
    that only save work (caches checked when read), where a power cut may leave the old file,
    an empty one or none, and that costs time, never a wrong result.
    """
    atomic_write_parts(path, (data,), durable)


def atomic_write_parts(
    path: Path, parts: Sequence[bytes | memoryview], durable: bool = True
) -> None:
    """``atomic_write`` of the concatenation of ``parts``, written one after the other (a large
    array's own buffer is written without being copied first)."""
    with _replacing(path, durable) as (fh, _):
        for part in parts:
            fh.write(part)


def atomic_copy(
    src: Path, dest: Path, check: Callable[[str], object] | None = None, durable: bool = True
) -> None:
    """Replace ``dest`` with a copy of file ``src``, atomically as ``atomic_write`` does
    (``durable=False`` skips the fsync, as there).

    The kernel copies the bytes (``sendfile``): however large the file, none of it passes
    through this process's memory. ``check(temp path)`` runs on the finished copy before it is
    moved into place; when it raises, ``dest`` is left as it was.
    """
    with open(src, "rb") as source, _replacing(dest, durable) as (fh, tmp):
        _copy_bytes(source, fh)
        fh.flush()  # the fallback copy writes through the buffer: all of it on disk for check
        if check is not None:
            check(tmp)


@contextlib.contextmanager
def _replacing(path: Path, durable: bool = True) -> Iterator[tuple[BinaryIO, str]]:
    """A new temp file beside ``path`` to write, and its path. Once the block ends, the file
    is flushed, fsynced (when ``durable``) and renamed onto ``path``; on any error it is
    removed and ``path`` stays as it was."""
    with staged(path.parent, path.name, durable) as out:
        out.dest = path
        yield out.file, out.temp


@valueclass
class Staged:
    """A temp file being written (``file``, at ``temp``), and where it goes: ``dest``, set by
    the writer before the block ends; left None, the file is dropped."""

    file: BinaryIO
    temp: str
    dest: Path | None = None


@contextlib.contextmanager
def staged(folder: Path, name: str, durable: bool = True) -> Iterator[Staged]:
    """A new temp file in ``folder`` (``.NAME.PID-N.tmp``, or one ``temppool`` made ahead on
    its file system) for a destination decided while it is written. When the block ends with
    ``dest`` set, the file is flushed, fsynced (when ``durable``) and renamed onto it (same
    file system: ``folder`` and ``dest`` must be on one); with ``dest`` None it is removed
    unsynced. On any error it is removed and ``dest`` stays as it was."""
    fd, tmp = _new_temp(folder, name)
    out: Staged | None = None
    try:
        with open(fd, "wb", buffering=_BUFFER) as fh:
            out = Staged(fh, tmp)
            yield out
            if out.dest is not None and durable:
                fh.flush()
                os.fsync(fh.fileno())
        if out.dest is None:
            os.unlink(tmp)
        else:
            _put_in_place(tmp, out.dest, durable)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        if isinstance(exc, OSError) and exc.filename is None:
            # ENOSPC from write or fsync names no file: say which
            exc.filename = str(out.dest if out and out.dest else folder / name)
        raise


def _put_in_place(tmp: str, dest: Path, durable: bool) -> None:
    """Rename temp file ``tmp`` onto ``dest``, making ``dest``'s folder when it is new. A temp
    file made ahead (``temppool``) in a folder that turns out to be on another mount than
    ``dest`` (a bind mount keeps the device number) is copied beside ``dest`` instead, and
    that folder gets no more of them."""
    try:
        try:
            os.replace(tmp, dest)
        except FileNotFoundError:  # the destination's folder is new
            dest.parent.mkdir(parents=True, exist_ok=True)
            os.replace(tmp, dest)
    except OSError as exc:
        if exc.errno != errno.EXDEV or os.path.dirname(tmp) == os.fspath(dest.parent):
            raise
        temppool.refuse(os.fspath(dest.parent))
        with open(tmp, "rb") as source, _replacing(dest, durable) as (fh, _):
            _copy_bytes(source, fh)
        os.unlink(tmp)


#: The write buffer of a temp file. Given, ``open`` skips asking whether the file is a
#: terminal (an ``ioctl`` that fails, 0.02 ms each on the virtual disks measured here).
_BUFFER = 1 << 16

#: Numbers the temp files of this process (with its pid, they never collide with another's).
_temp_numbers = itertools.count()


def _new_temp(folder: Path, name: str) -> tuple[int, str]:
    """A new file (``O_EXCL``) for a write into ``folder``: its descriptor and path. One
    ``temppool`` made ahead while a run goes on, else one made now in ``folder`` (created
    when missing). It gets the usual mode (0666 less the umask), not mkstemp's 0600, and
    costs no random name or folder test on the way of the many small writes of a run."""
    ready = temppool.take(os.fspath(folder))  # made ahead while a run goes on
    if ready is not None:
        return ready
    for _ in range(10000):
        tmp = os.path.join(folder, f".{name}.{os.getpid()}-{next(_temp_numbers)}.tmp")
        try:
            start = time.perf_counter()
            fd = os.open(tmp, temppool.TEMP_FLAGS, 0o666)
            temppool.made(time.perf_counter() - start)  # files are made ahead while slow
            return fd, tmp
        except FileExistsError:  # left by a process that had this pid: take the next number
            continue
        except FileNotFoundError:
            folder.mkdir(parents=True, exist_ok=True)
    raise FileExistsError(errno.EEXIST, "no free temp file name", os.fspath(folder))


def sync_written(paths: Sequence[str]) -> None:
    """Make files written without fsync durable (``atomic_write(..., durable=False)``): an
    fsync of each, then of each folder that names one, many at a time.

    A run writes its objects unsynced and calls this before the lockfile that names them is
    written. The file system commits fsyncs that arrive together in one go: about 0.1 ms a
    file here, against 0.3 ms one after another. Many files at once are made durable by one
    ``syncfs`` of their file system instead (``_sync_file_systems``): 0.1 s for 10,000 small
    objects against 1.1 s of fsyncs."""
    if not paths:
        return
    folders = sorted({os.path.dirname(path) for path in paths})
    if len(paths) >= SYNCFS_FROM and _sync_file_systems(len(paths), folders):
        return
    _each_at_once(_fsync_file, paths)
    _each_at_once(_fsync_folder, folders)  # their names, once their bytes are down


#: fsyncs in flight at once (they wait on the disk, not on a core).
_SYNC_THREADS = 16


def _each_at_once(call: Callable[[str], None], paths: Sequence[str]) -> None:
    """``call`` on each path, up to ``_SYNC_THREADS`` at a time; the first error raised.
    Plain threads: ``concurrent.futures`` costs a run with few objects more to import
    (with ``logging``) than its fsyncs take, and one path needs no thread at all."""
    if len(paths) == 1:
        call(paths[0])
        return
    import threading

    failed: list[BaseException] = []

    def work(share: Sequence[str]) -> None:
        try:
            for path in share:
                call(path)
        except BaseException as exc:  # handed to the calling thread
            failed.append(exc)

    count = min(_SYNC_THREADS, len(paths))
    threads = [threading.Thread(target=work, args=(paths[i::count],)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if failed:
        raise failed[0]


#: From this many files on, ``sync_written`` tries one ``syncfs`` in place of their fsyncs...
SYNCFS_FROM = 64
#: ...when the whole machine has at most this many bytes waiting to be written, and this
#: many more per file: ``syncfs`` waits for every pending write on the file system, and
#: another program's large copy must not stall each lockfile write (a disk writes 64 KiB in
#: about the time of one fsync; the files' own pages and their run records count too).
SYNCFS_PENDING = 32 << 20
SYNCFS_PENDING_PER_FILE = 64 << 10


def _sync_file_systems(files: int, folders: Sequence[str]) -> bool:
    """One ``syncfs`` of each file system holding ``folders`` (the bytes and names of the
    ``files`` written in them alike), in place of an fsync of each file and folder. False,
    having done nothing that counts, where ``syncfs`` is missing (not Linux), when the pending
    writes of the machine are too many for the files at hand, or when it reports an error: the
    fsyncs then name the file that fails."""
    pending = _pending_bytes()
    if pending is None or pending > SYNCFS_PENDING + files * SYNCFS_PENDING_PER_FILE:
        return False
    syncfs = _syncfs()
    if syncfs is None:
        return False
    one_per_device: dict[int, str] = {}
    try:
        for folder in folders:
            one_per_device.setdefault(os.stat(folder).st_dev, folder)
    except OSError:  # a folder gone or unreadable: the fsyncs sort it out
        return False
    for folder in one_per_device.values():
        try:
            fd = os.open(folder, os.O_RDONLY)
        except OSError:
            return False
        try:
            if syncfs(fd) != 0:
                return False
        finally:
            os.close(fd)
    return True


def _pending_bytes() -> int | None:
    """Bytes the machine has yet to write to disk (``Dirty`` and ``Writeback`` of
    ``/proc/meminfo``); None where that cannot be read."""
    try:
        with open("/proc/meminfo", "rb") as fh:
            lines = fh.read().splitlines()
    except OSError:
        return None
    fields = dict(line.split(b":", 1) for line in lines if b":" in line)
    try:
        return sum(int(fields[name].split()[0]) << 10 for name in (b"Dirty", b"Writeback"))
    except (KeyError, ValueError, IndexError):
        return None


@functools.cache
def _syncfs() -> Callable[[int], int] | None:
    """libc's ``syncfs(fd)`` on Linux 5.8 or later, or None. Before 5.8 it did not report a
    failed write-back, which an fsync does (as ``EIO``)."""
    if not sys.platform.startswith("linux") or _kernel(os.uname().release) < (5, 8):
        return None
    import ctypes  # here: only runs that write many objects at once need it

    try:
        syncfs = ctypes.CDLL(None, use_errno=True).syncfs
    except (OSError, AttributeError):
        return None
    syncfs.argtypes = [ctypes.c_int]
    syncfs.restype = ctypes.c_int
    return syncfs


def _kernel(release: str) -> tuple[int, int]:
    """(major, minor) of a Linux release string (``6.1.0-18-amd64``); (0, 0) if unreadable."""
    parts = release.split(".")
    try:
        return int(parts[0]), int("".join(c for c in parts[1][:3] if c.isdigit()) or "x")
    except (IndexError, ValueError):
        return (0, 0)


def _fsync_file(path: str) -> None:
    with contextlib.suppress(FileNotFoundError):  # removed since (a damaged object)
        _fsync(path)


def _fsync_folder(path: str) -> None:
    with contextlib.suppress(OSError):  # not every system opens or syncs a folder
        _fsync(path)


def _fsync(path: str) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def file_stamp(path: str) -> list[int] | None:
    """What tells one version of a file from another without reading it: size, modification
    time, change time and inode (None when it cannot be stat'ed). The change time moves with
    every write, even one that puts the old modification time back (``cp -p``, ``touch -r``)."""
    try:
        st = os.stat(path or ".")
    except OSError:
        return None
    return [st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino]


def has_size(path: str | os.PathLike[str], size: int) -> bool:
    """True when the file at ``path`` exists with ``size`` bytes. (A stored object of another
    size, which a power cut after an unsynced write can leave empty, is written again.)"""
    try:
        return os.stat(path).st_size == size
    except (FileNotFoundError, NotADirectoryError):
        return False


def _copy_bytes(source: BinaryIO, target: BinaryIO) -> None:
    """Copy the rest of ``source`` to ``target`` in the kernel where it can (Linux's
    ``sendfile`` takes any file; elsewhere it wants a socket), else through a small buffer."""
    from shutil import copyfileobj  # here: a status copies nothing

    out, done = target.fileno(), 0
    if not _KERNEL_COPY:
        copyfileobj(source, target, 1 << 20)
        return
    try:
        while sent := os.sendfile(out, source.fileno(), None, 1 << 30):
            done += sent
    except OSError as exc:
        if done or exc.errno not in (errno.EINVAL, errno.ENOSYS, errno.ENOTSUP):
            raise
        copyfileobj(source, target, 1 << 20)


_KERNEL_COPY = sys.platform.startswith("linux") and hasattr(os, "sendfile")


_GITIGNORE = b"# written by incr: the cache is local to this machine\n*\n"


def ensure_cache_dir(folder: Path) -> None:
    """Create the cache folder with a .gitignore that keeps all of it out of git."""
    folder.mkdir(parents=True, exist_ok=True)
    ignore = folder / ".gitignore"
    if not ignore.exists():
        atomic_write(ignore, _GITIGNORE)
