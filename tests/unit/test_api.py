"""incr/api.py: tracing both pipeline styles into PipelineGraphs, and definition errors."""

import enum
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from incr import BaseStepConfig, Output, StepConfig, pipeline, step
from incr.api import OutputHandle, Step, StepInstance
from incr.errors import DefinitionError
from incr.model import InputRef, PipelineGraph, StepNode

HERE = Path(__file__).resolve()
REPO = HERE.parents[2]


class TrainConfig(StepConfig):
    gamma: float = 0.001
    kernel: str = "rbf"


class OtherConfig(BaseStepConfig):
    depth: int = 3


@step
def load() -> Output(X=np.ndarray, y=np.ndarray):
    return np.zeros((2, 2)), np.zeros(2)


@step(enable_cache=False)
def train(config: TrainConfig, X: np.ndarray, y: np.ndarray) -> int:
    return int(config.gamma * len(X) + len(y))


@step
def transform(x: np.ndarray) -> np.ndarray:
    return x * 2


@step
def pick(cfg: OtherConfig, x: np.ndarray) -> Output(first=float):
    return float(x.flat[0]) + cfg.depth


@step(name="reader", deps=["data/raw.csv", "data/set/"], outs=["reports/out.json"])
def read_files():
    return 1


@step
def sink(value) -> None:
    pass


@pipeline
def direct():
    X, y = load()
    train(X, y, config=TrainConfig(gamma=0.01))


@pipeline
def classic(step_1, step_2):
    X, y = step_1()
    step_2(X, y)


@pipeline(enable_cache=False, name="twice_named")
def twice():
    X, _ = load()
    a = transform(X)
    b = transform(a)
    transform(b)


def graph_of(instance, root) -> PipelineGraph:
    return instance.trace(root).graph


# --------------------------------------------------------------------------- both styles


def expected_pair(pipeline_name: str, gamma: float) -> tuple[StepNode, ...]:
    return (
        StepNode(
            pipeline=pipeline_name,
            name="load",
            func_name="load",
            source_file="tests/unit/test_api.py",
            config={},
            inputs={},
            outputs=("X", "y"),
        ),
        StepNode(
            pipeline=pipeline_name,
            name="train",
            func_name="train",
            source_file="tests/unit/test_api.py",
            config={"gamma": gamma, "kernel": "rbf"},
            inputs={"X": InputRef("load", "X"), "y": InputRef("load", "y")},
            outputs=("output",),
            enable_cache=False,
        ),
    )


def test_direct_style(tmp_path):
    graph = graph_of(direct(), REPO)
    assert graph == PipelineGraph(
        name="direct",
        source_file="tests/unit/test_api.py",
        steps=expected_pair("direct", 0.01),
        enable_cache=True,
    )
    assert graph.edges() == [("load", "train")]
    assert graph.step("train").key == "direct.train"


def test_a_step_defined_outside_the_root_keeps_its_whole_source_path(tmp_path):
    graph = graph_of(direct(), tmp_path)
    whole = Path(__file__).resolve().as_posix()
    assert graph.source_file == whole
    assert {node.source_file for node in graph.steps} == {whole}


def test_classic_style(tmp_path):
    instance = classic(step_1=load(), step_2=train(config=TrainConfig(gamma=0.01)))
    graph = graph_of(instance, REPO)
    # each step knows the parameter it was bound to (ZenML named a run's steps so)
    assert [n.param for n in graph.steps] == ["step_1", "step_2"]
    assert tuple(replace(n, param="") for n in graph.steps) == expected_pair("classic", 0.01)
    assert graph.edges() == [("load", "train")]


def test_both_styles_give_the_same_steps():
    a = graph_of(direct(), REPO)
    b = graph_of(classic(step_1=load, step_2=train(config=TrainConfig(gamma=0.01))), REPO)
    strip = lambda g: [(n.name, n.config, n.inputs, n.outputs) for n in g.steps]  # noqa: E731
    assert strip(a) == strip(b)


def test_source_file_outside_the_root_is_absolute(tmp_path):
    graph = graph_of(direct(), tmp_path)
    assert graph.source_file == HERE.as_posix()
    assert {n.source_file for n in graph.steps} == {HERE.as_posix()}


def test_tracing_is_repeatable():
    instance = direct()
    assert graph_of(instance, REPO) == graph_of(instance, REPO)


def test_traced_pipeline_holds_steps_and_configs(tmp_path):
    traced = direct().trace(tmp_path)
    assert traced.steps == {"load": load, "train": train}
    assert traced.configs["load"] is None
    config = traced.configs["train"]
    assert isinstance(config, TrainConfig)
    assert (config.gamma, config.kernel) == (0.01, "rbf")


