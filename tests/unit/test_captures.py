"""The digest of captured values (``incr.captures``): canonical, typed, and refusing what it
cannot digest; and what a function is found to capture."""

from __future__ import annotations

import copy
import dataclasses
import enum
import functools
from collections import OrderedDict, namedtuple
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np
import pytest
from hypothesis import given

from incr import StepConfig
from incr.captures import (
    UNDIGESTABLE,
    Undigestable,
    captured,
    digest_value,
    with_captures,
)
from incr.coderef import CodeRef, StepCode

from .support import json_values

ROOT = Path(__file__).resolve().parents[2]  # this repository: its test modules are project code


# ---------------------------------------- plain values


@given(json_values(max_leaves=20))
def test_equal_json_values_have_equal_digests(value: Any) -> None:
    assert digest_value(value) == digest_value(copy.deepcopy(value))


def test_the_digest_is_pinned() -> None:
    # An accidental change of the encoding would silently rerun every captured step.
    value = {"a": [1, 2.5, None, True, "x"], "b": (b"\x00", {3})}
    assert digest_value(value) == "9dcab56c3163e7af3e1475222e0c421b"


@pytest.mark.parametrize(
    "values",
    [
        (2, 2.0, True, "2", b"2", [2], (2,), {2}, frozenset({2}), None),
        (0.0, -0.0, float("nan"), float("inf")),
        ([1, 2], [2, 1], [1, 2, 3]),
        ({"a": 1}, {"a": 2}, {"b": 1}, {"a": 1.0}),
        ({"a": 1, "b": 2}, {"b": 2, "a": 1}),  # the order a dict is iterated in may matter
        (1 + 2j, 1 + 3j),
        (Path("a/b"), PurePosixPath("a/b"), "a/b"),
        (range(3), range(4), slice(1, 2)),
    ],
)
def test_different_values_have_different_digests(values: tuple[Any, ...]) -> None:
    digests = [digest_value(v) for v in values]
    assert len(set(digests)) == len(digests)


def test_sets_count_by_their_items_not_their_order() -> None:
    assert digest_value({"b", "a", "c"}) == digest_value({"c", "a", "b"})
    assert digest_value(frozenset({3, 1})) == digest_value(frozenset({1, 3}))


def test_nan_has_a_digest() -> None:
    assert digest_value(float("nan")) == digest_value(float("nan"))


# ---------------------------------------- numpy


def test_arrays_count_by_dtype_shape_and_bytes() -> None:
    base = np.arange(6)
    assert digest_value(base) == digest_value(np.arange(6))
    others = [
        np.arange(6, dtype=np.int32),
        base.reshape(2, 3),
        np.arange(1, 7),
        np.arange(6.0),
    ]
    digests = {digest_value(a) for a in [base, *others]}
    assert len(digests) == 5


def test_a_strided_view_counts_like_its_copy() -> None:
    array = np.arange(12).reshape(3, 4)
    assert digest_value(array[:, ::2]) == digest_value(array[:, ::2].copy())
    assert digest_value(array.T) == digest_value(np.ascontiguousarray(array.T))


def test_numpy_scalars_and_object_arrays() -> None:
    assert digest_value(np.float64(1.5)) != digest_value(1.5)
    assert digest_value(np.float32(1.5)) != digest_value(np.float64(1.5))
    objects = np.array([1, "a", None], dtype=object)
    assert digest_value(objects) == digest_value(np.array([1, "a", None], dtype=object))
    assert digest_value(objects) != digest_value(np.array([1, "b", None], dtype=object))
    with pytest.raises(Undigestable):
        digest_value(np.array([object()], dtype=object))


def test_a_masked_array_is_not_digested_by_its_bytes_alone() -> None:
    with pytest.raises(Undigestable, match="MaskedArray"):
        digest_value(np.ma.masked_array([1, 2], mask=[0, 1]))


# ---------------------------------------- objects


@dataclasses.dataclass
class Point:
    x: int
    y: list[int]


class Scale(StepConfig):
    factor: float = 1.0


class Color(enum.Enum):
    RED = 1
    BLUE = 2


Pair = namedtuple("Pair", "a b")


def test_dataclasses_and_configs_count_by_class_and_fields() -> None:
    assert digest_value(Point(1, [2])) == digest_value(Point(1, [2]))
    assert digest_value(Point(1, [2])) != digest_value(Point(1, [3]))
    assert digest_value(Scale(factor=2.0)) != digest_value(Scale())
    assert digest_value(Scale()) == digest_value(Scale(factor=1.0))


