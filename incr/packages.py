"""Installed distribution and version of the third-party packages a step's code uses."""

from __future__ import annotations

import functools
import json
import os
import re
import sys
from pathlib import Path
from typing import Any

from incr.storage import atomic_write, file_stamp


class PackageVersions:
    """Installed distribution and version of a top-level import name (``sklearn`` ->
    ``scikit-learn``, ``1.9.1``), remembered in ``.pipecache/packages.json``.

    Asking ``importlib.metadata`` scans every installed distribution, which costs more than
    the rest of a no-op status. An answer is reused while the folders on ``sys.path`` (outside
    the project) keep their modification times, which change when a package is installed,
    upgraded or removed, and while the distribution's own metadata file keeps its size,
    modification time and change time.
    """

    def __init__(self, path: Path, project_root: Path) -> None:
        self.path = path
        root = os.path.join(str(project_root), "")
        self.key = [
            [p, os.stat(p).st_mtime_ns]
            for p in sys.path
            if p and os.path.isdir(p) and not os.path.join(os.path.abspath(p), "").startswith(root)
        ]
        self.known: dict[str, list[Any]] = {}
        self.changed = False
        #: Answers given in this command, by package and by distribution (each checked once).
        self._answers: dict[str, tuple[str, str]] = {}
        self._required: dict[str, list[tuple[str, str]]] = {}
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            if data["key"] == self.key and isinstance(data["known"], dict):
                self.known = data["known"]
        except (OSError, ValueError, KeyError, TypeError):
            pass

    def lookup(self, package: str) -> tuple[str, str]:
        """(distribution, version); the package name itself and ``unknown`` when no installed
        distribution provides it."""
        if package in self._answers:
            return self._answers[package]
        entry = self.known.get(package)
        if not (isinstance(entry, list) and len(entry) == 4 and _same_stat(entry[2], entry[3])):
            entry = self.known[package] = _ask_metadata(package)
            self.changed = True
        found = self._answers[package] = (str(entry[0]), str(entry[1]))
        return found

    def requirements(self, dist: str) -> list[tuple[str, str]]:
        """(distribution, version) of each installed distribution that ``dist`` requires, at
        any depth (not those of its extras): pandas' numpy and python-dateutil count for a step
        that imports pandas alone, as a result can change with them."""
        if dist in self._required:
            return self._required[dist]
        found: dict[str, str] = {}
        top = self._installed(dist)
        todo = list(top[2]) if top is not None else []
        while todo:
            entry = self._installed(todo.pop())
            if entry is not None and entry[0] not in found and entry[0] != dist:
                found[entry[0]] = entry[1]
                todo += entry[2]
        result = self._required[dist] = sorted(found.items())
        return result

    def _installed(self, dist: str) -> tuple[str, str, list[str]] | None:
        """(name, version, names of the distributions it requires) of an installed
        distribution; None when none is installed by that name."""
        key = "dist:" + _normalized(dist)
        entry = self.known.get(key)
        if not (isinstance(entry, list) and len(entry) == 5 and _same_stat(entry[2], entry[3])):
            entry = self.known[key] = _ask_distribution(dist)
            self.changed = True
        if entry[1] is None:
            return None
        return str(entry[0]), str(entry[1]), [str(r) for r in entry[4]]

    def distribution(self, dist: str) -> tuple[str, str]:
        """(name, version) of the installed distribution ``dist``, asked for by its name (a
        step calling ``importlib.metadata.version("scikit-learn")``); ``unknown`` when none is
        installed by that name."""
        found = self._installed(dist)
        return (found[0], found[1]) if found is not None else (dist, "unknown")

    def save(self) -> None:
        if self.changed:
            data = {"key": self.key, "known": self.known}
            atomic_write(self.path, json.dumps(data, sort_keys=True).encode(), durable=False)
            self.changed = False


def _ask_metadata(package: str) -> list[Any]:
    """[distribution, version, metadata file, its stat] for a top-level import name."""
    import importlib.metadata  # only when a version is not remembered: it costs ~10 ms

    dist = _distribution(package)
    try:
        found = importlib.metadata.distribution(dist)
    except importlib.metadata.PackageNotFoundError:
        return [dist, "unknown", "", None]
    meta = str(getattr(found, "_path", ""))  # the .dist-info folder (a private attribute)
    meta = os.path.join(meta, "METADATA") if meta else ""
    return [dist, found.version, meta, file_stamp(meta) if meta else None]


def _ask_distribution(dist: str) -> list[Any]:
    """[name, version or None, metadata file, its stat, the distributions it requires (not
    for an extra)] of the installed distribution ``dist``."""
    import importlib.metadata

    try:
        found = importlib.metadata.distribution(dist)
    except (importlib.metadata.PackageNotFoundError, ValueError):
        return [dist, None, "", None, []]
    meta = str(getattr(found, "_path", ""))
    meta = os.path.join(meta, "METADATA") if meta else ""
    requires = []
    for line in found.requires or []:
        name, _, marker = line.partition(";")
        if "extra" not in marker and (match := _NAME.match(name.strip())):
            requires.append(match.group(0))
    name = found.metadata["Name"] or dist
    return [name, found.version, meta, file_stamp(meta) if meta else None, requires]


#: The distribution name at the start of a requirement (``numpy>=1.26``).
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")


def _normalized(dist: str) -> str:
    return re.sub(r"[-_.]+", "-", dist).lower()


def _same_stat(path: Any, recorded: Any) -> bool:
    return not path or (isinstance(path, str) and file_stamp(path) == recorded)


@functools.cache
def _distributions() -> dict[str, list[str]]:
    import importlib.metadata

    return dict(importlib.metadata.packages_distributions())


def _distribution(package: str) -> str:
    dists = _distributions().get(package)
    return dists[0] if dists else package
