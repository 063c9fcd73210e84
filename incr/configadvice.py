"""What a config cannot hold, named in an error with what to do instead: the first value
inside a config field that JSON cannot hold (a NaN, a set, a plain Enum, a dict with keys of
two types), where it is, and the advice for it (``stepsig.config_values``)."""

from __future__ import annotations

import dataclasses
from typing import Any, NamedTuple


def unencodable(value: Any, where: str) -> tuple[str, Any] | None:
    """The first value inside ``value`` that JSON cannot hold, with where it is
    (``sizes[2]``); None when there is none."""
    if isinstance(value, float):
        return None if value - value == 0 else (where, value)  # NaN and infinities fail
    if value is None or isinstance(value, str | int | bool):
        return None
    if isinstance(value, list | tuple):
        for i, item in enumerate(value):
            if (found := unencodable(item, f"{where}[{i}]")) is not None:
                return found
        return None
    if isinstance(value, dict):
        strings = [k for k in value if isinstance(k, str)]
        others = [k for k in value if not isinstance(k, str)]
        if strings and others:  # JSON would spell 0 and "0" alike, and cannot sort them
            return f"{where} (its keys)", _TwoKinds(others[0], strings[0])
        for name, item in value.items():
            if not isinstance(name, str | int | float | bool) and name is not None:
                return f"{where} (a key)", name
            if (found := unencodable(item, f"{where}[{name!r}]")) is not None:
                return found
        return None
    return where, value


class _TwoKinds(NamedTuple):
    """Keys of a dict of two kinds: a string and another (``0`` and ``"0"``)."""

    other: Any
    string: str


def config_advice(value: Any, config: str) -> tuple[str, str]:
    """How a value a config cannot hold is named in the error, and what to do instead."""
    import enum
    import os

    if isinstance(value, _TwoKinds):
        return (
            f"keys of two types ({value.other!r} and {value.string!r})",
            "give the dict's keys one type: all strings, or all numbers",
        )
    if isinstance(value, float):
        return repr(value), "use None for a missing value, or a string ('inf')"
    if isinstance(value, enum.Enum):
        return (
            f"{type(value).__name__}.{value.name}, a plain Enum",
            f"give its value ({value.value!r}), or make it a str or int Enum "
            f"(class {type(value).__name__}(str, Enum)), which a config holds as its value",
        )
    if dataclasses.is_dataclass(value):
        name = type(value).__name__
        return (
            f"an object of type {name} (a dataclass the field's annotation does not name)",
            f"annotate the field of {config} with it ({name.lower()}: {name}, or "
            f"list[{name}]), or give its fields as a dict (dataclasses.asdict(...))",
        )
    if isinstance(value, os.PathLike):
        return (
            f"a path ({os.fspath(value)!r})",
            "give it as a str and make the Path in the step; "
            "a file the step opens is tracked whatever its name's type",
        )
    if isinstance(value, set | frozenset):
        return f"a {type(value).__name__}", "use a sorted list"
    if isinstance(value, bytes | bytearray):
        return f"{type(value).__name__}", "use a str (its text, or its .hex())"
    return (
        f"a value of type {type(value).__name__}",
        "use str, int, float, bool, None, and lists and str-keyed dicts of them",
    )
