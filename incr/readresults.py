"""What a step's recorded reads come to (``incr.reads``): the files it read and wrote, as lock
keys, and its learned listings, existence tests and times, valued as it saw them or as it left
them; with what the processes it started reported (``take_relayed``)."""

from __future__ import annotations

import os
import stat as stat_module
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from incr import outside, processes
from incr.model import NET_PREFIX, OUTPUT_PREFIX, TIMES_PREFIX, UNPICKLED_PREFIX
from incr.opens import CHANGES, dir_fd
from incr.pathfacts import (
    asks_time,
    by_project,
    caller,
    entry_of,
    is_tooling,
    library_test,
    listing_digest,
    stamp,
    tested_value,
    times_order,
    value_now,
    within,
)

if TYPE_CHECKING:
    from incr.readrelay import Relay


#: The internet addresses kept of one step (a crawler connects to thousands).
_HOSTS = 20
#: Audit events a recorder hears besides the files: each by the method that takes its args.
HEARD = {
    "pickle.find_class": "unpickled",
    "socket.getaddrinfo": "resolving",
    "socket.connect": "connected",
}
#: Every audit event the read recorder acts on. Once installed, its hook hears each event of
#: the process (``id()`` calls and reads of a function's ``__code__`` by the thousand in a
#: run): it turns the others away before anything else.
HOOKED = frozenset(
    {"open", "os.listdir", "os.scandir", "incr.launched", *CHANGES, *processes.STARTS, *HEARD}
)


def _stamp_of(value: Any) -> tuple[int, ...] | None:
    """A ``pathfacts.stamp`` a child reported (JSON made its tuple a list)."""
    return tuple(value) if isinstance(value, list) else None


def _is_address(host: str) -> bool:
    import ipaddress  # here: only a step that resolves a name needs it

    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


