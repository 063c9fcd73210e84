"""Names for step calls made in a loop: ``train(..., name=f"train_lr{lr}")`` or
``train.with_options(name=...)``. A named call keeps its name (in status, the lockfile and
``dag``) wherever it moves in the loop, so an item inserted at the front runs alone; a new
name is a new step."""

from __future__ import annotations

from .conftest import MakeProject, Project
from .scratch import assert_same_as_scratch, fresh_copy
from .test_factories import values

GRID = """\
    from incr import StepConfig, pipeline, step
    from pipelines.mark import mark

    RATES = [0.1, 0.5]
    DEPTHS = [2, 3]


    class TrainConfig(StepConfig):
        lr: float = 0.1
        depth: int = 1


    @step
    def load() -> list:
        mark("load")
        return [1.0, 2.0, 3.0]


    @step
    def train(config: TrainConfig, data: list) -> float:
        mark(f"train_lr{config.lr}")
        return sum(data) * config.lr


    @step
    def fit(config: TrainConfig, data: list) -> float:
        mark(f"fit_d{config.depth}")
        return sum(data) * config.depth


    @step
    def best(*scores: float) -> float:
        mark("best")
        return max(scores)


    @pipeline
    def grid():
        data = load()
        scores = [train(data, config=TrainConfig(lr=lr), name=f"train_lr{lr}") for lr in RATES]
        for depth in DEPTHS:
            named = fit.with_options(name=f"fit_d{depth}")
            scores.append(named(data, config=TrainConfig(depth=depth)))
        best(*scores)
    """


def make(make_project: MakeProject) -> Project:
    project = make_project({"pipelines/grid.py": GRID})
    project.repro()
    assert sorted(project.take_ran()) == sorted(
        ["load", "train_lr0.1", "train_lr0.5", "fit_d2", "fit_d3", "best"]
    )
    return project


def test_names_are_stable_and_readable(make_project: MakeProject) -> None:
    project = make(make_project)
    names = ["load", "train_lr0.1", "train_lr0.5", "fit_d2", "fit_d3", "best"]
    assert [s["step"] for s in project.status()["steps"]] == names
    assert sorted(project.lock()) == sorted(f"grid.{n}" for n in names)
    dag = [line.split() for line in project.incr("dag").stdout.splitlines()]
    assert ["train_lr0.5", "<-", "load.output"] in dag
    best = next(line for line in dag if line[0] == "best")
    assert sorted(best[2:]) == [
        "fit_d2.output,",
        "fit_d3.output,",
        "train_lr0.1.output,",
        "train_lr0.5.output",
    ]
    assert project.incr("status", "grid.train_lr0.5").returncode == 0

    # Items inserted at the front of both loops: only they (and what combines them) run.
    project.edit("pipelines/grid.py", "RATES = [0.1, 0.5]", "RATES = [0.01, 0.1, 0.5]")
    project.edit("pipelines/grid.py", "DEPTHS = [2, 3]", "DEPTHS = [1, 2, 3]")
    dirty = project.dirty()
    assert dirty["train_lr0.01"] == [("new step", "")]
    assert dirty["fit_d1"] == [("new step", "")]
    assert set(dirty) == {"train_lr0.01", "fit_d1", "best"}
    project.repro()
    assert sorted(project.take_ran()) == ["best", "fit_d1", "train_lr0.01"]
    assert values(project)["best"] == 18.0
    assert_same_as_scratch(project, fresh_copy(project, project.root.parent / "scratch"))


def test_a_new_name_is_a_new_step(make_project: MakeProject) -> None:
    project = make(make_project)
    project.edit("pipelines/grid.py", 'name=f"fit_d{depth}"', 'name=f"fit_depth{depth}"')
    dirty = project.dirty()
    assert dirty["fit_depth2"] == dirty["fit_depth3"] == [("new step", "")]
    project.repro()
    assert "grid.fit_d2" not in project.lock()
    assert project.lock()["grid.fit_depth2"].outputs
    assert project.dirty() == {}


def test_a_name_taken_twice_is_an_error(make_project: MakeProject) -> None:
    project = make_project({"pipelines/grid.py": GRID.replace('name=f"train_lr{lr}"', 'name="t"')})
    line = project.incr("status").user_error()
    assert "two steps are named 't' in pipeline grid" in line
    project.write({"pipelines/grid.py": GRID.replace('name=f"train_lr{lr}"', 'name="a b"')})
    assert "name='a b' is not a step name" in project.incr("status").user_error()
