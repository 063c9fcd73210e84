"""A step that seeds a global random generator and draws nothing from it (``set_seed(config)``
calling ``np.random.seed(config.seed)``) sets that generator's state for the steps run after
it that draw from it: they count its fingerprint (``incr.seeds``). A step that seeds and
draws itself sets nothing for the others, and no step reruns on a no-op ``incr repro``."""

from __future__ import annotations

from pathlib import Path

from .conftest import MakeProject, Project
from .scratch import assert_same_as_scratch, fresh_copy

SEEDED = """\
import random

import numpy as np
from incr import StepConfig, pipeline, step

from pipelines.mark import mark


class SeedConfig(StepConfig):
    seed: int = 0


class TrainConfig(StepConfig):
    lr: float = 0.1


def seed_all(seed):
    np.random.seed(seed)
    random.seed(seed)


@step
def set_seed(config: SeedConfig) -> None:
    mark("set_seed")
    seed_all(config.seed)


@step
def draw() -> list:
    mark("draw")
    return np.random.rand(3).round(6).tolist()


@step
def pick() -> int:
    mark("pick")
    return random.randint(0, 10**6)


@step
def train(config: TrainConfig) -> float:
    mark("train")
    np.random.seed(0)  # its own seed: it sets nothing for the others
    return round(float(np.random.rand()) * config.lr, 6)


@pipeline
def p():
    set_seed(config=SeedConfig(seed=0))
    draw()
    pick()
    train(config=TrainConfig(lr=0.1))
"""


def made(make_project: MakeProject) -> Project:
    project = make_project({"pipelines/p.py": SEEDED})
    project.repro()
    assert project.take_ran() == ["set_seed", "draw", "pick", "train"]
    assert_nothing_to_do(project)
    return project


def assert_nothing_to_do(project: Project) -> None:
    """No step is dirty, and a repro runs none."""
    assert project.dirty() == {}
    project.repro()
    assert project.take_ran() == []


def test_a_change_of_the_seed_a_step_sets_reruns_the_steps_drawing_after_it(
    make_project: MakeProject, tmp_path: Path
) -> None:
    """Before, ``set_seed`` reran alone and ``draw`` and ``pick`` kept the numbers of the old
    seed, where a run from scratch gives others; a revert puts them back from the cache."""
    project = made(make_project)
    first = {k: e.outputs for k, e in project.lock().items()}
    project.edit("pipelines/p.py", "SeedConfig(seed=0)", "SeedConfig(seed=1)")
    dirty = project.dirty()
    assert dirty["draw"] == [("after", "set_seed")]  # waits after it
    assert dirty["pick"] == [("after", "set_seed")]
    assert "train" not in dirty  # seeds what it draws from itself
    out = project.repro().output
    assert project.take_ran() == ["set_seed", "draw", "pick"], out
    assert_same_as_scratch(project, fresh_copy(project, tmp_path / "fresh"))
    assert_nothing_to_do(project)

    project.edit("pipelines/p.py", "SeedConfig(seed=1)", "SeedConfig(seed=0)")
    project.repro()
    assert project.take_ran() == []  # all three put back from the cache
    assert {k: e.outputs for k, e in project.lock().items()} == first
    assert_nothing_to_do(project)

    project.edit("pipelines/p.py", "TrainConfig(lr=0.1)", "TrainConfig(lr=0.2)")
    project.repro()
    assert project.take_ran() == ["train"]  # a step seeding for itself sets nothing


def test_a_step_drawing_after_a_reused_seeding_step_runs_after_it_again(
    make_project: MakeProject, tmp_path: Path
) -> None:
    """An edit of ``draw`` alone: ``set_seed`` is reused, and runs again before ``draw`` in
    the same process. Before, ``draw`` drew from a generator nothing had seeded in that
    process: other numbers than a run from scratch gives."""
    project = made(make_project)
    project.edit("pipelines/p.py", "rand(3).round(6)", "rand(4).round(6)")
    project.repro()
    assert project.take_ran() == ["set_seed", "draw"]
    assert_same_as_scratch(project, fresh_copy(project, tmp_path / "fresh"))
    assert_nothing_to_do(project)
    status = project.incr("status").stdout
    assert "np.random.seed() in pipelines/p.py:seed_all seeds the global generator" in status
    assert "random.seed() in pipelines/p.py:seed_all seeds the global generator" in status