def test_a_step_used_twice_gets_numbered_names(tmp_path):
    graph = graph_of(twice(), tmp_path)
    assert graph.name == "twice_named"
    assert graph.enable_cache is False
    assert [n.name for n in graph.steps] == ["load", "transform", "transform_2", "transform_3"]
    assert {n.func_name for n in graph.steps[1:]} == {"transform"}
    assert graph.step("transform_2").inputs == {"x": InputRef("transform", "output")}
    assert graph.edges() == [
        ("load", "transform"),
        ("transform", "transform_2"),
        ("transform_2", "transform_3"),
    ]


def test_configs_default_and_by_parameter_name(tmp_path):
    @pipeline
    def configs():
        X, y = load()
        train(X, y)  # the default config
        pick(X, cfg=OtherConfig(depth=7))  # by the config parameter's own name
        pick(y, config=OtherConfig())

    graph = graph_of(configs(), tmp_path)
    assert graph.step("train").config == {"gamma": 0.001, "kernel": "rbf"}
    assert graph.step("pick").config == {"depth": 7}
    assert graph.step("pick_2").config == {"depth": 3}
    assert graph.step("pick").inputs == {"x": InputRef("load", "X")}


def test_step_config_is_a_keyword_only_dataclass():
    assert TrainConfig(gamma=0.5).to_dict() == {"gamma": 0.5, "kernel": "rbf"}
    assert TrainConfig() == TrainConfig()
    with pytest.raises(TypeError):
        TrainConfig(0.5)


def test_multi_output_returns_a_handle_per_name(tmp_path):
    seen = {}

    @pipeline
    def outputs():
        seen["load"] = load()
        seen["pick"] = pick(seen["load"][0])
        seen["transform"] = transform(seen["load"][1])
        seen["sink"] = sink(seen["pick"])

    graph = graph_of(outputs(), tmp_path)
    assert seen["load"] == (OutputHandle("load", "X"), OutputHandle("load", "y"))
    assert seen["pick"] == OutputHandle("pick", "first")  # one named output: a single handle
    assert seen["transform"] == OutputHandle("transform", "output")
    assert seen["sink"] is None
    assert graph.step("pick").outputs == ("first",)
    assert graph.step("sink").outputs == ()
    assert graph.step("sink").inputs == {"value": InputRef("pick", "first")}


def test_step_options_reach_the_node(tmp_path):
    @pipeline
    def files():
        read_files()

    node = graph_of(files(), tmp_path).step("reader")
    assert node.func_name == "read_files"
    assert node.deps == ("data/raw.csv", "data/set")
    assert node.outs == ("reports/out.json",)
    assert node.enable_cache is None


def test_file_wiring_makes_edges(tmp_path):
    @step(outs=["data/features"])
    def featurize() -> None:
        pass

    @step(deps=["data/features/a.npy"])
    def fit() -> None:
        pass

    @pipeline
    def wired():
        fit()
        featurize()

    assert graph_of(wired(), tmp_path).edges() == [("featurize", "fit")]


def test_entrypoint_calls_the_plain_function():
    assert transform.entrypoint(np.array([1, 2])).tolist() == [2, 4]
    assert train.entrypoint(TrainConfig(gamma=1.0), [1, 2], [3]) == 3


def test_a_step_called_outside_a_pipeline_is_an_instance():
    instance = train(config=TrainConfig())
    assert isinstance(instance, StepInstance)
    assert instance.step is train


# --------------------------------------------------------------------------- errors


def traced_error(body, tmp_path) -> DefinitionError:
    with pytest.raises(DefinitionError) as info:
        pipeline(body)().trace(tmp_path)
    return info.value


def test_unconnected_input(tmp_path):
    def body():
        X, _ = load()
        train(X, config=TrainConfig())

    exc = traced_error(body, tmp_path)
    assert "input 'y' is not connected" in exc.message
    assert exc.hint is not None and "train(y=...)" in exc.hint


def test_constant_passed_as_input(tmp_path):
    def body():
        transform(np.array([1, 2]))

    exc = traced_error(body, tmp_path)
    assert "input 'x' must be the output of another step" in exc.message
    assert "StepConfig" in exc.hint


def test_constant_passed_as_keyword_input(tmp_path):
    def body():
        X, _ = load()
        train(X, y=3)

    assert "input 'y'" in traced_error(body, tmp_path).message


def test_too_many_inputs(tmp_path):
    def body():
        X, y = load()
        transform(X, y)

    assert "takes 1 inputs, 2 were given" in traced_error(body, tmp_path).message


