"""A name a step binds for itself (``train, test = split(...)``, a parameter ``model``, a
comprehension's ``c``) is not the module's step or pipeline of that name: an edit of that
step or pipeline leaves the step using the local name clean (incr/scopes.py)."""

from __future__ import annotations

from .conftest import MakeProject

FLOW = """\
from incr import pipeline, step

from pipelines.mark import mark


@step
def split() -> list:
    mark("split")
    data = list(range(10))
    train, test = data[:7], data[7:]
    return train + [sum(c for c in test)]


@step
def train(rows: list) -> int:
    mark("train")
    return sum(rows)


@step
def evaluate(model: int, train: list) -> float:
    mark("evaluate")
    return model / len(train)


@pipeline
def c():
    rows = split()
    evaluate(train(rows), rows)
"""


def test_a_local_name_like_a_step_does_not_bring_that_step_in(make_project: MakeProject) -> None:
    project = make_project({"pipelines/flow.py": FLOW})
    project.repro()
    assert project.take_ran() == ["split", "train", "evaluate"]
    code = project.lock()["c.split"].facts.code
    assert not any(part.endswith((":train", ":c")) for part in code)
    project.edit("pipelines/flow.py", "    return sum(rows)", "    return sum(rows) * 2")
    assert project.dirty() == {
        "train": [("code changed", "train in pipelines/flow.py")],
        "evaluate": [("after", "train")],
    }
    project.repro()
    assert project.take_ran() == ["train", "evaluate"]
