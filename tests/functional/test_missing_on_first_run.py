"""A step that fails to find a project file another step writes, on a first run, when nothing
yet tells incr which step writes it: the step runs again once the steps (or pipelines) not
run yet have run, once, and the run succeeds when one of them wrote the file; the next run
orders them by what it learned (``scheduler.Loop.defer``, ``runner._waits_for_file``)."""

from __future__ import annotations

from .conftest import MakeProject

REPORT = """\
from incr import pipeline, step

from pipelines.mark import mark


@step
def summarise() -> int:
    mark("summarise")
    with open("data/clean.csv", encoding="utf-8") as fh:
        return len(fh.read().splitlines())


@pipeline
def report():
    summarise()
"""

PREPARE = """\
import os

from incr import pipeline, step

from pipelines.mark import mark


@step
def clean() -> None:
    mark("clean")
    os.makedirs("data", exist_ok=True)
    with open("data/clean.csv", "w", encoding="utf-8") as fh:
        fh.write("a\\nb\\nc\\n")


@pipeline
def prepare():
    clean()
"""

ONE_PIPELINE = """\
import os
from pathlib import Path

from incr import pipeline, step

from pipelines.mark import mark


@step
def a_summarise() -> int:
    mark("a_summarise")
    return len(Path("data/clean.csv").read_text(encoding="utf-8").splitlines())


@step
def a_twice(lines: int) -> int:
    mark("a_twice")
    return 2 * lines


@step
def b_clean() -> None:
    mark("b_clean")
    os.makedirs("data", exist_ok=True)
    Path("data/{written}").write_text("a\\nb\\n", encoding="utf-8")


@pipeline
def flow():
    a_twice(a_summarise())
    b_clean()
"""


def test_a_pipeline_reading_what_a_later_one_writes_runs_again_after_it(
    make_project: MakeProject,
) -> None:
    project = make_project({"pipelines/a_report.py": REPORT, "pipelines/b_prepare.py": PREPARE})
    result = project.repro()
    assert result.returncode == 0, result.output
    assert project.take_ran() == ["summarise", "clean", "summarise"]
    assert "pipeline report runs again after prepare" in result.output
    lock = project.lock()
    assert set(lock["report.summarise"].outputs) == {"output"}
    assert "data/clean.csv" in lock["report.summarise"].reads
    assert project.dirty() == {}
    result = project.repro()  # now in the order learned: nothing to run
    assert result.returncode == 0, result.output
    assert project.take_ran() == []
    project.edit("pipelines/b_prepare.py", "c\\n", "c\\nd\\n")
    result = project.repro()
    assert result.returncode == 0, result.output
    assert project.take_ran() == ["clean", "summarise"]  # the writer first, the reader once


def test_a_step_reading_what_a_later_step_writes_runs_again_after_it(
    make_project: MakeProject,
) -> None:
    project = make_project({"pipelines/flow.py": ONE_PIPELINE.format(written="clean.csv")})
    result = project.repro()
    assert result.returncode == 0, result.output
    assert project.take_ran() == ["a_summarise", "b_clean", "a_summarise", "a_twice"]
    assert "step a_summarise found no data/clean.csv: it runs again" in result.output
    assert "has failed" not in result.output
    assert set(project.lock()) == {"flow.a_summarise", "flow.a_twice", "flow.b_clean"}
    assert project.dirty() == {}
    assert project.repro().returncode == 0
    assert project.take_ran() == []


def test_a_file_no_step_writes_fails_after_one_more_try(make_project: MakeProject) -> None:
    project = make_project({"pipelines/flow.py": ONE_PIPELINE.format(written="other.csv")})
    result = project.incr("repro")
    assert result.returncode == 1, result.output
    assert project.take_ran() == ["a_summarise", "b_clean", "a_summarise"]
    assert "FileNotFoundError" in result.output
    assert set(project.lock()) == {"flow.b_clean"}  # the reader and the step below it failed
    result = project.incr("repro")  # the writer is cached: nothing can write the file, no retry
    assert result.returncode == 1, result.output
    assert project.take_ran() == ["a_summarise"]


def test_a_pipeline_whose_file_nothing_writes_fails(make_project: MakeProject) -> None:
    project = make_project(
        {
            "pipelines/a_report.py": REPORT,
            "pipelines/b_prepare.py": PREPARE.replace("data/clean.csv", "data/other.csv"),
        }
    )
    result = project.incr("repro")
    assert result.returncode == 1, result.output
    assert project.take_ran() == ["summarise", "clean", "summarise"]
    assert set(project.lock()) == {"prepare.clean"}


def test_a_file_outside_the_project_is_not_waited_for(make_project: MakeProject) -> None:
    outside = REPORT.replace("data/clean.csv", "/nonexistent-incr-test/clean.csv")
    project = make_project({"pipelines/a_report.py": outside, "pipelines/b_prepare.py": PREPARE})
    result = project.incr("repro")
    assert result.returncode == 1, result.output
    assert project.take_ran() == ["summarise"]  # the run stops at the first failure
    assert "runs again" not in result.output


def test_a_step_that_waited_is_reported_when_its_pipeline_fails_otherwise_too(
    make_project: MakeProject,
) -> None:
    broken = REPORT.replace(
        "@pipeline\ndef report():\n    summarise()\n",
        '@step\ndef broken() -> int:\n    mark("broken")\n    raise ValueError("boom")\n\n\n'
        "@pipeline\ndef report():\n    summarise()\n    broken()\n",
    )
    project = make_project({"pipelines/a_report.py": broken, "pipelines/b_prepare.py": PREPARE})
    result = project.incr("repro", "--keep-going")
    assert result.returncode == 1, result.output
    assert project.take_ran() == ["summarise", "broken", "clean"]
    assert "ValueError: boom" in result.output
    assert "FileNotFoundError" in result.output  # said, although it waited quietly
    assert "pipeline report runs again" not in result.output  # another failure: no wait
