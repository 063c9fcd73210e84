"""What a folder holds, as incr records it: files with their modes, symlinks, empty folders.

One walk gives both a folder's digest (``hashing``, through the stat cache) and the manifest
``Store.put_tree`` writes for a folder output, so the two always agree. A manifest is the
canonical JSON of a list of entries, in walk order (in each folder: its files and links by
name, then each subfolder with what it holds):

- ``[path, digest]``: a file with the usual mode; ``[path, digest, mode]`` otherwise, where
  ``mode`` is ``x`` for an executable with the usual mode, else the permission bits in octal;
- ``[path, "link", target]``: a symlink, as written (an absolute target inside the project is
  written relative to the link's folder), then the digest of the file it leads to, if any, or
  of the manifest of the folder it leads to (outside the folder walked);
- ``[path, "dir"]``: an empty folder; ``[path, "dir", mode]``: a folder with an unusual mode
  (``.`` is the folder itself), before what it holds.

"The usual mode" is what this process creates: 0666 (files) or 0777 (executables and folders)
less the umask, when it lets group and others read (umask 022 or 002), so ordinary files digest
alike under those; a private usual mode (umask 077) is written out, so that it stays private
on a machine with another umask. A manifest from another umask is compared by the bits its
modes stand for here (``same_here``). Only permission bits count (setuid, setgid and sticky
bits are not kept).

A folder of plain files has the manifest incr wrote before modes, links and empty folders were
recorded (a list of ``[path, digest]`` pairs): its digest did not change, and such manifests
restore as they did.
"""

from __future__ import annotations

import json
import os
import re
import stat
from collections.abc import Callable, Iterable
from typing import NamedTuple

from incr.digests import digest_bytes
from incr.storage import DIR_MODE, FILE_MODE

FILE = "file"
LINK = "link"
DIR = "dir"
#: The folder itself, in a ``DIR`` entry that records its mode.
SELF = "."
EXEC = "x"
_HEX64 = re.compile(r"[0-9a-f]{64}")
_OCTAL = re.compile(r"[0-7]{3}")
#: DirEntry.stat() gives the inode on POSIX only; on Windows it is 0, so stat the path there.
_ENTRY_STAT_HAS_INODE = os.name != "nt"

#: (path in the folder, file system path, its stat, stored) -> the file's digest. ``stored`` is
#: False for the file a link leads to: only its digest is wanted.
Content = Callable[[str, str, os.stat_result, bool], str]


class Entry(NamedTuple):
    """One thing a folder holds. ``digest``: a file's bytes (for a link, those of the file it
    leads to, or empty); ``target``: a link's text; ``mode``: empty for the usual mode.
    (A named tuple: a walk makes one per file, and tuples are made fastest.)"""

    path: str
    kind: str
    digest: str = ""
    target: str = ""
    mode: str = ""

    def encode(self) -> list[str]:
        if self.kind == FILE:
            return [self.path, self.digest, self.mode] if self.mode else [self.path, self.digest]
        if self.kind == LINK:
            tail = [self.digest] if self.digest else []
            return [self.path, LINK, self.target, *tail]
        return [self.path, DIR, self.mode] if self.mode else [self.path, DIR]

    @property
    def shown(self) -> str:
        """The path as a message names it (folders end with ``/``)."""
        return self.path + "/" if self.kind == DIR else self.path


def encode(entries: Iterable[Entry]) -> bytes:
    """The manifest bytes of ``entries``: canonical JSON, the text a folder digest covers."""
    listing = [entry.encode() for entry in entries]
    return json.dumps(listing, sort_keys=True, separators=(",", ":"), allow_nan=False).encode()


def decode(data: bytes) -> list[Entry]:
    """The entries of manifest bytes. Raises ValueError when they are not a manifest."""
    items = json.loads(data)
    if not isinstance(items, list):
        raise ValueError("a manifest is a list")
    return [_entry(item) for item in items]


def _entry(item: object) -> Entry:
    if not (isinstance(item, list) and 2 <= len(item) <= 4):
        raise ValueError(f"bad manifest entry {item!r}")
    if not all(isinstance(part, str) for part in item):
        raise ValueError(f"bad manifest entry {item!r}")
    path, second, *rest = item
    if second == LINK and len(rest) in (1, 2):
        digest = rest[1] if len(rest) == 2 else ""
        if digest and not _HEX64.fullmatch(digest):
            raise ValueError(f"bad digest in manifest entry {item!r}")
        return Entry(path, LINK, digest, rest[0])
    mode = rest[0] if rest else ""
    if len(rest) > 1 or (mode and not _valid_mode(mode)):
        raise ValueError(f"bad manifest entry {item!r}")
    if second == DIR:
        if mode == EXEC:
            raise ValueError(f"bad folder mode in manifest entry {item!r}")
        return Entry(path, DIR, mode=mode)
    if not _HEX64.fullmatch(second):
        raise ValueError(f"bad digest in manifest entry {item!r}")
    return Entry(path, FILE, second, mode=mode)


