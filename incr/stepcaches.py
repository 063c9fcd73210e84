"""The caches a step starts with empty, so that what a cached helper reads is read, and
recorded, by each step that uses it, not only by the first step of the process to call it.

A step run alone in a new process finds every cache empty; steps run one after the other in
one process (``incr repro``, a worker of ``--jobs``) would find what an earlier step left, and
a file read to fill it would be that earlier step's read only: after an edit of the file, the
later step would stay clean and keep its old result. Before each step runs, for the project
code it uses (its code parts, ``path:name``):

- a function cached with ``functools.lru_cache`` or ``functools.cache`` is cleared;
- a class: its cached methods are cleared (those of its bases too);
- an object (``SETTINGS = Settings()``): its ``functools.cached_property`` values are dropped
  and its class's cached methods cleared;
- a module holding one of those: its memo dicts (``incr.memodicts``: ``_VOCAB = {}`` filled
  by ``vocab(name)``) are emptied. Only those: any other dict is state a step may pass on;
  and its lazy singletons holding a plain value (``_SETTINGS = None`` bound to
  ``json.load(...)`` under ``if _SETTINGS is None:`` by ``settings()``: ``memodicts``) are
  bound to None again, as the module's import left them;
- ``linecache``: the files it read from disk are dropped, the sources kept in memory (a
  notebook's cells, which IPython registers there) stay.

Each is a cache by contract (what it holds is what computing it again gives), so emptying it
changes what a step costs, never what it returns.

Other state a step leaves on a project object is not emptied: an attribute a method fills
on first use (``if self._data is None: self._data = json.load(...)``), a dict of a project
class filled by its methods (``cls._loaded[name] = ...``). What such a step read goes on
with the object instead (``carried``): a step that changed the state of a project object or
class (an attribute bound anew or a dict, list or set in it that grew or shrank) leaves with
it the reads its class's code made (the files, listings and existence tests read while a
method of the class or of one of its bases ran, or what it called), and each later step of
the process whose code uses that object or class has them among its own. Environment
variables such code read are not carried. An edit of the file a lazy loader read then makes
every step that used what it loaded dirty, whichever of them read it.
"""

from __future__ import annotations

import functools
import linecache
import os
import sys
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from types import FunctionType, ModuleType
from typing import Any

from incr.globalvalues import is_plain
from incr.loadedmemos import memo_dicts, plain_lazies
from incr.project import module_name


def clear_caches(parts: Iterable[str]) -> None:
    """Empty the caches of the code parts ``parts`` (``path:name``) that this process holds
    (see the module's notes)."""
    for name, entry in list(linecache.cache.items()):
        if len(entry) == 4 and entry[1] is not None:  # (size, mtime, lines, path): a file
            linecache.cache.pop(name, None)
    modules: dict[str, ModuleType] = {}
    for part in parts:
        module, found = _resolved(part)
        if module is not None:
            modules[module.__name__] = module
            _clear(found)
    for module in modules.values():
        for name in _filled_private_dicts(module):
            if name in memo_dicts(module):
                vars(module)[name].clear()
        namespace = vars(module)
        for name in plain_lazies(module):  # made again on first use: read again
            if namespace.get(name) is not None and is_plain(namespace[name]):
                namespace[name] = None


def held(part: str) -> tuple[ModuleType | None, str]:
    """The module of code part ``part`` (``path:name``) as this process holds it (None when
    it has not imported it), and the name."""
    path, _, name = part.rpartition(":")
    module = sys.modules.get(_module_name(path))  # an object in place of a module: none
    return (module if isinstance(module, ModuleType) else None), name


@functools.lru_cache(maxsize=1024)
def _module_name(path: str) -> str:
    """The dotted name of the project module at ``path``, relative to the root."""
    return module_name(Path(), Path(path))


def _clear(found: Any) -> None:
    if found is None or isinstance(found, ModuleType):
        return
    if _is_cached_function(found):
        found.cache_clear()
        return
    if isinstance(found, FunctionType):
        return
    kind = found if isinstance(found, type) else type(found)
    cached_methods, properties = _class_caches(kind)
    for method in cached_methods:
        method.cache_clear()
    if properties and not isinstance(found, type):
        held_values = getattr(found, "__dict__", None)
        if isinstance(held_values, dict):
            for name in properties:
                held_values.pop(name, None)


def cached_properties(kind: type) -> list[str]:
    """The names of the ``functools.cached_property`` values of class ``kind`` (its bases'
    too): what they hold is a cache, not state."""
    return _class_caches(kind)[1]


def lazily_loaded(
    value: Any,
    owned: Callable[[set[tuple[str, str]]], set[str]],
    reads: Mapping[str, str],
    root: str,
) -> bool:
    """True when ``value`` is a project object whose class's code made some of ``reads`` (a
    lazy loader, whose reads go on with it: ``carried``)."""
    kind = type(value)
    return is_project(kind, root) and bool(owned(_definitions(kind, root)) & reads.keys())


def _is_cached_function(found: Any) -> bool:
    return callable(getattr(found, "cache_clear", None)) and hasattr(found, "cache_info")


#: Per class: its cached methods and the names of its cached properties (its bases' too);
#: a few hundred classes at most (a long ``incr watch`` imports new versions of them).
_CLASS_CACHES: dict[type, tuple[list[Any], list[str]]] = {}


