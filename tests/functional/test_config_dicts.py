"""A config dict counts as the step sees it: its keys' types (``{0: 2.0}`` is not
``{"0": 2.0}``) and their order (a step iterating the stages applies them in that order)."""

from __future__ import annotations

import pytest

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


SHAPES = """\
    from incr import StepConfig, pipeline, step
    from pipelines.mark import mark


    class Cfg(StepConfig):
        params: dict = {}


    @step
    def kinds(config: Cfg) -> str:
        mark("kinds")
        return ",".join(type(v).__name__ for v in config.params.values())


    @pipeline
    def shapes():
        kinds(config=Cfg(params={PARAMS}))
    """


def test_a_tuple_is_no_list_and_keys_of_two_types_are_named(make_project: MakeProject) -> None:
    """``ngram_range=(1, 2)`` made ``[1, 2]`` is another value to the step (scikit-learn
    refuses the list); a dict with both ``0`` and ``"0"`` as keys is refused, naming them."""
    project = make_project({"pipelines/shapes.py": SHAPES.replace("{PARAMS}", '{"r": (1, 2)}')})
    project.repro()
    assert project.take_ran() == ["kinds"]
    assert project.dirty() == {}
    project.write({"pipelines/shapes.py": SHAPES.replace("{PARAMS}", '{"r": [1, 2]}')})
    assert [kind for kind, _ in project.dirty()["kinds"]] == ["config changed"]
    project.repro()
    assert project.take_ran() == ["kinds"]
    assert project.dirty() == {}

    project.write({"pipelines/shapes.py": SHAPES.replace("{PARAMS}", '{0: 1.0, "0": (2,)}')})
    result = project.incr("status")
    assert result.user_error() == (
        "error: pipelines/shapes.py:17: pipeline shapes: step kinds: config field 'params' "
        "(its keys) holds keys of two types (0 and '0'), which a config cannot hold (configs "
        "are compared as JSON)"
    )
    assert "give the dict's keys one type" in result.stderr


PATHS = """\
    from dataclasses import dataclass, field
    from pathlib import Path

    from incr import StepConfig, pipeline, step
    from pipelines.mark import mark


    @dataclass
    class Inputs:
        raw: Path = Path("data/x.txt")
        extra: list[Path] = field(default_factory=list)


    class Cfg(StepConfig):
        data: Path = Path("data/x.txt")
        inputs: Inputs = Inputs()


    @step
    def load(config: Cfg) -> int:
        mark("load")
        return sum(int(v) for v in config.data.read_text().split()) + len(config.inputs.extra)


    @pipeline
    def paths():
        load(config=Cfg())
    """


@pytest.mark.parametrize("jobs", [(), ("--jobs", "2")])
def test_a_config_may_hold_paths(make_project: MakeProject, jobs: tuple[str, ...]) -> None:
    """A ``Path`` field (a config's own, a dataclass's inside it, a list of them) counts by
    its POSIX spelling: a change reruns the step, saying ``data: data/x.txt -> data/y.txt``.
    Before, such a config was refused (configs are compared as JSON)."""
    project = make_project(
        {"pipelines/paths.py": PATHS, "data/x.txt": "1 2 3\n", "data/y.txt": "4 5\n"}
    )
    project.repro(*jobs)
    assert project.take_ran() == ["load"]
    assert project.dirty() == {}
    project.edit("pipelines/paths.py", "load(config=Cfg())", 'load(config=Cfg(data="data/y.txt"))')
    assert project.dirty() == {"load": [("config changed", "data: data/x.txt -> data/y.txt")]}
    project.repro(*jobs)
    assert project.take_ran() == ["load"]
    digest = project.lock()["paths.load"].outputs["output"].digest
    assert project.object_bytes(digest) == b"9"
    assert project.dirty() == {}
