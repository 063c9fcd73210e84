"""Which environment variables the project's own code reads, seen by wrapping ``os.environ``.

``os.environ[name]``, ``os.environ.get``, ``os.getenv``, ``name in os.environ``,
``os.environ.setdefault`` and ``pop`` all look the name up through ``os._Environ.__getitem__``.
While a recording is active that method is replaced, at class level, by one that tells each
active sink the name and the frame that asked; the original is put back when the last
recording ends.

A read counts when the first frame outside ``os`` and ``collections.abc`` runs a file under
the project root that is not in a hidden folder, an installed package (``site-packages``,
``dist-packages``, a virtualenv inside the project) or incr itself, or the code of a local
package outside the project (a shared library on ``PYTHONPATH``, which counts by its files
too: see ``incr.localpackages``). One the standard library or an installed package makes
counts when it makes it for such code (``for_project``: click's ``envvar=``, OmegaConf's
``oc.env``, decouple), unless the variable is one of the machine's (``envlibs.ambient``:
``tempfile`` asking for ``TMPDIR``, numpy for ``OMP_NUM_THREADS``) that no string of the
project's code names: a step that depends on one declares it with ``@step(env=[...])``.
Copying the whole environment (``os.environ.copy()``, ``.items()``, ``dict(os.environ)``:
C code going through it) is no read of one variable: a library's copy counts by the names
``envlibs.bulk_names`` gives (``bulk_counts``), the project's own by none. The reads of a
child process incr does not follow are not seen: declare those too.

What is kept for a variable is a digest of its value (``env_value``), never the value: it may
be a secret.
"""

from __future__ import annotations

import _collections_abc
import contextlib
import dis
import os
import sys
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any

from incr import envlibs, outside
from incr.fingerprint import digest_bytes
from incr.model import UNSET

if TYPE_CHECKING:
    from incr.readrelay import Relay

#: A sink is told each variable name read and the frame of the project code that read it.
Sink = Callable[[str, FrameType], None]

_ORIGINAL = os._Environ.__getitem__
_ORIGINAL_SET = os._Environ.__setitem__
_ORIGINAL_DEL = os._Environ.__delitem__
#: Files of the machinery between a caller and ``__getitem__`` (``get``, ``getenv``, ``in``).
_MACHINERY = frozenset(
    {
        *(os.path.normcase(os.path.abspath(f)) for f in (os.__file__, _collections_abc.__file__)),
        "<frozen os>",  # Python 3.11+ runs them frozen
        "<frozen _collections_abc>",
    }
)
#: Machinery functions that go through every variable: a copy, not a read of one.
_BULK = frozenset(
    {"copy", "__iter__", "__eq__", "__or__", "__ror__", "items", "values", "popitem", "clear"}
)
_INCR_DIRS = tuple(
    {os.path.join(os.path.dirname(f(__file__)), "") for f in (os.path.abspath, os.path.realpath)}
)

#: Folder names that hold installed packages or caches, not project code.
_INSTALLED = frozenset({"site-packages", "dist-packages", "__pycache__"})

_lock = threading.Lock()
_sinks: tuple[Sink, ...] = ()


def env_value(name: str, environ: Mapping[str, str] | None = None) -> str:
    """What ``LockEntry.reads`` records for an environment variable: a digest of its value in
    ``environ`` (default: ``os.environ``), never the value itself, or ``unset`` (for
    ``PREFIX*``, of the variables whose name starts with it: ``envlibs.prefixed_value``)."""
    environ = os.environ if environ is None else environ
    if name.endswith("*"):  # a prefix (see ``envlibs.bulk_names``)
        return envlibs.prefixed_value(name[:-1], environ)
    value = environ.get(name)
    return UNSET if value is None else digest_bytes(value.encode("utf-8", "surrogateescape"), 32)


#: Variables set or removed (None) by what discovery ran, by name (``changes``).
EnvChanges = tuple[tuple[str, "str | None"], ...]


def changes(before: Mapping[str, str], after: Mapping[str, str]) -> EnvChanges:
    """The variables ``after`` holds with other values than ``before`` (None: removed): what
    the pipeline modules and main blocks set as discovery ran them (``os.environ["N"] =
    args.n`` before a ``.run()``), which the steps then see."""
    names = sorted({*before, *after})
    return tuple((n, after.get(n)) for n in names if before.get(n) != after.get(n))


