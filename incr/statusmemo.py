"""A no-op ``incr status`` answered from the last one, while nothing it could depend on moved.

Deciding a large pipeline's status costs tens of microseconds a step (its graph, its lock
entries, every step's facts); ``incr status`` is asked again and again with nothing changed.
So an all-clean ``incr status`` (or ``--json``) keeps its output in ``.pipecache/status.memo``
after a first line holding the digest of its *signature*, everything that output can depend
on; the next status prints it again when its signature is the same:

- the command (``--json`` or not), the working and project folders, incr's version and the
  sizes and times of its own modules, the Python that runs it, the machine's time zone
  (``/etc/localtime``: where it links and its times), every environment variable,
  the folders on ``sys.path`` (installing or removing a package changes its folder) and the
  metadata files of the packages ``packages.json`` remembers;
- every file of the project (size, modification and change times, inode) and every folder
  by what it holds, except the cache folder, ``.git`` and ``__pycache__`` folders: sources,
  ``pyproject.toml``, ``pipeline.lock``, data, outs;
- the cache folder's own notes (but what ``DERIVED`` lists: caches that only save work, and
  what the last runs did) and the folders of its stored objects and run records (one is added
  or removed: a folder's times change);
- the files and folders outside the project that steps or pipeline modules were seen to read,
  list or test (``incr.outside``), and the steps' ``deps`` there: their sizes, times and
  inodes (a folder's, of everything under it). Their keys are kept in the file, after the
  signature's digest.

The signature is conservative: a touched file, a new shell variable or a comment edit makes
the next status decide everything again, which costs time, never a stale answer. An output is
kept only when the signature taken before deciding equals the one taken after (nothing moved
meanwhile), when no file changed in the last ``RACY_SECONDS`` (a second write within one tick
of a coarse clock would look the same), when every step is clean and none has a
``cache_expires`` (its answer changes with the clock alone), and when no pipeline is wired
anew on each run (``incr.volatile``). ``incr status --check``, targets,
``--why`` and ``--remote`` always decide afresh, as does every command with
``INCR_NO_STATUS_MEMO`` or ``INCR_NO_GRAPH_CACHE`` set.

A no-op ``incr repro`` takes such an answer too (``opening.kept_clean``): every step clean, as
its lock entry records it, none decided again.
"""

from __future__ import annotations

import contextlib
import json
import os
import stat
import sys
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from blake3 import blake3

from incr.project import Project
from incr.storage import atomic_write, file_stamp
from incr.version import __version__

FILE = "status.memo"
#: The machine's time zone (``incr.zoneid``), which an answer depends on when ``TZ`` is unset.
LOCALTIME = "/etc/localtime"
#: ``graphcache.volatile_path``'s file: the pipelines are wired anew on each run.
VOLATILE = "graph.volatile"
FORMAT = 4  # 4: notes of calls giving another value on each run
DISABLE_ENV = "INCR_NO_STATUS_MEMO"
#: What the answer never depends on: caches that only save work, and what the last runs did
#: (``runs.json``, for pictures, and their records in ``history``): a no-op ``repro``, which
#: writes those, leaves the kept answer valid (``opening.kept_clean``).
DERIVED = frozenset(
    {
        FILE,
        "runs.json",
        "history",
        "stat.json",
        "lockfile.bin",
        "graph.bin",
        "closures.bin",
        "code.bin",
        "code.json",
        "entrypoints.json",
        "lock",
    }
)
#: Folders of the cache whose entries are listed too: sub-folders of one file per digest, and
#: the packs' index and pack files (``incr.packs``).
FANNED = ("objects", "runs", "packs")
#: Project folders never walked.
SKIPPED = frozenset({".git", "__pycache__"})
#: Files changed less than this long ago keep any output from being kept...
RACY_SECONDS = 2.0
#: ...or less than this many seconds, when set: more where the file system's clock is not
#: this machine's (a network share), less where its times are exact.
RACY_ENV = "INCR_RACY_SECONDS"
#: A project with more files than this keeps no output (walking it would cost too much).
MOST_ENTRIES = 5_000


class TooLarge(Exception):
    pass


