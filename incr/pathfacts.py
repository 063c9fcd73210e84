"""What a listing or an existence test of a path answers now, and which of a folder's files
is the newest: the values a step's ``ls:DIR``, ``exists:PATH`` and ``mtimes:DIR`` reads are
recorded and compared by (``incr.reads``, ``incr.learned``), and the prefixes a recorder tells
the project's paths and incr's own by (``prefixes``).

Both read the file system through the functions ``os`` had when incr was imported, never
through the wrappers ``incr.reads`` installs while a step runs: incr's own looks are no step's.
"""

from __future__ import annotations

import functools
import json
import os
import stat as stat_module
import sys
from collections.abc import Collection, Iterable, Mapping
from pathlib import Path
from typing import Any

from incr.envreads import is_incr_file
from incr.fingerprint import digest_bytes
from incr.outside import TOOLING

_REAL_STAT = os.stat
_REAL_READLINK = os.readlink  # not the wrapper a step's recording puts in (``statreads``)
_REAL_LISTDIR = os.listdir
MISSING = "missing"
#: The largest file whose bytes ``held_bytes`` keeps.
HELD_LIMIT = 1 << 20


def held_bytes(full: str, size: int) -> bytes | None:
    """The bytes file ``full`` holds, of ``size`` (-1: absent); None when it is absent or
    larger than ``HELD_LIMIT`` (what a step read and then writes anew: ``incr.appendbase``)."""
    if not 0 <= size <= HELD_LIMIT:
        return None
    try:
        with open(full, "rb") as fh:
            return fh.read(HELD_LIMIT + 1)
    except OSError:
        return None


def listing_digest(folder: str, skip: Collection[str] = ()) -> str:
    """What a listing of ``folder`` records: a digest of its sorted names (leaving out the
    absolute paths in ``skip``: incr's own cache and lockfile), or ``missing`` when it is not
    a folder."""
    try:
        names = _REAL_LISTDIR(folder)
    except OSError:
        return MISSING
    base = os.path.normpath(folder)
    kept = sorted(n for n in names if os.path.join(base, n) not in skip)
    return digest_bytes("\0".join(kept).encode("utf-8", "surrogateescape"), 32)


def existence(path: str, sized: bool = False) -> str:
    """``file``, ``dir`` or ``missing``: what an existence test of ``path`` answers (links
    followed); with ``sized``, a file as ``file:SIZE`` (see ``tested_value``)."""
    try:
        st = _REAL_STAT(path)
    except (OSError, ValueError):
        return MISSING
    return _found(st, sized)


def _found(st: os.stat_result, sized: bool) -> str:
    """``dir``, ``file`` or (``sized``) ``file:SIZE`` for what a stat found."""
    if stat_module.S_ISDIR(st.st_mode):
        return "dir"
    return f"file:{st.st_size}" if sized else "file"


def link_value(full: str) -> str:
    """``link:TARGET`` for a symbolic link (a ``data/current`` pointing at a dated folder,
    whose name a step may take), else what an existence test finds."""
    try:
        return f"link:{_REAL_READLINK(full)}"
    except (OSError, ValueError):
        return existence(full)


def value_now(full: str, then: str) -> str:
    """What a test that found ``then`` finds now: of the same kind (a link's target, a
    file's size, or what is there)."""
    if then.startswith("link:"):
        return link_value(full)
    return existence(full, then.startswith("file:"))


def tested_value(full: str, result: os.stat_result | None, frame: Any) -> str:
    """What a step's ``os.stat`` of ``full`` found (``result``; None: nothing there):
    ``missing``, ``dir``, ``file``, or ``file:SIZE`` when the code asking may read the size
    (``os.path.getsize``, ``Path.stat()``, ``os.stat`` called directly: see ``asks_time``):
    a step that lists the files that are not empty, or that reports a file's size, depends
    on it. A link the code looked at itself (an ``lstat``) counts by its target."""
    if result is None:
        return MISSING
    sized = asks_time(frame, _SIZES)
    if stat_module.S_ISLNK(result.st_mode):  # an ``lstat``: ``Path.resolve()``, ``islink``
        return link_value(full)
    return _found(result, sized)