def overlay(environ: dict[str, str], shell: Mapping[str, str], changed: EnvChanges) -> None:
    """Make ``environ`` the ``shell`` environment with ``changed`` (see ``changes``)."""
    environ.clear()
    environ.update(shell)
    for name, value in changed:
        if value is None:
            environ.pop(name, None)
        else:
            environ[name] = value


def give_process(values: EnvChanges) -> None:
    """Set (None: remove) these variables in this process's environment."""
    for name, value in values:
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value


def is_incr_file(filename: str) -> bool:
    """True for a file of incr's own package."""
    return filename.startswith(_INCR_DIRS)


def is_local_code(path: str) -> bool:
    """True for a code file (outside the project) of local code, such as a shared library on
    ``PYTHONPATH``: not Python's, an installed package's, a tool's (see ``incr.outside``) or
    incr's."""
    return not is_incr_file(path) and outside.counts(os.path.dirname(path))


class ProjectFiles:
    """Answers, with a memo, whether a code file is one of the project's own."""

    def __init__(self, root: Path) -> None:
        self.root = os.path.join(os.path.realpath(root), "")
        prefixes = {sys.prefix, sys.base_prefix, sys.exec_prefix}
        # A virtualenv inside the project holds installed packages, not project code.
        self.skip = tuple(
            os.path.join(os.path.realpath(p), "")
            for p in prefixes
            if os.path.join(os.path.realpath(p), "").startswith(self.root)
        )
        self._known: dict[str, str | None] = {}
        self._local: dict[str, bool] = {}

    def reads_count(self, filename: str) -> bool:
        """True when the environment variables code in ``filename`` reads count: a project
        file, or the code of a local package outside the project (a shared library on
        ``PYTHONPATH``: see ``incr.localpackages``); not Python's, an installed package's or
        incr's."""
        known = self._local.get(filename)
        if known is None:
            known = self.rel(filename) is not None
            if not known and not filename.startswith("<"):
                full = os.path.realpath(filename)
                known = not full.startswith(self.root) and is_local_code(full)
            self._local[filename] = known
        return known

    def rel(self, filename: str) -> str | None:
        """The POSIX path of ``filename`` relative to the root when it is a project file."""
        if filename in self._known:
            return self._known[filename]
        found = None
        if not filename.startswith("<") and not is_incr_file(filename):
            full = os.path.realpath(filename)
            if full.startswith(self.root) and not full.startswith(self.skip):
                parts = Path(full[len(self.root) :]).parts
                if not any(p.startswith(".") or p in _INSTALLED for p in parts):
                    found = Path(*parts).as_posix()
        self._known[filename] = found
        return found


_shared: dict[str, ProjectFiles] = {}


def project_files(root: Path) -> ProjectFiles:
    """The ``ProjectFiles`` of ``root``, one per process: its answers hold as long as the
    files stay where they are, and every step's recorders ask the same questions."""
    key = str(root)
    found = _shared.get(key)
    if found is None:
        found = _shared[key] = ProjectFiles(root)
    return found


def caller(frame: FrameType | None) -> FrameType | None:
    """The frame that asked for a variable, above the ``os``/``collections.abc`` machinery;
    None for a whole-environment copy."""
    while frame is not None and frame.f_code.co_filename in _MACHINERY:
        if frame.f_code.co_name in _BULK:
            return None
        frame = frame.f_back
    return frame


def for_project(frame: FrameType | None, files: ProjectFiles, local: bool = True) -> bool:
    """Whether the code in ``frame`` (a library's) runs for the project's code: from it up,
    a frame of project code (or, when ``local``, of a local package: ``reads_count``) comes
    before any of incr's (a step, a module being imported)."""
    while frame is not None:
        filename = frame.f_code.co_filename
        if is_incr_file(filename):
            return False
        if files.reads_count(filename) if local else files.rel(filename) is not None:
            return True
        frame = frame.f_back
    return False


_modules_seen: tuple[int, list[str]] = (-1, [])


def project_words(frame: FrameType | None, files: ProjectFiles) -> envlibs.Words:
    """The words of the project's code (see ``envlibs.Words``): of the project modules
    imported, and of the project files running on the stack from ``frame`` up (a script)."""
    global _modules_seen
    if _modules_seen[0] != len(sys.modules):
        found = [getattr(m, "__file__", None) for m in list(sys.modules.values())]
        paths = [f for f in found if isinstance(f, str) and files.reads_count(f)]
        _modules_seen = (len(sys.modules), paths)
    paths = list(_modules_seen[1])
    while frame is not None:
        if files.reads_count(frame.f_code.co_filename):
            paths.append(frame.f_code.co_filename)
        frame = frame.f_back
    return envlibs.words_of(paths)


