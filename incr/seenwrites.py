"""The files each step was seen to write, kept in ``.pipecache/writes.json`` between runs:
they order the steps that read them (see ``incr.overlaps``, which is pure)."""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterable, Mapping
from pathlib import Path

from incr.model import LockEntry
from incr.storage import atomic_write

#: In ``SeenWrites.appends`` (never a path: a path is relative): the files are guessed.
GUESSED = "/guessed"


class SeenWrites:
    """The files each step was seen to write in its last run, by step key, kept in
    ``.pipecache/writes.json``: read the first time they are asked for, written by ``save``;
    with the fingerprint of that run and each file's size and time as it left them (``left``),
    the files it first opened to append to (``appends``: what was there stays), and what a
    file every writer appends to held before the first of them ran (``before``). Only a
    cache (see ``incr.overlaps``): a missing or damaged file reads as empty; one of an older
    format (1: the files alone; 2: without ``appends``) reads as far as it goes, each file a
    step wrote taken as appended to until it runs again (when in doubt, the writers before
    it run again with it: ``incr.sharedwrites``)."""

    FORMAT = 3

    def __init__(self, path: Path) -> None:
        self.path = path
        self._steps: dict[str, tuple[str, ...]] | None = None
        #: Step key -> (fingerprint of its last run, path -> [size, mtime_ns] it left).
        self.left: dict[str, tuple[str, dict[str, list[int]]]] = {}
        #: Step key -> the files of its writes it appended to (not in the mapping: none).
        self._appends: dict[str, tuple[str, ...]] = {}
        #: What a file every writer appends to held before the first of them ran, by path
        #: (``incr.appendbase``): absent (``""``), not known (``"?"``) or a stored object.
        self._before: dict[str, str] = {}
        self.changed = False
        #: For this command: the files every writer appends to, which a step reads, each with
        #: its writers in run order (``appendbase.chains``), and the files written so far.
        self.chains: dict[str, list[str]] = {}
        self.written_now: set[str] = set()
        self.locks_then: Mapping[str, LockEntry] = {}  # the lock entries as it started
        self.written_then: set[str] = set()  # the files steps were known to write then
        #: Whether the file could not be read (absent, damaged): nothing is known.
        self.lost = False

    @property
    def steps(self) -> dict[str, tuple[str, ...]]:
        if self._steps is None:
            found = _read_writes(self.path, self.FORMAT)
            self._steps, self.left, self._appends, self._before, self.lost = found
        return self._steps

    @property
    def appends(self) -> dict[str, tuple[str, ...]]:
        """The files each step (by key) appended to in its last run, of those it wrote."""
        _ = self.steps  # read the file
        return self._appends

    @property
    def before(self) -> dict[str, str]:
        """What each file every writer appends to held before the first of them ran."""
        _ = self.steps  # read the file
        return self._before

    def set_before(self, path: str, held: str | None) -> None:
        """Note what ``path`` held before its first writer ran (None: forget it)."""
        if self.before.get(path) != held:
            self.changed = True
            self._before.pop(path, None)
            self._before.update({path: held} if held is not None else {})

    @property
    def guessed(self) -> set[str]:
        """The steps (by key) whose ``appends`` are all their files, as an older incr wrote
        no ``appends``: not known until they run again."""
        return {key for key, paths in self.appends.items() if GUESSED in paths}

    def put(
        self,
        key: str,
        paths: Iterable[str],
        fp: str = "",
        root: Path | None = None,
        appends: Iterable[str] = (),
    ) -> None:
        """The files step ``key``'s run of fingerprint ``fp`` wrote (their stats taken now,
        under ``root``), ``appends`` those of them it appended to."""
        value = tuple(sorted(set(paths)))
        appended = tuple(sorted(set(appends) & set(value)))
        if self.appends.get(key, ()) != appended:
            self._appends.pop(key, None)
            self._appends.update({key: appended} if appended else {})
            self.changed = True
        if not value:
            if key in self.steps:
                del self.steps[key]
                self.left.pop(key, None)
                self.changed = True
            return
        left = (fp, {p: _stat(root / p) for p in value}) if root is not None else None
        if self.steps.get(key) == value and self.left.get(key) == left:
            return
        self.steps[key] = value
        if left is not None:
            self.left[key] = left
        self.changed = True

    def as_left(self, key: str, fp: str, root: Path) -> set[str]:
        """The files step ``key`` wrote that hold what its run of fingerprint ``fp`` left (the
        size and time it left them with): that run is the one the lock entry records."""
        ran, stats = self.left.get(key, ("", {})) if key in self.steps else ("", {})
        if not fp or ran != fp:
            return set()
        return {p for p, then in stats.items() if _stat(root / p) == then}

    def save(self, keep: Iterable[str]) -> None:
        """Write the file, with the steps of ``keep`` (step keys) only, if anything changed.
        A failed write costs a rediscovery, never a wrong result."""
        if not self.changed:
            return
        wanted = set(keep)
        steps = {k: list(v) for k, v in sorted(self.steps.items()) if k in wanted}
        left = {k: list(v) for k, v in sorted(self.left.items()) if k in steps}
        appends = {k: list(v) for k, v in sorted(self.appends.items()) if k in steps}
        written = {p for paths in steps.values() for p in paths}
        before = {p: v for p, v in sorted(self.before.items()) if p in written}
        data = {"format": self.FORMAT, "steps": steps, "left": left, "appends": appends}
        data |= {"before": before} if before else {}
        text = json.dumps(data, separators=(",", ":"))
        with contextlib.suppress(OSError):
            atomic_write(self.path, text.encode(), durable=False)
            self.changed = False


