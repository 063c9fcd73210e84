"""incr/maintenance.py: ``collect`` (incr gc) and ``verify`` (incr verify) on a real store."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from incr.maintenance import STALE_TEMP_SECONDS, collect, verify
from incr.model import Artifact, Facts, LockEntry
from incr.store import Store, canonical_listing

NOW = 1_800_000_000.0


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return Store(tmp_path / ".pipecache")


def _fp(n: int) -> str:
    return f"{n:032x}"


def _entry(key: str, fp: str, **outputs: Artifact) -> LockEntry:
    return LockEntry(key, fp, Facts({}, {}, {}, {}), dict(outputs))


def _run(store: Store, step: str, n: int, created: float, data: bytes) -> Artifact:
    """A run-cache entry (fingerprint ``_fp(n)``) for ``step`` with one json output."""
    artifact = Artifact("json", store.put(data))
    store.record_run(_fp(n), {"output": artifact}, {}, created, step)
    return artifact


def _fps(store: Store) -> list[str]:
    """The fingerprints the run cache holds, as the next command reads it."""
    with store.batched():
        return [fp for fp, _, _, _ in store.run_records()]


def _tree(store: Store, files: dict[str, bytes]) -> Artifact:
    listing = [[rel, store.put(data)] for rel, data in sorted(files.items())]
    return Artifact("dir", store.put(canonical_listing(listing)))


# --------------------------------------------------------------------------- collect


def test_keeps_the_newest_runs_of_each_step_by_creation_time(store: Store) -> None:
    # Recorded out of order: "created", not the order of the files, decides.
    old = _run(store, "p.a", 1, created=100, data=b"[1]")
    new = _run(store, "p.a", 2, created=300, data=b"[2]")
    mid = _run(store, "p.a", 3, created=200, data=b"[3]")
    other = _run(store, "p.b", 4, created=50, data=b"[4]")

    report = collect(store, {}, keep=2, dry_run=False, now=NOW)

    assert report.runs == [_fp(1)]
    assert report.objects == [store.object_path(old.digest)]
    for kept in (new, mid, other):
        assert store.has(kept.digest)
    assert not store.has(old.digest)
    assert _fps(store) == [_fp(2), _fp(3), _fp(4)]
    assert store.lookup_run(_fp(2)) is not None


def test_never_removes_what_the_lockfile_needs(store: Store) -> None:
    locked = _run(store, "p.a", 1, created=100, data=b"[1]")
    dropped = _run(store, "p.a", 2, created=200, data=b"[2]")
    _run(store, "p.a", 3, created=300, data=b"[3]")
    unrecorded = Artifact("json", store.put(b"[9]"))  # in the lockfile, in no run record
    locks = {
        "p.a": _entry("p.a", _fp(1), output=locked),
        "p.z": _entry("p.z", _fp(9), x=unrecorded),
    }

    report = collect(store, locks, keep=0, dry_run=False, now=NOW)

    assert store.has(locked.digest) and store.has(unrecorded.digest)
    assert store.lookup_run(_fp(1)) is not None, "the locked fingerprint's entry stays"
    assert not store.has(dropped.digest)
    assert sorted(report.runs) == [_fp(2), _fp(3)]


def test_an_object_shared_with_a_kept_run_stays(store: Store) -> None:
    shared = _run(store, "p.a", 1, created=100, data=b"[0]")
    _run(store, "p.a", 2, created=200, data=b"[0]")

    report = collect(store, {}, keep=1, dry_run=False, now=NOW)

    assert report.runs == [_fp(1)]
    assert report.objects == []
    assert store.has(shared.digest)


def test_a_folder_keeps_its_manifest_and_files(store: Store) -> None:
    locked = _tree(store, {"a.txt": b"a", "sub/b.txt": b"b"})
    old = _tree(store, {"a.txt": b"old a", "sub/b.txt": b"b"})
    store.record_run(_fp(1), {"data/out": old}, {}, 100, "p.a")
    store.record_run(_fp(2), {"data/out": locked}, {}, 200, "p.a")
    locks = {"p.a": _entry("p.a", _fp(2), **{"data/out": locked})}
    old_only = {old.digest, *(d for d in store.manifest(old.digest).values())}
    old_only -= set(store.manifest(locked.digest).values())

    report = collect(store, locks, keep=0, dry_run=False, now=NOW)

    assert {p.parent.name + p.name for p in report.objects} == old_only
    assert store.manifest(locked.digest) == {
        "a.txt": store.put(b"a"),
        "sub/b.txt": store.put(b"b"),
    }
    for digest in store.manifest(locked.digest).values():
        assert store.get(digest)


def test_a_dry_run_reports_the_same_and_removes_nothing(store: Store) -> None:
    _run(store, "p.a", 1, created=100, data=b"[1]")
    _run(store, "p.a", 2, created=200, data=b"[2]")
    files = sorted(store.dir.rglob("*"))

    dry = collect(store, {}, keep=1, dry_run=True, now=NOW)

    assert sorted(store.dir.rglob("*")) == files
    real = collect(store, {}, keep=1, dry_run=False, now=NOW)
    assert (dry.objects, dry.runs, dry.temps, dry.freed) == (
        real.objects,
        real.runs,
        real.temps,
        real.freed,
    )
    assert dry.runs and dry.objects


def test_freed_and_kept_count_bytes(store: Store) -> None:
    _run(store, "p.a", 1, created=100, data=b"[1, 2, 3]")
    kept = _run(store, "p.a", 2, created=200, data=b"[4]")

    report = collect(store, {}, keep=1, dry_run=False, now=NOW)

    assert report.freed == len(b"[1, 2, 3]")
    assert (report.kept_objects, report.kept_bytes) == (1, len(b"[4]"))
    assert store.get(kept.digest) == b"[4]"


def test_stale_temp_files_go_and_fresh_ones_stay(store: Store) -> None:
    digest = store.put(b"x")
    folder = store.object_path(digest).parent
    stale, fresh = folder / ".abc.1.tmp", folder / ".abc.2.tmp"
    stale.write_bytes(b"partial write")
    fresh.write_bytes(b"in progress")
    then = time.time() - STALE_TEMP_SECONDS - 60
    os.utime(stale, (then, then))
    locks = {"p.a": _entry("p.a", _fp(1), output=Artifact("json", digest))}

    report = collect(store, locks, keep=3, dry_run=False)

    assert report.temps == [stale]
    assert report.freed == len(b"partial write")
    assert not stale.exists() and fresh.exists()
    assert report.objects == [], "a temp file is never taken for an object"
    assert store.has(digest)


def test_an_unreadable_run_cache_shard_is_left_alone(store: Store) -> None:
    _run(store, "p.a", 1, created=100, data=b"[1]")
    damaged = store.runs / "f.json"
    damaged.write_text("{not json", encoding="utf-8")

    report = collect(store, {}, keep=3, dry_run=False, now=NOW)

    assert report.runs == [] and report.objects == []
    assert damaged.read_text(encoding="utf-8") == "{not json"


def test_an_empty_or_missing_cache(store: Store) -> None:
    report = collect(store, {}, keep=3, dry_run=False, now=NOW)

    assert (report.objects, report.runs, report.temps, report.freed) == ([], [], [], 0)


# --------------------------------------------------------------------------- verify


def test_verify_counts_every_object_including_folder_members(store: Store) -> None:
    tree = _tree(store, {"a.txt": b"a", "b.txt": b"b"})
    value = Artifact("npy", store.put(b"\x93NUMPY fake"))
    locks = {"p.a": _entry("p.a", _fp(1), out=tree, output=value)}

    checked, problems = verify(store, locks)

    assert (checked, problems) == (4, [])


def test_verify_names_step_output_and_path_and_removes_the_damage(store: Store) -> None:
    good = Artifact("json", store.put(b"[1]"))
    bad = Artifact("json", store.put(b"[2]"))
    store.object_path(bad.digest).write_bytes(b"[3]")
    gone = Artifact("json", "f" * 64)
    locks = {
        "p.a": _entry("p.a", _fp(1), output=good),
        "p.b": _entry("p.b", _fp(2), output=bad),
        "p.c": _entry("p.c", _fp(3), values=gone),
    }

    checked, problems = verify(store, locks)

    assert checked == 1
    assert [(p.step, p.output) for p in problems] == [("p.b", "output"), ("p.c", "values")]
    assert str(store.object_path(bad.digest)) in problems[0].text
    assert "f" * 64 in problems[1].text and "missing" in problems[1].text
    assert not store.object_path(bad.digest).exists(), "removed, so repro recomputes it"
    assert store.get(good.digest) == b"[1]"


def test_verify_finds_a_damaged_file_inside_a_folder(store: Store) -> None:
    tree = _tree(store, {"a.txt": b"a", "b.txt": b"b"})
    member = store.object_path(store.manifest(tree.digest)["b.txt"])
    member.write_bytes(b"B")

    _, problems = verify(store, {"p.a": _entry("p.a", _fp(1), out=tree)})

    assert [(p.step, p.output) for p in problems] == [("p.a", "out")]
    assert str(member) in problems[0].text


def test_verify_reports_a_manifest_that_is_not_a_listing(store: Store) -> None:
    bogus = Artifact("dir", store.put(b'{"not": "a listing"}'))

    _, problems = verify(store, {"p.a": _entry("p.a", _fp(1), out=bogus)})

    assert [(p.step, p.output) for p in problems] == [("p.a", "out")]
    assert "malformed" in problems[0].text
