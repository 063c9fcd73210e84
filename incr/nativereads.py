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

Readers that are classes written in Python (``readertable.RUNTIME_CLASSES``:
``pq.ParquetFile``, ``lgb.Booster``; ``WRITER_CLASSES``: ``pq.ParquetWriter``) have their
``__init__`` wrapped instead, so that the class stays itself for a subclass or ``isinstance``
check; so do readers with a mode (``MODED``: ``h5py.File``, pandas' ``HDFStore``), whose file
counts by that mode. Classes written in C (``netCDF4.Dataset``) are left to ``creaders``.

A name a project module bound to a reader before the wrapper was made (``from
pyarrow.parquet import read_table as load``, at import) is bound to the wrapper; one in a
module outside the project is not (``creaders`` still finds a call in the project's code).

Writers written in C (``WRITERS``: polars' ``write_parquet``, ``pq.write_table``) are wrapped
the same way, and tell the recorder the file they wrote, as an ``open`` for writing would.
"""

from __future__ import annotations

import contextlib
import functools
import glob
import importlib.abc
import importlib.machinery
import os
import sys
import types
from collections.abc import Callable
from typing import Any, Protocol

from incr.nativepaths import database_file, on_disk, sql_files, trainer_files
from incr.readertable import (
    CONNECTS,
    MODED,
    PATH_KEYWORDS,
    READ_MODES,
    READER_METHODS,
    READERS,
    RUNTIME,
    RUNTIME_CLASSES,
    SQL_READERS,
    TRAINERS,
    URI_READERS,
    WRITE_ONLY_MODES,
    WRITER_CLASSES,
    WRITERS,
)


class Sink(Protocol):
    """What a recorder (``incr.reads.ReadRecorder``) takes: an ``open`` audit event, and a
    folder listed."""

    def event(self, path: Any, mode: Any, flags: Any) -> None: ...

    def listed(self, path: Any) -> None: ...

    def connecting(self, path: str, log: str) -> None: ...


_WRITE = os.O_WRONLY | os.O_CREAT | os.O_TRUNC
#: Gives the active recorder, or None while no step's reads are recorded (or incr reads).
_sink: Callable[[], Sink | None] = lambda: None  # noqa: E731
#: Readers wrapped so far, by full dotted name; what was found under each.
_done: dict[str, object] = {}
_modules_seen = -1
#: Each original wrapped and its wrapper, by the id of the original (kept alive here).
_wrappers: dict[int, tuple[object, Callable[..., Any]]] = {}
_GLOB = frozenset("*?[")
#: Everything wrapped, by full dotted name.
_ALL = (*RUNTIME, *WRITERS, *CONNECTS, *SQL_READERS, *RUNTIME_CLASSES, *WRITER_CLASSES)
_ALL += (*READER_METHODS, *MODED, *TRAINERS)
#: The attribute naming the file a reader in C did not find, on an error that does not name it
#: (``_name_missing``): a step failing on it runs again once the steps that may write it have
#: run (``jobrun.missing_file``).
MISSING = "incr_missing_file"


def install(sink: Callable[[], Sink | None]) -> None:
    """Tell the wrappers where to report (once per process), and wrap the readers of a module
    imported later as soon as it is (a step that imports pandas in its own body)."""
    global _sink
    _sink = sink
    sys.meta_path.insert(0, _AfterImport())


#: The modules that hold readers or writers (``pandas``, ``pyarrow.parquet``...).
_HOLDERS = frozenset(
    name.rsplit(".", 2 if name.split(".")[-2][:1].isupper() else 1)[0]  # a class's module
    for name in _ALL
)


class _AfterImport(importlib.abc.MetaPathFinder):
    """Has a module of ``_HOLDERS``, once imported, wrap the readers it holds."""

    def find_spec(self, name: str, path: Any = None, target: Any = None) -> Any:
        if name not in _HOLDERS:
            return None
        spec = importlib.machinery.PathFinder.find_spec(name, path, target)
        loader = getattr(spec, "loader", None)
        if loader is None or not hasattr(loader, "exec_module"):
            return None
        real = loader.exec_module

        def exec_module(module: Any) -> None:
            real(module)
            _wrap_new()

        loader.exec_module = exec_module
        return spec


def wrap_imported(root: str) -> None:
    """Wrap the readers and writers of the modules imported since the last call (cheap when
    none was), and put the wrappers in place of the readers the project's modules under
    ``root`` imported by name before (``from pandas import read_parquet as load``)."""
    global _modules_seen
    if len(sys.modules) == _modules_seen:
        return
    _modules_seen = len(sys.modules)
    _wrap_new()
    for module in list(sys.modules.values()):
        if str(getattr(module, "__file__", None)).startswith(root):
            names = vars(module)
            for name, value in list(names.items()):
                held = _wrappers.get(id(value))
                if held is not None and held[0] is value:
                    names[name] = held[1]


def _wrap_new() -> None:
    for name in _ALL:
        if name in _done:
            continue
        owner, attr, found = _find(name)
        if owner is None or found is None:  # (or its module is still being imported)
            continue
        _done[name] = found
        if name in RUNTIME_CLASSES:
            _wrap_init(found, functools.partial(_wrapper, after=1, uri=name in URI_READERS))
            continue
        if name in WRITER_CLASSES:
            _wrap_init(found, functools.partial(_writer, position=WRITER_CLASSES[name]))
            continue
        if name in MODED and isinstance(found, type):
            _wrap_init(found, functools.partial(_moded, after=1, name=name))
            continue
        if not callable(found) or isinstance(found, type):
            continue
        if name in CONNECTS:
            wrapper = _connector(found, CONNECTS[name])
        elif name in WRITERS:
            wrapper = _writer(found, WRITERS[name])
        elif name in SQL_READERS:
            wrapper = _sql_reader(found, SQL_READERS[name])
        elif name in READER_METHODS:
            wrapper = _wrapper(found, after=READER_METHODS[name])
        elif name in MODED:
            wrapper = _moded(found, after=0, name=name)
        elif name in TRAINERS:
            wrapper = _trainer(found)
        else:
            wrapper = _wrapper(found)
        _replace(owner, attr, found, wrapper)
        _wrappers[id(found)] = (found, wrapper)


def _find(name: str) -> tuple[Any, str, Any]:
    """(the module or class holding ``name``, its last name, what it holds); None first when
    its module is not imported."""
    for cut in (1, 2):  # ``module.function``, then ``module.Class.method``
        parts = name.rsplit(".", cut)
        module = sys.modules.get(parts[0])
        if module is not None:
            owner = module if cut == 1 else getattr(module, parts[1], None)
            return owner, parts[-1], getattr(owner, parts[-1], None)
    return None, "", None


def _replace(owner: Any, attr: str, real: Callable[..., Any], wrapper: Any) -> None:
    """Put ``wrapper`` where ``real`` is: in ``owner``, and in the modules that name it under
    its own name (where it is defined, and where its ``__module__`` says it is: pickling by
    reference finds it there), so that one object answers for both."""
    if isinstance(owner, type) and isinstance(vars(owner).get(attr), staticmethod):
        wrapper = staticmethod(wrapper)  # (called on an instance, it gets no ``self``)
    setattr(owner, attr, wrapper)
    name = getattr(real, "__name__", attr)
    homes = {getattr(real, "__module__", None), getattr(real, "__globals__", {}).get("__name__")}
    for home in filter(None, homes):
        module = sys.modules.get(home)
        if (
            module is not None
            and not isinstance(owner, type)
            and getattr(module, name, None) is real
        ):
            setattr(module, name, wrapper)


def _wrapper(real: Callable[..., Any], after: int = 0, uri: bool = False) -> Callable[..., Any]:
    """``real``, telling the recorder the file it gets: its first argument after ``after``
    (``self``, for an ``__init__``) or a keyword naming it; with ``uri``, without what
    follows a ``?`` or a ``#``."""

    @functools.wraps(real)
    def reader(*args: Any, **kwargs: Any) -> Any:
        sink = _sink()
        if sink is not None:
            path = _given(args, kwargs, after, (str, os.PathLike, list, tuple))
            if uri and isinstance(path, str):
                path = path.partition("?")[0].partition("#")[0]
            for one in path if isinstance(path, list | tuple) else [path]:
                _report(sink, on_disk(kwargs.get("filesystem"), one))
            try:
                return real(*args, **kwargs)
            except Exception as exc:
                _name_missing(exc, on_disk(kwargs.get("filesystem"), path))
                raise
        return real(*args, **kwargs)

    return reader


def _given(
    args: tuple[Any, ...], kwargs: dict[str, Any], after: int, kinds: tuple[type, ...]
) -> Any:
    """The path a reader is given: its first argument after ``after`` when of ``kinds``, else
    the first keyword of ``PATH_KEYWORDS`` (``lgb.Booster(params, model_file=...)``)."""
    path = args[after] if len(args) > after else None
    if not isinstance(path, kinds):
        path = next((kwargs[k] for k in PATH_KEYWORDS if k in kwargs), None)
    return path


def _moded(real: Callable[..., Any], after: int, name: str) -> Callable[..., Any]:
    """``real`` (reader ``name`` of ``readertable.MODED``), telling the recorder the file it
    gets (its first argument after ``after``) by the mode it gets: read in a read mode,
    written in a write-only one, a database's otherwise (read, unless the step changes it)."""
    spec = READERS[name].mode
    assert spec is not None
    position, keyword, default = spec

    @functools.wraps(real)
    def opener(*args: Any, **kwargs: Any) -> Any:
        sink = _sink()
        path = _given(args, kwargs, after, (str, os.PathLike))
        if sink is None or not isinstance(path, str | os.PathLike):
            return real(*args, **kwargs)  # (an open file, a buffer: read through Python)
        at = after + position
        mode = kwargs.get(keyword, args[at] if len(args) > at else default)
        where = os.fsdecode(path)
        if mode in WRITE_ONLY_MODES:
            before = _files(where)
            result = real(*args, **kwargs)
            _wrote(sink, where, before)
            return result
        if mode in READ_MODES:
            _report(sink, where)
        else:  # the file is its own log: there is none beside it
            sink.connecting(where, where)
        try:
            return real(*args, **kwargs)
        except Exception as exc:
            _name_missing(exc, where)
            raise

    return opener


def _trainer(real: Callable[..., Any]) -> Callable[..., Any]:
    """``real``, a trainer (``readertable.TRAINERS``), telling the recorder the files its
    flags name: its corpus read, its model written."""

    @functools.wraps(real)
    def train(*args: Any, **kwargs: Any) -> Any:
        sink = _sink()
        if sink is None:
            return real(*args, **kwargs)
        inputs, outputs = trainer_files(args[0] if args else kwargs.get("arg"), kwargs)
        for path in inputs:
            _report(sink, path)
        before = {path: _files(path) for path in outputs}
        result = real(*args, **kwargs)
        for path in outputs:
            _wrote(sink, path, before[path])
        return result

    return train


def _name_missing(exc: Exception, path: Any) -> None:
    """Have ``exc``, which a reader given ``path`` raised, name the file when it is not there
    and the error does not (pandas' ``FileNotFoundError(path)``, XGBoost's own error type):
    the step then runs again once the steps that may write it have run. Its type and text
    stay as they are."""
    if getattr(exc, "filename", None) or not isinstance(path, str | os.PathLike):
        return
    with contextlib.suppress(TypeError, ValueError, AttributeError):
        if not os.path.lexists(path):
            setattr(exc, MISSING, os.fsdecode(path))


def _wrap_init(cls: Any, wrap: Callable[[Callable[..., Any]], Callable[..., Any]]) -> None:
    """Give the class ``cls`` the ``__init__`` ``wrap`` makes of its own (which reports the file
    it gets), when that ``__init__`` is a Python function its class can be given a wrapper
    of."""
    init = vars(cls).get("__init__") if isinstance(cls, type) else None
    if isinstance(init, types.FunctionType):
        wrapper = wrap(init)
        cls.__init__ = wrapper
        _wrappers[id(init)] = (init, wrapper)


def _writer(real: Callable[..., Any], position: int) -> Callable[..., Any]:
    @functools.wraps(real)
    def writer(*args: Any, **kwargs: Any) -> Any:
        sink = _sink()
        if sink is None:
            return real(*args, **kwargs)
        named = (kwargs[k] for k in (*PATH_KEYWORDS, "where", "dest") if k in kwargs)
        path = args[position] if len(args) > position else next(named, None)
        path = on_disk(kwargs.get("filesystem"), path)
        where = os.fsdecode(path) if isinstance(path, str | os.PathLike) else None
        before = _files(where) if where is not None else {}
        result = real(*args, **kwargs)
        if where is not None:
            _wrote(sink, where, before)
        return result

    return writer


def _files(path: str) -> dict[str, tuple[int, int]]:
    """The files under folder ``path`` with their (modification time, size); none for a
    file or nothing."""
    found = {}
    for folder, _, names in os.walk(path):  # (nothing when ``path`` is no folder)
        for name in names:
            full = os.path.join(folder, name)
            with contextlib.suppress(OSError):
                st = os.stat(full)
                found[full] = (st.st_mtime_ns, st.st_size)
    return found


def _wrote(sink: Sink, path: str, before: dict[str, tuple[int, int]]) -> None:
    """Tell ``sink`` the files a writer wrote at ``path``: the file, or each file under the
    folder it wrote (a dataset partitioned by a column: ``k=x/<id>-0.parquet``) that is new
    or changed since ``before`` (``_files``: what it held before the call)."""
    if not os.path.isdir(path):
        sink.event(path, "w", _WRITE)
        return
    for full, stamp in _files(path).items():
        if before.get(full) != stamp:
            sink.event(full, "w", _WRITE)


def _sql_reader(real: Callable[..., Any], position: int) -> Callable[..., Any]:
    @functools.wraps(real)
    def runs_sql(*args: Any, **kwargs: Any) -> Any:
        sink = _sink()
        query = args[position] if len(args) > position else kwargs.get("query")
        if sink is not None and isinstance(query, str):
            for path in sql_files(query):
                _report(sink, path)
        return real(*args, **kwargs)

    return runs_sql


def _connector(real: Callable[..., Any], log: str) -> Callable[..., Any]:
    @functools.wraps(real)
    def connect(*args: Any, **kwargs: Any) -> Any:
        sink = _sink()
        if sink is not None:
            given = args[0] if args else kwargs.get("database")
            path = database_file(given, bool(kwargs.get("uri")))
            if path is not None:
                sink.connecting(path, path + log)  # before: connecting may create the file
        return real(*args, **kwargs)

    return connect


def report(path: Any) -> None:
    """Tell the recorder of the running step, if any, the files ``path`` names, as a reader
    given it would (a lazy handle's: ``incr.lazyfiles``)."""
    sink = _sink()
    if sink is not None:
        _report(sink, path)


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
    if os.path.isdir(text):
        for folder, _, files in os.walk(text):
            sink.listed(folder)
            for name in files:
                sink.event(os.path.join(folder, name), "r", os.O_RDONLY)
    elif _GLOB.isdisjoint(text) or os.path.exists(text):
        sink.event(text, "r", os.O_RDONLY)
    else:
        start = text[: min(text.index(c) for c in _GLOB if c in text)]
        folder = os.path.dirname(start) or "."
        for top, _, _ in os.walk(folder) if "**" in text else [(folder, [], [])]:
            sink.listed(top)
        for match in glob.glob(text, recursive=True):
            sink.event(match, "r", os.O_RDONLY)
