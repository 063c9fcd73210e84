"""The content-addressed object store and the run cache (see ``runcache``), under ``.pipecache/``.

``objects/ab/cdef...`` holds bytes named by their blake3 digest; writing a digest that exists
does nothing; reading verifies the digest and treats a mismatch as a miss. ``runs/`` maps each
fingerprint ever computed to the artifacts it produced, so reverting an edit restores old outputs
without executing the step.
"""

from __future__ import annotations

import contextlib
import mmap
import os
import shutil
import threading
import time
from collections.abc import Sequence
from pathlib import Path

from incr import trees
from incr.fingerprint import canonical_json
from incr.hashing import MMAP_THRESHOLD, buffers_digest, file_digest
from incr.runcache import RunCache
from incr.runcache import RunRecord as RunRecord
from incr.storage import (
    atomic_copy,
    atomic_write_parts,
    ensure_cache_dir,
    has_size,
    staged,
    sync_written,
)
from incr.storage import atomic_write as atomic_write  # a test patches it here


class ObjectMissing(LookupError):
    """No object with this digest is stored."""


class ObjectCorrupt(LookupError):
    """An object's bytes no longer match its digest; the bad file has been removed."""


#: From this size on, ``put_parts`` hashes and writes at the same time.
RACE_THRESHOLD = 64 << 20
#: Between two chunks of that write, it checks whether the object turned out to be stored.
_WRITE_CHUNK = 16 << 20