def counts(name: str, frame: FrameType, files: ProjectFiles) -> bool:
    """Whether the lookup of ``name`` by the code in ``frame`` counts: made by the project's
    code, or by a library's for it unless ``name`` is the machine's (``envlibs.ambient``)
    and the project's code does not spell it."""
    if files.reads_count(frame.f_code.co_filename):
        return True
    if not for_project(frame, files):
        return False
    return not envlibs.ambient(name) or name in project_words(frame, files).named


def bulk_counts(frame: FrameType, files: ProjectFiles) -> set[str]:
    """The names (``PREFIX*`` globs too) a library's copy of the whole environment, made by
    the code in ``frame`` for the project's, counts by (``envlibs.bulk_names``); none for a
    copy the project's code makes (the environment of a process it starts, whose own reads
    count: ``incr.readrelay``) or one made for incr."""
    if files.reads_count(frame.f_code.co_filename) or not for_project(frame, files):
        return set()
    return envlibs.bulk_names(project_words(frame, files), os.environ, frame)


_last_bulk = threading.local()


def _getitem(self: Any, key: Any) -> Any:
    sinks = _sinks
    if sinks:
        start = sys._getframe(1)
        frame = caller(start)
        if frame is not None and (frame is not start or _subscript(frame)):
            name = os.fsdecode(key) if isinstance(key, bytes) else str(key)
            for sink in sinks:
                sink(name, frame)
        else:
            _bulk(start, sinks)
    return _ORIGINAL(self, key)


def _subscript(frame: FrameType) -> bool:
    """Whether ``frame`` runs ``os.environ[name]`` itself, not C code going through every
    variable (``dict(os.environ)``, ``{**os.environ}``, ``env.update(os.environ)``)."""
    code = frame.f_code.co_code
    return frame.f_lasti < len(code) and code[frame.f_lasti] in _SUBSCRIPTS


_SUBSCRIPTS = frozenset(dis.opmap[n] for n in ("BINARY_SUBSCR", "BINARY_OP") if n in dis.opmap)


def _bulk(start: FrameType, sinks: tuple[Sink, ...]) -> None:
    """Tell the sinks that take them (``bulk``) of a copy of the whole environment, once per
    copy (its every variable comes through ``_getitem``), with the frame that made it."""
    frame: FrameType | None = start
    copying = start
    while frame is not None and frame.f_code.co_filename in _MACHINERY:
        if frame.f_code.co_name in _BULK:
            copying = frame
        frame = frame.f_back
    if frame is None or getattr(_last_bulk, "copy", None) == (copying, copying.f_lasti):
        return
    _last_bulk.copy = (copying, copying.f_lasti)
    for sink in sinks:
        bulk = getattr(sink, "bulk", None)
        if bulk is not None:
            bulk(frame)


def _setitem(self: Any, key: Any, value: Any) -> None:
    _wrote(key)
    _ORIGINAL_SET(self, key, value)


def _delitem(self: Any, key: Any) -> None:
    _wrote(key)
    _ORIGINAL_DEL(self, key)


def _wrote(key: Any) -> None:
    """Tell the sinks that take writes (``wrote``) about a variable set or removed, with the
    frame that did it (``os.environ["X"] = ...``, ``setdefault``, ``pop``)."""
    frame = caller(sys._getframe(2))
    if frame is not None:
        name = os.fsdecode(key) if isinstance(key, bytes) else str(key)
        for sink in _sinks:
            wrote = getattr(sink, "wrote", None)
            if wrote is not None:
                wrote(name, frame)


def start(sink: Sink) -> None:
    """Tell ``sink`` about every variable read (and set, when it has ``wrote``) from now on
    (until ``stop``)."""
    global _sinks
    with _lock:
        _sinks = (*_sinks, sink)
        os._Environ.__getitem__ = _getitem  # type: ignore[method-assign]
        os._Environ.__setitem__ = _setitem  # type: ignore[method-assign]
        os._Environ.__delitem__ = _delitem  # type: ignore[method-assign]


