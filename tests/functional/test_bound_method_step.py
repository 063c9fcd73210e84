"""A bound method made a step (``fit = step(trainer.fit)``) counts by the object it is bound
to: its class's code and its attributes as the step was made."""

from __future__ import annotations

from pathlib import Path

from .conftest import MakeProject
from .scratch import assert_same_as_scratch, fresh_copy

FLOW = """\
from incr import pipeline, step

from pipelines.mark import mark


class Trainer:
    def __init__(self, lr):
        self.lr = lr

    def fit(self) -> float:
        mark("fit")
        return self.lr * 10


trainer = Trainer(lr=0.5)
fit = step(trainer.fit)


@pipeline
def flow():
    fit()
"""


def test_a_bound_method_step_reruns_when_its_object_changes(
    make_project: MakeProject, tmp_path: Path
) -> None:
    project = make_project({"pipelines/flow.py": FLOW})
    project.repro()
    assert project.take_ran() == ["fit"]
    assert project.dirty() == {}
    project.edit("pipelines/flow.py", "Trainer(lr=0.5)", "Trainer(lr=0.25)")
    assert "fit" in project.dirty()
    project.repro()
    assert project.take_ran() == ["fit"]
    project.edit("pipelines/flow.py", "self.lr = lr\n", "self.lr = lr * 2\n")
    assert "fit" in project.dirty()
    project.repro()
    assert project.take_ran() == ["fit"]
    assert_same_as_scratch(project, fresh_copy(project, tmp_path / "fresh"))
    project.repro()
    assert project.take_ran() == []
