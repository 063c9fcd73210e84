"""Project modules are imported with the root first on ``sys.path`` and compiled from source.

Fingerprints are computed from the source text, so the code that runs must come from the same
text, never from a stale ``.pyc``.
"""

from __future__ import annotations

import importlib.machinery
import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import ModuleType
from typing import Any


class _SourceOnlyLoader(importlib.machinery.SourceFileLoader):
    """Compiles a project module from its source every time, never from a cached ``.pyc``.

    CPython trusts a ``.pyc`` whose recorded source mtime (whole seconds) and size match, so an
    edit that keeps both (a fast save, ``cp -p``, ``rsync -a``) would run the old code under the
    new fingerprint. Project modules are small; compiling them is cheap.
    """

    def path_stats(self, path: str) -> Mapping[str, Any]:
        raise OSError("project modules are compiled from source")


class _ProjectFinder:
    """Finds modules as usual, and loads those under the project root with _SourceOnlyLoader.

    A meta path finder needs only ``find_spec`` (no ``importlib.abc`` base: importing that
    costs more than the rest of this module)."""

    def __init__(self, root: Path) -> None:
        self.root = os.path.join(str(root), "")

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if path is None:  # a top-level module: is it a file or folder of the root?
            base = os.path.join(self.root, fullname)
            if not (os.path.isdir(base) or os.path.isfile(base + ".py")):
                return None
        elif not any(str(p).startswith(self.root) for p in path):
            return None
        spec = importlib.machinery.PathFinder.find_spec(fullname, path)
        if spec is None or not isinstance(spec.loader, importlib.machinery.SourceFileLoader):
            return None
        origin = spec.origin or ""
        if not origin.startswith(self.root) or "site-packages" in origin[len(self.root) :]:
            return None
        spec.loader = _SourceOnlyLoader(fullname, origin)
        return spec


def use_project_imports(root: Path) -> None:
    """Put ``root`` first on ``sys.path`` and load its modules from source (idempotent)."""
    if str(root) not in sys.path:
        sys.path.insert(0, str(root))
    if not any(
        isinstance(f, _ProjectFinder) and f.root.rstrip(os.sep) == str(root) for f in sys.meta_path
    ):
        sys.meta_path.insert(0, _ProjectFinder(root))


def install_for_script() -> None:
    """When ``__main__`` is a file inside a project, use project imports for that project.

    Called on ``import incr``, so that ``python pipelines/digits.py`` imports its helpers fresh
    and with the root on ``sys.path``. Does nothing outside a project.
    """
    main_file = getattr(sys.modules.get("__main__"), "__file__", None)
    if not main_file:
        return
    from incr.project import MARKERS

    main = Path(main_file).resolve()
    if any(_inside(main, place) for place in _NOT_SCRIPTS):
        # The ``incr`` command itself (a console script in a virtualenv, which may well sit
        # inside the project, or ``python -m incr.cli``): the CLI sets up the project's imports
        # itself, for the project it was asked about.
        return
    folder = main.parent
    for candidate in (folder, *folder.parents):
        if any((candidate / marker).exists() for marker in MARKERS):
            use_project_imports(candidate)
            return


#: Where a ``__main__`` file is not a user's script: Python's installations and incr itself.
_NOT_SCRIPTS = tuple(
    {Path(p).resolve() for p in (sys.prefix, sys.base_prefix, sys.exec_prefix)}
    | {Path(__file__).resolve().parent}
)


def _inside(path: Path, folder: Path) -> bool:
    return path == folder or folder in path.parents
