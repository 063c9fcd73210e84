"""Small objects packed together, under ``.pipecache/packs/``: a run stores each object of less
than ``PACKED_MAX`` bytes it makes (a pickled value, a folder's manifest) by appending it to a
pack file (the one the run before appended to, up to ``PACK_LIMIT`` bytes), instead of creating
one file per object in ``objects/``. Creating a file
is most of what storing a small object costs (0.1 to 0.3 ms on the disks measured here, against
a few microseconds for an append): a first ``repro`` of 2,000 trivial steps takes 0.74 of its
time with its objects appended, and an eighth of its system time.

On disk::

    packs/index        one line per packed object: digest, pack, offset, size
    packs/NAME.pack    the bytes of the objects, one after another

An object's bytes are appended before its index line, and both are fsynced with the loose
objects before each lockfile write (``Store.sync``). A line cut short by a kill is skipped
(the next writer starts on a new line); the bytes of a packed object are checked against its
digest on every read, like a loose object's. A line ``DIGEST - 0 0`` removes an object (a
damaged one: the next run that makes it appends it again). Only a run appends objects (a run
holds the project lock), it and the workers of ``--jobs N`` it forks: each process opens the
pack for itself, each append lands whole at the pack's end (``O_APPEND``), and its offset is
read back from where the write ended. The workers do not sync: before each lockfile write the
run syncs every pack the index lines it has read since name. ``incr gc`` rewrites the packs
into one holding only what is still needed (``repack``).
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

from incr.hashing import buffers_digest
from incr.storage import atomic_write

#: Objects smaller than this are packed by a run; larger ones get a file each (their write,
#: not the file's creation, is what they cost).
PACKED_MAX = 64 * 1024
#: A run appends to the last pack until it holds this many bytes.
PACK_LIMIT = 64 << 20
INDEX = "index"
SUFFIX = ".pack"
#: The bytes at the start of the index a reader compares before reading more of it.
HEAD = 128
#: The pack and place of an object: (pack file name, offset, size).
Place = tuple[str, int, int]


class PackedObjects:
    """The packed objects of a cache folder (a part of ``Store``, which sets ``packs``)."""

    packs: Path
    pack_small: bool
    _packs_state: _State | None = None

    @contextlib.contextmanager
    def packing(self) -> Iterator[None]:
        """Pack small objects inside the block (a run on this machine, holding the project
        lock: no other process packs meanwhile), with the index read once as it is now
        (``known_packed`` then answers for the whole block); ``end_packing`` closes the pack
        once the caller's last ``sync`` is done."""
        self.start_packing()
        try:
            yield
        finally:
            self.pack_small = False

    def start_packing(self) -> None:
        """Pack small objects from now on (a worker process of a run, for its life: the run
        syncs what its workers pack, ``unsynced_packs``), with the index read as it is now."""
        state = self._pack_state()
        state.close()
        state.close_readers()
        state.refresh()
        state.named = set()  # from here on (the packs of earlier runs are synced already)
        self.pack_small = True

    def end_packing(self) -> None:
        """Close the pack and the index this process appended to (once they are synced)."""
        state = self._pack_state()
        state.close()
        state.named = None

    def known_packed(self, digest: str) -> bool:
        """Whether the index as this process last read it packs ``digest``, in a pack that is
        there (asked of the disk once per pack)."""
        state = self._pack_state()
        place = state.index.get(digest)
        return place is not None and state.has_pack(place[0])

    def packed(self, digest: str) -> Place | None:
        """Where object ``digest`` is packed, or None (also when its pack is gone: removed by
        hand, the object is missing, not damaged). The index is read again (its new lines)
        when the digest is not known yet: another process may have packed it since."""
        state = self._pack_state()
        place = state.index.get(digest)
        if (place is None or not state.has_pack(place[0])) and state.refresh():
            place = state.index.get(digest)
        return place if place is not None and state.has_pack(place[0]) else None

    def packed_bytes(self, digest: str) -> bytes | None:
        """The bytes packed for ``digest`` as they are on disk (unchecked), or None. A pack
        gone since the index was read (``incr gc`` rewrote the packs) sends the reader to the
        index as it is now; a pack gone from that one too gives no bytes (b"")."""
        state = self._pack_state()
        place = self.packed(digest)
        for _ in range(2):
            if place is None:
                return None
            with contextlib.suppress(OSError):
                return state.read(*place)
            if not state.refresh():
                break
            place = state.index.get(digest)
        return b""

    def append_packed(self, digest: str, parts: Sequence[bytes | memoryview], size: int) -> None:
        """Pack the concatenation of ``parts`` (``size`` bytes, digest ``digest``); durable once
        the files ``unsynced_packs`` names are synced (``Store.sync``)."""
        self._pack_state().append(digest, parts, size)

    def discard_packed(self, digest: str) -> bool:
        """Remove a packed object (a damaged one) for every process: True when it was packed."""
        state = self._pack_state()
        if self.packed(digest) is None:
            return False
        state.append_line(f"{digest} - 0 0\n".encode())
        state.index.pop(digest, None)
        return True

    def unsynced_packs(self) -> list[str]:
        """The packs appended to since the last call, by this process or by the workers of
        its run (the index lines they wrote name them), and the index: for the caller to
        fsync with its other files before a lockfile write names their objects."""
        state = self._pack_state()
        names: set[str] = set()
        if state.named is not None:  # packing: the packs its workers appended to as well
            state.refresh()
            names, state.named = state.named, set()
        if state.unsynced and state.pack_fd is not None:
            names.add(state.pack_name)
        if not names and not state.unsynced:
            return []
        state.unsynced = False
        return [*(str(state.folder / name) for name in sorted(names)), str(state.folder / INDEX)]

    def packed_objects(self) -> dict[str, Place]:
        """Every packed object, as the index says now."""
        state = self._pack_state()
        state.refresh()
        return dict(state.index)

    def repack(self, keep: Iterable[str]) -> None:
        """Leave in the packs only the objects of ``keep`` whose bytes are intact, in one new
        pack with a new index (each synced before the old packs go: a crash leaves either the
        old packs or the new one). Nothing is rewritten when every packed object is kept and
        no pack file is left that the index does not name."""
        state = self._pack_state()
        state.refresh()
        wanted = set(keep)
        try:
            files = {n for n in os.listdir(state.folder) if n.endswith(SUFFIX)}
        except FileNotFoundError:
            return
        named = {name for name, _, _ in state.index.values()}
        if all(d in wanted for d in state.index) and files <= named and not state.superseded:
            return
        state.close()
        kept: dict[str, Place] = {}
        new = state.new_pack_name()
        with open(state.folder / new, "wb") as out:
            for digest, (name, offset, size) in sorted(state.index.items()):
                if digest not in wanted:
                    continue
                try:
                    data = state.read(name, offset, size)
                except OSError:
                    continue
                if buffers_digest((data,)) == digest:
                    kept[digest] = (new, out.tell(), size)
                    out.write(data)
            out.flush()
            os.fsync(out.fileno())
        lines = "".join(f"{d} {n} {o} {s}\n" for d, (n, o, s) in kept.items())
        atomic_write(state.folder / INDEX, lines.encode())
        state.close_readers()
        for name in files:
            if name != new:
                with contextlib.suppress(OSError):
                    os.unlink(state.folder / name)
        if not kept:
            with contextlib.suppress(OSError):
                os.unlink(state.folder / new)
        state.forget()

    def _pack_state(self) -> _State:
        """What this process holds of the packs: one for all the ``Store`` values of a cache
        folder."""
        state = self._packs_state
        if state is None or state.pid != os.getpid():  # a forked child starts afresh
            key = os.path.abspath(self.packs)
            state = _STATES.get(key)
            if state is None or state.pid != os.getpid():
                state = _STATES[key] = _State(Path(key))
            self._packs_state = state
        return state


