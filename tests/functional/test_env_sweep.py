"""Environment variables a main block sets before ``.run()``: the steps see, in ``incr repro`` as in
``python pipelines/x.py``, the value their ``.run()`` saw, and an edit of the value reruns the
steps that read it.
"""

from __future__ import annotations

from typing import Any

from .conftest import MakeProject, Project


def verdicts(project: Project) -> dict[str, list[tuple[str, str]]]:
    """Step key -> its (kind, detail) reasons, for every step ``incr status`` lists."""
    steps: list[dict[str, Any]] = project.status()["steps"]
    return {s["key"]: [(r["kind"], r["detail"]) for r in s["reasons"]] for s in steps}


def dirty(project: Project) -> dict[str, list[tuple[str, str]]]:
    return {key: why for key, why in verdicts(project).items() if why}


SINGLE = """\
import os

from incr import pipeline, step

from pipelines.mark import mark


@step
def fit() -> str:
    seed = os.environ.get("SEED", "unset")
    mark(f"fit-{seed}")
    return seed


@step
def where() -> str:
    mark("where")
    return os.path.basename("data/raw.csv")  # uses os, reads no variable


@pipeline
def train():
    fit()
    where()


if __name__ == "__main__":
    os.environ["SEED"] = "1"
    train().run()
"""


def test_an_edit_of_a_value_the_main_block_sets_is_no_code_change(
    make_project: MakeProject,
) -> None:
    """``os.environ["SEED"] = "1"`` before ``.run()``: the step that reads it has it as a
    fact; the statement was code of ``os`` too, so its edit reran every step using ``os``
    (every instance's, in a sweep) as a code change."""
    project = make_project({"pipelines/single.py": SINGLE})
    project.repro()
    assert project.take_ran() == ["fit-1", "where"]
    assert sorted(verdicts(project)) == ["train.fit", "train.where"]
    assert project.python("pipelines/single.py").returncode == 0
    assert project.take_ran() == []
    assert dirty(project) == {}
    project.edit("pipelines/single.py", '"1"', '"2"')
    assert dirty(project) == {"train.fit": [("env changed", "SEED")]}
    project.repro()
    assert project.take_ran() == ["fit-2"]
    assert dirty(project) == {}
