"""What a step was seen to depend on while it ran: files opened for reading, folder listings and
existence tests, seen through a Python audit hook (PEP 578) and wrappers of ``os.stat``.

CPython raises the ``open`` audit event for ``open()``, ``io.open``, ``os.open`` and all built
on them (``pathlib``, ``csv``, ``json.load``, ``numpy.load``, pandas' Python readers). Readers in
C are wrapped (``incr.nativereads``); processes a step starts report to it (``incr.readrelay``).

Listings raise ``os.listdir`` and ``os.scandir`` (``glob``, ``Path.iterdir``, ``Path.glob`` and
``os.walk`` go through them). Existence tests raise no event: while a recorder is active,
``os.stat`` and ``os.lstat`` are wrapped (``os.path.exists``/``isfile``/``isdir`` and
``Path.exists``/``is_file``/``is_dir`` call them), and ``os.access`` (whether the path
exists; not its permissions). A test counts when the code that asked, past the standard
library's path modules, is a project file, or any code but incr's asking of a path under the
root (``pathfacts.library_test``: python-dotenv looking for ``.env``, on a thread too; a file
whose times it asked counts by its bytes: ``filecmp.cmp``); a listing too, or (a step's) a
library's listing of a folder under the root that the step did not write in.

Under the project root, left out: the cache folder and the lockfile, version-control folders
(``.git``, ``.hg``, ``.svn``), virtual environments (``.venv``, ``.tox``, ``.nox``, any folder
holding a ``pyvenv.cfg``), ``__pycache__``, ``site-packages``, ``node_modules``, package
metadata (``*.egg-info``, ``*.dist-info``), bytecode, and Python sources opened as code
(``incr.opens``: code is fingerprinted from the AST). Other files whose names start with a dot
(``data/.thresholds.json``) are files like any other. Outside the root, what ``incr.outside``
counts (data on ``/mnt``, in ``~/datasets``; not the system's, Python's or tools' files), by the
keys it gives them (absolute, or ``~/...``).

Values: a file read is digested after the step (by the runner); a listing records the names
the step saw, a test its answer (``pathfacts.tested_value``), as found or as the step left
them. A file read then rewritten in place (or replaced: ``os.replace(tmp, path)``) counts as
read; one written before it is read is the step's own product. Also heard:
``pickle.find_class``, ``socket.connect``, ``Repository()``.
"""

from __future__ import annotations

import linecache
import os
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from incr import envreads, nativereads, outside, processes, statreads
from incr.envreads import EnvRecorder, project_files
from incr.opens import CHANGES, is_write, keeps_bytes, read_as_code, reads_existing
from incr.pathfacts import (
    by_library,
    by_project,
    caller,
    held_bytes,
    listing_digest,
    prefixes,
    project_opens,
    stamp,
)
from incr.readrelay import Relay, for_this_process, inherited
from incr.readresults import HEARD, HOOKED, RecordedReads

_lock = threading.Lock()
_active: ReadRecorder | None = None
_installed = False
#: While modules are imported (``following``): the root and left-out paths of the recorders
#: of the processes started meanwhile.
_importing: tuple[Path, tuple[str, ...]] | None = None
#: ``busy`` while the recorder itself lists a folder; ``own`` while incr reads on this thread
#: for itself (see ``unrecorded``).
_inside = threading.local()