#: Modules whose functions call ``os.stat`` for a caller (see ``asks_time``).
_PATH_MODULES = frozenset({"genericpath", "posixpath", "ntpath"})
_PATHLIB = frozenset({"pathlib", "pathlib._local", "pathlib._abc"})
#: Standard-library modules between a listing or an existence test and the code that made it.
PASS_THROUGH = frozenset({"os", "glob", "fnmatch", *_PATH_MODULES, *_PATHLIB})
#: Functions of those modules whose own stat calls are no test the step's result depends on
#: (``makedirs(exist_ok=True)`` checks whether the folder is there only when it was).
CREATING = frozenset({"makedirs", "mkdir", "removedirs", "renames"})
_TIMES = frozenset({"getmtime", "getctime", "getatime"})
_SIZES = frozenset({"getsize"})
#: Top-level packages whose listings find code, not data: the import system, package metadata,
#: incr itself, test runners. Other code outside the project lists what a step reads (a
#: dataset folder for ``sklearn.datasets.load_files``, the source of ``shutil.copytree``).
MACHINERY = frozenset(
    {
        "importlib",
        "importlib_metadata",
        "importlib_resources",
        "pkgutil",
        "pkg_resources",
        "zipimport",
        "site",
        "sysconfig",
        "setuptools",
        "distutils",
        "_distutils_hack",
        "incr",
        "_pytest",
        "pytest",
        "coverage",
    }
)


def caller(frame: Any) -> Any:
    """The first frame from ``frame`` on outside the standard library's path modules: the
    code that asked for a listing or a test; None on the way to creating or removing folders
    (``makedirs(exist_ok=True)``) or when no such frame is left."""
    while frame is not None and frame.f_globals.get("__name__") in PASS_THROUGH:
        if frame.f_code.co_name in CREATING:
            return None
        frame = frame.f_back
    return frame


def by_project(frame: Any, code: Any) -> bool:
    """Whether ``frame`` (a ``caller``) runs a project file (``code``: the project's files:
    not incr's, nor in a hidden folder, a virtualenv or site-packages)."""
    return frame is not None and code.rel(frame.f_code.co_filename) is not None


#: incr's modules between a file opened and the code that opened it: the audit hooks, the
#: wrappers of readers written in C (``incr.nativereads``).
_HOOKS = frozenset({"incr.reads", "incr.importreads", "incr.nativereads"})
_STDLIB = frozenset(sys.stdlib_module_names)
_VARARGS, _VARKEYWORDS = 0x04, 0x08  # ``inspect.CO_VARARGS``, ``inspect.CO_VARKEYWORDS``


def project_opens(frame: Any, code: Any, full: str) -> bool:
    """Whether the project's code (``code.reads_count``: a project file, a local package's)
    opens the file ``full`` opened from ``frame`` on (past incr's hooks): directly or through
    the standard library (``open``, ``Path.read_text``, ``ConfigParser.read``), or through a
    library it gave the file's path to (``pd.read_csv(path)``: an argument of the call it made).
    Not what a library opens for itself (matplotlib's settings, a model in a cache folder the
    project named), nor the import system or incr."""
    below, library = None, False
    while frame is not None:
        name = str(frame.f_globals.get("__name__"))
        if name not in _HOOKS:
            if code.reads_count(frame.f_code.co_filename):
                return not library or _given(below, full)
            top = name.partition(".")[0]
            if top in MACHINERY or is_incr_file(frame.f_code.co_filename):
                return False
            below, library = frame, library or top not in _STDLIB
        frame = frame.f_back
    return False


def _given(frame: Any, full: str) -> bool:
    """Whether the call running in ``frame`` was given the path ``full`` as an argument (by
    itself, in a list or tuple, in ``*args`` or ``**kwargs``)."""
    code = frame.f_code
    count = code.co_argcount + code.co_kwonlyargcount
    count += bool(code.co_flags & _VARARGS) + bool(code.co_flags & _VARKEYWORDS)
    values = frame.f_locals
    for name in code.co_varnames[:count]:
        value = values.get(name)
        for one in value.values() if isinstance(value, dict) else [value]:
            for path in one if isinstance(one, list | tuple) else [one]:
                if isinstance(path, str | os.PathLike) and _names(path, full):
                    return True
    return False


def _names(path: Any, full: str) -> bool:
    try:
        text = os.fsdecode(path)
    except (TypeError, ValueError):
        return False
    return len(text) < 4096 and os.path.abspath(os.path.expanduser(text)) == full


def library_test(frame: Any, code: Any, path: Any, root: str) -> bool:
    """Whether an existence test or a stat of ``path`` by a library's code (``frame``, a
    ``caller``) counts: one of a path under ``root`` (ending with a separator) and no Python
    source (``linecache``, ``inspect``) that any code but incr's makes, for the project's code
    or on a thread of its own (python-dotenv looking for ``.env``, ``filecmp.cmp``, jinja's
    search path, ``pool.map(os.path.exists, paths)``)."""
    if frame is None or not isinstance(path, (str, bytes, os.PathLike)):
        return False
    full = os.path.abspath(os.fsdecode(path))
    return (
        full.startswith(root)
        and not full.endswith((".py", ".pyc"))
        and by_library(frame)
        and not for_incr(frame, code)
    )


