"""Reliability, failed writes: a full disk or a refused write leaves the lockfile and the cache as
they were."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from .conftest import Project, Result
from .reliability import INCR, _damaged, _env, _injected, _objects
from .reliability import writer as writer  # a fixture: pytest finds it by this name


def _full_disk(project: Project, pattern: str, *args: str, error: str = "ENOSPC") -> Result:
    """``incr ARGS`` with every rename onto a path containing ``pattern`` failing (ENOSPC, or
    the errno named by ``error``)."""
    env = _env(_injected(project, INCR_TEST_ENOSPC=pattern, INCR_TEST_ERRNO=error))
    proc = subprocess.run(
        [*INCR, *args], cwd=project.root, env=env, capture_output=True, text=True, timeout=120
    )
    return Result(proc.returncode, proc.stdout, proc.stderr)


def _temp_files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob(".*.tmp"))


@pytest.mark.parametrize(
    ("pattern", "then_ran"),
    [
        (".pipecache/objects", ["write", "count"]),  # nothing was stored: run again
        (".pipecache/packs", ["write", "count"]),  # no value could be packed: run again
        ("pipeline.lock", ["count"]),  # write is in the run cache: restored for free
    ],
)
def test_a_full_disk_leaves_lockfile_and_cache_as_they_were(
    writer: Project, pattern: str, then_ran: list[str]
) -> None:
    writer.edit("pipelines/bad.py", "VALUE = 1", "VALUE = 2")
    lock, objects = writer.lock_bytes(), _objects(writer.root)

    result = _full_disk(writer, pattern, "repro")

    assert result.returncode != 0, result.output
    assert "Traceback" not in result.output, result.output
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and "No space left" in errors[0], result.stderr
    assert pattern in errors[0], "names the file"
    assert writer.lock_bytes() == lock
    if pattern == ".pipecache/objects":  # no file stored (the step's value went to a pack)
        files = {d: p for d, p in _objects(writer.root).items() if p.suffix != ".pack"}
        assert files == {d: p for d, p in objects.items() if p.suffix != ".pack"}
    assert objects.items() <= _objects(writer.root).items()
    assert _damaged(writer.root) == []
    assert _temp_files(writer.root) == []
    assert writer.take_ran() == ["write"]

    writer.repro()
    assert writer.take_ran() == then_ran
    assert writer.read("reports/out.txt") == "value 2\n"
    assert writer.dirty() == {}


def test_a_full_disk_when_run_records_are_folded_loses_no_result(writer: Project) -> None:
    """Run records go to the run cache's journal as steps finish and are folded into its
    shards when the run ends: that fold failing is reported, and the results stand."""
    writer.edit("pipelines/bad.py", "VALUE = 1", "VALUE = 2")

    result = _full_disk(writer, ".pipecache/runs", "repro")

    assert result.returncode != 0, result.output
    assert "Traceback" not in result.output, result.output
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and "No space left" in errors[0], result.stderr
    assert writer.take_ran() == ["write", "count"]
    assert (writer.root / ".pipecache" / "runs" / "journal").is_file(), "the records are kept"
    assert _temp_files(writer.root) == []
    assert writer.dirty() == {}, "the lockfile holds the results"

    writer.repro()
    assert writer.take_ran() == []
    assert not (writer.root / ".pipecache" / "runs" / "journal").exists(), "folded now"
    writer.edit("pipelines/bad.py", "VALUE = 2", "VALUE = 1")
    writer.repro()
    assert writer.take_ran() == [], "restored from the run cache"
    assert writer.read("reports/out.txt") == "value 1\n"


def test_a_write_refused_for_permissions_leaves_everything_as_it_was(writer: Project) -> None:
    writer.edit("pipelines/bad.py", "VALUE = 1", "VALUE = 2")
    lock, objects = writer.lock_bytes(), _objects(writer.root)

    result = _full_disk(writer, "pipeline.lock", "repro", error="EACCES")

    assert "Permission denied" in result.user_error()
    assert "pipeline.lock" in result.stderr
    assert writer.lock_bytes() == lock
    assert objects.items() <= _objects(writer.root).items()
    assert _temp_files(writer.root) == []
    writer.repro()
    assert writer.dirty() == {}


def test_a_full_disk_while_restoring_an_out_file(writer: Project) -> None:
    (writer.root / "reports/out.txt").unlink()
    lock = writer.lock_bytes()

    result = _full_disk(writer, "reports/out.txt", "repro")

    assert "No space left" in result.user_error()
    assert writer.lock_bytes() == lock
    assert _temp_files(writer.root) == []
    writer.repro()
    assert writer.take_ran() == []
    assert writer.read("reports/out.txt") == "value 1\n"


@pytest.mark.parametrize("pattern", ["pipeline.lock", "reports/out.txt"])
def test_a_failed_write_says_which_file(writer: Project, pattern: str) -> None:
    if pattern == "pipeline.lock":
        writer.edit("pipelines/bad.py", "VALUE = 1", "VALUE = 2")  # a rerun rewrites it
    else:
        (writer.root / pattern).unlink()  # repro restores it from the cache

    line = _full_disk(writer, pattern, "repro").user_error()

    assert pattern in line, line


def test_a_full_disk_for_the_stat_cache_does_not_fail_the_run(writer: Project) -> None:
    writer.edit("pipelines/bad.py", "VALUE = 1", "VALUE = 2")

    result = _full_disk(writer, "stat.json", "repro")

    assert result.returncode == 0, result.output
    assert writer.take_ran() == ["write", "count"]
    assert writer.dirty() == {}
