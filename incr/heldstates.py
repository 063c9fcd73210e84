"""What ``incr.objectstates`` compares of a module-level value before and after a step: the
state the value holds, wherever it keeps it (see ``Walk``).

An object's state is mostly in its ``__dict__``, but not always: a function keeps values
set on it (``scale.factor = 2.0``) in its ``__dict__`` and the values of its closure in
cells (a getter and setter pair a factory made, sharing a dict or a ``nonlocal``), an object
of a class with ``__slots__`` keeps them in its slots, a ``ContextVar`` in the context, a
``deque`` or an ``array`` in itself, a random generator in its bit generator, an iterator
(``iter(range(100, 200))``) in its position. An iterator whose position cannot be read (a
generator object, ``map``, ``zip``, an ``itertools`` object but ``count``) counts as moved
on whenever a step using it executes: a step drawing from it cannot be told from one that
only holds it, and taking a draw for none would leave the step after it stale.
"""

from __future__ import annotations

import ast
import collections
import contextlib
import inspect
import itertools
import sys
import textwrap
from types import BuiltinFunctionType, FunctionType, MethodType, MethodWrapperType, ModuleType
from typing import Any

from blake3 import blake3

from incr import memoattrs, memodicts, stepcaches
from incr.heldvalues import closure_cells, own_attributes

#: A container is compared item by item up to this many items (by their identity), by its
#: size beyond.
ITEMS_COMPARED = 1_000
#: Values whose state is code (compared by identity).
_CODE = (ModuleType, MethodType, BuiltinFunctionType, type)
METHODS = (FunctionType, staticmethod, classmethod, property, type)
_SEQUENCES = (list, tuple, set, frozenset, collections.deque)
#: A method bound to the object holding its state (``itertools.count(1).__next__``).
_BOUND = (MethodType, BuiltinFunctionType, MethodWrapperType)
#: Builtin iterators whose position ``__reduce__`` gives (its third item).
_INDEXED = frozenset(
    {
        "range_iterator",
        "longrange_iterator",
        "list_iterator",
        "list_reverseiterator",
        "tuple_iterator",
        "str_ascii_iterator",
        "str_iterator",
        "bytes_iterator",
        "bytearray_iterator",
    }
)


