"""Files opened by readers written in C, seen when the step calls them.

``incr.creaders`` finds reader calls in a step's code before it runs, and tracks the file when
the path is known then (a literal, a constant, a config field). A path known only when the
step runs (built from a file's content, after ``os.chdir``, in a helper of a library outside
the project, through a module that re-exports pandas) is seen here: while a step's reads are
recorded, each reader function of ``readertable.RUNTIME`` whose module is imported is
replaced, where its module and the module defining it hold it, by a wrapper that tells the
active recorder (``incr.reads``) the file it opens, as an ``open`` for reading would: then the
runner digests it after the step, as any read. A folder (a partitioned dataset) counts with
every file under it and its listings; a glob (``data/parts/*.parquet``) with the files it
matches and the listing of the folder it starts from.

Readers that are classes (``h5py.File``, ``pq.ParquetFile``) are left as they are (a
subclass check must keep working), and so are names bound before the wrapper was made
(``from pandas import read_parquet`` at import): ``creaders`` still finds their calls.
"""

from __future__ import annotations

import functools
import glob
import os
import sys
from collections.abc import Callable
from typing import Any

from incr.readertable import PATH_KEYWORDS, RUNTIME

#: The recorder's two ways in: ``opened(path)`` (a file read) and ``listed(folder)``.
Sink = tuple[Callable[[str], None], Callable[[str], None]]

#: Gives the active recorder's ways in, or None while no step's reads are recorded.
_sink: Callable[[], Sink | None] = lambda: None  # noqa: E731
#: Readers wrapped so far, by full dotted name; what was found under each.
_done: dict[str, object] = {}
_modules_seen = -1
_GLOB = frozenset("*?[")


def install(sink: Callable[[], Sink | None]) -> None:
    """Tell the wrappers where to report (once per process)."""
    global _sink
    _sink = sink


def wrap_imported() -> None:
    """Wrap the readers of the modules imported since the last call (cheap when none was)."""
    global _modules_seen
    if len(sys.modules) == _modules_seen:
        return
    _modules_seen = len(sys.modules)
    for name in RUNTIME:
        if name in _done:
            continue
        module_name, _, attr = name.rpartition(".")
        module = sys.modules.get(module_name)
        if module is None:
            continue
        found = getattr(module, attr, None)
        _done[name] = found
        if callable(found) and not isinstance(found, type):
            _replace(module, attr, found)


def _replace(module: Any, attr: str, real: Callable[..., Any]) -> None:
    wrapper = _wrapper(real)
    setattr(module, attr, wrapper)
    home = sys.modules.get(getattr(real, "__module__", None) or "")
    qualname = getattr(real, "__qualname__", "")
    if home is not None and "." not in qualname and getattr(home, qualname, None) is real:
        setattr(home, qualname, wrapper)  # pickled by reference: found where it is defined


def _wrapper(real: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(real)
    def reader(*args: Any, **kwargs: Any) -> Any:
        sink = _sink()
        if sink is not None:
            path = (
                args[0] if args else next((kwargs[k] for k in PATH_KEYWORDS if k in kwargs), None)
            )
            for one in path if isinstance(path, list | tuple) else [path]:
                _report(sink, one)
        return real(*args, **kwargs)

    return reader


def _report(sink: Sink, path: Any) -> None:
    """Tell ``sink`` the files ``path`` names: a file, a folder's files, a glob's matches."""
    if not isinstance(path, str | os.PathLike):
        return  # an open file, a buffer, a URL object: read through Python, or not a file
    try:
        text = os.fsdecode(path)
    except (TypeError, ValueError):
        return
    if "://" in text and not text.startswith("file://"):
        return  # s3://, gs://: not a local file
    text = text.removeprefix("file://")
    opened, listed = sink
    if os.path.isdir(text):
        for folder, _, files in os.walk(text):
            listed(folder)
            for name in files:
                opened(os.path.join(folder, name))
    elif _GLOB.isdisjoint(text) or os.path.exists(text):
        opened(text)
    else:
        start = text[: min(text.index(c) for c in _GLOB if c in text)]
        folder = os.path.dirname(start) or "."
        for top, _, _ in os.walk(folder) if "**" in text else [(folder, [], [])]:
            listed(top)
        for match in glob.glob(text, recursive=True):
            opened(match)
