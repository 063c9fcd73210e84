"""Module-level objects a step changes as it runs, which ``incr.globalvalues`` cannot follow
because they are not plain values: an encoder fitted by one step and used by the next
(``ENCODER.fit(train)`` with ``ENCODER = LabelEncoder()`` at the top level), a model a step
binds to a module global (``global MODEL; MODEL = fit(...)``), a dict of a module filled with
fitted objects. A step after it that uses the object gives another result once the first step
changed it, though neither its code nor its inputs did.

Such an object counts as a value set at run time, as a plain one does: the step changing it
executes on every run (only then do the steps after it see it), and each step after it that
uses it is decided on the object's digest, made as a step output's is (its materializer's
bytes; an object that cannot be stored has a digest that never repeats, so its users rerun).

What counts as a change, for the code parts a step uses that name a top-level value of a
project module and that another step's code uses too (``StepJob.used_elsewhere``: a model
only the step fitting it uses passes nothing on): the name bound to another object, or, for
the same object, the state it holds (``heldstates.Walk``: its attributes, slots, a
function's values, defaults and closure, a class's methods' (a dataclass field's
``default_factory=itertools.count(1).__next__``), a ``ContextVar``'s value, a generator's
or iterator's position), three levels deep (a ``Pipeline`` fits the estimators in its
``steps``). Not counted: private attributes of objects that are not the project's
(``_item_cache``: internals and caches), ``functools.cached_property`` values, memo dicts
(``incr.memodicts``), a name bound to a value made once on first use (``_POOL = None`` and
``if _POOL is None: _POOL = Pool(2)`` in a helper: ``memodicts.lazy_singletons``), and a
project object whose class's code read files as the step ran (a lazy loader: what it read
goes on with it, see ``incr.stepcaches``). An object changed in place below its attributes
(an array's bytes, a DataFrame given a column) is not seen.
"""

from __future__ import annotations

import contextvars
import itertools
import os
import random
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from types import BuiltinFunctionType, FunctionType, MethodType, ModuleType
from typing import Any

from incr import heldmethods, heldstates, stepcaches
from incr.heldstates import Unreadable, holds_state, method_state, methods_of, state_defaults
from incr.heldvalues import closure_cells, own_attributes
from incr.loadedmemos import lazy_singletons, memo_dicts
from incr.model import UNDIGESTABLE

_NOT_VALUES = (ModuleType, FunctionType, MethodType, BuiltinFunctionType, type)


def snapshot(parts: Iterable[str], root: str = "") -> dict[str, tuple[int, Any]]:
    """For each code part among ``parts`` naming a top-level value of a module this process
    holds (not a module; a class or function of that module by what it holds,
    ``_held_state``): the value's identity and state, for ``changed``. ``root``: the project
    root, whose classes' objects count by their private attributes too."""
    found = {}
    for part in parts:
        if ":" not in part or part.startswith(("value:", "pkg:", "captured:")):
            continue
        module, name = stepcaches.held(part)
        if module is None or "." in name:
            continue
        value = vars(module).get(name, _ABSENT)
        if value is _ABSENT or _is_incrs(value):
            continue
        if isinstance(value, type | FunctionType):
            if getattr(value, "__module__", None) == module.__name__:
                found[part] = (id(value), _state(value, root))
        elif not isinstance(value, _NOT_VALUES) or holds_state(value):  # (or rng.random)
            found[part] = (id(value), _state(value, root))
    return found


def changed(
    before: dict[str, tuple[int, Any]],
    loaded: Callable[[Any], bool],
    root: str = "",
) -> list[str]:
    """The code parts of ``before`` (``snapshot``) whose value is another object now or whose
    state changed, but for memo dicts and objects ``loaded`` says a lazy loader filled."""
    found = []
    for part, (identity, state) in before.items():
        module, name = stepcaches.held(part)
        value = vars(module).get(name, _ABSENT) if module is not None else _ABSENT
        if value is _ABSENT:
            continue
        if id(value) == identity and _state(value, root) == state:
            continue
        if name in memo_dicts(module) or name in lazy_singletons(module):  # type: ignore[arg-type]
            continue
        if id(value) == identity and loaded(value):
            continue
        found.append(part)
    return found


def _state(value: Any, root: str = "") -> Any:
    """What ``changed`` compares of one value (``heldstates.Walk``), at most ``VISITS``
    values, ``DEPTH`` levels deep (a scikit-learn ``Pipeline`` fits the estimators its
    ``steps`` list holds)."""
    walk = heldstates.Walk(root, VISITS)
    if isinstance(value, type | FunctionType):
        return walk.held(value, DEPTH)
    return walk.visit(value, DEPTH)


