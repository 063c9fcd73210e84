"""``@valueclass``: a ``dataclasses`` dataclass made with one generated function instead of six.

``dataclasses.dataclass`` writes each method it adds as source text and compiles it with
``exec``: six of them for a frozen class (``__init__``, ``__repr__``, ``__eq__``,
``__hash__``, ``__setattr__``, ``__delattr__``), three for a mutable one. Compiling is most of
the 1.5 ms a class takes to make, and a command imports 20 to 40 such classes before it does
anything: 28 ms of a no-op ``incr status`` on a 1,000-step chain, 47 ms of a ``repro``.

``valueclass`` lets ``dataclasses`` collect the fields (so ``fields``, ``replace``, ``asdict`` and
``is_dataclass`` work as before) but add no method, then compiles only ``__init__``; the
others are closures over the class's field names, made without compiling, with the
semantics of the generated ones: equality by the compared fields of instances of the same class, the
hash of those fields for a frozen class (a mutable one is unhashable), assignment refused
on a frozen instance, and the usual ``Name(field=value, ...)`` repr. A frozen class's
``__init__`` stores the fields straight into the instance's ``__dict__`` (0.5 us for a
``StepNode`` against 1.7 us through ``object.__setattr__``). Methods the class body defines
itself are kept, as ``dataclasses`` keeps them.
"""

from __future__ import annotations

import dataclasses
import reprlib
from collections.abc import Callable
from operator import attrgetter
from typing import TYPE_CHECKING, Any, TypeVar, overload

if TYPE_CHECKING:
    from typing_extensions import dataclass_transform
else:

    def dataclass_transform(**_: Any) -> Callable[[Any], Any]:
        return lambda decorator: decorator


_T = TypeVar("_T", bound=type)


class _Factory:
    """The default of a parameter whose field has a default factory."""

    def __repr__(self) -> str:
        return "<factory>"  # as ``dataclasses`` shows it in a signature


_FACTORY = _Factory()

#: Names the generated ``__init__`` uses itself: no field may take them.
_OWN_NAMES = ("self", "fields_", "ABSENT")


@overload
def valueclass(cls: _T, /) -> _T: ...


@overload
def valueclass(*, frozen: bool = False) -> Callable[[_T], _T]: ...


@dataclass_transform(field_specifiers=(dataclasses.field, dataclasses.Field))
def valueclass(cls: _T | None = None, /, *, frozen: bool = False) -> _T | Callable[[_T], _T]:
    """Make ``cls`` a dataclass, as ``@dataclass`` or ``@dataclass(frozen=True)`` would."""

    def make(cls: _T) -> _T:
        return _make(cls, frozen)

    return make if cls is None else make(cls)


def _make(cls: _T, frozen: bool) -> _T:
    own = set(cls.__dict__)
    # frozen like its dataclass bases, which ``dataclasses`` checks (it then makes the two
    # refusals too, replaced below by the same ones)
    inherits = any(dataclasses.is_dataclass(base) for base in cls.__mro__[1:])
    dataclasses.dataclass(cls, init=False, repr=False, eq=False, frozen=frozen and inherits)
    params = cls.__dataclass_params__  # type: ignore[attr-defined]
    params.init, params.repr, params.eq, params.frozen = True, True, True, frozen
    # a body that defines __eq__ and no __hash__ holds __hash__ = None: not its own
    own_hash = "__hash__" in own and not (cls.__hash__ is None and "__eq__" in own)
    if frozen and own_hash:
        raise TypeError(f"cannot overwrite attribute __hash__ in class {cls.__name__}")
    own.discard("__hash__")
    fields = dataclasses.fields(cls)
    named = {f.name for f in fields}  # without the ClassVar and InitVar pseudo-fields
    pseudo = [f for f in cls.__dataclass_fields__.values() if f.name not in named]  # type: ignore[attr-defined]
    if any(isinstance(f.type, dataclasses.InitVar) or "InitVar" in str(f.type) for f in pseudo):
        raise TypeError(
            f"valueclass: {cls.__name__} has an InitVar, which valueclass does not take"
        )
    compared = tuple(f.name for f in fields if f.compare)
    methods: dict[str, Any] = {
        "__init__": _init(cls, fields, frozen),
        "__repr__": _repr(tuple(f.name for f in fields if f.repr)),
        "__eq__": _eq(_key(compared)),
    }
    if frozen:
        hashed = tuple(f.name for f in fields if (f.compare if f.hash is None else f.hash))
        methods["__hash__"] = _hash(_key(hashed))
        names = frozenset(f.name for f in fields)
        methods["__setattr__"], methods["__delattr__"] = _refusals(cls, names)
    elif not own_hash:
        methods["__hash__"] = None  # equal by value and mutable: unhashable, as a dataclass
    for name, method in methods.items():
        if name not in own:
            if method is not None:
                method.__qualname__ = f"{cls.__qualname__}.{name}"
            setattr(cls, name, method)
    return cls


