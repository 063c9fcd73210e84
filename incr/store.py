"""The content-addressed object store and the run cache (see ``runcache``), under ``.pipecache/``.

``objects/ab/cdef...`` holds bytes named by their blake3 digest, and ``packs/`` the small objects
a run made (see ``packs``); writing a digest that exists does nothing; reading verifies the
digest and treats a mismatch as a miss. ``runs/`` maps each fingerprint ever computed to the
artifacts it produced, so reverting an edit restores old outputs without executing the step.
"""

from __future__ import annotations

import contextlib
import mmap
import os
import threading
import time
from collections.abc import Sequence
from pathlib import Path

from incr import trees
from incr.fingerprint import canonical_json
from incr.hashing import MMAP_THRESHOLD, buffers_digest, file_digest
from incr.packs import PACKED_MAX, PackedObjects
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
from incr.treerestore import TreeRestore, check_entries, check_inside
from incr.treerestore import UnsafePath as UnsafePath


class ObjectMissing(LookupError):
    """No object with this digest is stored."""


class ObjectCorrupt(LookupError):
    """An object's bytes no longer match its digest; the bad file has been removed."""


#: From this size on, ``put_parts`` hashes and writes at the same time.
RACE_THRESHOLD = 64 << 20
#: Between two chunks of that write, it checks whether the object turned out to be stored.
_WRITE_CHUNK = 16 << 20


class Store(RunCache, PackedObjects):
    def __init__(self, cache_dir: Path) -> None:
        self.dir = cache_dir
        self.objects = cache_dir / "objects"
        self._objects = os.fspath(self.objects)
        self.runs = cache_dir / "runs"
        self.packs = cache_dir / "packs"
        #: While True, objects are written without their own fsync and listed in ``written``
        #: until ``sync``: set by a run, which syncs before each lockfile write.
        self.defer_sync = False
        #: While True, small objects are appended to a pack (``packs``): set by a run whose
        #: steps run on this machine.
        self.pack_small = False
        self.written: list[str] = []
        self._ensured = False

    def sync(self) -> None:
        """Make the objects written since the last sync durable (see ``defer_sync``)."""
        written, self.written = self.written, []
        sync_written([*written, *self.unsynced_packs()])

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
        if self.known_packed(digest):
            return True
        return os.path.isfile(self._loose(digest)) or self.packed(digest) is not None

    def _loose(self, digest: str) -> str:
        """``object_path`` as a string, made without ``pathlib`` (asked once per step)."""
        return os.path.join(self._objects, digest[:2], digest[2:])

    def loose_path(self, digest: str) -> Path:
        """The object's own file, written from its pack when it is only packed (for what
        needs a file: a restored output, an upload). Raises ObjectMissing, ObjectCorrupt."""
        path = self.object_path(digest)
        if not path.is_file():
            data = self.get(digest)
            if not path.is_file():
                self.ensure()
                atomic_write_parts(path, (data,))
        return path

    def size_of(self, digest: str) -> int | None:
        """The object's size in bytes, None when it is not stored."""
        with contextlib.suppress(OSError):
            return self.object_path(digest).stat().st_size
        place = self.packed(digest)
        return None if place is None else place[2]

    def discard(self, digest: str) -> None:
        """Remove the object, wherever it is: the next ``put`` of its bytes stores it again."""
        self.object_path(digest).unlink(missing_ok=True)
        self.discard_packed(digest)

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
        loose = self._loose(digest)
        if self.pack_small and size < PACKED_MAX:  # the index read when the run began
            if not self.known_packed(digest) and not has_size(loose, size):
                self.ensure()
                self.append_packed(digest, parts, size)
        elif not has_size(loose, size) and (size >= PACKED_MAX or self.packed(digest) is None):
            self.ensure()
            path = self.object_path(digest)
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
            return self._from_pack(digest)
        if buffers_digest((data,)) != digest:
            raise _corrupt(path)
        return data

    def _from_pack(self, digest: str) -> bytes:
        """The verified bytes of a packed object (see ``get``)."""
        data = self.packed_bytes(digest)
        if data is None:
            raise ObjectMissing(f"cache object {digest} is missing")
        if buffers_digest((data,)) != digest:
            self.discard_packed(digest)
            raise ObjectCorrupt(f"cache object {digest} in {self.packs} does not match its digest")
        return data

    def check(self, digest: str) -> None:
        """Raise ObjectMissing or ObjectCorrupt (removing the bad file) unless the object's
        bytes match its digest; read in chunks, so a large object costs no memory."""
        path = self.object_path(digest)
        try:
            actual = file_digest(path)
        except (FileNotFoundError, NotADirectoryError):
            self._from_pack(digest)
            return
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
            return memoryview(self._from_pack(digest))
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
        check_inside(dest, root)
        source = self.loose_path(digest)

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
        check_inside(dest, root)
        entries = self.tree(digest)
        check_entries(digest, entries, dest, root)
        for entry in entries:
            if entry.kind == trees.FILE and not self.has(entry.digest):
                raise ObjectMissing(f"cache object {entry.digest} is missing")
        if kept is None:
            kept = self.dir / "kept" / time.strftime("%Y%m%d-%H%M%S")
        restore = TreeRestore(self.restore_file, dest, root, kept, entries)
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


class _Changed(Exception):
    """A file changed while it was being stored."""


def _corrupt(path: Path) -> ObjectCorrupt:
    """Remove an object whose bytes do not match its name; the error to raise."""
    with contextlib.suppress(OSError):
        path.unlink()
    return ObjectCorrupt(f"cache object {path} does not match its digest")


def canonical_listing(listing: list[list[str]]) -> bytes:
    return canonical_json(listing).encode()
