"""A step that rebinds a method of a project class as it runs (``Model.act =
staticmethod(ACTS[config.act])``): the steps after it that call the class's methods see the
function it bound, so the class counts as a value the step sets (incr/objectstates.py), as
its other class attributes do. A class whose methods no step rebinds sets nothing."""

from __future__ import annotations

from pathlib import Path

import pytest

from .conftest import MakeProject
from .scratch import assert_same_as_scratch, fresh_copy

MODEL = """\
def relu(x):
    return max(x, 0.0)


def neg(x):
    return -x


ACTS = {"relu": relu, "neg": neg}


class Model:
    act = staticmethod(relu)

    def forward(self, xs):
        return [self.act(x) for x in xs]
"""

STEPS = """\
from incr import StepConfig, pipeline, step

from pipelines import model as m
from pipelines.mark import mark


class ActCfg(StepConfig):
    act: str = "relu"


@step
def configure(config: ActCfg) -> int:
    mark("configure")
    REBIND
    return 0


@step
def forward(token: int) -> list:
    mark("forward")
    return m.Model().forward([4.0, -1.0])


@pipeline
def p():
    forward(configure(config=ActCfg(act="relu")))
"""

REBINDS = {
    "staticmethod": "m.Model.act = staticmethod(m.ACTS[config.act])",
    "setattr": 'setattr(m.Model, "act", staticmethod(m.ACTS[config.act]))',
}


@pytest.mark.parametrize(("rebind", "jobs"), [("staticmethod", "1"), ("setattr", "2")])
def test_a_step_rebinding_a_method_of_a_project_class_sets_it(
    make_project: MakeProject, tmp_path: Path, rebind: str, jobs: str
) -> None:
    """Another ``act`` in the config reruns ``configure``, whose result is the same: before,
    ``forward`` was reused and kept [4.0, 0.0], where a run from scratch gives [-4.0, 1.0].
    The step now sets ``Model`` as it runs: it executes on every run, and ``forward`` is
    decided on what the class holds (with ``--jobs``, in its own process too)."""
    steps = STEPS.replace("REBIND", REBINDS[rebind])
    project = make_project({"pipelines/model.py": MODEL, "pipelines/p.py": steps})
    project.repro("--jobs", jobs)
    assert project.take_ran() == ["configure", "forward"]
    project.edit("pipelines/p.py", 'ActCfg(act="relu")', 'ActCfg(act="neg")')
    result = project.repro("--jobs", jobs)
    assert project.take_ran() == ["configure", "forward"]
    assert "step p.configure sets Model in pipelines/model.py as it runs" in result.output
    assert "sets:pipelines/model.py:Model" in project.lock()["p.configure"].reads
    assert_same_as_scratch(project, fresh_copy(project, tmp_path / "fresh"))

    assert [kind for kind, _ in project.dirty()["configure"]] == ["sets values as it runs"]
    project.repro("--jobs", jobs)
    assert project.take_ran() == ["configure"]  # the same function bound: forward is reused


def test_a_class_whose_methods_no_step_rebinds_sets_nothing(make_project: MakeProject) -> None:
    steps = STEPS.replace("REBIND", "m.Model().forward([1.0])")
    project = make_project({"pipelines/model.py": MODEL, "pipelines/p.py": steps})
    project.repro()
    assert project.take_ran() == ["configure", "forward"]
    assert not any(k.startswith("sets:") for k in project.lock()["p.configure"].reads)
    project.repro()
    assert project.take_ran() == []
