"""The remote cache's pieces in process, on a local folder remote: configuration, listing,
verified transfers, write-once records, target selection, grace periods."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from blake3 import blake3

from incr.errors import GraphError, IncrError
from incr.model import Artifact, Facts, LockEntry
from incr.project import Project
from incr.remote import Remote, SharedRun
from incr.remoteconf import RemoteError, remote_config
from incr.remotegc import grace_seconds
from incr.remotesync import RemoteRuns, fetch_outputs, push, select
from incr.store import ObjectMissing, Store

pytest.importorskip("fsspec")


def project_at(root: Path, table: str = "") -> Project:
    root.mkdir(parents=True, exist_ok=True)
    (root / "pyproject.toml").write_text(f'[project]\nname = "x"\n{table}', encoding="utf-8")
    return Project.load(root)


@pytest.fixture
def pair(tmp_path: Path) -> tuple[Remote, Remote]:
    """Two caches sharing one folder remote: (here, there)."""
    table = '\n[tool.incr.remote]\nurl = "../shared"\n'
    here = project_at(tmp_path / "here", table)
    there = project_at(tmp_path / "there", table)
    return Remote.open(here), Remote.open(there)


def test_config_from_table_and_environment(tmp_path: Path) -> None:
    project = project_at(tmp_path / "p", '\n[tool.incr.remote]\nurl = "s3://b/x"\npull = true\n')
    config = remote_config(project, {})
    assert (config.url, config.protocol, config.path, config.pull) == (
        "s3://b/x",
        "s3",
        "b/x",
        True,
    )
    local = remote_config(project, {"INCR_REMOTE": "cache-folder"})
    assert local.url == os.fspath(tmp_path / "p" / "cache-folder") and local.protocol == "file"
    with pytest.raises(RemoteError, match="no remote"):
        remote_config(project_at(tmp_path / "q"), {})


def test_push_then_fetch_verifies_and_lists(pair: tuple[Remote, Remote]) -> None:
    here, there = pair
    digests = [here.store.put(f"object {n}".encode()) for n in range(40)]
    assert here.push_objects(digests) == sorted(digests)
    assert here.push_objects(digests) == []  # listed: nothing sent again
    assert there.present(digests) == set(digests)
    got = there.fetch([*digests, "ab" * 32])
    assert sorted(got.stored) == sorted(digests) and got.missing == ["ab" * 32]
    assert all(there.store.get(d) for d in digests)
    assert there.fetch(digests).stored == []  # all here: the remote is not asked


def test_a_damaged_remote_object_is_refused_and_repaired(pair: tuple[Remote, Remote]) -> None:
    here, there = pair
    digest = here.store.put(b"the right bytes")
    here.push_objects([digest])
    path = Path(here.object_path(digest))
    os.chmod(path, 0o644)
    path.write_bytes(b"the wrong bytes")
    got = there.fetch([digest])
    assert got.refused == [digest] and not there.store.has(digest)
    assert list(there.store.objects.glob(".pull.*")) == []  # nothing kept
    assert here.damaged([digest]) == [digest]
    here.upload([digest])
    assert blake3(path.read_bytes()).hexdigest() == digest
    with pytest.raises(ObjectMissing):
        there.push_objects(["cd" * 32])


def test_records_are_write_once_and_named_by_result(pair: tuple[Remote, Remote]) -> None:
    here, there = pair
    out = {"output": Artifact("json", here.store.put(b"[1]"))}
    first = SharedRun("f" * 32, "flow.a", out, {"data/x": "1"}, 10.0)
    same = SharedRun("f" * 32, "flow.a", out, {"data/x": "1"}, 99.0)  # pushed from elsewhere
    other = SharedRun("f" * 32, "flow.a", out, {"data/x": "2"}, 20.0)
    assert first.name == same.name != other.name
    here.push_objects([out["output"].digest])
    assert here.push_records([first]) == [first]
    assert there.push_records([same, other]) == [other]
    runs = there.runs_of("f" * 32)
    assert [r.reads for r in runs] == [{"data/x": "2"}, {"data/x": "1"}]  # newest first
    assert SharedRun.from_bytes(b"not json") is None


def test_remote_runs_fill_the_local_run_cache(pair: tuple[Remote, Remote]) -> None:
    here, there = pair
    out = {"o": Artifact("json", here.store.put(b"[2]"))}
    push(here, {"p.s": _entry("p.s", "e" * 32, out)}, ["p.s"])
    warnings: list[str] = []
    runs = RemoteRuns(there, {}, warnings.append)
    assert runs.fill("p.s", "e" * 32, lambda record: True)
    assert runs.took("p.s") and there.store.lookup_run("e" * 32) is not None
    assert not runs.fill("p.s", "e" * 32, lambda record: True)  # local now: no remote call
    assert not RemoteRuns(there, {}, warnings.append).fill("p.t", "d" * 32, lambda r: True)
    assert warnings == []


def test_fetch_outputs_brings_a_folders_files(pair: tuple[Remote, Remote], tmp_path: Path) -> None:
    here, there = pair
    folder = tmp_path / "here" / "out"
    folder.mkdir()
    (folder / "a.txt").write_text("a", encoding="utf-8")
    tree = here.store.put_tree(folder)
    files = list(here.store.manifest(tree).values())
    here.push_objects([tree, *files])
    got = fetch_outputs(there, [Artifact("dir", tree)])
    assert got.complete and set(got.stored) == {tree, *files}


def test_select_and_grace() -> None:
    locks = {k: _entry(k, "0" * 32, {}) for k in ("flow.load", "flow.train", "other.load")}
    assert select(locks, []) == sorted(locks)
    assert select(locks, ["flow"]) == ["flow.load", "flow.train"]
    assert select(locks, ["train"]) == ["flow.train"]
    with pytest.raises(GraphError):
        select(locks, ["load"])  # two pipelines have it
    assert grace_seconds("7d") == 7 * 86400 and grace_seconds("90") == 90
    with pytest.raises(IncrError):
        grace_seconds("soon")


def _entry(key: str, fp: str, outputs: dict[str, Artifact]) -> LockEntry:
    return LockEntry(key, fp, Facts({}, {}, {}, {}), outputs, {})


def test_store_is_the_projects(pair: tuple[Remote, Remote]) -> None:
    here, _ = pair
    assert isinstance(here.store, Store) and here.url.endswith("shared")


def test_push_all_runs_sends_every_record(pair: tuple[Remote, Remote]) -> None:
    here, there = pair
    locked = {"o": Artifact("json", here.store.put(b"[3]"))}
    older = {"o": Artifact("json", here.store.put(b"[4]"))}
    here.store.record_run("a" * 32, locked, {}, 5.0, "p.s")
    here.store.record_run("b" * 32, older, {}, 4.0, "p.s")
    locks = {"p.s": _entry("p.s", "a" * 32, locked)}
    assert push(here, locks, ["p.s"]).records == 1
    report = push(here, locks, ["p.s"], all_runs=True)
    assert (report.uploaded, report.records) == (1, 1)
    assert [r.step for r in there.runs_of("b" * 32)] == ["p.s"]


def test_a_damaged_local_object_is_not_pushed(pair: tuple[Remote, Remote]) -> None:
    here, there = pair
    good = {"o": Artifact("json", here.store.put(b"[5]"))}
    bad = {"o": Artifact("json", here.store.put(b"[6]"))}
    path = here.store.object_path(bad["o"].digest)
    os.chmod(path, 0o644)
    path.write_bytes(b"[7]")
    locks = {"p.a": _entry("p.a", "a" * 32, good), "p.b": _entry("p.b", "b" * 32, bad)}
    report = push(here, locks, ["p.a", "p.b"])
    assert (report.uploaded, report.records) == (1, 1)
    assert len(report.problems) == 1 and "p.b (output o)" in report.problems[0]
    assert not here.store.has(bad["o"].digest) and there.runs_of("b" * 32) == []


class _PushingMeanwhile(Remote):
    """A folder remote where another clone's push notes ``digest`` while gc lists the run
    records (between gc's first look at the push notes and its removals)."""

    digest = ""

    def listing(self, prefix: str) -> dict:
        if prefix == "runs" and self.digest:
            self.note_push([self.digest])
            self.digest = ""
        return super().listing(prefix)


def test_gc_remote_keeps_an_old_object_a_push_noted_while_gc_ran(tmp_path: Path) -> None:
    from incr.remotegc import collect_remote

    table = '\n[tool.incr.remote]\nurl = "../shared"\n'
    project = project_at(tmp_path / "here", table)
    remote = Remote.open(project)
    kept, gone = remote.store.put(b"reused by a branch"), remote.store.put(b"needed by none")
    remote.push_objects([kept, gone])
    meanwhile = _PushingMeanwhile.open(project)
    meanwhile.digest = kept
    later = 10_000_000_000.0  # every object is old
    report = collect_remote(meanwhile, project.lockfile, grace=60.0, dry_run=False, now=later)
    assert [p.rsplit("/", 1)[-1] for p in report.objects] == [gone[2:]]
    assert remote.present([kept, gone]) == {kept}


def test_a_run_record_edited_since_it_was_pushed_is_no_record(pair: tuple[Remote, Remote]) -> None:
    """A record is named by what it holds: bytes that no longer give its name are skipped."""
    here, there = pair
    good, other = here.store.put(b"the result"), here.store.put(b"another result")
    run = SharedRun("f" * 32, "flow.a", {"output": Artifact("json", good)}, {}, 10.0)
    here.push_records([run])
    assert [r.outputs for r in there.runs_of("f" * 32)] == [run.outputs]
    path = Path(here.record_path(run.fingerprint, run.name))
    os.chmod(path, 0o644)
    path.write_bytes(path.read_bytes().replace(good.encode(), other.encode()))
    assert there.runs_of("f" * 32) == []


class _CollectingMeanwhile(Remote):
    """A folder remote listed while ``incr gc`` here removes an old run's object."""

    doomed = ""

    def present(self, digests):  # type: ignore[no-untyped-def]
        found = super().present(digests)
        if self.doomed:
            self.store.discard(self.doomed)
            self.doomed = ""
        return found


def test_an_old_runs_object_gc_removes_during_push_all_runs_is_no_damage(tmp_path: Path) -> None:
    """``push --all-runs`` while ``incr gc`` removes an old run's objects: that run is not
    pushed, and nothing is called damaged."""
    project = project_at(tmp_path / "here", '\n[tool.incr.remote]\nurl = "../shared"\n')
    remote = _CollectingMeanwhile.open(project)
    kept, old = remote.store.put(b"the locked result"), remote.store.put(b"an old run's")
    entry = LockEntry(
        "flow.a", "f" * 32, Facts({}, {}, {}, {}), {"output": Artifact("json", kept)}, {}
    )
    remote.store.record_run("e" * 32, {"output": Artifact("json", old)}, {}, 1.0, "flow.a")
    remote.doomed = old
    report = push(remote, {"flow.a": entry}, ["flow.a"], all_runs=True)
    assert report.problems == []
    assert report.uploaded == 1 and remote.present([kept, old]) == {kept}
