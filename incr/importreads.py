"""What project modules read while they are imported: files, and environment variables.

``PARAMS = yaml.safe_load(open("params.yaml"))`` at the top of a module makes ``params.yaml``
a fact of every step whose code uses ``PARAMS`` (directly, or through a definition that does:
``LR = PARAMS["lr"]``), and of no other. A read made by a top-level statement that does more
than bind names (a call, a loop, an import) is a fact of every step whose code uses the
module (any of its definitions). A path tested and found absent (``if
os.path.exists("data/m.json"):``, seen through ``incr.statreads`` while discovery records what
is read) counts as a file read, valued ``missing``: what the module made of it changes once it
is there, and a step writing it runs first (``incr.knownreads``).
While discovery imports the pipeline modules, each file opened (seen through an audit hook,
with the filters of ``incr.reads``) and each environment variable read by project code (seen
through ``incr.envreads``) is attributed to the project module being imported: the innermost
frame on the stack that runs a project file's module body. A helper function called at import
time thus counts for the module whose top-level code called it, and a module imported by
another keeps its own reads. Reads made below one of incr's own frames (a pipeline body being
traced, a step running) belong to no module.

The result, ``{module file: {lock key: value}}`` (``module file:NAME`` for the reads of a
statement binding ``NAME``), uses the keys of ``LockEntry.reads``:
``import:pipelines/lookup.py:params.yaml`` (value: the file's digest) and ``$NAME`` (value: a
digest of the variable's value, or ``unset``). It is kept in the graph cache, so a no-op
status knows it without importing anything.

When a script calls ``.run()`` itself, the modules were imported before incr was asked
anything: ``import incr`` starts a recorder for the script's project (``start_for_script``)
that stays on for the life of the process.
"""

from __future__ import annotations

import ast
import os
import sys
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from types import FrameType
from typing import Any

from incr import envreads, hooks, outside, statreads
from incr.model import ENV_PREFIX, EXISTS_PREFIX, IMPORT_PREFIX, MISSING
from incr.moduletop import bound_at
from incr.reads import ReadRecorder

#: Module file -> the lock keys (``import:...``, ``$NAME``) it read while imported, with values.
ImportFacts = dict[str, dict[str, str]]
#: A project module file and a line of its body.
Where = tuple[str, int]
#: What the recorders of this process saw, by project root: files read and variables, by
#: where (``ImportRecorder._with_earlier``).
_EARLIER: dict[str, tuple[dict[Where, list[str]], dict[Where, set[str]]]] = {}

_lock = threading.Lock()
_active: tuple[ImportRecorder, ...] = ()
_installed = False
_script: ImportRecorder | None = None