def _valid_mode(mode: str) -> bool:
    return mode == EXEC or _OCTAL.fullmatch(mode) is not None


# --------------------------------------------------------------------------- modes


#: The usual modes of this process when they let group and others read (and enter), else
#: -1: a private usual mode is written out, so that what a step made private stays private
#: where another umask would make it readable (under umask 077 each file is written ``600``).
_USUAL_FILE = FILE_MODE if FILE_MODE & 0o044 == 0o044 else -1
_USUAL_DIR = DIR_MODE if DIR_MODE & 0o055 == 0o055 else -1


def mode_field(st_mode: int, is_dir: bool) -> str:
    """The ``mode`` of an entry for permission bits ``st_mode``: empty when usual."""
    bits = st_mode & 0o777
    if bits == (_USUAL_DIR if is_dir else _USUAL_FILE):
        return ""
    return format(bits, "03o") if is_dir else _unusual(bits)


def _unusual(bits: int) -> str:
    """The ``mode`` of a file whose permission bits are not the usual ones."""
    return EXEC if bits == _USUAL_DIR else format(bits, "03o")


def mode_bits(mode: str, is_dir: bool) -> int:
    """The permission bits an entry's ``mode`` stands for, in this process."""
    if not mode:
        return DIR_MODE if is_dir else FILE_MODE
    if mode == EXEC:
        return DIR_MODE
    return int(mode, 8)


# --------------------------------------------------------------------------- walking


def walk(folder: str, content: Content, root: str | None = None) -> list[Entry]:
    """The entries of ``folder``, in manifest order. A link to a folder is listed, not walked
    into, with the digest of what that folder holds unless it leads into the folder walked
    (or round in circles); an unreadable folder lists as empty; sockets, pipes and devices
    are left out.
    ``root`` (the project root) turns an absolute link target inside it into a relative one.
    """
    entries: list[Entry] = []
    try:
        mode = mode_field(os.stat(folder).st_mode, True)
    except OSError:
        return entries
    if mode:
        entries.append(Entry(SELF, DIR, mode=mode))
    _walk(folder, "", entries, content, root, frozenset({os.path.realpath(folder)}))
    return entries


def _walk(
    folder: str,
    inner: str,
    out: list[Entry],
    content: Content,
    root: str | None,
    seen: frozenset[str] = frozenset(),
) -> None:
    others: list[os.DirEntry[str]] = []
    folders: list[os.DirEntry[str]] = []
    try:
        with os.scandir(folder) as found:
            for entry in found:
                try:
                    is_dir = entry.is_dir(follow_symlinks=False)
                except OSError:
                    is_dir = False
                (folders if is_dir else others).append(entry)
    except OSError:
        return
    others.sort(key=_name)
    for entry in others:
        path = inner + entry.name
        try:
            if entry.is_symlink():
                out.append(_link(entry, path, content, root, seen))
                continue
            st = entry.stat() if _ENTRY_STAT_HAS_INODE else os.stat(entry.path)
            if not stat.S_ISREG(st.st_mode):
                continue  # a socket, a pipe, a device
            digest = content(path, entry.path, st, True)
        except (FileNotFoundError, NotADirectoryError):
            continue  # gone since it was listed
        bits = st.st_mode & 0o777
        out.append(Entry(path, FILE, digest, "", "" if bits == _USUAL_FILE else _unusual(bits)))
    folders.sort(key=_name)
    for entry in folders:
        path = inner + entry.name
        try:
            mode = mode_field(entry.stat(follow_symlinks=False).st_mode, True)
        except OSError:
            continue
        start = len(out)
        if mode:
            out.append(Entry(path, DIR, mode=mode))
        _walk(entry.path, path + "/", out, content, root, seen)
        if len(out) == start:
            out.append(Entry(path, DIR))


def _link(
    entry: os.DirEntry[str], path: str, content: Content, root: str | None, seen: frozenset[str]
) -> Entry:
    target = os.readlink(entry.path)
    if root is not None:
        target = relative_target(entry.path, target, root)
    try:
        st = os.stat(entry.path)
    except OSError:  # leads nowhere (or round in circles)
        return Entry(path, LINK, target=target)
    if stat.S_ISREG(st.st_mode):
        return Entry(path, LINK, content(path, entry.path, st, False), target)
    if not stat.S_ISDIR(st.st_mode):
        return Entry(path, LINK, target=target)
    # A link to a folder counts by what that folder holds (a partition of a dataset linked
    # in), walked as a folder would be, unless it leads to a folder this walk is inside.
    real = os.path.realpath(entry.path)
    if real in seen or any(within(real, other) for other in seen):
        return Entry(path, LINK, target=target)
    held: list[Entry] = []
    _walk(entry.path, path + "/", held, _digest_only(content), root, seen | {real})
    return Entry(path, LINK, digest_bytes(encode(held)), target)


