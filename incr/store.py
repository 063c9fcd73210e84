"""The content-addressed object store and the run cache, under ``.pipecache/``.

``objects/ab/cdef...`` holds bytes named by their blake3 digest; writing a digest that exists
does nothing; reading verifies the digest and treats a mismatch as a miss. ``runs/FP`` maps a
fingerprint ever computed to the artifacts it produced, so reverting an edit restores old outputs
without executing the step.
"""

from __future__ import annotations

import contextlib
import json
import mmap
import os
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from incr.hashing import MMAP_THRESHOLD, buffers_digest, file_digest
from incr.model import Artifact
from incr.storage import (
    atomic_copy,
    atomic_write,
    atomic_write_parts,
    ensure_cache_dir,
    staged,
)


class ObjectMissing(LookupError):
    """No object with this digest is stored."""


class ObjectCorrupt(LookupError):
    """An object's bytes no longer match its digest; the bad file has been removed."""


#: From this size on, ``put_parts`` hashes and writes at the same time.
RACE_THRESHOLD = 64 << 20
#: Between two chunks of that write, it checks whether the object turned out to be stored.
_WRITE_CHUNK = 16 << 20


class Store:
    def __init__(self, cache_dir: Path) -> None:
        self.dir = cache_dir
        self.objects = cache_dir / "objects"
        self._objects = os.fspath(self.objects)
        self.runs = cache_dir / "runs"

    def ensure(self) -> None:
        """Create the cache folder with its own .gitignore."""
        ensure_cache_dir(self.dir)

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
        if sum(memoryview(part).nbytes for part in parts) >= RACE_THRESHOLD:
            return self._put_racing(parts)
        digest = buffers_digest(parts)
        path = self.object_path(digest)
        if not path.is_file():
            self.ensure()
            atomic_write_parts(path, parts)
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
            with staged(self.objects, "object") as out:
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
        finally:
            hasher.join()
        if stored and not self.has(digest):  # removed since it was seen: store it whole
            atomic_write_parts(self.object_path(digest), parts)
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
        if target.is_file():
            return digest
        self.ensure()

        def same_bytes(copy: str) -> None:
            if file_digest(copy) != digest:
                raise _Changed

        try:
            atomic_copy(path, target, check=same_bytes)
        except _Changed:  # rewritten while being stored: store what it holds now, in memory
            return self.put(path.read_bytes())
        return digest

    def put_tree(self, folder: Path) -> str:
        """Store every file under ``folder`` and a manifest of them; the manifest's digest.

        The manifest is the canonical JSON of sorted ``[relative path, digest]`` pairs, the
        same text ``hashing`` digests for a folder, so the two digests agree.
        """
        listing = []
        for dirpath, dirnames, filenames in os.walk(folder):
            dirnames.sort()
            for name in sorted(filenames):
                full = Path(dirpath) / name
                listing.append([full.relative_to(folder).as_posix(), self.put_file(full)])
        return self.put(canonical_listing(listing))

    def restore_file(self, digest: str, dest: Path, root: Path) -> None:
        """Write the object ``digest`` to ``dest`` atomically. Raises ObjectMissing/Corrupt,
        UnsafePath when ``dest`` would land outside ``root``."""
        _check_inside(dest, root)
        source = self.object_path(digest)
        if not source.is_file():
            raise ObjectMissing(f"cache object {digest} is missing")

        def verified(copy: str) -> None:
            if file_digest(copy) != digest:
                raise _corrupt(source)

        atomic_copy(source, dest, check=verified)

    def restore_tree(self, digest: str, dest: Path, root: Path) -> None:
        """Make folder ``dest`` hold exactly the files of manifest ``digest``."""
        _check_inside(dest, root)
        files = self.manifest(digest)
        for rel in files:
            if Path(rel).is_absolute() or ".." in Path(rel).parts:
                raise UnsafePath(f"cache manifest {digest} names {rel!r}, outside its folder")
        if dest.is_dir():
            for dirpath, _, filenames in os.walk(dest):
                for name in filenames:
                    full = Path(dirpath) / name
                    if full.relative_to(dest).as_posix() not in files:
                        full.unlink()
        for rel, digest_of_file in sorted(files.items()):
            self.restore_file(digest_of_file, dest / rel, root)

    # ------------------------------------------------------------------ run cache

    def record_run(
        self,
        fingerprint: str,
        outputs: dict[str, Artifact],
        reads: dict[str, str],
        created: float,
        step: str = "",
    ) -> None:
        """Remember what ``fingerprint`` produced, what it read, when (seconds since epoch), and
        for which step (``PIPELINE.STEP``, for ``incr gc --keep``).

        Reads are not part of the fingerprint, so one fingerprint may have several records,
        one per set of read digests (the newest ``RUN_VARIANTS`` are kept), and reverting a
        file a step read restores that step's old outputs.
        """
        record = {
            "outputs": {name: art.encode() for name, art in sorted(outputs.items())},
            "reads": dict(sorted(reads.items())),
            "created": created,
            "step": step,
        }
        path = self._run_path(fingerprint)
        others = [v for v in self._variants(path) if v.get("reads") != record["reads"]]
        self.ensure()
        data = {"variants": [record, *others][:RUN_VARIANTS]}
        atomic_write(path, json.dumps(data, sort_keys=True).encode(), durable=False)

    def lookup_runs(self, fingerprint: str) -> list[RunRecord]:
        """What ``fingerprint`` produced, newest first, keeping only records whose objects are
        all still stored."""
        records = []
        for variant in self._variants(self._run_path(fingerprint)):
            record = _run_record(variant)
            if record is not None and all(self.has(a.digest) for a in record.outputs.values()):
                records.append(record)
        return records

    def lookup_run(self, fingerprint: str) -> RunRecord | None:
        """The newest usable record of ``fingerprint``, or None."""
        records = self.lookup_runs(fingerprint)
        return records[0] if records else None

    def run_records(self) -> Iterator[tuple[Path, str, float, list[RunRecord]]]:
        """Every run-cache file: (its path, step key, newest created, its readable records)."""
        if not self.runs.is_dir():
            return
        for path in sorted(self.runs.glob("*/*")):
            variants = self._variants(path)
            records = [r for r in map(_run_record, variants) if r is not None]
            if records:
                step = str(variants[0].get("step", ""))
                yield path, step, max(r.created for r in records), records

    def _run_path(self, fingerprint: str) -> Path:
        return self.runs / fingerprint[:2] / fingerprint[2:]

    @staticmethod
    def _variants(path: Path) -> list[dict[str, Any]]:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            variants = data["variants"]
        except (OSError, ValueError, KeyError, TypeError):
            return []
        return [v for v in variants if isinstance(v, dict)] if isinstance(variants, list) else []

    def manifest(self, digest: str) -> dict[str, str]:
        """The files of a folder artifact: relative path -> object digest."""
        try:
            return {str(rel): str(d) for rel, d in json.loads(self.get(digest))}
        except (ValueError, TypeError) as exc:
            raise ObjectCorrupt(f"cache manifest {digest} is malformed ({exc})") from None


#: Records kept per fingerprint (one per distinct set of read digests).
RUN_VARIANTS = 8


def _run_record(variant: dict[str, Any]) -> RunRecord | None:
    try:
        outputs = {n: Artifact.decode(t) for n, t in variant["outputs"].items()}
        reads = {str(k): str(v) for k, v in variant["reads"].items()}
        return RunRecord(outputs, reads, float(variant["created"]))
    except (ValueError, AttributeError, KeyError, TypeError):
        return None


@dataclass(frozen=True)
class RunRecord:
    """One run-cache entry: the outputs a fingerprint produced, the files it read, and when."""

    outputs: dict[str, Artifact]
    reads: dict[str, str]
    created: float


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
    return json.dumps(listing, sort_keys=True, separators=(",", ":"), allow_nan=False).encode()
