"""What a step's function captures: closure cells, default arguments, and what they refer to.

A function made by a factory (``make_scaler("a", 2)``), a lambda made in a loop, or a function
with ``k=k`` defaults runs one source with other values: those values are part of its
fingerprint. Plain values count by a canonical digest (``digest_value``); functions, classes
and modules met among them count by their code, through CodeRefs that the workspace resolves
like the step's own (an edit of a captured project function is seen without importing), a
project function made inside a function by its own captures too, recursively. A value that
cannot be digested makes the step uncached: it always reruns.

Computed when a pipeline is traced (user code is imported then) and kept in the graph cache
with the rest of the step's code.
"""

from __future__ import annotations

import dataclasses
import enum
import functools
import inspect
import sys
import types
from collections.abc import Callable
from pathlib import Path, PurePath
from typing import Any

from incr.codeast import IGNORED
from incr.coderef import code_ref
from incr.digests import canonical_json, digest_bytes
from incr.model import SOURCE, CodeRef, StepCode
from incr.model import UNDIGESTABLE as UNDIGESTABLE
from incr.notebook import NO_SOURCE

#: Bumped when the encoding of captured values changes.
FORMAT = 1
#: Values nested deeper than this are not digested (the step reruns).
MAX_DEPTH = 100
#: The captured name that stands for a step function's own code when its source is nowhere.

#: Types of the standard library whose ``repr`` is complete and the same in every process.
_BY_REPR = frozenset(
    {
        "datetime.date",
        "datetime.datetime",
        "datetime.time",
        "datetime.timedelta",
        "datetime.timezone",
        "decimal.Decimal",
        "fractions.Fraction",
        "uuid.UUID",
    }
)


class Undigestable(Exception):
    """A value without a canonical digest; ``what`` names its type."""

    def __init__(self, what: str) -> None:
        super().__init__(what)
        self.what = what


#: Encodes a function, class or module met in a value (and notes the code it reaches).
CodeHook = Callable[[Any, int], Any]


def digest_value(value: Any, code: CodeHook | None = None) -> str:
    """The canonical digest of a value. ``code`` encodes the functions, classes and modules
    met in it; without it they cannot be digested. Raises Undigestable.

    None, booleans, numbers, strings and bytes count with their type (``2``, ``2.0`` and
    ``True`` differ); lists, tuples and dicts by their items in order, sets by their sorted
    items; numpy arrays by dtype, shape and bytes; dataclasses (configs) and named tuples by
    their class and fields; enums by their class and member.
    """
    return _digest(_Encoder(code).encode(value, 0))


def _digest(encoded: Any) -> str:
    return digest_bytes(canonical_json(["capture", FORMAT, encoded]).encode(), 32)