#: How deep ``_state`` looks into what an object or container holds, and at how many values.
DEPTH = 3
VISITS = 5_000


def generators(parts: Iterable[str]) -> list[str]:
    """The code parts among ``parts`` whose value is a random generator, a counter or an
    iterator (``heldstates.drawn``)."""
    found = []
    for part in parts:
        module, name = stepcaches.held(part)
        value = vars(module).get(name) if module is not None else None
        if value is not None and heldstates.drawn(value) is not None:
            found.append(part)
    return found


def iterators(parts: Iterable[str]) -> tuple[list[str], list[str]]:
    """The code parts among ``parts`` whose value is an iterator (not a counter), and those
    of them whose position cannot be read (a generator object: ``heldstates.drawn``)."""
    found, unreadable = [], []
    for part in parts:
        module, name = stepcaches.held(part)
        value = vars(module).get(name) if module is not None else None
        if heldstates.is_iterator(value) and not isinstance(value, itertools.count):
            found.append(part)
            if isinstance(heldstates.drawn(value), Unreadable):
                unreadable.append(part)
    return found, unreadable


_ABSENT = object()


def _is_incrs(value: Any) -> bool:
    """True for incr's own objects (a step, a pipeline): what a run does to them is no state
    of the project's."""
    return type(value).__module__.partition(".")[0] == "incr"


def digest_of(value: Any, where: str) -> str:
    """The digest of a value set at run time that is not plain: as a step output's (its
    materializer's bytes), for a class, function or ``ContextVar`` of what it holds
    (``carried``); for one no materializer can store, or an iterator whose position cannot
    be read (a generator object), a text that never repeats (``UNDIGESTABLE`` then a random
    part), so the steps using it rerun."""
    from incr.errors import MaterializeError
    from incr.hashing import buffers_digest
    from incr.materializers import encode

    if heldstates.is_iterator(value) and isinstance(heldstates.drawn(value), Unreadable):
        return f"{UNDIGESTABLE}{os.urandom(8).hex()}"
    try:
        stored = encode(carried(value), where)
    except MaterializeError:
        return f"{UNDIGESTABLE}{os.urandom(8).hex()}"
    return buffers_digest(stored.parts)


@dataclass(frozen=True)
class Held:
    """What a class, function or ``ContextVar`` holds (its state: a pickle of the class or
    function names it, and a ``ContextVar`` cannot be pickled), passed on in its stead to a
    step run in another process, which ``put`` gives it to its own."""

    values: Any


def carried(value: Any) -> Any:
    """What stands for ``value`` set at run time: ``Held`` for a class, function or
    ``ContextVar``, ``value`` itself for any other."""
    if isinstance(value, type | FunctionType):
        return Held(_held_values(value, DEPTH))
    if isinstance(value, contextvars.ContextVar):
        return Held(value.get(None))
    return value


def _held_values(value: type | FunctionType, depth: int) -> Any:
    """What ``heldstates.Walk.held`` compares of a class or function, as values: a class's
    attributes but methods, and the state its methods hold (``_MethodState``); a function's
    defaults that hold state, the values set on it, and what its closure holds by the cell's
    place (a function there by what it holds)."""
    if isinstance(value, type):
        items = list(vars(value).items())
        return {
            **{n: v for n, v in items if heldstates.class_state(n, v)},
            **{n: heldmethods.named(v) for n, v in items if heldstates.class_method(n, v)},
            **{f"<{n}>": _MethodState(_method_values(f)) for n, f in _stateful_methods(items)},
        }
    closure = [
        (i, Held(_held_values(v, depth - 1)) if isinstance(v, FunctionType) else v)
        for i, (_, v) in enumerate(closure_cells(value))
        if depth and (isinstance(v, FunctionType) or not isinstance(v, _NOT_VALUES))
    ]
    return ([d for _, d in state_defaults(value)], dict(own_attributes(value)), closure)


@dataclass(frozen=True)
class _MethodState:
    """The state a class's method holds (``heldstates.method_state``) by place: a function
    there by its own."""

    values: dict[str, Any]


def _stateful_methods(items: list[tuple[str, Any]]) -> list[tuple[str, FunctionType]]:
    return [(n, f) for n, f in methods_of(items) if method_state(f)]


def _method_values(func: FunctionType) -> dict[str, Any]:
    return {
        place: _MethodState(_method_values(v)) if isinstance(v, FunctionType) else v
        for place, v in method_state(func)
    }