def test_enums_named_tuples_and_ordered_dicts() -> None:
    assert digest_value(Color.RED) != digest_value(Color.BLUE)
    assert digest_value(Pair(1, 2)) != digest_value((1, 2))
    assert digest_value(OrderedDict(a=1)) != digest_value({"a": 1})


class Booster:
    pass


@pytest.mark.parametrize(
    ("value", "what"),
    [
        (Booster(), "Booster"),
        ([1, {"model": Booster()}], "Booster"),
        (object(), "object"),
        (lambda: 1, "function"),  # code without a hook to resolve it
        (iter([1]), "list_iterator"),
    ],
)
def test_values_without_a_canonical_digest_are_refused(value: Any, what: str) -> None:
    with pytest.raises(Undigestable) as raised:
        digest_value(value)
    assert raised.value.what == what


def test_self_holding_and_too_deep_values_are_refused() -> None:
    loop: list[Any] = [1]
    loop.append(loop)
    with pytest.raises(Undigestable, match="holds itself"):
        digest_value(loop)
    deep: list[Any] = []
    for _ in range(500):
        deep = [deep]
    with pytest.raises(Undigestable, match="deep"):
        digest_value(deep)


def test_a_value_met_twice_is_not_a_cycle() -> None:
    shared = [1, 2]
    assert digest_value([shared, shared]) == digest_value([[1, 2], [1, 2]])


# ---------------------------------------- what a function captures


def make(k: Any, *, extra: int = 5) -> Any:
    def inner(a: int, b: int = 2, *, c: int = 3) -> Any:
        return a + b + c + k + extra

    return inner


def test_closure_cells_then_defaults_then_keyword_defaults() -> None:
    assert captured(make(1)) == [("extra", 5), ("k", 1), ("b", 2), ("c", 3)]


def test_a_cell_not_yet_filled() -> None:
    def outer() -> Any:
        def inner() -> Any:
            return later

        found = captured(inner)
        later = 1
        return found

    assert outer() == [("later", ...)]
    assert digest_value(...) != digest_value(None)


def test_functions_capturing_other_values_never_share_digests() -> None:
    first, second = (with_captures(StepCode(CodeRef()), make(k), ROOT) for k in (1, 2))
    assert dict(first.values)["k"] != dict(second.values)["k"]
    assert dict(first.values)["extra"] == dict(second.values)["extra"]


def helper(v: int) -> int:
    return v * 2


def nested_maker(k: int) -> Any:
    def scale(v: int) -> int:
        return v * k

    def step_function() -> Any:
        return scale(helper(1))

    return step_function


def test_captured_functions_count_by_their_code_and_their_own_captures() -> None:
    first = with_captures(StepCode(CodeRef()), nested_maker(2), ROOT)
    second = with_captures(StepCode(CodeRef()), nested_maker(3), ROOT)
    assert dict(first.values)["scale"] != dict(second.values)["scale"]
    module = "tests.unit.test_captures"
    assert CodeRef(module, "nested_maker", "tests/unit/test_captures.py") in first.captured


def test_a_captured_project_function_is_a_code_reference() -> None:
    def uses_helper(fn: Any = helper) -> Any:
        return fn(1)

    code = with_captures(StepCode(CodeRef()), uses_helper, ROOT)
    assert CodeRef("tests.unit.test_captures", "helper", "tests/unit/test_captures.py") in (
        code.captured
    )
    assert code.uncached() == []


def test_a_function_that_calls_itself_is_digested_once() -> None:
    def outer(n: int) -> Any:
        def countdown(i: int) -> int:
            return 0 if i == 0 else countdown(i - 1) + n

        return countdown

    assert (
        dict(with_captures(StepCode(CodeRef()), outer(1), ROOT).values)["countdown"]
        != dict(with_captures(StepCode(CodeRef()), outer(2), ROOT).values)["countdown"]
    )


def test_an_undigestable_capture_is_named_with_its_type() -> None:
    model = Booster()

    def score() -> Any:
        return model

    code = with_captures(StepCode(CodeRef()), score, ROOT)
    assert dict(code.values)["model"] == UNDIGESTABLE + "Booster"
    assert code.uncached() == [("model", "Booster")]


HELPER_OF_3 = functools.partial(helper, 3)


def test_partials_and_packages() -> None:
    def run(fn: Any = HELPER_OF_3, mean: Any = np.mean) -> Any:
        return fn() + mean([1])

    code = with_captures(StepCode(CodeRef()), run, ROOT)
    assert code.uncached() == []
    assert CodeRef(package="numpy") in code.captured