class Store(RunCache):
    def __init__(self, cache_dir: Path) -> None:
        self.dir = cache_dir
        self.objects = cache_dir / "objects"
        self._objects = os.fspath(self.objects)
        self.runs = cache_dir / "runs"
        #: While True, objects are written without their own fsync and listed in ``written``
        #: until ``sync``: set by a run, which syncs before each lockfile write.
        self.defer_sync = False
        self.written: list[str] = []
        self._ensured = False

    def sync(self) -> None:
        """Make the objects written since the last sync durable (see ``defer_sync``)."""
        written, self.written = self.written, []
        sync_written(written)

    def _durable(self, path: Path) -> bool:
        """Whether to fsync the object about to be written at ``path``: not while syncs are
        deferred (it is listed for the next ``sync`` instead)."""
        if self.defer_sync:
            self.written.append(os.fspath(path))
        return not self.defer_sync

    def ensure(self) -> None:
        """Create the cache folder with its own .gitignore (once, unless it was removed)."""
        if not self._ensured or not os.path.isdir(self.dir):
            ensure_cache_dir(self.dir)
            self._ensured = True

    def object_path(self, digest: str) -> Path:
        return self.objects / digest[:2] / digest[2:]

    def has(self, digest: str) -> bool:
        # String paths: a no-op status asks this once per recorded output.
        return os.path.isfile(os.path.join(self._objects, digest[:2], digest[2:]))

    def put(self, data: bytes) -> str:
        return self.put_parts((data,))

    def put_parts(self, parts: Sequence[bytes | memoryview]) -> str:
        """Store the concatenation of ``parts`` without joining them in memory; its digest.

        Large parts are hashed in place on all cores and written straight from the caller's
        memory (``materializers.dump_parts`` gives a numpy array's own buffer).
        """
        size = sum(memoryview(part).nbytes for part in parts)
        if size >= RACE_THRESHOLD:
            return self._put_racing(parts)
        digest = buffers_digest(parts)
        path = self.object_path(digest)
        if not has_size(path, size):
            self.ensure()
            atomic_write_parts(path, parts, self._durable(path))
        return digest

    def _put_racing(self, parts: Sequence[bytes | memoryview]) -> str:
        """``put_parts`` of a large object: hash on a thread while this one writes a temp file.

        The hash (one core, about 6 GiB/s) finishes long before the write and its fsync: a
        new object is stored in the time of the write alone. When the object turns out to be
        stored already (a step that reran with the same result), the write stops at the next
        chunk and its temp file is dropped unsynced.
        """
        found: list[str] = []
        failed: list[BaseException] = []

        def hash_parts() -> None:
            try:
                found.append(buffers_digest(parts, one_thread=True))
            except BaseException as exc:  # handed to the writing thread
                failed.append(exc)

        hasher = threading.Thread(target=hash_parts, name="incr-hash", daemon=True)
        self.ensure()
        hasher.start()
        try:
            with staged(self.objects, "object", durable=not self.defer_sync) as out:
                stored: bool | None = None
                for view in (memoryview(part).cast("B") for part in parts):
                    for start in range(0, view.nbytes, _WRITE_CHUNK):
                        if stored is None and found:
                            stored = self.has(found[0])
                        if stored:
                            break
                        out.file.write(view[start : start + _WRITE_CHUNK])
                hasher.join()
                if failed:
                    raise failed[0]
                digest = found[0]
                if not stored and not self.has(digest):  # written whole, and still new
                    out.dest = self.object_path(digest)
                    self._durable(out.dest)
        finally:
            hasher.join()
        if stored and not self.has(digest):  # removed since it was seen: store it whole
            path = self.object_path(digest)
            atomic_write_parts(path, parts, self._durable(path))
        return digest

    def get(self, digest: str) -> bytes:
        """The object's verified bytes.

        Raises ObjectMissing, or ObjectCorrupt when the bytes do not match the digest (the bad
        file is removed so that the next ``put`` of the right bytes stores it again).
        """
        path = self.object_path(digest)
        try:
            data = path.read_bytes()
        except (FileNotFoundError, NotADirectoryError):
            raise ObjectMissing(f"cache object {digest} is missing") from None
        if buffers_digest((data,)) != digest:
            raise _corrupt(path)
        return data

    def check(self, digest: str) -> None:
        """Raise ObjectMissing or ObjectCorrupt (removing the bad file) unless the object's
        bytes match its digest; read in chunks, so a large object costs no memory."""
        path = self.object_path(digest)
        try:
            actual = file_digest(path)
        except (FileNotFoundError, NotADirectoryError):
            raise ObjectMissing(f"cache object {digest} is missing") from None
        if actual != digest:
            raise _corrupt(path)

    def get_view(self, digest: str) -> memoryview:
        """The object's verified bytes, like ``get``, without copying a large object.

        An object of ``MMAP_THRESHOLD`` bytes or more is memory-mapped copy-on-write and
        verified through that same mapping: the view is writable, its writes stay private to
        this process, and no copy is made until a page is written. (incr never rewrites an
        object in place; another process doing so while the view is alive would go unseen.)
        A smaller object is read, as by ``get``, into a read-only view.
        Raises ObjectMissing or ObjectCorrupt like ``get``.
        """
        path = self.object_path(digest)
        try:
            with open(path, "rb") as fh:
                if os.fstat(fh.fileno()).st_size < MMAP_THRESHOLD:
                    view = memoryview(fh.read())
                else:
                    view = memoryview(mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_COPY))
        except (FileNotFoundError, NotADirectoryError):
            raise ObjectMissing(f"cache object {digest} is missing") from None
        if buffers_digest((view,)) != digest:
            view.release()
            raise _corrupt(path)
        return view

    # ------------------------------------------------------------------ files

    def put_file(self, path: Path) -> str:
        """Store a file's bytes; the digest equals ``hashing.file_digest`` of the file.

        The file is hashed, then copied by the kernel (not read into memory) and the copy is
        hashed again before it is named: a file changed in between is stored as it is read.
        """
        digest = file_digest(path)
        target = self.object_path(digest)
        with contextlib.suppress(OSError):
            if has_size(target, path.stat().st_size):
                return digest
        self.ensure()

        def same_bytes(copy: str) -> None:
            if file_digest(copy) != digest:
                raise _Changed

        try:
            atomic_copy(path, target, check=same_bytes, durable=self._durable(target))
        except _Changed:  # rewritten while being stored: store what it holds now, in memory
            return self.put(path.read_bytes())
        return digest

    def put_tree(self, folder: Path, root: Path | None = None) -> str:
        """Store every file under ``folder`` and the folder's manifest; the manifest's digest.

        The manifest (``trees``) records the files with their modes, the symlinks as links and
        the empty folders, in the bytes ``hashing`` digests for a folder, so the two digests
        agree. Raises UnsafePath, naming the link, when a symlink leads out of ``root`` (the
        project; without it, out of ``folder``).
        """
        bound = os.fspath(root if root is not None else folder)

        def content(name: str, full: str, st: os.stat_result, stored: bool) -> str:
            return self.put_file(Path(full)) if stored else file_digest(full, st.st_size)

        entries = trees.walk(os.fspath(folder), content, bound)
        for entry in entries:
            link = os.path.join(folder, entry.path)
            if entry.kind == trees.LINK and not trees.leads_inside(link, entry.target, bound):
                shown = os.path.relpath(link, bound).replace(os.sep, "/")
                where = "the project" if root is not None else os.fspath(folder)
                raise UnsafePath(f"{shown} is a symlink to {entry.target}, outside {where}")
        return self.put(trees.encode(entries))

    def restore_file(
        self, digest: str, dest: Path, root: Path, mode: str = "", durable: bool = True
    ) -> None:
        """Write the object ``digest`` to ``dest`` atomically, with ``mode`` (a ``trees`` mode:
        empty for the usual one; ``durable=False``: without the fsync, for files whose loss
        shows as a modified output). Raises ObjectMissing/Corrupt, UnsafePath when ``dest``
        would land outside ``root``."""
        _check_inside(dest, root)
        source = self.object_path(digest)
        if not source.is_file():
            raise ObjectMissing(f"cache object {digest} is missing")

        def verified(copy: str) -> None:
            if file_digest(copy) != digest:
                raise _corrupt(source)
            if mode:
                os.chmod(copy, trees.mode_bits(mode, False))

        atomic_copy(source, dest, check=verified, durable=durable)

    def restore_tree(
        self, digest: str, dest: Path, root: Path, kept: Path | None = None
    ) -> list[tuple[Path, Path]]:
        """Make folder ``dest`` hold what manifest ``digest`` records: its files with their
        modes, its links, its empty folders, and nothing else.

        Nothing in ``dest`` is deleted: each file or link the manifest does not record (one the
        user added, or a file where it records a link) is moved to ``kept`` (by default
        ``kept/TIMESTAMP`` in the cache), at its path from ``root``; the moves are returned as
        (from, to). Folders it does not record are removed once empty. Raises ObjectMissing
        (before changing anything), ObjectCorrupt, and UnsafePath when ``dest`` resolves
        outside ``root`` or the manifest names a path outside ``dest`` or a link leading out
        of ``root`` (before changing anything).
        """
        _check_inside(dest, root)
        entries = self.tree(digest)
        _check_entries(digest, entries, dest, root)
        for entry in entries:
            if entry.kind == trees.FILE and not self.has(entry.digest):
                raise ObjectMissing(f"cache object {entry.digest} is missing")
        if kept is None:
            kept = self.dir / "kept" / time.strftime("%Y%m%d-%H%M%S")
        restore = _TreeRestore(self, dest, root, kept, entries)
        restore.run()
        return restore.moved

    def tree(self, digest: str) -> list[trees.Entry]:
        """The entries of a folder artifact's manifest (``trees``). Raises ObjectMissing,
        ObjectCorrupt (also for bytes that are not a manifest)."""
        try:
            return trees.decode(self.get(digest))
        except (ValueError, TypeError) as exc:
            raise ObjectCorrupt(f"cache manifest {digest} is malformed ({exc})") from None

    def manifest(self, digest: str) -> dict[str, str]:
        """The files of a folder artifact: relative path -> object digest."""
        return {e.path: e.digest for e in self.tree(digest) if e.kind == trees.FILE}


