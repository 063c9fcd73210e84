"""Cache upkeep: ``incr gc`` (remove what nothing needs) and ``incr verify`` (check digests).

Both work from the lockfile and the run cache alone; neither imports the pipelines.
"""

from __future__ import annotations

import contextlib
import glob
import os
import time
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import field
from pathlib import Path

from incr.hashing import buffers_digest
from incr.model import Artifact, LockEntry
from incr.store import ObjectCorrupt, ObjectMissing, RunRecord, Store
from incr.valueclass import valueclass

#: Temp files older than this are leftovers of a killed write, safe to remove.
STALE_TEMP_SECONDS = 3600


@valueclass
class GcReport:
    """What ``gc`` removed (or would remove, on a dry run) and what it kept."""

    objects: list[Path] = field(default_factory=list)
    packed: list[str] = field(default_factory=list)  # digests of packed objects
    runs: list[str] = field(default_factory=list)  # fingerprints
    records: list[Path] = field(default_factory=list)  # run records (``incr.runhistory``)
    sources: list[Path] = field(default_factory=list)  # kept sources (``incr.keptsources``)
    temps: list[Path] = field(default_factory=list)
    freed: int = 0
    kept_objects: int = 0
    kept_bytes: int = 0


def _needed(store: Store, artifacts: Iterable[Artifact], into: set[str]) -> None:
    """Add the objects behind ``artifacts`` (a folder's manifest and its files) to ``into``."""
    for artifact in artifacts:
        into.add(artifact.digest)
        if artifact.kind == "dir":
            try:
                into.update(store.manifest(artifact.digest).values())
            except (ObjectMissing, ObjectCorrupt):
                continue


def collect(
    store: Store,
    locks: dict[str, LockEntry],
    keep: int,
    dry_run: bool,
    now: float | None = None,
    lockfile: Path | None = None,
    also: Iterable[LockEntry] = (),
    objects: Iterable[str] = (),
) -> GcReport:
    """Remove objects that neither the lockfile nor the ``keep`` newest run records of each step
    refer to, the older run records, and stale temp files. Never removes an object the
    lockfile refers to, or one of the entries ``also`` (the lockfiles of other git branches
    and tags), or one of ``objects`` (``SeenWrites.before``: what files steps append to held
    before them). With ``dry_run``, only report."""
    now = time.time() if now is None else now
    report = GcReport()
    needed: set[str] = set()
    kept = [*locks.values(), *also]
    _needed(store, (a for e in kept for a in e.outputs.values()), needed)
    needed.update(objects)
    locked_fps = {e.fingerprint for e in kept}
    by_step: dict[str, list[tuple[float, str, list[RunRecord]]]] = defaultdict(list)
    for fp, step, created, records in store.run_records():
        by_step[step].append((created, fp, records))
    for entries in by_step.values():
        entries.sort(key=lambda r: r[0], reverse=True)
        for index, (_, fp, records) in enumerate(entries):
            if index < keep or fp in locked_fps:
                _needed(store, (a for r in records for a in r.outputs.values()), needed)
            else:
                report.runs.append(fp)
    outs = {
        out for e in locks.values() for out, a in e.outputs.items() if a.kind in ("file", "dir")
    }
    for path in _stale_temps(store, lockfile, now, outs):
        report.temps.append(path)
        report.freed += path.stat().st_size
    loose: set[str] = set()
    for path in _files(store.objects):
        digest = path.parent.name + path.name
        size = path.stat().st_size
        if path.name.startswith("."):
            continue  # a temp file: stale ones are counted above
        loose.add(digest)
        if digest in needed:
            report.kept_objects += 1
            report.kept_bytes += size
        else:
            report.objects.append(path)
            report.freed += size
    for digest, (_, _, size) in sorted(store.packed_objects().items()):
        if digest not in needed:
            report.packed.append(digest)
            report.freed += size
        elif digest not in loose:  # a packed copy of a loose object is one object
            report.kept_objects += 1
            report.kept_bytes += size
    if not dry_run:
        store.drop_runs(report.runs)
        for path in (*report.objects, *report.temps):
            path.unlink(missing_ok=True)
        for folder in sorted({path.parent for path in report.objects}):
            with contextlib.suppress(OSError):  # not empty: it holds objects still needed
                folder.rmdir()
        store.repack(needed)
    return report


def _stale_temps(
    store: Store, lockfile: Path | None, now: float, outs: Iterable[str] = ()
) -> list[Path]:
    """Leftovers of interrupted atomic writes (``.NAME.XXXX.tmp``) older than an hour, in
    the cache, beside the lockfile and beside or inside the ``outs`` paths (a restore killed
    as it wrote a large file)."""
    kept = store.dir / "kept"  # the user's files, moved aside by restores: theirs to remove
    candidates = [
        p
        for p in _files(store.dir)
        if p.name.startswith(".") and p.suffix == ".tmp" and kept not in p.parents
    ]
    if lockfile is not None:
        root = lockfile.parent
        candidates += sorted(root.glob(f".{lockfile.name}.*.tmp"))
        for out in sorted(set(outs)):
            path = root / out
            candidates += sorted(path.parent.glob(f".{glob.escape(path.name)}.*.tmp"))
            if path.is_dir():
                candidates += [
                    p for p in _files(path) if p.name.startswith(".") and p.suffix == ".tmp"
                ]
    return [p for p in candidates if now - p.stat().st_mtime > STALE_TEMP_SECONDS]


def _files(folder: Path) -> list[Path]:
    if not folder.is_dir():
        return []
    return sorted(Path(d) / f for d, _, files in os.walk(folder) for f in files)


@valueclass(frozen=True)
class Problem:
    """A recorded output whose object is missing or damaged."""

    step: str
    output: str
    text: str


def verify(
    store: Store, locks: dict[str, LockEntry], root: Path | None = None
) -> tuple[int, list[Problem]]:
    """Read and check every object the lockfile refers to: (objects checked, problems).

    A damaged object is removed (``Store.get`` does so), so the next ``incr repro`` recomputes
    or restores it; that of an ``outs`` file the project under ``root`` holds intact is
    stored again from it (``stored_again``), a problem no more.
    """
    checked = 0
    problems: list[Problem] = []
    for key in sorted(locks):
        for name, artifact in sorted(locks[key].outputs.items()):
            try:
                store.check(artifact.digest)
                checked += 1
                if artifact.kind == "dir":
                    for digest in store.manifest(artifact.digest).values():
                        store.check(digest)
                        checked += 1
            except (ObjectMissing, ObjectCorrupt) as exc:
                if root is None or not stored_again(store, root, name, artifact):
                    problems.append(Problem(key, name, str(exc)))
                else:
                    checked += 1
    return checked, problems


def stored_again(store: Store, root: Path, name: str, artifact: Artifact) -> bool:
    """Store the ``outs`` file ``name`` (root-relative) again when it holds the bytes of
    ``artifact``, a ``file`` output whose object is missing or was damaged: the step is clean
    and nothing would run to store them. True when it did."""
    if artifact.kind != "file":
        return False
    try:
        data = (root / name).read_bytes()
    except OSError:
        return False
    if buffers_digest((data,)) != artifact.digest:
        return False
    store.ensure()
    return store.put(data) == artifact.digest
