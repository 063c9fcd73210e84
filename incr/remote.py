"""The shared remote cache: ``.pipecache/`` objects and run records on any fsspec filesystem.

Layout under the remote's URL, mirroring ``.pipecache/``::

    objects/ab/cdef...          an object: the same bytes and name as in .pipecache/objects/
    runs/ab/cdef.../ID.json     one run record of fingerprint abcdef... (write-once; ID is
                                the digest of its outputs and reads, so the same result has
                                the same name wherever it is pushed from)
    tmp/NAME.tmp                uploads under way, on filesystems without atomic uploads

Invariants:

- An object is uploaded before any record that names it, so a record never points at a
  missing object (``remotegc`` removes records before objects for the same reason).
- An object appears under its final name whole or not at all: object stores (S3, GCS,
  Azure) publish an upload only once it is complete; a folder or SFTP remote receives it in
  ``tmp/`` and renames it into place. A killed push leaves at most temp files.
- Every downloaded object is hashed before it is stored locally: a mismatch is refused and
  nothing is kept (``Fetched.refused``).
- Existence is learned by listing (one listing per two-hex-digit prefix, or of all
  ``objects/`` when many prefixes are wanted), never by one request per object. Transfers
  of many objects are one batch call (fsspec runs it concurrently on async backends);
  objects stream to and from disk, so a large one costs no memory.

The API others build on (for example workers that run steps elsewhere)::

    remote = Remote.open(project, store)
    remote.fetch(digests)          # -> Fetched: the objects now stored locally, verified
    remote.push_objects(digests)   # -> the digests uploaded (those the remote lacked)
"""

from __future__ import annotations

import json
import os
import time
import uuid
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import field
from pathlib import Path
from typing import Any

from incr.digests import canonical_json, digest_bytes
from incr.hashing import file_digest
from incr.model import Artifact
from incr.project import Project
from incr.remoteconf import (
    ATOMIC_PUT,
    BUCKETS,
    RemoteConfig,
    RemoteError,
    open_filesystem,
    remote_config,
    talking,
)
from incr.storage import FILE_MODE
from incr.store import ObjectMissing, Store
from incr.streams import STREAM_FROM, download_all, upload
from incr.valueclass import valueclass

#: From this many distinct prefixes on, one listing of all ``objects/`` is cheaper.
LIST_WHOLE = 24
_HEX = frozenset("0123456789abcdef")


@valueclass
class Fetched:
    """What ``Remote.fetch`` did: objects now stored locally, objects the remote lacks, and
    objects refused because the remote's bytes do not match their digest."""

    stored: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)

    @property
    def complete(self) -> bool:
        return not self.missing and not self.refused


@valueclass(frozen=True)
class SharedRun:
    """A run record as the remote holds it: what ``fingerprint`` produced (``outputs``),
    what it read, when, for which step (``PIPELINE.STEP``), and the files it wrote that no
    ``outs`` lists (``writes``; None: not known, see ``incr.leafwrites``)."""

    fingerprint: str
    step: str
    outputs: dict[str, Artifact]
    reads: dict[str, str]
    created: float
    writes: dict[str, str] | None = None

    @property
    def name(self) -> str:
        """The record's name on the remote: the same result has the same name."""
        body = {"outputs": _encoded(self.outputs), "reads": self.reads}
        return digest_bytes(canonical_json(body).encode(), 32)

    def to_bytes(self) -> bytes:
        body = {
            "fingerprint": self.fingerprint,
            "step": self.step,
            "outputs": _encoded(self.outputs),
            "reads": dict(sorted(self.reads.items())),
            "created": self.created,
        }
        if self.writes is not None:
            body["writes"] = dict(sorted(self.writes.items()))
        return json.dumps(body, sort_keys=True).encode()

    @classmethod
    def from_bytes(cls, data: bytes) -> SharedRun | None:
        """The record, or None for bytes that are not one (never trusted blindly)."""
        try:
            raw = json.loads(data)
            outputs = {str(n): Artifact.decode(t) for n, t in raw["outputs"].items()}
            reads = {str(k): str(v) for k, v in raw["reads"].items()}
            created = float(raw["created"])
            found = raw.get("writes")
            writes = None if found is None else {str(k): str(v) for k, v in found.items()}
            fingerprint, step = str(raw["fingerprint"]), str(raw["step"])
            return cls(fingerprint, step, outputs, reads, created, writes)
        except (ValueError, KeyError, TypeError, AttributeError):
            return None


