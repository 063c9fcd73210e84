"""A config with a dataclass field (``optim: Optim = Optim()``, a list of them, a config in a
config): the step gets the dataclass, its values count as a dict in the fingerprint and the
lockfile, and a config made again from those values (the graph cache's, a worker's) holds
the dataclass too (``incr.stepconfig``)."""

from __future__ import annotations

import json

import pytest

from .conftest import MakeProject

FLOW = """\
from dataclasses import dataclass

from incr import StepConfig, pipeline, step

from pipelines.mark import mark


@dataclass
class Optim:
    lr: float = 0.5
    momentum: float = 0.9


@dataclass
class Layer:
    width: int = 8


class Schedule(StepConfig):
    warmup: int = 1


class TrainConfig(StepConfig):
    epochs: int = 2
    optim: Optim = Optim()
    layers: list[Layer] = [Layer(), Layer(16)]
    schedule: Schedule = Schedule()


@step
def train(config: TrainConfig) -> float:
    mark("train")
    assert isinstance(config.optim, Optim) and isinstance(config.layers[1], Layer)
    widths = sum(layer.width for layer in config.layers)
    return config.epochs * config.optim.lr * widths + config.schedule.warmup


@step
def report(score: float) -> float:
    mark("report")
    return score


@pipeline
def flow():
    report(train())
"""


@pytest.mark.parametrize("jobs", [[], ["--jobs", "2"]], ids=["in-process", "jobs"])
def test_a_dataclass_in_a_config_reaches_the_step_and_counts_by_its_values(
    make_project: MakeProject, jobs: list[str]
) -> None:
    project = make_project({"pipelines/flow.py": FLOW})
    project.repro(*jobs)
    assert project.take_ran() == ["train", "report"]
    entry = project.lock()["flow.train"]
    assert entry.facts.config["optim"] == {"lr": 0.5, "momentum": 0.9}
    assert entry.facts.config["layers"] == [{"width": 8}, {"width": 16}]
    output = project.lock()["flow.report"].outputs["output"]
    assert json.loads(project.object_bytes(output.digest)) == 25.0

    project.edit("pipelines/flow.py", "    lr: float = 0.5", "    lr: float = 0.25")
    reasons = dict(project.dirty()["train"])
    assert reasons["config changed"] == ("optim.lr: 0.5 -> 0.25")
    project.repro(*jobs)
    assert project.take_ran() == ["train", "report"]
    output = project.lock()["flow.report"].outputs["output"]
    assert json.loads(project.object_bytes(output.digest)) == 13.0

    # An edit of the body alone: the graph cache holds the configs as values, made again.
    project.edit("pipelines/flow.py", "+ config.schedule.warmup", "+ 2 * config.schedule.warmup")
    project.repro(*jobs)
    assert project.take_ran() == ["train", "report"]
    output = project.lock()["flow.report"].outputs["output"]
    assert json.loads(project.object_bytes(output.digest)) == 14.0
    assert project.dirty() == {}


DERIVED = """\
import dataclasses
from dataclasses import InitVar

from incr import StepConfig, pipeline, step

from pipelines.mark import mark


@dataclasses.dataclass
class Arch:
    width: int = 4
    hidden: int = dataclasses.field(init=False, default=0)

    def __post_init__(self):
        self.hidden = self.width * 2


@dataclasses.dataclass(frozen=True)
class Head:
    size: int = 1
    scale: InitVar[int] = 2
    out: int = dataclasses.field(init=False, default=0)

    def __post_init__(self, scale):
        object.__setattr__(self, "out", self.size * scale)


class TrainConfig(StepConfig):
    arch: Arch = Arch()
    head: Head = Head()


@step
def build(config: TrainConfig) -> list:
    mark("build")
    return [config.arch.hidden, config.head.out]


@pipeline
def flow():
    build(config=TrainConfig(arch=Arch(width=8), head=Head(size=5, scale=3)))
"""


@pytest.mark.parametrize("jobs", [[], ["--jobs", "2"]], ids=["in-process", "jobs"])
def test_a_dataclass_with_fields_its_post_init_sets(
    make_project: MakeProject, jobs: list[str]
) -> None:
    """A field(init=False) that __post_init__ sets (from an InitVar too) is no argument of the
    class: the config made again from its values failed (Arch.__init__() got an unexpected
    keyword argument 'hidden'). It is put back after the class is made."""
    project = make_project({"pipelines/flow.py": DERIVED})
    project.repro(*jobs)
    assert project.take_ran() == ["build"]
    output = project.lock()["flow.build"].outputs["output"]
    assert json.loads(project.object_bytes(output.digest)) == [16, 15]

    project.edit("pipelines/flow.py", "scale=3)", "scale=4)")
    assert dict(project.dirty()["build"])["config changed"] == ("head.out: 15 -> 20")
    project.repro(*jobs)
    output = project.lock()["flow.build"].outputs["output"]
    assert json.loads(project.object_bytes(output.digest)) == [16, 20]
    assert project.dirty() == {}


PYDANTIC = """\
from pydantic import BaseModel

from incr import BaseStepConfig, pipeline, step

from pipelines.mark import mark


class Betas(BaseModel):
    first: float = 0.9


class Optim(BaseModel):
    lr: float = 0.1
    betas: Betas = Betas()


class TrainConfig(BaseStepConfig):
    optim: Optim = Optim()
    stages: list[Optim] = [Optim(lr=1.0)]


@step
def train(config: TrainConfig) -> list:
    mark("train")
    assert isinstance(config.optim, Optim) and isinstance(config.stages[0], Optim)
    return [config.optim.lr, config.optim.betas.first, config.stages[0].lr]


@pipeline
def flow():
    train(config=TrainConfig(optim=Optim(lr=0.5)))
"""


@pytest.mark.parametrize("jobs", [[], ["--jobs", "2"]], ids=["in-process", "jobs"])
def test_a_pydantic_model_in_a_config_counts_by_its_values(
    make_project: MakeProject, jobs: list[str]
) -> None:
    """ZenML's configs were pydantic models, with models nested in them: ``optim: Optim =
    Optim()`` failed at import (a mutable default), and as a default_factory was refused as
    a value a config cannot hold. It counts as a dict of its fields, as a dataclass does."""
    pytest.importorskip("pydantic")
    project = make_project({"pipelines/flow.py": PYDANTIC})
    project.repro(*jobs)
    assert project.take_ran() == ["train"]
    entry = project.lock()["flow.train"]
    assert "0.5" in str(entry.facts.config["optim"])  # counted by its values
    output = entry.outputs["output"]
    assert json.loads(project.object_bytes(output.digest)) == [0.5, 0.9, 1.0]

    project.edit("pipelines/flow.py", "first: float = 0.9", "first: float = 0.8")
    assert dict(project.dirty()["train"])["config changed"] == (
        "optim.betas.first: 0.9 -> 0.8, "
        "stages: [{'lr': 1.0, 'betas': {'first': 0.9}}] -> [{'lr': 1.0, 'betas': {'first': 0.8}}]"
    )
    project.repro(*jobs)
    output = project.lock()["flow.train"].outputs["output"]
    assert json.loads(project.object_bytes(output.digest)) == [0.5, 0.8, 1.0]
    assert project.dirty() == {}
