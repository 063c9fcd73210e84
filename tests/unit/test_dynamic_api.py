"""incr/fanin.py, incr/pipeparams.py, incr/stepsig.py and their use in api: fan-in slots and
the calls they make, named calls, pipeline parameters and nesting, partials and wrappers, and
the signatures steps are read with."""

from __future__ import annotations

import functools
import inspect
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from incr import StepConfig, pipeline, step
from incr.errors import DefinitionError
from incr.fanin import call_args
from incr.model import InputRef
from incr.pipeparams import instance_name
from incr.stepsig import signature, takes_only_args_and_kwargs


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


def _function(spec: tuple[int, int, int, bool, int, int, bool, tuple[bool, ...]]) -> Any:
    """A function made from ``spec``: (positional-only, positional, of which with defaults,
    ``*args``, keyword-only, of which with defaults, ``**kwargs``, which are annotated)."""
    posonly, positional, defaulted, varargs, kwonly, kwdefaulted, varkw, annotated = spec
    names = iter(f"p{i}" for i in range(99))
    marks = iter(annotated * 4)
    types_ = iter(["int", "list[str]", "float", "'kept as text'.__class__", "None"] * 20)

    def param(prefix: str = "", default: str = "") -> str:
        text = prefix + next(names)
        if next(marks, False):
            text += f": {next(types_)}"
        return text + (f" = {default}" if default else "")

    parts = []
    total = posonly + positional
    for i in range(total):
        parts.append(param(default=f"[{i}]" if i >= total - defaulted else ""))
        if i == posonly - 1:
            parts.append("/")
    parts.append(param("*") if varargs else "*" if kwonly else "")
    parts += [param(default="3.5" if i < kwdefaulted else "") for i in range(kwonly)]
    if varkw:
        parts.append(param("**"))
    header = ", ".join(p for p in parts if p)
    returns = " -> dict" if next(marks, False) else ""
    scope: dict[str, Any] = {}
    source = f"def f({header}){returns}:\n    return None\n"
    exec(compile(source, "<spec>", "exec", dont_inherit=True), scope)  # no postponed annotations
    return scope["f"]


@given(
    st.tuples(
        st.integers(0, 2),
        st.integers(0, 3),
        st.integers(0, 5),
        st.booleans(),
        st.integers(0, 2),
        st.integers(0, 2),
        st.booleans(),
        st.lists(st.booleans(), min_size=12, max_size=12).map(tuple),
    ).filter(lambda s: s[2] <= s[0] + s[1] and s[5] <= s[4])
)
def test_a_plain_function_gets_the_signature_inspect_gives(spec: Any) -> None:
    func = _function(spec)
    mine, theirs = signature(func), inspect.signature(func, eval_str=True)
    assert mine == theirs and str(mine) == str(theirs)
    assert [p.kind for p in mine.parameters.values()] == [
        p.kind for p in theirs.parameters.values()
    ]
    assert [p.default for p in mine.parameters.values()] == [
        p.default for p in theirs.parameters.values()
    ]
    # Signatures are shared by functions of one shape: this one's own default objects
    assert all(
        a.default is b.default and a.annotation is b.annotation
        for a, b in zip(mine.parameters.values(), theirs.parameters.values(), strict=True)
    )


def test_a_signature_inspect_must_read_is_left_to_it() -> None:
    scope: dict[str, Any] = {}
    source = "def f(x: 'int', y: 'Missing' = 1) -> 'int':\n    return x\n"
    exec(compile(source, "<text>", "exec", dont_inherit=True), scope)
    text = scope["f"]
    assert signature(text).parameters["x"].annotation is int  # evaluated
    assert signature(text).parameters["y"].annotation == "Missing"  # kept as text

    def inner(a: int, b: int = 2) -> int:
        return a + b

    @functools.wraps(inner)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        return inner(*args, **kwargs)

    assert list(signature(wrapper).parameters) == ["a", "b"]  # followed as inspect does
    inner.__signature__ = inspect.Signature()  # type: ignore[attr-defined]
    assert list(signature(inner).parameters) == []
    assert list(signature(functools.partial(scope["f"], 1)).parameters) == ["y"]
