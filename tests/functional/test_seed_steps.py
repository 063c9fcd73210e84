"""A step that seeds a global random generator (``set_seed(config)`` calling
``np.random.seed(config.seed)``) sets that generator's state for the steps run after it that
draw from it; so does each of them for the ones after it (the generator's chain). A drawer
counts the fingerprints of the chain before it and runs after it again when it was reused
(``incr.seeds``). A step that seeds and draws itself starts a chain of its own, and no step
reruns on a no-op ``incr repro``."""

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
    assert project.take_ran() == ["train"]  # a step seeding for itself: none draws after it


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


CHAINED = """\
import numpy as np
from incr import pipeline, step

from pipelines.mark import mark


@step
def seed_everything() -> int:
    mark("seed_everything")
    np.random.seed(42)
    return 42


@step
def make_data(seed: int) -> list:
    mark("make_data")
    return np.random.normal(size=5).round(6).tolist()[:5]


@step
def noise(data: list) -> list:
    mark("noise")
    return (np.array(data) + np.random.normal(scale=0.2, size=5)).round(6).tolist()


@step
def train(data: list) -> float:
    mark("train")
    np.random.seed(0)
    return round(float(np.random.rand()) + sum(data), 6)


@step
def bootstrap(score: float) -> list:
    mark("bootstrap")
    return (np.random.rand(3) + score).round(6).tolist()


@pipeline
def p():
    data = make_data(seed_everything())
    noise(data)
    bootstrap(train(data))
"""


def chained(make_project: MakeProject) -> Project:
    project = make_project({"pipelines/p.py": CHAINED})
    project.repro()
    assert project.take_ran() == ["seed_everything", "make_data", "noise", "train", "bootstrap"]
    assert_nothing_to_do(project)
    return project


def test_a_drawer_after_a_reused_drawer_starts_where_a_run_from_scratch_does(
    make_project: MakeProject, tmp_path: Path
) -> None:
    """``make_data`` draws five numbers between ``seed_everything`` and ``noise``. An edit of
    ``noise`` alone reruns both before it. Before, only the seeding step ran again, and
    ``noise`` drew the five numbers ``make_data`` draws: other numbers than a run from
    scratch gives, and status said clean."""
    project = chained(make_project)
    project.edit("pipelines/p.py", "scale=0.2", "scale=0.3")
    project.repro()
    assert project.take_ran() == ["seed_everything", "make_data", "noise"]
    assert_same_as_scratch(project, fresh_copy(project, tmp_path / "fresh"))
    assert_nothing_to_do(project)


def test_a_change_of_what_a_step_draws_reruns_the_drawers_after_it(
    make_project: MakeProject, tmp_path: Path
) -> None:
    """``make_data`` draws six numbers and keeps five, the same five: its output is the
    same, but ``noise`` starts one draw further in a run from scratch. It counts the steps
    that drew before it, by their fingerprints. Before, it was reused."""
    project = chained(make_project)
    project.edit("pipelines/p.py", "normal(size=5)", "normal(size=6)")
    dirty = project.dirty()
    assert dirty["noise"] == [("after", "make_data")]
    out = project.repro().output
    assert project.take_ran() == ["seed_everything", "make_data", "noise"]
    assert "code changed (state of np.random the steps before it seed and draw from)" in out
    assert_same_as_scratch(project, fresh_copy(project, tmp_path / "fresh"))
    assert_nothing_to_do(project)


def test_a_step_that_seeds_and_draws_sets_the_state_of_the_drawers_after_it(
    make_project: MakeProject, tmp_path: Path
) -> None:
    """``train`` seeds and draws; ``bootstrap`` draws after it, where ``train`` left off in
    a run from scratch. An edit of ``bootstrap`` runs ``train`` again first; an edit of
    ``train`` that keeps its result but draws once more reruns ``bootstrap``. Before,
    ``train`` set nothing for the others: ``bootstrap`` drew from what the process held, or
    was reused with the numbers of the old state."""
    project = chained(make_project)
    project.edit("pipelines/p.py", "rand(3) + score", "rand(4) + score")
    project.repro()
    assert project.take_ran() == ["train", "bootstrap"]
    assert_same_as_scratch(project, fresh_copy(project, tmp_path / "fresh1"))
    assert_nothing_to_do(project)
    drawn = "    return round(float(np.random.rand()) + sum(data), 6)"
    kept = "    r = round(float(np.random.rand()) + sum(data), 6)\n    np.random.rand()\n"
    kept += "    return r"
    project.edit("pipelines/p.py", drawn, kept)  # the same result, one draw more
    assert project.dirty()["bootstrap"] == [("after", "train")]
    project.repro()
    assert project.take_ran() == ["train", "bootstrap"]
    assert_same_as_scratch(project, fresh_copy(project, tmp_path / "fresh2"))
    assert_nothing_to_do(project)


ACROSS = {
    "pipelines/a_main.py": """\
import numpy as np
from incr import pipeline, step

from pipelines.mark import mark


@step
def seed_everything() -> int:
    mark("seed_everything")
    np.random.seed(7)
    return 7


@step
def make_data(seed: int) -> float:
    mark("make_data")
    return round(float(np.random.rand()), 6)


@pipeline
def a_main():
    make_data(seed_everything())
""",
    "pipelines/b_second.py": """\
import numpy as np
from incr import pipeline, step

from pipelines.mark import mark


@step
def other_draw() -> float:
    mark("other_draw")
    return round(float(np.random.rand()), 6)


@pipeline
def b_second():
    other_draw()
""",
}


def test_a_drawer_after_a_chain_of_another_pipeline_says_its_draws_are_not_reproduced(
    make_project: MakeProject,
) -> None:
    """``b_second.other_draw`` draws after ``a_main``'s chain, which its own run cannot run
    again: an edit of it warns that its draws are not those of a run from scratch. Before, it
    drew from whatever the process held, silently."""
    project = make_project(ACROSS)
    project.repro()
    assert project.take_ran() == ["seed_everything", "make_data", "other_draw"]
    project.edit("pipelines/b_second.py", "np.random.rand()), 6)", "np.random.rand()) * 2, 6)")
    out = project.repro().output
    assert project.take_ran() == ["other_draw"]
    assert "other_draw draws from a global generator after a_main.make_data" in out, out