def test_every_output_of_a_step_passed_as_one_input(tmp_path):
    def whole():
        transform(load())

    def items_of_a_list():
        transform([load()])

    exc = traced_error(whole, tmp_path)
    assert "input 'x' got every output of load: load returns 2 outputs" in exc.message
    assert exc.hint.startswith("X, y = load(...)")
    assert "item 0 of input 'x' must be the output of another step" in (
        traced_error(items_of_a_list, tmp_path).message
    )


def test_unknown_or_repeated_input(tmp_path):
    def unknown():
        X, _ = load()
        transform(z=X)

    def repeated():
        X, _ = load()
        transform(X, x=X)

    assert "unexpected or repeated input 'z'" in traced_error(unknown, tmp_path).message
    assert "unexpected or repeated input 'x'" in traced_error(repeated, tmp_path).message


def test_config_of_the_wrong_type(tmp_path):
    def body():
        X, y = load()
        train(X, y, config=OtherConfig())

    assert "config must be a TrainConfig, got OtherConfig" in traced_error(body, tmp_path).message


def test_config_of_the_wrong_type_in_classic_style():
    with pytest.raises(DefinitionError, match="config must be a TrainConfig"):
        train(config=OtherConfig())


def test_config_for_a_step_without_one(tmp_path):
    def body():
        X, _ = load()
        transform(X, config=OtherConfig())

    assert "takes no config" in traced_error(body, tmp_path).message


def test_a_config_without_defaults_must_be_given(tmp_path):
    class Required(StepConfig):
        rate: float

    @step
    def needs(config: Required) -> int:
        return 1

    def body():
        needs()

    exc = traced_error(body, tmp_path)
    assert "step needs: Required has fields without a default" in exc.message
    assert "config=Required(...)" in exc.hint

    @pipeline
    def given():
        needs(config=Required(rate=0.5))

    assert graph_of(given(), tmp_path).step("needs").config == {"rate": 0.5}


class Mode(enum.Enum):
    FAST = "fast"


class Inner(StepConfig):
    lr: float = 0.1


@pytest.mark.parametrize(
    ("value", "where", "said", "hint"),
    [
        (float("nan"), "'value'", "nan", "None for a missing value"),
        ([1.0, float("inf")], "'value'[1]", "inf", "None for a missing value"),
        ({1, 2}, "'value'", "a set", "a sorted list"),
        (np.array([1.0]), "'value'", "a value of type ndarray", "lists and str-keyed dicts"),
        (object(), "'value'", "a value of type object", "lists and str-keyed dicts"),
        (Mode.FAST, "'value'", "Mode.FAST, a plain Enum", "give its value ('fast')"),
        (Inner(), "'value'", "an object of type Inner (a dataclass the field's", "of Loose"),
        (b"x", "'value'", "bytes", "use a str"),
    ],
    ids=["nan", "inf", "set", "array", "obj", "enum", "nested", "bytes"],
)
def test_a_config_value_must_be_json(tmp_path, value, where, said, hint):
    """The error names the field (and where in it), the value, and what to use instead."""

    class Loose(StepConfig):
        value: object = None

    @step
    def uses(config: Loose) -> int:
        return 1

    def body():
        uses(config=Loose(value=value))

    exc = traced_error(body, tmp_path)
    assert f"config field {where} holds {said}" in exc.message
    assert "which a config cannot hold" in exc.message
    assert hint in (exc.hint or "")


def test_positional_args_to_a_pipeline():
    instance = classic(load(), train())
    assert list(instance.bound) == ["step_1", "step_2"]
    with pytest.raises(DefinitionError, match="takes 2 steps, 3 were given"):
        classic(load(), train(), load())
    with pytest.raises(DefinitionError, match="step_1 was given twice"):
        classic(load(), step_1=load(), step_2=train())


def test_missing_or_unexpected_pipeline_bindings():
    with pytest.raises(DefinitionError, match=r"missing \['step_2'\]"):
        classic(step_1=load())
    with pytest.raises(DefinitionError, match=r"unexpected \['step_3'\]"):
        classic(step_1=load(), step_2=train(), step_3=load())


def test_a_pipeline_binding_must_be_a_step():
    with pytest.raises(DefinitionError, match="step_2 must be a step instance"):
        classic(step_1=load(), step_2=lambda: None)


def test_data_passed_to_a_step_outside_a_pipeline():
    with pytest.raises(DefinitionError, match="called with data outside a pipeline") as info:
        transform(np.array([1]))
    assert "transform.entrypoint(...)" in info.value.hint


def test_a_step_instance_called_outside_a_pipeline():
    with pytest.raises(DefinitionError, match="can only be called in a pipeline"):
        load()()


