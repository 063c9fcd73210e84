"""Modules a step imports from local code where its code fingerprint does not look: they count
by their files, as ``module:`` keys of its ``LockEntry.reads``.

A step's code counts the modules it imports by name as found before it runs: project modules
by their code, installed packages by their version, local packages by their files
(``incr.localpackages``). A step that puts a folder on ``sys.path`` only while it imports
(``sys.path.insert(0, "plugins")``, then ``import other`` or
``importlib.import_module("other")``) imports a module no such lookup finds (``other``
counted as ``unknown``), or another one than the lookup finds (a ``plugins/six.py`` where
``six`` is installed); one imported by a computed name is not named at all. So, after the
step ran, each module it imported (new in ``sys.modules``, or named by its code) whose file is
local code and is not where the lookup made before the step finds it, counts by its files
(``module:plugins/other.py = files:DIGEST``, with the local modules it imports in turn, looked
up beside it first): an edit of them reruns the step (``code changed (other's local code
(plugins/other.py))``).

A project module the step imports by a name computed as it runs
(``importlib.import_module(config.fitter)``, ``__import__(name)``; a library's calls too) is
not named by its code either. ``watching`` notes the names asked of ``import_module`` and of
``__import__`` called while the step runs (a module a step before it imported included);
each such project module counts by its code used whole (``imported:pipelines.fitters.linear``,
see ``LearnedFacts.reads_to_record``, which leaves out one the step's code uses whole
already: ``import_module(f"pipelines.models.{name}")``). A module its code uses in part
(``from pipelines.ops import double``) counts whole too when imported by name: the name may
reach the rest of it (``getattr(module, config.fn)``). An import statement is not noted, as
the code counts what it uses of the module it names. Not the modules of classes ``pickle``
looks up (``incr.objectcode``'s business), nor those C code imports. A module a step runs
from a file by hand (``importlib.util.spec_from_file_location``) is not one: its file is a
read.
"""

from __future__ import annotations

import builtins
import contextlib
import importlib.machinery
import importlib.util
import os
import pickle
import sys
import threading
from collections.abc import Callable, Iterable, Iterator
from types import ModuleType
from typing import Any

from incr import outside
from incr.envreads import is_incr_file
from incr.model import IMPORTED_PREFIX, MODULE_PREFIX

#: How many modules ``sys.modules`` held before a step ran, the name it holds last,
#: ``sys.path`` then, and the names of the modules it imported by a call (``watching``).
Before = tuple[int, str | None, tuple[str, ...], set[str]]


def before() -> Before:
    """What ``learned`` compares with, taken before each step runs: not a copy of
    ``sys.modules`` (a thousand names and more), its size and its last name."""
    return len(sys.modules), next(reversed(sys.modules), None), tuple(sys.path), set()


#: The import system's Python half, and the function of it that ``importlib.import_module``
#: calls (by its name there, which ``watching`` replaces while a step runs).
_BOOTSTRAP, _GCD_IMPORT = sys.modules["importlib._bootstrap"], "_gcd_import"


#: The sets of the steps running now that ``watching`` notes names in (several steps of one
#: process run at once on threads of a Dask worker), and the functions it replaced, which it
#: puts back once none runs.
_ACTIVE: list[set[str]] = []
_REPLACED: list[Any] = []
_LOCK = threading.Lock()


@contextlib.contextmanager
def watching() -> Iterator[Before]:
    """What ``learned`` compares with (``before``), in which the block notes the modules the
    step imports by a call as it runs: each name asked of ``importlib.import_module`` (by a
    library too, by whatever name it holds the function), or of ``__import__`` called rather
    than run by an import statement (``__import__(config.fitter)``), a module imported
    already included."""
    then = before()
    with _LOCK:
        if not _ACTIVE:
            _REPLACED[:] = [getattr(_BOOTSTRAP, _GCD_IMPORT), builtins.__import__]
            setattr(_BOOTSTRAP, _GCD_IMPORT, _asked_by_name)
            builtins.__import__ = _called
        _ACTIVE.append(then[3])
    try:
        yield then
    finally:
        with _LOCK:
            _ACTIVE[:] = [a for a in _ACTIVE if a is not then[3]]
            if not _ACTIVE:
                setattr(_BOOTSTRAP, _GCD_IMPORT, _REPLACED[0])
                if builtins.__import__ is _called:  # unless a step replaced it for good
                    builtins.__import__ = _REPLACED[1]


def _asked_by_name(name: str, package: str | None = None, level: int = 0) -> ModuleType:
    module = _REPLACED[0](name, package, level)
    for asked in _ACTIVE:
        asked.add(module.__name__)
    return module


def _called(name: str, *args: Any, **kwargs: Any) -> ModuleType:
    module = _REPLACED[1](name, *args, **kwargs)
    if _by_call(args, kwargs) and sys._getframe(1).f_code.co_filename != pickle.__file__:
        for asked in _ACTIVE:  # not pickle as written in Python: the module of a class
            _note_called(asked, name, *args, **kwargs)
    return module


def _by_call(args: tuple[Any, ...], kwargs: dict[str, Any]) -> bool:
    """Whether ``__import__`` was given ``args`` and ``kwargs`` by a call in Python code
    (``__import__(config.fitter)``), not by an import statement in a function (which passes
    its globals, None, the names it imports and the level) or at a module's top level, nor by
    C code (``PyImport_Import``, as ``pickle`` written in C imports the module of a class:
    globals given as locals too). Told from the arguments alone, not the caller's frame:
    every import statement a step runs comes here."""
    return bool(kwargs) or len(args) < 4 or (args[1] is not None and args[1] is not args[0])