class Walk:
    """One comparison's walk through a value and what it holds: at most ``budget`` values.
    ``root``: the project root; an object of a class of the project counts by its private
    attributes too (``self._scale`` behind a property), but for the dicts its class uses
    as a memo (``memo_attributes``: ``self._memo`` filled by key alone is compared by
    identity; ``self._index[w] = len(self._index)`` by what it holds) and those bound once
    on first use (``lazy_attributes``)."""

    def __init__(self, root: str, budget: int) -> None:
        self.root = root
        self.budget = budget

    def visit(self, value: Any, depth: int) -> Any:
        """The identities of a container's items, an object's attributes by identity, and so
        on for what those hold, ``depth`` levels deep; a function's or class's held state
        (``held``); a generator's or iterator's position (``drawn``)."""
        self.budget -= 1
        if self.budget < 0 or depth == 0:
            return id(value)
        if isinstance(value, dict):
            if len(value) > ITEMS_COMPARED:
                return id(value), len(value)
            items = list(value.items())
            return id(value), tuple((id(k), self.visit(v, depth - 1)) for k, v in items)
        if isinstance(value, _SEQUENCES):
            if len(value) > ITEMS_COMPARED:
                return id(value), len(value)
            return id(value), tuple(self.visit(v, depth - 1) for v in list(value))
        if isinstance(value, bytearray) or _is(value, "array", "array"):
            return id(value), blake3(memoryview(value).cast("B")).digest()
        if isinstance(value, FunctionType):
            return id(value), self.held(value, depth - 1)
        if _is(value, "contextvars", "ContextVar"):
            return id(value), self.visit(value.get(_ABSENT), depth - 1)
        if isinstance(value, _BOUND) and not isinstance(bound_to(value), _CODE):
            return id(value), self.visit(bound_to(value), depth - 1)
        if isinstance(value, _CODE):
            return id(value)
        hidden_state = drawn(value)
        if hidden_state is not None:
            return id(value), hidden_state
        return id(value), self._attributes(value, depth)

    def held(self, value: type | FunctionType, depth: int) -> Any:
        """What a class holds in its class attributes that are not methods or classes
        (``counter = 0`` that a classmethod raises) and which functions its methods are (a
        step that rebinds ``Model.act = staticmethod(neg)`` changes the class), or what a
        function holds: the values set on it (``scale.factor``), its defaults that hold
        state (``state_defaults``: ``seen=[]`` that it appends to, ``_ids=count(1)``), the
        values its closure holds. A class's methods count by the state they hold too
        (``method_state``: a dataclass field's ``default_factory=count(1).__next__``)."""
        if isinstance(value, type):
            items = list(vars(value).items())
            memos = memo_attributes(value)
            held = [(name, item) for name, item in items if class_state(name, item)]
            methods = [(n, method_functions(v)) for n, v in items if class_method(n, v)]
            hidden = [
                (f"<{n}>", tuple((k, self.visit(v, depth - 1)) for k, v in found))
                for n, f in methods_of(items)
                if (found := method_state(f))
            ]
            return (*((n, self._member(n, v, depth, memos)) for n, v in held), *methods, *hidden)
        return (
            tuple(self.visit(d, depth) for _, d in state_defaults(value)),
            tuple((n, self._member(n, v, depth)) for n, v in own_attributes(value)),
            self._closure(value, depth),
        )

    def _closure(self, function: FunctionType, depth: int) -> tuple[Any, ...]:
        """What the cells of ``function``'s closure hold, as ``visit`` sees it; a memo dict
        there (``memo_cells``) by its identity."""
        return tuple(
            id(item)
            if isinstance(item, dict) and name in memo_cells(function)
            else self.visit(item, depth)
            for name, item in closure_cells(function)
        )

    def _attributes(self, value: Any, depth: int) -> tuple[Any, ...]:
        """An object's attributes (in ``__dict__`` and in slots) as ``visit`` compares them:
        its public ones, and its private ones for an object of the project's; not its
        ``functools.cached_property`` values."""
        kind = type(value)
        named = getattr(value, "__dict__", None)
        found = list(named.items()) if isinstance(named, dict) else []
        for name in slot_names(kind):
            item = getattr(value, name, _ABSENT)
            if item is not _ABSENT:
                found.append((name, item))
        if not found:
            return ()
        own = bool(self.root) and stepcaches.is_project(kind, self.root)
        hidden = [*stepcaches.cached_properties(kind), *(lazy_attributes(kind) if own else ())]
        memos = memo_attributes(kind) if own else None
        return tuple(
            (name, self._member(name, item, depth, memos))
            for name, item in found
            if not name.startswith("__")
            and (own or not name.startswith("_"))
            and name not in hidden
        )

    def _member(self, name: str, item: Any, depth: int, memos: frozenset[str] | None = None) -> Any:
        """A private dict that is a memo (among ``memos``, those of a project class or object:
        ``memoattrs``; None: any private dict) by its identity; anything else as ``visit``
        sees it."""
        if name.startswith("_") and isinstance(item, dict) and (memos is None or name in memos):
            return id(item)
        return self.visit(item, depth - 1)


def class_state(name: str, item: Any) -> bool:
    """True for a class attribute that is state: not a method, a class, a dunder or an
    ``abc`` registry."""
    return not name.startswith(("__", "_abc_")) and not isinstance(item, METHODS)


def class_method(name: str, item: Any) -> bool:
    """True for a class attribute that is a method (a function, a static or class method, a
    property) or a class, but a dunder's."""
    return not name.startswith("__") and isinstance(item, METHODS)


