"""A step that writes a file without listing it in ``outs``, read by a later step: when the
file is gone (``rm -rf out/``), the writer runs again to write it, as a run from scratch
would, rather than the reader failing on it."""

from __future__ import annotations

import shutil
from pathlib import Path

from .conftest import MakeProject
from .scratch import assert_same_as_scratch, fresh_copy

FLOW = """\
import os

from incr import pipeline, step

from pipelines.mark import mark


@step
def write() -> None:
    mark("write")
    os.makedirs("out", exist_ok=True)
    with open("out/a.txt", "w", encoding="utf-8") as fh:
        fh.write("hello\\n")
    with open("out/log.txt", "w", encoding="utf-8") as fh:
        fh.write("no step reads me\\n")


@step
def read() -> str:
    mark("read")
    with open("out/a.txt", encoding="utf-8") as fh:
        return fh.read().upper()


@pipeline
def p():
    write()
    read()
"""


def test_the_writer_of_a_file_gone_runs_again(make_project: MakeProject, tmp_path: Path) -> None:
    project = make_project({"pipelines/flow.py": FLOW})
    project.repro()
    assert project.take_ran() == ["write", "read"]
    project.repro()
    assert project.take_ran() == []
    shutil.rmtree(project.root / "out")
    dirty = project.dirty()
    assert dirty["write"] == [
        ("written file missing", "out/a.txt"),
        ("written file missing", "out/log.txt"),  # read by no step, written again too
    ]
    project.repro()
    assert project.take_ran() == ["write"]  # the same bytes again: the reader is reused
    assert project.dirty() == {}
    (project.root / "out" / "log.txt").unlink()  # read by no step, and written again too
    assert project.dirty() == {
        "write": [("written file missing", "out/log.txt")],
        "read": [("after", "write")],
    }
    project.repro()
    assert project.take_ran() == ["write"]
    assert project.read("out/log.txt") == "no step reads me\n"
    assert_same_as_scratch(project, fresh_copy(project, tmp_path / "fresh"))


def test_the_writer_of_a_file_changed_since_it_ran_runs_again(
    make_project: MakeProject, tmp_path: Path
) -> None:
    """The file no longer holds what the writer's run left, which the reader after it read
    (a checkout of another branch whose run wrote it, a run killed as it wrote, an edit by
    hand): the writer runs again, and the reader, reading what it read before, is reused.
    Before, the writer was clean and the reader reran on the other file: a stale result."""
    project = make_project({"pipelines/flow.py": FLOW})
    project.repro()
    assert project.take_ran() == ["write", "read"]
    project.write({"out/a.txt": "half"})
    assert project.dirty() == {
        "write": [("written file changed", "out/a.txt")],
        "read": [("read changed", "out/a.txt"), ("after", "write")],
    }
    project.repro()
    assert project.take_ran() == ["write"]
    assert project.read("out/a.txt") == "hello\n"
    assert project.dirty() == {}
    project.write({"out/log.txt": "edited"})  # read by no step: written again all the same
    assert project.dirty() == {
        "write": [("written file changed", "out/log.txt")],
        "read": [("after", "write")],
    }
    project.repro()
    assert project.take_ran() == ["write"]
    assert project.dirty() == {}
    assert_same_as_scratch(project, fresh_copy(project, tmp_path / "fresh"))


APPEND = """\
from incr import pipeline, step

from pipelines.mark import mark


@step
def start() -> None:
    mark("start")
    with open("log.txt", "w", encoding="utf-8") as fh:
        fh.write("start\\n")


@step
def append() -> int:
    mark("append")
    with open("log.txt", encoding="utf-8") as fh:
        lines = fh.read().splitlines()
    with open("log.txt", "a", encoding="utf-8") as fh:
        fh.write("more\\n")
    return len(lines)


@pipeline
def log():
    start()
    append()
"""


def test_a_file_two_steps_write_is_not_taken_as_changed(make_project: MakeProject) -> None:
    """The step after the writer appends to the file it read: the file is as the last writer
    left it, not changed since; nothing runs again."""
    project = make_project({"pipelines/log.py": APPEND})
    project.repro()
    assert project.take_ran() == ["start", "append"]
    project.repro()
    assert project.take_ran() == []


def test_the_writer_run_alone_is_clean_and_its_reader_dirty(make_project: MakeProject) -> None:
    """``incr repro write`` after an edit of the writer: the file holds what its run left,
    which the lockfile records; the reader, not run yet, read the file before. The writer is
    clean (it would run again for nothing), the reader dirty."""
    project = make_project({"pipelines/flow.py": FLOW})
    project.repro()
    project.take_ran()
    project.edit("pipelines/flow.py", 'fh.write("hello', 'fh.write("bye')
    project.repro("write")
    assert project.take_ran() == ["write"]
    assert project.dirty() == {"read": [("read changed", "out/a.txt")]}
    project.repro()
    assert project.take_ran() == ["read"]
    assert project.dirty() == {}


PREP = """\
import os

from incr import pipeline, step

from pipelines.mark import mark


@step
def clean() -> None:
    mark("clean")
    os.makedirs("work", exist_ok=True)
    with open("work/clean.csv", "w", encoding="utf-8") as fh:
        fh.write("1,2,3")


@pipeline
def prep():
    clean()
"""

REPORT = """\
from incr import pipeline, step

from pipelines.mark import mark


@step
def total() -> int:
    mark("total")
    with open("work/clean.csv", encoding="utf-8") as fh:
        return sum(int(v) for v in fh.read().split(","))


@pipeline
def report():
    total()
"""


def test_a_file_changed_since_its_writer_ran_is_written_again_for_another_pipeline(
    make_project: MakeProject, tmp_path: Path
) -> None:
    """The reader is in another pipeline: the writer runs again there too (the reader reran
    on the edited file, and --check passed)."""
    project = make_project({"pipelines/a_prep.py": PREP, "pipelines/b_report.py": REPORT})
    project.repro()
    assert project.take_ran() == ["clean", "total"]
    project.write({"work/clean.csv": "1,2,100"})
    steps = {s["step"]: s for s in project.status()["steps"]}
    assert steps["clean"]["reasons"][0]["text"] == "written file changed (work/clean.csv)"
    project.repro()
    assert project.take_ran() == ["clean"]  # the file as it was: the reader is reused
    assert project.read("work/clean.csv") == "1,2,3"
    assert project.status()["dirty"] == 0
    assert_same_as_scratch(project, fresh_copy(project, tmp_path / "fresh"))


CHECKED_FIRST = """\
import os

from incr import pipeline, step
from pipelines.mark import mark


@step
def report() -> int:
    mark("report")
    if os.path.exists("report.txt"):  # tested, then written anew
        os.remove("report.txt")
    with open("report.txt", "w", encoding="utf-8") as fh:
        fh.write("done\\n")
    return 1


@pipeline
def p():
    report()
"""


def test_a_file_tested_then_written_anew_is_checked_as_the_run_left_it(
    make_project: MakeProject,
) -> None:
    """A step that tests whether its report is there before writing it anew: a removed
    report still runs it again (its file is recorded as it left it, though the test makes it
    count as written from what it held, for files other steps write too)."""
    project = make_project({"pipelines/flow.py": CHECKED_FIRST})
    project.repro()
    assert project.take_ran() == ["report"]
    assert project.dirty() == {}
    (project.root / "report.txt").unlink()
    assert project.dirty() == {
        "report": [("file vanished", "report.txt"), ("written file missing", "report.txt")]
    }
    project.repro()
    assert project.take_ran() == ["report"]
    assert project.read("report.txt") == "done\n"