def stop(sink: Sink) -> None:
    global _sinks
    with _lock:
        _sinks = tuple(s for s in _sinks if s is not sink)
        if not _sinks:
            _last_bulk.copy = None
            os._Environ.__getitem__ = _ORIGINAL  # type: ignore[method-assign]
            os._Environ.__setitem__ = _ORIGINAL_SET  # type: ignore[method-assign]
            os._Environ.__delitem__ = _ORIGINAL_DEL  # type: ignore[method-assign]


#: The environment as the run's steps started with it (``mark_run_start``): the pipeline
#: modules imported, no step run yet.
_at_run_start: dict[Any, Any] | None = None


def mark_run_start() -> None:
    """Note the environment as it is now, before a run's first step (see ``EnvRecorder``)."""
    global _at_run_start
    _at_run_start = dict(os.environ._data)  # type: ignore[attr-defined]


class EnvRecorder:
    """The names of the variables project code read while it was active, and of those among
    them that an earlier step of the run set (``set_before``): that value is the process's,
    not the environment's, and depends on which steps ran."""

    def __init__(self, root: Path) -> None:
        self.files = project_files(root)
        self.names: set[str] = set()
        self.set_before: set[str] = set()
        #: The variables project code set or removed (``jobrun`` puts them back after the step).
        self.set_here: set[str] = set()
        #: The environment when the recorder started, as ``os.environ`` holds it (encoded).
        self.at_start: dict[Any, Any] = dict(os.environ._data)  # type: ignore[attr-defined]
        #: Where a process forked from the step reports (``incr.readrelay``), if any.
        self.relay: Relay | None = None
        #: In a process a step started: the variables the step gave it other values than its
        #: own (``env={**os.environ, "SEED": "1"}``), which are the step's choice, not inputs.
        self.given: frozenset[str] = frozenset()

    def __call__(self, name: str, frame: FrameType) -> None:
        if name not in self.given and counts(name, frame, self.files):
            self.add(name)

    def bulk(self, frame: FrameType) -> None:
        """A copy of the whole environment (see ``bulk_counts``)."""
        for name in sorted(bulk_counts(frame, self.files) - self.given):
            self.add(name)

    def add(self, name: str) -> None:
        """Note a variable read (``PREFIX*``: those whose name starts with it)."""
        if self.relay is not None and self.relay.fd is not None:
            self.relay.send("env", name)  # in a forked child
            return
        self.names.add(name)
        if _at_run_start is not None:
            with contextlib.suppress(Exception):  # a name os.environ cannot encode
                key = os.environ.encodekey(name)
                now = os.environ._data.get(key)  # type: ignore[attr-defined]
                if now != _at_run_start.get(key) and self.at_start.get(key) == now:
                    self.set_before.add(name)

    def wrote(self, name: str, frame: FrameType) -> None:
        if self.files.reads_count(frame.f_code.co_filename) or _called_for(frame, self.files):
            self.set_here.add(name)

    def restore(self) -> list[str]:
        """Put back as they were when the recorder started the variables project code set or
        removed (``set_here``); the names of those that changed, sorted."""
        data = os.environ._data  # type: ignore[attr-defined]
        changed = []
        for name in sorted(self.set_here):
            with contextlib.suppress(Exception):  # a name os.environ cannot encode
                key = os.environ.encodekey(name)
                before = self.at_start.get(key)
                if data.get(key) == before:
                    continue
                changed.append(name)
                if before is None:
                    os.unsetenv(key)
                    del data[key]
                else:
                    os.putenv(key, before)
                    data[key] = before
        return changed


def _called_for(frame: FrameType | None, files: ProjectFiles) -> bool:
    """Whether a library's code in ``frame`` was called by the project's (``load_dotenv()`` in
    a step), not run by an import (``KMP_INIT_AT_FORK``, which scikit-learn sets when
    imported, stays set for the steps after) or for incr."""
    while frame is not None:
        code = frame.f_code
        if is_incr_file(code.co_filename):
            return False
        if files.reads_count(code.co_filename):
            return True
        if code.co_name == "<module>" or code.co_filename.startswith("<frozen importlib"):
            return False
        frame = frame.f_back
    return False


@contextmanager
def recording(root: Path) -> Iterator[EnvRecorder]:
    """Record the variables project code under ``root`` reads inside the block."""
    recorder = EnvRecorder(root)
    start(recorder)
    try:
        yield recorder
    finally:
        stop(recorder)
