"""The entry points installed packages declare, remembered in ``.pipecache/entrypoints.json``.

``importlib.metadata.entry_points`` imports the ``email`` package and reads the
``entry_points.txt`` of every installed distribution: about 30 ms with a few hundred installed,
paid by every command that traces a pipeline (materializers come from entry points too). A
remembered answer is reused while its key holds, the key being taken over ``sys.path`` as it is
when asked:

- a folder outside the project: its modification time, which changes when a distribution is
  installed, upgraded or removed there (a distribution's ``.dist-info`` folder is replaced;
  ``importlib.metadata`` keys its own listing cache by the same time);
- a folder inside the project (a ``src`` layout's ``.egg-info``): its metadata folders by name,
  with the size, mtime, change time and inode of their ``entry_points.txt`` (the folder's own
  time moves with every lockfile written beside it);
- a file (a zip or an egg): its stamp.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import os
import stat
import sys
from pathlib import Path
from typing import Any

from incr.storage import atomic_write, file_stamp

#: (the file entry points are remembered in, the project's root); ``None``: always ask
#: ``importlib.metadata``.
_remembered: list[tuple[Path, Path] | None] = [None]
_METADATA = (".dist-info", ".egg-info")


def remember_in(path: Path | None, project_root: Path | None = None) -> None:
    """Remember entry points in ``path`` from now on, for the project at ``project_root``
    (``path=None``: do not remember them)."""
    _remembered[0] = None if path is None else (path, (project_root or path.parent).resolve())


def declared(group: str) -> list[tuple[str, str]]:
    """(name, value) of each entry point of ``group``, sorted by name."""
    if _remembered[0] is None:
        return _ask(group)
    path, root = _remembered[0]
    key = _key(root)
    data: dict[str, Any] = {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        known = data["groups"][group] if data["key"] == key else None
        if isinstance(known, list):
            return [(str(name), str(value)) for name, value in known]
    except (OSError, ValueError, KeyError, TypeError):
        data = {}
    points = _ask(group)
    groups = data.get("groups") if data.get("key") == key else None
    groups = dict(groups) if isinstance(groups, dict) else {}
    groups[group] = [list(p) for p in points]
    if path.parent.is_dir():  # never the one to make the cache folder
        text = json.dumps({"key": key, "groups": groups}, sort_keys=True)
        with contextlib.suppress(OSError):  # a read-only cache: asked again next time
            atomic_write(path, text.encode(), durable=False)
    return points


def load(value: str) -> Any:
    """The object an entry point's ``module:attr.attr [extras]`` value names."""
    module, _, attrs = value.partition("[")[0].strip().partition(":")
    found: Any = importlib.import_module(module.strip())
    for attr in filter(None, attrs.strip().split(".")):
        found = getattr(found, attr)
    return found


def _ask(group: str) -> list[tuple[str, str]]:
    from importlib.metadata import entry_points

    return sorted({(p.name, p.value) for p in entry_points(group=group)})


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