class RecordedReads:
    """The results half of ``reads.ReadRecorder``: what it collected, as a step's reads."""

    root: str
    own: frozenset[str]
    read: set[str]
    written: set[str]
    appended: dict[str, int]
    rewritten: dict[str, bytes | None]
    changed: set[str]
    sources: set[str]
    stamps: dict[str, tuple[int, ...] | None]
    listings: dict[str, str]
    #: Whether the folders libraries list count (a step's recorder); those only a library
    #: listed, which count unless the step changed something inside them (``learned``).
    libraries: bool
    by_library: set[str]
    tests: dict[str, str]
    #: The paths of ``tests`` only a library tested (``.env`` looked for by python-dotenv).
    tested_by_library: set[str]
    #: Files a library asked the times of (``tested``): counted by their bytes (``paths``).
    timed: set[str]
    times: dict[str, int]
    climbed: set[str]
    venvs: dict[str, bool]
    relayed_env: set[str]
    followed: set[int]
    _code: Any  # ``envreads.ProjectFiles``
    #: While on (``follow_owners``): the project definitions (relative path, top-level name)
    #: whose code was running when each path was opened, listed or tested, by absolute path.
    owners: dict[str, set[tuple[str, str]]] | None = None
    #: Databases C code opened (``connecting``): the file's stat then (None: not there),
    #: and its log's path and stat, by the file's absolute path.
    databases: dict[str, tuple[tuple[int, ...] | None, str | None, tuple[int, ...] | None]]
    #: (module, qualified name) of what the step unpickled (``unpickled``).
    classes: set[tuple[str, str]]
    #: ``STEP:OUTPUT`` -> ``KIND:DIGEST`` of the outputs of past runs it read through the
    #: post-execution API (``output_read``).
    outputs_read: dict[str, str]
    #: ``host:port`` of the internet addresses it connected to (``connected``).
    hosts: set[str]
    #: The last name resolved (``resolving``): (thread, host, port).
    _resolved: tuple[int, str, str] | None = None
    #: The project files the command lines of the processes it started name, by program.
    named: dict[str, set[str]]

    def _full(self, path: Any, frame: Any = None) -> str | None: ...  # (``reads.ReadRecorder``)

    def event(self, path: Any, mode: Any, flags: Any) -> None: ...

    def change(self, event: str, args: tuple[Any, ...]) -> None:
        """An audit event by which the step changes a folder's entries (remove, rename...).
        A rename (``os.replace(tmp, path)``: an atomic write) writes its target, as an open
        for writing would, and a folder's the files the step wrote in it, at their new place."""
        positions, folders = CHANGES[event]
        if any(i < len(args) and dir_fd(args[i]) for i in folders):
            return  # relative to an open folder (shutil.rmtree's inner calls): not resolvable
        for index in positions:
            if index < len(args):
                full = self._full(args[index])
                if full is not None and not self._tell_parent("change", full):
                    self.changed.add(full)
        if event == "os.rename" and len(args) > 1 and (full := self._full(args[1])):
            flags, src = os.O_WRONLY | os.O_CREAT | os.O_TRUNC, self._full(args[0]) or "\0"
            inside = [w[len(src) :] for w in self.written if w.startswith(src + os.sep)]
            for path in (full, *(full + rest for rest in inside)):  # a folder: what it wrote in it
                if not self._tell_parent("open", path, "w", flags, time.monotonic_ns()):
                    self.opened(path, "w", flags)

    def connecting(self, path: str, log: str) -> None:
        """A database C code is about to open (SQLite, DuckDB: ``incr.nativereads``), with
        the log it keeps committed changes in beside its file: the file counts as read when
        it is there, and so does the log, there or not (rows a writer leaves in it count),
        unless the step changes the database (``settle``)."""
        full = self._full(path)
        if full is None or full in self.databases:
            return
        full_log = self._full(log)
        before, log_before = stamp(full), None if full_log is None else stamp(full_log)
        if self._tell_parent("db", full, before, full_log, log_before):
            return  # in a child: the step's process settles it once the step is done
        self.databases[full] = (before, full_log, log_before)
        if before:  # a file, not a folder or nothing (then the step makes it)
            self.event(path, "r", os.O_RDONLY)
            self.event(log, "r", os.O_RDONLY)

    def settle(self) -> None:
        """Once the step has run: a database it changed or made is written, with its log,
        and not read (what it read of it is not tracked, as for a database it names and
        writes with SQL); one it only queried stays read."""
        for full, (before, log, log_before) in self.databases.items():
            if stamp(full) == before:
                continue
            for path, then in ((full, before), (log, log_before)):
                if path is None:
                    continue
                now = stamp(path)
                self.read.discard(path)
                self.stamps.pop(path, None)
                if now != then:
                    self.changed.add(path)
                    if now is not None:  # (a log folded in and removed was not written)
                        self.written.add(path)

    def unpickled(self, module: Any = None, name: Any = None, *_: Any) -> None:
        """A ``pickle.find_class`` audit event (``pickle``, ``joblib``, ``torch.load``...): a
        project class or function the step loads from a pickle runs the code it has now."""
        strings = isinstance(module, str) and isinstance(name, str)
        if strings and not self._tell_parent("class", module, name):
            self.classes.add((module, name))

    def resolving(self, host: Any = None, port: Any = None, *_: Any) -> None:
        """A ``socket.getaddrinfo`` audit event: the name a connection made next on this
        thread to that port is named by (``connected``)."""
        if isinstance(host, str) and host and not _is_address(host):
            self._resolved = (threading.get_ident(), host, str(port))

    def connected(self, sock: Any = None, address: Any = None, *_: Any) -> None:
        """A ``socket.connect`` audit event: an internet address (host, port) counts, by the
        name it was resolved from when there was one; what the step gets from there cannot be
        seen (``gate.network_note``)."""
        if isinstance(address, tuple) and len(address) >= 2 and isinstance(address[0], str):
            host, port = address[0], str(address[1])
            named = self._resolved
            if named is not None and named[0] == threading.get_ident() and named[2] == port:
                host = named[1]
            if not self._tell_parent("net", f"{host}:{port}"):
                self.hosts.add(f"{host}:{port}")

    def note_named(self, program: str, event: str, args: tuple[Any, ...]) -> None:
        """The project files (under the root: not data outside, which ``deps`` names as the
        user spells it) the command line of a process started names, as they are when it
        starts (an output it makes is not there yet), by its program (``read_named``)."""
        words, cwd = processes.arguments(event, args)
        folder = cwd or os.getcwd()
        for word in words:
            for text in {word, word.partition("=")[2]} - {""}:  # ``--input=data/x.csv``
                full = self._full(os.path.join(folder, text))
                if full is not None and full.startswith(self.root) and os.path.isfile(full):
                    self.named.setdefault(program, set()).add(full)

    def read_named(self, programs: list[str]) -> list[str]:
        """The files the command lines of ``programs`` (started, not followed) name: read by
        the step (relative to the root, sorted)."""
        found = {full for p in programs for full in self.named.get(p, ())}
        for full in found:
            self.opened(full, "r", os.O_RDONLY)
        return sorted(self.relative(full) for full in found)

    def _tell_parent(self, *event: Any) -> bool:  # (``reads.ReadRecorder``: in a child)
        return False

    def _relaying(self) -> bool:  # (``reads.ReadRecorder``: in a child that reports)
        return False

    def tested(self, path: Any, result: os.stat_result | None, frame: Any) -> None:
        """An ``os.stat``/``os.lstat`` call with its result (None: no such file)."""
        asking = caller(frame)
        mine = by_project(asking, self._code)
        if not mine and not library_test(asking, self._code, path, self.root):
            return
        if (full := self._full(path, asking if mine else None)) is None:
            return
        if self.owners is not None:
            self.note_owners(full, frame)
        mtime = result.st_mtime_ns if result and stat_module.S_ISREG(result.st_mode) else None
        if mine:
            self.tested_by_library.discard(full)
        else:
            if full not in self.tests:  # (not when the project's code tested it first)
                self.tested_by_library.add(full)
            timed = mtime is not None and full not in self.timed and asks_time(frame)
            if timed and not self._tell_parent("timed", full):  # (the step's process keeps it)
                self.timed.add(full)  # its bytes count (see ``paths``)
        if (
            mtime is not None
            and (full not in self.times or self._relaying())
            and asks_time(frame)
            and not self._tell_parent("time", full, mtime)  # the step's process keeps it
        ):
            self.times[full] = mtime  # which file is newest may matter
        value, known = tested_value(full, result, frame), self.tests.get(full)
        if known is not None and not self._relaying() and (known, value[:5]) != ("file", "file:"):
            return  # the first answer counts, but that a later test asks the size too
        self.tests[full] = value
        self._tell_parent("test", full, value)

    def follow_owners(self) -> None:
        """Note from here on which project code reads each path (``owned``)."""
        self.owners = {}

    def note_owners(self, full: str, frame: Any) -> None:
        """``full`` was read by the code of ``frame`` and the frames that called it."""
        assert self.owners is not None
        found = self.owners.setdefault(full, set())
        while frame is not None:
            code = frame.f_code
            rel = self._code.rel(code.co_filename)
            if rel is not None:
                found.add((rel, code.co_qualname.partition(".")[0]))
            frame = frame.f_back

    def owned(self, definitions: set[tuple[str, str]]) -> set[str]:
        """The keys of the reads (``paths``, ``learned``) that the code of one of
        ``definitions`` (relative path, top-level name) made, directly or through what it
        called; empty unless ``follow_owners`` was on."""
        keys: set[str] = set()
        for full, owners in (self.owners or {}).items():
            if owners & definitions:
                rel = self.relative(full)
                keys |= {rel, f"ls:{rel}", f"exists:{rel}", f"{TIMES_PREFIX}{rel}"}
        return keys

    def opened(
        self, full: str, mode: Any, flags: Any, source: bool = False, at: int | None = None
    ) -> None:
        raise NotImplementedError  # ``reads.ReadRecorder.opened``

    def take_relayed(self, relay: Relay) -> None:
        """Take in what the processes the step started reported (see ``incr.readrelay``)."""
        for kind, full, *rest in relay.events():
            if kind in ("open", "source") and len(rest) in (2, 3):
                mode, flags, *at = rest  # a read before the step's process wrote the file counts
                self.opened(full, mode, flags, kind == "source", at[0] if at else None)
            elif kind in ("change", "env"):  # a path changed; a variable's name
                (self.changed if kind == "change" else self.relayed_env).add(full)
            elif kind == "lslib" and len(rest) == 1:  # a folder a library listed
                if self.libraries and full not in self.listings:
                    self.listings[full] = rest[0]
                    self.by_library.add(full)
            elif kind in ("ls", "test", "time") and len(rest) == 1:
                seen: dict[str, Any] = {"ls": self.listings, "test": self.tests}.get(
                    kind, self.times
                )
                seen.setdefault(full, rest[0])
                if kind == "ls":  # the project's code listed it too
                    self.by_library.discard(full)
            elif kind == "timed":  # a file a library asked the times of
                self.timed.add(full)
            elif kind == "climbed":  # named from the project: ``../shared/x``
                self.climbed.add(full)
            elif kind == "hello":  # a process started afresh records (``incr.childreads``)
                self.followed.add(full)
            elif kind == "class" and len(rest) == 1:  # unpickled: (module, name)
                self.classes.add((full, rest[0]))
            elif kind == "net":  # connected to ``host:port``
                self.hosts.add(full)
            elif kind == "db" and len(rest) == 3 and full not in self.databases:
                before, log, log_before = _stamp_of(rest[0]), rest[1], _stamp_of(rest[2])
                self.databases[full] = (before, log, log_before)  # (see ``connecting``)
                for read in (full, log) if before else ():
                    if isinstance(read, str):
                        self.opened(read, "r", os.O_RDONLY)

    def paths(self) -> list[str]:
        """Files the step read (and maybe rewrote in place afterwards), relative to the root,
        sorted; and those a library asked the times of (``timed``) and the step left alone: a
        library taking a file's stat for its bytes (``filecmp.cmp``, a cache keyed by times)."""
        rel = []
        timed = {full for full in self.timed if not self._own_look(full, timed=False)}
        for full in self.read | timed:
            code = full.endswith(outside.CODE_SUFFIXES) and full not in self.sources
            if code or self._tooling(full) or self.stamps.get(full) == () or os.path.isdir(full):
                continue
            rel.append(self.relative(full))
        return sorted(rel)

    def changed_while_read(self) -> list[str]:
        """Files the step read (relative, as ``paths`` gives them) that something else changed
        after the step first opened them: their bytes now are not the ones it read."""
        return [
            self.relative(full)
            for full, then in self.stamps.items()
            if full not in self.written and then != () and stamp(full) != then
        ]

    def written_paths(self) -> list[str]:
        """Files the step opened for writing (or appending), relative to the root, sorted:
        they order it before the steps that read them (see ``incr/overlaps.py``)."""
        rel = []
        for full in self.written:
            if full.endswith(outside.CODE_SUFFIXES) or self._tooling(full) or os.path.isdir(full):
                continue
            if not full.startswith(self.root) and not os.path.exists(full):
                continue  # a temporary file of the step's, outside the project
            rel.append(self.relative(full))
        return sorted(rel)

    def appended_paths(self) -> list[str]:
        """Those of ``written_paths`` the step first opened to append to: what was there
        before stays (see ``incr.sharedwrites``)."""
        appended = {self.relative(full) for full in self.appended}
        return [p for p in self.written_paths() if p in appended]

    def appended_from(self, writes: tuple[str, ...]) -> tuple[tuple[str, int], ...]:
        """Of ``writes`` (``written_paths``), those the step first opened to append to, each
        with its size then (-1: absent): what it held before the step (``incr.appendbase``)."""
        sizes = {self.relative(full): size for full, size in self.appended.items()}
        return tuple((p, sizes[p]) for p in writes if p in sizes)

    def rewritten_from(self, writes: tuple[str, ...]) -> tuple[tuple[str, bytes | None], ...]:
        """Of ``appended_from``, the files the step wrote anew after it read or tested them,
        each with the bytes it held then (None: absent, or too big to keep)."""
        held = {self.relative(full): data for full, data in self.rewritten.items()}
        return tuple((p, held[p]) for p in writes if p in held)

    def output_read(self, step: str, output: str, artifact: str) -> None:
        """The step read output ``output`` of step ``step`` (``PIPELINE.STEP``) of a past run,
        ``artifact`` (``KIND:DIGEST``), through the post-execution API: its result depends on
        it as on an input (``Repository().get_pipeline(...).runs[-1]...read()``)."""
        self.outputs_read.setdefault(f"{step}:{output}", artifact)

    def _own_look(self, full: str, timed: bool = True) -> bool:
        """Whether a library tested ``full`` on the way to reading it (its digest says more;
        with ``timed``, a file it asked the times of counts so) or to writing in or at it
        (the step's own product)."""
        if full in self.read or (timed and full in self.timed):
            return True
        return any(within(full, c) or within(c, full) for c in self.changed)

    def learned(self) -> dict[str, str]:
        """``ls:DIR``, ``exists:PATH`` and ``mtimes:DIR`` keys (see ``LockEntry.reads``) with
        their values: as observed, or as the step left them when it changed them itself. A
        folder counts by its files' times when the step asked those of two files or more.
        ``unpickled:`` and ``net:`` keys come empty: the caller values the code as it is."""
        facts = {f"{UNPICKLED_PREFIX}{ref}": "" for ref in self._project_refs()}
        facts.update({f"{NET_PREFIX}{host}": "" for host in sorted(self.hosts)[:_HOSTS]})
        facts.update({f"{OUTPUT_PREFIX}{k}": v for k, v in self.outputs_read.items()})
        for full, value in self.listings.items():
            if not self._tooling(full):
                if full in self.by_library and any(within(c, full) for c in self.changed):
                    continue  # where the step writes (a library's log folder): its own
                if any(entry_of(c, full) for c in self.changed):
                    value = listing_digest(full, self.own)
                facts["ls:" + self.relative(full)] = value
        for full, value in self.tests.items():
            if full in self.tested_by_library and self._own_look(full):
                continue
            if not self._tooling(full):
                if value.startswith("file:") and full in self.read:  # its digest says more
                    value = "file"
                if any(within(full, c) for c in self.changed):
                    value = value_now(full, value)
                facts["exists:" + self.relative(full)] = value
        if not self.times:
            return facts
        folders: dict[str, dict[str, int]] = {}
        for full, mtime in self.times.items():
            folders.setdefault(os.path.dirname(full), {})[os.path.basename(full)] = mtime
        for folder, times in folders.items():
            if len(times) > 1 and not self._tooling(folder):
                changed = any(os.path.join(folder, name) in self.changed for name in times)
                value = times_order(folder, times, None if changed else times)
                facts[TIMES_PREFIX + self.relative(folder)] = value
        return facts

    def _project_refs(self) -> list[str]:
        """``module:name`` of the project definitions the step unpickled (a method by its
        class), as ``objectcode.project_refs`` names them."""
        if not self.classes:
            return []
        import sys

        from incr.objectcode import project_refs

        def is_project(module: str) -> bool:
            path = getattr(sys.modules.get(module), "__file__", None)
            return isinstance(path, str) and self._code.rel(path) is not None

        return list(project_refs(self.classes, is_project))

    def relative(self, full: str) -> str:
        """The lock key of ``full``: relative to the root (``../x`` as named), or ``key_of``."""
        if full in self.climbed:
            return os.path.relpath(full, self.root).replace(os.sep, "/")
        if not full.startswith(self.root) or full + os.sep == self.root:
            return "." if full + os.sep == self.root else outside.key_of(full, self.root)
        return Path(full[len(self.root) :]).as_posix()

    def _tooling(self, full: str) -> bool:
        """Inside version control, a virtualenv, installed packages or package metadata:
        read by Python's machinery (importlib.metadata, entry points), not by the step."""
        return is_tooling(self.root, full, self.venvs)
