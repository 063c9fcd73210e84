"""What an ``open`` audit event says of the file (``incr.reads``): whether the open can read
bytes already there, whether it writes, and whether a Python source is opened as code (by
an import by name, for a traceback, by ``inspect``, by a worker started afresh running the
main module again) or read as data (``runpy.run_path``, a
config file run with ``exec(open(path).read())`` or loaded by its path with
``importlib.util.spec_from_file_location``).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from typing import Any

_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_TRUNC


#: Modules that open Python sources as code: imports, tracebacks and warnings, ``inspect``.
_CODE_READERS = frozenset({"linecache", "tokenize", "traceback", "inspect", "zipimport"})
#: Those of them that read a file's lines for whoever asks (``linecache.getlines``).
_LINES = ("linecache", "tokenize")


#: Modules that run the main module again in a Python worker started afresh (``spawn``,
#: ``forkserver``, loky), through ``runpy``: the step's code is read as code there.
_MAIN_AGAIN = frozenset(
    {"multiprocessing.spawn", "joblib.externals.loky.backend.spawn", "loky.backend.spawn"}
)


#: incr's audit hooks, which see the open first.
_AUDIT_HOOKS = frozenset({"incr.reads", "incr.importreads"})
#: The import system's modules, and the loader incr gives project modules (``incr.imports``).
_IMPORT_SYSTEM = ("importlib.", "incr.imports")


def read_as_code(
    frame: Any, full: str | None = None, project: Callable[[str], Any] | None = None
) -> bool:
    """True when the code running in ``frame`` opens a source (``full``) as code: a module
    that reads code (for a traceback, a warning, ``inspect``) opening the file of a module
    loaded, or the import system importing a module by name (``_find_and_load``: an
    ``import`` statement, ``importlib.import_module``), which the code index follows by name.
    The project's code (``project``: true of its files) calling ``linecache`` itself, and
    ``linecache`` reading a file no module was loaded from, read it as data.

    The frames are read from ``frame`` outwards, through the import system's own, up to the
    first frame of other code: that code opened the file. A config module loaded by its path
    (``spec_from_file_location`` then ``exec_module``, ``SourceFileLoader(...).load_module()``)
    is not imported by name, so it is read as data; so is a file ``runpy`` runs while a
    module is being imported."""
    while frame is not None and frame.f_globals.get("__name__") in _AUDIT_HOOKS:
        frame = frame.f_back
    while frame is not None:
        code = frame.f_code
        if code.co_filename.startswith("<frozen importlib"):
            if code.co_name == "_find_and_load":
                return True
        elif (name := frame.f_globals.get("__name__")) in _CODE_READERS:
            if name not in _LINES or full is None:
                return True
            return _loaded_file(full) and not _asked_by(frame, project)
        elif frame.f_globals.get("__name__") == "runpy":
            while frame is not None and frame.f_globals.get("__name__") == "runpy":
                frame = frame.f_back
            return frame is not None and frame.f_globals.get("__name__") in _MAIN_AGAIN
        elif not str(frame.f_globals.get("__name__")).startswith(_IMPORT_SYSTEM):
            return False
        frame = frame.f_back
    return False


def _asked_by(frame: Any, project: Callable[[str], Any] | None) -> bool:
    """Whether the first frame from ``frame`` on past ``linecache`` and ``tokenize`` runs a
    file ``project`` is true of (``linecache.getlines(path)`` in a step)."""
    while frame is not None and frame.f_globals.get("__name__") in _LINES:
        frame = frame.f_back
    return project is not None and frame is not None and bool(project(frame.f_code.co_filename))


_loaded: frozenset[str] = frozenset()


def _loaded_file(full: str) -> bool:
    """Whether a module loaded now was loaded from ``full`` (an absolute path)."""
    global _loaded
    if full not in _loaded:
        found = (getattr(m, "__file__", None) for m in list(sys.modules.values()))
        _loaded = frozenset(os.path.abspath(f) for f in found if isinstance(f, str))
    return full in _loaded


def is_write(mode: Any, flags: Any) -> bool:
    if isinstance(mode, str):
        return any(c in mode for c in "wax+")
    return isinstance(flags, int) and bool(flags & _WRITE_FLAGS)


def reads_existing(mode: Any, flags: Any) -> bool:
    """True when the open can read bytes already in the file (``r``, ``r+``, ``a+``; not
    ``w``, ``w+``, ``x`` or ``a``, nor ``O_CREAT | O_EXCL``: a new file, as ``tempfile``
    makes them)."""
    if isinstance(flags, int):
        new = flags & (os.O_CREAT | os.O_EXCL) == os.O_CREAT | os.O_EXCL
        return (flags & os.O_ACCMODE) != os.O_WRONLY and not flags & os.O_TRUNC and not new
    return isinstance(mode, str) and ("r" in mode or ("+" in mode and "w" not in mode))


def keeps_bytes(mode: Any, flags: Any) -> bool:
    """True for a write that keeps the file's bytes (``a``: appends): a later read of the
    file reads them too."""
    if isinstance(flags, int):
        return bool(flags & os.O_APPEND) and not flags & os.O_TRUNC
    return isinstance(mode, str) and "a" in mode


#: Audit events by which a step changes a folder's entries: the argument positions of the
#: paths changed, and of the folder descriptors they may be relative to.
CHANGES: dict[str, tuple[tuple[int, ...], tuple[int, ...]]] = {
    "os.remove": ((0,), (1,)),
    "os.rmdir": ((0,), (1,)),
    "os.mkdir": ((0,), (2,)),
    "os.rename": ((0, 1), (2, 3)),
    "os.link": ((1,), (2, 3)),
    "os.symlink": ((1,), (2,)),
    "os.truncate": ((0,), ()),
    "shutil.rmtree": ((0,), (1,)),
}


def dir_fd(value: Any) -> bool:
    """Whether an argument of a ``CHANGES`` event is a folder descriptor (not None or -1)."""
    return isinstance(value, int) and value >= 0