def _encoded(outputs: dict[str, Artifact]) -> dict[str, str]:
    return {name: art.encode() for name, art in sorted(outputs.items())}


class Remote:
    """One remote cache, opened lazily: nothing is contacted until a method needs it."""

    def __init__(self, config: RemoteConfig, store: Store, fs: Any = None, root: str = "") -> None:
        self.config = config
        self.store = store
        self._fs = fs
        self._root = root
        #: Remote path -> size, from the listings made so far.
        self.sizes: dict[str, int] = {}
        #: Whether a missing folder remote is made (a push), not an error.
        self.creating = False

    @classmethod
    def open(cls, project: Project, store: Store | None = None) -> Remote:
        """The project's remote (``[tool.incr.remote]`` or ``INCR_REMOTE``). Raises
        RemoteError when none is configured."""
        return cls(remote_config(project), store if store is not None else Store(project.cache))

    @property
    def url(self) -> str:
        return self.config.url

    @property
    def fs(self) -> Any:
        if self._fs is None:
            fs, root = open_filesystem(self.config, create=self.creating)
            if self.config.protocol in BUCKETS - {"s3", "s3a"}:  # (S3: its listings say so)
                with talking(self.config, "list"):
                    fs.info(root.split("/", 1)[0])  # a missing bucket or bad key: one line now
            self._fs, self._root = fs, root
        return self._fs

    def path(self, *parts: str) -> str:
        _ = self.fs
        return "/".join((self._root, *parts))

    def object_path(self, digest: str) -> str:
        return self.path("objects", digest[:2], digest[2:])

    def record_path(self, fingerprint: str, name: str) -> str:
        return self.path("runs", fingerprint[:2], fingerprint[2:], f"{name}.json")

    # ------------------------------------------------------------------ existence

    def present(self, digests: Iterable[str]) -> set[str]:
        """Those of ``digests`` the remote holds, learned by listing."""
        wanted = set(digests)
        if not wanted:
            return set()
        prefixes = sorted({d[:2] for d in wanted})
        if len(prefixes) > LIST_WHOLE:
            names = self._find(self.path("objects"))
        else:
            names = self._find_many([self.path("objects", p) for p in prefixes])
        return wanted & {_digest_of(n) for n in names}

    def cut_short(self, digests: Iterable[str]) -> set[str]:
        """Those of ``digests`` the listings made so far show with another size than the
        local copy's: damaged on the remote (a truncated upload, an edit by hand)."""
        found = set()
        for digest in digests:
            there, here = self.sizes.get(self.object_path(digest)), self.store.size_of(digest)
            if there is not None and here is not None and there != here:
                found.add(digest)
        return found

    def listing(self, *parts: str) -> dict[str, dict[str, Any]]:
        """Every file under ``parts`` (path -> fsspec info), for ``remotegc``."""
        with talking(self.config, "list"):
            self.fs.invalidate_cache()
            try:
                found = self.fs.find(self.path(*parts), detail=True)
            except FileNotFoundError:
                if self.config.protocol in ("s3", "s3a"):
                    raise  # a missing bucket (see ``_find``)
                return {}
        return dict(found)

    def _find_many(self, paths: list[str]) -> list[str]:
        """``_find`` of each path, the listings sent at the same time."""
        if len(paths) <= 1:
            return [n for p in paths for n in self._find(p)]
        with ThreadPoolExecutor(min(len(paths), LIST_WHOLE)) as pool:
            return [n for names in pool.map(self._find, paths) for n in names]

    def _find(self, path: str) -> list[str]:
        with talking(self.config, "list"):
            self.fs.invalidate_cache(path)
            try:
                found = self.fs.find(path, detail=True)
                sizes = {p: i.get("size") for p, i in found.items()}
                self.sizes.update({p: int(n) for p, n in sizes.items() if n is not None})
                return list(found)
            except FileNotFoundError:
                if self.config.protocol in ("s3", "s3a"):
                    raise  # S3 lists an absent prefix as empty: this is a missing bucket
                return []

    # ------------------------------------------------------------------ objects

    def push_objects(self, digests: Iterable[str]) -> list[str]:
        """Upload those of ``digests`` the remote lacks (from the local store); the uploaded
        ones. Raises ObjectMissing when one is not stored locally."""
        self.creating = True  # a folder remote not made yet is made
        wanted = set(digests)
        for digest in sorted(wanted):
            if not self.store.has(digest):
                raise ObjectMissing(f"cache object {digest} is missing")
        todo = sorted(wanted - self.present(wanted))
        self.upload(todo)
        return todo

    def upload(self, digests: list[str]) -> None:
        """Copy local objects to the remote, replacing what it holds under their names."""
        if not digests:
            return
        local = [os.fspath(self.store.loose_path(d)) for d in digests]
        self._put(local, [self.object_path(d) for d in digests])

    def _put(self, local: list[str], final: list[str]) -> None:
        """Upload ``local`` files to ``final`` paths: small ones in one batch call, large ones
        streamed one at a time (see ``_stream_up``); through ``tmp/`` and a rename where an
        upload is not atomic."""
        with talking(self.config, "upload"):
            atomic = self.config.protocol in ATOMIC_PUT
            targets = (
                final if atomic else [self.path("tmp", f"{uuid.uuid4().hex}.tmp") for _ in final]
            )
            if not atomic:
                for folder in sorted({p.rsplit("/", 1)[0] for p in [*final, *targets]}):
                    self.fs.makedirs(folder, exist_ok=True)
            pairs = list(zip(local, targets, strict=True))
            small = [(src, dest) for src, dest in pairs if not self._streamed(os.path.getsize(src))]
            if small:
                self.fs.put([src for src, _ in small], [dest for _, dest in small])
            for src, dest in pairs:
                if self._streamed(os.path.getsize(src)):
                    upload(self.fs, src, dest)
            if not atomic:
                for temp, dest in zip(targets, final, strict=True):
                    self.fs.mv(temp, dest)

    def _streamed(self, size: int) -> bool:
        """Large objects go through a bounded buffer: the backends' batch calls hold a large
        object (or its parts) in memory, and keep the memory once they are done with it."""
        return size >= STREAM_FROM and self.config.protocol not in ("file", "local")

    def fetch(self, digests: Iterable[str]) -> Fetched:
        """Download those of ``digests`` this cache lacks, each hashed before it is stored.
        The remote is contacted only when something is missing locally."""
        wanted = sorted({d for d in digests if not self.store.has(d)})
        result = Fetched()
        if not wanted:
            return result
        there = self.present(wanted)
        result.missing = [d for d in wanted if d not in there]
        good, result.refused = self._download(sorted(there), keep=True)
        result.stored = good
        return result

    def damaged(self, digests: Iterable[str]) -> list[str]:
        """Those of ``digests`` whose bytes on the remote do not match (each is downloaded to
        a temp file, hashed and dropped)."""
        return self._download(sorted(set(digests)), keep=False)[1]

    def _download(self, digests: list[str], keep: bool) -> tuple[list[str], list[str]]:
        """(stored, refused): each object is streamed to a temp file in the cache, hashed,
        and renamed into ``objects/`` (with ``keep``) only when it matches its name."""
        if not digests:
            return [], []
        self.store.ensure()
        self.store.objects.mkdir(exist_ok=True)
        temps = [self.store.objects / f".pull.{uuid.uuid4().hex}.tmp" for _ in digests]
        good: list[str] = []
        bad: list[str] = []
        try:
            pairs = [
                (self.object_path(d), os.fspath(t)) for d, t in zip(digests, temps, strict=True)
            ]
            sizes = {src: self.sizes.get(src, 0) for src, _ in pairs}
            big = [(src, dest, sizes[src]) for src, dest in pairs if self._streamed(sizes[src])]
            small = [(src, dest) for src, dest in pairs if not self._streamed(sizes[src])]
            with talking(self.config, "download"):  # the large objects beside the batch
                streamed = download_all(self.fs, small, big)  # temp path -> digest
            for digest, temp in zip(digests, temps, strict=True):
                found = streamed.get(os.fspath(temp)) or file_digest(temp)
                if found != digest:
                    bad.append(digest)
                elif keep:
                    _publish(temp, self.store.object_path(digest))
                    good.append(digest)
        finally:
            for temp in temps:
                temp.unlink(missing_ok=True)
        return good, bad

    # ------------------------------------------------------------------ run records

    def record_names(self, fingerprints: Iterable[str]) -> set[tuple[str, str]]:
        """(fingerprint, record name) of every record the remote holds for ``fingerprints``."""
        fps = sorted(set(fingerprints))
        if len(fps) > LIST_WHOLE:
            paths = self._find(self.path("runs"))
        else:
            paths = self._find_many([self.path("runs", fp[:2], fp[2:]) for fp in fps])
        found = {_record_of(p) for p in paths}
        return {r for r in found if r is not None and r[0] in fps}

    def push_records(
        self, runs: Iterable[SharedRun], there: set[tuple[str, str]] | None = None
    ) -> list[SharedRun]:
        """Write the records the remote lacks (their objects must be there already); the ones
        written. Records are write-once: one that exists is never rewritten. ``there`` is
        ``record_names`` of their fingerprints when the caller listed them already."""
        self.creating = True
        by_key = {(r.fingerprint, r.name): r for r in runs}
        if there is None:
            there = self.record_names(fp for fp, _ in by_key)
        todo = [run for key, run in sorted(by_key.items()) if key not in there]
        self._put_bytes([(self.record_path(r.fingerprint, r.name), r.to_bytes()) for r in todo])
        return todo

    def note_push(self, digests: Iterable[str]) -> None:
        """Note, under ``pushes/``, the objects a push needed, those the remote held already
        too: ``gc --remote`` keeps them while the note is younger than its grace period (a
        branch pushed and not merged yet may reuse objects only older lockfiles name)."""
        self.creating = True
        name = f"{time.time_ns()}-{uuid.uuid4().hex}.json"
        data = json.dumps({"objects": sorted(set(digests))}).encode()
        self._put_bytes([(self.path("pushes", name), data)])

    def _put_bytes(self, files: list[tuple[str, bytes]]) -> None:
        """Write small files (remote path, bytes) through a local staging folder."""
        if not files:
            return
        staging = self.store.dir / "tmp-records"
        staging.mkdir(parents=True, exist_ok=True)
        local = []
        try:
            for _, data in files:
                path = staging / f"{uuid.uuid4().hex}.json"
                path.write_bytes(data)
                local.append(os.fspath(path))
            self._put(local, [dest for dest, _ in files])
        finally:
            for name in local:
                Path(name).unlink(missing_ok=True)

    def runs_of(self, fingerprint: str) -> list[SharedRun]:
        """The remote's records of ``fingerprint``, newest first (malformed ones skipped)."""
        paths = self._find(self.path("runs", fingerprint[:2], fingerprint[2:]))
        paths = [p for p in paths if p.endswith(".json")]
        if not paths:
            return []
        read = self.read_many(paths)
        runs = [(p, SharedRun.from_bytes(data)) for p, data in read.items()]
        found = [  # named by what it holds: one edited since it was pushed is no record
            r
            for p, r in runs
            if r is not None and r.fingerprint == fingerprint and p.endswith(f"/{r.name}.json")
        ]
        return sorted(found, key=lambda r: r.created, reverse=True)

    def read_many(self, paths: list[str]) -> dict[str, bytes]:
        """The bytes of small remote files (run records), read in one batch."""
        if not paths:
            return {}
        with talking(self.config, "download"):
            return dict(self.fs.cat(paths, on_error="omit"))

    def delete(self, paths: list[str]) -> None:
        if paths:
            with talking(self.config, "delete"):
                self.fs.rm(paths)


def _publish(temp: Path, dest: Path) -> None:
    os.chmod(temp, FILE_MODE)
    dest.parent.mkdir(parents=True, exist_ok=True)
    os.replace(temp, dest)


def _digest_of(path: str) -> str:
    """``ab``+``cdef...`` for ``.../objects/ab/cdef...``; empty for anything else."""
    head, _, name = path.rstrip("/").rpartition("/")
    prefix = head.rpartition("/")[2]
    digest = prefix + name
    return digest if len(prefix) == 2 and set(digest) <= _HEX else ""


def _record_of(path: str) -> tuple[str, str] | None:
    """(fingerprint, name) for ``.../runs/ab/cdef.../NAME.json``."""
    parts = path.rstrip("/").split("/")
    if len(parts) < 3 or not parts[-1].endswith(".json"):
        return None
    return parts[-3] + parts[-2], parts[-1].removesuffix(".json")


__all__ = ["Fetched", "Remote", "RemoteError", "SharedRun"]