def for_incr(frame: Any, code: Any) -> bool:
    """Whether the code in ``frame`` runs for incr's: from it up, a frame of incr's comes
    before any of the project's (``code``)."""
    while frame is not None:
        filename = frame.f_code.co_filename
        if is_incr_file(filename):
            return True
        if code.rel(filename) is not None:
            return False
        frame = frame.f_back
    return False


def by_library(frame: Any) -> bool:
    """Whether ``frame`` (a ``caller``, not the project's) runs code that lists data."""
    return str(frame.f_globals.get("__name__")).partition(".")[0] not in MACHINERY


def asks_time(frame: Any, functions: frozenset[str] = _TIMES) -> bool:
    """Whether the ``os.stat`` that code in ``frame`` called may be asked for a file's times
    (``max(files, key=os.path.getmtime)``, ``p.stat().st_mtime``): ``os.path.getmtime``,
    ``getctime`` or ``getatime`` (or the other ``functions`` of ``os.path`` given: those
    asking the size), ``Path.stat()`` called from outside ``pathlib``, ``os.stat`` called
    directly. Not: an existence test (``os.path.exists``, ``Path.is_file()``...), a
    listing's own looks (``glob``)."""
    module = frame.f_globals.get("__name__")
    if module in _PATH_MODULES:
        return frame.f_code.co_name in functions
    if module in _PATHLIB:
        caller = frame.f_back
        outside = caller is None or caller.f_globals.get("__name__") not in _PATHLIB
        return frame.f_code.co_name in ("stat", "lstat") and outside
    return module not in ("os", "glob", "fnmatch", "shutil")


def times_order(folder: str, names: Iterable[str], known: Mapping[str, int] | None = None) -> str:
    """The value of an ``mtimes:DIR`` read: the names of files of ``folder`` a step asked the
    times of, newest last (by modification time, then name), as a JSON list; by the times in
    ``known`` (nanoseconds, by name), else as they are now (a file gone first)."""

    def mtime(name: str) -> int:
        if known is not None and name in known:
            return known[name]
        try:
            return _REAL_STAT(os.path.join(folder, name)).st_mtime_ns
        except OSError:
            return -1

    return json.dumps(sorted(names, key=lambda name: (mtime(name), name)))


def entry_of(path: str, folder: str) -> bool:
    """True when changing ``path`` may change the names listed in ``folder``."""
    return os.path.dirname(path) == folder or within(folder, path)


def within(path: str, other: str) -> bool:
    return path == other or path.startswith(os.path.join(other, ""))


def stamp(path: str) -> tuple[int, ...] | None:
    """What tells a file's bytes changed without reading them: size, times, inode; None when
    there is no such file, and ``()`` for a folder (opened to list or remove what it holds:
    ``shutil.rmtree``), which has no bytes a step reads."""
    try:
        st = _REAL_STAT(path)
    except OSError:
        return None
    if stat_module.S_ISDIR(st.st_mode):
        return ()
    return (st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino)


@functools.cache
def prefixes(
    root: str, exclude: tuple[str, ...]
) -> tuple[str, tuple[str, ...], frozenset[str], tuple[str, ...]]:
    """``root/``, each ``root/EXCLUDED/``, the excluded paths themselves, and each
    ``root/EXCLUDED/artifacts/`` (the folders ``StepContext.get_output_artifact_uri`` gives
    steps: what a step reads there counts). Computed once per root: a recorder is made for
    each step."""
    own = frozenset(os.path.normpath(os.path.join(root, e)) for e in exclude)
    folders = tuple(os.path.join(root, e, "") for e in exclude)
    return os.path.join(root, ""), folders, own, tuple(f + "artifacts" + os.sep for f in folders)


_VENVS, _METADATA = frozenset({".venv", ".tox", ".nox"}), (".egg-info", ".dist-info")


def is_tooling(root: str, full: str, venvs: dict[str, bool]) -> bool:
    """True for a path under ``root/`` inside version control, a virtualenv (named so, or
    holding a ``pyvenv.cfg``: ``venvs`` remembers the folders asked), installed packages or
    package metadata: read by Python's machinery (importlib.metadata, entry points)."""
    parts = Path(full[len(root) :]).parts if full.startswith(root) else ()
    folder = root
    for part in parts:
        if part in TOOLING or part in _VENVS or part.endswith(_METADATA):
            return True
        folder = os.path.join(folder, part)
        known = venvs.get(folder)
        if known is None:
            try:
                _REAL_STAT(os.path.join(folder, "pyvenv.cfg"))
                known = True
            except OSError:
                known = False
            venvs[folder] = known
        if known:
            return True
    return False
