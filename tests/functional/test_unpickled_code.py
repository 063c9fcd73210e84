"""A step that loads a project object from a pickle file (``pickle.load``, ``joblib.load``)
runs the code its class has now, which the file does not hold: an edit of that code makes
the step dirty (``code changed (Model in pipelines.models, unpickled)``), even when the file
a step writes again keeps its bytes (``unpickled:`` keys, ``incr.objectcode``)."""

from __future__ import annotations

import json

import pytest

from .conftest import MakeProject

MODELS = """\
class Model:
    def __init__(self, weight):
        self.weight = weight

    def predict(self, x):
        return x * self.weight + 1


def unrelated():
    return 0
"""

FLOW = """\
import os

import {loader}
from incr import pipeline, step

from pipelines.mark import mark
from pipelines.models import Model


@step
def train() -> None:
    mark("train")
    os.makedirs("models", exist_ok=True)
    {loader}.dump(Model(3), "models/model.bin" if {by_name} else open("models/model.bin", "wb"))


@step
def score() -> int:
    mark("score")
    with open("models/model.bin", "rb") as fh:
        model = {loader}.load(fh)
    return model.predict(10)


@pipeline
def flow():
    train()
    score()
"""


@pytest.mark.parametrize("loader", ["pickle", "joblib"])
def test_an_edit_of_an_unpickled_class_reruns_the_step_that_loads_it(
    make_project: MakeProject, loader: str
) -> None:
    flow = FLOW.format(loader=loader, by_name=loader == "joblib")
    project = make_project({"pipelines/models.py": MODELS, "pipelines/flow.py": flow})
    project.repro()
    assert project.take_ran() == ["train", "score"]
    reads = project.lock()["flow.score"].reads
    assert "unpickled:pipelines.models:Model" in reads
    assert "unpickled:pipelines.models:Model" not in project.lock()["flow.train"].reads
    model_bytes = (project.root / "models/model.bin").read_bytes()

    project.edit("pipelines/models.py", "    return 0", "    return 1")
    assert project.dirty() == {}  # not code the class uses

    project.edit("pipelines/models.py", "x * self.weight + 1", "x * self.weight + 2")
    dirty = project.dirty()
    assert dirty["score"][0] == ("code changed", "Model in pipelines.models, unpickled")
    project.repro()
    assert project.take_ran() == ["train", "score"]
    assert (project.root / "models/model.bin").read_bytes() == model_bytes  # same state
    output = project.lock()["flow.score"].outputs["output"]
    assert json.loads(project.object_bytes(output.digest)) == 32
    assert project.dirty() == {}
    project.repro()
    assert project.take_ran() == []
