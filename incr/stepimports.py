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
"""

from __future__ import annotations

import importlib.machinery
import os
import sys
from collections.abc import Callable, Iterable

from incr import outside
from incr.envreads import is_incr_file
from incr.model import MODULE_PREFIX

#: How many modules ``sys.modules`` held before a step ran, the name it holds last, and
#: ``sys.path`` then.
Before = tuple[int, str | None, tuple[str, ...]]


def before() -> Before:
    """What ``learned`` compares with, taken before each step runs: not a copy of
    ``sys.modules`` (a thousand names and more), its size and its last name."""
    return len(sys.modules), next(reversed(sys.modules), None), tuple(sys.path)


def _new_since(then: Before) -> list[str]:
    """The modules imported since ``then``: those after its last name (a dict keeps the order
    of insertion); every module when that one is gone (unloaded since: rare)."""
    count, last, _ = then
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
    where they were imported from."""
    path = then[2]
    named = set(names)
    tops = named | {name.partition(".")[0] for name in _new_since(then)}
    found: dict[str, str] = {}
    for top in sorted(tops):
        places = _places(sys.modules.get(top), root)
        if not places or places == _looked_up(top, (), root):
            continue  # not local code, or the project's own module: the code index's
        if top in named and places == _looked_up(top, path, root):
            continue  # its code counts it, found where it was imported from
        found.update({MODULE_PREFIX + key_of(p): code_at(p) for p in places})
    return found


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