class _Encoder:
    """Turns a value into a JSON tree that says everything that can change its behaviour."""

    def __init__(self, code: CodeHook | None) -> None:
        self.code = code
        self.open: set[int] = set()  # containers being encoded: a cycle has no digest

    def encode(self, value: Any, depth: int) -> Any:
        if depth > MAX_DEPTH:
            raise Undigestable(f"{type(value).__name__} nested more than {MAX_DEPTH} deep")
        kind = type(value)
        if value is None or kind in (bool, str):
            return [kind.__name__, value]
        if value is ... or value is NotImplemented:
            return [repr(value)]
        if kind is int:
            return ["int", str(value)]
        if kind is float:
            return ["float", value.hex()]
        if kind is complex:
            return ["complex", value.real.hex(), value.imag.hex()]
        if kind in (bytes, bytearray):
            return [kind.__name__, digest_bytes(bytes(value), 32)]
        found = self._special(value, depth)
        if found is not None:
            return found
        if id(value) in self.open:
            raise Undigestable(f"{kind.__name__} that holds itself")
        self.open.add(id(value))
        try:
            return self._container(value, depth)
        finally:
            self.open.discard(id(value))

    def _special(self, value: Any, depth: int) -> Any:
        """Values that are not containers: arrays, code, enums, paths, stdlib scalars."""
        array = _numpy(value)
        if array is not None and array[0] == "ufunc":
            return ["ufunc", self._code(value, depth)]
        if array is not None:
            return array if array[0] != "object array" else [*array, self._items(value, depth)]
        if isinstance(value, types.FunctionType | type | types.ModuleType):
            return self._code(value, depth)
        if isinstance(value, types.MethodType):
            owner = self.encode(value.__self__, depth + 1)
            return ["method", owner, self._code(value.__func__, depth)]
        if isinstance(value, types.BuiltinFunctionType | types.BuiltinMethodType):
            owner = value.__self__
            if owner is None or isinstance(owner, types.ModuleType):
                return ["builtin", self._code(value, depth)]
            return ["builtin method", self.encode(owner, depth + 1), value.__name__]
        if isinstance(value, functools.partial):
            args = [self.encode(a, depth + 1) for a in value.args]
            keywords = [[k, self.encode(v, depth + 1)] for k, v in sorted(value.keywords.items())]
            return ["partial", self.encode(value.func, depth + 1), args, keywords]
        if type(value).__module__ == "incr.api" and hasattr(value, "func"):  # a Step
            return ["step", self._code(value.func, depth)]
        if callable(value) and _named_global(value):  # np.mean, an lru_cache'd function
            return ["global", self._code(value, depth)]
        if isinstance(value, enum.Enum):
            return ["enum", self._type(type(value), depth), value.name]
        if isinstance(value, PurePath):
            return ["path", type(value).__name__, str(value)]
        name = f"{type(value).__module__}.{type(value).__qualname__}"
        if name in _BY_REPR:
            return ["repr", name, repr(value)]
        if isinstance(value, range | slice):
            return [
                type(value).__name__,
                *(self.encode(getattr(value, a), depth + 1) for a in ("start", "stop", "step")),
            ]
        return None

    def _container(self, value: Any, depth: int) -> Any:
        kind = type(value)
        if kind in (list, tuple):
            return [kind.__name__, self._items(value, depth)]
        if kind in (set, frozenset):
            items = [self.encode(v, depth + 1) for v in value]
            return [kind.__name__, sorted(items, key=canonical_json)]
        if kind is dict:
            return ["dict", self._pairs(value, depth)]
        if dataclasses.is_dataclass(value):
            fields = [
                [f.name, self.encode(getattr(value, f.name), depth + 1)]
                for f in dataclasses.fields(value)
            ]
            return ["dataclass", self._type(kind, depth), fields]
        if isinstance(value, tuple) and hasattr(kind, "_fields"):  # a named tuple
            return ["namedtuple", self._type(kind, depth), self._items(value, depth)]
        if kind.__module__ == "collections" and isinstance(value, dict):  # OrderedDict...
            factory = getattr(value, "default_factory", None)
            extra = [] if factory is None else [self.encode(factory, depth + 1)]
            return [kind.__name__, self._pairs(value, depth), *extra]
        raise Undigestable(kind.__name__)

    def _items(self, value: Any, depth: int) -> list[Any]:
        return [self.encode(v, depth + 1) for v in value]

    def _pairs(self, value: dict[Any, Any], depth: int) -> list[Any]:
        return [[self.encode(k, depth + 1), self.encode(v, depth + 1)] for k, v in value.items()]

    def _type(self, kind: type, depth: int) -> Any:
        return self._code(kind, depth)

    def _code(self, value: Any, depth: int) -> Any:
        if self.code is not None:
            return self.code(value, depth)
        if isinstance(value, type):  # without a hook, a class counts by its name
            return ["class", value.__module__, value.__qualname__]
        raise Undigestable(type(value).__name__)


def _named_global(value: Any) -> bool:
    """True when ``value`` is what its module holds under its qualified name."""
    module = sys.modules.get(str(getattr(value, "__module__", None)))
    path = str(getattr(value, "__qualname__", "") or getattr(value, "__name__", ""))
    if module is None or not path:
        return False
    found: Any = module
    for name in path.split("."):
        found = getattr(found, name, None)
    return found is value


def _numpy(value: Any) -> list[Any] | None:
    """The encoding of a numpy array, scalar or dtype (None for anything else)."""
    np = sys.modules.get("numpy")
    if np is None:
        return None
    if isinstance(value, np.ndarray):
        if type(value) not in (np.ndarray, np.memmap):  # a masked array has more than bytes
            raise Undigestable(type(value).__name__)
        if value.dtype.hasobject:
            return ["object array", list(value.shape)]
        data = np.ascontiguousarray(value).tobytes()
        return ["array", _dtype(value.dtype), list(value.shape), digest_bytes(data, 32)]
    if isinstance(value, np.generic) and not isinstance(value, np.object_):
        return ["numpy", _dtype(value.dtype), value.tobytes().hex()]
    if isinstance(value, np.dtype):
        return ["dtype", _dtype(value)]
    if isinstance(value, np.ufunc):
        return ["ufunc"]
    return None


def _dtype(dtype: Any) -> str:
    return str(dtype.descr) if dtype.fields else str(dtype.str)


