"""The entry points installed packages declare, remembered in ``.pipecache/entrypoints.json``.

``importlib.metadata.entry_points`` imports the ``email`` package and reads the
``entry_points.txt`` of every installed distribution: about 30 ms with a few hundred installed,
paid by every command that traces a pipeline (materializers come from entry points too). When
nothing is remembered, the metadata folders on ``sys.path`` are read directly, as
``importlib.metadata`` reads them (``_read_folders``, a third of its time), falling back on it
for what only it reads (zips, eggs, other finders). A remembered answer is reused while its key
holds, the key being taken over ``sys.path`` as it is when asked:

- a folder outside the project: its modification time, which changes when a distribution is
  installed, upgraded or removed there (a distribution's ``.dist-info`` folder is replaced;
  ``importlib.metadata`` keys its own listing cache by the same time);
- a folder inside the project (a ``src`` layout's ``.egg-info``): its metadata folders by name,
  with the size, mtime, change time and inode of their ``entry_points.txt`` (the folder's own
  time moves with every lockfile written beside it);
- a file (a zip or an egg): its stamp.

One reading of every distribution gives every group: the memory holds them all, so that the
groups asked later in the same key (materializers, networkx's backends) cost no reading more.
The same memory answers the lookups networkx makes while it loads (its backends, two groups):
``answering`` stands in for ``importlib.metadata.entry_points`` meanwhile, and a workspace that
remembers entry points sets it as ``hooks.entry_points_memory`` for ``incr.graph``, which spares
networkx two readings of every distribution's entry points each time a command loads it.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import os
import re
import stat
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from incr import hooks
from incr.storage import atomic_write, file_stamp

#: (the file entry points are remembered in, the project's root); ``None``: always ask
#: ``importlib.metadata``.
_remembered: list[tuple[Path, Path] | None] = [None]
#: The last reading of every group, with the key it was read under.
_scanned: list[tuple[list[Any], dict[str, list[tuple[str, str]]]] | None] = [None]
_METADATA = (".dist-info", ".egg-info")
_SEPARATORS = re.compile(r"[-_.]+")


def remember_in(path: Path | None, project_root: Path | None = None) -> None:
    """Remember entry points in ``path`` from now on, for the project at ``project_root``
    (``path=None``: do not remember them)."""
    _remembered[0] = None if path is None else (path, (project_root or path.parent).resolve())
    hooks.entry_points_memory = None if path is None else answering


def declared(group: str, ask: Callable[..., Any] | None = None) -> list[tuple[str, str]]:
    """(name, value) of each entry point of ``group``, sorted by name. ``ask`` is the
    ``importlib.metadata.entry_points`` to ask when neither the memory nor the metadata
    folders read directly can answer."""
    if _remembered[0] is None:
        return _every_group(None, ask).get(group, [])
    path, root = _remembered[0]
    key = _key(root)
    with contextlib.suppress(OSError, ValueError, KeyError, TypeError, AttributeError):
        data = json.loads(path.read_text(encoding="utf-8"))
        if data["key"] == key and data["every group"] is True:
            return [(str(name), str(value)) for name, value in data["groups"].get(group, [])]
    groups = _every_group(key, ask)
    if path.parent.is_dir():  # never the one to make the cache folder
        text = json.dumps({"key": key, "every group": True, "groups": groups}, sort_keys=True)
        with contextlib.suppress(OSError):  # a read-only cache: asked again next time
            atomic_write(path, text.encode(), durable=False)
    return groups.get(group, [])


def load(value: str) -> Any:
    """The object an entry point's ``module:attr.attr [extras]`` value names."""
    module, _, attrs = value.partition("[")[0].strip().partition(":")
    found: Any = importlib.import_module(module.strip())
    for attr in filter(None, attrs.strip().split(".")):
        found = getattr(found, attr)
    return found


@contextlib.contextmanager
def answering() -> Iterator[None]:
    """Meanwhile, ``importlib.metadata.entry_points(group=G)`` is answered from ``declared(G)``
    (with entry points that carry no distribution); any other call goes to the function."""
    import importlib.metadata as metadata

    ask = metadata.entry_points

    def entry_points(**params: Any) -> Any:
        group = params.get("group")
        if set(params) != {"group"} or not isinstance(group, str):
            return ask(**params)
        points = declared(group, ask)
        return metadata.EntryPoints(metadata.EntryPoint(n, v, group) for n, v in points)

    metadata.entry_points = entry_points
    try:
        yield
    finally:
        metadata.entry_points = ask


