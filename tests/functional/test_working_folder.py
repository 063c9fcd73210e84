"""Every step starts in the project root, even after an earlier step moved elsewhere
(``os.chdir``) and stayed there: in a serial run, with ``--jobs``, and through ``.run()``."""

from __future__ import annotations

from pathlib import Path

import pytest

from .conftest import MakeProject, Project
from .scratch import assert_same_as_scratch, fresh_copy

WANDERING = """\
    import os
    from pathlib import Path

    from incr import pipeline, step
    from pipelines.mark import mark


    @step
    def wander() -> str:
        mark("wander")
        os.chdir("data")  # and never back
        return Path("raw.txt").read_text(encoding="utf-8")


    @step
    def after() -> str:
        mark("after")
        return Path("data/raw.txt").read_text(encoding="utf-8").upper()


    @step
    def also_after() -> str:
        mark("also_after")
        return Path("data/other.txt").read_text(encoding="utf-8")


    @step
    def joined(a: str, b: str, c: str) -> str:
        mark("joined")
        return a + b + c + Path("pyproject.toml").read_text(encoding="utf-8")[:9]


    @pipeline
    def wandering():
        joined(wander(), after(), also_after())
    """
FILES = {"pipelines/wandering.py": WANDERING, "data/raw.txt": "raw\n", "data/other.txt": "o\n"}
STEPS = ["wander", "after", "also_after", "joined"]


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_a_step_after_a_chdir_starts_in_the_root(
    make_project: MakeProject, tmp_path: Path, jobs: str
) -> None:
    project = make_project(FILES)
    project.repro("--jobs", jobs)
    assert sorted(project.take_ran()) == sorted(STEPS)
    assert project.lock()["wandering.wander"].reads == {
        "data/raw.txt": project.lock()["wandering.after"].reads["data/raw.txt"]
    }
    project.repro("--jobs", jobs)
    assert project.take_ran() == []

    project.write({"data/raw.txt": "changed\n"})
    assert project.dirty() == {
        "wander": [("read changed", "data/raw.txt")],
        "after": [("read changed", "data/raw.txt")],
        "joined": [("after", "after, wander")],
    }
    fresh = fresh_copy(project, tmp_path / "fresh")
    project.repro("--jobs", jobs)
    assert sorted(project.take_ran()) == ["after", "joined", "wander"]
    assert_same_as_scratch(project, fresh)
    project.repro("--jobs", jobs)
    assert project.take_ran() == []


SCRIPT = """\
    import os

    from pipelines.wandering import wandering

    start = os.getcwd()
    wandering().run()
    assert os.getcwd() == start, os.getcwd()
    print("done")
    """


def test_run_from_a_script_starts_each_step_in_the_root(make_project: MakeProject) -> None:
    project: Project = make_project({**FILES, "script.py": SCRIPT})
    result = project.python("script.py")
    assert result.returncode == 0, result.output
    assert "done" in result.stdout
    assert project.take_ran() == STEPS
    assert project.dirty() == {}