class ReadRecorder(RecordedReads):
    """Collects what is opened, listed and tested under the project root while it is active.

    ``read``: files whose first open by the step read them (absolute paths); ``written``:
    files opened for writing. A file in both was read and then rewritten in place.
    ``listings`` and ``tests`` map a folder or a path to its first observed value;
    ``changed`` holds the paths the step wrote, created, removed or renamed.
    """

    def __init__(self, root: Path, exclude: tuple[str, ...], libraries: bool = False) -> None:
        self.given = (root, exclude)  # for processes started afresh
        self.libraries, self.by_library = libraries, set[str]()  # (see ``listing``)
        self.root, self.exclude, self.own, self.artifacts = prefixes(str(root), tuple(exclude))
        self.read, self.written, self.changed = set[str](), set[str](), set[str]()
        self.listings: dict[str, str] = {}
        self.tests, self.tested_by_library = dict[str, str](), set[str]()  # (see ``tested``)
        self.timed = set[str]()
        self.times: dict[str, int] = {}  # files asked their times: modification time (ns)
        #: Which code files are the project's (the same answer as for environment variables).
        self._code = project_files(root)
        self.venvs: dict[str, bool] = {}
        #: Programs started (``started``), their process ids, those that said they report (by
        #: id); where forked children report, what variables they read.
        self.programs: list[str] = []
        self.pids: dict[str, set[int]] = {}
        self.followed: set[int] = set()
        self.relay: Relay | None = None
        self.relayed_env: set[str] = set()
        #: Python sources read as data (see ``event``).
        self.sources: set[str] = set()
        #: Files the step first opened to append to (the bytes before are kept: ``opened``),
        #: or to write anew after it read or tested them (what it writes may depend on what
        #: they held), each with its size then (-1: absent); the bytes the second kind held
        #: (None: absent, or too big to keep: ``pathfacts.held_bytes``).
        self.appended: dict[str, int] = {}
        self.rewritten: dict[str, bytes | None] = {}
        #: When the step's own process first wrote each file (see ``take_relayed``).
        self.first_written: dict[str, int] = {}
        #: The stat of each file read, when first opened (see ``changed_while_read``).
        self.stamps: dict[str, tuple[int, ...] | None] = {}
        self.climbed: set[str] = set()  # outside the project, named from it (``relative``)
        self.databases, self.classes, self.hosts, self.named = {}, set(), set(), {}
        self.outputs_read: dict[str, str] = {}  # see ``output_read``

    # ------------------------------------------------------------------ events

    def event(self, path: Any, mode: Any, flags: Any) -> None:
        """An ``open`` audit event. A Python source counts when read as data (``runpy``, a
        config file run by ``exec(open(...).read())``), not by the import system, tracebacks
        or ``inspect``."""
        full = self._full(path, sys._getframe(1))
        if full is None:
            return
        kind = "open"
        if full.endswith(".py"):
            if read_as_code(sys._getframe(1), full, self._code.rel):
                return
            kind = "source"
        if not self._tell_parent(kind, full, mode, flags, time.monotonic_ns()):
            self.opened(full, mode, flags, kind == "source")
            if full in self.read and full not in self.stamps:
                self.stamps[full] = stamp(full)
            if self.owners is not None:
                self.note_owners(full, sys._getframe(1))

    def source(self, path: str) -> None:
        """A project module a process started afresh runs (``incr.childreads``): code that
        is not the step's, read as data."""
        full = self._full(path)
        if full is not None and not self._tell_parent("source", full, "r", os.O_RDONLY):
            self.opened(full, "r", os.O_RDONLY, True)

    def opened(
        self, full: str, mode: Any, flags: Any, source: bool = False, at: int | None = None
    ) -> None:
        """A file opened (``at``: when a child opened it, on the monotonic clock)."""
        before = at is not None and self.first_written.get(full, at + 1) > at
        if reads_existing(mode, flags) and (
            full not in self.written or full in self.appended or before
        ):
            self.read.add(full)  # its bytes as they were before the step wrote it, if it does
            if source:
                self.sources.add(full)
        if is_write(mode, flags):
            if full not in self.written and keeps_bytes(mode, flags):
                self.appended[full] = _size(full)  # appended to first: what was there stays
            elif full not in self.written and (
                full in self.read or (full in self.tests and full not in self.tested_by_library)
            ):  # (a library testing where it writes, as pandas' to_parquet does: no reading)
                self.appended[full] = size = _size(full)  # read, then written anew from it
                with unrecorded():  # incr's own read of what it holds (not a child's: written)
                    self.rewritten[full] = held_bytes(full, size) if at is None else None
            if full not in self.written:
                self.first_written[full] = time.monotonic_ns()  # a child may have read before
            self.written.add(full)
            self.changed.add(full)

    def listing(self, path: Any, frame: Any) -> None:
        """An ``os.listdir``/``os.scandir`` audit event, from the code in ``frame`` on: made
        by the project's code, or by a library's when the recorder takes those (a step's)."""
        asking = caller(frame)
        if by_project(asking, self._code):
            self.listed(path, frame=asking)
            if (full := self._full(path or ".", asking)) is not None:
                self.by_library.discard(full)
                if self.owners is not None:
                    self.note_owners(full, frame)
        elif asking is not None and self.libraries and by_library(asking):
            self.listed(path, library=True)

    def listed(self, path: Any, library: bool = False, frame: Any = None) -> None:
        """A folder listed (``.`` for None): its names, as they are now (by a library: inside;
        by the project's code from ``frame``: in a home dot-folder too)."""
        full = self._full("." if path is None else path, frame)
        if full is None or (full in self.listings and not self._relaying()):
            return  # (a worker that reports may serve many steps: it tells each)
        if library and not (full + os.sep).startswith(self.root):
            return
        _inside.busy = True
        try:
            self.listings[full] = listing_digest(full, self.own)
        finally:
            _inside.busy = False
        if library:
            self.by_library.add(full)
        self._tell_parent("lslib" if library else "ls", full, self.listings[full])

    def started(self, event: str, args: tuple[Any, ...], frame: Any) -> None:
        """A process started (``incr.processes``): its program, when the project's code ran it."""
        frame, name = processes.launched_by(frame), processes.program(event, args)
        if frame is not None and self._code.rel(frame.f_code.co_filename) is not None and name:
            self.programs += [] if name in self.programs else [name]  # not a library's own
            self.note_named(name, event, args)

    def unfollowed(self) -> list[str]:
        """The programs started (``programs``) of which a process did not report that it
        records its reads (``incr.childreads``)."""
        return [p for p in self.programs if not self.pids.get(p, {-1}) <= self.followed]

    def _relaying(self) -> bool:
        return self.relay is not None and self.relay.fd is not None

    def _tell_parent(self, *event: Any) -> bool:
        """In a forked child: report ``event`` (``incr.readrelay``); False elsewhere."""
        if self.relay is None or self.relay.fd is None:  # (inline: asked on every open)
            return False
        self.relay.send(*event)
        return True

    def _full(self, path: Any, frame: Any = None) -> str | None:
        """The absolute path of ``path`` when it counts: under the root and not incr's own,
        or outside it and counted by ``incr.outside``, in a dot-folder of the home folder when
        the project's code opens it from ``frame`` on (``project_opens``); None for descriptors."""
        if isinstance(path, int) or path is None:
            return None
        try:
            full = os.path.abspath(text := os.fsdecode(path))
        except (TypeError, ValueError):
            return None
        if full + os.sep == self.root:
            return full
        if not full.startswith(self.root):
            dotted = frame is not None and outside.counts(full, True)  # (a home dot-folder's)
            counts = outside.counts(full) or (dotted and project_opens(frame, self._code, full))
            if counts and not os.path.isabs(text):  # ``../shared/x``: kept relative to the root
                self.climbed.add(full)
                self._tell_parent("climbed", full)  # a worker's read keyed as in the step's
            return full if counts else None
        if (full + os.sep).startswith(self.exclude) and not full.startswith(self.artifacts):
            return None
        return full


