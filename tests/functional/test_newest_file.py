"""A step that picks a file by its modification time (the newest checkpoint) depends on which
file is the newest: ``mtimes:DIR`` in its reads (``incr.pathfacts.asks_time``)."""

from __future__ import annotations

import os
import time

from .conftest import MakeProject

NEWEST = """\
    import glob
    import multiprocessing
    import os
    from pathlib import Path

    from incr import pipeline, step
    from pipelines.mark import mark


    @step
    def by_getmtime() -> str:
        latest = max(glob.glob("ckpt/*.txt"), key=os.path.getmtime)
        mark("by_getmtime:" + open(latest, encoding="utf-8").read())
        return latest


    @step
    def by_path_stat() -> str:
        latest = max(Path("ckpt").glob("*.txt"), key=lambda p: p.stat().st_mtime)
        mark("by_path_stat:" + latest.read_text(encoding="utf-8"))
        return str(latest)


    def modified(path):
        return os.path.getmtime(path)


    @step
    def in_workers() -> list:
        files = sorted(glob.glob("ckpt/*.txt"))
        with multiprocessing.get_context("fork").Pool(2) as pool:
            times = pool.map(modified, files)
        mark("in_workers")
        return [f for _, f in sorted(zip(times, files))]


    @step
    def exists_only() -> bool:
        mark("exists_only")
        paths = [Path("ckpt/a.txt"), Path("ckpt/b.txt")]
        return all(os.path.isfile(p) for p in paths) and all(p.exists() for p in paths)


    @pipeline
    def newest():
        by_getmtime()
        by_path_stat()
        in_workers()
        exists_only()
    """

BY_TIME = ["by_getmtime", "by_path_stat", "in_workers"]


def _touch(path, seconds: float) -> None:
    os.utime(path, (seconds, seconds))


def test_a_step_picking_the_newest_file_reruns_when_another_becomes_newest(
    make_project: MakeProject,
) -> None:
    project = make_project({"pipelines/newest.py": NEWEST, "ckpt/a.txt": "A", "ckpt/b.txt": "B"})
    now = time.time()
    _touch(project.root / "ckpt" / "a.txt", now - 100)
    _touch(project.root / "ckpt" / "b.txt", now - 50)
    project.repro()
    assert sorted(project.take_ran()) == [
        "by_getmtime:B",
        "by_path_stat:B",
        "exists_only",
        "in_workers",
    ]
    reads = project.lock()["newest.by_getmtime"].reads
    assert reads["mtimes:ckpt"] == '["a.txt", "b.txt"]'
    assert "mtimes:ckpt" in project.lock()["newest.in_workers"].reads  # reported by a worker
    assert not any(k.startswith("mtimes:") for k in project.lock()["newest.exists_only"].reads)
    assert project.dirty() == {}

    _touch(project.root / "ckpt" / "b.txt", now - 10)  # still the newest: the same choice
    assert project.dirty() == {}
    _touch(project.root / "ckpt" / "a.txt", now)  # a is the newest now, with the same bytes
    assert project.dirty() == {n: [("newest file changed", "ckpt")] for n in BY_TIME}
    project.repro()
    assert sorted(project.take_ran()) == ["by_getmtime:A", "by_path_stat:A", "in_workers"]
    assert project.dirty() == {}


WRITES_THEN_ASKS = """\
    import os

    from incr import pipeline, step
    from pipelines.mark import mark


    @step
    def rotate() -> str:
        mark("rotate")
        os.makedirs("logs", exist_ok=True)
        for name in ("old.log", "new.log"):
            with open(os.path.join("logs", name), "w", encoding="utf-8") as fh:
                fh.write(name)
        return max(os.listdir("logs"), key=lambda n: os.path.getmtime(os.path.join("logs", n)))


    @pipeline
    def writes():
        rotate()
    """


def test_times_of_files_the_step_wrote_are_taken_as_it_left_them(make_project: MakeProject):
    project = make_project({"pipelines/writes.py": WRITES_THEN_ASKS})
    project.repro()
    assert project.take_ran() == ["rotate"]
    assert project.dirty() == {}
    project.repro()
    assert project.take_ran() == []
