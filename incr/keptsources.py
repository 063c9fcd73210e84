"""The normalised sources of code parts, kept by digest in ``.pipecache/sources`` so that
``incr show`` can print what changed in a step's code."""

from __future__ import annotations

import os
from pathlib import Path

from incr.fingerprint import DEFAULTS
from incr.model import LockEntry
from incr.plan import Verdict
from incr.project import Project
from incr.sources import CodeSources
from incr.storage import atomic_write
from incr.store import Store


class KeptSources:
    """Sources kept for diffs, read back by digest."""

    def __init__(self, project: Project, store: Store, sources: CodeSources) -> None:
        self.project = project
        self.store = store
        self.sources = sources

    def keep(self, code: dict[str, str]) -> None:
        """Store the normalised source of each code part, by its digest, for ``incr show``
        (without fsync: a source lost to a power cut costs a diff, and an empty file left by
        one is written again)."""
        folder = self.project.cache / "sources"
        for part, digest in code.items():
            path = folder / digest
            if part.startswith("pkg:") or ":" not in part or _non_empty(path):
                continue
            text = self.sources.part_source(part)
            if text is not None:
                self.store.ensure()
                atomic_write(path, text.encode("utf-8"), durable=False)

    def kept(self, digest: str) -> str | None:
        """The kept source of a code part, or None when it is not kept (an empty file is what a
        power cut may leave of one: these are written without fsync)."""
        try:
            text = (self.project.cache / "sources" / digest).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            return None
        return text or None

    def diffs(
        self, locked: LockEntry | None, verdict: Verdict
    ) -> list[tuple[str, str | None, str | None]]:
        """(part, source then, source now) for each code part that changed since the lockfile's
        run; a side is None when the part was not used then (or is not now), or when its old
        source is no longer in the cache."""
        if locked is None or verdict.facts is None:
            return []
        old, new = locked.facts.code, verdict.facts.code
        diffs = []
        for part in sorted(set(old) | set(new)):
            if old.get(part) == new.get(part) or part.startswith(("pkg:", "captured:")):
                continue
            if ":" not in part or part.endswith(DEFAULTS):  # values: shown as config
                continue
            then = self.kept(old[part]) if part in old else None
            now = self.sources.part_source(part) if part in new else None
            diffs.append((part, then, now))
        return diffs


def _non_empty(path: Path) -> bool:
    try:
        return os.stat(path).st_size > 0
    except OSError:
        return False
