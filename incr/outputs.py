"""Whether a step's recorded outputs are still there as recorded, and whether its cached
result has expired."""

from __future__ import annotations

import os
from collections.abc import Callable

from incr import ondisk
from incr.hashing import StatCache
from incr.model import LockEntry, StepNode
from incr.store import Store

#: Presence questions answered one file at a time before shard folders are listed instead
#: (with 256 shards, a listing pays off once most shards hold several of the objects asked).
LIST_AFTER = 1024


class OutputCheck:
    """Recorded outputs compared with the disk and the object store."""

    def __init__(self, stats: StatCache, store: Store) -> None:
        self.stats = stats
        self.store = store
        self._asked = 0
        self._shards: dict[str, frozenset[str]] = {}
        #: Of the outs of a lock entry found modified, those that count as such (not one
        #: that holds what another step writing it left: ``WrittenFiles.modified_outs``).
        self.rewritten: Callable[[LockEntry | None, list[str]], list[str]] | None = None

    def stored(self, digest: str) -> bool:
        """Whether the object ``digest`` is in the store. A packed object is found in the
        packs' index (read once, at the first object it lacks). Of the others, the first
        ``LIST_AFTER`` each look at the object's file; after that, each shard folder
        (``objects/ab/``) is listed once and answers for every object in it: at 10,000
        outputs, some 256 listings instead of 9,000 file lookups. An object the listing lacks
        is looked up again, so a listing made before an object was stored never calls it
        missing."""
        if self.store.known_packed(digest):
            return True
        self._asked += 1
        if self._asked <= LIST_AFTER:
            return self.store.has(digest)
        shard = self._shards.get(digest[:2])
        if shard is None:
            try:
                shard = frozenset(os.listdir(os.path.join(self.store.objects, digest[:2])))
            except OSError:
                shard = frozenset()
            self._shards[digest[:2]] = shard
        return digest[2:] in shard or self.store.has(digest)

    def problems(
        self, entry: LockEntry | None, listed: bool = False
    ) -> tuple[list[str], list[str]]:
        """Recorded outputs that are (missing, modified): objects gone from the cache, and
        ``outs`` that are gone or differ from the record (bytes, modes, links, folders); a
        modified one is named with what differs (``models: b.bin changed``). ``listed``: the
        objects may be found in listings made earlier (``stored``; the status walk, before
        anything runs), not only by looking now (a run may have removed a damaged one)."""
        has = self.stored if listed else self.store.has
        missing: list[str] = []
        modified: list[str] = []
        for name, artifact in (entry.outputs if entry else {}).items():
            if artifact.kind not in ("file", "dir"):
                if not has(artifact.digest):
                    missing.append(name)
                continue
            now = ondisk.state(self.stats, name, artifact, self.store)
            if now == "missing":
                missing.append(name)
            elif now == "modified":
                modified.append(ondisk.detail(self.stats, self.store, name, artifact))
        if modified and self.rewritten is not None:
            modified = self.rewritten(entry, modified)
        return missing, modified

    def expired(self, node: StepNode, entry: LockEntry | None, now: float) -> bool:
        """True when the step has ``cache_expires`` and its cached result is older than that."""
        if node.cache_expires is None or entry is None:
            return False
        record = self.store.lookup_run(entry.fingerprint)
        return record is None or now - record.created > node.cache_expires