class ImportRecorder:
    """Files and variables read while project modules were imported, by module file."""

    def __init__(self, root: Path, exclude: tuple[str, ...] = (".git",)) -> None:
        self.root = root
        self.under = os.path.join(str(root), "")
        self.exclude = exclude
        self.files = envreads.project_files(root)
        #: By (module file, line of its body running then).
        self.opened: dict[tuple[str, int], ReadRecorder] = {}
        self.env: dict[tuple[str, int], set[str]] = {}
        #: Every variable project code read, in a module body or not (a traced pipeline body).
        self.env_names: set[str] = set()
        #: Module files whose body called a pipeline's ``.run()``: imported by then (``ran``).
        self.ran: set[str] = set()
        #: Each file's digest as ``facts`` first valued it: a script's second ``.run()``
        #: compares with it what a step of its first one may have rewritten since.
        self.valued: dict[str, str] = {}

    def module_of(self, frame: FrameType | None) -> str | None:
        """The project module whose body runs on the innermost such frame from ``frame`` up,
        or None (none, one of incr's frames comes first, or the body has run a pipeline)."""
        found = self.running(frame)
        return found[0] if found is not None else None

    def running(self, frame: FrameType | None) -> tuple[str, int] | None:
        """``module_of``, with the line its body runs."""
        while frame is not None:
            filename = frame.f_code.co_filename
            if envreads.is_incr_file(filename):
                return None
            if frame.f_code.co_name == "<module>":
                rel = self.files.rel(filename)
                if rel is not None:
                    return None if rel in self.ran else (rel, frame.f_lineno)
            frame = frame.f_back
        return None

    def ran_pipeline(self, frame: FrameType | None) -> None:
        """The module whose body runs on ``frame`` called a pipeline's ``.run()``: what it
        reads from now on (the run's results, read back by a script's main block) is not
        read while it is imported. (Its reads before the call still are.)"""
        module = self.module_of(frame)
        if module is not None:
            self.ran.add(module)

    def open_event(self, path: Any, mode: Any, flags: Any, frame: FrameType | None) -> None:
        if isinstance(path, int):
            return  # a descriptor
        full = os.path.abspath(os.fsdecode(path))
        if not full.startswith(self.under) and not outside.counts(full, dotted=True):
            return  # not a read that counts (see ``incr.outside``): no need to walk the stack
        where = self.running(frame)
        if where is not None:
            recorder = self.opened.get(where)
            if recorder is None:
                recorder = self.opened[where] = ReadRecorder(self.root, self.exclude)
            recorder.event(path, mode, flags)
            if self.valued:  # read anew (a module imported again): valued anew
                self.valued.pop(Path(os.path.relpath(full, self.root)).as_posix(), None)

    def tested(self, path: Any, result: object, frame: FrameType | None) -> None:
        """An existence test (``incr.statreads``). One finding nothing under the root, made
        as a project module is imported, counts as a read of that path, valued ``missing``:
        the module made something else of its absence (``if os.path.exists(PATH):``), and a
        step writing the file comes first."""
        if result is not None or isinstance(path, int):
            return
        try:
            full = os.path.abspath(os.fsdecode(path))
        except (TypeError, ValueError):
            return
        if not full.startswith(self.under) or full.endswith((".py", ".pyc")):
            return
        where = self.running(frame)
        if where is not None:
            recorder = self.opened.get(where)
            if recorder is None:
                recorder = self.opened[where] = ReadRecorder(self.root, self.exclude)
            recorder.tested(path, None, frame)

    def __call__(self, name: str, frame: FrameType) -> None:
        """An environment variable read (see ``envreads.Sink``)."""
        if envreads.counts(name, frame, self.files):  # (a library's for the project too)
            self.add_env(name, frame)

    def bulk(self, frame: FrameType) -> None:
        """A library's copy of the whole environment (see ``envreads.bulk_counts``)."""
        for name in sorted(envreads.bulk_counts(frame, self.files)):
            self.add_env(name, frame)

    def add_env(self, name: str, frame: FrameType) -> None:
        if self._library_import(frame):
            return
        self.env_names.add(name)
        where = self.running(frame)
        if where is not None:
            self.env.setdefault(where, set()).add(name)

    def _library_import(self, frame: FrameType | None) -> bool:
        """Whether ``frame`` runs below the body of an installed module being imported
        (scikit-learn reading ``SKLEARN_ASSUME_FINITE`` as it is imported): such a read is
        made once per process, by whichever module imports the library first, and by none
        when it is loaded already, so it cannot be a fact of one module (a step that depends
        on such a variable declares it: ``@step(env=[...])``)."""
        while frame is not None:
            filename = frame.f_code.co_filename
            if self.files.reads_count(filename):
                return False  # the project's code asked, or called what asked
            if frame.f_code.co_name == "<module>":
                return not filename.startswith("<") and not envreads.is_incr_file(filename)
            frame = frame.f_back
        return False

    def facts(
        self,
        digest: Callable[[str], str],
        environ: Mapping[str, str],
        exclude: tuple[str, ...] = (),
    ) -> ImportFacts:
        """What each module read, as lock keys with their values now (files through
        ``digest``, variables from ``environ``), leaving out files under ``exclude``."""
        found: ImportFacts = {}
        skip = tuple(e.rstrip("/") + "/" for e in exclude)
        bodies: dict[str, list[ast.stmt] | None] = {}
        opened, env = self._with_earlier()
        for (module, line), paths in sorted(opened.items()):
            for path in paths:
                if not path.startswith(skip):
                    if path not in self.valued:  # as first valued: before any step ran
                        self.valued[path] = digest(path)
                    key, value = f"{IMPORT_PREFIX}{module}:{path}", self.valued[path]
                    for owner in self._owners(module, line, bodies):
                        found.setdefault(owner, {})[key] = value
        for (module, line), names in sorted(env.items()):
            for name in sorted(names):
                key, value = f"{ENV_PREFIX}{name}", envreads.env_value(name, environ)
                for owner in self._owners(module, line, bodies):
                    found.setdefault(owner, {})[key] = value
        return found

    def _with_earlier(self) -> tuple[dict[Where, list[str]], dict[Where, set[str]]]:
        """What this recorder saw read (files, variables by the line reading them), with what
        an earlier recorder of this process saw a module it imports again read at a line that
        read nothing now: a library the module imported first then (scikit-learn reading
        ``SKLEARN_*`` variables as it is imported) is not imported again, as a new process
        would (``incr repro``'s next pass, see ``incr.passes``)."""
        opened = {where: _paths(recorder) for where, recorder in self.opened.items()}
        env = {where: set(names) for where, names in self.env.items()}
        earlier = _EARLIER.setdefault(str(self.root), ({}, {}))
        if earlier[0] or earlier[1]:
            loaded = {self.files.rel(f) for f in _module_files()} - {None}
            for where, paths in earlier[0].items():
                if where[0] in loaded and where not in opened:
                    opened[where] = paths
            for where, names in earlier[1].items():
                if where[0] in loaded and where not in env:
                    env[where] = names
        earlier[0].update(opened)
        earlier[1].update(env)
        return opened, env

    def _owners(
        self, module: str, line: int, bodies: dict[str, list[ast.stmt] | None]
    ) -> list[str]:
        """What a read at ``line`` of ``module``'s body is a fact of: ``module:NAME`` for
        each name its statement binds when it only binds names, else the module."""
        if module not in bodies:
            try:
                bodies[module] = ast.parse((self.root / module).read_bytes()).body
            except (OSError, SyntaxError, ValueError):
                bodies[module] = None
        body = bodies[module]
        names = bound_at(body, line) if body is not None else None
        return [f"{module}:{name}" for name in names] if names else [module]


