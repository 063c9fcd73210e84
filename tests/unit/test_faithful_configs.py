"""``digests.faithful``: a config value spelt so that canonical JSON keeps what a step may see
of it (a dict's key types and key order), and the same object for a plain value."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from incr.digests import as_given, canonical_json, faithful, faithful_config

keys = st.one_of(st.text(max_size=3), st.integers(-3, 3), st.booleans())
leaves = st.one_of(st.none(), st.booleans(), st.integers(-5, 5), st.text(max_size=3))
values = st.recursive(
    leaves,
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(keys, inner, max_size=3)),
    max_leaves=8,
)


def _spelt(value: Any) -> str:
    return canonical_json(faithful(value))


def _typed(value: Any) -> Any:
    """What a step may tell apart: types, and a dict's items in order."""
    if isinstance(value, dict):
        return ("dict", [(type(k).__name__, k, _typed(v)) for k, v in value.items()])
    if isinstance(value, list | tuple):
        return (type(value).__name__, [_typed(v) for v in value])
    return (type(value).__name__, value)


@given(values, values)
def test_two_values_spell_alike_only_when_a_step_cannot_tell_them_apart(a: Any, b: Any) -> None:
    assert (_spelt(a) == _spelt(b)) is (_typed(a) == _typed(b))


@given(values)
def test_a_faithful_value_shows_back_as_given(value: Any) -> None:
    assert _typed(as_given(faithful(value))) == _typed(value)


def test_plain_configs_are_the_same_objects() -> None:
    config = {"lr": 0.1, "layers": [64, 32], "opts": {"a": 1, "b": {"c": 2}}}
    assert faithful_config(config) is config  # no fingerprint of a plain config moves
    assert faithful_config({}) == {}


def test_key_types_and_order_are_kept() -> None:
    assert _spelt({"0": 2.0}) != _spelt({0: 2.0})
    assert _spelt({"shift": 1, "scale": 3}) != _spelt({"scale": 3, "shift": 1})
    assert faithful_config({"w": {1: "a"}}) == {"w": {"<dict in order>": [[1, "a"]]}}
    assert _spelt({"<dict in order>": [[0, 1]]}) != _spelt({0: 1})
    assert _spelt({"ngram_range": (1, 2)}) != _spelt({"ngram_range": [1, 2]})
