"""Reliability, ``incr gc``: it removes only what nothing needs, and ``--keep`` decides which
reverts stay free."""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path

import pytest

from incr import cachefile
from incr.store import Store

from .conftest import MakeProject, Project
from .reliability import _pipeline
from .reliability import writer as writer  # a fixture: pytest finds it by this name

GROW = """\
    VERSION = 1


    @step(outs=["reports/out.txt"])
    def make() -> list:
        mark("make")
        Path("reports").mkdir(exist_ok=True)
        Path("reports/out.txt").write_text(f"version {VERSION}\\n")
        return [VERSION] * 100


    @step
    def use(values: list) -> int:
        mark("use")
        return len(values)


    @pipeline
    def grow():
        use(make())
    """


def _set_version(project: Project, old: int, new: int) -> None:
    project.edit("pipelines/bad.py", f"VERSION = {old}", f"VERSION = {new}")


@pytest.fixture
def grown(make_project: MakeProject) -> tuple[Project, dict[int, dict]]:
    """Versions 1 to 5 run one after the other, then a revert to 1 (restored for free): the
    lockfile needs the oldest run-cache entries; version 4 is the newest but one."""
    project = make_project(_pipeline(GROW))
    versions = {}
    for version in range(1, 6):
        if version > 1:
            _set_version(project, version - 1, version)
        project.repro()
        assert project.take_ran() == ["make", "use"]
        versions[version] = project.lock()
    _set_version(project, 5, 1)
    project.repro()
    assert project.take_ran() == []
    assert project.lock() == versions[1]
    return project, versions


def _garbage(
    project: Project, versions: dict[int, dict], gone: tuple[int, ...]
) -> tuple[set[str], set[str], set[str]]:
    """What only the run-cache entries of versions ``gone`` need: the files of cache objects,
    the packed objects (the small values), and the fingerprints of those entries."""
    paths, packed, fps = set(), set(), set()
    for version in gone:
        fps |= {entry.fingerprint for entry in versions[version].values()}
        for artifact in versions[version]["grow.make"].outputs.values():
            if project.object_file(artifact.digest).exists():
                paths.add(project.object_file(artifact.digest).relative_to(project.root).as_posix())
            else:
                packed.add(artifact.digest)
    return paths, packed, fps


def _cache_files(project: Project) -> set[str]:
    """The files of the cache, but for the packs (see ``_packed``)."""
    cache = project.root / ".pipecache"
    files = {p.relative_to(project.root).as_posix() for p in cache.rglob("*") if p.is_file()}
    return {f for f in files if not f.startswith(".pipecache/packs/")}


def _packed(project: Project) -> set[str]:
    return set(Store(project.root / ".pipecache").packed_objects())


def _run_cache(project: Project) -> set[str]:
    """The fingerprints the run cache's shards hold."""
    shards = (project.root / ".pipecache" / "runs").glob("*.bin")
    return {fp for shard in shards for fp in cachefile.read(shard)["runs"]}


def test_gc_dry_run_lists_and_gc_removes_only_what_nothing_needs(grown) -> None:
    project, versions = grown
    before, runs, packed = _cache_files(project), _run_cache(project), _packed(project)
    garbage, garbage_packed, gone = _garbage(project, versions, gone=(2, 3, 4))
    assert garbage <= before and gone <= runs and garbage_packed <= packed
    assert len(garbage) == 3 and len(garbage_packed) == 3  # the files; the values

    dry = project.incr("gc", "--keep", "1", "--dry-run")

    assert dry.returncode == 0, dry.output
    listed = {line.strip() for line in dry.stdout.splitlines() if line.startswith("  ")}
    texts = {line for line in listed if line.startswith(".pipecache/sources/")}
    assert len(texts) == 4  # the module's texts of versions 2 to 5 (see the test below)
    garbage |= texts
    assert listed == (
        garbage
        | {f"packed object {digest}" for digest in garbage_packed}
        | {f"run-cache entry {fp}" for fp in gone}
    )
    said = "6 objects, 6 run-cache entries, 0 run records, 4 kept sources and 0 leftover temp files"
    assert f"would remove {said}" in dry.stdout
    assert _cache_files(project) == before and _run_cache(project) == runs
    assert _packed(project) == packed

    result = project.incr("gc", "--keep", "1")

    assert result.returncode == 0, result.output
    assert f"removed {said}" in result.stdout
    shards = {f for f in before if f.startswith(".pipecache/runs/")}
    assert _cache_files(project) - shards == before - garbage - shards
    assert _packed(project) == packed - garbage_packed
    assert len(list((project.root / ".pipecache/packs").glob("*.pack"))) == 1, "rewritten as one"
    assert _run_cache(project) == runs - gone
    verify = project.incr("verify")
    assert verify.returncode == 0, verify.output
    assert project.dirty() == {}
    project.repro()
    assert project.take_ran() == []


