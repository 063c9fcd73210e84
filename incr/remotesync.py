"""``incr push``, ``incr pull``, ``incr status --remote`` and ``incr repro --pull``: what
``pipeline.lock`` refers to, moved between ``.pipecache/`` and the remote (``remote``).

All of it works from the lockfile and the local cache alone: no pipeline module is imported.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import field
from pathlib import Path

from incr.errors import GraphError
from incr.maintenance import stored_again
from incr.model import Artifact, LockEntry
from incr.remote import Fetched, Remote, SharedRun
from incr.remoteconf import RemoteError
from incr.runcache import RunRecord
from incr.store import ObjectCorrupt, ObjectMissing, Store, UnsafePath
from incr.valueclass import valueclass


def objects_of(store: Store, outputs: Iterable[Artifact]) -> set[str]:
    """The objects behind ``outputs``: each artifact's own, and a folder's files (from its
    manifest, when it is stored locally)."""
    found: set[str] = set()
    for artifact in outputs:
        found.add(artifact.digest)
        if artifact.kind == "dir":
            try:
                found.update(store.manifest(artifact.digest).values())
            except (ObjectMissing, ObjectCorrupt):
                continue
    return found


def fetch_outputs(remote: Remote, outputs: Iterable[Artifact]) -> Fetched:
    """Fetch the objects behind ``outputs``: first the artifacts (a folder's manifest among
    them), then the files the manifests name."""
    outputs = list(outputs)
    first = remote.fetch(a.digest for a in outputs)
    second = remote.fetch(objects_of(remote.store, outputs))
    return Fetched(
        first.stored + second.stored,
        sorted(set(first.missing + second.missing)),
        sorted(set(first.refused + second.refused)),
    )


def select(locks: dict[str, LockEntry], targets: Iterable[str]) -> list[str]:
    """The lock keys ``targets`` name (all without targets): ``PIPELINE``, ``PIPELINE.STEP``
    or a step name that is unique. Raises GraphError for a target that names none."""
    keys = sorted(locks)
    targets = list(targets)
    if not targets:
        return keys
    chosen: set[str] = set()
    for target in targets:
        found = [k for k in keys if k == target or k.startswith(target + ".")]
        found = found or [k for k in keys if k.partition(".")[2] == target]
        if not found or (len({k.partition(".")[0] for k in found}) > 1 and "." not in target):
            raise GraphError(
                f"{target}: no step of pipeline.lock has that name (or it is not unique)",
                hint="name it PIPELINE or PIPELINE.STEP, as `incr status` lists them",
            )
        chosen.update(found)
    return sorted(chosen)


def _owner_lines(locks: dict[str, LockEntry], keys: list[str], remote: Remote) -> dict[str, str]:
    """Object digest -> ``STEP (output NAME)``, for messages."""
    owners: dict[str, str] = {}
    for key in keys:
        for name, artifact in locks[key].outputs.items():
            for digest in objects_of(remote.store, [artifact]):
                owners.setdefault(digest, f"{key} (output {name})")
    return owners


@valueclass
class PushReport:
    """What ``incr push`` did."""

    uploaded: int = 0
    records: int = 0
    repaired: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def push(
    remote: Remote,
    locks: dict[str, LockEntry],
    keys: list[str],
    all_runs: bool = False,
    repair: bool = False,
    root: Path | None = None,
) -> PushReport:
    """Upload the objects and run records of the steps ``keys`` (their results in
    ``pipeline.lock``; with ``all_runs`` every record of the run cache too), objects first.
    With ``repair``, objects the remote holds are downloaded and hashed, and damaged ones are
    replaced from the local copy. The object of an ``outs`` file missing or damaged here is
    stored again from the file, when the project under ``root`` holds it intact."""
    report = PushReport()
    remote.creating = True  # a folder remote not made yet is made, before it is listed
    store = remote.store
    outs = {
        a.digest: (name, a)
        for k in keys
        for name, a in locks[k].outputs.items()
        if a.kind == "file"
    }

    def heal(digest: str) -> bool:
        return root is not None and digest in outs and stored_again(store, root, *outs[digest])

    runs = [_locked_run(remote, key, locks[key]) for key in keys]
    if all_runs:
        for fp, step, _, records in store.run_records():
            runs += [SharedRun(fp, step, r.outputs, r.reads, r.created, r.writes) for r in records]
    owners = _owner_lines(locks, keys, remote)
    ready: list[SharedRun] = []
    needed: set[str] = set()
    for run in runs:
        objects = objects_of(store, run.outputs.values())
        lacking = sorted(d for d in objects if not store.has(d) and not heal(d))
        if lacking:
            if run.step in keys and locks[run.step].fingerprint == run.fingerprint:
                where = owners.get(lacking[0], run.step)
                report.problems.append(
                    f"cannot push {where}: cache object {lacking[0]} is missing here; "
                    "run `incr repro` (or `incr pull`) first"
                )
            continue
        ready.append(run)
        needed |= objects
    with ThreadPoolExecutor(2) as pool:  # both listings at once
        names = pool.submit(remote.record_names, {r.fingerprint for r in ready})
        there = remote.present(needed)
        listed = names.result()
    # Noted as soon as the remote is listed, before the uploads: a ``gc --remote`` from here on
    # keeps what this push found there and does not send again, though old.
    remote.note_push(needed)
    there -= remote.cut_short(there)  # sent again, whole
    if repair and there:
        report.repaired = remote.damaged(there)
    todo = sorted(needed - there)
    # What goes up is hashed first: a damaged local copy is removed here, never sent. One
    # gone meanwhile (``incr gc`` here removed an old run's objects) is not sent either.
    checked = {d: _intact(store, d) for d in [*todo, *report.repaired]}
    checked = {d: ok or (True if heal(d) else ok) for d, ok in checked.items()}
    damaged = {d for d, ok in checked.items() if ok is False}
    gone = {d for d, ok in checked.items() if ok is None}
    for digest in sorted(damaged):
        report.problems.append(
            f"cannot push {owners.get(digest, 'an output')}: cache object {digest} was damaged "
            f"here (removed); run `incr repro --force {owners.get(digest, 'STEP').split()[0]}` "
            "to recompute it"
        )
    for digest in sorted(d for d in gone if d in owners):  # a locked result's: say so
        report.problems.append(
            f"cannot push {owners[digest]}: cache object {digest} is missing here; "
            "run `incr repro` (or `incr pull`) first"
        )
    damaged |= gone
    report.repaired = [d for d in report.repaired if d not in damaged]
    todo = [d for d in todo if d not in damaged]
    remote.upload(sorted({*report.repaired, *todo}))
    report.uploaded = len(todo)
    ready = [r for r in ready if not objects_of(store, r.outputs.values()) & damaged]
    report.records = len(remote.push_records(ready, listed))
    return report


def _intact(store: Store, digest: str) -> bool | None:
    """True when the object is stored with the right bytes, False when it was damaged (and
    is removed), None when it is not stored (any more)."""
    try:
        store.check(digest)
    except ObjectMissing:
        return None
    except ObjectCorrupt:
        return False
    return True


def _locked_run(remote: Remote, key: str, entry: LockEntry) -> SharedRun:
    """The run record of a lock entry, dated by the local run cache when it has it."""
    created, writes = time.time(), None
    for record in remote.store.lookup_runs(entry.fingerprint):
        if record.outputs == entry.outputs and record.reads == entry.reads:
            created, writes = record.created, record.writes
            break
    outputs, reads = dict(entry.outputs), dict(entry.reads)
    return SharedRun(entry.fingerprint, key, outputs, reads, created, writes)


@valueclass
class PullReport:
    """What ``incr pull`` did."""

    fetched: int = 0
    restored: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    #: The remote's records of the pulled lock entries that know the files their run wrote
    #: outside ``outs`` (see ``incr.leafwrites``), by step key.
    runs: dict[str, SharedRun] = field(default_factory=dict)


def pull(remote: Remote, root: Path, locks: dict[str, LockEntry], keys: list[str]) -> PullReport:
    """Download the objects ``pipeline.lock`` refers to for ``keys`` (verified), then put back
    ``outs`` files and folders that are missing from the working tree (a file that exists is
    left as it is: ``incr status`` says whether it differs)."""
    report = PullReport()
    report.runs = _locked_records(remote, locks, keys)
    owners = _owner_lines(locks, keys, remote)
    outputs = [a for key in keys for a in locks[key].outputs.values()]
    got = fetch_outputs(remote, outputs)
    owners.update(_owner_lines(locks, keys, remote))  # the files of manifests just fetched
    report.fetched = len(got.stored)
    report.problems += _fetch_problems(got, owners)
    for key in keys:
        for name, artifact in sorted(locks[key].outputs.items()):
            if artifact.kind in ("file", "dir") and not os.path.lexists(root / name):
                try:
                    _restore(remote, root, name, artifact)
                except (ObjectMissing, ObjectCorrupt, UnsafePath):
                    continue  # said above (missing or refused)
                report.restored.append(name)
    return report


def _locked_records(
    remote: Remote, locks: dict[str, LockEntry], keys: list[str]
) -> dict[str, SharedRun]:
    """The remote's records of the lock entries of ``keys`` (named by their outputs and reads:
    read in one batch, no listing) that say which files their run wrote outside ``outs``."""
    runs = {}
    for key in keys:
        entry = locks[key]
        runs[key] = SharedRun(entry.fingerprint, key, entry.outputs, entry.reads, 0.0)
    paths = {remote.record_path(r.fingerprint, r.name): k for k, r in runs.items()}
    found = {}
    for path, data in remote.read_many(list(paths)).items():
        run = SharedRun.from_bytes(data)
        owner = paths.get(path)
        if run is not None and owner is not None and run.name == runs[owner].name and run.writes:
            found[owner] = run
    return found


def _restore(remote: Remote, root: Path, name: str, artifact: Artifact) -> None:
    if artifact.kind == "dir":
        remote.store.restore_tree(artifact.digest, root / name, root)
    else:
        # No fsync: a file lost to a power cut shows as a modified output, never as a result.
        remote.store.restore_file(artifact.digest, root / name, root, artifact.mode, False)


def _fetch_problems(got: Fetched, owners: dict[str, str]) -> list[str]:
    lines = [
        f"remote object {d} of {owners.get(d, 'an output')} does not match its digest: "
        "refused, nothing kept (`incr push --repair` from a good copy fixes the remote)"
        for d in got.refused
    ]
    lines += [
        f"{owners.get(d, 'an output')}: object {d} is not on the remote "
        "(run `incr push` where it was computed)"
        for d in got.missing
    ]
    return lines


def remote_state(remote: Remote, locks: dict[str, LockEntry], keys: list[str]) -> dict[str, int]:
    """Step key -> how many of the objects of its locked result the remote lacks (0: it is
    all there, with the right sizes). A folder's manifest not stored locally is fetched first
    (it is small), to count its files: a manifest alone is no folder."""
    folders = {a.digest for k in keys for a in locks[k].outputs.values() if a.kind == "dir"}
    remote.fetch(d for d in folders if not remote.store.has(d))
    per_step = {key: objects_of(remote.store, locks[key].outputs.values()) for key in keys}
    there = remote.present(set().union(*per_step.values()) if per_step else set())
    there -= remote.cut_short(there)
    return {key: len(objects - there) for key, objects in per_step.items()}


class RemoteRuns:
    """For ``incr repro --pull``: before a step executes, its result is looked for on the
    remote (a run record of its fingerprint, or its lock entry when the fingerprint is the
    locked one), fetched and verified into the local cache, where the runner finds it."""

    def __init__(
        self, remote: Remote, locks: dict[str, LockEntry], warn: Callable[[str], None]
    ) -> None:
        self.remote = remote
        self.locks = locks
        self.warn = warn
        self.taken: set[str] = set()
        self.broken = False  # the remote failed once: not asked again in this run
        #: Told the files a fetched run wrote that no ``outs`` lists (``SeenWrites.put``).
        self.writes: Callable[[str, dict[str, str] | None], None] = lambda key, writes: None

    def took(self, key: str) -> bool:
        """True when the result of step ``key`` came from the remote in this run."""
        return key in self.taken

    def fill(self, key: str, fingerprint: str, usable: Callable[[RunRecord], bool]) -> bool:
        """Make the local run cache hold a ``usable`` record of ``fingerprint`` fetched from
        the remote; True when it does now (False: the local cache had one, or the remote has
        none whose objects all verify)."""
        store = self.remote.store
        if self.broken or any(usable(r) for r in store.lookup_runs(fingerprint)):
            return False
        try:
            return self._fill(key, fingerprint, usable)
        except RemoteError as exc:  # offline: the steps run here, as without a remote
            self.warn(f"{exc.message}; steps run here instead of being fetched")
            self.broken = True
            return False

    def _fill(self, key: str, fingerprint: str, usable: Callable[[RunRecord], bool]) -> bool:
        store = self.remote.store
        candidates = self.remote.runs_of(fingerprint)
        locked = self.locks.get(key)
        if locked is not None and locked.fingerprint == fingerprint:
            # The committed result first (as ``incr pull`` takes it), before any other run of
            # the same fingerprint pushed since. Undated: a step whose results expire will not
            # take it (created 0 is old).
            same = (r for r in candidates if (r.outputs, r.reads) == (locked.outputs, locked.reads))
            writes = next((r.writes for r in same), None)  # as its pushed record says
            first = SharedRun(fingerprint, key, locked.outputs, locked.reads, 0.0, writes)
            candidates.insert(0, first)
        tried: list[tuple[dict[str, Artifact], dict[str, str]]] = []
        for run in candidates:
            if (run.outputs, run.reads) in tried:  # the lock entry of a record: fetched once
                continue
            tried.append((run.outputs, run.reads))
            if not usable(RunRecord(run.outputs, run.reads, run.created, run.writes)):
                continue
            got = fetch_outputs(self.remote, run.outputs.values())
            if got.refused:
                owners = {d: f"{key}" for d in got.refused}
                for line in _fetch_problems(Fetched(refused=got.refused), owners):
                    self.warn(f"{line}; {key} runs instead")
                continue
            if got.missing:
                continue
            store.record_run(fingerprint, run.outputs, run.reads, run.created, key, run.writes)
            self.writes(key, run.writes)
            self.taken.add(key)
            return True
        return False
