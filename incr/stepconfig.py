"""``StepConfig``: typed fields with defaults. A value given for a field annotated ``int``,
``float``, ``bool`` or ``str`` (or ``Optional`` of one, or with a default of None) is
converted as ZenML's pydantic configs did (``"3"`` for an ``int`` is ``3``, ``1`` for a
``float`` is ``1.0``, ``"yes"`` for a ``bool`` is True), and one that cannot be is refused,
naming the config, the field and the value; a float with a fraction is no ``int``. A field
annotated with a dataclass (``optim: Optim``, a list of them, a config nested in a config)
holds one: its values count as a dict (``to_dict``), and a dict given for it is made into
one. A field annotated with an ``Enum`` takes a member, or the value of one (``"fast"``).
Other annotations take the value as given."""

from __future__ import annotations

import dataclasses
import enum
import functools
import inspect
import numbers
import pathlib
import sys
import types
import typing
from collections.abc import Callable
from typing import Any

from incr import stepsig
from incr.digests import PATH
from incr.errors import DefinitionError

_TRUE = frozenset({"1", "on", "t", "true", "y", "yes"})
_FALSE = frozenset({"0", "off", "f", "false", "n", "no"})


class StepConfig:
    """Base class of step configs: typed fields with defaults, made a keyword-only dataclass;
    their values (not the class's source) are part of the step's fingerprint."""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        stepsig.copy_mutable_defaults(cls)  # ZenML's configs take ``x: dict = {}``
        dataclasses.dataclass(kw_only=True)(cls)
        made = cls.__init__

        @functools.wraps(made)
        def __init__(self: StepConfig, *args: Any, **kwargs: Any) -> None:
            made(self, *args, **kwargs)
            if type(self) is cls:  # a subclass's own __init__ converts its fields itself
                convert_fields(self)

        cls.__init__ = __init__  # type: ignore[method-assign,assignment]

    def to_dict(self) -> dict[str, Any]:
        """The values of the fields; one annotated with a dataclass (or a list of them) as
        a dict of its fields (a list of them)."""
        return _fields(self)


#: Per dataclass: the fields annotated with a dataclass, or a list or Optional of one.
_NESTED: dict[type, frozenset[str]] = {}


def _fields(value: Any) -> dict[str, Any]:
    kind = type(value)
    names = _field_names(kind)
    nested = _NESTED.get(kind)
    if nested is None:
        nested = _NESTED[kind] = frozenset(n for n in names if _holds(_annotation(kind, n)))
    found = {name: getattr(value, name) for name in names}
    return {name: _plain(v) if name in nested else v for name, v in found.items()}


def _plain(value: Any) -> Any:
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    if stepsig.is_record_class(type(value)):
        return _fields(value)
    return value


def _field_names(kind: type) -> list[str]:
    if dataclasses.is_dataclass(kind):
        return [f.name for f in dataclasses.fields(kind)]
    return list(kind.model_fields)  # type: ignore[attr-defined]


def _holds(annotation: Any) -> bool:
    """Whether a field so annotated holds a dataclass (as ``_converter`` makes one)."""
    convert = _converter(annotation)
    inner = getattr(convert, "__wrapped__", convert)  # through ``_or_none``
    return isinstance(inner, functools.partial) and inner.func in (_to_dataclass, _to_dataclasses)


BaseStepConfig = StepConfig

#: Per config class: each converted field's name and converter (see ``_converters``).
_CONVERTERS: dict[type, list[tuple[str, Callable[[Any], Any]]]] = {}


def convert_fields(config: StepConfig) -> None:
    """Convert each scalar field of ``config`` to its annotated type, in place."""
    cls = type(config)
    converters = _CONVERTERS.get(cls)
    if converters is None:
        converters = _CONVERTERS[cls] = _converters(cls)
    for name, convert in converters:
        value = getattr(config, name)
        try:
            converted = convert(value)
        except (TypeError, ValueError, OverflowError) as exc:
            raise DefinitionError(
                f"{cls.__name__}.{name} = {value!r}: {exc}",
                hint=f"give {name} a value of its annotated type, or change the annotation",
            ) from None
        if converted is not value:
            object.__setattr__(config, name, converted)


def _converters(cls: type) -> list[tuple[str, Callable[[Any], Any]]]:
    found = []
    for field in dataclasses.fields(cls):
        convert = _converter(_annotation(cls, field.name))
        if convert is not None and field.default is None:  # ``path: str = None``: Optional
            convert = _or_none(convert)
        if convert is not None:
            found.append((field.name, convert))
    return found


def _annotation(cls: type, name: str) -> Any:
    """The annotation of field ``name``, evaluated where its class was written; None when it
    names what its module does not define (imported only under ``TYPE_CHECKING``)."""
    for klass in cls.__mro__:
        written = inspect.get_annotations(klass)
        if name in written:
            annotation = written[name]
            if not isinstance(annotation, str):
                return annotation
            module = sys.modules.get(klass.__module__)
            try:
                return eval(annotation, vars(module) if module else {}, dict(vars(klass)))
            except Exception:
                return None
    return None


def _or_none(convert: Callable[[Any], Any]) -> Callable[[Any], Any]:
    def converted(value: Any) -> Any:
        return None if value is None else convert(value)

    converted.__wrapped__ = convert  # type: ignore[attr-defined]
    return converted