def _hook(event: str, args: tuple[Any, ...]) -> None:
    recorder = _active  # most events (``id()``, a function's ``__code__``...) are not HOOKED
    if event not in HOOKED or recorder is None or _own():
        return
    if event == "open":
        if len(args) >= 3:
            recorder.event(*args[:3])
    elif event in ("os.listdir", "os.scandir"):
        if args and not getattr(_inside, "busy", False):
            recorder.listing(args[0], sys._getframe(1))
    elif event in CHANGES:
        recorder.change(event, args)
    elif event in processes.STARTS and args:
        recorder.started(event, args, sys._getframe(1))
    elif event in HEARD:  # code unpickled, an address resolved or connected to
        getattr(recorder, HEARD[event])(*args)
    elif event == "incr.launched" and len(args) == 2:
        recorder.pids.setdefault(processes.program(event, args), set()).add(args[1])


def _own() -> bool:
    return getattr(_inside, "own", False)


@contextmanager
def unrecorded() -> Iterator[None]:
    """What this thread opens, lists and tests inside the block is incr's own: not recorded."""
    was = _own()
    _inside.own = True
    try:
        yield
    finally:
        _inside.own = was


def _forking() -> None:
    """About to fork while a step's reads are recorded, or while modules are imported
    (``following``): name the relay's folder."""
    if _active is not None and _active.relay is not None:
        _active.relay.forking()
    elif _importing is not None:
        for_this_process().forking()


def _forked() -> None:
    """In a child forked while a step's reads are recorded: report them (``incr.readrelay``).
    In one forked while modules are imported (a pool made at a module's top level): record
    and report for the rest of its life, for the steps that will use it."""
    global _active
    if _active is not None and _active.relay is not None:
        with unrecorded():  # opening its report file is not a read
            _active.relay.start_child()
    elif _importing is not None and (parent := inherited()) is not None and parent.folder:
        _report_for_life(parent.folder, *_importing)  # (the hooks are in: no lock taken)


def _relay_env() -> dict[str, str] | None:
    """What a Python process started now needs to report its reads to the active recorder,
    or, while modules are imported, to the steps that will use it (``following``)."""
    recorder = _active
    if _own():
        return None
    with unrecorded():
        if recorder is not None and recorder.relay is not None:
            return recorder.relay.child_env(str(recorder.given[0]), tuple(recorder.given[1]))
        if _importing is not None:  # (discovery's recorder, if any, relays nothing)
            return for_this_process().child_env(str(_importing[0]), _importing[1])
    return None