class UnsafePath(ValueError):
    """A restore would write outside the project root."""


def _check_inside(dest: Path, root: Path) -> None:
    real_root = os.path.realpath(root)
    real = os.path.realpath(dest)
    if real != real_root and not real.startswith(os.path.join(real_root, "")):
        raise UnsafePath(f"refusing to write {dest}: it resolves outside {root}")


class _Changed(Exception):
    """A file changed while it was being stored."""


def _corrupt(path: Path) -> ObjectCorrupt:
    """Remove an object whose bytes do not match its name; the error to raise."""
    with contextlib.suppress(OSError):
        path.unlink()
    return ObjectCorrupt(f"cache object {path} does not match its digest")


def canonical_listing(listing: list[list[str]]) -> bytes:
    return canonical_json(listing).encode()


def _check_entries(digest: str, entries: list[trees.Entry], dest: Path, root: Path) -> None:
    """Raise UnsafePath when a manifest names a path outside its folder or a link that leads
    out of ``root``."""
    for entry in entries:
        rel = Path(entry.path)
        if rel.is_absolute() or ".." in rel.parts or (entry.path == "." and entry.kind != "dir"):
            raise UnsafePath(f"cache manifest {digest} names {entry.path!r}, outside its folder")
        if entry.kind == trees.LINK and not trees.leads_inside(
            os.fspath(dest / rel), entry.target, os.fspath(root)
        ):
            raise UnsafePath(
                f"cache manifest {digest} links {entry.path!r} to {entry.target!r}, "
                "outside the project"
            )


