"""The lockfile of a project as a command holds it: its entries, read through a parsed JSON copy
in the cache, and written back (atomically, at most so often during a run)."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from incr import cachefile, lockfile
from incr.fingerprint import fingerprint
from incr.hashing import MISSING, StatCache, buffers_digest
from incr.model import FINGERPRINT_SCHEMA, Facts, LockEntry
from incr.plan import same_facts, stale_locks
from incr.project import Project
from incr.version import __version__

#: Least time between two lockfile writes during a run (see ``LockBook.write``).
LOCK_WRITE_INTERVAL = 0.25
#: ... and at least this many times as long as the last write took: a lockfile that grows
#: with a long run of quick steps takes at most about a tenth of the run to rewrite.
LOCK_WRITE_SHARE = 10
#: ... and at least one second per this many bytes of the last lockfile written: each rewrite
#: is also an fsync of that many bytes, which holds up the run's other writes (a 3.7 MB
#: lockfile rewritten 78 times in a 10,000-step first repro made creating its objects slower).
LOCK_BYTES_PER_SECOND = 1 << 20


#: Per lockfile, the entries this process last read from its parsed copy or saved in it:
#: (the lockfile's digest then, the entries, those whose fingerprint is that of their facts,
#: whether incr wrote that lockfile). A script that calls ``.run()`` again, and so makes a
#: new ``LockBook``, decodes the copy again only when the lockfile's digest changed. Lock
#: entries are never changed in place (a run replaces them), so they are shared.
_known: dict[Path, tuple[str, dict[str, LockEntry], dict[str, LockEntry], bool]] = {}
#: Per lockfile, the entries the parsed copy last held, and each as it held it
#: (``entry_to_json``): a copy saved again takes the entries still the same as they are (at
#: 10,000 entries, encoding each again took 20 ms of a repro after one step's edit).
_encoded: dict[Path, tuple[dict[str, LockEntry], dict[str, dict[str, Any]]]] = {}


class LockBook:
    """The lock entries of one project (by key), with how they are read and written."""

    def __init__(self, project: Project, stats: StatCache) -> None:
        self.project = project
        self.stats = stats
        #: Lock entries as read whose fingerprint is that of their facts (by key).
        self._consistent: dict[str, LockEntry] = {}
        #: The fingerprints ``fingerprint_of`` computed, by the id of the facts they are of,
        #: and the last one.
        self._computed: dict[int, tuple[Facts, str]] = {}
        self._last: tuple[Facts, str] | None = None
        self.entries: dict[str, LockEntry] = self._read()
        self._last_write = float("-inf")
        self._write_seconds = 0.0  # what the last lockfile write took
        self._write_bytes = 0  # and its size
        self._unsaved = False
        #: The entries last written, until ``flush`` saves their parsed copy.
        self._written: tuple[str, dict[str, LockEntry]] | None = None
        #: Called before each write: what the entries name must be durable first.
        self.before_write: Callable[[], None] = _nothing

    def _read(self) -> dict[str, LockEntry]:
        """The lockfile's entries, from a parsed copy in the cache when the lockfile's digest
        (through the stat cache: usually without reading it) is the one that copy was made
        from; TOML parsing is the slow part of a no-op status on a large pipeline. The copy
        is decoded once per process while the lockfile keeps that digest (``_known``)."""
        digest = self.stats.digest(self.project.lockfile_name)
        known = _known.get(self.project.lockfile)
        if known is None or known[0] != digest:
            known = self._parsed_copy(digest)
        if known is not None and digest != MISSING:
            locks, self._consistent, written = dict(known[1]), dict(known[2]), known[3]
            if written:  # the lockfile is what incr wrote for them
                lockfile.blocks_in(lambda: self._text_if(digest), locks.values())
            return locks
        locks = lockfile.read(self.project.lockfile)
        self._consistent = {k: e for k, e in locks.items() if fingerprint(e.facts) == e.fingerprint}
        if locks and self.project.cache.is_dir():
            self._keep_copy(digest, locks, written=False)
        return locks

    def _parsed_copy(
        self, digest: str
    ) -> tuple[str, dict[str, LockEntry], dict[str, LockEntry], bool] | None:
        """The parsed copy's entries, as ``_known`` holds them (and noted there), when the
        copy was made from the lockfile whose digest is ``digest``; None otherwise."""
        try:
            data = cachefile.read(self.project.cache / "lockfile.bin")  # see ``incr.cachefile``
            if data["digest"] != digest or digest == MISSING or data["key"] != _copy_key():
                return None
            raw = data["entries"]
            locks = {k: lockfile.entry_from_json(k, v) for k, v in raw.items()}
            consistent = {k: locks[k] for k in data["consistent"] if k in locks}
            _encoded[self.project.lockfile] = (locks, raw)  # neither is changed
            written = data.get("written") is True
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            return None
        known = _known[self.project.lockfile] = (digest, locks, consistent, written)
        return known

    def _text_if(self, digest: str) -> str | None:
        """The lockfile's text while its digest is still ``digest``, else None."""
        try:
            data = self.project.lockfile.read_bytes()
            return data.decode("ascii") if buffers_digest((data,)) == digest else None
        except (OSError, UnicodeDecodeError):
            return None

    def _keep_copy(self, digest: str, locks: dict[str, LockEntry], written: bool) -> None:
        """Save ``locks``, the entries of the lockfile whose digest is ``digest``, as the
        parsed copy ``_read`` takes; with the keys of those whose fingerprint is that of
        their facts (checked here unless known from the read), and whether incr wrote that
        lockfile for them (then its text is what ``lockfile.dumps`` gives: a later write
        reuses the blocks of the entries still the same)."""
        consistent = [
            k
            for k, e in locks.items()
            if self._known_consistent(k, e) or fingerprint(e.facts) == e.fingerprint
        ]
        made, held = _encoded.get(self.project.lockfile, ({}, {}))
        encoded = {
            k: held[k] if made.get(k) is e else lockfile.entry_to_json(e) for k, e in locks.items()
        }
        data = {
            "digest": digest,
            "key": _copy_key(),
            "entries": encoded,
            "consistent": sorted(consistent),
            "written": written,
        }
        with contextlib.suppress(OSError):
            cachefile.write(self.project.cache / "lockfile.bin", data)
        saved = dict(locks)  # neither holder changes it (see ``_read``)
        _encoded[self.project.lockfile] = (saved, encoded)
        kept = {k: locks[k] for k in consistent}
        _known[self.project.lockfile] = (digest, saved, kept, written)

    def _known_consistent(self, key: str, entry: LockEntry) -> bool:
        """Whether ``entry``'s fingerprint is known to be that of its facts: it was read so, or
        ``fingerprint_of`` computed it from these very facts (the entries a run records)."""
        if self._consistent.get(key) is entry:
            return True
        made = self._computed.get(id(entry.facts))
        return made is not None and made[0] is entry.facts and made[1] == entry.fingerprint

    def checked(self, locked: LockEntry | None) -> bool:
        """True when ``locked`` is the entry as read and its fingerprint is that of its facts
        (a later ``fingerprint_of`` with the same facts needs no digest)."""
        return locked is not None and self._consistent.get(locked.key) is locked

    def fingerprint_of(self, facts: Facts, locked: LockEntry | None) -> str:
        """``fingerprint(facts)``, taken from the lock entry when its facts are the same and its
        fingerprint was checked against them when the lockfile was read: most steps of a
        no-op status."""
        if (
            locked is not None
            and self._consistent.get(locked.key) is locked
            and same_facts(facts, locked.facts)
        ):
            return locked.fingerprint
        last = self._last  # a step after an executed one is fingerprinted twice in a row
        made = last[1] if last is not None and same_facts(facts, last[0]) else fingerprint(facts)
        self._last = self._computed[id(facts)] = (facts, made)  # for ``_keep_copy``
        return made

    def prune(self, pipelines: Iterable[str]) -> list[str]:
        """Drop lock entries of pipelines that no longer exist (after a full, successful run);
        their keys."""
        stale = stale_locks(self.entries, dict.fromkeys(pipelines))
        from incr import leftovers  # here: a status never prunes

        leftovers.remember(self.project.cache, [self.entries[key] for key in stale])
        for key in stale:
            del self.entries[key]
        if stale:
            self.write()
        return list(stale)

    def write(self, soon: bool = False) -> None:
        """Write the lockfile atomically. With ``soon``, a write is skipped when the last one
        was less than ``LOCK_WRITE_INTERVAL`` ago, less than ``LOCK_WRITE_SHARE`` times as
        long as it took, or less than a second per ``LOCK_BYTES_PER_SECOND`` of its size
        (``flush`` writes what is left): a run of many quick steps does not
        rewrite a large lockfile after every one of them. An entry not yet written is never
        lost for good: its run-cache record, written first, lets the next run restore it
        without executing."""
        now = time.monotonic()
        wait = max(
            LOCK_WRITE_INTERVAL,
            LOCK_WRITE_SHARE * self._write_seconds,
            self._write_bytes / LOCK_BYTES_PER_SECOND,
        )
        if soon and now - self._last_write < wait:
            self._unsaved = True
            return
        self.before_write()
        entries = dict(self.entries)
        began = time.monotonic()
        written = lockfile.write(self.project.lockfile, entries.values())
        if written is not None:
            self._write_bytes = len(written)
            self._written = (buffers_digest((written,)), entries)
        self._last_write = now
        self._write_seconds = time.monotonic() - began
        self._unsaved = False

    def flush(self) -> None:
        """Write the lockfile if an entry is waiting for it; then save the parsed copy of
        what was last written, so that the next command does not parse it again."""
        if self._unsaved:
            self.write()
        if self._written is not None and self.project.cache.is_dir():
            self._keep_copy(*self._written, written=True)
            self._written = None


def _copy_key() -> list[str | int]:
    """What the parsed copy was made by: which entries are consistent depends on how this
    incr computes fingerprints."""
    return [__version__, FINGERPRINT_SCHEMA, lockfile.SCHEMA]


def _nothing() -> None:
    pass