def _digest_only(content: Content) -> Content:
    """``content`` asked only for digests: what a link to a folder leads to is not stored."""
    return lambda path, full, st, stored: content(path, full, st, False)


def _name(entry: os.DirEntry[str]) -> str:
    return entry.name


# --------------------------------------------------------------------------- links


def relative_target(link: str, target: str, root: str) -> str:
    """``target`` of the link at ``link``, relative to the link's folder when it is an absolute
    path inside ``root`` (a manifest names no absolute path of the project); else as it is."""
    if not os.path.isabs(target):
        return target
    here = os.path.dirname(os.path.abspath(link))
    for base in (os.path.abspath(root), os.path.realpath(root)):
        if within(target, base) and within(here, os.path.abspath(root)):
            to_target = os.path.relpath(target, base)
            from_link = os.path.relpath(here, os.path.abspath(root))
            return os.path.relpath(to_target, from_link).replace(os.sep, "/")
    return target


def within(path: str, folder: str) -> bool:
    """True when ``path`` is ``folder`` or below it (as written: nothing is resolved)."""
    path, folder = os.path.normpath(path), os.path.normpath(folder)
    return path == folder or path.startswith(os.path.join(folder, ""))


def leads_inside(link: str, target: str, root: str) -> bool:
    """True when the link at ``link`` with ``target`` stays inside ``root``: as written, and
    once every link on the way is followed."""
    real_root = os.path.realpath(root)
    written = os.path.join(os.path.dirname(os.path.abspath(link)), target)
    if not within(written, os.path.abspath(root)) and not within(written, real_root):
        return False
    return within(os.path.realpath(written), real_root)


# --------------------------------------------------------------------------- differences


def changes(recorded: list[Entry], current: list[Entry], limit: int = 3) -> str:
    """What differs from ``recorded`` in ``current``: ``b.bin changed, c.bin added``, at most
    ``limit`` items and a count of the rest."""
    before = {e.path: e for e in recorded}
    after = {e.path: e for e in current}
    here = _by_bits(recorded), _by_bits(current)  # modes as the bits they stand for here
    items = []
    for path in sorted(before.keys() | after.keys()):
        old, new = before.get(path), after.get(path)
        if old == new or here[0].get(path) == here[1].get(path):
            continue
        if not _implied(old, after) and not _implied(new, before):
            items.append(_change(old, new))
    if len(items) > limit:
        items[limit:] = [f"{len(items) - limit} more"]
    return ", ".join(items)


def _change(old: Entry | None, new: Entry | None) -> str:
    if old is None:
        return f"{new.shown} added" if new is not None else ""
    if new is None:
        return f"{old.shown} removed"
    if (old.kind, old.digest, old.target) == (new.kind, new.digest, new.target):
        return f"{new.shown} mode changed"
    return f"{new.shown} changed"


def _implied(entry: Entry | None, other: dict[str, Entry]) -> bool:
    """A plain folder entry that only says a folder exists, when the other side has something
    in it (and so says the same)."""
    if entry is None or entry.kind != DIR or entry.mode:
        return False
    return entry.path not in other and any(p.startswith(entry.path + "/") for p in other)


def same_here(recorded: list[Entry], current: list[Entry]) -> bool:
    """True when ``recorded`` holds what ``current`` holds once each mode is read as the
    permission bits it stands for in this process: a manifest written under another umask
    writes out a mode that is usual here (``644`` from a machine where files are made 0600),
    and leaves out one that is not."""
    return _by_bits(recorded) == _by_bits(current)


def _by_bits(entries: list[Entry]) -> dict[str, tuple[str, ...] | tuple[str, str, int]]:
    """Each entry as it is on disk here; a folder that holds something and has the usual
    mode here is left out (a manifest lists it only for an unusual mode)."""
    parents = {SELF}
    for entry in entries:
        parts = entry.path.split("/")
        parents.update("/".join(parts[:i]) for i in range(1, len(parts)))
    found: dict[str, tuple[str, ...] | tuple[str, str, int]] = {}
    for e in entries:
        if e.kind == LINK:
            found[e.path] = (LINK, e.digest, e.target)
        elif e.kind == FILE:
            found[e.path] = (FILE, e.digest, mode_bits(e.mode, False))
        elif not (e.path in parents and mode_bits(e.mode, True) == DIR_MODE):
            found[e.path] = (DIR, "", mode_bits(e.mode, True))
    return found


def may_lack_metadata(recorded: list[Entry], current: list[Entry]) -> bool:
    """True when ``recorded`` may be a manifest from before modes and links were recorded
    (nothing in it says otherwise) while ``current`` has, at a path it names, a mode or a
    link such a manifest could not hold: restoring it could undo what the step made."""
    if any(e.kind != FILE or e.mode for e in recorded):
        return False
    paths = {e.path for e in recorded}
    return any(e.path in paths and (e.kind == LINK or e.mode) for e in current)