class _TreeRestore:
    """One ``Store.restore_tree``: move aside what the manifest does not record, then write
    what it records, then give the folders their modes (last: a read-only folder is filled
    first)."""

    def __init__(
        self, store: Store, dest: Path, root: Path, kept: Path, entries: list[trees.Entry]
    ) -> None:
        self.store, self.dest, self.root, self.kept = store, dest, root, kept
        self.entries = [e for e in entries if e.path != trees.SELF]
        self.wanted = {e.path: e for e in self.entries}
        self.modes = {trees.SELF: next((e.mode for e in entries if e.path == trees.SELF), "")}
        for entry in self.entries:
            parts = entry.path.split("/")
            for depth in range(1, len(parts)):
                self.modes.setdefault("/".join(parts[:depth]), "")
            if entry.kind == trees.DIR:
                self.modes[entry.path] = entry.mode
        self.moved: list[tuple[Path, Path]] = []

    def run(self) -> None:
        if os.path.lexists(self.dest) and not self.dest.is_dir():
            self._move_aside(self.dest)
        self.dest.mkdir(parents=True, exist_ok=True)
        self._clear(os.fspath(self.dest), "")
        for entry in self.entries:
            path = self.dest / entry.path
            if entry.kind == trees.DIR:
                _check_inside(path, self.root)
                path.mkdir(parents=True, exist_ok=True)
            elif entry.kind == trees.FILE:
                self._file(entry, path)
            else:
                self._link(entry, path)
        for rel in sorted(self.modes, key=lambda p: p.count("/") + (p != trees.SELF), reverse=True):
            path = self.dest if rel == trees.SELF else self.dest / rel
            _chmod(path, trees.mode_bits(self.modes[rel], True))

    def _clear(self, folder: str, inner: str) -> None:
        """Move aside every file and link below ``folder`` that is not recorded as it is;
        remove the folders not recorded once emptied."""
        _chmod(folder, os.stat(folder).st_mode | 0o700)  # to be emptied and filled
        with os.scandir(folder) as found:
            items = list(found)
        for item in items:
            path = inner + item.name
            if item.is_dir(follow_symlinks=False):
                self._clear(item.path, path + "/")
                if path not in self.modes:
                    os.rmdir(item.path)
            elif not self._kept_in_place(item, self.wanted.get(path)):
                self._move_aside(Path(item.path))

    @staticmethod
    def _kept_in_place(item: os.DirEntry[str], entry: trees.Entry | None) -> bool:
        """True for a file where the manifest records a file (its bytes and mode are put right
        next), and for a link where it records a link (rewritten when it leads elsewhere)."""
        if entry is None or entry.kind == trees.DIR:
            return False
        if entry.kind == trees.LINK:
            return item.is_symlink()
        return not item.is_symlink() and item.is_file(follow_symlinks=False)

    def _move_aside(self, path: Path) -> None:
        rel = os.path.relpath(path, self.root)
        target, count = self.kept / rel, 0
        while os.path.lexists(target):
            count += 1
            target = self.kept / f"{rel}.{count}"
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.replace(path, target)
        except OSError:  # another file system: copied, then removed
            shutil.move(path, target)
        self.moved.append((path, target))

    def _file(self, entry: trees.Entry, path: Path) -> None:
        if path.is_file() and not path.is_symlink() and file_digest(path) == entry.digest:
            _chmod(path, trees.mode_bits(entry.mode, False))
        else:
            self.store.restore_file(entry.digest, path, self.root, entry.mode)

    def _link(self, entry: trees.Entry, path: Path) -> None:
        _check_inside(path.parent, self.root)
        if path.is_symlink() and os.readlink(path) == entry.target:
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        temp = path.parent / f".{path.name}.{os.urandom(4).hex()}.tmp"
        os.symlink(entry.target, temp)
        try:
            os.replace(temp, path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(temp)
            raise


def _chmod(path: str | os.PathLike[str], bits: int) -> None:
    """Give ``path`` the permission bits ``bits`` (keeping setuid, setgid and sticky bits),
    unless it has them."""
    mode = os.lstat(path).st_mode
    if mode & 0o777 != bits & 0o777:
        os.chmod(path, (mode & 0o7000) | (bits & 0o777))
