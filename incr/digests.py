"""Digests and the canonical JSON text of values: the one way incr spells a value."""

from __future__ import annotations

import json
from typing import Any

from blake3 import blake3


def digest_bytes(data: bytes, length: int = 64) -> str:
    return blake3(data).hexdigest()[:length]


#: The encoders of ``canonical_json`` and ``json_key``, made once: ``json.dumps`` given any
#: option makes a new encoder on each call (a third of its time on a small value).
_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"), allow_nan=False)
_KEY = json.JSONEncoder(sort_keys=True, separators=(",", ":"))


def canonical_json(value: Any) -> str:
    """Sorted keys, no spaces, no NaN: the one text a value has. Raises TypeError/ValueError."""
    return _CANONICAL.encode(value)


def json_key(value: Any) -> str:
    """``canonical_json`` that lets NaN through: for comparing values, never for digests."""
    return _KEY.encode(value)


#: The keys that mark a dict JSON would spell otherwise than it is, and a tuple (which JSON
#: spells as a list: see ``faithful``).
ORDERED_DICT = "<dict in order>"
TUPLE = "<tuple>"
#: The key that marks a path in a config (``with_paths``).
PATH = "<path>"


def faithful(value: Any) -> Any:
    """``value`` with each dict that canonical JSON would not spell faithfully (a key that is
    not a string, ``{0: 2.0}`` spelt as ``{"0": 2.0}``; keys out of sorted order, which sorting
    would hide from a step iterating them in order; a key that is a mark itself) as
    ``{ORDERED_DICT: [[key, value], ...]}``, and each tuple as ``{TUPLE: [item, ...]}``.
    Anything else is given back as it is (the same object when nothing inside changes)."""
    if isinstance(value, dict):
        if len(value) == 1 and isinstance(value.get(PATH), str):
            return value  # a path, marked (``with_paths``)
        items = [(k, faithful(v)) for k, v in value.items()]
        keys = [k for k, _ in items]
        plain = all(type(k) is str for k in keys) and keys == sorted(keys)
        if plain and ORDERED_DICT not in value and TUPLE not in value:
            if all(v is value[k] for k, v in items):
                return value
            return dict(items)
        return {ORDERED_DICT: [[k, v] for k, v in items]}
    if isinstance(value, tuple):  # a step may tell it from a list: (1, 2) is no [1, 2]
        return {TUPLE: [faithful(v) for v in value]}
    if isinstance(value, list):
        items = [faithful(v) for v in value]
        return value if all(a is b for a, b in zip(items, value, strict=True)) else items
    return value


def faithful_config(config: dict[str, Any]) -> dict[str, Any]:
    """A step's config values (by field name) as the fingerprint and lockfile hold them:
    each ``faithful``."""
    if not config or not any(isinstance(v, dict | list | tuple) for v in config.values()):
        return config
    found = {k: faithful(v) for k, v in config.items()}
    return config if all(found[k] is v for k, v in config.items()) else found


def with_paths(value: Any) -> Any:
    """``value`` with each path in it (a ``pathlib.Path`` field of a config) as
    ``{PATH: "data/x.csv"}``, its POSIX spelling: what JSON can hold and compare."""
    if type(value).__module__ == "pathlib" and hasattr(value, "as_posix"):  # (no disk here)
        return {PATH: value.as_posix()}
    if isinstance(value, dict):
        return {k: with_paths(v) for k, v in value.items()}
    if isinstance(value, list):
        return [with_paths(v) for v in value]
    if isinstance(value, tuple):
        return tuple(with_paths(v) for v in value)
    return value


def as_given(value: Any) -> Any:
    """``faithful``'s inverse, for showing a value: each marked dict as the dict it was, a
    marked path as its spelling."""
    if isinstance(value, dict):
        if len(value) == 1 and PATH in value and isinstance(value[PATH], str):
            return value[PATH]  # shown by its spelling
        if len(value) == 1 and ORDERED_DICT in value and isinstance(value[ORDERED_DICT], list):
            return {_key(k): as_given(v) for k, v in value[ORDERED_DICT]}
        if len(value) == 1 and TUPLE in value and isinstance(value[TUPLE], list):
            return tuple(as_given(v) for v in value[TUPLE])
        return {k: as_given(v) for k, v in value.items()}
    if isinstance(value, list):
        return [as_given(v) for v in value]
    return value


def _key(key: Any) -> Any:
    return tuple(key) if isinstance(key, list) else key
