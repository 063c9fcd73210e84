"""A config dict counts as the step sees it: its keys' types (``{0: 2.0}`` is not
``{"0": 2.0}``) and their order (a step iterating the stages applies them in that order)."""

from __future__ import annotations

from .conftest import MakeProject

FLOW = """\
    from incr import StepConfig, pipeline, step
    from pipelines.mark import mark


    class Cfg(StepConfig):
        weights: dict = {}
        stages: dict = {}


    @step
    def score(config: Cfg) -> float:
        mark("score")
        x = sum(config.weights.get(label, 1.0) for label in [0, 1, 1])
        for name, v in config.stages.items():
            x = x + v if name == "shift" else x * v
        return x


    @step
    def other() -> int:
        mark("other")
        return 1


    @pipeline
    def flow():
        score(config=Cfg(weights={WEIGHTS}, stages={STAGES}))
        other()
    """


def flow(weights: str, stages: str) -> dict[str, str]:
    return {"pipelines/flow.py": FLOW.replace("{WEIGHTS}", weights).replace("{STAGES}", stages)}


def score(project) -> float:  # type: ignore[no-untyped-def]
    result = project.python(
        "-c",
        "from incr import Repository; "
        "print(Repository().get_pipeline('flow').runs[-1].get_step('score').output.read())",
    )
    return float(result.stdout.strip())


def test_a_config_dict_counts_by_its_key_types_and_order(make_project: MakeProject) -> None:
    project = make_project(flow('{"0": 2.0, "1": 5.0}', '{"shift": 1.0, "scale": 3.0}'))
    project.repro()
    assert project.take_ran() == ["score", "other"]
    assert score(project) == (3.0 + 1.0) * 3.0  # no int key is found: 1.0 each

    project.write(flow("{0: 2.0, 1: 5.0}", '{"shift": 1.0, "scale": 3.0}'))
    dirty = project.dirty()
    assert list(dirty) == ["score"]
    assert dirty["score"][0] == (
        "config changed",
        "weights: {'0': 2.0, '1': 5.0} -> {0: 2.0, 1: 5.0}",
    )
    project.repro()
    assert project.take_ran() == ["score"]
    assert score(project) == (12.0 + 1.0) * 3.0
    assert project.dirty() == {}  # the lockfile keeps the keys' types

    project.write(flow("{0: 2.0, 1: 5.0}", '{"scale": 3.0, "shift": 1.0}'))
    assert [kind for kind, _ in project.dirty()["score"]] == ["config changed"]
    project.repro()
    assert project.take_ran() == ["score"]
    assert score(project) == 12.0 * 3.0 + 1.0
    assert project.dirty() == {}  # and their order
    project.repro()
    assert project.take_ran() == []