def _converter(annotation: Any) -> Callable[[Any], Any] | None:
    args = typing.get_args(annotation)
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        inner = [a for a in args if a is not type(None)]
        if len(inner) != 1 or len(args) != 2:
            return None
        convert = _converter(inner[0])
        return None if convert is None else _or_none(convert)
    if stepsig.is_record_class(annotation):
        return functools.partial(_to_dataclass, annotation)
    if isinstance(annotation, type) and issubclass(annotation, enum.Enum):
        return functools.partial(_to_member, annotation)
    if isinstance(annotation, type) and issubclass(annotation, pathlib.PurePath):
        return functools.partial(_to_path, annotation)  # "data/x.csv" for a Path field
    nested = args[0] if len(args) == 1 else None
    if origin is list and isinstance(nested, type) and stepsig.is_record_class(nested):
        return functools.partial(_to_dataclasses, nested)
    if origin is list and isinstance(nested, type) and issubclass(nested, pathlib.PurePath):
        return lambda items: [_to_path(nested, item) for item in items]
    return _SCALARS.get(annotation)


def _to_path(kind: type, value: Any) -> Any:
    """``value`` as a path of type ``kind``: one already, a str, or as a config's values hold
    it (``digests.with_paths``)."""
    if isinstance(value, dict) and set(value) == {PATH}:
        value = value[PATH]
    return kind(value)


def _to_dataclass(kind: type, value: Any) -> Any:
    """``value`` as a ``kind``: one already, or made from a dict of its fields (converted
    as a config's are)."""
    if isinstance(value, kind):
        return value
    if not isinstance(value, dict):
        name = kind.__name__
        article = "an" if name[:1].lower() in "aeiou" else "a"
        raise TypeError(f"{_a(value)}, for {article} {name} field (give one, or a dict)")
    if issubclass(kind, StepConfig):
        return kind(**value)  # its own fields converted as it is made
    if not dataclasses.is_dataclass(kind):  # a pydantic model: it converts its own fields
        return kind.model_validate(value)  # type: ignore[attr-defined]
    fields = {f.name: f.init for f in dataclasses.fields(kind)}
    if set(value) - set(fields):
        raise ValueError(f"{kind.__name__} has no field {sorted(set(value) - set(fields))[0]!r}")
    made = {}
    for name, item in value.items():
        convert = _converter(_annotation(kind, name))
        made[name] = item if convert is None or item is None else convert(item)
    # A field(init=False) is set by __post_init__, not given: given, it is put back after.
    later = {name: made.pop(name) for name in list(made) if not fields[name]}
    built = kind(**made)
    for name, item in later.items():
        if getattr(built, name, None) != item:
            object.__setattr__(built, name, item)
    return built


def _to_member(kind: type[enum.Enum], value: Any) -> enum.Enum:
    """``value`` as a member of ``kind``: one already, or the member of that value (``"fast"``
    for ``Mode.FAST = "fast"``), as pydantic made it."""
    if isinstance(value, kind):
        return value
    try:
        return kind(value)
    except ValueError:
        values = ", ".join(repr(m.value) for m in kind)
        raise ValueError(f"not a {kind.__name__} (one of {values})") from None


def _to_dataclasses(kind: type, value: Any) -> Any:
    if not isinstance(value, list | tuple):
        raise TypeError(f"{_a(value)}, for a list of {kind.__name__}")
    return [_to_dataclass(kind, item) for item in value]


def _to_int(value: Any) -> int:
    if isinstance(value, int):
        return int(value) if isinstance(value, bool) else value
    if isinstance(value, numbers.Integral):  # numpy's integers
        return int(value)
    if isinstance(value, numbers.Real):
        number = float(value)
        if not number.is_integer():
            raise ValueError("not a whole number, for an int field")
        return int(number)
    if isinstance(value, str):
        try:
            return int(value.strip())
        except ValueError:
            raise ValueError("not an int") from None
    raise TypeError(f"{_a(value)}, for an int field")


def _to_float(value: Any) -> float:
    if isinstance(value, float):
        return value
    if isinstance(value, numbers.Real):  # int, numpy's numbers
        return float(value)
    if isinstance(value, str):
        try:
            return float(value.strip())
        except ValueError:
            raise ValueError("not a float") from None
    raise TypeError(f"{_a(value)}, for a float field")


def _to_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    kind = type(value)
    if (kind.__module__, kind.__name__) in _NUMPY_BOOLS or (
        isinstance(value, numbers.Integral) and value in (0, 1)
    ):
        return bool(value)
    if isinstance(value, str):
        word = value.strip().lower()
        if word in _TRUE or word in _FALSE:
            return word in _TRUE
    raise ValueError("not a bool (true/false, yes/no, on/off, 1/0)")


def _to_str(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)  # as pydantic 1 did
    raise TypeError(f"{_a(value)}, for a str field")


_NUMPY_BOOLS = frozenset({("numpy", "bool"), ("numpy", "bool_")})


def _a(value: Any) -> str:
    name = type(value).__name__
    return f"{'an' if name[:1] in 'aeiou' else 'a'} {name}"


_SCALARS: dict[Any, Callable[[Any], Any]] = {
    int: _to_int,
    float: _to_float,
    bool: _to_bool,
    str: _to_str,
}
