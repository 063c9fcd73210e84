"""Whether a step's recorded outputs are still there as recorded, and whether its cached
result has expired."""

from __future__ import annotations

from incr import ondisk
from incr.hashing import StatCache
from incr.model import LockEntry, StepNode
from incr.store import Store


class OutputCheck:
    """Recorded outputs compared with the disk and the object store."""

    def __init__(self, stats: StatCache, store: Store) -> None:
        self.stats = stats
        self.store = store

    def problems(self, entry: LockEntry | None) -> tuple[list[str], list[str]]:
        """Recorded outputs that are (missing, modified): objects gone from the cache, and
        ``outs`` that are gone or differ from the record (bytes, modes, links, folders); a
        modified one is named with what differs (``models: b.bin changed``)."""
        missing: list[str] = []
        modified: list[str] = []
        for name, artifact in (entry.outputs if entry else {}).items():
            if artifact.kind not in ("file", "dir"):
                if not self.store.has(artifact.digest):
                    missing.append(name)
                continue
            now = ondisk.state(self.stats, name, artifact)
            if now == "missing":
                missing.append(name)
            elif now == "modified":
                modified.append(ondisk.detail(self.stats, self.store, name, artifact))
        return missing, modified

    def expired(self, node: StepNode, entry: LockEntry | None, now: float) -> bool:
        """True when the step has ``cache_expires`` and its cached result is older than that."""
        if node.cache_expires is None or entry is None:
            return False
        record = self.store.lookup_run(entry.fingerprint)
        return record is None or now - record.created > node.cache_expires
