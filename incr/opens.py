"""What an ``open`` audit event says of the file (``incr.reads``): whether the open can read
bytes already there, whether it writes, and whether a Python source is opened as code (by
the import system, for a traceback, by ``inspect``) or read as data (``runpy.run_path``, a
config file run with ``exec(open(path).read())``).
"""

from __future__ import annotations

import os
from typing import Any

_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_TRUNC


#: Modules that open Python sources as code: imports, tracebacks and warnings, ``inspect``.
_CODE_READERS = frozenset({"linecache", "tokenize", "traceback", "inspect", "zipimport"})


def read_as_code(frame: Any) -> bool:
    """True when the code running in ``frame`` or a caller of it opens sources as code."""
    while frame is not None:
        if frame.f_code.co_filename.startswith("<frozen importlib"):
            return True
        if frame.f_globals.get("__name__") in _CODE_READERS:
            return True
        frame = frame.f_back
    return False


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
