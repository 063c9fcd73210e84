"""The kinds of values that count by their fields or as Python writes them, besides numbers,
strings and containers (``incr.globalvalues``): enum members, dates, times and ids, dataclass
instances, named tuples, pydantic models, attrs instances, OmegaConf configs and namespaces."""

from __future__ import annotations

import dataclasses
import datetime
import enum
import sys
import types
from typing import Any

_NAMESPACE = "argparse.Namespace"
_OMEGACONF = frozenset({"omegaconf.dictconfig.DictConfig", "omegaconf.listconfig.ListConfig"})


def _stamps() -> tuple[type, ...]:
    """Dates, times and ids: ``uuid.UUID`` once ``uuid`` is imported (no value is one before;
    importing it costs 3 ms)."""
    ids = sys.modules.get("uuid")
    return (datetime.date, datetime.time, datetime.timedelta, *([ids.UUID] if ids else []))


#: What kind of record each type met is ("" for other types, "stamp" for dates, times, ids).
KINDS: dict[type, str] = {}


def record_kind(kind: type) -> str | None:
    found = KINDS.get(kind)
    if found is None:
        if issubclass(kind, enum.Enum):
            found = "enum"
        elif issubclass(kind, _stamps()):
            found = "stamp"
        elif dataclasses.is_dataclass(kind):
            found = "dataclass"
        elif issubclass(kind, tuple) and isinstance(getattr(kind, "_fields", None), tuple):
            found = "namedtuple"
        elif isinstance(getattr(kind, "model_fields", None), dict):  # pydantic 2
            found = "pydantic"
        elif isinstance(getattr(kind, "__attrs_attrs__", None), tuple):  # attrs
            found = "attrs"
        elif f"{kind.__module__}.{kind.__name__}" in _OMEGACONF:  # Hydra's configs
            found = "omegaconf"
        elif kind is types.SimpleNamespace or f"{kind.__module__}.{kind.__name__}" == _NAMESPACE:
            found = "namespace"
        else:
            found = ""
        KINDS[kind] = found
    return found or None


def fields(value: Any) -> list[tuple[str, Any]] | None:
    """The fields of a dataclass instance, a named tuple, a pydantic model or a namespace, in
    a fixed order; None for any other value."""
    kind = record_kind(type(value))
    if kind == "dataclass":
        return [(f.name, getattr(value, f.name)) for f in dataclasses.fields(value)]
    if kind == "namedtuple":
        return list(zip(type(value)._fields, value, strict=False))
    if kind == "pydantic":
        return [(f, getattr(value, f, None)) for f in type(value).model_fields]
    if kind == "attrs":
        return [(a.name, getattr(value, a.name, None)) for a in type(value).__attrs_attrs__]
    if kind == "omegaconf":
        from omegaconf import OmegaConf  # here: it made the value

        try:
            return [("", OmegaConf.to_container(value, resolve=True))]
        except Exception:  # a missing or broken interpolation: not a plain value
            return None
    if kind == "namespace":
        return sorted(vars(value).items())
    return None