def test_gc_keep_decides_which_reverts_stay_free(grown, tmp_path: Path) -> None:
    one, versions = grown
    shutil.copytree(one.root, tmp_path / "keep3")
    three = Project(tmp_path / "keep3")

    assert "removed 6 objects, 6 run-cache entries" in one.incr("gc", "--keep", "1").stdout
    assert "removed 2 objects, 2 run-cache entries" in three.incr("gc").stdout
    for project in (one, three):
        _set_version(project, 1, 4)
        project.repro()
        assert project.read("reports/out.txt") == "version 4\n"
        assert project.lock() == versions[4]

    assert one.take_ran() == ["make", "use"], "keep 1 dropped version 4's results"
    assert three.take_ran() == [], "keep 3 keeps the newest three: 5, 4 and 3"
    _set_version(three, 4, 2)
    three.repro()
    assert three.take_ran() == ["make", "use"]


def _records(project: Project) -> list[tuple[float, str]]:
    """The run records of pipeline ``grow``: (start, run name), oldest first."""
    folder = project.root / ".pipecache/history/grow"
    records = [json.loads(path.read_text()) for path in folder.glob("*.json")]
    return sorted((r["started"], r["name"]) for r in records)


LIST_RUNS = """\
from incr.postexec import Repository
print(*[run.name for run in Repository().get_pipeline("grow").runs])
"""


def test_gc_keeps_the_newest_run_records_of_each_pipeline(grown) -> None:
    """Every run leaves a record (what ``get_pipeline(...).runs`` lists); gc keeps the
    ``--keep-history`` newest of each pipeline and removes the others, and lists them on a
    dry run."""
    project, _ = grown
    records = _records(project)
    assert len(records) == 6  # five versions and the revert
    newest = [name for _, name in records[-2:]]
    dry = project.incr("gc", "--keep-history", "2", "--dry-run")
    assert dry.returncode == 0, dry.output
    assert "2 run-cache entries, 4 run records, 4 kept sources and" in dry.stdout, dry.stdout
    listed = {line.strip() for line in dry.stdout.splitlines() if "/history/" in line}
    assert listed == {f".pipecache/history/grow/{name}.json" for _, name in records[:4]}
    assert _records(project) == records

    result = project.incr("gc", "--keep-history", "2")
    assert "4 run records" in result.stdout, result.output
    assert _records(project) == records[-2:]
    (project.root / "runs.py").write_text(LIST_RUNS)
    listing = project.python("runs.py")
    assert listing.stdout.split() == newest, listing.output
    assert "0 run records" in project.incr("gc").stdout  # 100 by default
    project.repro()
    assert project.take_ran() == []
    assert len(_records(project)) == 3


@pytest.mark.parametrize(
    "folder",
    ["objects", "runs"],
)
def test_gc_removes_stale_temp_files_only(writer: Project, folder: str) -> None:
    where = writer.root / ".pipecache" / folder / "ab"
    where.mkdir(parents=True, exist_ok=True)
    stale, fresh = where / ".cdef.x1y2.tmp", where / ".cdef.z3w4.tmp"
    stale.write_bytes(b"partial")
    fresh.write_bytes(b"being written")
    two_hours_ago = time.time() - 7200
    os.utime(stale, (two_hours_ago, two_hours_ago))

    result = writer.incr("gc")

    assert result.returncode == 0, result.output
    assert "1 leftover temp file " in result.stdout
    assert not stale.exists()
    assert fresh.exists()
    assert writer.incr("verify").returncode == 0


