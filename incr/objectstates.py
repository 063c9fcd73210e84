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
the same object, one of its public attributes bound anew (an estimator's ``fit`` binds
``classes_``, ``coef_``), or a dict, list or set held at the top level or in such an
attribute holding other objects; and so on for the objects those hold, three levels deep (a
``Pipeline`` fits the estimators in its ``steps``). Not counted: private attributes
(``_item_cache``, a lazily loaded ``_data``: internals and caches),
``functools.cached_property`` values, memo dicts (``incr.memodicts``), a name bound to a
value made once on first use (``_POOL = None`` and ``if _POOL is None: _POOL = Pool(2)`` in
a helper: ``memodicts.lazy_singletons``), and a project object whose class's code read files
as the step ran (a lazy loader: what it read goes on with it, see ``incr.stepcaches``). An
object changed in place below its attributes (an array's bytes, a DataFrame given a column)
is not seen.
"""

from __future__ import annotations

import itertools
import os
import random
from collections.abc import Callable, Iterable
from types import BuiltinFunctionType, FunctionType, MethodType, ModuleType
from typing import Any

from incr import stepcaches
from incr.globalvalues import lazy_singletons, memo_dicts
from incr.model import UNDIGESTABLE

#: A container is compared item by item up to this many items (by their identity), by its
#: size beyond.
ITEMS_COMPARED = 1_000
_NOT_VALUES = (ModuleType, FunctionType, MethodType, BuiltinFunctionType, type)


def snapshot(parts: Iterable[str]) -> dict[str, tuple[int, Any]]:
    """For each code part among ``parts`` naming a top-level value of a module this process
    holds (not a module; a class of that module by its public class attributes, a function
    by its defaults that are lists, dicts or sets): the value's identity and state, for
    ``changed``."""
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
            held = _held_state(value, module.__name__)  # what ``_state`` gives for it
            if held is not None:
                found[part] = (id(value), held)
        elif not isinstance(value, _NOT_VALUES):
            found[part] = (id(value), _state(value))
    return found


def _held_state(value: type | FunctionType, module: str) -> Any:
    """What a class of ``module`` holds in its public class attributes that are not methods
    or classes (``counter = 0`` that a classmethod raises), or what a function holds in its
    defaults that are lists, dicts or sets (``seen=[]`` that it appends to); None when it
    holds none."""
    if getattr(value, "__module__", None) != module:
        return None
    if isinstance(value, type):
        held = [
            (name, item)
            for name, item in list(vars(value).items())
            if not name.startswith("_") and not isinstance(item, _METHODS)
        ]
        budget = [VISITS]
        return tuple((n, _visit(v, DEPTH, budget)) for n, v in held) if held else None
    defaults = (*(value.__defaults__ or ()), *(value.__kwdefaults__ or {}).values())
    mutable = [d for d in defaults if isinstance(d, list | dict | set)]
    budget = [VISITS]
    return tuple(_visit(d, DEPTH, budget) for d in mutable) if mutable else None


_METHODS = (FunctionType, staticmethod, classmethod, property, type)


def changed(
    before: dict[str, tuple[int, Any]],
    loaded: Callable[[Any], bool],
) -> list[str]:
    """The code parts of ``before`` (``snapshot``) whose value is another object now or whose
    state changed, but for memo dicts and objects ``loaded`` says a lazy loader filled."""
    found = []
    for part, (identity, state) in before.items():
        module, name = stepcaches.held(part)
        value = vars(module).get(name, _ABSENT) if module is not None else _ABSENT
        if value is _ABSENT:
            continue
        if id(value) == identity and _state(value) == state:
            continue
        if name in memo_dicts(module) or name in lazy_singletons(module):  # type: ignore[arg-type]
            continue
        if id(value) == identity and loaded(value):
            continue
        found.append(part)
    return found


def _state(value: Any) -> Any:
    """What ``changed`` compares of one value: the identities of a container's items, or an
    object's public attributes by identity, and so on for what those hold, three levels deep
    (a scikit-learn ``Pipeline`` fits the estimators its ``steps`` list holds), at most
    ``VISITS`` values in all; for a class or function, what it holds (``_held_state``)."""
    if isinstance(value, type | FunctionType):
        return _held_state(value, value.__module__)
    return _visit(value, DEPTH, [VISITS])


#: How deep ``_state`` looks into what an object or container holds, and at how many values.
DEPTH = 3
VISITS = 5_000


def _visit(value: Any, depth: int, budget: list[int]) -> Any:
    budget[0] -= 1
    if budget[0] < 0 or depth == 0:
        return id(value)
    if isinstance(value, dict):
        if len(value) > ITEMS_COMPARED:
            return id(value), len(value)
        items = list(value.items())
        return id(value), tuple((id(k), _visit(v, depth - 1, budget)) for k, v in items)
    if isinstance(value, list | tuple | set | frozenset):
        if len(value) > ITEMS_COMPARED:
            return id(value), len(value)
        return id(value), tuple(_visit(v, depth - 1, budget) for v in list(value))
    hidden_state = _drawn(value)
    if hidden_state is not None:
        return id(value), hidden_state
    attributes = getattr(value, "__dict__", None)
    if not isinstance(attributes, dict) or isinstance(value, type):
        return id(value)
    hidden = stepcaches.cached_properties(type(value))
    return id(value), tuple(
        (name, _visit(item, depth - 1, budget))
        for name, item in list(attributes.items())
        if not name.startswith("_") and name not in hidden
    )


def generators(parts: Iterable[str]) -> list[str]:
    """The code parts among ``parts`` whose value is a random generator or a counter."""
    found = []
    for part in parts:
        module, name = stepcaches.held(part)
        value = vars(module).get(name) if module is not None else None
        if value is not None and _drawn(value) is not None:
            found.append(part)
    return found


def _drawn(value: Any) -> Any:
    """The state of a random generator or counter, which it keeps out of ``__dict__``: a
    ``numpy.random.Generator`` or ``RandomState``, a ``random.Random``, an
    ``itertools.count`` (each draw moves it on, so the step after the one drawing from it gets
    other numbers); None for any other value."""
    kind = type(value)
    module, name = kind.__module__, kind.__name__
    if module.startswith("numpy.random"):
        if name == "Generator":
            return repr(value.bit_generator.state)
        if name == "RandomState":
            return repr(value.get_state(legacy=False))
    elif isinstance(value, random.Random):
        return value.getstate()
    elif isinstance(value, itertools.count):
        return repr(value)
    return None


_ABSENT = object()


def _is_incrs(value: Any) -> bool:
    """True for incr's own objects (a step, a pipeline): what a run does to them is no state
    of the project's."""
    return type(value).__module__.partition(".")[0] == "incr"


def digest_of(value: Any, where: str) -> str:
    """The digest of a value set at run time that is not plain: as a step output's (its
    materializer's bytes); for one no materializer can store, or a class or function (a
    pickle names it), a text that never repeats (``UNDIGESTABLE`` then a random part), so
    the steps using it rerun."""
    from incr.errors import MaterializeError
    from incr.hashing import buffers_digest
    from incr.materializers import encode

    if isinstance(value, type | FunctionType):  # its state is not in what pickling keeps
        return f"{UNDIGESTABLE}{os.urandom(8).hex()}"
    try:
        stored = encode(value, where)
    except MaterializeError:
        return f"{UNDIGESTABLE}{os.urandom(8).hex()}"
    return buffers_digest(stored.parts)