@contextmanager
def following(root: Path, exclude: tuple[str, ...]) -> Iterator[None]:
    """Have the processes started inside the block, out of any step (a pool a module makes as
    it is imported), record what they read from then on: each step takes in what they report
    while it runs. What they report before the block ends is no step's."""
    global _importing
    before = _importing
    follow(root, exclude)
    try:
        yield
    finally:
        _importing = before
        _drop_reported()


def follow(root: Path, exclude: tuple[str, ...]) -> None:
    """``following`` from now on: for the whole life of a script (``incr.imports``)."""
    global _importing
    _install()
    _importing = (root, exclude)


def _drop_reported() -> None:
    """Take in, and drop, what the processes followed out of any step reported so far."""
    relay = inherited()
    if relay is not None and relay.pid == os.getpid():
        with unrecorded():
            for _ in relay.events():
                pass


def _install() -> None:
    """Put the hooks in, once (``_lock`` not held)."""
    global _installed
    with _lock:
        if _installed:
            return
        sys.addaudithook(_hook)  # audit hooks cannot be removed; it idles when inactive
        processes.follow_launches(_relay_env)
        nativereads.install(lambda: None if _own() else _active)
        statreads.install(lambda: None if _own() else _active)
        os.register_at_fork(before=_forking, after_in_child=_forked)
        _installed = True


def record_for_life(
    folder: str, root: Path, exclude: tuple[str, ...], chosen: frozenset[str] = frozenset()
) -> ReadRecorder | None:
    """``_report_for_life`` in a process a step started afresh (``incr.childreads``)."""
    _install()
    return _report_for_life(folder, root, exclude, chosen)


def _report_for_life(
    folder: str, root: Path, exclude: tuple[str, ...], chosen: frozenset[str] = frozenset()
) -> ReadRecorder | None:
    """Record for the rest of this process what it reads under ``root`` and the variables
    project code reads but ``chosen`` (the step's choice for it), reporting each to the relay
    ``folder``: the recorder, or None when that folder is gone (its maker has ended)."""
    global _active
    relay = Relay()  # not this process's own: an incr run here records its steps apart
    relay.folder = folder
    with unrecorded():  # opening its report file is not a read
        relay.start_child()
    if relay.fd is None:
        return None
    recorder = ReadRecorder(root, exclude, libraries=True)  # a step's process, or an import's
    recorder.relay = relay
    variables = EnvRecorder(root)
    variables.relay, variables.given = relay, chosen
    envreads.start(variables)
    _active = recorder
    statreads.wrap()
    return recorder


def forget_inherited() -> None:
    """In a worker of ``--jobs``: record nothing for the step its parent was running."""
    global _active
    _active = None
    statreads.unwrap()


@contextmanager
def recording(
    root: Path, exclude: tuple[str, ...] = (), children: bool = False
) -> Iterator[ReadRecorder]:
    """Record what is opened, listed and tested inside the block (one recorder at a time),
    under ``root`` but not ``exclude`` (incr's own paths), with what the processes forked
    meanwhile report when ``children`` (``incr.readrelay``): a step's, which also takes the
    folders libraries list."""
    global _active
    recorder = ReadRecorder(root, exclude, libraries=children)
    relay = recorder.relay = for_this_process() if children else None
    _forget_lines(recorder.root)
    if relay is not None:
        _drop_reported()  # reported between steps (a process a step left running): no step's
    _install()
    with _lock:
        previous, _active = _active, recorder
        statreads.wrap()
        nativereads.wrap_imported(recorder.root)
    try:
        yield recorder
    finally:
        with _lock:
            _active = previous
            if previous is None:
                statreads.unwrap()
        if relay is not None:
            with unrecorded():  # the reports are incr's own files
                recorder.take_relayed(relay)
        recorder.settle()  # the databases the step and its children opened


def output_read(step: str, output: str, artifact: str) -> None:
    """``RecordedReads.output_read``, told the recorder of the step running here, if any."""
    if _active is not None:
        _active.output_read(step, output, artifact)


def _forget_lines(root: str) -> None:
    """Have ``linecache`` open again the files under ``root/`` an earlier step read through
    it (``linecache.getlines(path)``): the step's open of them is seen."""
    for name in [n for n in linecache.cache if n[:1] != "<"]:
        if not os.path.isabs(name) or name.startswith(root):
            linecache.cache.pop(name, None)


def _size(full: str) -> int:
    """The size of file ``full`` (-1: absent)."""
    try:
        return os.stat(full).st_size
    except OSError:
        return -1
