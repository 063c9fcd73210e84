"""The project's own modules loaded in this process, and forgetting them so that the next
import runs their code again (``incr watch`` between cycles, ``incr repro`` between passes:
see ``incr.passes``)."""

from __future__ import annotations

import importlib
import os
import sys
from pathlib import Path

from incr.envreads import is_local_code
from incr.project import Project

_INCR_DIR = Path(__file__).resolve().parent
_PREFIXES = frozenset(Path(p).resolve() for p in (sys.prefix, sys.base_prefix, sys.exec_prefix))


def within(path: Path, folder: Path) -> bool:
    """True when ``path`` is ``folder`` or inside it."""
    return path == folder or folder in path.parents


def is_local(project: Project, path: Path) -> bool:
    """True for a file of the project itself: under the root, outside the cache, hidden
    folders, installed packages and incr's own package."""
    if not within(path, project.root) or within(path, project.cache):
        return False
    parts = path.relative_to(project.root).parts
    if any(p.startswith(".") or p in ("site-packages", "dist-packages") for p in parts):
        return False
    inside = [p for p in _PREFIXES if p != project.root and within(p, project.root)]
    return not any(within(path, p) for p in [*inside, _INCR_DIR])


def local_modules(project: Project) -> dict[str, Path]:
    """Module name -> file of each project-local module in ``sys.modules``."""
    root = str(project.root)
    found: dict[str, Path] = {}
    for name, module in list(sys.modules.items()):
        file = getattr(module, "__file__", None)  # None for namespace packages: no source
        if name != "__main__" and isinstance(file, str) and file.startswith(root):
            path = Path(os.path.abspath(file))
            if is_local(project, path):
                found[name] = path
    return found


def forget_local_modules(project: Project) -> None:
    """Remove project-local modules, and those of local packages outside the project (code on
    this machine, not installed: ``incr.localpackages``), from ``sys.modules`` so the next
    import reads their source (project modules are always compiled from source: see
    ``incr.imports``). Installed modules, and incr's own, stay loaded."""
    for name in [*local_modules(project), *local_package_modules()]:
        sys.modules.pop(name, None)
    importlib.invalidate_caches()


def local_package_modules() -> dict[str, Path]:
    """Module name -> file of each module in ``sys.modules`` of a local package outside the
    project (``incr.envreads.is_local_code``: incr's own left out)."""
    found: dict[str, Path] = {}
    for name, module in list(sys.modules.items()):
        file = getattr(module, "__file__", None)
        if isinstance(file, str) and is_local_code(file):
            found[name] = Path(os.path.abspath(file))
    return found
