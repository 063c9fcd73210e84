"""incr/materializers.py: values to bytes and back, by type."""

import json
import math
import pickle
from collections import OrderedDict
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings

from incr.errors import MaterializeError
from incr.materializers import dump, load

from .support import json_values


class Point:
    """A user class at module level, so pickle can find it."""

    def __init__(self, x, y):
        self.x, self.y = x, y

    def __eq__(self, other):
        return isinstance(other, Point) and (self.x, self.y) == (other.x, other.y)


def round_trip(value):
    kind, data = dump(value, "flow.step.output")
    assert isinstance(data, bytes)
    return kind, load(kind, data)


# --------------------------------------------------------------------------- numpy


@pytest.mark.parametrize(
    "array",
    [
        np.arange(12, dtype=np.int64).reshape(3, 4),
        np.linspace(0, 1, 7, dtype=np.float32),
        np.array([True, False]),
        np.array(["a", "bc"]),
        np.zeros((0, 3)),
        np.array(3.5),
        np.array([(1, 2.0)], dtype=[("a", "i4"), ("b", "f8")]),
        np.asfortranarray(np.arange(6).reshape(2, 3)),
    ],
    ids=["int2d", "float32", "bool", "str", "empty", "scalar", "structured", "fortran"],
)
def test_numpy_arrays_are_npy(array):
    kind, data = dump(array, "load.X")
    assert kind == "npy"
    assert data.startswith(b"\x93NUMPY")
    back = load(kind, data)
    assert back.dtype == array.dtype and back.shape == array.shape
    np.testing.assert_array_equal(back, array)


def test_npy_is_loaded_without_pickle():
    kind, data = dump(np.arange(3), "x")
    assert kind == "npy"
    assert b"pickle" not in data


def test_nan_in_an_array_survives():
    kind, back = round_trip(np.array([1.0, math.nan]))
    assert kind == "npy"
    assert math.isnan(back[1])


def test_object_arrays_go_to_pickle():
    array = np.array([{"a": 1}, None, "x"], dtype=object)
    kind, back = round_trip(array)
    assert kind == "pickle"
    assert list(back) == list(array)


def test_loading_pickled_bytes_as_npy_refuses():
    _, data = dump(np.array([object()], dtype=object), "x")
    with pytest.raises(ValueError):
        load("npy", data)


def test_numpy_scalars_keep_their_dtype_and_subclasses_go_to_pickle():
    kind, back = round_trip(np.float32(1.5))
    assert kind == "npscalar" and type(back) is np.float32 and back == 1.5
    assert dump(np.ma.masked_array([1, 2], mask=[0, 1]), "x")[0] == "pickle"


# --------------------------------------------------------------------------- json

PLAIN = json_values(max_leaves=15)


@settings(max_examples=80, deadline=None)
@given(PLAIN)
def test_property_plain_data_is_json_and_round_trips(value):
    kind, back = round_trip(value)
    assert kind == "json"
    assert back == value
    assert type(back) is type(value)


def _orders(value):
    """Every dict in ``value`` (depth first) as its list of keys: the order a consumer sees."""
    if isinstance(value, dict):
        return [list(value), *(o for v in value.values() for o in _orders(v))]
    if isinstance(value, list):
        return [o for v in value for o in _orders(v)]
    return []


@settings(max_examples=80, deadline=None)
@given(PLAIN)
def test_property_dicts_load_back_in_the_order_they_were_made(value):
    _, back = round_trip(value)
    assert _orders(back) == _orders(value)
    assert dump(value, "x") == dump(back, "x")  # the same dict, the same bytes


def test_json_bytes_are_compact_and_keep_key_order():
    kind, data = dump({"b": [1, 2.5], "a": None}, "x")
    assert (kind, data) == ("json", b'{"b":[1,2.5],"a":null}')
    assert dump({"b": [1, 2.5], "a": None}, "x")[1] == data


def test_equal_dicts_in_another_order_are_other_bytes():
    first = {"accuracy": 0.9, "loss": 0.1}
    second = {"loss": 0.1, "accuracy": 0.9}
    assert first == second
    assert dump(first, "x")[1] != dump(second, "x")[1]
    assert next(iter(load("json", dump(second, "x")[1]))) == "loss"


def test_nested_dicts_and_lists_of_dicts_keep_their_order():
    value = {"z": {"y": 1, "x": [{"b": 1, "a": 2}]}, "a": [{"d": None, "c": True}]}
    assert _orders(round_trip(value)[1]) == [["z", "a"], ["y", "x"], ["b", "a"], ["d", "c"]]


def test_sorted_dicts_give_the_bytes_of_the_sorted_encoding():
    """Objects stored when incr sorted keys keep their digests: a sorted dict is encoded as
    before, and an old object (sorted) still loads."""
    value = {"a": 1, "b": {"c": [1, {"d": 2, "e": 3}], "f": "g"}}
    old = json.dumps(value, sort_keys=True, separators=(",", ":")).encode()
    assert dump(value, "x") == ("json", old)
    unsorted_then = json.dumps({"b": 2, "a": 1}, sort_keys=True, separators=(",", ":"))
    assert load("json", unsorted_then.encode()) == {"a": 1, "b": 2}


# --------------------------------------------------------------------------- pickle


@pytest.mark.parametrize(
    "value",
    [
        (1, 2),
        {1, 2, 3},
        frozenset({"a"}),
        {1: "int key"},
        [1, (2, 3)],
        {"a": {4, 5}},
        math.inf,
        b"bytes",
        Fraction(1, 3),
        OrderedDict(a=1),
        Point(1, 2),
        [Point(0, 0)],
        range(3),
    ],
    ids=lambda v: type(v).__name__,
)
def test_everything_else_is_pickled_and_round_trips(value):
    kind, back = round_trip(value)
    assert kind == "pickle"
    assert back == value
    assert type(back) is type(value)


def test_nan_is_pickled():
    kind, back = round_trip(math.nan)
    assert kind == "pickle"
    assert math.isnan(back)
    kind, back = round_trip({"x": [math.nan]})
    assert kind == "pickle"
    assert math.isnan(back["x"][0])


def test_bool_is_json_not_int():
    kind, back = round_trip(True)
    assert kind == "json" and back is True


@pytest.mark.parametrize(
    "value",
    [lambda x: x, (i for i in range(3)), [1, lambda: 0]],
    ids=["lambda", "generator", "nested lambda"],
)
def test_an_unpicklable_value_names_the_output(value):
    with pytest.raises(MaterializeError) as info:
        dump(value, "flow.train.model")
    assert info.value.message.startswith("flow.train.model: cannot store a value of type ")
    assert info.value.hint


def test_unknown_kind():
    with pytest.raises(ValueError):
        load("parquet", b"")


def test_pickle_protocol_is_pinned():
    _, data = dump((1, 2), "x")
    assert data[:2] == b"\x80\x05"
    assert pickle.loads(data) == (1, 2)
