"""The Python people write around steps: ``from __future__ import annotations`` with the
config class imported only under ``TYPE_CHECKING``, a decorator written without
``functools.wraps``, a ``functools.partial`` as a step, ``dict``/``list`` defaults in a
``StepConfig``, and a ``-> None`` step that returns a value (said, not silently dropped).
Each keeps exact fingerprints: an edit of the decorator, of the partial's arguments or of a
config default reruns its step and nothing else."""

from __future__ import annotations

from typing import Any

from incr import materializers

from .conftest import MakeProject, Project
from .scratch import assert_same_as_scratch, fresh_copy


def values_of(project: Project) -> dict[str, Any]:
    """Each step's output value (steps without outputs left out), read through the lock."""
    found = {}
    for key, entry in project.lock().items():
        for artifact in entry.outputs.values():
            data = project.object_bytes(artifact.digest)
            found[key.split(".", 1)[1]] = materializers.load(artifact.kind, data)
    return found


CONFIGS = """\
    from incr import StepConfig


    class TrainConfig(StepConfig):
        lr: float = 0.5
        grid: dict = {"depth": [1, 2]}
        tags: list = []
    """

STEPS = """\
    from __future__ import annotations

    import functools
    from typing import TYPE_CHECKING

    from incr import step
    from pipelines.mark import mark

    if TYPE_CHECKING:
        from pipelines.configs import TrainConfig


    def logged(func):
        def wrapper(*args, **kwargs):
            mark("logged")
            return func(*args, **kwargs)

        return wrapper


    @step
    def load() -> list:
        mark("load")
        return [1.0, 2.0, 3.0]


    @step
    @logged
    def double(values: list) -> list:
        mark("double")
        return [2 * v for v in values]


    @step
    def train(config: TrainConfig, values: list) -> float:
        mark("train")
        return sum(values) * config.lr + len(config.grid["depth"]) + len(config.tags)


    def scale(values: list, factor: float = 1.0) -> list:
        mark("scale")
        return [v * factor for v in values]


    triple = step(functools.partial(scale, factor=3.0))


    @step
    def report(values: list) -> None:
        mark("report")
        return len(values)
    """

FLOW = """\
    from incr import pipeline
    from pipelines.configs import TrainConfig
    from pipelines.steps import double, load, report, train, triple


    @pipeline
    def flow():
        values = load()
        tripled = triple(double(values))
        train(tripled, config=TrainConfig(tags=["a"]))
        report(tripled)
    """


def own(project: Project) -> dict[str, list[tuple[str, str]]]:
    """The dirty steps, but for those dirty only because a step above them is."""
    return {k: why for k, why in project.dirty().items() if why[0][0] != "after"}


def make(make_project: MakeProject) -> Project:
    project = make_project(
        {"pipelines/configs.py": CONFIGS, "pipelines/steps.py": STEPS, "pipelines/flow.py": FLOW}
    )
    result = project.repro()
    assert project.take_ran() == ["load", "logged", "double", "scale", "train", "report"]
    assert "step flow.report returned a int but is annotated to return nothing" in result.output
    return project


def test_each_form_runs_with_its_own_name_and_value(make_project: MakeProject) -> None:
    project = make(make_project)
    assert sorted(project.lock()) == [
        f"flow.{n}" for n in sorted(["load", "double", "scale", "train", "report"])
    ]
    lock = project.lock()
    assert lock["flow.train"].facts.config["grid"] == {"depth": [1, 2]}
    assert lock["flow.train"].facts.config["tags"] == ["a"]
    assert lock["flow.report"].outputs == {}
    assert values_of(project) == {"load": [1.0, 2.0, 3.0], "double": [2.0, 4.0, 6.0]} | {
        "scale": [6.0, 12.0, 18.0],
        "train": 36.0 * 0.5 + 2 + 1,
    }
    assert project.incr("status", "--check").returncode == 0


def test_edits_rerun_exactly_their_step(make_project: MakeProject) -> None:
    project = make(make_project)
    project.edit("pipelines/steps.py", 'mark("logged")', 'mark("logged")\n        print("logged")')
    assert own(project) == {"double": [("code changed", "logged in pipelines/steps.py")]}
    project.repro()
    assert project.take_ran() == ["logged", "double"]  # same output: nothing below reruns

    project.edit("pipelines/steps.py", "factor=3.0", "factor=4.0")
    assert set(own(project)) == {"scale"}
    project.repro()
    assert project.take_ran() == ["scale", "train", "report"]

    project.edit("pipelines/configs.py", '{"depth": [1, 2]}', '{"depth": [1, 2, 3]}')
    assert project.dirty() == {  # a default the step uses: a config change alone
        "train": [("config changed", "grid.depth: [1, 2] -> [1, 2, 3]")]
    }
    project.repro()
    assert project.take_ran() == ["train"]
    assert_same_as_scratch(project, fresh_copy(project, project.root.parent / "scratch"))


def test_under_jobs_the_same_results_and_the_same_warning(make_project: MakeProject) -> None:
    project = make(make_project)
    jobs = fresh_copy(project, project.root.parent / "jobs")
    result = jobs.repro("--jobs", "2")
    assert "step flow.report returned a int but is annotated to return nothing" in result.output
    assert jobs.lock_bytes() == project.lock_bytes()
