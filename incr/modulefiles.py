"""The project's own Python modules, found on disk: what a registry scan reads.

A table filled by decorators (see ``incr.registries``) may be filled from any project module,
so the closures that reach one depend on every module and on the list of them. The modules
are the ``.py`` files under the project root and ``src/`` (the src layout), without hidden
folders (``.venv``, ``.git``, the cache), virtual environments, installed packages, build
copies and tests (test code registers fakes that the pipelines never import).
"""

from __future__ import annotations

import os
from pathlib import Path

from incr.fingerprint import digest_bytes
from incr.project import module_name

#: Folders never searched for project modules, at any depth.
SKIPPED = frozenset({"__pycache__", "site-packages", "node_modules", "tests", "test"})
#: Folders skipped at the top of the root and of ``src/``: build copies of the project.
SKIPPED_TOP = frozenset({"build", "dist"})


def module_files(root: Path, cache_dir: str) -> dict[str, str]:
    """Project module name -> its file relative to ``root`` (the first one found for a name,
    as imports find them: the root before ``src/``, a package before a module file)."""
    found: dict[str, str] = {}
    for rel in sorted(_walk(root, root, cache_dir), key=_import_order):
        name = module_name(root, root / rel)
        if name and all(part.isidentifier() for part in name.split(".")):
            found.setdefault(name, rel)
    return found


def listing_digest(files: dict[str, str]) -> str:
    """A digest of the list of module files: changes when one is added, removed or moved."""
    text = "\n".join(f"{name}\0{rel}" for name, rel in sorted(files.items()))
    return digest_bytes(text.encode("utf-8", "surrogateescape"), 32)


def _import_order(rel: str) -> tuple[bool, bool, str]:
    return rel.startswith("src/"), not rel.endswith("/__init__.py"), rel


def _walk(root: Path, folder: Path, cache_dir: str) -> list[str]:
    files: list[str] = []
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return files
    if folder != root and any(e.name in ("pyvenv.cfg", "conda-meta") for e in entries):
        return files  # a virtual environment
    top = folder in (root, root / "src")
    for entry in entries:
        name = entry.name
        if name.startswith(".") or name in SKIPPED or (top and name in SKIPPED_TOP):
            continue
        try:
            if entry.is_dir(follow_symlinks=False):
                if not name.isidentifier():
                    continue  # no module below it can be imported (``raw-data``, ``2024``)
                path = Path(entry.path)
                if path != root / cache_dir:
                    files += _walk(root, path, cache_dir)
            elif name.endswith(".py") and not _test_file(name):
                files.append(Path(entry.path).relative_to(root).as_posix())
        except OSError:
            continue
    return files


def _test_file(name: str) -> bool:
    return name.startswith("test_") or name.endswith("_test.py") or name == "conftest.py"