class StatusMemo:
    """The kept output of ``incr status`` in one mode (``text`` or ``json``) of one project."""

    def __init__(self, project: Project, mode: str) -> None:
        self.project = project
        self.mode = mode
        self.path = project.cache / FILE
        self._before: dict[str, Any] | None = None

    def answer(self) -> str | None:
        """The kept output, when the signature is the one it was kept with; else None (and
        the signature taken now is remembered for ``keep``)."""
        try:
            text = self.path.read_text(encoding="utf-8")
        except (OSError, ValueError):
            text = ""
        head, _, rest = text.partition("\n")
        line, _, output = rest.partition("\n")
        keys = _keys(line)
        try:
            too_large = _TOO_LARGE + json.dumps(file_stamp(os.fspath(self.project.root)))
            if head == too_large:
                return None  # walked in vain last time; no entry of the root came or went
            self._before = self.signature(keys)
        except TooLarge:
            self._write(too_large, "")
            return None
        except (OSError, ValueError, AttributeError):  # a folder gone, stdout closed...
            return None
        return output if head == _digest(self._before) else None

    def keep(self, output: str, outside: Iterable[str] = ()) -> None:
        """Keep ``output`` for the next status, when nothing moved since ``answer`` took the
        signature and no file is too recent to trust its times. ``outside``: the keys of the
        files and folders outside the project the answer depends on (``learned.outside_keys``),
        which the deciding status read as they are now (none changed in the last
        ``racy_seconds``)."""
        if self._before is None or (self.project.cache / VOLATILE).exists():
            return  # wired anew on each run (``incr.volatile``): decided every time
        try:
            after = self.signature(sorted(outside))
        except (TooLarge, OSError, ValueError, AttributeError):
            return
        if {**after, "outside": None} != {**self._before, "outside": None}:
            return
        then = dict(map(tuple, self._before["outside"]))  # the keys known before deciding
        if any(key in then and then[key] != stamp for key, stamp in after["outside"]):
            return  # moved while the status decided
        if _newest(after) > time.time() - racy_seconds():
            return
        self._write(_digest(after), output, after["outside"])

    def _write(self, head: str, output: str, outside: Iterable[list[Any]] = ()) -> None:
        if not self.project.cache.is_dir():
            return  # a status makes no cache folder
        keys = json.dumps([key for key, _ in outside])
        with contextlib.suppress(OSError):
            atomic_write(self.path, f"{head}\n{keys}\n{output}".encode(), durable=False)

    def signature(self, outside: list[str]) -> dict[str, Any]:
        root, cache = self.project.root, self.project.cache
        command = [self.mode, os.getcwd(), str(root), sys.stdout.isatty()]
        return {
            "format": FORMAT,
            "incr": [__version__, _own_code()],
            "python": [sys.executable, sys.version],
            # the machine's zone when TZ is unset (a step asking for local time counts by it)
            "zone": [os.path.realpath(LOCALTIME), file_stamp(LOCALTIME)],
            "command": command,
            "environment": sorted(os.environ.items()),
            "sys.path": [[p, file_stamp(p)] for p in sys.path],
            "packages": _packages(cache),
            "tree": _tree(root, {os.path.abspath(cache)}),
            "cache": _cache(cache),
            "outside": _outside(root, outside),
        }


def _outside(root: Path, keys: list[str]) -> list[Any]:
    """The keys of files and folders outside the project, each with its times (``None``: not
    there). (``incr.outside`` is imported only when there are some.)"""
    if not keys:
        return []
    from incr.outside import is_outside, resolve

    return [[k, _stamp(resolve(root, k))] for k in keys if is_outside(k)]


def _stamp(path: str) -> list[int] | None:
    """A file's times (``file_stamp``); for a folder (a ``deps`` folder, a dataset a reader
    in C opened), those of everything under it, in the same shape (a hash of them all, the
    newest modification and change times, how many): an edit inside leaves the folder's own
    times as they were."""
    if not os.path.isdir(path):
        return file_stamp(path)
    found = []
    for folder, folders, files in os.walk(path):
        folders.sort()
        found.append((folder, file_stamp(folder)))
        found += [(name, file_stamp(os.path.join(folder, name))) for name in sorted(files)]
    times = [s for _, s in found if s is not None]
    newest = max((s[1] for s in times), default=0), max((s[2] for s in times), default=0)
    text = json.dumps(found).encode("utf-8", "surrogatepass")
    digest = int.from_bytes(blake3(text).digest(8), "big")
    return [digest, *newest, len(found)]


def _keys(line: str) -> list[str]:
    """The outside keys a kept answer depends on (none when the file holds no list of them:
    an answer kept by an earlier incr, or no answer)."""
    try:
        keys = json.loads(line)
    except ValueError:
        return []
    return [k for k in keys if isinstance(k, str)] if isinstance(keys, list) else []


