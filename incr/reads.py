"""Which project files a step opens for reading while it runs, seen through a Python audit hook.

CPython raises the ``open`` audit event (PEP 578) for ``open()``, ``io.open``, ``os.open`` and
everything built on them (``pathlib``, ``csv``, ``json.load``, ``numpy.load``, pandas' Python
readers). Readers that open files in C without going through Python's ``open`` (for example
HDF5 through h5py, some image and database drivers, memory maps made by native code) and child
processes are not seen: declare those files with ``deps=[...]``.

Only files under the project root count. Left out: files the step itself opened for writing,
files in hidden folders (``.pipecache``, ``.git``, ``.venv``), package metadata
(``*.egg-info``, ``*.dist-info``, ``site-packages``) and Python sources and bytecode (code is
fingerprinted from the AST).
"""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_TRUNC
_CODE_SUFFIXES = (".py", ".pyc", ".pyo", ".pyi")
_TOOLING = frozenset({"__pycache__", "site-packages", "node_modules"})

_lock = threading.Lock()
_active: ReadRecorder | None = None
_installed = False


class ReadRecorder:
    """Collects absolute paths opened while it is active, split into read and written."""

    def __init__(self, root: Path, exclude: tuple[str, ...]) -> None:
        self.root = os.path.join(str(root), "")
        self.exclude = tuple(os.path.join(str(root), e, "") for e in exclude)
        self.read: set[str] = set()
        self.written: set[str] = set()

    def event(self, path: Any, mode: Any, flags: Any) -> None:
        if isinstance(path, int):
            return  # an already open descriptor: the open that made it was seen (or not ours)
        full = os.path.abspath(os.fsdecode(path))
        if not full.startswith(self.root) or full.startswith(self.exclude):
            return
        if _is_write(mode, flags):
            self.written.add(full)
        else:
            self.read.add(full)

    def paths(self) -> list[str]:
        """Files read and not written by the step, relative to the root, sorted."""
        rel = []
        for full in self.read - self.written:
            path = Path(full[len(self.root) :])
            if full.endswith(_CODE_SUFFIXES) or _tooling(path.parts) or os.path.isdir(full):
                continue
            rel.append(path.as_posix())
        return sorted(rel)


def _tooling(parts: tuple[str, ...]) -> bool:
    """Hidden folders (.venv, .git, caches), package metadata and installed packages: read by
    Python's machinery (importlib.metadata, entry points), not by the step's logic."""
    return any(
        p.startswith(".") or p.endswith((".egg-info", ".dist-info")) or p in _TOOLING for p in parts
    )


def _is_write(mode: Any, flags: Any) -> bool:
    if isinstance(mode, str):
        return any(c in mode for c in "wax+")
    return isinstance(flags, int) and bool(flags & _WRITE_FLAGS)


def _hook(event: str, args: tuple[Any, ...]) -> None:
    if event == "open" and _active is not None and len(args) >= 3:
        _active.event(*args[:3])


@contextmanager
def recording(root: Path, exclude: tuple[str, ...] = (".git",)) -> Iterator[ReadRecorder]:
    """Record the files opened under ``root`` inside the block (one recorder at a time)."""
    global _active, _installed
    recorder = ReadRecorder(root, exclude)
    with _lock:
        if not _installed:
            sys.addaudithook(_hook)  # audit hooks cannot be removed; it idles when inactive
            _installed = True
        previous, _active = _active, recorder
    try:
        yield recorder
    finally:
        _active = previous