def _class_caches(kind: type) -> tuple[list[Any], list[str]]:
    known = _CLASS_CACHES.get(kind)
    if known is not None:
        return known
    if len(_CLASS_CACHES) > 256:
        _CLASS_CACHES.clear()
    methods: list[Any] = []
    properties: list[str] = []
    for klass in getattr(kind, "__mro__", ())[:-1]:  # not ``object``
        for name, value in list(vars(klass).items()):
            inner = getattr(value, "__func__", value)  # a classmethod or staticmethod of one
            if _is_cached_function(inner):
                methods.append(inner)
            elif isinstance(value, functools.cached_property):
                properties.append(value.attrname or name)
    _CLASS_CACHES[kind] = (methods, properties)
    return methods, properties


#: Per module: how many names it held, and which of them held a private dict then.
_PRIVATE_DICTS: dict[str, tuple[int, list[str]]] = {}


def _filled_private_dicts(module: ModuleType) -> list[str]:
    """The private module-level dicts of ``module`` that hold entries (the candidates for a
    memo; a module is searched again once it holds more or fewer names)."""
    names = vars(module)
    known = _PRIVATE_DICTS.get(module.__name__)
    if known is None or known[0] != len(names):
        private = [
            n
            for n, v in list(names.items())
            if n.startswith("_") and not n.startswith("__") and isinstance(v, dict)
        ]
        known = _PRIVATE_DICTS[module.__name__] = (len(names), private)
    return [n for n in known[1] if isinstance(names.get(n), dict) and names[n]]


#: The reads each project object or class carries (by code part), left by the steps of this
#: process that changed its state as they ran.
_CARRIED: dict[str, dict[str, str]] = {}


def states(parts: Iterable[str], root: str) -> dict[str, Any]:
    """The state of each project object or class among ``parts`` that this process holds:
    what ``carried`` compares once the step ran."""
    found = {}
    for part in parts:
        obj = _object(part)
        if obj is not None and is_project(obj if isinstance(obj, type) else type(obj), root):
            found[part] = _state(obj)
    return found


def carried(
    parts: Iterable[str],
    before: dict[str, Any],
    reads: dict[str, str],
    owned: Callable[[set[tuple[str, str]]], set[str]],
    root: str,
) -> dict[str, str]:
    """The reads of a step whose code parts are ``parts``, given its own ``reads``: with
    those the objects and classes it uses carry (see the module's notes). An object or class
    whose state changed since ``before`` (``states``) carries from here on the reads the
    code of its class made in this step (``owned``: the read keys made by the code of
    definitions given as relative path and top-level name)."""
    for part, state in before.items():
        obj = _object(part)
        if obj is not None and _state(obj) != state:
            keys = owned(_definitions(obj if isinstance(obj, type) else type(obj), root))
            _CARRIED[part] = {
                **_CARRIED.get(part, {}),
                **{k: reads[k] for k in keys & reads.keys()},
            }
    found: dict[str, str] = {}
    for part in parts if _CARRIED else ():
        found.update(_CARRIED.get(part, {}))
    return {**found, **reads} if found else reads


def _resolved(part: str) -> tuple[ModuleType | None, Any]:
    """The module of code part ``part`` this process holds (None if none), and what the
    part names in it (None when it names nothing there)."""
    module, name = held(part)
    found: Any = module
    for attr in name.split("."):
        found = getattr(found, attr, None)
    return module, found


def _object(part: str) -> Any:
    """The project object or class code part ``part`` names (not a module or function)."""
    found = _resolved(part)[1]
    if found is None or isinstance(found, ModuleType | FunctionType | type(len)):
        return None
    return found if isinstance(getattr(found, "__dict__", None), Mapping) else None


def _state(obj: Any) -> tuple[tuple[str, int, int], ...]:
    """An object's attributes by identity, with the size of those that are containers."""
    return tuple(
        (name, id(value), len(value) if isinstance(value, dict | list | set) else -1)
        for name, value in list(vars(obj).items())
    )


def _definitions(kind: type, root: str) -> set[tuple[str, str]]:
    """The project classes ``kind`` is made of (itself and its bases), as the read recorder
    names the code it sees run: (path relative to the root, top-level name)."""
    found = set()
    for klass in kind.__mro__[:-1]:
        file = getattr(sys.modules.get(klass.__module__), "__file__", None)
        if is_project(klass, root) and isinstance(file, str):
            rel = os.path.relpath(os.path.realpath(file), os.path.realpath(root))
            found.add((Path(rel).as_posix(), klass.__qualname__.partition(".")[0]))
    return found


#: Whether each class was defined in a project module (under the root given).
_PROJECT_CLASSES: dict[tuple[type, str], bool] = {}


def is_project(kind: type, root: str) -> bool:
    """True when class ``kind`` is defined in a module of the project at ``root``."""
    known = _PROJECT_CLASSES.get((kind, root))
    if known is None:
        if len(_PROJECT_CLASSES) > 1024:
            _PROJECT_CLASSES.clear()
        file = getattr(sys.modules.get(kind.__module__), "__file__", None)
        known = isinstance(file, str) and file.startswith(os.path.join(root, ""))
        _PROJECT_CLASSES[(kind, root)] = known
    return known