def _init(cls: type, fields: tuple[dataclasses.Field[Any], ...], frozen: bool) -> Any:
    """``cls.__init__``, compiled from its parameters: defaults, factories, ``init=False``
    fields set from their default, and a call of ``__post_init__`` when the class has one."""
    absent = dataclasses.MISSING
    params, body = [], ["fields_ = self.__dict__"] if frozen else []
    names: dict[str, Any] = {"ABSENT": _FACTORY}
    for f in fields:
        if f.name in _OWN_NAMES or f.name.startswith(("_d_", "_f_")):
            raise TypeError(
                f"valueclass: {cls.__name__}.{f.name} takes a name valueclass uses itself"
            )
        if f.kw_only:
            raise TypeError(f"valueclass: {cls.__name__}.{f.name} is keyword-only")
        value = f.name
        if f.default is not absent:
            if not f.init:
                continue  # read from the class attribute, as ``dataclasses`` leaves it
            names[f"_d_{f.name}"] = f.default
            params.append(f"{f.name}=_d_{f.name}")
        elif f.default_factory is not absent:
            names[f"_f_{f.name}"] = f.default_factory
            if f.init:
                params.append(f"{f.name}=ABSENT")
                body.append(f"if {f.name} is ABSENT: {f.name} = _f_{f.name}()")
            else:
                value = f"_f_{f.name}()"
        elif f.init:
            params.append(f.name)
        else:
            continue  # set by __post_init__, or never
        body.append(f"fields_[{f.name!r}] = {value}" if frozen else f"self.{f.name} = {value}")
    if hasattr(cls, "__post_init__"):
        body.append("self.__post_init__()")
    text = f"def __init__(self, {', '.join(params)}):\n    " + "\n    ".join(body or ["pass"])
    exec(text, names)  # as ``dataclasses`` makes it: one function, compiled once per class
    return names["__init__"]


def _key(names: tuple[str, ...]) -> Callable[[Any], tuple[Any, ...]]:
    """The tuple of an instance's ``names`` fields, as the generated methods compare it."""
    if len(names) > 1:
        return attrgetter(*names)
    if names:
        one = attrgetter(names[0])
        return lambda obj: (one(obj),)
    return lambda obj: ()


def _eq(key: Callable[[Any], tuple[Any, ...]]) -> Callable[[Any, Any], Any]:
    def __eq__(self: Any, other: Any) -> Any:
        if other is self:  # as the tuples compare: each field is itself
            return True
        if other.__class__ is self.__class__:
            return key(self) == key(other)
        return NotImplemented

    return __eq__


def _hash(key: Callable[[Any], tuple[Any, ...]]) -> Callable[[Any], int]:
    def __hash__(self: Any) -> int:
        return hash(key(self))

    return __hash__


def _repr(names: tuple[str, ...]) -> Callable[[Any], str]:
    @reprlib.recursive_repr()
    def __repr__(self: Any) -> str:
        shown = ", ".join(f"{name}={getattr(self, name)!r}" for name in names)
        return f"{self.__class__.__qualname__}({shown})"

    return __repr__


def _refusals(
    cls: type, names: frozenset[str]
) -> tuple[Callable[[Any, str, Any], None], Callable[[Any, str], None]]:
    """``__setattr__`` and ``__delattr__`` of a frozen class: a field, or any attribute of an
    instance of ``cls`` itself, raises ``dataclasses.FrozenInstanceError``."""

    def __setattr__(self: Any, name: str, value: Any) -> None:
        if type(self) is cls or name in names:
            raise dataclasses.FrozenInstanceError(f"cannot assign to field {name!r}")
        object.__setattr__(self, name, value)  # a subclass's own attribute

    def __delattr__(self: Any, name: str) -> None:
        if type(self) is cls or name in names:
            raise dataclasses.FrozenInstanceError(f"cannot delete field {name!r}")
        object.__delattr__(self, name)

    return __setattr__, __delattr__