def captured(func: Any) -> list[tuple[str, Any]]:
    """(name, value) of what a function captures: its closure cells by free variable, then its
    default arguments by parameter (``...`` stands for a cell not filled yet)."""
    code = getattr(func, "__code__", None)
    if code is None:
        return []
    closure, defaults = getattr(func, "__closure__", None), getattr(func, "__defaults__", None)
    if not (closure or defaults or getattr(func, "__kwdefaults__", None)):
        return []  # most steps: a plain module-level function
    found: list[tuple[str, Any]] = []
    for name, cell in zip(code.co_freevars, closure or (), strict=False):
        try:
            found.append((name, cell.cell_contents))
        except ValueError:  # a name the enclosing function has not bound yet
            found.append((name, ...))
    defaults = defaults or ()
    params = code.co_varnames[: code.co_argcount]
    found += zip(params[len(params) - len(defaults) :], defaults, strict=True)
    found += sorted((func.__kwdefaults__ or {}).items())
    return found


class _Walker:
    """Digests what functions capture, collecting the code it reaches as CodeRefs."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.refs: dict[CodeRef, None] = {}
        self.visiting: set[int] = set()
        self.encoder = _Encoder(self.code)

    def values(self, captures: list[tuple[str, Any]]) -> list[tuple[str, str]]:
        found = []
        for name, value in captures:
            try:
                digest = _digest(self.encoder.encode(value, 0))
            except Undigestable as exc:
                digest = UNDIGESTABLE + exc.what
            found.append((name, digest))
        return found

    def code(self, obj: Any, depth: int) -> Any:
        try:
            obj = inspect.unwrap(obj) if callable(obj) else obj
            ref = code_ref(obj, self.root)
        except Exception:  # an object inspect cannot place: rerun rather than guess
            raise Undigestable(type(obj).__name__) from None
        label = [
            str(getattr(obj, "__module__", None) or ""),
            str(getattr(obj, "__qualname__", None) or getattr(obj, "__name__", "")),
        ]
        if ref.package is not None:
            if ref.package not in IGNORED and ref.package != "builtins":
                self.refs[ref] = None
            return ["package", *label]
        if ref.own_digest == NO_SOURCE:
            raise Undigestable(f"function without source ({label[1]})")
        self.refs[ref] = None
        if not isinstance(obj, types.FunctionType):
            return ["code", *label]
        if id(obj) in self.visiting:  # a function that calls itself
            return ["recursion", *label]
        self.visiting.add(id(obj))
        try:
            inner = [[name, self.encoder.encode(v, depth + 1)] for name, v in captured(obj)]
        finally:
            self.visiting.discard(id(obj))
        return ["function", *label, inner]


def with_captures(code: StepCode, func: Any, root: Path) -> StepCode:
    """``code`` with what ``func`` captures: the code reached and each value's digest."""
    func = inspect.unwrap(func)
    captures = captured(func)
    if not (captures or code.captured or code.values) and code.func.own_digest != NO_SOURCE:
        return code  # most steps: a module-level function that captures nothing
    walker = _Walker(root)
    values = walker.values(captures)
    if code.func.own_digest == NO_SOURCE:
        values.append((SOURCE, UNDIGESTABLE + "function defined at a prompt"))
    refs = tuple(ref for ref in walker.refs if ref != code.func)
    return dataclasses.replace(code, captured=refs, values=tuple(values))


def with_bound(code: StepCode, call: Any, root: Path) -> StepCode:
    """``code`` with the arguments a ``functools.partial`` step binds, counted like captured
    values (``partial[0]``, ``partial[alpha]``), and the code they reach; for a bound method
    (``step(trainer.fit)``), the object it is bound to (``self``): its class's code and its
    attributes as the step was made (``Trainer(lr=0.5)``: ``lr``)."""
    walker = _Walker(root)
    if isinstance(call, functools.partial):
        bound = [(f"partial[{i}]", v) for i, v in enumerate(call.args)]
        bound += [(f"partial[{k}]", v) for k, v in sorted(call.keywords.items())]
    elif isinstance(call, types.MethodType):
        bound = [("self", call.__self__)]
    else:
        return code
    values = []
    for name, value in bound:
        try:
            digest = _digest(_bound_value(walker, name, value))
        except Undigestable as exc:
            digest = UNDIGESTABLE + exc.what
        values.append((name, digest))
    refs = dict.fromkeys(code.captured)
    refs.update((ref, None) for ref in walker.refs if ref != code.func)
    return dataclasses.replace(code, captured=tuple(refs), values=(*code.values, *values))


def _bound_value(walker: _Walker, name: str, value: Any) -> Any:
    """The encoding of a value a step binds; the object of a bound method by its class's code
    and its attributes (Undigestable when one of them is)."""
    attributes = getattr(value, "__dict__", None)
    if name != "self" or isinstance(value, type) or not isinstance(attributes, dict):
        return walker.encoder.encode(value, 0)
    fields = walker.encoder.encode(dict(attributes), 1)
    return ["object", walker.encoder._code(type(value), 0), fields]
