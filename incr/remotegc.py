"""``incr gc --remote``: remove from the remote what no ``pipeline.lock`` of any branch or tag
refers to, once it is older than a grace period.

Kept: every object that the lockfile in the working tree, or any lockfile of that name of
any branch, remote-tracking branch or tag of the git repository (read with ``git show``; the
other projects of a checkout may share the remote), refers to (a folder's files too), every
run record whose objects are all kept, and everything younger than the grace period (a push
under way, a branch not pushed yet), with every object a push within that period needed
(``pushes/``: a branch pushed and not merged yet may reuse objects only older lockfiles name,
which its push does not upload again). Removed, records first so that a record never points
at a missing object: older records naming a removed object, older objects nothing keeps, and
upload leftovers in ``tmp/``.
"""

from __future__ import annotations

import contextlib
import json
import re
import subprocess
import time
from dataclasses import field
from datetime import datetime
from pathlib import Path
from typing import Any

from incr import lockfile
from incr.errors import IncrError, LockfileError
from incr.model import LockEntry
from incr.remote import Remote, SharedRun
from incr.remotesync import objects_of
from incr.valueclass import valueclass

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def grace_seconds(text: str) -> float:
    """``7d``, ``12h``, ``30m``, ``45s``, ``2w`` or plain seconds. Raises IncrError."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhdw]?)\s*", text)
    if match is None:
        raise IncrError(f"--grace {text}: expected a duration like 7d, 12h or 30m")
    return float(match.group(1)) * _UNITS[match.group(2) or "s"]


def git_lockfiles(lockfile_path: Path) -> dict[str, str]:
    """``ref:path`` (``refs/heads/main:pipeline.lock``) -> the text of a lockfile of that
    name at that ref, for every branch, remote-tracking branch and tag, and every project of
    the checkout (several projects may share one remote). Empty outside a git repository."""
    folder = lockfile_path.parent
    try:
        refs = _git(folder, "for-each-ref", "--format=%(refname)", "refs/heads", "refs/tags")
        refs += _git(folder, "for-each-ref", "--format=%(refname)", "refs/remotes")
    except (OSError, subprocess.CalledProcessError):
        return {}
    found = {}
    for ref in refs.split():
        try:
            names = _git(folder, "ls-tree", "-r", "--name-only", "--full-tree", ref).splitlines()
        except subprocess.CalledProcessError:
            continue
        for rel in names:
            if rel.rpartition("/")[2] == lockfile_path.name:
                with contextlib.suppress(subprocess.CalledProcessError):
                    found[f"{ref}:{rel}"] = _git(folder, "show", f"{ref}:{rel}")
    return found


def _git(folder: Path, *args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=folder, capture_output=True, text=True, check=True, timeout=60
    ).stdout


@valueclass
class RemoteGcReport:
    """What ``incr gc --remote`` removed (or would remove)."""

    records: list[str] = field(default_factory=list)
    objects: list[str] = field(default_factory=list)
    temps: list[str] = field(default_factory=list)
    freed: int = 0
    kept: int = 0
    lockfiles: int = 0


def collect_remote(
    remote: Remote, lockfile_path: Path, grace: float, dry_run: bool, now: float | None = None
) -> RemoteGcReport:
    """Remove (or, with ``dry_run``, list) what no lockfile of any git ref needs and that is
    older than ``grace`` seconds. Raises LockfileError naming the ref of a damaged lockfile."""
    now = time.time() if now is None else now
    report = RemoteGcReport()
    entries = _all_entries(lockfile_path, report)
    # Folders' manifests only (to learn their files), never the objects themselves.
    got = remote.fetch(a.digest for e in entries for a in e.outputs.values() if a.kind == "dir")
    if got.refused:  # a damaged manifest: its files cannot be known, so nothing is removed
        raise IncrError(
            f"remote object {got.refused[0]} does not match its digest; nothing was removed",
            hint="run `incr push --repair` from a clone that has a good copy",
        )
    needed = objects_of(remote.store, (a for e in entries for a in e.outputs.values()))
    pushes = remote.listing("pushes")
    noted = sorted(p for p, info in pushes.items() if now - _modified(info, now) <= grace)
    for data in remote.read_many(noted).values():
        needed |= _noted_objects(data)
    objects = remote.listing("objects")
    old = {p for p, info in objects.items() if now - _modified(info, now) > grace}
    digest_of = {p: p.rsplit("/", 2)[-2] + p.rsplit("/", 1)[-1] for p in objects}
    removed = {digest_of[p] for p in old if digest_of[p] not in needed}
    runs = remote.listing("runs")
    blobs = remote.read_many(sorted(runs))
    for path, info in sorted(runs.items()):
        run = SharedRun.from_bytes(blobs[path]) if path in blobs else None
        names = objects_of(remote.store, run.outputs.values()) if run else set()
        young = now - _modified(info, now) <= grace
        if run is not None and (young or not names & removed):
            continue
        report.records.append(path)
    report.objects = sorted(p for p in old if digest_of[p] in removed)
    report.kept = len(objects) - len(report.objects)
    report.freed = sum(int(objects[p].get("size") or 0) for p in report.objects)
    temps = remote.listing("tmp")
    report.temps = sorted(p for p, i in temps.items() if now - _modified(i, now) > grace)
    report.temps += sorted(set(pushes) - set(noted))
    if not dry_run:
        # A push that began meanwhile noted what it relies on first: read the notes again.
        later = sorted(set(remote.listing("pushes")) - set(pushes))
        for data in remote.read_many(later).values():
            needed |= _noted_objects(data)
        report.objects = [p for p in report.objects if digest_of[p] not in needed]
        report.kept = len(objects) - len(report.objects)
        report.freed = sum(int(objects[p].get("size") or 0) for p in report.objects)
        remote.delete(report.records)
        remote.delete(report.objects)
        remote.delete(report.temps)
    return report


def _noted_objects(data: bytes) -> set[str]:
    """The objects a push note names (``Remote.note_push``); none when it is damaged."""
    try:
        found = json.loads(data)["objects"]
    except (ValueError, KeyError, TypeError):
        return set()
    return {d for d in found if isinstance(d, str)} if isinstance(found, list) else set()


def _all_entries(lockfile_path: Path, report: RemoteGcReport) -> list[LockEntry]:
    texts = git_lockfiles(lockfile_path)
    if lockfile_path.is_file():
        texts["working tree"] = lockfile_path.read_text(encoding="utf-8")
    entries: list[LockEntry] = []
    for ref, text in sorted(texts.items()):
        try:
            entries += lockfile.loads(
                text, ref if ":" in ref else f"{ref}:{lockfile_path.name}"
            ).values()
        except LockfileError as exc:
            raise LockfileError(
                f"{exc.message} (nothing was removed from the remote)", exc.hint
            ) from None
    report.lockfiles = len(texts)
    return entries


def _modified(info: dict[str, Any], now: float) -> float:
    """When a remote file was last written (seconds since the epoch), from its listing;
    ``now`` when the backend does not say (so it counts as young and is kept)."""
    for key in ("mtime", "LastModified", "last_modified", "updated", "mtime_ns", "created"):
        value = info.get(key)
        if value is None:
            continue
        if isinstance(value, datetime):
            return value.timestamp()
        if isinstance(value, int | float):
            return value / 1e9 if key == "mtime_ns" else float(value)
        if isinstance(value, str):
            try:
                return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
            except ValueError:
                continue
    return now