def method_functions(item: Any) -> tuple[int, ...]:
    """The identities of the functions (or the class) a method attribute stands for: its
    ``__func__`` for a static or class method, its getter, setter and deleter for a
    property."""
    if isinstance(item, property):
        return id(item.fget), id(item.fset), id(item.fdel)
    return (id(getattr(item, "__func__", item)),)


#: Per class: its private attributes holding a value made once on first use, and those it
#: uses as a memo.
_LAZY: dict[type, tuple[frozenset[str], frozenset[str]]] = {}


def lazy_attributes(kind: type) -> frozenset[str]:
    """The private attributes that the methods of project class ``kind`` (its bases' too)
    bind once, on first use, from nothing a caller gives (``memodicts.lazy_attributes``: a
    client connected on first use): a cache, not state a step passes on."""
    return _class_facts(kind)[0]


def memo_attributes(kind: type) -> frozenset[str]:
    """The private dicts that the methods of class ``kind`` (its bases' too) use as a memo
    only (``memoattrs``): by their identity, not what they hold."""
    return _class_facts(kind)[1]


def _class_facts(kind: type) -> tuple[frozenset[str], frozenset[str]]:
    known = _LAZY.get(kind)
    if known is not None:
        return known
    if len(_LAZY) > 256:
        _LAZY.clear()
    methods: list[ast.stmt] = []
    for klass in kind.__mro__[:-1]:
        with contextlib.suppress(OSError, TypeError, SyntaxError, IndexError):
            tree = ast.parse(textwrap.dedent(inspect.getsource(klass)))
            if isinstance(tree.body[0], ast.ClassDef):
                methods += tree.body[0].body
    merged = ast.ClassDef(kind.__name__, [], [], methods, [])
    names = [k.__name__ for k in kind.__mro__[:-1]]
    found = memodicts.lazy_attributes(merged), memoattrs.memo_attributes(merged, names)
    _LAZY[kind] = found
    return found


#: Per code object: the free variables its function uses as a memo dict.
_MEMO_CELLS: dict[Any, frozenset[str]] = {}


def memo_cells(function: FunctionType) -> frozenset[str]:
    """The free variables of ``function`` naming a dict it uses as a memo only
    (``memodicts.memo_cells``: a memoizing decorator's ``cache``): a cache, not state a step
    passes on."""
    code = function.__code__
    known = _MEMO_CELLS.get(code)
    if known is not None:
        return known
    if len(_MEMO_CELLS) > 1024:
        _MEMO_CELLS.clear()
    found: frozenset[str] = frozenset()
    with contextlib.suppress(OSError, TypeError, SyntaxError, IndexError):
        tree = ast.parse(textwrap.dedent(inspect.getsource(code)))  # not what it wraps
        if isinstance(tree.body[0], ast.FunctionDef | ast.AsyncFunctionDef):
            found = frozenset(memodicts.memo_cells(tree.body[0], code.co_freevars))
    _MEMO_CELLS[code] = found
    return found


def bound_to(method: Any) -> Any:
    """The object a bound method (``_BOUND``) belongs to (a builtin function's module)."""
    return getattr(method, "__self__", None)


def holds_state(value: Any) -> bool:
    """True for a value whose state a run changes in place: a list, dict or set, a random
    generator, counter or iterator (``drawn``), or a method bound to one of them
    (``itertools.count(1).__next__``, ``rng.random``)."""
    if isinstance(value, _BOUND):
        value = bound_to(value)
    return isinstance(value, list | dict | set | collections.deque) or (
        not isinstance(value, _CODE) and drawn(value) is not None
    )


def state_defaults(func: FunctionType) -> list[tuple[int, Any]]:
    """``func``'s defaults that hold state (``holds_state``: ``seen=[]`` that it fills,
    ``_ids=itertools.count(1)`` that it draws from), with their places among all its
    defaults (keyword-only ones last)."""
    defaults = (*(func.__defaults__ or ()), *(func.__kwdefaults__ or {}).values())
    return [(i, d) for i, d in enumerate(defaults) if holds_state(d)]


