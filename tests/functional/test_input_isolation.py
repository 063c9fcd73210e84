"""A step that changes its input in place (``arr *= k``, ``df.fillna(0, inplace=True)``,
refitting the model it receives) changes nothing another step of the run gets: each step gets
the value as stored, as with ``--jobs`` and as a run from scratch (incr/executors.py,
``load_inputs``)."""

from __future__ import annotations

from pathlib import Path

import pytest

from .conftest import MakeProject, Project
from .scratch import assert_same_as_scratch, fresh_copy

STEPS = """\
import numpy as np
from incr import StepConfig, pipeline, step
from pipelines.mark import mark


class Scale(StepConfig):
    k: float = 2.0


@step
def made() -> np.ndarray:
    mark("made")
    return np.array([1.0, 2.0, 3.0])


@step
def tripled(a: np.ndarray) -> float:
    mark("tripled")
    return float(a.sum() * 3)


@step
def scaled(config: Scale, a: np.ndarray) -> float:
    mark("scaled")
    a *= config.k  # in place
    return float(a.sum())


@step
def summed(a: np.ndarray) -> float:
    mark("summed")
    return float(a.sum())


@step
def counts(config: Scale) -> dict:
    mark("counts")
    return {"k": [config.k]}


@step
def grown(d: dict) -> int:
    mark("grown")
    d["k"].append(1.0)  # in place
    return len(d["k"])


@step
def listed(d: dict) -> int:
    mark("listed")
    return len(d["k"])


@pipeline
def mutating():
    a = made()
    tripled(a)
    scaled(a, config=Scale())
    summed(a)
    d = counts(config=Scale())
    grown(d)
    listed(d)
"""


@pytest.fixture
def mutating(make_project: MakeProject) -> Project:
    return make_project({"pipelines/mutating.py": STEPS})


def values(project: Project) -> dict[str, str]:
    return {k: e.outputs["output"].digest for k, e in project.lock().items()}


@pytest.mark.parametrize("jobs", [[], ["--jobs", "2"]], ids=["in-process", "jobs"])
def test_a_step_changing_its_input_in_place_changes_nothing_another_gets(
    mutating: Project, tmp_path: Path, jobs: list[str]
) -> None:
    mutating.repro(*jobs)
    assert len(mutating.take_ran()) == 7
    first = values(mutating)
    other = fresh_copy(mutating, tmp_path / "other")
    other.repro(*([] if jobs else ["--jobs", "2"]))
    assert values(other) == first  # serial and --jobs agree

    mutating.edit("pipelines/mutating.py", "k: float = 2.0", "k: float = 5.0")
    fresh = fresh_copy(mutating, tmp_path / "fresh")
    mutating.repro(*jobs)
    assert sorted(mutating.take_ran()) == ["counts", "grown", "listed", "scaled"]
    assert_same_as_scratch(mutating, fresh)