def _paths(recorder: ReadRecorder) -> list[str]:
    """The files ``recorder`` saw read, and the paths it saw tested and found absent."""
    found = recorder.paths()
    for key, value in recorder.learned().items() if recorder.tests else ():
        if key.startswith(EXISTS_PREFIX) and value == MISSING:
            found.append(key[len(EXISTS_PREFIX) :])
    return sorted(set(found))


def seen_here(
    earlier: dict[str, tuple[dict[Where, list[str]], dict[Where, set[str]]]] | None = None,
) -> dict[str, tuple[dict[Where, list[str]], dict[Where, set[str]]]]:
    """What the recorders of this process saw (see ``ImportRecorder._with_earlier``), after
    adding ``earlier``, what those of another process saw: ``incr watch`` hands a cycle's to
    the next cycle's process, which starts with the libraries the modules imported loaded."""
    for root, (opened, env) in (earlier or {}).items():
        mine = _EARLIER.setdefault(root, ({}, {}))
        mine[0].update(opened)
        mine[1].update(env)
    return _EARLIER


def _module_files() -> list[str]:
    """The source files of the modules loaded in this process."""
    files = (getattr(m, "__file__", None) for m in list(sys.modules.values()))
    return [f for f in files if isinstance(f, str)]


def code_modules(code: Mapping[str, str]) -> set[str]:
    """The module files a step's code parts come from (``pipelines/flow.py`` of
    ``pipelines/flow.py:double``; not ``pkg:numpy``, ``python`` or ``version``)."""
    return {part.rpartition(":")[0] for part in code if ":" in part and not part.startswith("pkg:")}


def step_facts(imports: Mapping[str, Mapping[str, str]], code: Mapping[str, str]) -> dict[str, str]:
    """What the modules a step's code uses read while imported, as lock keys with values:
    those of statements doing more than binding names, and those of the statements binding
    the names its code uses (``module:NAME`` keys of ``imports``: a code part, or of a module
    it uses whole)."""
    found: dict[str, str] = {}
    modules = code_modules(code)
    for owner in sorted(imports):
        head, named, _ = owner.partition(".py:")  # ``pipelines/p.py:PARAMS``
        if owner in modules or owner in code or (named and f"{head}.py:*" in code):
            found.update(imports[owner])
    return found


def merged(base: ImportFacts, over: ImportFacts) -> ImportFacts:
    """``base`` with each module's facts completed (and overridden) by those of ``over``."""
    return {m: {**base.get(m, {}), **over.get(m, {})} for m in sorted({*base, *over})}


def _hook(event: str, args: tuple[Any, ...]) -> None:
    if event == "open" and _active and len(args) >= 3:
        frame = sys._getframe(1)
        for recorder in _active:
            recorder.open_event(args[0], args[1], args[2], frame)


def _run_called(frame: FrameType | None) -> None:
    for recorder in _active:
        recorder.ran_pipeline(frame)


def _start(recorder: ImportRecorder) -> None:
    global _active, _installed
    with _lock:
        if not _installed:
            sys.addaudithook(_hook)  # audit hooks cannot be removed; it idles when inactive
            hooks.run_called = _run_called
            _installed = True
        _active = (*_active, recorder)
        statreads.also = (*statreads.also, recorder)
    envreads.start(recorder)


def _stop(recorder: ImportRecorder) -> None:
    global _active
    envreads.stop(recorder)
    with _lock:
        _active = tuple(r for r in _active if r is not recorder)
        statreads.also = tuple(r for r in statreads.also if r is not recorder)


@contextmanager
def recording(root: Path, exclude: tuple[str, ...] = (".git",)) -> Iterator[ImportRecorder]:
    """Record what project modules under ``root`` read while imported inside the block."""
    recorder = ImportRecorder(root, exclude)
    _start(recorder)
    try:
        yield recorder
    finally:
        _stop(recorder)


def start_for_script(root: Path) -> None:
    """Record, for the rest of the process, what the script's project modules read while
    imported (``import incr`` in a script inside a project calls this)."""
    global _script
    if _script is None:
        _script = ImportRecorder(root)
        _start(_script)


def script_recorder(root: Path) -> ImportRecorder | None:
    """The recorder ``start_for_script`` started for the project at ``root``, if any."""
    if _script is not None and _script.files.root == envreads.ProjectFiles(root).root:
        return _script
    return None