def methods_of(items: list[tuple[str, Any]]) -> list[tuple[str, FunctionType]]:
    """The functions among a class's attributes ``items`` (dunders too: ``__init__``), a
    static or class method's own."""
    found = []
    for name, item in items:
        func = item.__func__ if isinstance(item, staticmethod | classmethod) else item
        if isinstance(func, FunctionType):
            found.append((name, func))
    return found


def method_state(func: FunctionType, depth: int = 2) -> list[tuple[str, Any]]:
    """The state a method keeps out of its class's attributes, by place (``default 0``,
    ``cell name``): its defaults and the cells of its closure that hold state
    (``holds_state``; not a memo dict, ``memo_cells``), and the functions there that hold
    some (a dataclass field's ``default_factory=lambda c=count(1): next(c)``), ``depth``
    levels deep."""
    found: list[tuple[str, Any]] = [(f"default {i}", d) for i, d in state_defaults(func)]
    memos = None
    for name, item in closure_cells(func):
        if isinstance(item, FunctionType):
            if depth and method_state(item, depth - 1):
                found.append((f"cell {name}", item))
        elif holds_state(item):
            memos = memo_cells(func) if memos is None else memos
            if not (isinstance(item, dict) and name in memos):
                found.append((f"cell {name}", item))
    return found


def slot_names(kind: type) -> list[str]:
    """The names of the slots of class ``kind`` and its bases (``__slots__``)."""
    names: list[str] = []
    for klass in kind.__mro__[:-1]:
        slots = vars(klass).get("__slots__", ())
        for name in (slots,) if isinstance(slots, str) else slots:
            if name not in ("__dict__", "__weakref__"):
                names.append(f"_{klass.__name__.lstrip('_')}{name}" if _mangled(name) else name)
    return names


def _is(value: Any, module: str, name: str) -> bool:
    """``isinstance(value, module.name)``, without importing the module: a value of a class
    of a module not imported yet is none of its instances."""
    found = sys.modules.get(module)
    return found is not None and isinstance(value, getattr(found, name))


def _mangled(name: str) -> bool:
    return name.startswith("__") and not name.endswith("__")


def drawn(value: Any) -> Any:
    """The state of a random generator, counter or iterator, which it keeps out of
    ``__dict__``: a ``numpy.random.Generator`` or ``RandomState``, a ``random.Random``, an
    ``itertools.count``, the position of an iterator over a range, list, tuple or string
    (each draw moves it on, so the step after the one drawing from it gets other numbers); a
    fresh object, never equal to another, for an iterator whose position cannot be read (a
    generator object); None for any other value."""
    kind = type(value)
    module, name = kind.__module__, kind.__name__
    if module.startswith("numpy.random"):
        if name == "Generator":
            return repr(value.bit_generator.state)
        if name == "RandomState":
            return repr(value.get_state(legacy=False))
    elif _is(value, "random", "Random"):
        return value.getstate()
    elif isinstance(value, itertools.count):
        return repr(value)
    elif module == "builtins" and name in _INDEXED:
        reduced = value.__reduce__()
        return ("at", reduced[2]) if len(reduced) > 2 else ("at", "end")
    elif is_iterator(value):
        return Unreadable()
    return None


def is_iterator(value: Any) -> bool:
    """True for an iterator that keeps its position out of ``__dict__``: a generator object,
    a builtin or ``itertools`` iterator (not a file, whose position is its file's)."""
    kind = type(value)
    return (
        hasattr(kind, "__next__")
        and getattr(kind, "__iter__", None) is not None
        and not hasattr(value, "__dict__")
        and not isinstance(value, (*_SEQUENCES, dict))
        and not slot_names(kind)  # its slots hold its position: ``Walk`` compares them
    )


class Unreadable:
    """The position of an iterator that cannot be read: equal to nothing but itself."""


_ABSENT = object()
