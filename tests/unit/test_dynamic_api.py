"""incr/fanin.py, incr/pipeparams.py, incr/stepsig.py and their use in api: fan-in slots and
the calls they make, named calls, pipeline parameters and nesting, partials and wrappers."""

from __future__ import annotations

import functools
import inspect
from pathlib import Path

import pytest

from incr import StepConfig, pipeline, step
from incr.errors import DefinitionError
from incr.fanin import call_args
from incr.model import InputRef
from incr.pipeparams import instance_name
from incr.stepsig import takes_only_args_and_kwargs


class Cfg(StepConfig):
    k: int = 1
    opts: dict = {"a": [1]}  # noqa: RUF012 (what ZenML configs accept)


@step
def load() -> int:
    return 1


@step
def many(*parts: int) -> int:
    return sum(parts)


@step
def by_key(models: dict, extra: int = 0) -> dict:
    return models


def graph(body, tmp_path: Path):
    return pipeline(body)().trace(tmp_path).graph


def test_slots_name_every_part_in_order(tmp_path: Path) -> None:
    def body():
        a, b = load(name="a"), load(name="b")
        many(a, b, name="total")
        by_key({"x": b, 3: a})

    g = graph(body, tmp_path)
    assert g.step("total").inputs == {
        "parts[0]": InputRef("a", "output"),
        "parts[1]": InputRef("b", "output"),
    }
    assert list(g.step("by_key").inputs) == ["models[0:x]", "models[1#3]"]


def test_call_args_rebuild_lists_dicts_and_varargs() -> None:
    def f(first, *parts, models=None, **rest):
        return first, parts, models, rest

    params = list(inspect.signature(f).parameters.values())
    args, kwargs = call_args(
        params,
        {"first": 0, "parts[1]": "b", "parts[0]": "a", "models[1#3]": 3, "models[0:x]": 9, "z": 1},
    )
    assert f(*args, **kwargs) == (0, ("a", "b"), {"x": 9, 3: 3}, {"z": 1})


def test_call_names_are_checked(tmp_path: Path) -> None:
    def twice():
        load(name="x")
        load(name="x")

    with pytest.raises(DefinitionError, match="two steps are named 'x'"):
        graph(twice, tmp_path)
    with pytest.raises(DefinitionError, match="is not a step name"):
        graph(lambda: load(name=""), tmp_path)


def test_with_options_copies_every_option() -> None:
    made = load.with_options(name="fresh", enable_cache=False, cache_expires="1h")
    assert (made.name, made.enable_cache, made.cache_expires) == ("fresh", False, 3600.0)
    assert made.func is load.func and load.name == "load"
    with pytest.raises(DefinitionError, match="unknown options"):
        load.with_options(colour="red")


def test_instance_names_show_the_values_that_differ() -> None:
    sig = inspect.signature(lambda n=5, lr=0.1, tag="a b", grid=(): None)
    assert instance_name("cv", sig, {"n": 5, "lr": 0.1, "tag": "a b", "grid": ()}) == "cv"
    assert instance_name("cv", sig, {"n": 3, "lr": 0.01, "tag": "a b", "grid": ()}) == (
        "cv@n=3,lr=0_01"
    )
    long = instance_name("cv", sig, {"n": 5, "lr": 0.1, "tag": "a b", "grid": [1, 2]})
    assert long.startswith("cv@grid=") and len(long) == len("cv@grid=") + 8
    assert instance_name("cv", sig, {"n": True, "lr": 0.1, "tag": "a b", "grid": ()}) == "cv@n=True"


def test_nested_pipelines_add_their_steps_under_a_prefix(tmp_path: Path) -> None:
    @pipeline
    def inner(k: int = 1):
        return many(load(), name="sum")

    @pipeline
    def outer():
        many(inner(), inner(k=2), inner())

    g = outer().trace(tmp_path).graph
    assert [n.name for n in g.steps] == [
        "inner.load",
        "inner.sum",
        "inner@k=2.load",
        "inner@k=2.sum",
        "inner_2.load",
        "inner_2.sum",
        "many",
    ]
    assert g.step("many").inputs["parts[2]"] == InputRef("inner_2.sum", "output")


def test_partials_and_plain_wrappers_are_steps(tmp_path: Path) -> None:
    def scale(x: int, factor: int = 1) -> int:
        return x * factor

    def plain(func):
        def wrapper(*args, **kwargs):
            return func(*args, **kwargs)

        return wrapper

    triple = step(functools.partial(scale, factor=3))

    @step
    @plain
    def double(x: int, config: Cfg) -> int:
        return x * 2 * config.k

    assert triple.name == "scale" and double.name == "double"
    assert double.config_param == "config"
    assert triple.run_function(None, {"x": 2}) == 6
    assert double.run_function(Cfg(k=2), {"x": 1}) == 4
    code = triple.code(tmp_path)
    assert [n for n, _ in code.values][-1] == "partial[factor]"
    assert Cfg().opts == {"a": [1]} and Cfg().opts is not Cfg().opts


def test_a_factory_step_taking_parts_is_no_wrapper() -> None:
    def make(combine):
        @step
        def merged(*parts: int) -> int:
            return combine(parts)

        return merged

    made = make(sum)
    assert made.name == "merged" and list(made.signature.parameters) == ["parts"]
    assert made.run_function(None, {"parts[0]": 1, "parts[1]": 2}) == 3


def _signatures() -> list:
    def a(*args, **kwargs): ...
    def b(x, *args, **kwargs): ...
    def c(*args): ...
    def d(**kwargs): ...
    def e(*args, k=1, **kwargs): ...
    def f(x, /, *args, **kwargs): ...
    def g(): ...
    def h(*args, **kwargs): ...

    h.__signature__ = inspect.signature(b)  # type: ignore[attr-defined]
    return [a, b, c, d, e, f, g, h]


@pytest.mark.parametrize("func", _signatures(), ids=lambda f: f.__name__)
def test_a_wrapper_is_told_from_its_code_as_inspect_tells_it(func) -> None:
    kinds = [p.kind for p in inspect.signature(func).parameters.values()]
    expected = kinds == [inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD]
    assert takes_only_args_and_kwargs(func) == expected


def test_a_nested_pipeline_without_cache_keeps_its_steps_uncached(tmp_path: Path) -> None:
    @pipeline(enable_cache=False)
    def fresh():
        return load()

    @pipeline
    def outer():
        many(fresh(), load())

    g = outer().trace(tmp_path).graph
    assert [(n.name, n.enable_cache) for n in g.steps] == [
        ("fresh.load", False),
        ("load", None),
        ("many", None),
    ]


def test_the_none_of_a_step_without_outputs_gets_a_hint(tmp_path: Path) -> None:
    @step
    def nothing() -> None:
        return None

    with pytest.raises(DefinitionError, match="got NoneType") as info:
        graph(lambda: many(nothing()), tmp_path)
    assert "annotated -> None" in info.value.hint