def _stat(path: Path) -> list[int]:
    try:
        st = os.stat(path)
    except OSError:
        return [-1, -1]
    return [st.st_size, st.st_mtime_ns]


def _read_writes(
    path: Path, version: int
) -> tuple[
    dict[str, tuple[str, ...]],
    dict[str, tuple[str, dict[str, list[int]]]],
    dict[str, tuple[str, ...]],
    dict[str, str],
    bool,
]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if data["format"] not in (1, 2, version):  # 1: the files alone; 2: no appends
            return {}, {}, {}, {}, True
        steps = {
            str(k): tuple(str(p) for p in v)
            for k, v in data["steps"].items()
            if isinstance(v, list)
        }
        left = {
            str(k): (str(fp), {str(p): [int(n) for n in st] for p, st in stats.items()})
            for k, (fp, stats) in data.get("left", {}).items()
        }
        appends = {
            str(k): tuple(str(p) for p in v)
            for k, v in data.get("appends", {}).items()
            if isinstance(v, list) and v
        }
        if data["format"] < 3:  # not known: each file might be appended to, until it runs
            appends = {k: (*v, GUESSED) for k, v in steps.items()}
        before = {str(p): str(v) for p, v in data.get("before", {}).items()}
        return steps, left, appends, before, False
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return {}, {}, {}, {}, True


def restored_note(key: str, outs: Iterable[str], written: Iterable[str]) -> str | None:
    """What to say when step ``key`` has its results put back from the cache while it was
    seen writing files (``written``) that its ``outs`` do not list: those hold what its last
    run wrote, not the result put back (a report written beside the value it returns). None
    when it writes none."""
    listed = list(outs)
    unlisted = [w for w in written if not any(w == o or w.startswith(f"{o}/") for o in listed)]
    if not unlisted:
        return None
    named = ", ".join(unlisted[:3]) + (
        f" and {len(unlisted) - 3} more" if len(unlisted) > 3 else ""
    )
    return (
        f"step {key} was put back from the cache, but not {named}, which it writes without "
        "listing in outs: what its last run wrote stays there; list it in outs=[...] to have "
        "it put back too"
    )