#: The state of each packs folder this process has used, by its absolute path.
_STATES: dict[str, _State] = {}


class _State:
    """One process's view of a packs folder: the index as read so far (and how far), the pack
    it appends to, and the packs it has open for reading."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.pid = os.getpid()
        self.lock = threading.Lock()
        self.pack_fd: int | None = None
        self.pack_name = ""
        self.index_fd: int | None = None
        self.unsynced = False
        self.readers: dict[str, int] = {}
        #: While packing, the packs named by the index lines read since the last
        #: ``unsynced_packs`` (None otherwise).
        self.named: set[str] | None = None
        self.forget()

    def forget(self) -> None:
        """Read the index afresh next time."""
        self.index: dict[str, Place] = {}
        self.read_to = 0  # bytes of the index read, up to the end of its last whole line
        self.inode = 0
        self.head = b""  # its first bytes: an index made anew differs there (a new pack name)
        self.last_pack = ""  # the pack its last line names: the next run appends to it
        self.superseded = False  # a digest had several lines (a repack drops the older)
        self.present: dict[str, bool] = {}  # whether each pack named is there, once asked

    def has_pack(self, name: str) -> bool:
        found = self.present.get(name)
        if found is None:
            found = self.present[name] = os.path.exists(self.folder / name)
        return found

    def refresh(self) -> bool:
        """Read the index lines written since the last read; True when there were any."""
        path = self.folder / INDEX
        try:
            st = os.stat(path)
        except FileNotFoundError:
            if self.index:
                self.forget()
            return False
        if st.st_ino != self.inode or st.st_size < self.read_to:  # rewritten by a repack
            self.forget()
            self.inode = st.st_ino
        if st.st_size == self.read_to:
            return False
        with open(path, "rb") as fh:
            if self.read_to and fh.read(len(self.head)) != self.head:  # made anew, same inode
                self.forget()
                self.inode = st.st_ino
            fh.seek(self.read_to)
            data = fh.read(st.st_size - self.read_to)
        end = data.rfind(b"\n") + 1  # a last line without its newline is still being written
        if not self.read_to:
            self.head = data[: min(end, HEAD)]
        self.read_to += end
        for line in data[:end].split(b"\n"):
            self._apply(line)
        return end > 0

    def _apply(self, line: bytes) -> None:
        fields = line.split(b" ")
        if len(fields) != 4:
            return  # empty, or cut short by a kill and continued by the next writer
        try:
            digest, name = fields[0].decode("ascii"), fields[1].decode("ascii")
            offset, size = int(fields[2]), int(fields[3])
        except (UnicodeDecodeError, ValueError):
            return
        if digest in self.index:
            self.superseded = True
        if name == "-":
            self.index.pop(digest, None)
            self.superseded = True
        elif name.endswith(SUFFIX) and "/" not in name and offset >= 0 and size >= 0:
            self.index[digest] = (name, offset, size)
            self.last_pack = name
            if self.named is not None:
                self.named.add(name)

    def read(self, name: str, offset: int, size: int) -> bytes:
        fd = self.readers.get(name)
        if fd is None:
            fd = self.readers[name] = os.open(self.folder / name, os.O_RDONLY)
        return os.pread(fd, size, offset)

    def append(self, digest: str, parts: Sequence[bytes | memoryview], size: int) -> None:
        with self.lock:
            if self.pack_fd is None:
                self.pack_name, self.pack_fd = self.open_pack()
            try:
                _write_all(self.pack_fd, parts)
            except OSError as exc:  # some bytes may be down: the next append starts a pack
                exc.filename = exc.filename or str(self.folder / self.pack_name)
                self.close()
                self.last_pack = ""
                raise
            # Where this append ended, whoever else appends to the pack (O_APPEND): the bytes
            # end there, wherever the pack ended before.
            offset = os.lseek(self.pack_fd, 0, os.SEEK_CUR) - size
            self.append_line(f"{digest} {self.pack_name} {offset} {size}\n".encode())
            self.index[digest] = (self.pack_name, offset, size)
            self.unsynced = True

    def append_line(self, line: bytes) -> None:
        """Append one whole line to the index (opened once; after a line a killed writer cut
        short, this writer's first line starts on a line of its own)."""
        if self.index_fd is None:
            self.folder.mkdir(parents=True, exist_ok=True)
            flags = os.O_RDWR | os.O_CREAT | os.O_APPEND
            self.index_fd = os.open(self.folder / INDEX, flags, 0o666)
            end = os.lseek(self.index_fd, 0, os.SEEK_END)
            if end and os.pread(self.index_fd, 1, end - 1) != b"\n":
                line = b"\n" + line
        _write_all(self.index_fd, (line,))

    def open_pack(self) -> tuple[str, int]:
        """The pack to append to, opened: the last one the index names while it holds less
        than ``PACK_LIMIT`` bytes (a run adds to the pack of the run before: a pack per run
        would leave thousands of files until ``incr gc``), else a new one."""
        self.folder.mkdir(parents=True, exist_ok=True)
        if self.last_pack:
            with contextlib.suppress(OSError):
                fd = os.open(self.folder / self.last_pack, os.O_WRONLY | os.O_APPEND)
                if os.fstat(fd).st_size < PACK_LIMIT:
                    return self.last_pack, fd
                os.close(fd)
        name = self.new_pack_name()
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND
        fd = os.open(self.folder / name, flags, 0o666)
        self.present[name] = True
        return name, fd

    def pack_path(self) -> str | None:
        return str(self.folder / self.pack_name) if self.pack_fd is not None else None

    def new_pack_name(self) -> str:
        return f"{os.getpid()}-{os.urandom(6).hex()}{SUFFIX}"

    def close(self) -> None:
        """Stop appending to the current pack and index (the next append opens new ones)."""
        for fd in (self.pack_fd, self.index_fd):
            if fd is not None:
                os.close(fd)
        self.pack_fd = self.index_fd = None

    def close_readers(self) -> None:
        for fd in self.readers.values():
            os.close(fd)
        self.readers.clear()


def _write_all(fd: int, parts: Sequence[bytes | memoryview]) -> None:
    """Write every byte of ``parts`` (``os.writev`` may write less than asked)."""
    views = [memoryview(p).cast("B") for p in parts]
    while views:
        written = os.writev(fd, views)
        while views and written >= views[0].nbytes:
            written -= views[0].nbytes
            views.pop(0)
        if views and written:
            views[0] = views[0][written:]