def _every_group(
    key: list[Any] | None, ask: Callable[..., Any] | None
) -> dict[str, list[tuple[str, str]]]:
    """Every group's entry points, from one reading of every distribution's (the same reading
    serves every group asked while ``key`` holds, in this process; no key: read again)."""
    if key is not None and _scanned[0] is not None and _scanned[0][0] == key:
        return _scanned[0][1]
    sets = _read_folders()
    if sets is None:
        if ask is None:
            from importlib.metadata import entry_points

            ask = entry_points
        found = ask()
        # By group on Python 3.10 and 3.11 (a dict whose own ``values`` warns), flat since; one
        # pass either way (a ``select`` per group reads every entry point again).
        flat = (p for eps in dict.values(found) for p in eps) if isinstance(found, dict) else found
        sets = {}
        for point in flat:
            sets.setdefault(point.group, set()).add((point.name, point.value))
    groups = {group: sorted(names) for group, names in sets.items()}
    if key is not None:
        _scanned[0] = (key, groups)
    return groups


def _key(project_root: Path) -> list[Any]:
    root = os.path.join(str(project_root), "")
    key: list[Any] = []
    for entry in sys.path:
        place = os.path.abspath(entry or ".")
        try:
            st = os.stat(place)
        except OSError:
            key.append([entry, None])
            continue
        if not stat.S_ISDIR(st.st_mode):
            key.append([entry, file_stamp(place)])
        elif os.path.join(place, "").startswith(root):
            key.append([entry, _metadata_in(place)])
        else:
            key.append([entry, st.st_mtime_ns])
    return key


def _metadata_in(folder: str) -> list[Any]:
    try:
        with os.scandir(folder) as entries:
            names = sorted(e.name for e in entries if e.name.endswith(_METADATA))
    except OSError:
        return []
    return [[n, file_stamp(os.path.join(folder, n, "entry_points.txt"))] for n in names]


#: What reading a distribution's ``entry_points.txt`` may meet that ``importlib.metadata``
#: takes for "no entry points".
_UNREADABLE = (FileNotFoundError, IsADirectoryError, NotADirectoryError, PermissionError)


class _Unusual(Exception):
    """Something only ``importlib.metadata`` knows how to read."""


def _read_folders() -> dict[str, set[tuple[str, str]]] | None:
    """Every group's (name, value) pairs read straight from the ``.dist-info`` and ``.egg-info``
    folders on ``sys.path``, as ``importlib.metadata.entry_points()`` finds them; None when
    only it can tell (another finder that finds distributions, a zip or an egg on
    ``sys.path``, an odd name or file).

    It gives the same answer: the first distribution of each normalised name along
    ``sys.path`` (and a folder's listing) counts, the others are shadowed; the file is read
    in sections, blank and ``#`` lines skipped, ``name = value`` split at the first ``=``.
    It skips what makes ``importlib.metadata`` take about 12 ms with 190 distributions
    installed (a path object, a cached lookup and a parsed entry point for each): 4 ms.
    """
    from importlib.machinery import PathFinder

    if any(
        hasattr(finder, "find_distributions") and not _same_finder(finder, PathFinder)
        for finder in sys.meta_path
    ):
        return None
    seen: set[str] = set()
    sets: dict[str, set[tuple[str, str]]] = {}
    try:
        for entry in sys.path:
            if not isinstance(entry, str):
                raise _Unusual(entry)  # a path object, say: importlib.metadata reads those too
            folder = entry or "."
            if folder.lower().endswith(".egg"):
                raise _Unusual(folder)
            try:
                names = os.listdir(folder)
            except NotADirectoryError:
                raise _Unusual(folder) from None
            except OSError:
                continue
            for name in names:
                stem, _, ext = name.rpartition(".")
                if "." + ext.lower() not in _METADATA:
                    continue
                if "." + ext not in _METADATA:
                    raise _Unusual(name)
                key = _normalised(stem.partition("-")[0])
                if key in seen:
                    continue
                seen.add(key)
                _read_points(os.path.join(folder, name, "entry_points.txt"), sets)
    except (_Unusual, OSError, UnicodeDecodeError, ValueError):
        return None
    return sets


def _same_finder(finder: object, path_finder: type) -> bool:
    """Whether ``finder`` finds the distributions the standard one finds: it is, or it is the
    ``importlib_metadata`` backport's, which some packages import (it adds itself to
    ``sys.meta_path`` and reads the same folders the same way; the first of each name wins)."""
    kind = finder if isinstance(finder, type) else type(finder)
    return finder is path_finder or (
        kind.__module__ == "importlib_metadata" and kind.__name__ == "MetadataPathFinder"
    )


def _normalised(name: str) -> str:
    """A distribution's name as ``importlib.metadata`` tells distributions apart."""
    return _SEPARATORS.sub("_", name).lower()


def _read_points(path: str, sets: dict[str, set[tuple[str, str]]]) -> None:
    try:
        with open(path, encoding="utf-8") as fh:
            text = fh.read()
    except _UNREADABLE:
        return
    group = None
    for line in map(str.strip, text.splitlines()):
        if not line or line.startswith("#"):
            continue
        if line.startswith("[") and line.endswith("]"):
            group = line.strip("[]")
        elif group is not None:
            name, equals, value = line.partition("=")
            if not equals:
                raise ValueError(line)  # importlib.metadata fails on it: let it say so
            sets.setdefault(group, set()).add((name.strip(), value.strip()))
