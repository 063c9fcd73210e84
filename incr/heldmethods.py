"""The methods a class holds, by name, for what a step sets as it runs (``objectstates.Held``):
a step that rebinds ``Model.act = staticmethod(ACTS[config.act])`` changes the class the steps
after it use. A static method cannot be pickled, and a function pickles by its name whatever
its body says: a method stands as its kind and, for each function it wraps, the function's
module, qualified name and a digest of its compiled code."""

from __future__ import annotations

import contextlib
import importlib
import inspect
from dataclasses import dataclass
from types import CodeType
from typing import Any

from incr.digests import digest_bytes

#: A function as ``Method`` holds it: (module, qualified name, digest of its code).
Named = tuple[str, str, str]
_NONE: Named = ("", "", "")


@dataclass(frozen=True)
class Method:
    """A method attribute of a class: ``kind`` is ``staticmethod``, ``classmethod``,
    ``property`` (its getter, setter and deleter) or ``plain`` (a function, a class)."""

    kind: str
    functions: tuple[Named, ...]

    def made(self) -> Any:
        """The attribute again, from the functions found by their names; None when one of
        them is not found (a lambda, a function made by another)."""
        found = [_found(f) for f in self.functions]
        if any(f is _MISSING for f in found):
            return None
        if self.kind == "property":
            return property(*found)
        if self.kind == "staticmethod":
            return staticmethod(found[0])
        if self.kind == "classmethod":
            return classmethod(found[0])
        return found[0]


def named(item: Any) -> Method:
    """``item`` (a class attribute that is a method or a class) as a ``Method``."""
    if isinstance(item, property):
        return Method("property", tuple(_named(f) for f in (item.fget, item.fset, item.fdel)))
    if isinstance(item, staticmethod | classmethod):
        return Method(type(item).__name__, (_named(item.__func__),))
    return Method("plain", (_named(item),))


def _named(function: Any) -> Named:
    if function is None:
        return _NONE
    code = getattr(function, "__code__", None)
    name = getattr(function, "__qualname__", None) or getattr(function, "__name__", "")
    text = _code_text(code) if isinstance(code, CodeType) else b""
    return str(getattr(function, "__module__", "")), str(name), digest_bytes(text, 16)


def _code_text(code: CodeType) -> bytes:
    """What a function's compiled code does, the same in every process: its bytecode, the
    names it uses, its constants (a nested function's by its code)."""
    consts = [
        _code_text(c)
        if isinstance(c, CodeType)
        else repr(sorted(map(repr, c))).encode()
        if isinstance(c, frozenset)
        else repr(c).encode()
        for c in code.co_consts
    ]
    return b"\0".join([code.co_code, " ".join(code.co_names).encode(), *consts])


_MISSING = object()


def _found(named: Named) -> Any:
    module, name, _ = named
    if named == _NONE:
        return None
    with contextlib.suppress(Exception):  # (any import error: not found)
        found: Any = importlib.import_module(module)
        for part in name.split("."):
            found = inspect.getattr_static(found, part)  # (a class's: not bound)
        return found.__func__ if isinstance(found, staticmethod | classmethod) else found
    return _MISSING