def enabled() -> bool:
    return not (os.environ.get(DISABLE_ENV) or os.environ.get("INCR_NO_GRAPH_CACHE"))


def keepable(verdicts: list[Any]) -> bool:
    """True when every step is clean and none expires with the clock."""
    return all(not v.dirty and v.node.cache_expires is None for v in verdicts)


#: The first line of the file of a project too large to walk, followed by its root's times.
_TOO_LARGE = "too large: "


def _digest(signature: dict[str, Any]) -> str:
    """The blake3 digest of the signature: the file never holds the environment's values
    (tokens, passwords), only what they hash to."""
    from blake3 import blake3

    text = json.dumps(signature, separators=(",", ":"))
    return f"{FORMAT}:" + blake3(text.encode()).hexdigest()


def _packages(cache: Path) -> list[Any]:
    """The metadata files of the distributions ``packages.json`` remembers (an editable
    install's version lives outside ``sys.path``'s folders), with their times."""
    try:
        known = json.loads((cache / "packages.json").read_text(encoding="utf-8"))["known"]
        files = sorted({str(entry[2]) for entry in known.values() if entry[2]})
    except (OSError, ValueError, KeyError, TypeError, AttributeError, IndexError):
        return []
    return [[f, file_stamp(f)] for f in files]


def _own_code() -> list[Any]:
    folder = os.path.dirname(os.path.abspath(__file__))
    with os.scandir(folder) as entries:
        return sorted(_entry(e.name, e) for e in entries if e.name.endswith(".py"))


def _entry(name: str, entry: os.DirEntry[str]) -> list[Any]:
    try:
        st = entry.stat()  # through a link: what the link points at
    except OSError:
        return [name, "broken"]
    kind = "dir" if stat.S_ISDIR(st.st_mode) else "file"
    return [name, kind, st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino, st.st_dev]


def _tree(root: Path, skipped: set[str]) -> list[Any]:
    """Every entry under ``root`` (links followed, each folder once), sorted; raises
    TooLarge past ``MOST_ENTRIES``. A folder counts by what it holds, not by its times:
    a ``__pycache__`` made inside it by an import changes nothing."""
    found: list[Any] = []
    seen: set[tuple[int, int]] = set()
    todo = [("", os.fspath(root))]
    while todo:
        rel, folder = todo.pop()
        with contextlib.suppress(OSError), os.scandir(folder) as entries:
            for e in entries:
                if e.name in SKIPPED or os.path.abspath(e.path) in skipped:
                    continue
                name = f"{rel}{e.name}"
                item = _entry(name, e)
                if len(found) >= MOST_ENTRIES:
                    raise TooLarge(root)
                if item[1] == "dir":
                    found.append(item[:2])
                    if (item[6], item[5]) not in seen:
                        seen.add((item[6], item[5]))
                        todo.append((f"{name}/", e.path))
                else:
                    found.append(item)
    return sorted(found)


def _cache(cache: Path) -> list[Any]:
    """The cache folder's own notes and the folders of its objects and run records."""
    found: list[Any] = []
    with contextlib.suppress(OSError), os.scandir(cache) as entries:
        for e in entries:
            if e.name in DERIVED or e.name.startswith("."):
                continue
            found.append(_entry(e.name, e))
            if e.name in FANNED:
                with contextlib.suppress(OSError), os.scandir(e.path) as subs:
                    found += [_entry(f"{e.name}/{s.name}", s) for s in subs]
    return sorted(found)


def _newest(signature: dict[str, Any]) -> float:
    """The latest modification or change time of a file or folder in ``signature`` (the
    project's, the cache's, ``sys.path``'s and the package metadata's), in seconds."""
    newest = 0
    for item in (*signature["tree"], *signature["cache"]):
        if len(item) > 4:  # [name, kind, size, mtime, ctime, ...]: not a folder listed
            newest = max(newest, item[3], item[4])
    for _, stamp in (*signature["sys.path"], *signature["packages"], *signature["outside"]):
        if stamp is not None:  # [size, mtime, ctime, inode]
            newest = max(newest, stamp[1], stamp[2])
    return newest / 1e9


def racy_seconds() -> float:
    """How old every file must be before an answer is kept: ``INCR_RACY_SECONDS`` when it
    holds a number of seconds (at least 0), else ``RACY_SECONDS``."""
    try:
        return max(0.0, float(os.environ[RACY_ENV]))
    except (KeyError, ValueError):
        return RACY_SECONDS
