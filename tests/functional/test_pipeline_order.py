"""A pipeline whose step reads a file a step of another pipeline writes (without outs/deps):
``incr repro`` runs the writer's pipeline first, and ``incr status`` shows the reader
waiting on the writer once the writer is dirty (overlaps.pipeline_order)."""

from __future__ import annotations

from pathlib import Path

from .conftest import MakeProject
from .scratch import assert_same_as_scratch, fresh_copy

MODEL = """\
from incr import pipeline, step

from pipelines.mark import mark


@step
def fit() -> int:
    mark("fit")
    with open("out/clean.txt", encoding="utf-8") as fh:
        return sum(int(v) for v in fh.read().split())


@pipeline
def model():
    fit()
"""

PREPROCESS = """\
import os

from incr import pipeline, step

from pipelines.mark import mark

FACTOR = 2


@step
def clean() -> None:
    mark("clean")
    os.makedirs("out", exist_ok=True)
    with open("data/raw.txt", encoding="utf-8") as fh:
        values = [int(v) * FACTOR for v in fh.read().split()]
    with open("out/clean.txt", "w", encoding="utf-8") as fh:
        fh.write(" ".join(map(str, values)))


@pipeline
def preprocess():
    clean()
"""


def test_a_pipeline_reading_what_another_writes_runs_after_it(
    make_project: MakeProject, tmp_path: Path
) -> None:
    project = make_project(
        {
            "pipelines/model.py": MODEL,  # found before preprocess.py
            "pipelines/preprocess.py": PREPROCESS,
            "data/raw.txt": "1 2 3",
        }
    )
    (project.root / "out").mkdir()
    (project.root / "out" / "clean.txt").write_text("0")  # left from an older run
    project.repro()
    project.take_ran()
    project.repro()  # now incr knows who writes out/clean.txt, and who reads it
    project.take_ran()
    assert project.dirty() == {}
    project.edit("pipelines/preprocess.py", "FACTOR = 2", "FACTOR = 3")
    dirty = project.dirty()
    assert dirty["clean"][0][0] == "code changed"
    assert dirty["fit"] == [("after", "preprocess.clean")]
    project.repro()
    assert project.take_ran() == ["clean", "fit"]
    assert project.dirty() == {}
    result = project.incr("status", "--check")
    assert result.returncode == 0, result.output
    assert_same_as_scratch(project, fresh_copy(project, tmp_path / "fresh"), ("out/clean.txt",))