def test_a_packed_object_with_a_file_of_its_own_counts_once(grown) -> None:
    """An upload leaves a file made from the pack beside the packed object (``loose_path``):
    gc removes both copies and counts one object."""
    project, versions = grown
    _, garbage_packed, _ = _garbage(project, versions, gone=(2, 3, 4))
    store = Store(project.root / ".pipecache")
    for digest in garbage_packed:
        store.loose_path(digest)

    dry = project.incr("gc", "--keep", "1", "--dry-run")

    listed = {line.strip() for line in dry.stdout.splitlines() if line.startswith("  ")}
    assert {f"packed object {d}" for d in garbage_packed} <= listed
    assert {
        project.object_file(d).relative_to(project.root).as_posix() for d in garbage_packed
    } <= listed
    assert "would remove 6 objects" in dry.stdout
    result = project.incr("gc", "--keep", "1")
    assert "removed 6 objects" in result.stdout
    assert not any(project.object_file(d).exists() for d in garbage_packed)
    objects = project.root / ".pipecache/objects"
    assert all(any(folder.iterdir()) for folder in objects.iterdir()), "no empty folder left"
    assert not _packed(project) & garbage_packed


def test_gc_keeps_the_results_other_git_branches_name(make_project: MakeProject) -> None:
    """A branch's committed lockfile names results that the working tree's does not: gc
    keeps them, so checking the branch out again restores them instead of running."""
    from .remotes import git

    project = make_project(_pipeline(GROW))
    project.repro()
    assert project.take_ran() == ["make", "use"]
    git(project.root, "init", "-q", "-b", "main")
    git(project.root, "add", "-A")
    git(project.root, "commit", "-q", "-m", "version 1")
    git(project.root, "checkout", "-q", "-b", "other")
    for version in range(2, 6):  # four more versions: version 1's runs fall out of --keep 3
        _set_version(project, version - 1, version)
        project.repro()
    git(project.root, "commit", "-q", "-am", "version 5")
    assert "removed" in project.incr("gc", "--keep", "1").stdout
    git(project.root, "checkout", "-q", "main")
    project.take_ran()
    project.repro()
    assert project.take_ran() == [], "gc dropped the results main's lockfile names"
    assert project.read("reports/out.txt") == "version 1\n"


def test_gc_keeps_the_module_texts_the_lockfile_and_the_next_edit_need(grown) -> None:
    """A run keeps the text of each module version its steps' code came from (for the diffs
    `incr show` prints, and for telling what the next edit touched); gc removes the texts no
    lock entry, graph or module file as it is now names: here those of versions 2 to 5."""
    project, _ = grown
    modules = project.root / ".pipecache/sources/modules"
    before = set(modules.iterdir())  # one text per version of pipelines/bad.py, and the others
    assert "4 kept sources" in project.incr("gc").stdout
    after = set(modules.iterdir())
    assert after < before and len(before - after) == 4  # version 1's stays: the lockfile's
    _set_version(project, 1, 6)
    show = project.incr("show", "make")
    assert "-VERSION = 1" in show.stdout and "+VERSION = 6" in show.stdout, show.output
    project.repro()
    assert project.take_ran() == ["make", "use"]
    assert project.read("reports/out.txt") == "version 6\n"
    assert "0 kept sources" in project.incr("gc", "--dry-run").stdout


def test_gc_removes_a_stale_temp_file_a_killed_restore_left_beside_an_out(
    writer: Project,
) -> None:
    """A restore of a large ``outs`` file killed as it wrote leaves ``.out.txt.PID-N.tmp``
    beside it, which nothing else removes."""
    stale = writer.root / "reports" / ".out.txt.4242-3.tmp"
    fresh = writer.root / "reports" / ".out.txt.4243-1.tmp"
    stale.write_bytes(b"partial")
    fresh.write_bytes(b"being written")
    two_hours_ago = time.time() - 7200
    os.utime(stale, (two_hours_ago, two_hours_ago))

    result = writer.incr("gc")

    assert "1 leftover temp file " in result.stdout, result.output
    assert not stale.exists()
    assert fresh.exists()
    assert (writer.root / "reports" / "out.txt").read_text() == "value 1\n"