def _note_called(
    asked: set[str],
    name: str,
    globals: dict[str, Any] | None = None,
    locals: object = None,
    fromlist: Iterable[str] | None = (),
    level: int = 0,
) -> None:
    """Note the modules a call of ``__import__`` imported: ``name`` (resolved against the
    package of ``globals`` when relative), and those of ``fromlist`` that are modules."""
    try:
        if level:
            package = (globals or {}).get("__package__") or ""
            name = importlib.util.resolve_name("." * level + name, package)
    except (ImportError, ValueError, TypeError):
        return
    names = [name, *(f"{name}.{n}" for n in fromlist or () if isinstance(n, str))]
    asked.update(n for n in names if n in sys.modules)


def _new_since(then: Before) -> list[str]:
    """The modules imported since ``then``: those after its last name (a dict keeps the order
    of insertion); every module when that one is gone (unloaded since: rare)."""
    count, last = then[0], then[1]
    if len(sys.modules) == count and next(reversed(sys.modules), None) == last:
        return []
    new: list[str] = []
    for name in reversed(sys.modules):
        if name == last:
            return new
        new.append(name)
    return new  # the last one was unloaded: all of them, to be safe


def learned(
    names: Iterable[str],
    then: Before,
    root: str,
    key_of: Callable[[str], str],
    code_at: Callable[[str], str],
) -> dict[str, str]:
    """The ``module:`` keys (``key_of``: the lock key of an absolute path) with their values
    (``code_at``: see ``LocalPackages.code_at``) of the top-level modules from local code that
    the step imported (new since ``then``) or that its code names (``names``), but for the
    project's own modules and the named ones a lookup in the ``sys.path`` of ``then`` finds
    where they were imported from. With them, the ``imported:`` keys (valued empty) of the
    project modules it imported by a call (``watching``)."""
    path, asked = then[2], then[3]
    named = set(names)
    tops = named | {name.partition(".")[0] for name in [*_new_since(then), *asked]}
    found: dict[str, str] = {}
    for name in sorted(asked):
        module = sys.modules.get(name)
        if module is not None and _project_module(module, root):
            found[IMPORTED_PREFIX + name] = ""
    for top in sorted(tops):
        places = _places(sys.modules.get(top), root)
        if not places or places == _looked_up(top, (), root):
            continue  # not local code, or the project's own module: the code index's
        if top in named and places in (_looked_up(top, path, root), _finder_places(top, root)):
            continue  # its code counts it, found where it was imported from
        found.update({MODULE_PREFIX + key_of(p): code_at(p) for p in places})
    return found


def _project_module(module: ModuleType, root: str) -> bool:
    """Whether ``module`` is one of the project's own, found where a lookup from the root
    finds its top-level package."""
    file = os.path.abspath(getattr(module, "__file__", None) or os.sep)
    top = module.__name__.partition(".")[0]
    places = _places(sys.modules.get(top), root)
    if not places or places != _looked_up(top, (), root):
        return False
    return any(file == p or file.startswith(p + os.sep) for p in places)


def _places(module: object, root: str) -> list[str]:
    """The local places (absolute module file or package folders) ``module`` was loaded
    from; none for an installed, built-in or incr's own one."""
    return _spec_places(getattr(module, "__spec__", None), root)


def _spec_places(spec: importlib.machinery.ModuleSpec | None, root: str) -> list[str]:
    if spec is None:
        return []
    if spec.submodule_search_locations:
        places = [os.path.abspath(p) for p in spec.submodule_search_locations]
    elif spec.origin and spec.has_location:
        places = [os.path.abspath(spec.origin)]
    else:
        return []
    return sorted(p for p in places if _local(p, root))


def _local(place: str, root: str) -> bool:
    folder = place if os.path.isdir(place) else os.path.dirname(place)
    installed = {"site-packages", "dist-packages"}.intersection(place.split(os.sep))
    if installed or is_incr_file(place):
        return False
    return folder == root or folder.startswith(root + os.sep) or outside.counts(folder)


def _looked_up(top: str, path: tuple[str, ...], root: str) -> list[str]:
    """Where module ``top`` is found in the folders ``path``, then the project's own (alone
    with no ``path``), as a lookup made before the step ran finds it."""
    folders = [os.path.abspath(p or ".") for p in path if isinstance(p, str)]
    folders += [root, os.path.join(root, "src")]
    try:
        spec = importlib.machinery.PathFinder.find_spec(top, folders)
    except (ImportError, ValueError):
        return []
    return _spec_places(spec, root)


def _finder_places(top: str, root: str) -> list[str]:
    """Where an import finder of ``sys.meta_path`` other than Python's own path finder finds
    module ``top`` (an editable install as setuptools makes them maps the name to its folder):
    where its code counts it too (``localpackages``)."""
    machinery = importlib.machinery
    own = (machinery.PathFinder, machinery.BuiltinImporter, machinery.FrozenImporter)
    for finder in sys.meta_path:
        if finder in own:
            continue  # Python's own: the path, builtins, frozen modules
        find = getattr(finder, "find_spec", None)
        try:
            spec = find(top, None) if find is not None else None
        except Exception:  # a finder of any kind: one that fails finds nothing here
            continue
        if spec is not None:
            return _spec_places(spec, root)
    return []
