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


ARRAY_VIEWS = """\
import numpy as np
from incr import pipeline, step
from pipelines.mark import mark


@step
def frozen() -> np.ndarray:
    a = np.arange(3)
    a.flags.writeable = False
    return a


@step
def strided() -> np.ndarray:
    return np.arange(10, dtype=np.int64)[::2]


@step
def inspected(a: np.ndarray, b: np.ndarray) -> list:
    mark("inspected")
    a += 1  # in place: fails on a read-only array
    return [a.tolist(), b.flags.c_contiguous, b.strides[0], LABEL]


@pipeline
def views():
    inspected(frozen(), strided())
"""


def test_a_single_consumer_gets_an_array_as_stored_not_the_producer_s_view(
    make_project: MakeProject, tmp_path: Path
) -> None:
    """A read-only array, or a view with gaps, loads from the store writable and contiguous:
    the one step taking it gets it that way in the run that made it too."""
    project = make_project({"pipelines/views.py": ARRAY_VIEWS.replace("LABEL", "1")})
    project.repro()
    assert project.take_ran() == ["inspected"]
    first = project.lock()["views.inspected"].outputs

    project.edit("pipelines/views.py", "b.strides[0], 1]", "b.strides[0], 2]")
    fresh = fresh_copy(project, tmp_path / "fresh")
    project.repro()  # the arrays come from the cache now
    assert project.take_ran() == ["inspected"]
    assert project.lock()["views.inspected"].outputs != first
    assert_same_as_scratch(project, fresh)
    for args in ((), ("--jobs", "2")):
        other = fresh_copy(project, tmp_path / f"again{len(args)}")
        other.repro(*args)
        assert other.lock()["views.inspected"].outputs == project.lock()["views.inspected"].outputs