def _give_method(func: FunctionType, held: dict[str, Any]) -> None:
    """Give method ``func`` the state ``held`` (``_method_values``): containers filled in
    place, other values (a counter) put in the default or cell."""
    cells = dict(zip(func.__code__.co_freevars, func.__closure__ or (), strict=False))
    for place, item in held.items():
        kind, _, key = place.partition(" ")
        if kind == "default":
            _give_default(func, int(key), item)
        elif (cell := cells.get(key)) is not None and _bound(cell):
            now = cell.cell_contents
            if isinstance(item, _MethodState) and isinstance(now, FunctionType):
                _give_method(now, item.values)
            elif not _refill(now, item):
                cell.cell_contents = item


def _give_default(func: FunctionType, place: int, item: Any) -> None:
    """Give ``func``'s default at ``place`` (among all its defaults, keyword-only ones
    last) the state of ``item``: a container filled in place, another value put there."""
    positional = list(func.__defaults__ or ())
    if place < len(positional):
        if not _refill(positional[place], item):
            positional[place] = item
            func.__defaults__ = tuple(positional)
        return
    keywords = dict(func.__kwdefaults__ or {})
    names = list(keywords)
    if place - len(positional) < len(names):
        name = names[place - len(positional)]
        if not _refill(keywords[name], item):
            keywords[name] = item
            func.__kwdefaults__ = keywords


def put(module: ModuleType, name: str, value: Any) -> None:
    """Set module value ``name`` of ``module`` to ``value`` (``carried``): a ``Held`` is given
    to the class, function or ``ContextVar`` the module holds."""
    if not isinstance(value, Held):
        if not _in_place(vars(module).get(name), value):
            setattr(module, name, value)
        return
    target = vars(module).get(name)
    if isinstance(target, contextvars.ContextVar):
        target.set(value.values)
    elif isinstance(target, type):
        for attribute, item in value.values.items():
            if isinstance(item, _MethodState):
                method = dict(methods_of(list(vars(target).items()))).get(attribute[1:-1])
                if method is not None:
                    _give_method(method, item.values)
                continue
            if isinstance(item, heldmethods.Method):
                if heldmethods.named(vars(target).get(attribute)) == item:
                    continue  # (the same: a property's functions share one name)
                item = item.made()
                if item is None:  # (not found by its name: the class keeps its own)
                    continue
            setattr(target, attribute, item)
    elif isinstance(target, FunctionType):
        _give(target, value.values)


def _give(function: FunctionType, held: Any) -> None:
    """Give ``function`` the state ``held`` (``_held_values``): containers filled in place,
    so that the functions sharing a closure's dict share it still."""
    defaults, attributes, closure = held
    for (place, _), item in zip(state_defaults(function), defaults, strict=False):
        _give_default(function, place, item)
    for attribute, item in attributes.items():
        setattr(function, attribute, item)
    cells = [c for c in function.__closure__ or () if _bound(c)]
    for i, item in closure:
        if i >= len(cells):
            continue
        now = cells[i].cell_contents
        if isinstance(item, Held) and isinstance(now, FunctionType):
            _give(now, item.values)
        elif not _refill(now, item):
            cells[i].cell_contents = item


def _in_place(target: Any, value: Any) -> bool:
    """Give ``target``, the object a module holds, the state of ``value`` (the same object as
    the process that changed it left it), in place, as a serial run has it: the names other
    modules bound to it (``from pipelines.shared import RNG``) see it too. A random generator
    (NumPy's ``Generator`` and ``RandomState``, ``random.Random``, one with ``get_state`` and
    ``set_state``), a list, dict or set, an object of a class without ``__slots__``. False
    for another, or when its state cannot be given (the name is then bound to ``value``)."""
    kind = type(target)
    if kind is not type(value) or target is value or isinstance(target, type | ModuleType):
        return target is value
    try:
        if hasattr(target, "bit_generator"):  # NumPy's Generator
            target.bit_generator.state = value.bit_generator.state
        elif callable(getattr(target, "set_state", None)) and hasattr(value, "get_state"):
            # RandomState, torch.Generator
            target.set_state(value.get_state())
        elif isinstance(target, random.Random):
            target.setstate(value.getstate())
        elif not _refill(target, value):
            if hasattr(kind, "__slots__") or not hasattr(target, "__dict__"):
                return False
            vars(target).clear()
            vars(target).update(vars(value))
    except Exception:  # (its own state, whatever it is: the name is bound to the copy)
        return False
    return True


def _refill(target: Any, item: Any) -> bool:
    """Fill list, dict or set ``target`` with what ``item`` (of its type) holds; False when
    they are not such."""
    if type(target) is not type(item) or not isinstance(target, list | dict | set):
        return False
    if target is item:  # (in the process that set it)
        return True
    target.clear()
    target.update(item) if isinstance(target, dict | set) else target.extend(item)
    return True


def _bound(cell: Any) -> bool:
    try:
        cell.cell_contents  # noqa: B018
    except ValueError:
        return False
    return True