def test_a_pipeline_traced_inside_another(tmp_path):
    made = direct()

    def outer():
        made.trace(tmp_path)

    assert "inside another pipeline" in traced_error(outer, tmp_path).message


def test_a_failed_trace_leaves_no_tracer_behind(tmp_path):
    def body():
        load()
        raise RuntimeError("user code failed")

    with pytest.raises(RuntimeError):
        pipeline(body)().trace(tmp_path)
    # outside a pipeline again: a step call makes an instance, and tracing works
    assert isinstance(load(), StepInstance)
    assert [n.name for n in graph_of(direct(), tmp_path).steps] == ["load", "train"]


@pytest.mark.parametrize("path", ["/etc/passwd", "../outside.csv", "data/../../x", "~/x"])
def test_outs_outside_the_root(tmp_path, path):
    @step(outs=[path])
    def writes() -> None:
        pass

    def body():
        writes()

    assert "outside the project root" in traced_error(body, tmp_path).message


@pytest.mark.parametrize(
    ("path", "key"),
    [
        ("/mnt/data/x.csv", "/mnt/data/x.csv"),
        ("/mnt/data/../x.csv", "/mnt/x.csv"),
        ("../shared/x.csv", "../shared/x.csv"),
        ("data/../../x", "../x"),
        ("~/datasets/./x.csv", "~/datasets/x.csv"),
    ],
)
def test_deps_outside_the_root_are_kept_normalised(tmp_path, path, key):
    @step(deps=[path])
    def reads() -> None:
        pass

    def body():
        reads()

    assert graph_of(pipeline(body)(), tmp_path).steps[0].deps == (key,)


def test_output_needs_a_name():
    with pytest.raises(DefinitionError):
        Output()


def test_definition_error_is_a_type_error():
    assert issubclass(DefinitionError, TypeError)


def test_run_goes_through_the_engine_hook():
    from incr.api import pipeline, set_engine

    @pipeline
    def empty() -> None:
        pass

    seen = []
    previous = set_engine(lambda instance, enable_cache: seen.append((instance.name, enable_cache)))
    try:
        empty().run(enable_cache=False)
    finally:
        set_engine(previous)
    assert seen == [("empty", False)]


def test_steps_of_one_shape_read_it_once_and_hold_their_own_dicts(monkeypatch) -> None:
    """Ten thousand steps ``(x: int) -> int`` share one signature: what a step reads off it
    is read once, and each step still holds dicts of its own."""
    from incr import stepsig

    asked: list[str] = []
    real = stepsig.find_config

    def counted(step: str, *args: Any, **kwargs: Any) -> Any:
        asked.append(step)
        return real(step, *args, **kwargs)

    monkeypatch.setattr(stepsig, "find_config", counted)
    monkeypatch.setattr(stepsig, "_SHAPES", {})

    def make(i: int) -> Step:
        def body(x: int) -> int:
            return x + i

        body.__name__ = f"s{i}"
        return step(body)

    first, second, third = make(1), make(2), make(3)
    assert asked == ["s1"]
    assert first.signature is second.signature
    first.output_types["extra"] = int
    assert "extra" not in second.output_types
    assert third.output_names == ("output",) and third.config_param is None


def test_the_tracer_tells_step_objects_apart_by_identity(tmp_path: Path) -> None:
    """Two step objects that compare equal (a user's step class made a dataclass) made
    different nodes; what is no step object made none."""
    import dataclasses

    from incr.tracing import Tracer

    @dataclasses.dataclass
    class Twin:
        name: str = "same"

    tracer: Tracer[Any] = Tracer("p", tmp_path)
    first, second = Twin(), Twin()
    assert first == second
    for obj, name in ((first, "a"), (second, "b")):
        tracer.names.append(name)
        tracer.called(obj)
    assert tracer._made(first) == ["a"] and tracer._made(second) == ["b"]
    assert tracer._made([first]) == []


def test_a_config_holds_paths_by_their_posix_spelling() -> None:
    """A ``Path`` field, or a path inside a field, is held as ``{"<path>": "data/x.csv"}``:
    JSON can hold and compare it, and a config made again from the values has the path."""
    from incr.digests import PATH, as_given, canonical_json
    from incr.stepsig import config_values

    class Paths(StepConfig):
        data: Path = Path("data/x.csv")
        more: list[Path] = []  # noqa: RUF012

    values = config_values("uses", Paths, Paths(more=[Path("a/b.txt")]))
    assert values == {"data": {PATH: "data/x.csv"}, "more": [{PATH: "a/b.txt"}]}
    canonical_json(values)
    again = Paths(**values)
    assert again.data == Path("data/x.csv") and again.more == [Path("a/b.txt")]
    assert str(as_given(values["data"])) == "data/x.csv"
